/* SPDX-License-Identifier: MIT */
/*
 * systemd time spans ("30s", "5min", "1h 30min", "2d", "500ms", "1w") and
 * RFC 3339 timestamps. Pure.
 */
#ifndef CHIME_TIMESPAN_H
#define CHIME_TIMESPAN_H

#include <stddef.h>
#include <stdint.h>

struct chime_tz;

#define CHIME_USEC_PER_SEC  INT64_C(1000000)
#define CHIME_USEC_PER_MSEC INT64_C(1000)

/*
 * Parse a time span as systemd.time(7) does: numbers with units (usec us
 * µs, msec ms, seconds second sec s, minutes minute min m, hours hour hr h,
 * days day d, weeks week w, months month M (30.44 d), years year y
 * (365.25 d)), summed, white space allowed between parts; a bare number is
 * seconds. Negative, empty, overflowing or unknown-unit input is -EINVAL
 * (-ERANGE for overflow). Returns 0 and the span in *ret_usec.
 */
int chime_timespan_parse(const char *text, int64_t *ret_usec);
/* Format a span the way it would be written ("1h 30min", "250ms"). */
int chime_timespan_format(int64_t usec, char *buf, size_t size);

/*
 * Format an instant as RFC 3339 in `tz` (NULL: UTC) with the zone's offset:
 * "2026-11-23T02:00:00+04:00"; fractional seconds only when non-zero.
 */
int chime_time_format(int64_t utc_usec, const struct chime_tz *tz, char *buf, size_t size);
/*
 * Parse RFC 3339 ("2026-03-29T01:59:55+01:00", "...Z", fractions allowed),
 * or a local time without offset ("2026-03-29T01:59:55", "2026-03-29 01:59",
 * "2026-03-29") read in `tz` (NULL: UTC): in a gap it means the instant
 * after the jump, in an overlap the first occurrence. -EINVAL when malformed.
 */
int chime_time_parse(const char *text, const struct chime_tz *tz, int64_t *ret_utc_usec);

#endif
