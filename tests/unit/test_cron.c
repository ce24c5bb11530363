/* SPDX-License-Identifier: MIT */
/*
 * Schedule expression tests: the vector files of tests/data/cron/ (hand-
 * checked tables and vectors carried over from public test suites, UTC and
 * DST zones, next and prev), parse errors with field and column, the API
 * around kinds, @every and @reboot, and properties that tie next and prev
 * together over many starts in several zones.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "cron.h"
#include "macro.h"
#include "timespan.h"
#include "tz.h"

#define USEC INT64_C(1000000)

struct vec_state {
	struct chime_tz *tz;
	struct chime_expr_options opts;
	const char *file;
	unsigned line;
	unsigned checked;
	unsigned failures;
};

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static void vec_fail(struct vec_state *st, const char *fmt, ...) CHIME_PRINTF(2, 3);

static void
vec_fail(struct vec_state *st, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%u: ", st->file, st->line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	st->failures++;
}

/* "2026-03-29T03:00:00+02:00=02:30:00#1": instant, slot time, occurrence. */
static void
vec_check_slot(struct vec_state *st, const char *expr, const struct chime_slot *slot,
               const char *want)
{
	char buf[64], wall[64], inst[64];
	const char *eq = strchr(want, '='), *hash = strchr(want, '#');
	size_t n = (size_t)((eq != NULL ? eq : hash != NULL ? hash : want + strlen(want)) - want);
	int64_t local_sec = slot->local_usec / USEC;
	int occ = hash != NULL ? atoi(hash + 1) : 0;

	st->checked++;
	if (chime_time_format(slot->instant_usec, st->tz, buf, sizeof(buf)) < 0) {
		vec_fail(st, "'%s': cannot format %lld", expr, (long long)slot->instant_usec);
		return;
	}
	snprintf(inst, sizeof(inst), "%.*s", (int)n, want);
	if (strcmp(buf, inst) != 0) {
		vec_fail(st, "'%s': got %s, want %s", expr, buf, inst);
		return;
	}
	/* The slot's wall time: given after '=', else the instant's own. */
	snprintf(wall, sizeof(wall), "%02d:%02d:%02d", (int)(local_sec % 86400 / 3600),
	         (int)(local_sec % 3600 / 60), (int)(local_sec % 60));
	if (eq != NULL) {
		if (strncmp(wall, eq + 1, 8) != 0)
			vec_fail(st, "'%s': slot %s, want %.8s", expr, wall, eq + 1);
	} else if (strncmp(wall, buf + 11, 8) != 0)
		vec_fail(st, "'%s': slot %s, instant wall time %.8s", expr, wall, buf + 11);
	if (slot->occurrence != occ)
		vec_fail(st, "'%s' at %s: occurrence %d, want %d", expr, buf, slot->occurrence,
		         occ);
}

static void
vec_directive(struct vec_state *st, const char *key, char *rest)
{
	if (strcmp(key, "zone") == 0) {
		chime_tz_unref(st->tz);
		st->tz = NULL;
		if (chime_tz_load(rest, NULL, &st->tz) < 0)
			fail_msg("%s:%u: cannot load zone %s", st->file, st->line, rest);
	} else if (strcmp(key, "days") == 0)
		st->opts.days = strcmp(rest, "all") == 0 ? CHIME_DAYS_ALL : CHIME_DAYS_ANY;
	else if (strcmp(key, "gap") == 0)
		st->opts.gap = strcmp(rest, "skip") == 0          ? CHIME_DST_GAP_SKIP
		               : strcmp(rest, "shift") == 0       ? CHIME_DST_GAP_SHIFT
		               : strcmp(rest, "run-at-jump") == 0 ? CHIME_DST_GAP_RUN_AT_JUMP
		                                                  : CHIME_DST_GAP_AUTO;
	else if (strcmp(key, "overlap") == 0)
		st->opts.overlap = strcmp(rest, "once") == 0   ? CHIME_DST_OVERLAP_ONCE
		                   : strcmp(rest, "both") == 0 ? CHIME_DST_OVERLAP_BOTH
		                                               : CHIME_DST_OVERLAP_AUTO;
	else
		fail_msg("%s:%u: unknown directive %s", st->file, st->line, key);
}

