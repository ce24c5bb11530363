/* SPDX-License-Identifier: MIT */
/*
 * Catch-up planning (chime_catchup_plan): which missed slots run and which
 * are recorded skipped, per misfire policy, window and max_catchup. Uses a
 * fake "every minute" expression so the expected slots are obvious.
 */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "cron.h"
#include "ledger.h"
#include "tz.h"

#define MIN (INT64_C(60) * 1000000)
#define SEC INT64_C(1000000)

/* Slots on every whole minute since the epoch. */
static int
every_minute_prev(int64_t at_usec, struct chime_slot *ret, void *userdata)
{
	int64_t t = at_usec - ((at_usec % MIN) + MIN) % MIN;

	(void)userdata;
	ret->instant_usec = t;
	ret->local_usec = t;
	ret->occurrence = 0;
	return 0;
}

struct plan_case {
	const char *name;
	int64_t last_min; /* INT64_MIN: none */
	int64_t now_usec;
	enum chime_misfire_policy misfire;
	int64_t window_usec;
	int max_catchup;
	size_t max_listed;
	int64_t run[8]; /* minutes, -1 ends */
	int64_t skip[8];
	size_t unrecorded;
};

static const struct plan_case cases[] = {
        {"skip all",
         10,
         15 * MIN + 30 * SEC,
         CHIME_MISFIRE_SKIP,
         0,
         0,
         0,
         {-1},
         {11, 12, 13, 14, 15, -1},
         0},
        {"run-once newest",
         10,
         15 * MIN + 30 * SEC,
         CHIME_MISFIRE_RUN_ONCE,
         0,
         0,
         0,
         {15, -1},
         {11, 12, 13, 14, -1},
         0},
        {"run-all unbounded",
         10,
         15 * MIN + 30 * SEC,
         CHIME_MISFIRE_RUN_ALL,
         0,
         0,
         0,
         {11, 12, 13, 14, 15, -1},
         {-1},
         0},
        {"run-all max 2",
         10,
         15 * MIN + 30 * SEC,
         CHIME_MISFIRE_RUN_ALL,
         0,
         2,
         0,
         {14, 15, -1},
         {11, 12, 13, -1},
         0},
        /* window starts at 15:30 - 2:30 = 13:00, inclusive */
        {"run-all window",
         10,
         15 * MIN + 30 * SEC,
         CHIME_MISFIRE_RUN_ALL,
         150 * SEC,
         0,
         0,
         {13, 14, 15, -1},
         {11, 12, -1},
         0},
        {"run-once newest outside window",
         10,
         15 * MIN + 30 * SEC,
         CHIME_MISFIRE_RUN_ONCE,
         10 * SEC,
         0,
         0,
         {-1},
         {11, 12, 13, 14, 15, -1},
         0},
        {"listed cap keeps the newest",
         10,
         15 * MIN + 30 * SEC,
         CHIME_MISFIRE_SKIP,
         0,
         0,
         2,
         {-1},
         {14, 15, -1},
         3},
        {"no ledger row: no catch-up",
         INT64_MIN,
         15 * MIN,
         CHIME_MISFIRE_RUN_ALL,
         0,
         0,
         0,
         {-1},
         {-1},
         0},
        {"up to date", 15, 15 * MIN + 59 * SEC, CHIME_MISFIRE_RUN_ALL, 0, 0, 0, {-1}, {-1}, 0},
        {"slot exactly now is missed",
         14,
         15 * MIN,
         CHIME_MISFIRE_RUN_ONCE,
         0,
         0,
         0,
         {15, -1},
         {-1},
         0},
};

static size_t
count_until_end(const int64_t *v)
{
	size_t n = 0;

	while (v[n] != -1)
		n++;
	return n;
}

static void
test_plan_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct plan_case *c = &cases[i];
		struct chime_catchup_params p = {
		        .prev_fn = every_minute_prev,
		        .last_instant_usec =
		                c->last_min == INT64_MIN ? INT64_MIN : c->last_min * MIN,
		        .now_usec = c->now_usec,
		        .misfire = c->misfire,
		        .window_usec = c->window_usec,
		        .max_catchup = c->max_catchup,
		        .max_listed = c->max_listed,
		};
		struct chime_catchup_plan plan;

		print_message("case: %s\n", c->name);
		assert_int_equal(chime_catchup_plan(&p, &plan), 0);
		assert_int_equal(plan.n_run, count_until_end(c->run));
		for (size_t j = 0; j < plan.n_run; j++)
			assert_int_equal(plan.run[j].instant_usec, c->run[j] * MIN);
		assert_int_equal(plan.n_skip, count_until_end(c->skip));
		for (size_t j = 0; j < plan.n_skip; j++)
			assert_int_equal(plan.skip[j].instant_usec, c->skip[j] * MIN);
		assert_int_equal(plan.n_skip_unrecorded, c->unrecorded);
		chime_catchup_plan_done(&plan);
	}
}

