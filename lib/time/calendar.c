/* SPDX-License-Identifier: MIT */
/*
 * systemd calendar events (systemd.time(7)): "[WEEKDAYS] [DATE] [TIME]
 * [ZONE]" and the keywords minutely .. semiannually, compiled to the
 * matcher of match.h with AND between the fields. Weekday lists and ranges
 * ("Mon..Fri", "Sat,Sun"), dates with lists, ranges ("16..22") and
 * repetitions ("1/2"), "~" for days counted from the end of the month
 * ("*-02~1" is the last day), times with optional seconds, and a trailing
 * zone name ("UTC", "Europe/Berlin") kept for chime_expr_zone(). Pure,
 * except that a zone name is checked against the zone database.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cron.h"
#include "match.h"
#include "tz.h"

/* What a component item became: a plain bitset, year rules, or from-end days. */
enum comp_kind {
	C_BITS,
	C_YEAR,
	C_FROM_END,
};

struct comp {
	const char *field;
	int min, max;
	enum comp_kind kind;
	uint64_t bits;
	struct chime__match *m; /* year rules go here */
	bool star;              /* the text contains '*' or a repetition */
};

static const char *const wday_long[] = {"sunday",   "monday", "tuesday", "wednesday",
                                        "thursday", "friday", "saturday"};

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool
digit(char c)
{
	return c >= '0' && c <= '9';
}

static int
tok_error(struct chime_expr_error *err, const char *field, struct chime__tok t, const char *what)
{
	return chime__expr_error(err, field, t.col, "%s '%.*s' %s", field,
	                         (int)(t.n > 40 ? 40 : t.n), t.p, what);
}

static int
parse_num(const char *field, struct chime__tok t, size_t *pos, int *ret,
          struct chime_expr_error *err)
{
	size_t i = *pos;
	int v = 0;

	if (i >= t.n || !digit(t.p[i]))
		return chime__expr_error(err, field, t.col + (unsigned)i,
		                         "%s: expected a number in '%.*s'", field,
		                         (int)(t.n > 40 ? 40 : t.n), t.p);
	while (i < t.n && digit(t.p[i])) {
		if (v < 100000)
			v = v * 10 + (t.p[i] - '0');
		i++;
	}
	*pos = i;
	*ret = v;
	return 0;
}

static int
check(struct comp *c, struct chime__tok t, size_t from, size_t to, int v, int lo, int hi,
      struct chime_expr_error *err)
{
	if (v >= lo && v <= hi)
		return 0;
	return chime__expr_error(err, c->field, t.col + (unsigned)from,
	                         "%s '%.*s' out of range %d-%d", c->field, (int)(to - from),
	                         t.p + from, lo, hi);
}

static int
comp_add(struct comp *c, struct chime__tok t, int lo, int hi, int step,
         struct chime_expr_error *err)
{
	if (c->kind == C_YEAR) {
		struct chime__match *m = c->m;
		struct chime__year_rule *years;

		if (m->n_years >= CHIME__MATCH_MAX_YEARS)
			return tok_error(err, c->field, t, "has too many items");
		years = realloc(m->years, (m->n_years + 1) * sizeof(*years));
		if (years == NULL)
			return -ENOMEM;
		m->years = years;
		m->years[m->n_years++] = (struct chime__year_rule){lo, hi, step};
		return 0;
	}
	if (c->kind == C_FROM_END) {
		/* ~v is the v-th last day, offset v - 1 from the last; a
		 * repetition runs forward in the calendar, toward the end. */
		for (int v = hi; v >= lo; v -= step)
			c->bits |= UINT64_C(1) << (v - 1);
		return 0;
	}
	for (int v = lo; v <= hi; v += step)
		c->bits |= UINT64_C(1) << v;
	return 0;
}

