/* SPDX-License-Identifier: MIT */
/*
 * Schedule expressions: the entry point that recognises the grammar by
 * shape (macro, crontab line, systemd calendar event), and the crontab
 * parser: 5 or 6 fields, names, ranges, lists, steps, and the Quartz day
 * extensions L, L-n, W, LW, nL, n#k and ?. Everything compiles to the
 * matcher of match.h. Errors name the field and the 1-based column. Pure.
 */
#include "cron.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "match.h"
#include "mem.h"
#include "timespan.h"

#define EXPR_MAX_LEN 1024

enum cron_field {
	F_SEC,
	F_MIN,
	F_HOUR,
	F_DOM,
	F_MONTH,
	F_DOW,
};

struct field_spec {
	const char *name;
	int min, max;
	const char *const *names; /* three-letter names of min..max, or NULL */
};

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const wday_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

static const struct field_spec field_specs[] = {
        [F_SEC] = {"second", 0, 59, NULL},         [F_MIN] = {"minute", 0, 59, NULL},
        [F_HOUR] = {"hour", 0, 23, NULL},          [F_DOM] = {"day-of-month", 1, 31, NULL},
        [F_MONTH] = {"month", 1, 12, month_names}, [F_DOW] = {"day-of-week", 0, 7, wday_names},
};

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char
to_upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

static int
field_error(struct chime_expr_error *err, enum cron_field f, unsigned col, const char *what,
            struct chime__tok t)
{
	return chime__expr_error(err, field_specs[f].name, col, "%s '%.*s' %s", field_specs[f].name,
	                         (int)(t.n > 40 ? 40 : t.n), t.p, what);
}

/*
 * A number or (for months and weekdays) a name at *pos, advancing it.
 * Range checks are the caller's. Returns 0 or -EINVAL (error filled).
 */
static int
parse_value(enum cron_field f, struct chime__tok el, size_t *pos, int *ret,
            struct chime_expr_error *err)
{
	const struct field_spec *fs = &field_specs[f];
	size_t i = *pos, start = i;
	struct chime__tok t;
	int v = 0;

	if (i < el.n && is_digit(el.p[i])) {
		while (i < el.n && is_digit(el.p[i])) {
			if (v < 100000)
				v = v * 10 + (el.p[i] - '0');
			i++;
		}
		*pos = i;
		*ret = v;
		return 0;
	}
	while (i < el.n &&
	       ((el.p[i] >= 'a' && el.p[i] <= 'z') || (el.p[i] >= 'A' && el.p[i] <= 'Z')))
		i++;
	t = chime__tok_sub(el, start, i);
	if (i == start) {
		t.n = el.n - start;
		return field_error(err, f, t.col, "is not a number", t);
	}
	if (fs->names != NULL && i - start == 3)
		for (int k = 0; k <= fs->max - fs->min && k < 12; k++) {
			if (f == F_DOW && k >= 7)
				break;
			if (to_upper(t.p[0]) == fs->names[k][0] &&
			    to_upper(t.p[1]) == fs->names[k][1] &&
			    to_upper(t.p[2]) == fs->names[k][2]) {
				*pos = i;
				*ret = fs->min + k;
				return 0;
			}
		}
	return field_error(err, f, t.col,
	                   fs->names == NULL ? "is not a number"
	                   : f == F_MONTH    ? "is not a month name (JAN..DEC)"
	                                     : "is not a weekday name (SUN..SAT)",
	                   t);
}

static int
check_range(enum cron_field f, struct chime__tok el, size_t from, size_t to, int v, int lo, int hi,
            const char *what, struct chime_expr_error *err)
{
	struct chime__tok t = chime__tok_sub(el, from, to);

	if (v >= lo && v <= hi)
		return 0;
	return chime__expr_error(err, field_specs[f].name, t.col, "%s%s '%.*s' out of range %d-%d",
	                         field_specs[f].name, what, (int)(t.n > 40 ? 40 : t.n), t.p, lo,
	                         hi);
}

