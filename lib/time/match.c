/* SPDX-License-Identifier: MIT */
/*
 * The schedule matcher: next/previous matching local wall time by calendar
 * arithmetic over per-field bitsets (see match.h), and on top of it the
 * zone and the DST policy of cron.h, which turn local matches into fire
 * instants and slots (chime_expr_next, chime_expr_prev).
 *
 * Local matches L map to instants as follows. An ordinary L has one
 * instant. An L inside an overlap (fall back) has two: u0 in the first pass
 * and u1 in the second; ONCE fires at u0, BOTH at both. An L inside a gap
 * (spring forward) has none: RUN_AT_JUMP fires at the jump (once per gap,
 * as the earliest matching L), SKIP not at all, SHIFT at the jump plus L's
 * distance from the gap's start. First-pass instants grow with L; only the
 * second pass of an overlap and shifted gap times come "late", and they are
 * looked for explicitly near the instant asked about. Pure.
 */
#include "match.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cron.h"
#include "tz.h"

#define USEC_PER_SEC   INT64_C(1000000)
#define SHIFT_WINDOW   (CHIME_SEC_PER_DAY + 4 * 3600) /* how far back a gap can still shift fires */
#define MAX_GAP_ROUNDS 100000

int
chime__expr_error(struct chime_expr_error *err, const char *field, unsigned column, const char *fmt,
                  ...)
{
	va_list ap;

	if (err == NULL)
		return -EINVAL;
	memset(err, 0, sizeof(*err));
	err->column = column;
	snprintf(err->field, sizeof(err->field), "%s", field);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

unsigned
chime__tok_split(const char *text, struct chime__tok *toks, unsigned max)
{
	unsigned n = 0;
	size_t i = 0;

	for (;;) {
		size_t s;

		while (text[i] == ' ' || text[i] == '\t')
			i++;
		if (text[i] == '\0')
			return n;
		s = i;
		while (text[i] != '\0' && text[i] != ' ' && text[i] != '\t')
			i++;
		if (n < max)
			toks[n] = (struct chime__tok){text + s, i - s, (unsigned)s + 1};
		n++;
	}
}

/* The shape (index of shape_days) of each month (0..11) of each year type. */
static const uint8_t month_shape[14][12] = {
        {21, 3, 24, 20, 22, 18, 27, 23, 19, 21, 17, 26},
        {22, 4, 25, 14, 23, 19, 21, 24, 20, 22, 18, 27},
        {23, 5, 26, 15, 24, 20, 22, 25, 14, 23, 19, 21},
        {24, 6, 27, 16, 25, 14, 23, 26, 15, 24, 20, 22},
        {25, 0, 21, 17, 26, 15, 24, 27, 16, 25, 14, 23},
        {26, 1, 22, 18, 27, 16, 25, 21, 17, 26, 15, 24},
        {27, 2, 23, 19, 21, 17, 26, 22, 18, 27, 16, 25},
        {21, 10, 25, 14, 23, 19, 21, 24, 20, 22, 18, 27},
        {22, 11, 26, 15, 24, 20, 22, 25, 14, 23, 19, 21},
        {23, 12, 27, 16, 25, 14, 23, 26, 15, 24, 20, 22},
        {24, 13, 21, 17, 26, 15, 24, 27, 16, 25, 14, 23},
        {25, 7, 22, 18, 27, 16, 25, 21, 17, 26, 15, 24},
        {26, 8, 23, 19, 21, 17, 26, 22, 18, 27, 16, 25},
        {27, 9, 24, 20, 22, 18, 27, 23, 19, 21, 17, 26},
};

/* Matching days (bit d) of month `mo` (1..12) in a year of type `type`. */
static inline uint32_t
month_days(const struct chime__match *m, unsigned type, int mo)
{
	return (m->month >> mo & 1) ? m->shape_days[month_shape[type][mo - 1]] : 0;
}

static unsigned
year_type(int64_t y)
{
	return (chime_is_leap(y) ? 7 : 0) + chime_weekday_from_days(chime_days_from_civil(y, 1, 1));
}

/*
 * Quartz's W: the weekday (Monday..Friday) nearest to day d of a month with
 * `dim` days whose first day is weekday `wd1`, never leaving the month.
 */
static inline unsigned
nearest_weekday(unsigned d, unsigned dim, unsigned wd1)
{
	unsigned wd = (wd1 + d - 1) % 7;

	if (wd == 6)
		return d == 1 ? 3 : d - 1;
	if (wd == 0)
		return d == dim ? d - 2 : d + 1;
	return d;
}

/* The days of a month with `dim` days whose first day is weekday `wd1`. */
static uint32_t
match_days(const struct chime__match *m, unsigned dim, unsigned wd1)
{
	uint32_t all = ((UINT32_C(1) << dim) - 1) << 1;
	uint32_t dom = m->mday & all, dow = 0;
	uint64_t week = 0;
	unsigned wdl = (wd1 + dim - 1) % 7; /* weekday of the last day */

	for (uint32_t b = m->last_offsets; b != 0; b &= b - 1) {
		unsigned n = (unsigned)__builtin_ctz(b);

		if (n < dim)
			dom |= UINT32_C(1) << (dim - n);
	}
	for (uint32_t b = m->nearest_wd & all; b != 0; b &= b - 1)
		dom |= UINT32_C(1) << nearest_weekday((unsigned)__builtin_ctz(b), dim, wd1);
	for (uint32_t b = m->last_wd; b != 0; b &= b - 1) {
		unsigned n = (unsigned)__builtin_ctz(b);

		if (n < dim)
			dom |= UINT32_C(1) << nearest_weekday(dim - n, dim, wd1);
	}

	/* Plain weekdays: one week's pattern from day 1, repeated. */
	for (unsigned i = 0; i < 7; i++)
		if (m->wday >> ((wd1 + i) % 7) & 1)
			week |= UINT64_C(1) << (i + 1);
	dow = (uint32_t)((week | week << 7 | week << 14 | week << 21 | week << 28) & all);
	for (unsigned w = 0; w < 7; w++) {
		unsigned first = 1 + (w + 7 - wd1) % 7;

		for (uint32_t b = m->wday_nth[w]; b != 0; b &= b - 1) {
			unsigned k = (unsigned)__builtin_ctz(b);

			if (first + 7 * (k - 1) <= dim)
				dow |= UINT32_C(1) << (first + 7 * (k - 1));
		}
		if (m->wday_last >> w & 1)
			dow |= UINT32_C(1) << (dim - (wdl + 7 - w) % 7);
	}

	if (m->days_all || m->dom_star || m->dow_star)
		return dom & dow;
	return dom | dow;
}

/* Smallest year >= y allowed by the year rules and having a matching day. */
static int64_t
year_next(const struct chime__match *m, int64_t y)
{
	for (;;) {
		int64_t best = y;

		if (y > CHIME__MATCH_MAX_YEAR)
			return y;
		if (m->n_years > 0) {
			best = INT64_MAX;
			for (unsigned i = 0; i < m->n_years; i++) {
				const struct chime__year_rule *r = &m->years[i];
				int64_t k = r->start;

				if (y > k)
					k += (y - k + r->step - 1) / r->step * r->step;
				if (k <= r->end && k < best)
					best = k;
			}
			if (best == INT64_MAX)
				return CHIME__MATCH_MAX_YEAR + 1;
		}
		if (m->rare) {
			unsigned r0 = (unsigned)(best % 400), j = r0;

			while (!(m->year_bits[j / 64] >> (j % 64) & 1))
				j = (j + 1) % 400;
			best += (j + 400 - r0) % 400;
		}
		if (best == y)
			return y;
		y = best;
	}
}

/* Largest year <= y allowed by the year rules and having a matching day. */
static int64_t
year_prev(const struct chime__match *m, int64_t y)
{
	for (;;) {
		int64_t best = y;

		if (y < CHIME__MATCH_MIN_YEAR)
			return y;
		if (m->n_years > 0) {
			best = INT64_MIN;
			for (unsigned i = 0; i < m->n_years; i++) {
				const struct chime__year_rule *r = &m->years[i];
				int64_t k = y < r->end ? y : r->end;

				if (k < r->start)
					continue;
				k -= (k - r->start) % r->step;
				if (k > best)
					best = k;
			}
			if (best == INT64_MIN)
				return CHIME__MATCH_MIN_YEAR - 1;
		}
		if (m->rare) {
			unsigned r0 = (unsigned)(best % 400), j = r0;

			while (!(m->year_bits[j / 64] >> (j % 64) & 1))
				j = (j + 399) % 400;
			best -= (r0 + 400 - j) % 400;
		}
		if (best == y)
			return y;
		y = best;
	}
}

bool
chime__match_prepare(struct chime__match *m)
{
	bool any = false, known[28] = {false};
	int64_t t;

	m->rare = false;
	for (unsigned type = 0; type < 14; type++) {
		m->ymonths[type] = 0;
		for (unsigned mo = 1; mo <= 12; mo++) {
			unsigned shape = month_shape[type][mo - 1];

			if (!(m->month >> mo & 1))
				continue;
			if (!known[shape]) {
				m->shape_days[shape] = match_days(m, 28 + shape / 7, shape % 7);
				known[shape] = true;
			}
			if (m->shape_days[shape] != 0)
				m->ymonths[type] |= (uint16_t)(1u << mo);
		}
		if (m->ymonths[type] != 0)
			any = true;
		else
			m->rare = true;
	}
	if (!any || m->sec == 0 || m->min == 0 || m->hour == 0)
		return false;
	memset(m->year_bits, 0, sizeof(m->year_bits));
	if (m->rare) {
		unsigned wd = 6; /* 2000-01-01 was a Saturday */

		for (unsigned i = 0; i < 400; i++) {
			bool leap = chime_is_leap(2000 + i);

			if (m->ymonths[(leap ? 7 : 0) + wd] != 0)
				m->year_bits[i / 64] |= UINT64_C(1) << (i % 64);
			wd = (wd + (leap ? 2 : 1)) % 7;
		}
	}
	if (m->n_years > 0) {
		t = chime_days_from_civil(CHIME__MATCH_MIN_YEAR, 1, 1) * CHIME_SEC_PER_DAY;
		return chime__match_next_local(m, t, &t);
	}
	return true;
}

static inline uint64_t
mask_ge(uint64_t mask, int bit)
{
	return bit >= 64 ? 0 : mask & (~UINT64_C(0) << bit);
}

static inline uint64_t
mask_le(uint64_t mask, int bit)
{
	if (bit < 0)
		return 0;
	return bit >= 63 ? mask : mask & ((UINT64_C(2) << bit) - 1);
}

static inline int
lowest(uint64_t mask)
{
	return __builtin_ctzll(mask);
}

static inline int
highest(uint64_t mask)
{
	return 63 - __builtin_clzll(mask);
}

static int64_t
civil_seconds(int64_t y, int mo, int d, int h, int mi, int s)
{
	return chime_days_from_civil(y, (unsigned)mo, (unsigned)d) * CHIME_SEC_PER_DAY + h * 3600 +
	       mi * 60 + s;
}

bool
chime__match_next_local(const struct chime__match *m, int64_t t, int64_t *ret)
{
	int64_t days = chime_floor_div(t, CHIME_SEC_PER_DAY), sod = t - days * CHIME_SEC_PER_DAY, y,
	        ny;
	unsigned um, ud, type = 0;
	int mo, d, h, mi, s;
	bool have_type = false;
	uint64_t bits;

	if (t > civil_seconds(CHIME__MATCH_MAX_YEAR, 12, 31, 23, 59, 59))
		return false;
	chime_civil_from_days(days, &y, &um, &ud);
	mo = (int)um;
	d = (int)ud;
	if (y < CHIME__MATCH_MIN_YEAR) {
		y = CHIME__MATCH_MIN_YEAR;
		mo = d = 1;
		sod = 0;
	}
	h = (int)(sod / 3600);
	mi = (int)(sod / 60 % 60);
	s = (int)(sod % 60);
	for (;;) {
		if (!have_type) {
			ny = year_next(m, y);
			if (ny > CHIME__MATCH_MAX_YEAR)
				return false;
			if (ny != y) {
				y = ny;
				mo = d = 1;
				h = mi = s = 0;
			}
			type = year_type(y);
			have_type = true;
		}
		bits = mask_ge(m->ymonths[type], mo);
		if (bits == 0) {
			y++;
			have_type = false;
			mo = d = 1;
			h = mi = s = 0;
			continue;
		}
		if (lowest(bits) != mo) {
			mo = lowest(bits);
			d = 1;
			h = mi = s = 0;
		}
		bits = mask_ge(month_days(m, type, mo), d);
		if (bits == 0) {
			mo++;
			d = 1;
			h = mi = s = 0;
			continue;
		}
		if (lowest(bits) != d) {
			d = lowest(bits);
			h = mi = s = 0;
		}
		bits = mask_ge(m->hour, h);
		if (bits == 0) {
			d++;
			h = mi = s = 0;
			continue;
		}
		if (lowest(bits) != h) {
			h = lowest(bits);
			mi = s = 0;
		}
		bits = mask_ge(m->min, mi);
		if (bits == 0) {
			h++;
			mi = s = 0;
			continue;
		}
		if (lowest(bits) != mi) {
			mi = lowest(bits);
			s = 0;
		}
		bits = mask_ge(m->sec, s);
		if (bits == 0) {
			mi++;
			s = 0;
			continue;
		}
		*ret = civil_seconds(y, mo, d, h, mi, lowest(bits));
		return true;
	}
}

bool
chime__match_prev_local(const struct chime__match *m, int64_t t, int64_t *ret)
{
	int64_t days = chime_floor_div(t, CHIME_SEC_PER_DAY), sod = t - days * CHIME_SEC_PER_DAY, y,
	        py;
	unsigned um, ud, type = 0;
	int mo, d, h, mi, s;
	bool have_type = false;
	uint64_t bits;

	if (t < civil_seconds(CHIME__MATCH_MIN_YEAR, 1, 1, 0, 0, 0))
		return false;
	chime_civil_from_days(days, &y, &um, &ud);
	mo = (int)um;
	d = (int)ud;
	if (y > CHIME__MATCH_MAX_YEAR) {
		y = CHIME__MATCH_MAX_YEAR;
		mo = 12;
		d = 31;
		sod = CHIME_SEC_PER_DAY - 1;
	}
	h = (int)(sod / 3600);
	mi = (int)(sod / 60 % 60);
	s = (int)(sod % 60);
	for (;;) {
		if (!have_type) {
			py = year_prev(m, y);
			if (py < CHIME__MATCH_MIN_YEAR)
				return false;
			if (py != y) {
				y = py;
				mo = 12;
				d = 31;
				h = 23;
				mi = s = 59;
			}
			type = year_type(y);
			have_type = true;
		}
		bits = mask_le(m->ymonths[type], mo);
		if (bits == 0) {
			y--;
			have_type = false;
			mo = 12;
			d = 31;
			h = 23;
			mi = s = 59;
			continue;
		}
		if (highest(bits) != mo) {
			mo = highest(bits);
			d = 31;
			h = 23;
			mi = s = 59;
		}
		bits = mask_le(month_days(m, type, mo), d);
		if (bits == 0) {
			mo--;
			d = 31;
			h = 23;
			mi = s = 59;
			continue;
		}
		if (highest(bits) != d) {
			d = highest(bits);
			h = 23;
			mi = s = 59;
		}
		bits = mask_le(m->hour, h);
		if (bits == 0) {
			d--;
			h = 23;
			mi = s = 59;
			continue;
		}
		if (highest(bits) != h) {
			h = highest(bits);
			mi = s = 59;
		}
		bits = mask_le(m->min, mi);
		if (bits == 0) {
			h--;
			mi = s = 59;
			continue;
		}
		if (highest(bits) != mi) {
			mi = highest(bits);
			s = 59;
		}
		bits = mask_le(m->sec, s);
		if (bits == 0) {
			mi--;
			s = 59;
			continue;
		}
		*ret = civil_seconds(y, mo, d, h, mi, highest(bits));
		return true;
	}
}

void
chime__match_resolve_policy(struct chime_expr *expr, const struct chime_expr_options *opts)
{
	enum chime_dst_gap gap = opts != NULL ? opts->gap : CHIME_DST_GAP_AUTO;
	enum chime_dst_overlap overlap = opts != NULL ? opts->overlap : CHIME_DST_OVERLAP_AUTO;
	bool fixed = expr->match.hour_fixed;

	if (gap == CHIME_DST_GAP_AUTO)
		gap = fixed ? CHIME_DST_GAP_RUN_AT_JUMP : CHIME_DST_GAP_SKIP;
	if (overlap == CHIME_DST_OVERLAP_AUTO)
		overlap = fixed ? CHIME_DST_OVERLAP_ONCE : CHIME_DST_OVERLAP_BOTH;
	expr->gap = gap;
	expr->overlap = overlap;
}

/* The zone, seconds in and out; NULL is UTC. */
struct zone {
	const struct chime_tz *tz;
};

static int32_t
zone_offset(const struct zone *z, int64_t t)
{
	return z->tz != NULL ? chime_tz_offset_at(z->tz, t) : 0;
}

static int
zone_resolve(const struct zone *z, int64_t local, int64_t u[2], int64_t *jump, int32_t *gap)
{
	if (z->tz == NULL) {
		u[0] = local;
		return 1;
	}
	return chime_tz_resolve(z->tz, local, u, jump, gap);
}

/* First instant in (lo, hi] whose offset differs from lo's; hi's must differ. */
static int64_t
zone_find_change(const struct zone *z, int64_t lo, int64_t hi)
{
	int32_t o = zone_offset(z, lo);

	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;

		if (zone_offset(z, mid) == o)
			lo = mid;
		else
			hi = mid;
	}
	return hi;
}