/* One item: "*", "*\/r", "v", "v..w", "v/r", "v..w/r". */
static int
parse_item(struct comp *c, struct chime__tok t, struct chime_expr_error *err)
{
	size_t i = 0, s;
	int lo, hi, step = 1;
	bool open = false;

	if (t.n == 0)
		return chime__expr_error(err, c->field, t.col, "%s has an empty item", c->field);
	if (t.p[0] == '*') {
		if (c->kind == C_FROM_END)
			return tok_error(err, c->field, t, "cannot count '*' from the end");
		lo = c->min;
		hi = c->max;
		i = 1;
		c->star = true;
	} else {
		s = i;
		if (parse_num(c->field, t, &i, &lo, err) < 0 ||
		    check(c, t, s, i, lo, c->min, c->max, err) < 0)
			return -EINVAL;
		hi = lo;
		if (i + 1 < t.n && t.p[i] == '.' && t.p[i + 1] == '.') {
			i += 2;
			s = i;
			if (parse_num(c->field, t, &i, &hi, err) < 0 ||
			    check(c, t, s, i, hi, c->min, c->max, err) < 0)
				return -EINVAL;
			if (hi < lo)
				return chime__expr_error(err, c->field, t.col,
				                         "%s range '%.*s' goes backwards", c->field,
				                         (int)i, t.p);
		} else
			open = true;
	}
	if (i < t.n && t.p[i] == '/') {
		i++;
		s = i;
		if (parse_num(c->field, t, &i, &step, err) < 0 ||
		    check(c, t, s, i, step, 1, c->max - c->min + 1, err) < 0)
			return -EINVAL;
		if (open && c->kind == C_FROM_END) {
			/* "~7/1": from the 7th last day on, toward the end. */
			hi = lo;
			lo = c->min;
		} else if (open)
			hi = c->max;
		c->star = true;
	}
	if (i < t.n && t.p[i] == '.')
		return chime__expr_error(err, c->field, t.col + (unsigned)i,
		                         "%s: fractional values are not supported", c->field);
	if (i != t.n)
		return chime__expr_error(err, c->field, t.col + (unsigned)i,
		                         "%s: unexpected '%c' in '%.*s'", c->field, t.p[i],
		                         (int)(t.n > 40 ? 40 : t.n), t.p);
	return comp_add(c, t, lo, hi, step, err);
}

static int
parse_comp(struct comp *c, struct chime__tok t, struct chime_expr_error *err)
{
	struct chime__tok item;

	if (t.n == 0)
		return chime__expr_error(err, c->field, t.col, "%s is empty", c->field);
	for (size_t pos = 0; chime__tok_next_part(t, ',', &pos, &item);)
		if (parse_item(c, item, err) < 0)
			return -EINVAL;
	return 0;
}

static int
parse_wday_name(struct chime__tok t, size_t *pos, int *ret, struct chime_expr_error *err)
{
	size_t i = *pos, s = i;

	while (i < t.n && ((t.p[i] >= 'a' && t.p[i] <= 'z') || (t.p[i] >= 'A' && t.p[i] <= 'Z')))
		i++;
	for (int w = 0; w < 7; w++) {
		size_t len = strlen(wday_long[w]), k;

		if (i - s != 3 && i - s != len)
			continue;
		for (k = 0; k < i - s && lower(t.p[s + k]) == wday_long[w][k]; k++)
			;
		if (k == i - s) {
			*pos = i;
			*ret = w;
			return 0;
		}
	}
	return chime__expr_error(err, "calendar weekday", t.col + (unsigned)s,
	                         "calendar weekday '%.*s' is not a weekday (Mon..Sun)",
	                         (int)(i - s > 40 ? 40 : (i == s ? 1 : i - s)), t.p + s);
}

/* "Mon", "Mon..Fri", "Sat,Sun", "Mon-Wed,Fri", "Wed," (trailing comma). */
static int
parse_weekdays(struct chime__match *m, struct chime__tok t, struct chime_expr_error *err)
{
	size_t i = 0;
	int lo, hi;

	for (;;) {
		if (parse_wday_name(t, &i, &lo, err) < 0)
			return -EINVAL;
		hi = lo;
		if (i < t.n && (t.p[i] == '-' || t.p[i] == '.')) {
			if (t.p[i] == '.') {
				if (i + 1 >= t.n || t.p[i + 1] != '.')
					return chime__expr_error(err, "calendar weekday",
					                         t.col + (unsigned)i,
					                         "calendar weekday: expected '..'");
				i++;
			}
			i++;
			if (parse_wday_name(t, &i, &hi, err) < 0)
				return -EINVAL;
		}
		/* Ranges run Monday first, as in systemd: Sun is the end of the week. */
		lo = (lo + 6) % 7;
		hi = (hi + 6) % 7;
		if (hi < lo)
			return chime__expr_error(err, "calendar weekday", t.col,
			                         "calendar weekday range '%.*s' goes backwards",
			                         (int)(t.n > 40 ? 40 : t.n), t.p);
		for (int w = lo; w <= hi; w++)
			m->wday |= (uint8_t)(1u << ((w + 1) % 7));
		if (i == t.n)
			return 0;
		if (t.p[i] != ',')
			return chime__expr_error(err, "calendar weekday", t.col + (unsigned)i,
			                         "calendar weekday: unexpected '%c'", t.p[i]);
		/* A comma may end the list, as in systemd: "Wed, 17:48". */
		if (++i == t.n)
			return 0;
	}
}

