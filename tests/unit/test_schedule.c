/* SPDX-License-Identifier: MIT */
/*
 * The schedule heap with an injected wall clock: pop order, reload keeping
 * slots, jitter bounds, and clock jumps forward (misfire policies) and
 * backward (no doubled slot; a long jump re-arms from the new time).
 *
 * T0 is 2026-01-01T00:00:00Z = 1767225600 s; all jobs are in UTC.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "schedule.h"

#define SEC INT64_C(1000000)
#define T0  (INT64_C(1767225600) * SEC)

static int64_t now_usec;

static int64_t
fake_now(void *userdata)
{
	return now_usec;
}

static const struct chime_clock fake_clock = {.wall_usec = fake_now};

static struct chime_job_config *
job_new(const char *name, const char *expr, uint64_t fingerprint)
{
	struct chime_job_config *job = calloc(1, sizeof(*job));
	struct chime_expr_error err;

	assert_non_null(job);
	job->name = strdup(name);
	job->schedule = strdup(expr);
	assert_int_equal(chime_expr_parse(expr, NULL, &job->expr, &err), 0);
	job->enabled = true;
	job->misfire = CHIME_MISFIRE_RUN_ONCE;
	job->fingerprint = fingerprint;
	return job;
}

static struct chime_job_config *
job_free(struct chime_job_config *job)
{
	if (job == NULL)
		return NULL;
	chime_expr_free(job->expr);
	free(job->schedule);
	free(job->name);
	free(job);
	return NULL;
}

static struct chime_schedule *
schedule_at(int64_t now)
{
	struct chime_schedule *s;

	now_usec = now;
	assert_int_equal(chime_schedule_new(&fake_clock, &s), 0);
	return s;
}

/* Pop one due slot and check its job, slot and skipped count. */
static void
expect_pop(struct chime_schedule *s, const char *name, int64_t instant, unsigned skipped)
{
	struct chime_due due;

	assert_int_equal(chime_schedule_pop_due(s, &due), 1);
	assert_string_equal(due.job->name, name);
	assert_int_equal(due.slot.instant_usec, instant);
	assert_int_equal(due.skipped, skipped);
}

static void
expect_nothing_due(struct chime_schedule *s)
{
	struct chime_due due;

	assert_int_equal(chime_schedule_pop_due(s, &due), 0);
}

static void
test_heap_order(void **state)
{
	struct chime_job_config *a = job_new("a", "0 * * * * *", 1);
	struct chime_job_config *b = job_new("b", "30 * * * * *", 2);
	struct chime_job_config *c = job_new("c", "*/10 * * * * *", 3);
	struct chime_schedule *s = schedule_at(T0 + 5 * SEC);
	const struct chime_job_config *first = NULL;
	static const struct {
		const char *name;
		int64_t at;
	} want[] = {
	        {"c", 10}, {"c", 20}, {"b", 30}, {"c", 30}, {"c", 40},
	        {"c", 50}, {"a", 60}, {"c", 60}, {"c", 70},
	};
	struct chime_due due;

	assert_int_equal(chime_schedule_next(s, NULL), CHIME_NEVER);
	assert_int_equal(chime_schedule_add_job(s, a), 0);
	assert_int_equal(chime_schedule_add_job(s, b), 0);
	assert_int_equal(chime_schedule_add_job(s, c), 0);
	assert_int_equal(chime_schedule_add_job(s, c), -EEXIST);
	assert_int_equal(chime_schedule_count(s), 3);
	assert_int_equal(chime_schedule_next(s, &first), T0 + 10 * SEC);
	assert_ptr_equal(first, c);
	expect_nothing_due(s);

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		now_usec = chime_schedule_next(s, NULL);
		assert_int_equal(now_usec, T0 + want[i].at * SEC);
		expect_pop(s, want[i].name, T0 + want[i].at * SEC, 0);
		if (i + 1 < sizeof(want) / sizeof(want[0]) && want[i + 1].at != want[i].at)
			expect_nothing_due(s);
	}

	/* previous: the slot before the first one, then the last fired. */
	now_usec = T0 + 90 * SEC;
	assert_int_equal(chime_schedule_remove_job(s, "c"), 0);
	assert_int_equal(chime_schedule_remove_job(s, "c"), -ENOENT);
	assert_int_equal(chime_schedule_pop_due(s, &due), 1);
	assert_string_equal(due.job->name, "b");
	assert_int_equal(due.slot.instant_usec, T0 + 90 * SEC);
	assert_int_equal(due.previous_usec, T0 + 30 * SEC);
	expect_nothing_due(s);

	chime_schedule_free(s);
	job_free(a);
	job_free(b);
	job_free(c);
}

