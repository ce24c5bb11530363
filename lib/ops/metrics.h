/* SPDX-License-Identifier: MIT */
/*
 * The daemon's metrics: run counters and histograms per job, gauges the
 * loop publishes (database up, jobs, runs in flight, last success and
 * expect state per job), formatted as Prometheus text, and the health
 * verdict /healthz serves.
 *
 * The loop thread writes (chime_metrics_run_finished(),
 * chime_metrics_publish()); the HTTP server's thread reads
 * (chime_metrics_format(), chime_metrics_health()). One mutex guards the
 * whole snapshot and is held only to copy or format it, never across I/O,
 * so the loop never waits on a slow scraper. Never logs.
 */
#ifndef CHIME_METRICS_H
#define CHIME_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "run-status.h"

struct chime_metrics;

/* What the loop publishes about each job of the running config. */
struct chime_metrics_job {
	const char *name;          /* copied */
	int64_t last_success_usec; /* UTC; INT64_MIN: unknown */
	bool expect_set;           /* the job has `expect:` */
	bool expect_violated;      /* no success within `expect:` */
};

struct chime_metrics_state {
	int database_up;       /* 1 up, 0 down or not yet, -1 no database configured */
	char db_reason[256];   /* why it is down ("" when up) */
	size_t jobs;           /* jobs in the running config */
	size_t in_flight;      /* live runs */
	int64_t now_mono_usec; /* when published (CLOCK_MONOTONIC) */
};

/* Returns 0 and a new registry, or -ENOMEM. */
int chime_metrics_new(const char *version, struct chime_metrics **ret_metrics);
struct chime_metrics *chime_metrics_free(struct chime_metrics *metrics); /* NULL-safe */

/*
 * A run of `job` ended with `status` (SUCCEEDED, FAILED, TIMED_OUT,
 * CANCELLED, SKIPPED; others are ignored). `duration_usec` < 0 and
 * `lateness_usec` == INT64_MIN leave the histograms alone (a skipped run,
 * a manual one). Returns 0 or -ENOMEM.
 */
int chime_metrics_run_finished(struct chime_metrics *metrics, const char *job,
                               enum chime_run_status status, int64_t duration_usec,
                               int64_t lateness_usec);

/* Replace the published gauges and per-job state with `state` and the
 * `n_jobs` entries of `jobs` (copied). Returns 0 or -ENOMEM (the old
 * snapshot stays). */
int chime_metrics_publish(struct chime_metrics *metrics, const struct chime_metrics_state *state,
                          const struct chime_metrics_job *jobs, size_t n_jobs);

/* The Prometheus text exposition (version 0.0.4) as a new string in
 * *ret_text (free()) of *ret_len bytes. 0 or -ENOMEM. Any thread. */
int chime_metrics_format(struct chime_metrics *metrics, char **ret_text, size_t *ret_len);

/*
 * The /healthz verdict at `now_mono_usec`: true when a snapshot was
 * published within `max_age_usec` and the database is up (or none is
 * configured); otherwise false with the reason in `reason`. Any thread.
 */
bool chime_metrics_healthy(struct chime_metrics *metrics, int64_t now_mono_usec,
                           int64_t max_age_usec, char *reason, size_t size);

#endif