static int
parse_date(struct chime__match *m, struct chime__tok t, struct chime_expr_error *err)
{
	struct chime__tok parts[3];
	struct comp year = {"calendar year", 1, 9999, C_YEAR, 0, m, false};
	struct comp month = {"calendar month", 1, 12, C_BITS, 0, m, false};
	struct comp day = {"calendar day", 1, 31, C_BITS, 0, m, false};
	const char *tilde = memchr(t.p, '~', t.n);
	size_t n = 0, s = 0, end = tilde != NULL ? (size_t)(tilde - t.p) : t.n;

	for (size_t i = 0; i <= end; i++) {
		if (i < end && t.p[i] != '-')
			continue;
		if (tilde != NULL && i == end && i == s && n > 0)
			break; /* "*-02-~1": the dash before the tilde */
		if (n == 3)
			return tok_error(err, "calendar date", t, "has too many parts (Y-M-D)");
		parts[n++] = chime__tok_sub(t, s, i);
		s = i + 1;
	}
	if (tilde != NULL) {
		if (n == 3)
			return tok_error(err, "calendar date", t, "has too many parts (Y-M~D)");
		s = end + 1;
		parts[n++] = chime__tok_sub(t, s, t.n);
		day.kind = C_FROM_END;
	}
	if (n < 2)
		return tok_error(err, "calendar date", t, "is not a date (Y-M-D or M-D)");
	if (n == 3) {
		if (!(parts[0].n == 1 && parts[0].p[0] == '*') &&
		    parse_comp(&year, parts[0], err) < 0)
			return -EINVAL;
	}
	if (parse_comp(&month, parts[n - 2], err) < 0 || parse_comp(&day, parts[n - 1], err) < 0)
		return -EINVAL;
	m->month = (uint16_t)month.bits;
	if (tilde != NULL) {
		m->last_offsets = (uint32_t)day.bits;
		m->mday = 0;
	} else
		m->mday = (uint32_t)day.bits;
	return 0;
}

static int
parse_time(struct chime__match *m, struct chime__tok t, struct chime_expr_error *err)
{
	struct comp hour = {"calendar hour", 0, 23, C_BITS, 0, m, false};
	struct comp min = {"calendar minute", 0, 59, C_BITS, 0, m, false};
	struct comp sec = {"calendar second", 0, 59, C_BITS, 0, m, false};
	struct chime__tok parts[3], part;
	size_t n = 0;

	for (size_t pos = 0; chime__tok_next_part(t, ':', &pos, &part);) {
		if (n == 3)
			return tok_error(err, "calendar time", t, "has too many parts (H:M:S)");
		parts[n++] = part;
	}
	if (n < 2)
		return tok_error(err, "calendar time", t, "is not a time (H:M or H:M:S)");
	if (parse_comp(&hour, parts[0], err) < 0 || parse_comp(&min, parts[1], err) < 0)
		return -EINVAL;
	if (n == 3 && parse_comp(&sec, parts[2], err) < 0)
		return -EINVAL;
	m->hour = (uint32_t)hour.bits;
	m->min = min.bits;
	m->sec = n == 3 ? sec.bits : 1;
	m->hour_fixed = !hour.star && __builtin_popcount(m->hour) < 24;
	return 0;
}

