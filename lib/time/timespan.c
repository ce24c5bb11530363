/* SPDX-License-Identifier: MIT */
/*
 * systemd time spans ("1h 30min", "500ms") and RFC 3339 timestamps, with
 * the same unit table as systemd.time(7). Pure: never logs, no globals.
 */
#include "timespan.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "civil.h"
#include "clock.h"
#include "tz.h"

#define USEC_PER_MINUTE (60 * CHIME_USEC_PER_SEC)
#define USEC_PER_HOUR   (60 * USEC_PER_MINUTE)
#define USEC_PER_DAY    (24 * USEC_PER_HOUR)
#define USEC_PER_WEEK   (7 * USEC_PER_DAY)
#define USEC_PER_MONTH  (INT64_C(2629800) * CHIME_USEC_PER_SEC)  /* 30.44 days */
#define USEC_PER_YEAR   (INT64_C(31557600) * CHIME_USEC_PER_SEC) /* 365.25 days */

struct timespan_unit {
	const char *suffix;
	int64_t usec;
};

/* Longer suffixes first where one is a prefix of another (systemd's order). */
static const struct timespan_unit parse_units[] = {
        {"seconds", CHIME_USEC_PER_SEC},
        {"second", CHIME_USEC_PER_SEC},
        {"sec", CHIME_USEC_PER_SEC},
        {"s", CHIME_USEC_PER_SEC},
        {"minutes", USEC_PER_MINUTE},
        {"minute", USEC_PER_MINUTE},
        {"min", USEC_PER_MINUTE},
        {"months", USEC_PER_MONTH},
        {"month", USEC_PER_MONTH},
        {"M", USEC_PER_MONTH},
        {"msec", CHIME_USEC_PER_MSEC},
        {"ms", CHIME_USEC_PER_MSEC},
        {"m", USEC_PER_MINUTE},
        {"hours", USEC_PER_HOUR},
        {"hour", USEC_PER_HOUR},
        {"hr", USEC_PER_HOUR},
        {"h", USEC_PER_HOUR},
        {"days", USEC_PER_DAY},
        {"day", USEC_PER_DAY},
        {"d", USEC_PER_DAY},
        {"weeks", USEC_PER_WEEK},
        {"week", USEC_PER_WEEK},
        {"w", USEC_PER_WEEK},
        {"years", USEC_PER_YEAR},
        {"year", USEC_PER_YEAR},
        {"y", USEC_PER_YEAR},
        {"usec", 1},
        {"us", 1},
        {"\xc2\xb5s", 1}, /* U+00B5 MICRO SIGN */
        {"\xce\xbcs", 1}, /* U+03BC GREEK SMALL LETTER MU */
};

static const struct timespan_unit format_units[] = {
        {"y", USEC_PER_YEAR},      {"month", USEC_PER_MONTH},   {"w", USEC_PER_WEEK},
        {"d", USEC_PER_DAY},       {"h", USEC_PER_HOUR},        {"min", USEC_PER_MINUTE},
        {"s", CHIME_USEC_PER_SEC}, {"ms", CHIME_USEC_PER_MSEC}, {"us", 1},
};

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (unsigned char)c >= 0x80;
}

int
chime_timespan_parse(const char *text, int64_t *ret_usec)
{
	const char *p = text;
	int64_t total = 0;
	bool any = false;

	if (text == NULL)
		return -EINVAL;
	for (;;) {
		const struct timespan_unit *unit = NULL;
		int64_t whole = 0, frac = 0, frac_div = 1, part;
		size_t ulen = 0;
		bool digits = false;

		while (is_space(*p))
			p++;
		if (*p == '\0')
			break;
		if (!is_digit(*p) && *p != '.')
			return -EINVAL;
		while (is_digit(*p)) {
			if (whole > (INT64_MAX - 9) / 10)
				return -ERANGE;
			whole = whole * 10 + (*p++ - '0');
			digits = true;
		}
		if (*p == '.') {
			p++;
			while (is_digit(*p)) {
				/* Nine fractional digits at most: with frac_div <= 1e9 the
				 * product below stays within int64 even for years. */
				if (frac_div < INT64_C(1000000000)) {
					frac = frac * 10 + (*p - '0');
					frac_div *= 10;
				}
				p++;
				digits = true;
			}
		}
		if (!digits)
			return -EINVAL;
		while (is_space(*p))
			p++;
		for (size_t i = 0; i < sizeof(parse_units) / sizeof(parse_units[0]); i++) {
			size_t l = strlen(parse_units[i].suffix);

			if (strncmp(p, parse_units[i].suffix, l) == 0 && !is_letter(p[l])) {
				unit = &parse_units[i];
				ulen = l;
				break;
			}
		}
		if (unit == NULL) {
			/* A bare number is seconds, and must end the part. */
			if (is_letter(*p))
				return -EINVAL;
			unit = &parse_units[0];
		}
		p += ulen;
		if (whole > INT64_MAX / unit->usec)
			return -ERANGE;
		part = whole * unit->usec;
		/* frac / frac_div of the unit, computed without overflow. */
		if (frac > 0) {
			int64_t f = unit->usec / frac_div * frac +
			            (unit->usec % frac_div) * frac / frac_div;

			if (part > INT64_MAX - f)
				return -ERANGE;
			part += f;
		}
		if (total > INT64_MAX - part)
			return -ERANGE;
		total += part;
		any = true;
	}
	if (!any)
		return -EINVAL;
	*ret_usec = total;
	return 0;
}