struct cand {
	bool ok;
	int64_t instant;
	int64_t local;
	int occurrence;
};

static void
cand_set(struct cand *c, int64_t instant, int64_t local, int occurrence)
{
	c->ok = true;
	c->instant = instant;
	c->local = local;
	c->occurrence = occurrence;
}

/* The overlap around local time `a`, which resolve() found to have two instants. */
struct overlap {
	int32_t o_old, o_new;
	int64_t start, end; /* local [start, end) happens twice */
};

static void
overlap_find(const struct zone *z, const int64_t u[2], struct overlap *ov)
{
	int64_t t = zone_find_change(z, u[0], u[1]);

	ov->o_old = zone_offset(z, u[0]);
	ov->o_new = zone_offset(z, t);
	ov->start = t + ov->o_new;
	ov->end = t + ov->o_old;
}

/* A gap, given by resolve(): local [g0, g1) does not exist; the jump is J. */
struct gap {
	int64_t jump, g0, g1;
};

static void
gap_find(const struct zone *z, int64_t jump, int32_t len, struct gap *g)
{
	g->jump = jump;
	g->g1 = jump + zone_offset(z, jump);
	g->g0 = g->g1 - len;
}

/* A gap that ended in (t - SHIFT_WINDOW, t], if any. */
static bool
gap_recent(const struct zone *z, int64_t t, int32_t o, struct gap *g)
{
	int64_t lo = t - SHIFT_WINDOW, jump;
	int32_t before, after;

	if (zone_offset(z, lo) == o)
		return false;
	jump = zone_find_change(z, lo, t);
	before = zone_offset(z, jump - 1);
	after = zone_offset(z, jump);
	if (after <= before)
		return false;
	gap_find(z, jump, after - before, g);
	return true;
}

