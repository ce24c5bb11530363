/* SPDX-License-Identifier: MIT */
/*
 * The runner on a real loop with the noop plugin: a run and its report,
 * overlap skip/queue/replace, timeout, retry with backoff, a claim stage
 * that refuses the slot, and the drain at shutdown (wait, then cancel).
 * Every test closes its loop with no handle left.
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

#include "log.h"
#include "plugin_host.h"
#include "builtin.h"
#include "runner.h"

struct fixture {
	uv_loop_t loop;
	struct chime_plugin_host *host;
	struct chime_config *config;
	struct chime_runner *runner;
	bool drained;
	int claims;
	int claim_result;
};

static int
claim_stage(struct chime_runner_run *rr, chime_runner_stage_done_fn done, void *userdata)
{
	struct fixture *f = userdata;

	f->claims++;
	chime_runner_run_set_id(rr, 1000 + f->claims);
	done(rr, f->claim_result);
	return 0;
}

static void
setup(struct fixture *f, const char *yaml, bool with_claim)
{
	struct chime_config_hooks hooks;
	struct chime_diag_list diags;
	struct chime_runner_options options = {.node = "test-node"};

	memset(f, 0, sizeof(*f));
	chime_log_open(CHIME_LOG_WARNING);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(chime_plugin_host_new(chime_plugins_builtin, chime_plugins_builtin_count, &f->host), 0);
	chime_plugin_host_hooks(f->host, &hooks);
	chime_diag_list_init(&diags);
	if (chime_config_parse_string("runner.yaml", yaml, strlen(yaml), &hooks, &diags,
	                              &f->config) < 0) {
		chime_diag_list_print(&diags, stderr);
		fail();
	}
	chime_diag_list_done(&diags);
	options.loop = &f->loop;
	options.userdata = f;
	if (with_claim)
		options.stages = (struct chime_runner_stages){.claim = claim_stage, .userdata = f};
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

static int64_t
mono_msec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
poll_cb(uv_timer_t *t)
{
	uv_stop(t->loop);
}

/* Run the loop until `pred` holds or `ms` passed; returns pred. */
static bool
run_until(struct fixture *f, bool (*pred)(struct fixture *f), int64_t ms)
{
	int64_t start = mono_msec();
	uv_timer_t poll;

	uv_timer_init(&f->loop, &poll);
	uv_timer_start(&poll, poll_cb, 10, 10);
	while (!pred(f) && mono_msec() - start < ms)
		uv_run(&f->loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&poll, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	return pred(f);
}

static bool
idle(struct fixture *f)
{
	return chime_runner_running(f->runner) == 0;
}

static bool
failed_three(struct fixture *f)
{
	struct chime_runner_stats st;

	chime_runner_stats(f->runner, &st);
	return st.failed == 3 && idle(f);
}

static bool
drained(struct fixture *f)
{
	return f->drained;
}

static const struct chime_job_config *
job(struct fixture *f, const char *name)
{
	const struct chime_job_config *j = chime_config_find_job(f->config, name);

	assert_non_null(j);
	return j;
}

static void
dispatch(struct fixture *f, const char *name, int64_t at_sec)
{
	struct chime_slot slot = {.instant_usec = (INT64_C(1767225600) + at_sec) * 1000000};

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

static void
test_one_run(void **state)
{
	struct fixture f;

	setup(&f, "jobs:\n  a:\n    schedule: '* * * * * *'\n    plugin: noop\n", false);
	dispatch(&f, "a", 0);
	assert_int_equal(chime_runner_running(f.runner), 1);
	assert_true(run_until(&f, idle, 5000));
	assert_int_equal(stats(&f).started, 1);
	assert_int_equal(stats(&f).succeeded, 1);
	teardown(&f);
}

static void
test_overlap_skip_and_queue(void **state)
{
	struct fixture f;
	int64_t ms, start;

	setup(&f,
	      "jobs:\n"
	      "  s:\n    schedule: '* * * * * *'\n    plugin: noop\n    options: {sleep: 150ms}\n"
	      "  q:\n    schedule: '* * * * * *'\n    plugin: noop\n    options: {sleep: 150ms}\n"
	      "    overlap: queue\n",
	      false);
	dispatch(&f, "s", 0);
	dispatch(&f, "s", 1); /* skipped: s is still running */
	dispatch(&f, "q", 0);
	dispatch(&f, "q", 1); /* queued */
	dispatch(&f, "q", 2); /* queued */
	assert_int_equal(chime_runner_running(f.runner), 2);
	start = mono_msec();
	assert_true(run_until(&f, idle, 5000));
	ms = mono_msec() - start;
	assert_int_equal(stats(&f).skipped, 1);
	assert_int_equal(stats(&f).succeeded, 4);
	/* The three q runs one after the other. */
	assert_true(ms >= 440);
	teardown(&f);
}

static void
test_overlap_replace(void **state)
{
	struct fixture f;
	int64_t ms, start;

	setup(&f,
	      "jobs:\n  r:\n    schedule: '* * * * * *'\n    plugin: noop\n"
	      "    options: {sleep: 200ms}\n    overlap: replace\n",
	      false);
	dispatch(&f, "r", 0);
	dispatch(&f, "r", 1); /* cancels the first, then runs */
	start = mono_msec();
	assert_true(run_until(&f, idle, 5000));
	ms = mono_msec() - start;
	assert_int_equal(stats(&f).cancelled, 1);
	assert_int_equal(stats(&f).succeeded, 1);
	assert_int_equal(stats(&f).started, 2);
	assert_true(ms < 1000);
	teardown(&f);
}

static void
test_timeout(void **state)
{
	struct fixture f;
	int64_t ms, start;

	setup(&f,
	      "jobs:\n  t:\n    schedule: '* * * * * *'\n    plugin: noop\n"
	      "    options: {sleep: 60s}\n    timeout: 100ms\n    retry: {attempts: 3}\n",
	      false);
	dispatch(&f, "t", 0);
	start = mono_msec();
	assert_true(run_until(&f, idle, 5000));
	ms = mono_msec() - start;
	assert_int_equal(stats(&f).timed_out, 1);
	assert_int_equal(stats(&f).started, 1); /* a timeout is not retried */
	assert_true(ms < 1000);
	teardown(&f);
}

static void
test_retry(void **state)
{
	struct fixture f;
	int64_t start = mono_msec();

	setup(&f,
	      "jobs:\n  f:\n    schedule: '* * * * * *'\n    plugin: noop\n"
	      "    options: {fail: true}\n    retry: {attempts: 3, backoff: 100ms}\n",
	      false);
	dispatch(&f, "f", 0);
	assert_true(run_until(&f, failed_three, 5000));
	assert_int_equal(stats(&f).started, 3);
	assert_int_equal(stats(&f).failed, 3);
	/* Backoff 100 ms, then 200 ms. */
	assert_true(mono_msec() - start >= 300);
	teardown(&f);
}

static void
test_claim_refused(void **state)
{
	struct fixture f;

	setup(&f, "jobs:\n  a:\n    schedule: '* * * * * *'\n    plugin: noop\n", true);
	f.claim_result = -EEXIST;
	dispatch(&f, "a", 0);
	assert_int_equal(f.claims, 1);
	assert_int_equal(chime_runner_running(f.runner), 0);
	assert_int_equal(stats(&f).started, 0);
	f.claim_result = 0;
	dispatch(&f, "a", 1);
	assert_true(run_until(&f, idle, 5000));
	assert_int_equal(f.claims, 2);
	assert_int_equal(stats(&f).succeeded, 1);
	teardown(&f);
}

static void
drained_cb(void *userdata)
{
	struct fixture *f = userdata;

	f->drained = true;
}

static void
test_drain(void **state)
{
	struct fixture f;
	int64_t start;

	setup(&f,
	      "jobs:\n"
	      "  quick:\n    schedule: '* * * * * *'\n    plugin: noop\n    options: {sleep: "
	      "50ms}\n"
	      "  long:\n    schedule: '* * * * * *'\n    plugin: noop\n    options: {sleep: 60s}\n",
	      false);
	dispatch(&f, "quick", 0);
	dispatch(&f, "long", 0);
	start = mono_msec();
	assert_int_equal(chime_runner_drain(f.runner, 300000, drained_cb, &f), 0);
	assert_int_equal(chime_runner_drain(f.runner, 300000, drained_cb, &f), -EALREADY);
	{
		struct chime_slot slot = {.instant_usec = 1};

		assert_int_equal(chime_runner_dispatch(f.runner, f.config, job(&f, "quick"), &slot,
		                                       INT64_MIN),
		                 -ESHUTDOWN);
	}
	assert_true(run_until(&f, drained, 5000));
	/* quick finished on its own; long was cancelled at the timeout. */
	assert_int_equal(stats(&f).succeeded, 1);
	assert_int_equal(stats(&f).cancelled, 1);
	assert_true(mono_msec() - start >= 290);
	assert_true(mono_msec() - start < 1500);
	teardown(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_one_run),
	        cmocka_unit_test(test_overlap_skip_and_queue),
	        cmocka_unit_test(test_overlap_replace),
	        cmocka_unit_test(test_timeout),
	        cmocka_unit_test(test_retry),
	        cmocka_unit_test(test_claim_refused),
	        cmocka_unit_test(test_drain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