int
chime_timespan_format(int64_t usec, char *buf, size_t size)
{
	size_t len = 0;
	int k;

	if (usec < 0)
		return -EINVAL;
	if (size == 0)
		return -ENOBUFS;
	if (usec == 0) {
		k = snprintf(buf, size, "0");
		return (size_t)k >= size ? -ENOBUFS : 0;
	}
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(format_units) / sizeof(format_units[0]) && usec > 0; i++) {
		int64_t n = usec / format_units[i].usec;

		if (n == 0)
			continue;
		usec -= n * format_units[i].usec;
		k = snprintf(buf + len, size - len, "%s%lld%s", len > 0 ? " " : "", (long long)n,
		             format_units[i].suffix);
		if (k < 0 || (size_t)k >= size - len)
			return -ENOBUFS;
		len += (size_t)k;
	}
	return 0;
}

/* The zone's local time, written by the one formatter (clock.h). */
int
chime_time_format(int64_t utc_usec, const struct chime_tz *tz, char *buf, size_t size)
{
	int64_t sec = chime_floor_div(utc_usec, CHIME_USEC_PER_SEC);
	int r;

	r = chime_clock_format_offset(utc_usec, tz == NULL ? 0 : chime_tz_offset_at(tz, sec), buf,
	                              size);
	return r < 0 ? r : 0;
}

/* Exactly `n` digits into *ret. */
static const char *
parse_digits(const char *p, int n, int *ret)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!is_digit(p[i]))
			return NULL;
		v = v * 10 + (p[i] - '0');
	}
	*ret = v;
	return p + n;
}

/* "HH:MM" and an optional ":SS", two digits each, for a time of day and a
 * UTC offset alike; *ret_s is left alone when there are no seconds.
 * Returns the end, or NULL. Ranges are the caller's. */
static const char *
parse_hms(const char *p, int *ret_h, int *ret_m, int *ret_s)
{
	p = parse_digits(p, 2, ret_h);
	if (p == NULL || *p != ':')
		return NULL;
	p = parse_digits(p + 1, 2, ret_m);
	if (p != NULL && *p == ':')
		p = parse_digits(p + 1, 2, ret_s);
	return p;
}

int
chime_time_parse(const char *text, const struct chime_tz *tz, int64_t *ret_utc_usec)
{
	const char *p = text;
	int y, mo, d, h = 0, mi = 0, s = 0, oh, om, os = 0;
	int64_t frac = 0, local, utc[2], jump;
	bool has_off = false;
	int32_t off = 0;
	int n;

	if (text == NULL)
		return -EINVAL;
	p = parse_digits(p, 4, &y);
	if (p == NULL || *p != '-')
		return -EINVAL;
	p = parse_digits(p + 1, 2, &mo);
	if (p == NULL || *p != '-')
		return -EINVAL;
	p = parse_digits(p + 1, 2, &d);
	if (p == NULL)
		return -EINVAL;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		const char *hms = p + 1;

		p = parse_hms(hms, &h, &mi, &s);
		if (p == NULL)
			return -EINVAL;
		/* A fraction only after seconds (HH:MM:SS.fff). */
		if (*p == '.' && p - hms == 8) {
			int64_t scale = CHIME_USEC_PER_SEC;

			p++;
			if (!is_digit(*p))
				return -EINVAL;
			for (; is_digit(*p); p++) {
				scale /= 10;
				frac += (*p - '0') * scale;
			}
		}
		if (*p == 'Z' || *p == 'z') {
			has_off = true;
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p == '-' ? -1 : 1;

			p = parse_hms(p + 1, &oh, &om, &os);
			if (p == NULL || oh > 23 || om > 59 || os > 59)
				return -EINVAL;
			has_off = true;
			off = sign * (oh * 3600 + om * 60 + os);
		}
	}
	if (*p != '\0')
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59)
		return -EINVAL;
	if ((unsigned)d > chime_days_in_month(y, (unsigned)mo))
		return -EINVAL;
	local = chime_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
	        s;
	if (has_off || tz == NULL) {
		*ret_utc_usec = (local - off) * CHIME_USEC_PER_SEC + frac;
		return 0;
	}
	n = chime_tz_resolve(tz, local, utc, &jump, NULL);
	/* In a gap: the transition instant itself, the first one after it. */
	*ret_utc_usec = n == 0 ? jump * CHIME_USEC_PER_SEC : utc[0] * CHIME_USEC_PER_SEC + frac;
	return 0;
}