static void
vec_line(struct vec_state *st, char *line)
{
	char *colon = strchr(line, ':'), *expr, *from, *wants, *tok, *save = NULL;
	struct chime_expr *e = NULL;
	struct chime_expr_error err;
	struct chime_tz *own = NULL;
	struct chime_slot slot;
	int64_t t;
	bool prev;
	int r;

	if (colon == NULL)
		fail_msg("%s:%u: no directive", st->file, st->line);
	*colon = '\0';
	if (strcmp(line, "invalid") == 0) {
		expr = trim(colon + 1);
		st->checked++;
		r = chime_expr_parse(expr, &st->opts, &e, &err);
		if (r != -EINVAL || err.message[0] == '\0' || err.field[0] == '\0') {
			vec_fail(st, "'%s': parse = %d, want -EINVAL with a message", expr, r);
			chime_expr_free(e);
		}
		return;
	}
	if (strcmp(line, "next") != 0 && strcmp(line, "prev") != 0 && strcmp(line, "never") != 0) {
		vec_directive(st, line, trim(colon + 1));
		return;
	}
	prev = strcmp(line, "prev") == 0;
	expr = trim(strtok_r(colon + 1, "|", &save));
	from = trim(strtok_r(NULL, "|", &save));
	wants = strtok_r(NULL, "|", &save);
	r = chime_expr_parse(expr, &st->opts, &e, &err);
	if (r < 0) {
		vec_fail(st, "'%s': parse failed: %s (column %u)", expr, err.message, err.column);
		return;
	}
	if (chime_time_parse(from, st->tz, &t) < 0)
		fail_msg("%s:%u: bad time %s", st->file, st->line, from);
	if (strcmp(line, "never") == 0) {
		st->checked++;
		r = chime_expr_next(e, st->tz, t, &slot);
		if (r != -ENOENT)
			vec_fail(st, "'%s': next = %d, want -ENOENT", expr, r);
		chime_expr_free(e);
		return;
	}
	/* A zone inside the event overrides the job's, as the scheduler does it. */
	if (chime_expr_zone(e) != NULL && chime_tz_load(chime_expr_zone(e), NULL, &own) < 0)
		fail_msg("%s:%u: cannot load zone %s", st->file, st->line, chime_expr_zone(e));
	for (tok = strtok_r(wants, " \t", &save); tok != NULL; tok = strtok_r(NULL, " \t", &save)) {
		const struct chime_tz *tz = own != NULL ? own : st->tz;

		r = prev ? chime_expr_prev(e, tz, t, &slot) : chime_expr_next(e, tz, t, &slot);
		if (r < 0) {
			vec_fail(st, "'%s': %s = %d, want %s", expr, prev ? "prev" : "next", r,
			         tok);
			break;
		}
		vec_check_slot(st, expr, &slot, tok);
		t = prev ? slot.instant_usec - USEC : slot.instant_usec;
	}
	chime_tz_unref(own);
	chime_expr_free(e);
}

static void
vec_file(struct vec_state *st, const char *path)
{
	char line[4096];
	FILE *f = fopen(path, "re");

	if (f == NULL)
		fail_msg("cannot open %s", path);
	st->file = path;
	st->line = 0;
	st->opts = (struct chime_expr_options){0};
	st->tz = chime_tz_utc();
	while (fgets(line, sizeof(line), f) != NULL) {
		char *s = trim(line);

		st->line++;
		if (*s == '\0' || *s == '#')
			continue;
		vec_line(st, s);
	}
	fclose(f);
	st->tz = chime_tz_unref(st->tz);
}