static void
test_previous_first(void **state)
{
	struct chime_job_config *a = job_new("a", "0 * * * * *", 1);
	struct chime_schedule *s = schedule_at(T0 + 5 * SEC);
	struct chime_due due;

	assert_int_equal(chime_schedule_add_job(s, a), 0);
	now_usec = T0 + 60 * SEC;
	assert_int_equal(chime_schedule_pop_due(s, &due), 1);
	/* Nothing fired before in this process: the expression's previous. */
	assert_int_equal(due.previous_usec, T0);
	assert_int_equal(due.fire_usec, T0 + 60 * SEC);
	chime_schedule_free(s);
	job_free(a);
}

static void
test_not_armed(void **state)
{
	struct chime_job_config *r = job_new("boot", "@reboot", 1);
	struct chime_job_config *d = job_new("off", "0 * * * * *", 2);
	struct chime_schedule *s = schedule_at(T0);

	d->enabled = false;
	assert_int_equal(chime_schedule_add_job(s, r), -ENOENT);
	assert_int_equal(chime_schedule_add_job(s, d), -ENOENT);
	assert_int_equal(chime_schedule_count(s), 0);
	chime_schedule_free(s);
	job_free(r);
	job_free(d);
}

static void
test_reload_keeps_slots(void **state)
{
	struct chime_job_config *a = job_new("a", "0 * * * * *", 11);
	struct chime_job_config *b = job_new("b", "0 * * * * *", 22);
	struct chime_job_config *c = job_new("c", "0 * * * * *", 33);
	struct chime_job_config *a2 = job_new("a", "0 * * * * *", 11);
	struct chime_job_config *b2 = job_new("b", "15 * * * * *", 23);
	struct chime_job_config *d2 = job_new("d", "45 * * * * *", 44);
	struct chime_job_config *jobs1[] = {a, b, c}, *jobs2[] = {a2, b2, d2};
	struct chime_config cfg1 = {.jobs = jobs1, .n_jobs = 3};
	struct chime_config cfg2 = {.jobs = jobs2, .n_jobs = 3};
	struct chime_schedule *s = schedule_at(T0 + 5 * SEC);
	struct chime_schedule_diff diff;
	struct chime_slot slot;
	struct chime_due due;

	assert_int_equal(chime_schedule_reload(s, &cfg1, &diff), 0);
	assert_int_equal(diff.added, 3);
	assert_int_equal(chime_schedule_count(s), 3);

	/* The reload happens after T0+60 was due but before it was popped:
	 * an unchanged job must still fire that slot, not skip to T0+120. */
	now_usec = T0 + 60 * SEC + 500000;
	assert_int_equal(chime_schedule_reload(s, &cfg2, &diff), 0);
	assert_int_equal(diff.kept, 1);
	assert_int_equal(diff.changed, 1);
	assert_int_equal(diff.added, 1);
	assert_int_equal(diff.removed, 1);
	assert_int_equal(chime_schedule_count(s), 3);
	assert_int_equal(chime_schedule_job_next(s, "a", &slot, NULL), 0);
	assert_int_equal(slot.instant_usec, T0 + 60 * SEC);
	assert_int_equal(chime_schedule_job_next(s, "b", &slot, NULL), 0);
	assert_int_equal(slot.instant_usec, T0 + 75 * SEC);
	assert_int_equal(chime_schedule_job_next(s, "d", &slot, NULL), 0);
	assert_int_equal(slot.instant_usec, T0 + 105 * SEC);
	assert_int_equal(chime_schedule_job_next(s, "c", &slot, NULL), -ENOENT);

	assert_int_equal(chime_schedule_pop_due(s, &due), 1);
	assert_ptr_equal(due.job, a2); /* the new definition */
	assert_int_equal(due.slot.instant_usec, T0 + 60 * SEC);
	expect_nothing_due(s);

	chime_schedule_free(s);
	job_free(a);
	job_free(b);
	job_free(c);
	job_free(a2);
	job_free(b2);
	job_free(d2);
}

static void
test_jitter(void **state)
{
	struct chime_job_config *a = job_new("a", "0 * * * * *", 1);
	struct chime_schedule *s = schedule_at(T0);
	const int64_t j = 30 * SEC;
	int64_t seen_min = INT64_MAX, seen_max = 0;
	bool names_differ = false;

	for (int i = 0; i < 2000; i++) {
		struct chime_slot slot = {.instant_usec = T0 + i * 60 * SEC};
		int64_t v = chime_schedule_jitter_usec("nightly", &slot, j);

		assert_true(v >= 0 && v <= j);
		assert_int_equal(v, chime_schedule_jitter_usec("nightly", &slot, j));
		if (v != chime_schedule_jitter_usec("nightly2", &slot, j))
			names_differ = true;
		seen_min = v < seen_min ? v : seen_min;
		seen_max = v > seen_max ? v : seen_max;
		assert_int_equal(chime_schedule_jitter_usec("nightly", &slot, 0), 0);
	}
	assert_true(names_differ);
	/* 2000 draws over 30 s spread close to both ends. */
	assert_true(seen_min < 1 * SEC);
	assert_true(seen_max > 29 * SEC);

	/* In the schedule: the slot is nominal, the fire instant jittered. */
	a->jitter_usec = j;
	assert_int_equal(chime_schedule_add_job(s, a), 0);
	for (int i = 1; i <= 20; i++) {
		struct chime_slot slot;
		int64_t fire;
		struct chime_due due;

		assert_int_equal(chime_schedule_job_next(s, "a", &slot, &fire), 0);
		assert_int_equal(slot.instant_usec, T0 + i * 60 * SEC);
		assert_int_equal(fire,
		                 slot.instant_usec + chime_schedule_jitter_usec("a", &slot, j));
		now_usec = fire - 1;
		expect_nothing_due(s);
		now_usec = fire;
		assert_int_equal(chime_schedule_pop_due(s, &due), 1);
		assert_int_equal(due.slot.instant_usec, T0 + i * 60 * SEC);
		assert_int_equal(due.skipped, 0);
	}
	chime_schedule_free(s);
	job_free(a);
}

