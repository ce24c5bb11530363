/* SPDX-License-Identifier: MIT */
/*
 * The schedule matcher shared by the crontab (cron.c) and systemd calendar
 * (calendar.c) parsers: one bitset per field, flags for the day rules that
 * depend on the month (L, L-n, W, LW, nL, n#k, calendar ~), and tables
 * precomputed at parse time for the 28 shapes of month (28..31 days, weekday
 * of the 1st) and the 14 kinds of year (leap or not, weekday of 1 January),
 * so that finding the next or previous matching local wall
 * time is calendar arithmetic: a jump to the next matching year, month, day,
 * hour, minute and second, never a walk. match.c adds the zone and the DST
 * policy on top. Internal to libchime; everything here is pure.
 */
#ifndef CHIME_MATCH_H
#define CHIME_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "civil.h"
#include "cron.h"

#define CHIME__MATCH_MIN_YEAR  1
#define CHIME__MATCH_MAX_YEAR  9999
#define CHIME__MATCH_MAX_YEARS 16 /* year items of a calendar event */

/* One item of a calendar event's year component: start..end every step. */
struct chime__year_rule {
	int32_t start;
	int32_t end;
	int32_t step;
};

struct chime__match {
	uint64_t sec;   /* bits 0..59 */
	uint64_t min;   /* bits 0..59 */
	uint32_t hour;  /* bits 0..23 */
	uint32_t mday;  /* bits 1..31: plain days of the month */
	uint16_t month; /* bits 1..12 */
	uint8_t wday;   /* bits 0..6: plain weekdays, 0 = Sunday */

	uint32_t last_offsets; /* bit n: the day n days before the last (L = bit 0, L-n, ~) */
	uint32_t nearest_wd;   /* bit d: dW, the weekday nearest to day d */
	uint32_t last_wd;  /* bit n: the weekday nearest to the day n before the last (LW, L-nW) */
	uint8_t wday_last; /* bit w: wL, the last weekday w of the month */
	uint8_t wday_nth[7]; /* bit k (1..5) of [w]: w#k */

	bool dom_star;   /* day-of-month counts as unrestricted (starts with '*' or '?') */
	bool dow_star;   /* same for day-of-week */
	bool days_all;   /* AND of the day fields (else Vixie OR when both restricted) */
	bool hour_fixed; /* for the AUTO DST policy */

	unsigned n_years;               /* 0: every year */
	struct chime__year_rule *years; /* n_years items (owned, calendar events only) */

	/* Computed by chime__match_prepare(). Year type: leap * 7 + weekday of 1 Jan. */
	uint32_t shape_days[28]; /* [(days - 28) * 7 + weekday of the 1st]: matching days (bit d) */
	uint16_t ymonths[14];    /* months (bit m) with at least one matching day */
	bool rare;               /* some year types have no match: use year_bits */
	uint64_t year_bits[7];   /* bit (y mod 400): the year has a matching day */
};

struct chime_expr {
	enum chime_expr_kind kind;
	enum chime_dst_gap gap;         /* resolved: never AUTO */
	enum chime_dst_overlap overlap; /* resolved: never AUTO */
	bool days_ambiguous;
	int64_t interval_usec; /* @every */
	char *zone;            /* calendar event's zone, or NULL */
	struct chime__match match;
};

/* Fill the computed tables. Returns false if the expression can never match. */
bool chime__match_prepare(struct chime__match *m);
/* Smallest matching local civil second >= t (and <= year 9999), false if none. */
bool chime__match_next_local(const struct chime__match *m, int64_t t, int64_t *ret);
/* Largest matching local civil second <= t (and >= year 1), false if none. */
bool chime__match_prev_local(const struct chime__match *m, int64_t t, int64_t *ret);
/* Resolve AUTO DST choices from the hour field's shape. */
void chime__match_resolve_policy(struct chime_expr *expr, const struct chime_expr_options *opts);

/* Parse a systemd calendar event into `expr` (already zeroed, kind set). */
int chime__calendar_parse(const char *text, struct chime_expr *expr,
                          struct chime_expr_error *ret_error);

/* Fill an error (when not NULL): field, 1-based column, printf message. Returns -EINVAL. */
/*
 * The tokenizer both grammars share: a token is [p, p + n) of the
 * expression, not NUL-terminated, starting at 1-based column `col` (for
 * the error). A whole expression splits at blanks, a token into parts at
 * a separator (',' between list items, ':' in a time).
 */
struct chime__tok {
	const char *p;
	size_t n;
	unsigned col;
};

/* The bytes [from, to) of `t`, with their own column. */
static inline struct chime__tok
chime__tok_sub(struct chime__tok t, size_t from, size_t to)
{
	return (struct chime__tok){t.p + from, to - from, t.col + (unsigned)from};
}

/*
 * Split `text` at spaces and tabs into at most `max` tokens. Returns how
 * many tokens the text has, which may be more than `max`.
 */
unsigned chime__tok_split(const char *text, struct chime__tok *toks, unsigned max);

/*
 * The next part of `t` between `sep` bytes, from *pos (0 at first): false
 * after the last one. "a,,b" has three parts, the second empty; an empty
 * token has one empty part.
 */
static inline bool
chime__tok_next_part(struct chime__tok t, char sep, size_t *pos, struct chime__tok *ret_part)
{
	size_t j = *pos;

	if (j > t.n)
		return false;
	while (j < t.n && t.p[j] != sep)
		j++;
	*ret_part = chime__tok_sub(t, *pos, j);
	*pos = j + 1;
	return true;
}

int chime__expr_error(struct chime_expr_error *err, const char *field, unsigned column,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