/* The outage ended at 13:20 (the newest slot missed is 13); 14 and 15 are
 * the live schedule's: run-once runs 13, not the live 15, and neither 14
 * nor 15 is recorded skipped. The window still counts from now. A slot
 * with a row is not missed. */
static void
test_plan_until(void **state)
{
	struct chime_catchup_params p = {
	        .prev_fn = every_minute_prev,
	        .last_instant_usec = 10 * MIN,
	        .now_usec = 15 * MIN + 30 * SEC,
	        .until_usec = 13 * MIN + 20 * SEC,
	        .misfire = CHIME_MISFIRE_RUN_ONCE,
	        .window_usec = 150 * SEC,
	};
	struct chime_catchup_plan plan;

	(void)state;
	assert_int_equal(chime_catchup_plan(&p, &plan), 0);
	assert_int_equal(plan.n_run, 1);
	assert_int_equal(plan.run[0].instant_usec, 13 * MIN);
	assert_int_equal(plan.n_skip, 2);
	assert_int_equal(plan.skip[0].instant_usec, 11 * MIN);
	assert_int_equal(plan.skip[1].instant_usec, 12 * MIN);
	chime_catchup_plan_done(&plan);
	/* 13 has a row already (a live node's claim): 12 is the newest missed. */
	p.taken = (const int64_t[]){12 * MIN + 30 * SEC, 13 * MIN};
	p.n_taken = 2;
	p.window_usec = 0;
	assert_int_equal(chime_catchup_plan(&p, &plan), 0);
	assert_int_equal(plan.n_run, 1);
	assert_int_equal(plan.run[0].instant_usec, 12 * MIN);
	assert_int_equal(plan.n_skip, 1);
	assert_int_equal(plan.skip[0].instant_usec, 11 * MIN);
	chime_catchup_plan_done(&plan);
	p.taken = NULL;
	p.n_taken = 0;
	p.window_usec = 150 * SEC;
	/* Past the window from now, the newest missed slot is skipped too. */
	p.until_usec = 12 * MIN;
	assert_int_equal(chime_catchup_plan(&p, &plan), 0);
	assert_int_equal(plan.n_run, 0);
	assert_int_equal(plan.n_skip, 2);
	chime_catchup_plan_done(&plan);
}

/* Three years down with a per-minute job (1,576,800 slots): bounded work
 * and a bounded plan. */
static void
test_plan_long_outage_bounded(void **state)
{
	struct chime_catchup_params p = {
	        .prev_fn = every_minute_prev,
	        .last_instant_usec = 0,
	        .now_usec = INT64_C(3 * 365) * 24 * 60 * MIN,
	        .misfire = CHIME_MISFIRE_RUN_ALL,
	        .window_usec = 6 * 60 * MIN,
	        .max_catchup = 0,
	};
	struct chime_catchup_plan plan;

	(void)state;
	assert_int_equal(chime_catchup_plan(&p, &plan), 0);
	/* 6 h window, inclusive of its start: 361 slots run, oldest first. */
	assert_int_equal(plan.n_run, 361);
	assert_int_equal(plan.run[0].instant_usec, p.now_usec - 6 * 60 * MIN);
	assert_int_equal(plan.run[360].instant_usec, p.now_usec);
	assert_int_equal(plan.n_skip, 1000);
	assert_int_equal(plan.skip[999].instant_usec, p.now_usec - 6 * 60 * MIN - MIN);
	/* counting stops after 1e6 walked slots */
	assert_int_equal(plan.n_run + plan.n_skip + plan.n_skip_unrecorded, 1000000);
	chime_catchup_plan_done(&plan);
}

/* Catch-up across DST nights with the real expression engine, in
 * Europe/Berlin (hand-checked against the zone's 2026 transitions). */
