/* SPDX-License-Identifier: MIT */
/*
 * Civil calendar arithmetic, once for every layer: the proleptic
 * Gregorian calendar of any year, counted in days since 1970-01-01
 * (after Howard Hinnant's public-domain algorithms). The timestamp
 * formatter (clock.c), the zone tables (tz.c), the matcher of cron and
 * calendar expressions (match.c) and the RFC 3339 parser (timespan.c)
 * all read dates through these. Pure inline functions: no state, no
 * range checks beyond what int64_t holds.
 */
#ifndef CHIME_CIVIL_H
#define CHIME_CIVIL_H

#include <stdbool.h>
#include <stdint.h>

#define CHIME_SEC_PER_DAY INT64_C(86400)

/* a / b rounded towards negative infinity (b != 0). */
static inline int64_t
chime_floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static inline bool
chime_is_leap(int64_t y)
{
	return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

/* Month `m` is 1 to 12. */
static inline unsigned
chime_days_in_month(int64_t y, unsigned m)
{
	static const unsigned char len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 && chime_is_leap(y) ? 29 : len[m - 1];
}

/* Days since 1970-01-01 of y-m-d; `m` 1 to 12, `d` may run past the month. */
static inline int64_t
chime_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era, yoe, doy, doe;

	if (m <= 2)
		y--;
	era = chime_floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (int64_t)(m > 2 ? m - 3 : m + 9) + 2) / 5 + (int64_t)d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static inline void
chime_civil_from_days(int64_t days, int64_t *ret_y, unsigned *ret_m, unsigned *ret_d)
{
	int64_t z = days + 719468;
	int64_t era = chime_floor_div(z, 146097);
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	unsigned d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	unsigned m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);

	*ret_y = yoe + era * 400 + (m <= 2);
	*ret_m = m;
	*ret_d = d;
}

/* 0 = Sunday .. 6 = Saturday; 1970-01-01 was a Thursday. */
static inline unsigned
chime_weekday_from_days(int64_t days)
{
	int64_t w = (days + 4) % 7;

	return (unsigned)(w < 0 ? w + 7 : w);
}

#endif