static bool
first_in(const struct chime__match *m, int64_t from, int64_t below, int64_t *ret)
{
	int64_t l;

	if (from >= below || !chime__match_next_local(m, from, &l) || l >= below)
		return false;
	*ret = l;
	return true;
}

static bool
last_in(const struct chime__match *m, int64_t from, int64_t upto, int64_t *ret)
{
	int64_t l;

	if (upto < from || !chime__match_prev_local(m, upto, &l) || l < from)
		return false;
	*ret = l;
	return true;
}

static int
zone_next(const struct chime_expr *e, const struct zone *z, int64_t A, struct cand *res)
{
	const struct chime__match *m = &e->match;
	int32_t o = zone_offset(z, A), glen;
	int64_t a = A + o, start = a + 1, u[2], L, L2, jump;
	struct cand best = {0}, late = {0};
	struct overlap ov;
	struct gap g;
	int c;

	if (z->tz == NULL || chime_tz_is_utc(z->tz)) {
		if (!chime__match_next_local(m, start, &L))
			return -ENOENT;
		cand_set(res, L - o, L, 0);
		return 0;
	}
	if (zone_resolve(z, a, u, NULL, NULL) == 2) {
		overlap_find(z, u, &ov);
		if (A == u[0] && e->overlap == CHIME_DST_OVERLAP_BOTH) {
			if (first_in(m, a + 1, ov.end, &L)) {
				cand_set(res, L - ov.o_old, L, 0);
				return 0;
			}
			if (first_in(m, ov.start, ov.end, &L)) {
				cand_set(res, L - ov.o_new, L, 1);
				return 0;
			}
			start = ov.end;
		} else if (A != u[0]) {
			if (e->overlap == CHIME_DST_OVERLAP_BOTH &&
			    first_in(m, a + 1, ov.end, &L)) {
				cand_set(res, L - ov.o_new, L, 1);
				return 0;
			}
			start = ov.end;
		}
	}
	if (e->gap == CHIME_DST_GAP_SHIFT && gap_recent(z, A, o, &g) && A - g.jump < g.g1 - g.g0 &&
	    first_in(m, g.g0 + (A - g.jump) + 1, g.g1, &L))
		cand_set(&late, g.jump + (L - g.g0), L, 0);

	for (int round = 0; !best.ok; round++) {
		if (round > MAX_GAP_ROUNDS || !chime__match_next_local(m, start, &L))
			break;
		c = zone_resolve(z, L, u, &jump, &glen);
		if (c >= 1) {
			if (u[0] > A)
				cand_set(&best, u[0], L, 0);
			else if (c == 2 && e->overlap == CHIME_DST_OVERLAP_BOTH && u[1] > A)
				cand_set(&best, u[1], L, 1);
			else
				start = L + 1;
			continue;
		}
		gap_find(z, jump, glen, &g);
		switch (e->gap) {
		case CHIME_DST_GAP_SKIP:
			start = g.g1;
			break;
		case CHIME_DST_GAP_SHIFT:
			cand_set(&best, g.jump + (L - g.g0), L, 0);
			if (first_in(m, g.g1, g.g1 + (L - g.g0), &L2) &&
			    zone_resolve(z, L2, u, NULL, NULL) >= 1 && u[0] < best.instant)
				cand_set(&best, u[0], L2, 0);
			break;
		default:
			cand_set(&best, g.jump, L, 0);
			break;
		}
	}
	if (late.ok && (!best.ok || late.instant <= best.instant))
		best = late;
	if (!best.ok)
		return -ENOENT;
	*res = best;
	return 0;
}