static void
set_bits(struct chime__match *m, enum cron_field f, int lo, int hi, int step)
{
	for (int v = lo; v <= hi; v += step) {
		switch (f) {
		case F_SEC:
			m->sec |= UINT64_C(1) << v;
			break;
		case F_MIN:
			m->min |= UINT64_C(1) << v;
			break;
		case F_HOUR:
			m->hour |= UINT32_C(1) << v;
			break;
		case F_DOM:
			m->mday |= UINT32_C(1) << v;
			break;
		case F_MONTH:
			m->month |= (uint16_t)(1u << v);
			break;
		case F_DOW:
			m->wday |= (uint8_t)(1u << (v % 7));
			break;
		}
	}
}

/* The Quartz forms of day-of-month: L, L-n, LW, L-nW, nW. Returns 1 if `el` was one. */
static int
parse_dom_special(struct chime__match *m, struct chime__tok el, struct chime_expr_error *err)
{
	size_t i = 0;
	int v;

	if (el.n >= 1 && to_upper(el.p[0]) == 'L') {
		if (el.n == 1) {
			m->last_offsets |= 1;
			return 1;
		}
		if (el.n == 2 && to_upper(el.p[1]) == 'W') {
			m->last_wd |= 1;
			return 1;
		}
		if (el.p[1] != '-' || el.n == 2 || !is_digit(el.p[2]))
			return field_error(err, F_DOM, el.col, "is not L, L-n, LW or L-nW", el);
		i = 2;
		if (parse_value(F_DOM, el, &i, &v, err) < 0)
			return -EINVAL;
		if (i != el.n && (i + 1 != el.n || to_upper(el.p[i]) != 'W'))
			return field_error(err, F_DOM, el.col, "is not L, L-n, LW or L-nW", el);
		if (check_range(F_DOM, el, 2, i, v, 0, 30, " offset", err) < 0)
			return -EINVAL;
		if (i == el.n)
			m->last_offsets |= UINT32_C(1) << v;
		else
			m->last_wd |= UINT32_C(1) << v; /* L-nW: nearest weekday to L-n */
		return 1;
	}
	if (el.n >= 2 && is_digit(el.p[0]) && to_upper(el.p[el.n - 1]) == 'W') {
		if (parse_value(F_DOM, el, &i, &v, err) < 0)
			return -EINVAL;
		if (i != el.n - 1)
			return field_error(err, F_DOM, el.col, "is not nW", el);
		if (check_range(F_DOM, el, 0, i, v, 1, 31, "", err) < 0)
			return -EINVAL;
		m->nearest_wd |= UINT32_C(1) << v;
		return 1;
	}
	return 0;
}

/* The Quartz forms of day-of-week: nL, n#k, L. Returns 1 if `el` was one. */
static int
parse_dow_special(struct chime__match *m, struct chime__tok el, struct chime_expr_error *err)
{
	size_t i = 0, j;
	int v, k;

	if (el.n == 1 && to_upper(el.p[0]) == 'L') {
		m->wday |= 1u << 6; /* Quartz: L alone is the last day of the week */
		return 1;
	}
	if (memchr(el.p, '#', el.n) == NULL && (el.n < 2 || to_upper(el.p[el.n - 1]) != 'L'))
		return 0;
	if (memchr(el.p, '#', el.n) == NULL) {
		/* nL or SUNL: the value is everything before the final L. */
		struct chime__tok head = {el.p, el.n - 1, el.col};

		if (parse_value(F_DOW, head, &i, &v, err) < 0 || i != head.n)
			return field_error(err, F_DOW, el.col,
			                   "is not a weekday (0-7, SUN..SAT) or nL", el);
		if (check_range(F_DOW, el, 0, i, v, 0, 7, "", err) < 0)
			return -EINVAL;
		m->wday_last |= (uint8_t)(1u << (v % 7));
		return 1;
	}
	if (parse_value(F_DOW, el, &i, &v, err) < 0)
		return -EINVAL;
	if (check_range(F_DOW, el, 0, i, v, 0, 7, "", err) < 0)
		return -EINVAL;
	if (i >= el.n || el.p[i] != '#')
		return 0;
	j = ++i;
	if (i >= el.n || !is_digit(el.p[i]))
		return field_error(err, F_DOW, el.col + (unsigned)j, "occurrence is missing in",
		                   el);
	if (parse_value(F_DOW, el, &i, &k, err) < 0)
		return -EINVAL;
	if (i != el.n)
		return field_error(err, F_DOW, el.col, "is not n#k", el);
	if (check_range(F_DOW, el, j, i, k, 1, 5, " occurrence", err) < 0)
		return -EINVAL;
	m->wday_nth[v % 7] |= (uint8_t)(1u << k);
	return 1;
}

