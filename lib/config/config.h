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
#include <stdio.h>

#include "cron.h"
#include "diag.h"
#include "node.h"

struct chime_tz;
struct chime_tz_cache;
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

/*
 * Leases (docs/design.md, "Leases and self-fencing"): a node renews each
 * claim every lease / CHIME_LEASE_HEARTBEATS, cancels its own run once its
 * last renewal is older than the lease minus one such period, and another
 * node recovers the claim only after the lease plus one period. The
 * shortest lease keeps that period at 500 ms.
 */
#define CHIME_LEASE_HEARTBEATS 4
#define CHIME_LEASE_MIN_USEC   (INT64_C(2) * 1000000)

enum chime_lost_policy {
	CHIME_LOST_AUTO, /* rerun if the plugin says it is idempotent, else fail */
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
	const char *file;      /* where the job is defined; owned by the config */
	unsigned line, column; /* of the job's name in `file` */

	char *schedule;          /* the expression text */
	struct chime_expr *expr; /* compiled */
	struct chime_tz *tz;     /* the job's zone (a reference): the expression's own zone,
	                          * else `timezone:` of the job, else the global one */
	struct chime_expr_options expr_options;
	bool days_set; /* `days:` given explicitly */

	char *plugin_name;                 /* "sql", "exec", ...; or the .so's name */
	char *plugin_path;                 /* `plugin_path:`, or NULL for built-ins */
	const struct chime_node *options;  /* `options:` subtree, or NULL; owned by the config */
	const struct chime_plugin *plugin; /* resolved by the hooks, or NULL */
	void *plugin_state;                /* from configure(); released with the config */

	int64_t timeout_usec; /* 0: no timeout */
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
	/* The on_lost value node that applies (the job's, or defaults'), for
	 * diagnostics of the plugin host; NULL when not given. Owned by the
	 * config. */
	const struct chime_node *on_lost_node;
	bool enabled;

	/* Hash of everything above that defines the job (name, schedule,
	 * zone, days/dst, plugin, options, policies, enabled), not of its
	 * place in the files: a reload keeps the next slot and running run of
	 * a job whose fingerprint is unchanged. */
	uint64_t fingerprint;

	bool hooked; /* internal: check_job() was called, release_job() is due */
};

struct chime_database_config {
	char *conninfo;      /* libpq conninfo or URI; "" = libpq's environment */
	char *password_file; /* ${VAR} expanded; read at connect time; NULL = none */
	int pool;            /* connections for runs */
	int64_t connect_timeout_usec;
};

/*
 * Hooks let the caller resolve plugins without config.c knowing about
 * dlopen: check_job() is called for each job that parsed cleanly; it sets
 * job->plugin and job->plugin_state (calling the plugin's configure()) or
 * adds diagnostics and returns a negative errno. release_job() undoes it,
 * also what a failed check_job() set in part: the config calls it from
 * chime_config_unref() (or when the load fails) for every job it gave to
 * check_job(), so `userdata` must outlive every config loaded with the
 * hooks (chime/plugin_host.h provides them).
 */
struct chime_config_hooks {
	int (*check_job)(struct chime_job_config *job, struct chime_diag_list *diags,
	                 void *userdata);
	void (*release_job)(struct chime_job_config *job, void *userdata);
	void *userdata;
};

struct chime_config {
	unsigned refcount;
	char *path;          /* the main file */
	char *timezone;      /* default zone name */
	struct chime_tz *tz; /* default zone */
	char *node;          /* this daemon's name in the ledger */
	struct chime_database_config database;
	int64_t shutdown_timeout_usec;
	char *control_socket;           /* NULL: no control socket (`control_socket: ""`) */
	char *metrics_listen;           /* "127.0.0.1:9187" or NULL (off) */
	struct chime_job_config **jobs; /* sorted by name */
	size_t n_jobs;

	/* Internals: the node trees (one per file, main file first), the
	 * files loaded (main file, then the drop-ins in order), the zone cache
	 * and the hooks used to load (a copy). */
	struct chime_node **trees;
	size_t n_trees;
	char **files;
	size_t n_files;
	struct chime_tz_cache *tz_cache;
	struct chime_config_hooks hooks;
	bool has_hooks;
};

/*
 * Load `path` and its drop-ins. `hooks` may be NULL (no plugin checks
 * beyond the name syntax); they are copied. Returns 0 and a new reference
 * in *ret_config, or a negative errno with every problem in `diags`
 * (*ret_config untouched): -ENOENT/-EISDIR/-EACCES... when the main file
 * cannot be read, -EINVAL when it is invalid. Warnings may be added on
 * success (e.g. a crontab line restricting both day fields without
 * `days:`). Reads the files, the zone database, the environment (for
 * ${VAR} in `password_file`) and the host name; never logs.
 */
int chime_config_load(const char *path, const struct chime_config_hooks *hooks,
                      struct chime_diag_list *diags, struct chime_config **ret_config);
/*
 * The same for `len` bytes of `text`, named `name` in diagnostics; an
 * `include:` is resolved relative to the directory of `name`. For tests
 * and the fuzzer.
 */
int chime_config_parse_string(const char *name, const char *text, size_t len,
                              const struct chime_config_hooks *hooks, struct chime_diag_list *diags,
                              struct chime_config **ret_config);

struct chime_config *chime_config_ref(struct chime_config *config);
/* Drop a reference; the last one releases plugin state through the hooks'
 * release_job() and frees everything. NULL-safe, returns NULL. */
struct chime_config *chime_config_unref(struct chime_config *config);

/* The job named `name`, or NULL. Borrowed from `config`. */
const struct chime_job_config *chime_config_find_job(const struct chime_config *config,
                                                     const char *name);

/*
 * Every key path the loader accepts, as a new NULL-terminated array of
 * strings ("timezone", "database.pool", "defaults.retry.attempts",
 * "jobs.NAME.schedule", ...) generated from the key table; the caller frees
 * it with chime_config_keys_free(). NULL on OOM. (A test checks that
 * chime.yaml(5) documents every one.)
 */
char **chime_config_keys(void);
char **chime_config_keys_free(char **keys); /* NULL-safe, returns NULL */
/* True when key path `path` (as listed by chime_config_keys()) takes
 * effect only after a restart, false when a reload applies it. */
bool chime_config_key_needs_restart(const char *path);

/*
 * Compare two configs (the running one and a reloaded one) and add a
 * warning to `diags` for every key that needs a restart and changed
 * ("node: changed, takes effect after a restart"). Returns the number of
 * such keys. The caller decides what to keep. Never logs.
 */
int chime_config_restart_changes(const struct chime_config *old_config,
                                 const struct chime_config *new_config,
                                 struct chime_diag_list *diags);

/*
 * What `chimed --check` and `chimectl check FILE` do: load `path` with
 * `hooks` (NULL: no plugin checks) and print either every diagnostic
 * (errors and warnings, one per line, to `err`) or the warnings (to `err`)
 * followed by "configuration OK" (to `out`). Returns 0 when the
 * configuration is valid, else a negative errno. Prints, never logs.
 */
int chime_config_check_file(const char *path, const struct chime_config_hooks *hooks, FILE *out,
                            FILE *err);

#endif
