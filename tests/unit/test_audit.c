/* SPDX-License-Identifier: MIT */
/*
 * The audit's verdict planner (lib/ops/audit.c) over prepared rows, with
 * the real schedule expander: an hourly job in Europe/Berlin across the
 * spring-forward night (the 02:00 the DST policy skips), a success late by
 * 42 ms, a lost attempt recovered on another node, a slot skipped while
 * paused (by whom and why), an outage (two slots missing in a row), an
 * overlap skip naming the run in its way, a manual run listed apart, and
 * slots not due yet. The DST policy's drops on both nights: the repeat of
 * a fall-back hour (overlap: once) and a gap run once at the jump.
 */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cron.h"
#include "timespan.h"
#include "tz.h"

#define SEC INT64_C(1000000)
#define MS  INT64_C(1000)

static int64_t
at(const char *rfc3339)
{
	int64_t usec = 0;

	assert_int_equal(chime_time_parse(rfc3339, NULL, &usec), 0);
	return usec;
}

/* Civil usec of a local wall time "YYYY-MM-DDTHH:MM:SS" (read as UTC). */
static int64_t
wall(const char *text)
{
	return at(text);
}

struct fixture {
	struct chime_tz *tz;
	struct chime_expr *expr, *all;
	struct chime_audit_slot *slots;
	size_t n_slots;
};

static void
fixture_expand(struct fixture *f, const char *schedule, const char *from, const char *to)
{
	struct chime_expr_options all_opts = {.gap = CHIME_DST_GAP_SHIFT,
	                                      .overlap = CHIME_DST_OVERLAP_BOTH};

	assert_int_equal(chime_tz_load("Europe/Berlin", NULL, &f->tz), 0);
	assert_int_equal(chime_expr_parse(schedule, NULL, &f->expr, NULL), 0);
	assert_int_equal(chime_expr_parse(schedule, &all_opts, &f->all, NULL), 0);
	assert_int_equal(chime_audit_expand(f->expr, f->all, f->tz, at(from), at(to),
	                                    CHIME_AUDIT_MAX_SLOTS, &f->slots, &f->n_slots),
	                 0);
}

static void
fixture_done(struct fixture *f)
{
	free(f->slots);
	chime_expr_free(f->expr);
	chime_expr_free(f->all);
	chime_tz_unref(f->tz);
}

/* The records own their strings (char *): these are their test values. */
static char N1[] = "n1", N2[] = "n2", ALICE[] = "alice", FREEZE[] = "deploy freeze, INC-7";
static char E_LOST[] = "lost: node 'n1' stopped heartbeating, re-run by node 'n2'";
static char E_PAUSED[] = "paused", E_OVERLAP[] = "overlap: the previous run is still running";
static char E_EXIT[] = "exit status 3", E_MISFIRE[] = "misfire: missed while no node could run it";

static struct chime_run_record
row(int64_t id, const char *local, const char *scheduled, int attempt, char *node,
    enum chime_run_status status, int64_t late_usec, int64_t took_usec, char *error)
{
	int64_t s = at(scheduled);

	return (struct chime_run_record){
	        .id = id,
	        .local_usec = wall(local),
	        .scheduled_usec = s,
	        .attempt = attempt,
	        .node = node,
	        .status = status,
	        .claimed_usec = s + late_usec / 2,
	        .started_usec = status == CHIME_RUN_SKIPPED ? INT64_MIN : s + late_usec,
	        .finished_usec = s + late_usec + took_usec,
	        .error = error,
	};
}

static const struct chime_audit_entry *
entry_at(const struct chime_audit *a, const char *local)
{
	for (size_t i = 0; i < a->n_entries; i++)
		if (a->entries[i].slot.slot.local_usec == wall(local))
			return &a->entries[i];
	fail_msg("no slot at %s", local);
	return NULL;
}

static void
expect(const struct chime_audit *a, const char *local, enum chime_audit_verdict verdict,
       const char *reason_part)
{
	const struct chime_audit_entry *e = entry_at(a, local);

	if (e->verdict != verdict || strstr(e->reason, reason_part) == NULL)
		fail_msg("slot %s: %s '%s', want %s with '%s'", local,
		         chime_audit_verdict_name(e->verdict), e->reason,
		         chime_audit_verdict_name(verdict), reason_part);
}

