/* SPDX-License-Identifier: MIT */
/*
 * chimed: the scheduler daemon. Parses argv (DESIGN.md section 11), loads
 * the configuration with the plugin host's hooks, and runs one libuv loop
 * owning the schedule timer, the signals and the watchdog; the work itself
 * happens on the runner's worker threads. Runs in the foreground, systemd
 * style (Type=notify). Exit status: 0 stopped cleanly, 1 failure or
 * invalid configuration, 2 usage error.
 */
#include "chimed.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builtin.h"
#include "clock.h"
#include "log.h"
#include "notify.h"

static const char *arg_config = CHIME_DEFAULT_CONFIG;
static bool arg_check;
static int arg_log_level = CHIME_LOG_INFO;
static enum chime_log_format arg_log_format = CHIME_LOG_FORMAT_AUTO;

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: chimed [--config FILE] [--check] [--log-level LEVEL] [--log-format "
	        "FORMAT]\n"
	        "              [--version]\n"
	        "\n"
	        "Run the chime scheduler in the foreground.\n"
	        "\n"
	        "  -c, --config FILE      configuration file (default %s)\n"
	        "  -n, --check            check the configuration, print \"configuration OK\"\n"
	        "                         or every diagnostic, and exit 0 or 1\n"
	        "  -l, --log-level LEVEL  error, warning, notice, info (default) or debug\n"
	        "      --log-format FORMAT  auto (default: the journal's fields under\n"
	        "                         systemd, else timestamped lines), text or json\n"
	        "                         (one JSON object per line)\n"
	        "  -V, --version          print the version and exit\n"
	        "  -h, --help             print this help and exit\n",
	        CHIME_DEFAULT_CONFIG);
}

