/* SPDX-License-Identifier: MIT */
/*
 * The configuration: chime.yaml plus `include:` drop-ins, loaded with
 * libyaml into an immutable, reference-counted struct. Every error is a
 * diagnostic "file:line:col: error: key.path: message"; all are collected
 * before failing; unknown keys are errors. Reload builds a new config and
 * swaps it in; runs in flight keep a reference to the old job definition.
 * Pure: never logs, touches no globals.
 */
#ifndef CHIME_CONFIG_H
#define CHIME_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chime/cron.h"
#include "chime/diag.h"
#include "chime/node.h"

struct chime_tz;
struct chime_plugin;

enum chime_overlap_policy {
	CHIME_OVERLAP_SKIP,    /* a slot due while the job runs anywhere is recorded skipped */
	CHIME_OVERLAP_QUEUE,   /* it runs after the current run */
	CHIME_OVERLAP_REPLACE, /* the current run is cancelled */
};

enum chime_misfire_policy {
	CHIME_MISFIRE_SKIP,     /* slots missed while down are recorded skipped */
	CHIME_MISFIRE_RUN_ONCE, /* only the newest missed slot runs */
	CHIME_MISFIRE_RUN_ALL,  /* each missed slot runs, oldest first */
};

enum chime_lost_policy {
	CHIME_LOST_AUTO,   /* rerun if the plugin says it is idempotent, else fail */
	CHIME_LOST_RERUN,
	CHIME_LOST_FAIL,
};

struct chime_retry_policy {
	int attempts; /* total attempts including the first; 1 = no retry */
	int64_t backoff_usec;
	int64_t max_backoff_usec;
};

struct chime_job_config {
	char *name;
	const char *file; /* where the job is defined; owned by the config */
	unsigned line, column;

	char *schedule;           /* the expression text */
	struct chime_expr *expr;  /* compiled */
	struct chime_tz *tz;      /* the job's zone (a reference) */
	struct chime_expr_options expr_options;
	bool days_set; /* `days:` given explicitly */

	char *plugin_name;              /* "sql", "exec", ...; or the .so's name */
	char *plugin_path;              /* `plugin_path:`, or NULL for built-ins */
	const struct chime_node *options; /* `options:` subtree, or NULL; owned by the config */
	const struct chime_plugin *plugin; /* resolved by the hooks, or NULL */
	void *plugin_state;                /* from configure(); released with the config */

	int64_t timeout_usec;
	enum chime_overlap_policy overlap;
	enum chime_misfire_policy misfire;
	int64_t catchup_window_usec;
	int max_catchup;
	struct chime_retry_policy retry;
	int64_t jitter_usec;
	int64_t expect_usec;  /* 0: no alarm */
	int64_t history_usec; /* ledger retention for this job */
	int64_t lease_usec;   /* a running claim not heartbeated this long is lost */
	enum chime_lost_policy on_lost;
	bool enabled;

	/* Hash of everything above that defines the job: a reload keeps the
	 * next slot and running run of a job whose fingerprint is unchanged. */
	uint64_t fingerprint;
};

struct chime_database_config {
	char *conninfo;      /* libpq conninfo or URI; "" = libpq's environment */
	char *password_file; /* read at connect time; NULL = none */
	int pool;            /* connections for runs */
	int64_t connect_timeout_usec;
};

struct chime_config {
	unsigned refcount;
	char *path;            /* the main file */
	char *timezone;        /* default zone name */
	struct chime_tz *tz;   /* default zone */
	char *node;            /* this daemon's name in the ledger */
	struct chime_database_config database;
	int64_t shutdown_timeout_usec;
	char *control_socket;  /* NULL: no control socket */
	char *metrics_listen;  /* "127.0.0.1:9187" or NULL (off) */
	struct chime_job_config **jobs; /* sorted by name */
	size_t n_jobs;

	/* Internals: the node trees (one per file) and the zone cache. */
	struct chime_node **trees;
	size_t n_trees;
	char **files;
	size_t n_files;
	struct chime_tz_cache *tz_cache;
	void (*release_state)(struct chime_job_config *job); /* set by hooks */
};

/*
 * Hooks let the caller resolve plugins without config.c knowing about
 * dlopen: check_job() is called for each job that parsed cleanly; it sets
 * job->plugin and job->plugin_state (calling the plugin's configure()) or
 * adds diagnostics and returns a negative errno. release_job() undoes it.
 */
struct chime_config_hooks {
	int (*check_job)(struct chime_job_config *job, struct chime_diag_list *diags,
			 void *userdata);
	void (*release_job)(struct chime_job_config *job, void *userdata);
	void *userdata;
};

/*
 * Load `path` and its drop-ins. `hooks` may be NULL (no plugin checks
 * beyond the name syntax). `overrides` may be NULL; it names values the
 * environment forces (none yet). Returns 0 and a new reference in
 * *ret_config, or a negative errno with every problem in `diags`
 * (*ret_config untouched). Warnings may be added on success. Never logs.
 */
int chime_config_load(const char *path, const struct chime_config_hooks *hooks,
		      struct chime_diag_list *diags, struct chime_config **ret_config);

struct chime_config *chime_config_ref(struct chime_config *config);
struct chime_config *chime_config_unref(struct chime_config *config); /* NULL-safe */

/* The job named `name`, or NULL. Borrowed from `config`. */
const struct chime_job_config *chime_config_find_job(const struct chime_config *config,
						     const char *name);

#endif