/* The spring-forward night, hour by hour. */
static void
test_spring_night(void **state)
{
	struct fixture f = {0};
	struct chime_run_record runs[] = {
	        row(1, "2026-03-28T23:00:00", "2026-03-28T22:00:00Z", 1, N1, CHIME_RUN_SUCCEEDED,
	            42 * MS, 2 * SEC, NULL),
	        row(2, "2026-03-29T00:00:00", "2026-03-28T23:00:00Z", 1, N1, CHIME_RUN_LOST,
	            10 * MS, 300 * SEC, E_LOST),
	        row(3, "2026-03-29T00:00:00", "2026-03-28T23:00:00Z", 2, N2, CHIME_RUN_SUCCEEDED,
	            301 * SEC, 2 * SEC, NULL),
	        row(4, "2026-03-29T01:00:00", "2026-03-29T00:00:00Z", 1, N2, CHIME_RUN_SKIPPED,
	            100 * MS, 0, E_PAUSED),
	        /* 03:00 and 04:00: no row (an outage). 05:00 runs 70 minutes... */
	        row(5, "2026-03-29T05:00:00", "2026-03-29T03:00:00Z", 1, N1, CHIME_RUN_SUCCEEDED,
	            5 * MS, 70 * 60 * SEC, NULL),
	        /* ...so 06:00 is skipped for the overlap. */
	        row(6, "2026-03-29T06:00:00", "2026-03-29T04:00:00Z", 1, N2, CHIME_RUN_SKIPPED,
	            20 * MS, 0, E_OVERLAP),
	        row(7, "2026-03-29T07:00:00", "2026-03-29T05:00:00Z", 1, N2, CHIME_RUN_FAILED,
	            8 * MS, SEC, E_EXIT),
	        /* A manual run at no slot, and a live run from before the range. */
	        row(8, "2026-03-29T05:17:00", "2026-03-29T03:17:00Z", 1, N1, CHIME_RUN_SUCCEEDED, 0,
	            SEC, NULL),
	};
	struct chime_pause_record pauses[] = {
	        {.paused_usec = at("2026-03-28T23:30:00Z"),
	         .resumed_usec = at("2026-03-29T00:30:00Z"),
	         .by = ALICE,
	         .note = FREEZE,
	         .node = N1},
	};
	struct chime_audit a;
	struct chime_audit_input in = {
	        .runs = runs,
	        .n_runs = sizeof(runs) / sizeof(runs[0]),
	        .pauses = pauses,
	        .n_pauses = 1,
	        .from_usec = at("2026-03-28T22:00:00Z"),
	        .to_usec = at("2026-03-29T07:00:00Z"),
	        .first_row_usec = at("2026-03-01T00:00:00Z"),
	        .now_usec = at("2026-03-29T05:30:00Z"),
	        .history_usec = 0,
	        .misfire = "run-once",
	};

	(void)state;
	runs[7].manual = true;
	fixture_expand(&f, "0 * * * *", "2026-03-28T22:00:00Z", "2026-03-29T07:00:00Z");
	in.tz = f.tz;
	in.slots = f.slots;
	in.n_slots = f.n_slots;
	/* 23:00 .. 09:00 local, 02:00 included as the gap's drop. */
	assert_int_equal(f.n_slots, 11);
	assert_int_equal(chime_audit_plan(&in, &a), 0);
	assert_int_equal(a.n_entries, 11);

	expect(&a, "2026-03-28T23:00:00", CHIME_AUDIT_SUCCEEDED, "on node n1, late by 42 ms");
	assert_int_equal(entry_at(&a, "2026-03-28T23:00:00")->late_usec, 42 * MS);
	expect(&a, "2026-03-29T00:00:00", CHIME_AUDIT_RECOVERED,
	       "succeeded on node n2, late by 5min 1s after 2 attempts (attempt 1 was lost on "
	       "node n1)");
	assert_int_equal(entry_at(&a, "2026-03-29T00:00:00")->attempts, 2);
	expect(&a, "2026-03-29T01:00:00", CHIME_AUDIT_SKIPPED,
	       "paused by alice: deploy freeze, INC-7 (since 2026-03-29 00:30:00 +01:00)");
	assert_int_equal(entry_at(&a, "2026-03-29T01:00:00")->skip, CHIME_AUDIT_SKIP_PAUSED);
	expect(&a, "2026-03-29T02:00:00", CHIME_AUDIT_SKIPPED,
	       "dst gap: 02:00 does not exist that night");
	assert_int_equal(entry_at(&a, "2026-03-29T02:00:00")->skip, CHIME_AUDIT_SKIP_DST_GAP);
	expect(&a, "2026-03-29T03:00:00", CHIME_AUDIT_MISSING,
	       "no row: no node claimed it (no chimed was running, or none could reach the "
	       "database); 2 slots in a row missing, 2026-03-29 03:00:00 +02:00 to 2026-03-29 "
	       "04:00:00 +02:00");
	expect(&a, "2026-03-29T04:00:00", CHIME_AUDIT_MISSING, "2 slots in a row missing");
	expect(&a, "2026-03-29T05:00:00", CHIME_AUDIT_SUCCEEDED, "late by 5 ms");
	expect(&a, "2026-03-29T06:00:00", CHIME_AUDIT_SKIPPED,
	       "overlap: run 5 (slot 2026-03-29 05:00:00 +02:00) was still running on node n1");
	assert_int_equal(entry_at(&a, "2026-03-29T06:00:00")->blocker_id, 5);
	expect(&a, "2026-03-29T07:00:00", CHIME_AUDIT_FAILED, "failed on node n2: exit status 3");
	expect(&a, "2026-03-29T08:00:00", CHIME_AUDIT_PENDING, "not due yet");
	expect(&a, "2026-03-29T09:00:00", CHIME_AUDIT_PENDING, "not due yet");

	assert_int_equal(a.counts[CHIME_AUDIT_SKIPPED], 3);
	assert_int_equal(a.counts[CHIME_AUDIT_MISSING], 2);
	assert_int_equal(a.n_others, 1);
	assert_int_equal(a.others[0]->id, 8);
	chime_audit_done(&a);
	fixture_done(&f);
}