static void
test_vectors(void **state)
{
	struct vec_state st = {0};
	const char *dir = "data/cron";
	struct dirent *de;
	unsigned files = 0;
	DIR *d = opendir(dir);

	(void)state;
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		char path[512];
		size_t n = strlen(de->d_name);

		if (n < 4 || strcmp(de->d_name + n - 4, ".txt") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		vec_file(&st, path);
		files++;
	}
	closedir(d);
	printf("# %u vector files, %u checks, %u failures\n", files, st.checked, st.failures);
	assert_true(files >= 1);
	assert_true(st.checked > 100);
	assert_int_equal(st.failures, 0);
}

static void
test_errors(void **state)
{
	static const struct {
		const char *text;
		const char *field;
		unsigned column;
		const char *message; /* a substring */
	} cases[] = {
	        {"", "expression", 1, "empty expression"},
	        {"   ", "expression", 1, "empty expression"},
	        {"* * * * * * *", "expression", 13, "expected 5 or 6 crontab fields, found 7"},
	        {"* * *", "expression", 1, "expected 5 or 6 crontab fields, found 3"},
	        {"60 * * * *", "minute", 1, "minute '60' out of range 0-59"},
	        {"0 24 * * *", "hour", 3, "hour '24' out of range 0-23"},
	        {"0 0 0 * *", "day-of-month", 5, "day-of-month '0' out of range 1-31"},
	        {"0 0 32 * *", "day-of-month", 5, "day-of-month '32' out of range 1-31"},
	        {"0 0 * 13 *", "month", 7, "month '13' out of range 1-12"},
	        {"0 0 * * 8", "day-of-week", 9, "day-of-week '8' out of range 0-7"},
	        {"60 0 0 * * *", "second", 1, "second '60' out of range 0-59"},
	        {"*/0 * * * *", "minute", 3, "minute step '0' out of range 1-60"},
	        {"5-1 * * * *", "minute", 1, "minute range '5-1' goes backwards"},
	        {"0 0 * * MON#6", "day-of-week", 13, "day-of-week occurrence '6' out of range 1-5"},
	        {"0 0 * * MON#0", "day-of-week", 13, "occurrence '0' out of range 1-5"},
	        {"0 0 * L *", "month", 7, "only day-of-month and day-of-week allow"},
	        {"L * * * *", "minute", 1, "only day-of-month and day-of-week allow"},
	        {"0 0 * FOO *", "month", 7, "month 'FOO' is not a month name"},
	        {"0 0 * * FUN", "day-of-week", 9, "day-of-week 'FUN' is not a weekday name"},
	        {"0 0 * * MONDAY", "day-of-week", 9, "is not a weekday name"},
	        {"a * * * *", "minute", 1, "minute 'a' is not a number"},
	        {"1,,2 * * * *", "minute", 3, "empty list element"},
	        {"1- * * * *", "minute", 3, "is not a number"},
	        {"1/ * * * *", "minute", 3, "step is missing"},
	        {"1x * * * *", "minute", 2, "unexpected 'x'"},
	        {"? * * * *", "minute", 1, "only allowed in day-of-month and day-of-week"},
	        {"0 0 L-31 * *", "day-of-month", 7, "offset '31' out of range 0-30"},
	        {"0 0 32W * *", "day-of-month", 5, "day-of-month '32' out of range 1-31"},
	        {"0 0 30 2 *", "day-of-month", 1, "never matches"},
	        {"0 0 31 4,6 *", "day-of-month", 1, "never matches"},
	        {"0 0 31 2,4,6,9,11 *", "day-of-month", 1, "never matches"},
	        {"0 0 1\x01 * *", "expression", 6, "unexpected byte 0x01"},
	        {"0 0 \xff * *", "expression", 5, "unexpected byte 0xff"},
	        {"@every", "interval", 1, "needs a time span"},
	        {"@every 5 parsecs", "interval", 8, "is not a time span"},
	        {"@every 0s", "interval", 8, "at least 1s"},
	        {"@fortnightly", "expression", 1, "unknown macro '@fortnightly'"},
	        {"@daily 5", "expression", 8, "takes no argument"},
	        {"@reboot now", "expression", 9, "takes no argument"},
	};
	struct chime_expr_options all = {.days = CHIME_DAYS_ALL};
	struct chime_expr *e = NULL;
	struct chime_expr_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&err, 0, sizeof(err));
		e = NULL;
		assert_int_equal(chime_expr_parse(cases[i].text, NULL, &e, &err), -EINVAL);
		assert_null(e);
		if (strcmp(err.field, cases[i].field) != 0 || err.column != cases[i].column ||
		    strstr(err.message, cases[i].message) == NULL)
			fail_msg("'%s': got %s:%u: %s; want %s:%u: %s", cases[i].text, err.field,
			         err.column, err.message, cases[i].field, cases[i].column,
			         cases[i].message);
	}
	/* OR makes "* * 30 2 MON" possible (every Monday in February); AND does not. */
	assert_int_equal(chime_expr_parse("0 0 30 2 MON", NULL, &e, &err), 0);
	e = chime_expr_free(e);
	assert_int_equal(chime_expr_parse("* * 30 2 ?", &all, &e, &err), -EINVAL);
	assert_non_null(strstr(err.message, "never matches"));
	assert_int_equal(chime_expr_parse("0 0 30 2 MON", &all, &e, &err), -EINVAL);
	/* Without an error struct. */
	assert_int_equal(chime_expr_parse("61 * * * *", NULL, &e, NULL), -EINVAL);
	assert_int_equal(chime_expr_parse(NULL, NULL, &e, &err), -EINVAL);
}