static int
parse_zone(struct chime_expr *e, struct chime__tok t, struct chime_expr_error *err)
{
	struct chime_tz *tz = NULL;
	char name[256];
	int r;

	if (t.n >= sizeof(name))
		return tok_error(err, "calendar zone", t, "is too long");
	memcpy(name, t.p, t.n);
	name[t.n] = '\0';
	if (strcasecmp(name, "UTC") == 0)
		strcpy(name, "UTC");
	else {
		r = chime_tz_load(name, NULL, &tz);
		if (r < 0)
			return tok_error(err, "calendar zone", t,
			                 r == -ENOENT ? "is not a known time zone"
			                              : "is not a valid time zone name");
		chime_tz_unref(tz);
	}
	e->zone = strdup(name);
	if (e->zone == NULL)
		return -ENOMEM;
	return 0;
}

struct keyword {
	const char *name;
	const char *expansion;
};

static const struct keyword keywords[] = {
        {"minutely", "*-*-* *:*:00"},
        {"hourly", "*-*-* *:00:00"},
        {"daily", "*-*-* 00:00:00"},
        {"monthly", "*-*-01 00:00:00"},
        {"weekly", "Mon *-*-* 00:00:00"},
        {"yearly", "*-01-01 00:00:00"},
        {"annually", "*-01-01 00:00:00"},
        {"quarterly", "*-01,04,07,10-01 00:00:00"},
        {"semiannually", "*-01,07-01 00:00:00"},
        {"semi-annually", "*-01,07-01 00:00:00"},
};

static bool
ctok_is(struct chime__tok t, const char *word)
{
	return strlen(word) == t.n && strncmp(t.p, word, t.n) == 0;
}

static bool
ctok_has(struct chime__tok t, char c)
{
	return memchr(t.p, c, t.n) != NULL;
}

static bool
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int
chime__calendar_parse(const char *text, struct chime_expr *e, struct chime_expr_error *err)
{
	struct chime__match *m = &e->match;
	struct chime__tok toks[5];
	unsigned n = chime__tok_split(text, toks, 5), i = 0;

	if (n > 4)
		return chime__expr_error(
		        err, "calendar", toks[4].col,
		        "too many parts: expected [WEEKDAYS] [DATE] [TIME] [ZONE]");
	m->wday = 0;
	for (size_t k = 0; k < sizeof(keywords) / sizeof(keywords[0]); k++) {
		if (!ctok_is(toks[0], keywords[k].name))
			continue;
		if (n > 2)
			return chime__expr_error(err, "calendar", toks[2].col,
			                         "'%s' may only be followed by a time zone",
			                         keywords[k].name);
		if (chime__calendar_parse(keywords[k].expansion, e, err) < 0)
			return -EINVAL;
		return n == 2 ? parse_zone(e, toks[1], err) : 0;
	}

	m->mday = UINT32_C(0xfffffffe);
	m->month = 0x1ffe;
	m->hour = 1;
	m->min = 1;
	m->sec = 1;
	m->hour_fixed = true;
	if (is_alpha(toks[0].p[0]) && !ctok_has(toks[0], ':') && !ctok_has(toks[0], '/') &&
	    !ctok_has(toks[0], '_')) {
		if (parse_weekdays(m, toks[0], err) < 0)
			return -EINVAL;
		i++;
	}
	if (i < n && !ctok_has(toks[i], ':') &&
	    (ctok_has(toks[i], '-') || ctok_has(toks[i], '~')) && !is_alpha(toks[i].p[0])) {
		if (parse_date(m, toks[i], err) < 0)
			return -EINVAL;
		i++;
	}
	if (i < n && ctok_has(toks[i], ':') && !is_alpha(toks[i].p[0])) {
		if (parse_time(m, toks[i], err) < 0)
			return -EINVAL;
		i++;
	}
	if (i == 0 || (i < n && !is_alpha(toks[i].p[0])))
		return tok_error(err, "calendar", toks[i],
		                 "is not a weekday, date (Y-M-D), time (H:M:S) or time zone");
	if (i < n) {
		if (i + 1 < n)
			return tok_error(err, "calendar", toks[i + 1],
			                 "follows the time zone; expected nothing");
		if (parse_zone(e, toks[i], err) < 0)
			return -EINVAL;
	}
	if (m->wday == 0)
		m->wday = 0x7f;
	return 0;
}