static int
parse_element(struct chime__match *m, enum cron_field f, struct chime__tok el,
              struct chime_expr_error *err)
{
	const struct field_spec *fs = &field_specs[f];
	int lo, hi, step = 1, fmax = f == F_DOW ? 6 : fs->max, r;
	bool open = false;
	size_t i = 0, vstart;

	if (el.n == 0)
		return chime__expr_error(err, fs->name, el.col, "%s has an empty list element",
		                         fs->name);
	if (el.n == 1 && el.p[0] == '?') {
		if (f != F_DOM && f != F_DOW)
			return field_error(err, f, el.col,
			                   "is only allowed in day-of-month and day-of-week", el);
		set_bits(m, f, fs->min, fmax, 1);
		return 0;
	}
	if (f == F_DOM || f == F_DOW) {
		r = f == F_DOM ? parse_dom_special(m, el, err) : parse_dow_special(m, el, err);
		if (r != 0)
			return r < 0 ? r : 0;
	} else if (to_upper(el.p[0]) == 'L' || memchr(el.p, '#', el.n) != NULL ||
	           (fs->names == NULL && to_upper(el.p[el.n - 1]) == 'W')) {
		return field_error(err, f, el.col,
		                   "uses L, W or #, which only day-of-month and day-of-week allow",
		                   el);
	}

	if (el.p[0] == '*') {
		lo = fs->min;
		hi = fmax;
		i = 1;
	} else {
		vstart = i;
		if (parse_value(f, el, &i, &lo, err) < 0)
			return -EINVAL;
		if (check_range(f, el, vstart, i, lo, fs->min, fs->max, "", err) < 0)
			return -EINVAL;
		hi = lo;
		if (i < el.n && el.p[i] == '-' && f == F_DOM && i + 2 == el.n &&
		    to_upper(el.p[i + 1]) == 'L') {
			/* "29-L": to the last day, whatever the month's length. */
			hi = fs->max;
			i += 2;
		} else if (i < el.n && el.p[i] == '-') {
			vstart = ++i;
			if (parse_value(f, el, &i, &hi, err) < 0)
				return -EINVAL;
			if (check_range(f, el, vstart, i, hi, fs->min, fs->max, "", err) < 0)
				return -EINVAL;
			if (hi < lo)
				return chime__expr_error(err, fs->name, el.col,
				                         "%s range '%.*s' goes backwards (%d > %d)",
				                         fs->name, (int)(i > 40 ? 40 : i), el.p, lo,
				                         hi);
		} else
			open = true;
	}
	if (i < el.n && el.p[i] == '/') {
		vstart = ++i;
		if (i >= el.n || !is_digit(el.p[i]))
			return chime__expr_error(err, fs->name, el.col + (unsigned)i,
			                         "%s step is missing after '/'", fs->name);
		if (parse_value(f, el, &i, &step, err) < 0)
			return -EINVAL;
		if (check_range(f, el, vstart, i, step, 1, fmax - fs->min + 1, " step", err) < 0)
			return -EINVAL;
		if (open)
			hi = fmax;
	}
	if (i != el.n)
		return chime__expr_error(err, fs->name, el.col + (unsigned)i,
		                         "%s: unexpected '%c' in '%.*s'", fs->name, el.p[i],
		                         (int)(el.n > 40 ? 40 : el.n), el.p);
	set_bits(m, f, lo, hi, step);
	return 0;
}

