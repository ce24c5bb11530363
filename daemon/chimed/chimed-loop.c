/* SPDX-License-Identifier: MIT */
/*
 * chimed's loop-side handlers: the schedule tick (pop due slots, dispatch,
 * re-arm), reload on SIGHUP (parse and check everything, then swap or keep
 * the old config), stop on SIGTERM/SIGINT (drain, then close), @reboot
 * jobs, and STATUS= upkeep.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "chimed.h"
#include "diag.h"
#include "log.h"
#include "notify.h"
#include "timespan.h"
#include "tz.h"

void
chimed_log_diags(const struct chime_diag_list *diags)
{
	char line[2048];

	for (size_t i = 0; i < diags->count; i++) {
		chime_diag_format(&diags->items[i], line, sizeof(line));
		chime_log(diags->items[i].severity == CHIME_DIAG_ERROR ? CHIME_LOG_ERR
		                                                       : CHIME_LOG_WARNING,
		          "%s", line);
	}
	if (diags->errors + diags->warnings > diags->count)
		chime_log_error("%zu more diagnostics not shown",
		                diags->errors + diags->warnings - diags->count);
}

int
chimed_database_status(const struct chimed *d, char *buf, size_t size)
{
	if (d->ledger == NULL)
		return -ENOENT;
	chime_ledger_service_database_status(d->ledger, buf, size);
	return 0;
}

int
chimed_database_up(const struct chimed *d)
{
	if (d->ledger == NULL)
		return -ENOENT;
	return chime_ledger_service_database_up(d->ledger) ? 1 : 0;
}

/* The configuration the ledger's periodic work covers. */
static void
ledger_set_config(struct chimed *d)
{
	if (d->ledger != NULL)
		chime_ledger_service_set_config(d->ledger, d->config);
}

void
chimed_update_status(struct chimed *d)
{
	const struct chime_job_config *job = NULL;
	int64_t next = chime_schedule_next(d->schedule, &job);
	size_t running = chime_runner_running(d->runner);
	char status[sizeof(d->status)], when[64], db[400];

	const char *prefix = d->reload_failed ? "reload failed: see journal; " : "";

	/* Each dispatch changes the running count: one STATUS= (a datagram
	 * to systemd) per tick, after the last dispatch, not one before each
	 * worker starts. */
	if (d->ticking)
		return;
	if (d->stopping)
		snprintf(status, sizeof(status), "stopping, %zu running", running);
	else if (job != NULL) {
		if (chime_time_format(next, job->tz, when, sizeof(when)) < 0)
			snprintf(when, sizeof(when), "%" PRId64, next);
		snprintf(status, sizeof(status), "%s%zu jobs, next '%s' at %s, %zu running", prefix,
		         d->config->n_jobs, job->name, when, running);
	} else
		snprintf(status, sizeof(status), "%s%zu jobs, nothing scheduled, %zu running",
		         prefix, d->config->n_jobs, running);
	if (chimed_database_status(d, db, sizeof(db)) == 0)
		snprintf(status + strlen(status), sizeof(status) - strlen(status), ", %s", db);
	if (strcmp(status, d->status) == 0)
		return;
	memcpy(d->status, status, sizeof(status));
	chime_notify_status("%s", status);
}

static void
rearm(struct chimed *d)
{
	int r = chimed_wall_timer_arm(&d->timer, chime_schedule_next(d->schedule, NULL));

	if (r < 0)
		chime_log_error("cannot arm the schedule timer: %s", strerror(-r));
}

void
chimed_tick(struct chimed *d)
{
	struct chime_due due;
	int r;

	d->ticking = true;
	while (!d->stopping && chime_schedule_pop_due(d->schedule, &due) == 1) {
		if (due.skipped > 0)
			chime_log_run(
			        CHIME_LOG_NOTICE,
			        &(struct chime_log_run){
			                .job = due.job->name,
			                .plugin = due.job->plugin_name,
			                .scheduled_for_usec = due.slot.instant_usec,
			                .status = chime_run_status_name(CHIME_RUN_SKIPPED),
			                .message_id = CHIME_MESSAGE_RUN_SKIPPED},
			        "%u missed slot%s skipped (clock jump or stall), misfire policy",
			        due.skipped, due.skipped == 1 ? "" : "s");
		r = chime_runner_dispatch(d->runner, d->config, due.job, &due.slot,
		                          due.previous_usec);
		if (r < 0 && r != -ESHUTDOWN)
			chime_log_error("job '%s': cannot dispatch: %s", due.job->name,
			                strerror(-r));
	}
	if (!d->stopping)
		rearm(d);
	d->ticking = false;
	chimed_update_status(d);
}

/* @reboot: once when the daemon starts, with "now" as the slot. */
static void
fire_reboot_jobs(struct chimed *d)
{
	int64_t now = chime_clock_wall_usec();

	for (size_t i = 0; i < d->config->n_jobs; i++) {
		const struct chime_job_config *job = d->config->jobs[i];
		struct chime_slot slot = {.instant_usec = now};
		int64_t sec = now / 1000000;

		if (!job->enabled || job->expr == NULL ||
		    chime_expr_kind(job->expr) != CHIME_EXPR_REBOOT)
			continue;
		if (job->tz != NULL)
			slot.local_usec = chime_tz_to_local(job->tz, sec) * 1000000 + now % 1000000;
		else
			slot.local_usec = now;
		(void)chime_runner_dispatch(d->runner, d->config, job, &slot, INT64_MIN);
	}
}