/* A slot without rows before the job's first row, past the history, and
 * a pause with no one recorded. */
static void
test_missing_kinds(void **state)
{
	struct fixture f = {0};
	struct chime_run_record runs[] = {
	        row(1, "2026-06-01T12:00:00", "2026-06-01T10:00:00Z", 1, N1, CHIME_RUN_SKIPPED, 0,
	            0, E_PAUSED),
	        row(2, "2026-06-01T13:00:00", "2026-06-01T11:00:00Z", 1, N1, CHIME_RUN_SKIPPED, 0,
	            0, E_MISFIRE),
	};
	struct chime_audit a;
	struct chime_audit_input in = {
	        .runs = runs,
	        .n_runs = 2,
	        .from_usec = at("2026-06-01T07:00:00Z"),
	        .to_usec = at("2026-06-01T11:00:00Z"),
	        .first_row_usec = at("2026-06-01T10:00:00Z"),
	        .now_usec = at("2026-06-01T12:00:00Z"),
	        .history_usec = 4 * 3600 * SEC + 30 * 60 * SEC,
	        .misfire = "skip",
	};

	(void)state;
	fixture_expand(&f, "0 * * * *", "2026-06-01T07:00:00Z", "2026-06-01T11:00:00Z");
	in.tz = f.tz;
	in.slots = f.slots;
	in.n_slots = f.n_slots;
	assert_int_equal(chime_audit_plan(&in, &a), 0);
	assert_int_equal(a.n_entries, 5);
	expect(&a, "2026-06-01T09:00:00", CHIME_AUDIT_PRUNED, "older than the job's history");
	expect(&a, "2026-06-01T10:00:00", CHIME_AUDIT_MISSING,
	       "before the job's first row in the ledger (2026-06-01 12:00:00 +02:00)");
	expect(&a, "2026-06-01T11:00:00", CHIME_AUDIT_MISSING, "before the job's first row");
	expect(&a, "2026-06-01T12:00:00", CHIME_AUDIT_SKIPPED, "paused (who and why not recorded)");
	expect(&a, "2026-06-01T13:00:00", CHIME_AUDIT_SKIPPED,
	       "misfire policy skip: missed while no node could run it");
	/* Two missing before the first row are not one outage. */
	assert_null(strstr(entry_at(&a, "2026-06-01T10:00:00")->reason, "in a row"));
	chime_audit_done(&a);
	fixture_done(&f);
}

