/* SPDX-License-Identifier: MIT */
/*
 * The runner's claim/record path against a fake ledger: fake stages that
 * keep rows in memory keyed as chime.runs is (job, local slot,
 * occurrence, attempt), and a fake clock, so the runner reads no real
 * time. Claim won and lost, a slot skipped or missed by the stage, a
 * waiting claim cancelled when another node took the job over, a working
 * run cancelled when another node recovered its claim, heartbeats on
 * time and one late past the lease, a lost claim
 * recovered here (dispatch_claimed), retries never past the next slot,
 * and catch-up across the America/New_York fall-back night where 01:30
 * happens twice. No PostgreSQL, no sleeps: the loop runs until a
 * condition holds.
 */
#include <errno.h>
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

#include <uv.h>

#include "builtin.h"
#include "clock.h"
#include "ledger.h"
#include "log.h"
#include "plugin_host.h"
#include "runner.h"
#include "tz.h"

#define MAX_ROWS 32
/* 2026-01-01T00:00:00Z */
#define T0_USEC (INT64_C(1767225600) * 1000000)

struct row {
	char job[32];
	int64_t local_usec;
	int occurrence, attempt;
	int64_t id;
	int64_t heartbeat_usec; /* the fake clock's wall time */
	bool lost;              /* recovered by another node */
	bool recorded;
	enum chime_run_status status;
	char error[128];
};

struct fixture {
	uv_loop_t loop;
	struct chime_fake_clock fake;
	struct chime_clock clock;
	struct chime_plugin_host *host;
	struct chime_config *config;
	struct chime_runner *runner;
	struct row rows[MAX_ROWS];
	size_t n_rows;
	int claims, records, cancels, finished;
	int claim_result;    /* 0: insert a row as the ledger does */
	bool busy_elsewhere; /* the claim waits for the job's run on another node */
	bool no_conn;        /* acquire_conn waits in vain until the run is cancelled */
	int polls;
	enum chime_run_status last_finished;
	int64_t last_slot_usec;
	int64_t last_duration_usec;
};

/* ---- The fake ledger ---------------------------------------------------- */

static struct row *
row_by_id(struct fixture *f, int64_t id)
{
	for (size_t i = 0; i < f->n_rows; i++)
		if (f->rows[i].id == id)
			return &f->rows[i];
	return NULL;
}

/* INSERT ... ON CONFLICT DO NOTHING RETURNING id. */
static int
fake_insert(struct fixture *f, struct chime_runner_run *rr)
{
	const struct chime_slot *s = chime_runner_run_slot(rr);
	const char *job = chime_runner_run_job(rr)->name;
	int attempt = chime_runner_run_attempt(rr);
	struct row *r;

	for (size_t i = 0; i < f->n_rows; i++) {
		r = &f->rows[i];
		if (strcmp(r->job, job) == 0 && r->local_usec == s->local_usec &&
		    r->occurrence == s->occurrence && r->attempt == attempt)
			return -EEXIST;
	}
	assert_true(f->n_rows < MAX_ROWS);
	r = &f->rows[f->n_rows++];
	snprintf(r->job, sizeof(r->job), "%s", job);
	r->local_usec = s->local_usec;
	r->occurrence = s->occurrence;
	r->attempt = attempt;
	r->id = (int64_t)f->n_rows;
	r->heartbeat_usec = chime_clock_wall(&f->clock);
	chime_runner_run_set_id(rr, r->id);
	return 0;
}

static void
poll_cb(struct chime_runner_run *rr, void *userdata)
{
	struct fixture *f = userdata;
	chime_runner_stage_done_fn done = chime_runner_run_stage_data(rr);

	f->polls++;
	if (chime_runner_run_cancelled(rr)) {
		done(rr, -ECANCELED);
		return;
	}
	if (f->busy_elsewhere) {
		chime_runner_run_defer(rr, 1000, poll_cb);
		return;
	}
	done(rr, 0);
}