static int
parse_field(struct chime__match *m, enum cron_field f, struct chime__tok t,
            struct chime_expr_error *err)
{
	struct chime__tok el;

	for (size_t pos = 0; chime__tok_next_part(t, ',', &pos, &el);)
		if (parse_element(m, f, el, err) < 0)
			return -EINVAL;
	return 0;
}

static bool
tok_is(struct chime__tok t, const char *word)
{
	size_t n = strlen(word);

	if (t.n != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (to_upper(t.p[i]) != to_upper(word[i]))
			return false;
	return true;
}

static int
parse_crontab(const char *text, struct chime__tok *toks, unsigned n, struct chime_expr *e,
              struct chime_expr_error *err)
{
	struct chime__match *m = &e->match;
	unsigned first = 0;
	struct chime__tok hour;

	if (n != 5 && n != 6)
		return chime__expr_error(err, "expression", n > 6 ? toks[6].col : 1,
		                         "expected 5 or 6 crontab fields, found %u", n);
	if (n == 6) {
		if (parse_field(m, F_SEC, toks[0], err) < 0)
			return -EINVAL;
		first = 1;
	} else
		m->sec = 1;
	for (unsigned f = F_MIN; f <= F_DOW; f++)
		if (parse_field(m, (enum cron_field)f, toks[first + f - F_MIN], err) < 0)
			return -EINVAL;
	m->dom_star = toks[first + 2].p[0] == '*' || toks[first + 2].p[0] == '?';
	m->dow_star = toks[first + 4].p[0] == '*' || toks[first + 4].p[0] == '?';
	hour = toks[first + 1];
	m->hour_fixed = memchr(hour.p, '*', hour.n) == NULL &&
	                memchr(hour.p, '/', hour.n) == NULL && __builtin_popcount(m->hour) < 24;
	(void)text;
	return 0;
}

struct macro {
	const char *name;
	const char *expansion;
};

static const struct macro macros[] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"},
};

static int
parse_macro(const char *text, struct chime__tok *toks, unsigned n, struct chime_expr *e,
            struct chime_expr_error *err)
{
	struct chime__tok sub[6];
	int64_t usec;
	int r;

	if (tok_is(toks[0], "@reboot")) {
		if (n != 1)
			return chime__expr_error(err, "expression", toks[1].col,
			                         "@reboot takes no argument");
		e->kind = CHIME_EXPR_REBOOT;
		return 0;
	}
	if (tok_is(toks[0], "@every")) {
		const char *span = toks[0].p + toks[0].n;

		if (n < 2)
			return chime__expr_error(err, "interval", toks[0].col,
			                         "@every needs a time span, as in '@every 5min'");
		r = chime_timespan_parse(span + strspn(span, " \t"), &usec);
		if (r < 0)
			return chime__expr_error(
			        err, "interval", toks[1].col,
			        "'%.*s' is not a time span (e.g. 30s, 5min, 1h 30min)",
			        (int)strnlen(toks[1].p, 40), toks[1].p);
		if (usec < CHIME_USEC_PER_SEC)
			return chime__expr_error(err, "interval", toks[1].col,
			                         "@every interval must be at least 1s");
		e->kind = CHIME_EXPR_EVERY;
		e->interval_usec = usec;
		return 0;
	}
	for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++) {
		if (!tok_is(toks[0], macros[i].name))
			continue;
		if (n != 1)
			return chime__expr_error(err, "expression", toks[1].col,
			                         "%s takes no argument", macros[i].name);
		chime__tok_split(macros[i].expansion, sub, 6);
		r = parse_crontab(macros[i].expansion, sub, 5, e, err);
		if (r == 0)
			e->match.hour_fixed = strcmp(macros[i].name, "@hourly") != 0;
		return r;
	}
	(void)text;
	return chime__expr_error(err, "expression", 1, "unknown macro '%.*s'",
	                         (int)(toks[0].n > 40 ? 40 : toks[0].n), toks[0].p);
}