int
chimed_start(struct chimed *d)
{
	struct chime_schedule_diff diff;
	int r;

	r = chime_schedule_reload(d->schedule, d->config, &diff);
	if (r < 0)
		return r;
	ledger_set_config(d);
	chime_log_info("started: %zu jobs from '%s', %zu on a timer", d->config->n_jobs,
	               d->config_path, chime_schedule_count(d->schedule));
	fire_reboot_jobs(d);
	chimed_tick(d);
	return 0;
}

/* For the control socket's reload reply (d->reload_diags). */
static void
copy_diags(struct chimed *d, const struct chime_diag_list *diags)
{
	for (size_t i = 0; d->reload_diags != NULL && i < diags->count; i++) {
		const struct chime_diag *x = &diags->items[i];

		(void)chime_diag_add(d->reload_diags, x->severity, x->file, x->line, x->column,
		                     x->path, "%s", x->message);
	}
}

void
chimed_reload(struct chimed *d)
{
	struct chime_config *config = NULL;
	struct chime_schedule_diff diff;
	struct chime_diag_list diags;
	int r;

	if (d->stopping)
		return;
	chime_notify_reloading();
	chime_log_info("reloading configuration from '%s'", d->config_path);
	chime_diag_list_init(&diags);
	r = chime_config_load(d->config_path, &d->hooks, &diags, &config);
	if (r < 0) {
		chimed_log_diags(&diags);
		copy_diags(d, &diags);
		chime_log_run(
		        CHIME_LOG_ERR,
		        &(struct chime_log_run){.message_id = CHIME_MESSAGE_RELOAD,
		                                .status = "failed"},
		        "reload failed: %zu error%s in '%s', keeping the running configuration",
		        diags.errors, diags.errors == 1 ? "" : "s", d->config_path);
		chime_diag_list_done(&diags);
		/* The failure stays in STATUS= until a reload succeeds. */
		d->reload_failed = true;
		chime_notify_ready_status("reload failed: see journal");
		d->status[0] = '\0';
		chimed_update_status(d);
		return;
	}
	/* Keys that need a restart keep their running value (the runner and
	 * database were set up with it); say so. */
	chime_config_restart_changes(d->config, config, &diags);
	chimed_log_diags(&diags);
	copy_diags(d, &diags);
	chime_diag_list_done(&diags);

	r = chime_schedule_reload(d->schedule, config, &diff);
	if (r < 0)
		chime_log_error("reload: re-arming the schedule: %s", strerror(-r));
	/* Runs in flight hold their own reference to the old config. */
	chime_config_unref(d->config);
	d->config = config;
	ledger_set_config(d);
	chime_log_run(CHIME_LOG_INFO, &(struct chime_log_run){.message_id = CHIME_MESSAGE_RELOAD},
	              "reloaded: %zu jobs (%zu kept, %zu changed, %zu added, %zu removed)",
	              config->n_jobs, diff.kept, diff.changed, diff.added, diff.removed);
	rearm(d);
	d->reload_failed = false;
	d->status[0] = '\0';
	chimed_update_status(d);
	chime_notify_ready();
}

static void
close_all(struct chimed *d)
{
	chimed_control_close(d);
	chimed_metrics_close(d);
	uv_close((uv_handle_t *)&d->sighup, NULL);
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sigint, NULL);
	uv_close((uv_handle_t *)&d->watchdog, NULL);
	chimed_wall_timer_close(&d->timer);
	/* The service first: it drives the runner, whose runs are over. */
	chime_ledger_service_close(d->ledger);
	d->ledger = NULL;
	chime_runner_close(d->runner);
	d->runner = NULL;
}

static void
drained_cb(void *userdata)
{
	struct chimed *d = userdata;
	size_t left = chime_runner_running(d->runner);

	if (left > 0) {
		/* Threads that ignore cancellation die with the process. */
		chime_log_error("%zu run%s did not stop after cancellation, exiting anyway", left,
		                left == 1 ? "" : "s");
		d->exit_code = CHIMED_EXIT_FAILURE;
		uv_stop(d->loop);
		return;
	}
	chime_log_info("stopped");
	close_all(d);
}

void
chimed_stop(struct chimed *d, int signum)
{
	char span[32];
	size_t running;

	if (d->stopping) {
		chime_log_warning("%s again: exiting at once, abandoning %zu run%s",
		                  strsignal(signum), chime_runner_running(d->runner),
		                  chime_runner_running(d->runner) == 1 ? "" : "s");
		_exit(CHIMED_EXIT_FAILURE);
	}
	d->stopping = true;
	chime_notify_stopping();
	running = chime_runner_running(d->runner);
	chime_timespan_format(d->config->shutdown_timeout_usec, span, sizeof(span));
	if (running > 0)
		chime_log_notice("%s: stopping, waiting up to %s for %zu run%s", strsignal(signum),
		                 span, running, running == 1 ? "" : "s");
	else
		chime_log_notice("%s: stopping", strsignal(signum));
	chimed_wall_timer_arm(&d->timer, CHIME_NEVER);
	chime_runner_drain(d->runner, d->config->shutdown_timeout_usec, drained_cb, d);
}