static void
test_long_input(void **state)
{
	struct chime_expr *e = NULL;
	struct chime_expr_error err;
	size_t n = 100 * 1024;
	char *big = malloc(n + 1);
	clock_t t0;

	(void)state;
	assert_non_null(big);
	for (size_t i = 0; i < n; i++)
		big[i] = "1,2 "[i % 4];
	big[n] = '\0';
	t0 = clock();
	assert_int_equal(chime_expr_parse(big, NULL, &e, &err), -EINVAL);
	assert_true(clock() - t0 < CLOCKS_PER_SEC / 100);
	assert_string_equal(err.field, "expression");
	assert_int_equal(err.column, 1025);
	assert_non_null(strstr(err.message, "longer than 1024 bytes"));
	/* Exactly 1024 bytes is fine when it is valid. */
	memset(big, ' ', 1024);
	memcpy(big + 1015, "* * * * *", 9);
	big[1024] = '\0';
	assert_int_equal(chime_expr_parse(big, NULL, &e, &err), 0);
	e = chime_expr_free(e);
	free(big);
}

static void
test_api(void **state)
{
	struct chime_expr_options all = {.days = CHIME_DAYS_ALL};
	struct chime_expr *e = NULL;
	struct chime_expr_error err;
	struct chime_slot s;

	(void)state;
	assert_null(chime_expr_free(NULL));

	assert_int_equal(chime_expr_parse("@every 90s", NULL, &e, &err), 0);
	assert_int_equal(chime_expr_kind(e), CHIME_EXPR_EVERY);
	assert_int_equal(chime_expr_interval_usec(e), 90 * USEC);
	assert_null(chime_expr_zone(e));
	/* Slots are multiples of the interval since the epoch, also before it. */
	assert_int_equal(chime_expr_next(e, NULL, -1, &s), 0);
	assert_int_equal(s.instant_usec, 0);
	assert_int_equal(chime_expr_next(e, NULL, 0, &s), 0);
	assert_int_equal(s.instant_usec, 90 * USEC);
	assert_int_equal(chime_expr_prev(e, NULL, -1, &s), 0);
	assert_int_equal(s.instant_usec, -90 * USEC);
	assert_int_equal(chime_expr_next(e, NULL, INT64_MAX - 1, &s), -ENOENT);
	e = chime_expr_free(e);

	assert_int_equal(chime_expr_parse("@reboot", NULL, &e, &err), 0);
	assert_int_equal(chime_expr_kind(e), CHIME_EXPR_REBOOT);
	assert_int_equal(chime_expr_interval_usec(e), 0);
	assert_int_equal(chime_expr_next(e, NULL, 0, &s), -ENOENT);
	assert_int_equal(chime_expr_prev(e, NULL, 0, &s), -ENOENT);
	e = chime_expr_free(e);

	assert_int_equal(chime_expr_parse("  0 2 16-22 * MON  ", NULL, &e, &err), 0);
	assert_int_equal(chime_expr_kind(e), CHIME_EXPR_CRON);
	assert_true(chime_expr_days_ambiguous(e));
	e = chime_expr_free(e);
	assert_int_equal(chime_expr_parse("0 2 16-22 * MON", &all, &e, &err), 0);
	assert_false(chime_expr_days_ambiguous(e));
	e = chime_expr_free(e);
	assert_int_equal(chime_expr_parse("0 2 * * MON", NULL, &e, &err), 0);
	assert_false(chime_expr_days_ambiguous(e));
	e = chime_expr_free(e);
	assert_int_equal(chime_expr_parse("0 2 1 * ?", NULL, &e, &err), 0);
	assert_false(chime_expr_days_ambiguous(e));
	e = chime_expr_free(e);

	/* Before year 1 and after year 9999 there is nothing. */
	assert_int_equal(chime_expr_parse("0 0 1 1 *", NULL, &e, &err), 0);
	assert_int_equal(chime_expr_prev(e, NULL, INT64_MIN, &s), -ENOENT);
	assert_int_equal(chime_expr_next(e, NULL, INT64_MAX, &s), -ENOENT);
	assert_int_equal(chime_expr_next(e, NULL, INT64_MIN, &s), 0);
	assert_int_equal(s.instant_usec, INT64_C(-62135596800) * USEC); /* 0001-01-01 */
	assert_int_equal(chime_expr_prev(e, NULL, INT64_MAX, &s), 0);
	assert_int_equal(s.instant_usec, INT64_C(253370764800) * USEC); /* 9999-01-01 */
	e = chime_expr_free(e);
}