static void
test_clock_jump_run_once(void **state)
{
	struct chime_job_config *a = job_new("a", "0 * * * * *", 1);
	struct chime_schedule *s = schedule_at(T0 + 5 * SEC);
	struct chime_slot slot;

	assert_int_equal(chime_schedule_add_job(s, a), 0);
	/* Forward 10 minutes: only the newest slot fires, 9 are skipped. */
	now_usec = T0 + 605 * SEC;
	assert_int_equal(chime_schedule_clock_changed(s), 0);
	expect_pop(s, "a", T0 + 600 * SEC, 9);
	expect_nothing_due(s);
	assert_int_equal(chime_schedule_next(s, NULL), T0 + 660 * SEC);

	/* Back 30 minutes: nothing is redone, the next slot stays. */
	now_usec = T0 + 605 * SEC - 1800 * SEC;
	assert_int_equal(chime_schedule_clock_changed(s), 0);
	expect_nothing_due(s);
	assert_int_equal(chime_schedule_next(s, NULL), T0 + 660 * SEC);
	/* Time passes up to the old slot: it fires once. */
	now_usec = T0 + 660 * SEC;
	expect_pop(s, "a", T0 + 660 * SEC, 0);
	expect_nothing_due(s);

	/* Back 5 hours: past the large-jump limit, re-armed from the clock. */
	now_usec = T0 + 660 * SEC - 5 * 3600 * SEC + 30 * SEC;
	assert_int_equal(chime_schedule_clock_changed(s), 1);
	assert_int_equal(chime_schedule_job_next(s, "a", &slot, NULL), 0);
	assert_int_equal(slot.instant_usec, T0 + 720 * SEC - 5 * 3600 * SEC);
	chime_schedule_free(s);
	job_free(a);
}

static void
test_clock_jump_run_all(void **state)
{
	struct chime_job_config *a = job_new("a", "0 * * * * *", 1);
	struct chime_schedule *s = schedule_at(T0 + 5 * SEC);
	struct chime_due due;

	a->misfire = CHIME_MISFIRE_RUN_ALL;
	assert_int_equal(chime_schedule_add_job(s, a), 0);
	/* Forward 3 minutes: each slot, oldest first, previous chained. */
	now_usec = T0 + 185 * SEC;
	expect_pop(s, "a", T0 + 60 * SEC, 0);
	assert_int_equal(chime_schedule_pop_due(s, &due), 1);
	assert_int_equal(due.slot.instant_usec, T0 + 120 * SEC);
	assert_int_equal(due.previous_usec, T0 + 60 * SEC);
	expect_pop(s, "a", T0 + 180 * SEC, 0);
	expect_nothing_due(s);

	/* At most max_catchup: 5 slots behind (240..480), 2 run. */
	a->max_catchup = 2;
	now_usec = T0 + 485 * SEC;
	expect_pop(s, "a", T0 + 420 * SEC, 3);
	expect_pop(s, "a", T0 + 480 * SEC, 0);
	expect_nothing_due(s);

	/* Within catchup_window: slots older than 150 s are skipped. */
	a->max_catchup = 0;
	a->catchup_window_usec = 150 * SEC;
	now_usec = T0 + 785 * SEC; /* 540..780 due; window starts at 635 */
	expect_pop(s, "a", T0 + 660 * SEC, 2);
	expect_pop(s, "a", T0 + 720 * SEC, 0);
	expect_pop(s, "a", T0 + 780 * SEC, 0);
	expect_nothing_due(s);
	chime_schedule_free(s);
	job_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_heap_order),
	        cmocka_unit_test(test_previous_first),
	        cmocka_unit_test(test_not_armed),
	        cmocka_unit_test(test_reload_keeps_slots),
	        cmocka_unit_test(test_jitter),
	        cmocka_unit_test(test_clock_jump_run_once),
	        cmocka_unit_test(test_clock_jump_run_all),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