/* Returns -1 to go on, else the exit status. */
static int
parse_argv(int argc, char **argv)
{
	static const struct option options[] = {
	        {"config", required_argument, NULL, 'c'},
	        {"check", no_argument, NULL, 'n'},
	        {"log-level", required_argument, NULL, 'l'},
	        {"log-format", required_argument, NULL, 'F'},
	        {"version", no_argument, NULL, 'V'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:nl:Vh", options, NULL)) != -1) {
		switch (c) {
		case 'c':
			arg_config = optarg;
			break;
		case 'n':
			arg_check = true;
			break;
		case 'l':
			if (chime_log_level_parse(optarg, &arg_log_level) < 0) {
				fprintf(stderr, "chimed: invalid log level '%s'\n", optarg);
				return CHIMED_EXIT_USAGE;
			}
			break;
		case 'F':
			if (chime_log_format_parse(optarg, &arg_log_format) < 0) {
				fprintf(stderr,
				        "chimed: invalid log format '%s' (auto, text or json)\n",
				        optarg);
				return CHIMED_EXIT_USAGE;
			}
			break;
		case 'V':
			printf("chimed %s\n", CHIME_VERSION);
			return CHIMED_EXIT_OK;
		case 'h':
			usage(stdout);
			return CHIMED_EXIT_OK;
		default:
			usage(stderr);
			return CHIMED_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "chimed: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return CHIMED_EXIT_USAGE;
	}
	return -1;
}

#define CLOCK_STEP_NOTICE_USEC     INT64_C(1000000)  /* smaller steps are NTP's slewing */
#define CLOCK_NOTICE_INTERVAL_USEC INT64_C(60000000) /* at most one notice a minute */

/* Say that the wall clock was set, when it moved more than a second
 * against the monotonic clock, at most once a minute (with the count of
 * the steps not said since). Every step re-arms the jobs either way. */
static void
clock_step_notice(struct chimed *d, size_t n_jobs)
{
	int64_t mono = (int64_t)(uv_hrtime() / 1000);
	int64_t offset = chime_clock_wall_usec() - mono;
	int64_t step = offset - d->clock_offset_usec;

	d->clock_offset_usec = offset;
	if ((step < 0 ? -step : step) <= CLOCK_STEP_NOTICE_USEC ||
	    (d->clock_notice_mono_usec != 0 &&
	     mono - d->clock_notice_mono_usec < CLOCK_NOTICE_INTERVAL_USEC)) {
		d->clock_steps_quiet++;
		chime_log_debug("the system clock was set (%+.3f s); %zu job%s re-armed",
		                (double)step / 1e6, n_jobs, n_jobs == 1 ? "" : "s");
		return;
	}
	chime_log_notice("the system clock was set %s by %.3f s; %zu job%s re-armed from the new "
	                 "time%s",
	                 step > 0 ? "forward" : "back", (double)(step < 0 ? -step : step) / 1e6,
	                 n_jobs, n_jobs == 1 ? "" : "s",
	                 d->clock_steps_quiet > 0 ? " (smaller or frequent steps since the last "
	                                            "notice were not logged)"
	                                          : "");
	d->clock_notice_mono_usec = mono;
	d->clock_steps_quiet = 0;
}

static void
timer_cb(struct chimed_wall_timer *timer, bool clock_set)
{
	struct chimed *d = timer->data;
	size_t n;

	if (clock_set) {
		n = chime_schedule_clock_changed(d->schedule);
		clock_step_notice(d, n);
	}
	chimed_tick(d);
}

static void
signal_cb(uv_signal_t *handle, int signum)
{
	struct chimed *d = handle->data;

	if (signum == SIGHUP)
		chimed_reload(d);
	else
		chimed_stop(d, signum);
}

static void
watchdog_cb(uv_timer_t *timer)
{
	chime_notify_watchdog();
}

static void
runner_changed_cb(void *userdata)
{
	struct chimed *d = userdata;

	if (d->runner != NULL)
		chimed_update_status(d);
}

static int
start_signal(struct chimed *d, uv_signal_t *handle, int signum)
{
	int r = uv_signal_init(d->loop, handle);

	if (r < 0)
		return r;
	handle->data = d;
	return uv_signal_start(handle, signal_cb, signum);
}

static int
setup(struct chimed *d)
{
	struct chime_runner_options ropts = {
	        .loop = d->loop,
	        .node = d->config->node,
	        .changed_cb = runner_changed_cb,
	        .userdata = d,
	        .finished_cb = chimed_metrics_run_finished,
	};
	int64_t watchdog_usec = chime_notify_watchdog_usec();
	int r;

	/* First: a second chimed on the same control socket stops here,
	 * before it claims or runs anything. */
	r = chimed_control_start(d);
	if (r < 0)
		return r;
	/* The ledger (chime.runs) is on when the file has a database:
	 * section; without one, runs are neither recorded nor exclusive. */
	if (d->config->n_trees > 0 && chime_node_get(d->config->trees[0], "database") != NULL) {
		struct chime_ledger_service_options lopts = {
		        .loop = d->loop,
		        .database = &d->config->database,
		        .node = d->config->node,
		        .changed_cb = runner_changed_cb,
		        .userdata = d,
		};

		r = chime_ledger_service_new(&lopts, &d->ledger);
		if (r < 0)
			return r;
		chime_ledger_service_stages(d->ledger, &ropts.stages);
		ropts.workers_cap =
		        d->config->database.pool > 0 ? (size_t)d->config->database.pool : 0;
	} else
		chime_log_warning("no 'database:' section: runs are not recorded in a ledger, "
		                  "and several chimed would each run every slot");
	r = chime_schedule_new(NULL, &d->schedule);
	if (r < 0)
		return r;
	r = chime_runner_new(&ropts, &d->runner);
	if (r < 0)
		return r;
	if (d->ledger != NULL)
		chime_ledger_service_attach(d->ledger, d->runner);
	r = chimed_wall_timer_init(d->loop, &d->timer, timer_cb);
	if (r < 0)
		return r;
	d->timer.data = d;
	if ((r = start_signal(d, &d->sighup, SIGHUP)) < 0 ||
	    (r = start_signal(d, &d->sigterm, SIGTERM)) < 0 ||
	    (r = start_signal(d, &d->sigint, SIGINT)) < 0)
		return r;
	uv_timer_init(d->loop, &d->watchdog);
	if (watchdog_usec > 0) {
		uint64_t ms = (uint64_t)(watchdog_usec / 2000);

		uv_timer_start(&d->watchdog, watchdog_cb, ms > 0 ? ms : 1, ms > 0 ? ms : 1);
		uv_unref((uv_handle_t *)&d->watchdog);
	}
	r = chimed_metrics_start(d);
	if (r < 0)
		return r;
	return chimed_start(d);
}

int
main(int argc, char **argv)
{
	struct chimed d = {.exit_code = CHIMED_EXIT_OK};
	struct chime_diag_list diags;
	uv_loop_t loop;
	int r;

	r = parse_argv(argc, argv);
	if (r >= 0)
		return r;
	signal(SIGPIPE, SIG_IGN);
	d.config_path = arg_config;

	r = chime_plugin_host_new(chime_plugins_builtin, chime_plugins_builtin_count, &d.host);
	if (r < 0) {
		fprintf(stderr, "chimed: %s\n", strerror(-r));
		return CHIMED_EXIT_FAILURE;
	}
	chime_plugin_host_hooks(d.host, &d.hooks);
	if (arg_check) {
		r = chime_config_check_file(arg_config, &d.hooks, stdout, stderr);
		chime_plugin_host_free(d.host);
		return r < 0 ? CHIMED_EXIT_FAILURE : CHIMED_EXIT_OK;
	}

	chime_log_open(arg_log_level);
	/* In the foreground nothing stamps the lines: chimed does. */
	chime_log_set_format(arg_log_format, true);
	chime_diag_list_init(&diags);
	r = chime_config_load(arg_config, &d.hooks, &diags, &d.config);
	chimed_log_diags(&diags);
	chime_diag_list_done(&diags);
	if (r < 0) {
		chime_log_error("cannot start: configuration '%s' is invalid", arg_config);
		chime_plugin_host_free(d.host);
		return CHIMED_EXIT_FAILURE;
	}

	r = uv_loop_init(&loop);
	if (r < 0) {
		chime_log_error("cannot create the event loop: %s", uv_strerror(r));
		return CHIMED_EXIT_FAILURE;
	}
	d.loop = &loop;
	d.started_wall_usec = chime_clock_wall_usec();
	d.started_mono_usec = (int64_t)(uv_hrtime() / 1000);
	d.clock_offset_usec = d.started_wall_usec - d.started_mono_usec;
	r = setup(&d);
	if (r < 0) {
		chime_log_error("cannot start: %s", strerror(-r));
		return CHIMED_EXIT_FAILURE;
	}
	chime_notify_ready_status(d.status[0] != '\0' ? d.status : "running");
	chime_log_info("chimed %s ready", CHIME_VERSION);

	uv_run(&loop, UV_RUN_DEFAULT);
	if (d.runner != NULL)
		return d.exit_code; /* runs ignored cancellation; they die with us */
	d.schedule = chime_schedule_free(d.schedule);
	d.config = chime_config_unref(d.config);
	d.host = chime_plugin_host_free(d.host);
	r = uv_loop_close(&loop);
	if (r < 0)
		chime_log_warning("event loop closed with handles left: %s", uv_strerror(r));
	return d.exit_code;
}