static int
fake_claim(struct chime_runner_run *rr, chime_runner_stage_done_fn done, void *userdata)
{
	struct fixture *f = userdata;
	int r;

	f->claims++;
	if (f->claim_result != 0) {
		done(rr, f->claim_result);
		return 0;
	}
	if (chime_runner_run_preclaimed(rr)) {
		assert_non_null(row_by_id(f, chime_runner_run_id(rr)));
		done(rr, 0);
		return 0;
	}
	r = fake_insert(f, rr);
	if (r < 0)
		return r; /* the runner treats it as done(rr, r) */
	if (f->busy_elsewhere) {
		chime_runner_run_set_stage_data(rr, (void *)done);
		chime_runner_run_defer(rr, 1000, poll_cb);
		return 0;
	}
	done(rr, 0);
	return 0;
}

static int
fake_record(struct chime_runner_run *rr, chime_runner_stage_done_fn done, void *userdata)
{
	struct fixture *f = userdata;
	struct row *r = row_by_id(f, chime_runner_run_id(rr));
	const char *reason = chime_runner_run_cancel_reason(rr);

	f->records++;
	assert_non_null(r);
	assert_false(r->recorded);
	if (r->lost) {
		/* -ESTALE: the row is not ours any more; nothing recorded. */
		done(rr, 0);
		return 0;
	}
	r->recorded = true;
	assert_true(chime_runner_run_status(rr, &r->status));
	snprintf(r->error, sizeof(r->error), "%s", reason != NULL ? reason : "");
	done(rr, 0);
	return 0;
}

static void
fake_cancel(struct chime_runner_run *rr, void *userdata)
{
	struct fixture *f = userdata;

	f->cancels++;
}

/* Worker thread: the ledger's run connection stage with the database down
 * for good: it waits until the run is cancelled (its timeout). */
static int
fake_acquire_conn(struct chime_runner_run *rr, PGconn **ret_conn, char *errbuf, size_t errsize,
                  void *userdata)
{
	struct fixture *f = userdata;
	struct timespec ms = {.tv_nsec = 1000000};

	*ret_conn = NULL;
	if (!f->no_conn)
		return 0;
	while (!chime_runner_run_cancelled(rr))
		nanosleep(&ms, NULL);
	snprintf(errbuf, errsize,
	         "no database connection before the run was cancelled or "
	         "timed out: test");
	return -ECANCELED;
}

static void
fake_run_freed(struct chime_runner_run *rr, void *userdata)
{
	chime_runner_run_set_stage_data(rr, NULL); /* a borrowed function pointer */
}

static void
finished_cb(const struct chime_runner_run *rr, void *userdata)
{
	struct fixture *f = userdata;

	f->finished++;
	assert_true(chime_runner_run_status(rr, &f->last_finished));
	f->last_slot_usec = chime_runner_run_slot(rr)->instant_usec;
	f->last_duration_usec = chime_runner_run_duration_usec(rr);
}

/* The service's heartbeat: renew the live rows; a row another node
 * recovered meanwhile tells its run to stop. */
static void
heartbeat_run(struct chime_runner_run *rr, void *userdata)
{
	struct fixture *f = userdata;
	struct row *r = row_by_id(f, chime_runner_run_id(rr));

	if (r == NULL || !chime_runner_run_live(rr))
		return;
	if (r->lost)
		chime_runner_run_cancel(rr, "cancelled through the ledger");
	else
		r->heartbeat_usec = chime_clock_wall(&f->clock);
}

static void
fake_heartbeat(struct fixture *f)
{
	chime_runner_foreach(f->runner, heartbeat_run, f);
}

/* Another node's lost-claim scan: rows whose heartbeat is older than
 * `lease_usec`; returns how many it recovered. */
static int
other_node_scan(struct fixture *f, int64_t lease_usec)
{
	int64_t now = chime_clock_wall(&f->clock);
	int n = 0;

	for (size_t i = 0; i < f->n_rows; i++)
		if (!f->rows[i].recorded && !f->rows[i].lost &&
		    now - f->rows[i].heartbeat_usec > lease_usec) {
			f->rows[i].lost = true;
			n++;
		}
	return n;
}