/* A short line of crontab-looking fields (not a calendar event). */
static bool
looks_like_short_crontab(const struct chime__tok *toks, unsigned n)
{
	if (n == 1 && !(toks[0].n == 1 && toks[0].p[0] == '*'))
		return false;
	for (unsigned k = 0; k < n && k < 4; k++) {
		unsigned dashes = 0;

		for (size_t i = 0; i < toks[k].n; i++) {
			char c = to_upper(toks[k].p[i]);

			if (c == '-')
				dashes++;
			if (!is_digit(c) && strchr("*/,?-#LW", c) == NULL)
				return false;
		}
		if (dashes > 1)
			return false;
	}
	return true;
}

int
chime_expr_parse(const char *text, const struct chime_expr_options *options,
                 struct chime_expr **ret_expr, struct chime_expr_error *ret_error)
{
	struct chime_expr *e = NULL;
	struct chime__tok toks[7];
	size_t len;
	unsigned n;
	int r;

	if (text == NULL || ret_expr == NULL)
		return chime__expr_error(ret_error, "expression", 0, "no expression");
	len = strnlen(text, EXPR_MAX_LEN + 1);
	if (len > EXPR_MAX_LEN)
		return chime__expr_error(ret_error, "expression", EXPR_MAX_LEN + 1,
		                         "expression longer than %d bytes", EXPR_MAX_LEN);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if ((c < 0x20 && c != '\t') || c >= 0x7f)
			return chime__expr_error(ret_error, "expression", (unsigned)i + 1,
			                         "unexpected byte 0x%02x", c);
	}
	n = chime__tok_split(text, toks, 7);
	if (n == 0)
		return chime__expr_error(ret_error, "expression", 1, "empty expression");

	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	e->kind = CHIME_EXPR_CRON;
	e->match.days_all = options != NULL && options->days == CHIME_DAYS_ALL;
	if (toks[0].p[0] == '@')
		r = parse_macro(text, toks, n, e, ret_error);
	else if (n >= 5 || looks_like_short_crontab(toks, n))
		r = parse_crontab(text, toks, n, e, ret_error);
	else {
		e->kind = CHIME_EXPR_CALENDAR;
		e->match.days_all = true;
		r = chime__calendar_parse(text, e, ret_error);
	}
	if (r < 0)
		goto out;
	if (e->kind == CHIME_EXPR_CRON || e->kind == CHIME_EXPR_CALENDAR) {
		if (!chime__match_prepare(&e->match)) {
			r = chime__expr_error(
			        ret_error,
			        e->kind == CHIME_EXPR_CRON ? "day-of-month" : "calendar date", 1,
			        "expression never matches: no date satisfies %s",
			        e->kind == CHIME_EXPR_CRON ? "day-of-month, month and day-of-week"
			                                   : "the year, month, day and weekday");
			goto out;
		}
		e->days_ambiguous = e->kind == CHIME_EXPR_CRON && !e->match.dom_star &&
		                    !e->match.dow_star && !e->match.days_all;
		chime__match_resolve_policy(e, options);
	}
	*ret_expr = e;
	e = NULL;
	r = 0;
out:
	chime_expr_free(e);
	return r;
}

struct chime_expr *
chime_expr_free(struct chime_expr *expr)
{
	if (expr == NULL)
		return NULL;
	chime_free_many(expr->zone, expr->match.years, expr);
	return NULL;
}

enum chime_expr_kind
chime_expr_kind(const struct chime_expr *expr)
{
	return expr->kind;
}

int64_t
chime_expr_interval_usec(const struct chime_expr *expr)
{
	return expr->kind == CHIME_EXPR_EVERY ? expr->interval_usec : 0;
}

const char *
chime_expr_zone(const struct chime_expr *expr)
{
	return expr->zone;
}

bool
chime_expr_days_ambiguous(const struct chime_expr *expr)
{
	return expr->days_ambiguous;
}