static void
plan_real(const char *expr_text, enum chime_dst_overlap overlap, int64_t last_sec, int64_t now_sec,
          enum chime_misfire_policy misfire, struct chime_catchup_plan *plan)
{
	struct chime_expr_options opts = {.days = CHIME_DAYS_ANY, .overlap = overlap};
	struct chime_expr *expr = NULL;
	struct chime_tz *tz = NULL;
	struct chime_catchup_params p = {
	        .last_instant_usec = last_sec * SEC,
	        .now_usec = now_sec * SEC,
	        .misfire = misfire,
	        .window_usec = 7 * 24 * 3600 * SEC,
	};

	assert_int_equal(chime_expr_parse(expr_text, &opts, &expr, NULL), 0);
	assert_int_equal(chime_tz_load("Europe/Berlin", NULL, &tz), 0);
	p.expr = expr;
	p.tz = tz;
	assert_int_equal(chime_catchup_plan(&p, plan), 0);
	chime_expr_free(expr);
	chime_tz_unref(tz);
}

static void
test_plan_dst_nights(void **state)
{
	struct chime_catchup_plan plan;

	(void)state;
	/* Spring forward (2026-03-29, 02:00 CET -> 03:00 CEST): the daily
	 * 02:30 does not exist that night and runs at the jump, 01:00Z,
	 * keyed by its nominal wall time 02:30. Down from the 27th's run. */
	plan_real("30 2 * * *", CHIME_DST_OVERLAP_AUTO, 1774575000, 1774872000,
	          CHIME_MISFIRE_RUN_ALL, &plan);
	assert_int_equal(plan.n_run, 3);
	assert_int_equal(plan.n_skip, 0);
	assert_int_equal(plan.run[0].instant_usec, 1774661400 * SEC); /* 28th 02:30 CET */
	assert_int_equal(plan.run[1].instant_usec, 1774746000 * SEC); /* 29th, at the jump */
	assert_int_equal(plan.run[1].local_usec, 1774751400 * SEC);   /* 29th 02:30 nominal */
	assert_int_equal(plan.run[2].instant_usec, 1774830600 * SEC); /* 30th 02:30 CEST */
	chime_catchup_plan_done(&plan);

	/* Fall back (2026-10-25, 03:00 CEST -> 02:00 CET) with overlap both:
	 * 02:30 happens twice, two slots with occurrences 0 and 1; run-once
	 * runs the second and skips the first. */
	plan_real("30 2 * * *", CHIME_DST_OVERLAP_BOTH, 1792801800, 1792929600,
	          CHIME_MISFIRE_RUN_ONCE, &plan);
	assert_int_equal(plan.n_run, 1);
	assert_int_equal(plan.run[0].instant_usec, 1792891800 * SEC);
	assert_int_equal(plan.run[0].occurrence, 1);
	assert_int_equal(plan.run[0].local_usec, 1792895400 * SEC);
	assert_int_equal(plan.n_skip, 1);
	assert_int_equal(plan.skip[0].instant_usec, 1792888200 * SEC);
	assert_int_equal(plan.skip[0].occurrence, 0);
	assert_int_equal(plan.skip[0].local_usec, 1792895400 * SEC);
	chime_catchup_plan_done(&plan);

	/* The same night with the default (once): one slot, the first. */
	plan_real("30 2 * * *", CHIME_DST_OVERLAP_AUTO, 1792801800, 1792929600,
	          CHIME_MISFIRE_RUN_ALL, &plan);
	assert_int_equal(plan.n_run, 1);
	assert_int_equal(plan.run[0].instant_usec, 1792888200 * SEC);
	assert_int_equal(plan.run[0].occurrence, 0);
	chime_catchup_plan_done(&plan);
}

static void
test_status_names(void **state)
{
	enum chime_run_status st;

	(void)state;
	assert_string_equal(chime_run_status_name(CHIME_RUN_TIMED_OUT), "timed_out");
	assert_string_equal(chime_run_status_name(CHIME_RUN_LOST), "lost");
	assert_int_equal(chime_run_status_parse("skipped", &st), 0);
	assert_int_equal(st, CHIME_RUN_SKIPPED);
	assert_int_equal(chime_run_status_parse("done", &st), -22);
	assert_null(chime_run_status_name((enum chime_run_status)42));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_plan_cases),
	        cmocka_unit_test(test_plan_long_outage_bounded),
	        cmocka_unit_test(test_plan_until),
	        cmocka_unit_test(test_plan_dst_nights),
	        cmocka_unit_test(test_status_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