/*
 * Shifted fires (SHIFT) of a gap that ended shortly before `t`, at or before
 * `B`: they land after the jump, among the real times that follow it.
 */
static void
shift_late_prev(const struct chime__match *m, const struct zone *z, int64_t t, int64_t B,
                struct cand *late)
{
	struct gap g;
	int64_t lim, L;

	if (!gap_recent(z, t, zone_offset(z, t), &g))
		return;
	lim = g.g0 + (B - g.jump);
	if (lim > g.g1 - 1)
		lim = g.g1 - 1;
	if (last_in(m, g.g0, lim, &L) && (!late->ok || g.jump + (L - g.g0) > late->instant))
		cand_set(late, g.jump + (L - g.g0), L, 0);
}

static int
zone_prev(const struct chime_expr *e, const struct zone *z, int64_t B, struct cand *res)
{
	const struct chime__match *m = &e->match;
	int32_t o = zone_offset(z, B), glen, ob, oL;
	int64_t b = B + o, end = b, u[2], L, L2, jump;
	struct cand best = {0}, late = {0};
	struct overlap ov;
	struct gap g;
	int c;

	if (z->tz == NULL || chime_tz_is_utc(z->tz)) {
		if (!chime__match_prev_local(m, b, &L))
			return -ENOENT;
		cand_set(res, L - o, L, 0);
		return 0;
	}
	if (zone_resolve(z, b, u, NULL, NULL) == 2 && B != u[0]) {
		overlap_find(z, u, &ov);
		if (e->overlap == CHIME_DST_OVERLAP_BOTH && last_in(m, ov.start, b, &L)) {
			cand_set(res, L - ov.o_new, L, 1);
			return 0;
		}
		if (last_in(m, ov.start, ov.end - 1, &L)) {
			cand_set(res, L - ov.o_old, L, 0);
			return 0;
		}
		end = ov.start - 1;
	}
	for (int round = 0; !best.ok; round++) {
		if (round > MAX_GAP_ROUNDS || !chime__match_prev_local(m, end, &L))
			break;
		c = zone_resolve(z, L, u, &jump, &glen);
		if (c == 2) {
			if (e->overlap == CHIME_DST_OVERLAP_BOTH && u[1] <= B)
				cand_set(&best, u[1], L, 1);
			else
				cand_set(&best, u[0], L, 0);
			continue;
		}
		if (c == 1) {
			cand_set(&best, u[0], L, 0);
			if (e->gap != CHIME_DST_GAP_RUN_AT_JUMP)
				continue;
			/* At a jump, the earliest matching time of the gap owns the instant. */
			oL = (int32_t)(L - u[0]);
			ob = zone_offset(z, u[0] - 1);
			if (ob < oL && first_in(m, L - (oL - ob), L, &L2))
				cand_set(&best, u[0], L2, 0);
			continue;
		}
		gap_find(z, jump, glen, &g);
		switch (e->gap) {
		case CHIME_DST_GAP_SKIP:
			end = g.g0 - 1;
			break;
		case CHIME_DST_GAP_SHIFT:
			if (g.jump + (L - g.g0) <= B)
				cand_set(&best, g.jump + (L - g.g0), L, 0);
			else if (last_in(m, g.g0, g.g0 + (B - g.jump), &L2))
				cand_set(&best, g.jump + (L2 - g.g0), L2, 0);
			else
				end = g.g0 - 1;
			break;
		default:
			if (chime__match_next_local(m, g.g0, &L2))
				cand_set(&best, g.jump, L2, 0);
			break;
		}
	}
	if (e->gap == CHIME_DST_GAP_SHIFT) {
		shift_late_prev(m, z, B, B, &late);
		if (best.ok)
			shift_late_prev(m, z, best.instant, B, &late);
	}
	if (late.ok && (!best.ok || late.instant >= best.instant))
		best = late;
	if (!best.ok)
		return -ENOENT;
	*res = best;
	return 0;
}

