/* SPDX-License-Identifier: MIT */
/*
 * noop: the example plugin. It does nothing useful, which makes it the
 * smallest complete example of the plugin contract (chime/plugin.h) and a
 * workhorse for the daemon's tests:
 *
 *   options:
 *     sleep: 2s      how long a run takes; the sleep is cancellable, in
 *                    small steps, as every plugin's unit of work should be
 *     fail: true     fail every run with a message
 *
 * configure() validates the options and returns private state, never
 * logging: every mistake is a diagnostic at its YAML position. run() is
 * called on a worker thread, checks chime_run_cancelled() between steps,
 * and reports what it did: the count "noop" is 1 for every run that got to
 * the end. release() frees the state.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "builtin.h"

/* Cancellation is noticed within this many microseconds. */
#define NOOP_STEP_USEC 10000

struct noop_state {
	int64_t sleep_usec;
	bool fail;
};

static int
noop_configure(const struct chime_node *options, struct chime_diag_list *diags, void **ret_state)
{
	static const char *const known[] = {"sleep", "fail", NULL};
	struct noop_state *st;
	int64_t sleep_usec = 0;
	bool fail = false;
	int r = 0;

	if (options != NULL) {
		if (chime_node_check_keys(options, known, diags) < 0)
			r = -EINVAL;
		if (chime_node_get_duration(options, "sleep", 0, diags, &sleep_usec) < 0)
			r = -EINVAL;
		if (chime_node_get_bool(options, "fail", false, diags, &fail) < 0)
			r = -EINVAL;
		if (r < 0)
			return r;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -ENOMEM;
	st->sleep_usec = sleep_usec;
	st->fail = fail;
	*ret_state = st;
	return 0;
}

static void
sleep_usec(int64_t usec)
{
	struct timespec ts = {.tv_sec = usec / 1000000, .tv_nsec = (long)(usec % 1000000) * 1000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int
noop_run(void *state, struct chime_run *run)
{
	const struct noop_state *st = state;

	for (int64_t left = st->sleep_usec; left > 0; left -= NOOP_STEP_USEC) {
		if (chime_run_cancelled(run)) {
			chime_run_fail(run, "cancelled while sleeping");
			return -ECANCELED;
		}
		sleep_usec(left < NOOP_STEP_USEC ? left : NOOP_STEP_USEC);
	}
	if (chime_run_cancelled(run)) {
		chime_run_fail(run, "cancelled");
		return -ECANCELED;
	}
	if (st->fail) {
		chime_run_fail(run, "failing as configured (fail: true)");
		return -EIO;
	}
	chime_run_count(run, "noop", 1);
	return 0;
}

static void
noop_release(void *state)
{
	free(state);
}

const struct chime_plugin chime_plugin_noop = {
        CHIME_PLUGIN_INIT("noop", noop_configure, noop_run, noop_release),
        .idempotent = true,
};