/* A deterministic generator for the property tests. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static const char *const property_exprs[] = {
        "* * * * *",    "*/7 * * * * *",    "0 2 * * *",
        "30 2 * * *",   "0,30 1-3 * * *",   "15 */2 * * *",
        "0 0 29 2 *",   "0 0 L * *",        "0 3 LW * *",
        "0 1 * * 5L",   "0 2 * * SUN#2",    "*/10 2 * * *",
        "0 0 1 1 *",    "59 23 31 12 *",    "0 9-17 * * MON-FRI",
        "0 0 13 * FRI", "*/20 2-3 * * * *", "@hourly",
        "0 30 2 * * *", "0 12 15W * *",     "Mon..Fri 02:30",
        "*-*-~1 00:00", "*:0/15",           "Sat *-*-1..7 03:00",
};

static const char *const property_zones[] = {"UTC",
                                             "Europe/Berlin",
                                             "America/New_York",
                                             "Australia/Sydney",
                                             "Australia/Lord_Howe",
                                             "Asia/Kolkata"};

/*
 * For random starts t: n = next(t) is after t; prev(n) is n; nothing fires
 * in (t, n): prev(n - 1 s) is at or before t; next(prev(t)) is after it.
 * Under every gap and overlap policy.
 */
static void
test_properties(void **state)
{
	static const struct chime_expr_options policies[] = {
	        {CHIME_DAYS_ANY, CHIME_DST_GAP_AUTO, CHIME_DST_OVERLAP_AUTO},
	        {CHIME_DAYS_ANY, CHIME_DST_GAP_SHIFT, CHIME_DST_OVERLAP_BOTH},
	        {CHIME_DAYS_ALL, CHIME_DST_GAP_SKIP, CHIME_DST_OVERLAP_ONCE},
	        {CHIME_DAYS_ANY, CHIME_DST_GAP_RUN_AT_JUMP, CHIME_DST_OVERLAP_BOTH},
	};
	uint64_t seed = 0x9e3779b97f4a7c15u;
	unsigned checks = 0;

	(void)state;
	for (size_t z = 0; z < sizeof(property_zones) / sizeof(property_zones[0]); z++) {
		struct chime_tz *tz = NULL;

		assert_int_equal(chime_tz_load(property_zones[z], NULL, &tz), 0);
		for (size_t i = 0; i < sizeof(property_exprs) / sizeof(property_exprs[0]); i++)
			for (size_t p = 0; p < sizeof(policies) / sizeof(policies[0]); p++) {
				struct chime_expr *e = NULL;
				struct chime_expr_error err;

				if (chime_expr_parse(property_exprs[i], &policies[p], &e, &err) < 0)
					fail_msg("%s: %s", property_exprs[i], err.message);
				for (int k = 0; k < 60; k++) {
					/* 2020..2030, often near a DST night. */
					int64_t t = INT64_C(1577836800) +
					            (int64_t)(rnd(&seed) % 315360000);
					struct chime_slot n, p2, q;

					if (k % 2 == 0) {
						static const int64_t nights[] = {
						        1774746000, 1792890000, 1772953200,
						        1793512800, 1775318400, 1791043200,
						        1775314800, 1791041400};

						t = nights[k / 2 % 8] - 7200 +
						    (int64_t)(rnd(&seed) % 14400);
					}
					t = t * USEC + (int64_t)(rnd(&seed) % 2) * 500000;
					assert_int_equal(chime_expr_next(e, tz, t, &n), 0);
					if (n.instant_usec <= t)
						fail_msg("%s %s: next(%lld) = %lld",
						         property_exprs[i], property_zones[z],
						         (long long)t, (long long)n.instant_usec);
					assert_int_equal(
					        chime_expr_prev(e, tz, n.instant_usec, &p2), 0);
					if (p2.instant_usec != n.instant_usec ||
					    p2.local_usec != n.local_usec ||
					    p2.occurrence != n.occurrence)
						fail_msg("%s %s policy %zu: next(%lld) = "
						         "%lld/%lld#%d, "
						         "prev of it = %lld/%lld#%d",
						         property_exprs[i], property_zones[z], p,
						         (long long)t, (long long)n.instant_usec,
						         (long long)n.local_usec, n.occurrence,
						         (long long)p2.instant_usec,
						         (long long)p2.local_usec, p2.occurrence);
					if (chime_expr_prev(e, tz, n.instant_usec - USEC, &q) ==
					            0 &&
					    q.instant_usec > t)
						fail_msg("%s %s policy %zu: between %lld and next "
						         "%lld "
						         "prev finds %lld",
						         property_exprs[i], property_zones[z], p,
						         (long long)t, (long long)n.instant_usec,
						         (long long)q.instant_usec);
					if (chime_expr_prev(e, tz, t, &q) == 0) {
						assert_true(q.instant_usec <= t);
						assert_int_equal(
						        chime_expr_next(e, tz, q.instant_usec, &p2),
						        0);
						assert_true(p2.instant_usec > t);
					}
					checks++;
				}
				chime_expr_free(e);
			}
		chime_tz_unref(tz);
	}
	printf("# %u property checks\n", checks);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_vectors),    cmocka_unit_test(test_errors),
	        cmocka_unit_test(test_long_input), cmocka_unit_test(test_api),
	        cmocka_unit_test(test_properties),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