/* Fall back with a fixed hour: the repeat of 02:30 is the policy's drop. */
static void
test_fall_back_overlap_once(void **state)
{
	struct fixture f = {0};

	(void)state;
	fixture_expand(&f, "30 2 * * *", "2026-10-24T12:00:00Z", "2026-10-25T12:00:00Z");
	assert_int_equal(f.n_slots, 2);
	assert_int_equal(f.slots[0].slot.instant_usec, at("2026-10-25T00:30:00Z"));
	assert_int_equal(f.slots[0].dropped, CHIME_AUDIT_SKIP_NONE);
	assert_int_equal(f.slots[1].slot.instant_usec, at("2026-10-25T01:30:00Z"));
	assert_int_equal(f.slots[1].slot.occurrence, 1);
	assert_int_equal(f.slots[1].dropped, CHIME_AUDIT_SKIP_DST_OVERLAP);
	fixture_done(&f);

	/* An hourly job follows real time: both 02:00s fire, nothing dropped. */
	fixture_expand(&f, "0 * * * *", "2026-10-24T23:30:00Z", "2026-10-25T02:30:00Z");
	assert_int_equal(f.n_slots, 3);
	for (size_t i = 0; i < f.n_slots; i++)
		assert_int_equal(f.slots[i].dropped, CHIME_AUDIT_SKIP_NONE);
	assert_int_equal(f.slots[1].slot.occurrence, 1);
	fixture_done(&f);
}

/* Two wall times in one gap under run-at-jump: the first fires at the
 * jump, the second is reported merged into it. */
static void
test_gap_run_at_jump(void **state)
{
	struct fixture f = {0};
	struct chime_audit a;
	struct chime_audit_input in = {
	        .from_usec = at("2026-03-28T12:00:00Z"),
	        .to_usec = at("2026-03-29T12:00:00Z"),
	        .first_row_usec = INT64_MIN,
	        .now_usec = at("2026-03-30T00:00:00Z"),
	};

	(void)state;
	fixture_expand(&f, "0,30 2 * * *", "2026-03-28T12:00:00Z", "2026-03-29T12:00:00Z");
	assert_int_equal(f.n_slots, 2);
	assert_int_equal(f.slots[0].slot.instant_usec, at("2026-03-29T01:00:00Z"));
	assert_int_equal(f.slots[0].dropped, CHIME_AUDIT_SKIP_NONE);
	assert_int_equal(f.slots[1].dropped, CHIME_AUDIT_SKIP_DST_GAP);
	assert_int_equal(f.slots[1].merged_local_usec, wall("2026-03-29T02:00:00"));
	in.tz = f.tz;
	in.slots = f.slots;
	in.n_slots = f.n_slots;
	assert_int_equal(chime_audit_plan(&in, &a), 0);
	expect(&a, "2026-03-29T02:00:00", CHIME_AUDIT_MISSING, "no row of this job at all");
	expect(&a, "2026-03-29T02:30:00", CHIME_AUDIT_SKIPPED,
	       "the DST policy (gap: run-at-jump) runs the gap once, as the slot 02:00");
	chime_audit_done(&a);
	fixture_done(&f);
}

/* A range holding more slots than allowed is refused, not truncated. */
static void
test_too_many_slots(void **state)
{
	struct chime_expr *expr = NULL;
	struct chime_tz *utc = chime_tz_utc();
	struct chime_audit_slot *slots = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(chime_expr_parse("* * * * * *", NULL, &expr, NULL), 0);
	assert_int_equal(chime_audit_expand(expr, NULL, utc, at("2026-01-01T00:00:00Z"),
	                                    at("2026-01-01T01:00:00Z"), 3600, &slots, &n),
	                 -E2BIG);
	assert_int_equal(chime_audit_expand(expr, NULL, utc, at("2026-01-01T00:00:00Z"),
	                                    at("2026-01-01T00:59:59Z"), 3600, &slots, &n),
	                 0);
	assert_int_equal(n, 3600);
	free(slots);
	chime_expr_free(expr);
	chime_tz_unref(utc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_spring_night),
	        cmocka_unit_test(test_missing_kinds),
	        cmocka_unit_test(test_fall_back_overlap_once),
	        cmocka_unit_test(test_gap_run_at_jump),
	        cmocka_unit_test(test_too_many_slots),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
