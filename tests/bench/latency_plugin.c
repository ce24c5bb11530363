/* SPDX-License-Identifier: MIT */
/*
 * latency: a benchmark plugin .so for bench_lateness.sh and
 * bench_reload.sh. Its run() reads CLOCK_REALTIME first thing and appends
 * one line "NOMINAL_USEC ENTERED_USEC JOB\n" to the file named by its
 * `out:` option (opened O_APPEND at configure time, so one write(2) per run
 * lands whole even with several workers). Nothing else: the line says how
 * late the daemon called run() against the slot's nominal instant.
 *
 *   plugin_path: .../tests/bench/latency_plugin.so
 *   options: { out: /tmp/x/lateness.log }
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chime/plugin.h"

struct latency_state {
	int fd;
};

static int
latency_configure(const struct chime_node *options, struct chime_diag_list *diags, void **ret_state)
{
	static const char *const known[] = {"out", NULL};
	struct latency_state *st;
	const char *out = NULL;

	if (options == NULL)
		return chime_node_error(diags, options, "options.out is required");
	if (chime_node_check_keys(options, known, diags) < 0 ||
	    chime_node_get_string(options, "out", NULL, diags, &out) < 0)
		return -EINVAL;
	if (out == NULL)
		return chime_node_error(diags, options, "out: a file name is required");
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -ENOMEM;
	st->fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (st->fd < 0) {
		int r = -errno;

		free(st);
		chime_node_error(diags, chime_node_get(options, "out"), "cannot open: %s",
		                 strerror(-r));
		return r;
	}
	*ret_state = st;
	return 0;
}

static int
latency_run(void *state, struct chime_run *run)
{
	const struct latency_state *st = state;
	struct timespec ts;
	char line[160];
	int64_t entered;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	entered = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	n = snprintf(line, sizeof(line), "%" PRId64 " %" PRId64 " %s\n",
	             chime_run_nominal_usec(run), entered, chime_run_job(run));
	if (n < 0 || (size_t)n >= sizeof(line) || write(st->fd, line, (size_t)n) != n) {
		chime_run_fail(run, "cannot append the record");
		return -EIO;
	}
	return 0;
}

static void
latency_release(void *state)
{
	struct latency_state *st = state;

	if (st == NULL)
		return;
	close(st->fd);
	free(st);
}

static const struct chime_plugin latency = {
        .abi_version = CHIME_PLUGIN_ABI_VERSION,
        .struct_size = sizeof(struct chime_plugin),
        .name = "latency",
        .configure = latency_configure,
        .run = latency_run,
        .release = latency_release,
        .idempotent = true,
};

const struct chime_plugin *
chime_plugin_entry(void)
{
	return &latency;
}
