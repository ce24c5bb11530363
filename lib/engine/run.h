/* SPDX-License-Identifier: MIT */
/*
 * The host side of `struct chime_run`: the runner (and `chimectl run`, and
 * plugin tests) create a run context, hand it to a plugin's run(), and read
 * back the failure reason and the report. The plugin side is the accessor
 * set in chime/plugin.h.
 */
#ifndef CHIME_RUN_H
#define CHIME_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "chime/plugin.h"

struct chime_run_params {
	const char *job;      /* copied */
	const char *plugin;   /* copied */
	const char *timezone; /* copied; NULL = "UTC" */
	const char *node;     /* copied; NULL = "" */
	int64_t nominal_usec;
	int64_t previous_usec; /* INT64_MIN when none */
	int64_t run_id;        /* 0 when not recorded (dry run) */
	int attempt;           /* 1-based */
	bool dry_run;
	PGconn *conn; /* borrowed for the run's duration; may be NULL for plugins without SQL */
	/* The host's side of chime_run_fence() and chime_run_record_succeeded()
	 * (the runner passes its ledger stages). NULL: no ledger, both are a
	 * no-op success. Each returns 0 or a negative errno with the reason in
	 * errbuf, on the plugin's worker thread, `conn` inside the plugin's
	 * open transaction. */
	int (*fence)(void *host, PGconn *conn, char *errbuf, size_t errsize);
	int (*record)(void *host, PGconn *conn, const char *summary_json, char *errbuf,
	              size_t errsize);
	void *host;
};

/* Returns a new run context, or NULL on OOM. */
struct chime_run *chime_run_new(const struct chime_run_params *params);
struct chime_run *chime_run_free(struct chime_run *run); /* NULL-safe, returns NULL */

/* Ask the plugin to stop (timeout, replace, shutdown). Thread-safe. */
void chime_run_cancel(struct chime_run *run);
/* The same, and the plugin has at most `grace_usec` to stop (a
 * self-fenced run: chime_run_cancel_grace_usec()). Thread-safe. */
void chime_run_cancel_within(struct chime_run *run, int64_t grace_usec);

/* True once chime_run_record_succeeded() wrote the run's `succeeded`
 * row in the plugin's transaction: when run() returned 0, that
 * transaction committed and the row is final. Thread-safe. */
bool chime_run_recorded(const struct chime_run *run);
/* True once chime_run_fence() found the claim gone: the run is cancelled,
 * its reason is the fence's, and it fails whatever run() returns. */
bool chime_run_fenced(const struct chime_run *run);

/* The reason set by chime_run_fail(), or NULL. Borrowed. */
const char *chime_run_error(const struct chime_run *run);

/* The report as JSON text: {"counts":{},"values":{},"items":[],"items_dropped":N}.
 * Returns a malloc'd string the caller frees, or NULL on OOM. */
char *chime_run_report_json(const struct chime_run *run);
/* The report for humans: counts, values, then one item per line. */
void chime_run_report_print(const struct chime_run *run, FILE *f);
/* Count named `name`, or 0. */
int64_t chime_run_report_count(const struct chime_run *run, const char *name);

#endif
