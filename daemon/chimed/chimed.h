/* SPDX-License-Identifier: MIT */
/*
 * chimed internals shared by daemon/chimed*.c: the daemon's state, the
 * wall-clock timer, and the loop-side handlers (tick, reload, stop).
 * Everything runs on the one loop thread.
 */
#ifndef CHIMED_H
#define CHIMED_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "ledger-service.h"
#include "plugin_host.h"
#include "runner.h"
#include "schedule.h"

#define CHIMED_EXIT_OK      0
#define CHIMED_EXIT_FAILURE 1
#define CHIMED_EXIT_USAGE   2

/*
 * A timer on CLOCK_REALTIME: a timerfd armed at an absolute wall instant
 * with TFD_TIMER_CANCEL_ON_SET, watched by uv_poll. `cb` runs when the
 * instant passed (clock_set false) or when the wall clock was set
 * (clock_set true; the timer must then be re-armed).
 */
struct chimed_wall_timer {
	int fd;
	uv_poll_t poll;
	void (*cb)(struct chimed_wall_timer *timer, bool clock_set);
	void *data;
};

int chimed_wall_timer_init(uv_loop_t *loop, struct chimed_wall_timer *timer,
                           void (*cb)(struct chimed_wall_timer *timer, bool clock_set));
/* Arm at `wall_usec` (CHIME_NEVER: far in the future, still watching for
 * clock changes). Returns 0 or a negative errno. */
int chimed_wall_timer_arm(struct chimed_wall_timer *timer, int64_t wall_usec);
/* Close the poll handle (the loop must run) and the fd. */
void chimed_wall_timer_close(struct chimed_wall_timer *timer);

struct chimed_control;
struct chimed_metrics;
struct chime_diag_list;

struct chimed {
	uv_loop_t *loop;
	const char *config_path;
	struct chime_plugin_host *host;
	struct chime_config_hooks hooks;
	struct chime_config *config;
	struct chime_schedule *schedule;
	struct chime_runner *runner;
	struct chime_ledger_service *ledger; /* NULL without a database: section */
	struct chimed_wall_timer timer;
	uv_signal_t sighup, sigterm, sigint;
	uv_timer_t watchdog;
	bool stopping;
	bool ticking;       /* in chimed_tick(): STATUS= waits for its end */
	bool reload_failed; /* the last reload failed: said in STATUS= */
	int exit_code;
	char status[512]; /* the last STATUS= sent */
	int64_t started_wall_usec;
	int64_t started_mono_usec;
	/* The wall clock against the monotonic one when last looked at, and
	 * the last "clock was set" notice: a VM's sub-second steps re-arm the
	 * jobs quietly, a real step is said at most once a minute. */
	int64_t clock_offset_usec;
	int64_t clock_notice_mono_usec;
	unsigned clock_steps_quiet;
	struct chimed_control *control; /* the control socket (chimed-control.c), or NULL */
	struct chimed_metrics *metrics; /* /metrics and /healthz (chimed-metrics.c), or NULL */
	/* Set by the control socket around chimed_reload(): the reload
	 * appends a copy of its diagnostics here. */
	struct chime_diag_list *reload_diags;
};

/* Arm the schedule and fire @reboot jobs: once, after the first load. */
int chimed_start(struct chimed *d);
/* Pop and dispatch every due slot, then re-arm the timer. */
void chimed_tick(struct chimed *d);
/* SIGHUP: parse and check the whole file, then swap or keep the old one. */
void chimed_reload(struct chimed *d);
/* SIGTERM/SIGINT: stop dispatching and drain; a second call exits at once. */
void chimed_stop(struct chimed *d, int signum);
/* Send STATUS= when it changed. */
void chimed_update_status(struct chimed *d);
/* "database: up (since ...)" for STATUS= and the control socket; -ENOENT
 * (buf untouched) without a database. */
int chimed_database_status(const struct chimed *d, char *buf, size_t size);
/* 1 when the ledger's database is up, 0 when not, -ENOENT without one. */
int chimed_database_up(const struct chimed *d);
/* Log every diagnostic of `diags` at its severity. */
void chimed_log_diags(const struct chime_diag_list *diags);

/*
 * The control socket (chimed-control.c) on config->control_socket. Returns
 * 0 when listening, or when the socket is off or cannot be bound for a
 * reason other than a live daemon (logged, the daemon runs without it);
 * -EADDRINUSE when another chimed answers on that path (logged: the
 * caller exits 1). Call before anything runs.
 */
int chimed_control_start(struct chimed *d);
/* Close the listener and every client; frees itself once closed. */
void chimed_control_close(struct chimed *d);

/* /metrics and /healthz (chimed-metrics.c) on config->metrics_listen;
 * 0 also when off. Logs. */
int chimed_metrics_start(struct chimed *d);
/* The runner's finished_cb. */
void chimed_metrics_run_finished(const struct chime_runner_run *rr, void *userdata);
void chimed_metrics_close(struct chimed *d);

#endif