/* Instants handled, in seconds: a little beyond years 1..9999 in any zone. */
#define SEC_MIN (INT64_C(-62135596800) - 2 * CHIME_SEC_PER_DAY)
#define SEC_MAX (INT64_C(253402300799) + 2 * CHIME_SEC_PER_DAY)

/*
 * chime_expr_next() (`forward`: the first slot after `usec`) and
 * chime_expr_prev() (the last slot at or before it): the same checks and
 * clamps, mirrored.
 */
static int
expr_step(const struct chime_expr *expr, const struct chime_tz *tz, int64_t usec, bool forward,
          struct chime_slot *ret_slot)
{
	struct zone z = {tz};
	struct cand c;
	int64_t k, sec;
	int r;

	if (expr == NULL || ret_slot == NULL)
		return -EINVAL;
	if (expr->kind == CHIME_EXPR_REBOOT)
		return -ENOENT;
	if (expr->kind == CHIME_EXPR_EVERY) {
		k = chime_floor_div(usec, expr->interval_usec) + (forward ? 1 : 0);
		if (forward ? k > INT64_MAX / expr->interval_usec
		            : k <= INT64_MIN / expr->interval_usec)
			return -ENOENT;
		ret_slot->instant_usec = ret_slot->local_usec = k * expr->interval_usec;
		ret_slot->occurrence = 0;
		return 0;
	}
	sec = chime_floor_div(usec, USEC_PER_SEC);
	if (forward ? sec > SEC_MAX : sec < SEC_MIN)
		return -ENOENT;
	sec = sec < SEC_MIN ? SEC_MIN : sec > SEC_MAX ? SEC_MAX : sec;
	r = forward ? zone_next(expr, &z, sec, &c) : zone_prev(expr, &z, sec, &c);
	if (r < 0)
		return r;
	ret_slot->instant_usec = c.instant * USEC_PER_SEC;
	ret_slot->local_usec = c.local * USEC_PER_SEC;
	ret_slot->occurrence = c.occurrence;
	return 0;
}

int
chime_expr_next(const struct chime_expr *expr, const struct chime_tz *tz, int64_t after_usec,
                struct chime_slot *ret_slot)
{
	return expr_step(expr, tz, after_usec, true, ret_slot);
}

int
chime_expr_prev(const struct chime_expr *expr, const struct chime_tz *tz, int64_t at_usec,
                struct chime_slot *ret_slot)
{
	return expr_step(expr, tz, at_usec, false, ret_slot);
}