/* ---- Fixture ------------------------------------------------------------ */

static void
setup(struct fixture *f, const char *yaml)
{
	struct chime_config_hooks hooks;
	struct chime_diag_list diags;
	struct chime_runner_options options = {.node = "test-node"};

	memset(f, 0, sizeof(*f));
	chime_log_open(CHIME_LOG_WARNING);
	chime_fake_clock_init(&f->fake, T0_USEC, &f->clock);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(
	        chime_plugin_host_new(chime_plugins_builtin, chime_plugins_builtin_count, &f->host),
	        0);
	chime_plugin_host_hooks(f->host, &hooks);
	chime_diag_list_init(&diags);
	if (chime_config_parse_string("stages.yaml", yaml, strlen(yaml), &hooks, &diags,
	                              &f->config) < 0) {
		chime_diag_list_print(&diags, stderr);
		fail();
	}
	chime_diag_list_done(&diags);
	options.loop = &f->loop;
	options.clock = &f->clock;
	options.finished_cb = finished_cb;
	options.userdata = f;
	options.stages = (struct chime_runner_stages){
	        .claim = fake_claim,
	        .record = fake_record,
	        .cancel = fake_cancel,
	        .acquire_conn = fake_acquire_conn,
	        .run_freed = fake_run_freed,
	        .userdata = f,
	};
	assert_int_equal(chime_runner_new(&options, &f->runner), 0);
}

static void
teardown(struct fixture *f)
{
	assert_int_equal(chime_runner_running(f->runner), 0);
	chime_runner_close(f->runner);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	chime_config_unref(f->config);
	chime_plugin_host_free(f->host);
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

static void
tick_cb(uv_timer_t *t)
{
	uv_stop(t->loop);
}

/* Run the loop until `pred` holds; a 10 ms tick re-checks it, at most
 * 5000 ticks (the fake clock does not move by itself). */
static bool
run_until(struct fixture *f, bool (*pred)(struct fixture *f))
{
	uv_timer_t tick;

	uv_timer_init(&f->loop, &tick);
	uv_timer_start(&tick, tick_cb, 10, 10);
	for (int i = 0; i < 5000 && !pred(f); i++)
		uv_run(&f->loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	return pred(f);
}

static bool
idle(struct fixture *f)
{
	return chime_runner_running(f->runner) == 0;
}

static bool
polled_twice(struct fixture *f)
{
	return f->polls >= 2;
}

static bool
working(struct fixture *f)
{
	struct chime_runner_run *rr = chime_runner_find_live(f->runner, 1);

	return rr != NULL && chime_runner_run_working(rr);
}

static const struct chime_job_config *
job(struct fixture *f, const char *name)
{
	const struct chime_job_config *j = chime_config_find_job(f->config, name);

	assert_non_null(j);
	return j;
}

static void
dispatch_at(struct fixture *f, const char *name, int64_t at_sec)
{
	struct chime_slot slot = {
	        .instant_usec = T0_USEC + at_sec * 1000000,
	        .local_usec = T0_USEC + at_sec * 1000000,
	};

	assert_int_equal(
	        chime_runner_dispatch(f->runner, f->config, job(f, name), &slot, INT64_MIN), 0);
}

static struct chime_runner_stats
stats(struct fixture *f)
{
	struct chime_runner_stats st;

	chime_runner_stats(f->runner, &st);
	return st;
}

#define JOB(name, opts) "  " name ":\n    schedule: '* * * * * *'\n    plugin: noop\n" opts

/* ---- Tests -------------------------------------------------------------- */

static void
test_claim_won(void **state)
{
	struct fixture f;

	setup(&f, "jobs:\n" JOB("a", ""));
	dispatch_at(&f, "a", 0);
	assert_true(run_until(&f, idle));
	assert_int_equal(f.claims, 1);
	assert_int_equal(f.n_rows, 1);
	assert_true(f.rows[0].recorded);
	assert_int_equal(f.rows[0].status, CHIME_RUN_SUCCEEDED);
	assert_int_equal(stats(&f).succeeded, 1);
	/* The clock stood still: the runner read only the fake one. */
	assert_int_equal(f.last_duration_usec, 0);
	teardown(&f);
}

static void
test_claim_lost(void **state)
{
	struct fixture f;

	setup(&f, "jobs:\n" JOB("a", ""));
	dispatch_at(&f, "a", 0);
	assert_true(run_until(&f, idle));
	/* The same slot again (another node's claim, as the ledger sees it). */
	dispatch_at(&f, "a", 0);
	assert_true(run_until(&f, idle));
	assert_int_equal(f.claims, 2);
	assert_int_equal(f.n_rows, 1);
	assert_int_equal(f.records, 1);
	assert_int_equal(f.last_finished, CHIME_RUN_SKIPPED);
	assert_int_equal(stats(&f).started, 1);
	assert_int_equal(stats(&f).failed, 0);

	/* Skipped by the stage (paused, busy elsewhere), missed (no database). */
	f.claim_result = CHIME_RUNNER_CLAIM_SKIPPED;
	dispatch_at(&f, "a", 1);
	assert_int_equal(f.last_finished, CHIME_RUN_SKIPPED);
	assert_int_equal(stats(&f).skipped, 1);
	f.claim_result = CHIME_RUNNER_CLAIM_MISSED;
	dispatch_at(&f, "a", 2);
	assert_int_equal(f.last_finished, CHIME_RUN_FAILED);
	assert_int_equal(stats(&f).missed, 1);
	assert_int_equal(stats(&f).started, 1);
	teardown(&f);
}

/* The claim waits for the job's run on another node; the heartbeat then
 * says the claim must stop (that node replaced it, or recovered it while
 * our heartbeats were late): cancelled and recorded, never run. */
static void
test_waiting_claim_cancelled(void **state)
{
	struct fixture f;
	struct chime_runner_run *rr;

	setup(&f, "jobs:\n" JOB("q", "    overlap: queue\n"));
	f.busy_elsewhere = true;
	dispatch_at(&f, "q", 0);
	assert_true(run_until(&f, polled_twice));
	rr = chime_runner_find_live(f.runner, 1);
	assert_non_null(rr);
	assert_false(chime_runner_run_working(rr));
	chime_runner_run_cancel(rr, "cancelled through the ledger");
	assert_true(run_until(&f, idle));
	assert_int_equal(stats(&f).started, 0);
	assert_true(f.rows[0].recorded);
	assert_int_equal(f.rows[0].status, CHIME_RUN_CANCELLED);
	assert_string_equal(f.rows[0].error, "cancelled through the ledger");
	assert_int_equal(f.cancels, 0); /* no statement to interrupt */
	teardown(&f);
}

/* Another node recovered the claim of a working run: the run is
 * cancelled, its statement interrupted, the outcome recorded cancelled. */
static void
test_recovered_by_another_node(void **state)
{
	struct fixture f;

	setup(&f, "jobs:\n" JOB("s", "    options: {sleep: 60s}\n"));
	dispatch_at(&f, "s", 0);
	assert_true(run_until(&f, working));
	chime_runner_run_cancel(chime_runner_find_live(f.runner, 1),
	                        "cancelled through the ledger");
	assert_int_equal(f.cancels, 1);
	assert_true(run_until(&f, idle));
	assert_int_equal(f.rows[0].status, CHIME_RUN_CANCELLED);
	assert_int_equal(stats(&f).cancelled, 1);
	assert_null(chime_runner_find_live(f.runner, 1));
	teardown(&f);
}

/* Heartbeats within the lease keep a long run's claim; one late past the
 * lease lets another node recover it, and the next heartbeat stops the
 * run here (its outcome is not recorded over the recovery). */
static void
test_heartbeat_late(void **state)
{
	struct fixture f;
	const int64_t lease = 2 * INT64_C(1000000);

	setup(&f, "jobs:\n" JOB("s", "    options: {sleep: 60s}\n    lease: 2s\n"));
	assert_int_equal(job(&f, "s")->lease_usec, lease);
	dispatch_at(&f, "s", 0);
	assert_true(run_until(&f, working));
	for (int i = 0; i < 3; i++) {
		chime_fake_clock_advance(&f.fake, lease / 2);
		fake_heartbeat(&f);
		assert_int_equal(other_node_scan(&f, lease), 0);
	}
	assert_true(working(&f));
	chime_fake_clock_advance(&f.fake, lease + 1);
	assert_int_equal(other_node_scan(&f, lease), 1);
	fake_heartbeat(&f);
	assert_int_equal(f.cancels, 1);
	assert_true(run_until(&f, idle));
	assert_int_equal(stats(&f).cancelled, 1);
	assert_true(f.rows[0].lost);
	assert_false(f.rows[0].recorded);
	teardown(&f);
}

/* A lost claim of another node recovered here: attempt 2 with the row the
 * recovery inserted, started without a new claim; a live run is found by
 * its id until it is over (the lost scan never recovers it here). */
static void
test_recovery_here(void **state)
{
	struct fixture f;
	struct chime_slot slot = {.instant_usec = T0_USEC, .local_usec = T0_USEC};
	struct chime_runner_run *rr;

	setup(&f, "jobs:\n" JOB("r", "    options: {sleep: 60s}\n"));
	f.rows[0] = (struct row){.job = "r", .local_usec = T0_USEC, .attempt = 2, .id = 1};
	f.n_rows = 1;
	assert_int_equal(chime_runner_dispatch_claimed(f.runner, f.config, job(&f, "r"), &slot,
	                                               INT64_MIN, 2, 1),
	                 0);
	assert_true(run_until(&f, working));
	rr = chime_runner_find_live(f.runner, 1);
	assert_true(chime_runner_run_preclaimed(rr));
	assert_int_equal(chime_runner_run_attempt(rr), 2);
	chime_runner_run_cancel(rr, "shutting down");
	assert_true(run_until(&f, idle));
	assert_int_equal(f.n_rows, 1);
	assert_int_equal(f.rows[0].status, CHIME_RUN_CANCELLED);
	teardown(&f);
}

static bool
failed_once(struct fixture *f)
{
	return stats(f).failed == 1 && idle(f);
}

/* A retry waiting for its backoff is abandoned when the next slot comes:
 * attempt 2 of slot 0 never claims. */
static void
test_retry_not_past_next_slot(void **state)
{
	struct fixture f;

	setup(&f, "jobs:\n" JOB("f", "    options: {fail: true}\n"
	                             "    retry: {attempts: 3, backoff: 1h}\n"));
	dispatch_at(&f, "f", 0);
	assert_true(run_until(&f, failed_once));
	dispatch_at(&f, "f", 1);
	assert_true(run_until(&f, idle));
	assert_int_equal(f.claims, 2);
	for (size_t i = 0; i < f.n_rows; i++)
		assert_int_equal(f.rows[i].attempt, 1);
	assert_int_equal(f.rows[1].local_usec, T0_USEC + 1000000);
	teardown(&f);
}

static bool
two_timed_out(struct fixture *f)
{
	return stats(f).timed_out == 2 && idle(f);
}

/* A run whose connection never came ran no work: timed out, it says
 * "not started" and the retry policy applies as to a failure. */
static void
test_not_started_is_retried(void **state)
{
	struct fixture f;

	setup(&f, "jobs:\n" JOB("w", "    timeout: 50ms\n"
	                             "    retry: {attempts: 2, backoff: 10ms}\n"));
	f.no_conn = true;
	dispatch_at(&f, "w", 0);
	assert_true(run_until(&f, two_timed_out));
	assert_int_equal(f.claims, 2);
	assert_int_equal(f.n_rows, 2);
	assert_int_equal(f.rows[0].status, CHIME_RUN_TIMED_OUT);
	assert_int_equal(f.rows[1].attempt, 2);
	assert_int_equal(f.rows[1].status, CHIME_RUN_TIMED_OUT);
	assert_int_equal(stats(&f).failed, 0);
	teardown(&f);
}

/* A manual run's slot is the injected clock's now. */
static void
test_trigger_reads_the_clock(void **state)
{
	struct fixture f;

	setup(&f, "jobs:\n" JOB("m", ""));
	chime_fake_clock_advance(&f.fake, 90 * INT64_C(1000000));
	assert_int_equal(chime_runner_trigger(f.runner, f.config, job(&f, "m")), 0);
	assert_true(run_until(&f, idle));
	assert_int_equal(f.last_slot_usec, T0_USEC + 90 * INT64_C(1000000));
	teardown(&f);
}

/*
 * Catch-up across the fall-back night of America/New_York (2026-11-01,
 * 02:00 EDT -> 01:00 EST): with the ledger's last slot at 00:30 EDT and
 * now 03:00 EST, "30 * * * *" missed 01:30 EDT, 01:30 EST (the same wall
 * time, occurrence 1) and 02:30 EST. Each runs once, oldest first, and a
 * second catch-up of the same night claims nothing.
 */
static void
test_catchup_dst_night(void **state)
{
	struct fixture f;
	const struct chime_job_config *j;
	struct chime_catchup_params p;
	struct chime_catchup_plan plan;
	int64_t last = INT64_C(1793507400) * 1000000; /* 2026-11-01T04:30Z = 00:30 EDT */
	int64_t now = INT64_C(1793520000) * 1000000;  /* 2026-11-01T08:00Z = 03:00 EST */

	setup(&f, "jobs:\n  n:\n    schedule: '30 * * * *'\n    plugin: noop\n"
	          "    timezone: America/New_York\n    misfire: run-all\n");
	j = job(&f, "n");
	p = (struct chime_catchup_params){
	        .expr = j->expr,
	        .tz = j->tz,
	        .last_instant_usec = last,
	        .now_usec = now,
	        .misfire = j->misfire,
	        .window_usec = j->catchup_window_usec,
	        .max_catchup = j->max_catchup,
	};
	assert_int_equal(chime_catchup_plan(&p, &plan), 0);
	assert_int_equal(plan.n_run, 3);
	assert_int_equal(plan.n_skip, 0);
	assert_int_equal(plan.run[0].instant_usec, last + INT64_C(3600) * 1000000);
	assert_int_equal(plan.run[1].instant_usec, last + INT64_C(7200) * 1000000);
	assert_int_equal(plan.run[2].instant_usec, last + INT64_C(10800) * 1000000);
	/* 01:30 twice: the same local slot, told apart by its occurrence. */
	assert_int_equal(plan.run[0].local_usec, plan.run[1].local_usec);
	assert_int_equal(plan.run[0].occurrence, 0);
	assert_int_equal(plan.run[1].occurrence, 1);
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < plan.n_run; i++)
			assert_int_equal(chime_runner_dispatch_catchup(f.runner, f.config, j,
			                                               &plan.run[i], INT64_MIN),
			                 0);
		assert_true(run_until(&f, idle));
	}
	assert_int_equal(f.n_rows, 3);
	assert_int_equal(stats(&f).succeeded, 3);
	assert_int_equal(f.claims, 6);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(f.rows[i].occurrence, plan.run[i].occurrence);
	chime_catchup_plan_done(&plan);
	teardown(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_claim_won),
	        cmocka_unit_test(test_claim_lost),
	        cmocka_unit_test(test_waiting_claim_cancelled),
	        cmocka_unit_test(test_recovered_by_another_node),
	        cmocka_unit_test(test_heartbeat_late),
	        cmocka_unit_test(test_recovery_here),
	        cmocka_unit_test(test_retry_not_past_next_slot),
	        cmocka_unit_test(test_not_started_is_retried),
	        cmocka_unit_test(test_trigger_reads_the_clock),
	        cmocka_unit_test(test_catchup_dst_night),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
