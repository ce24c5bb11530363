/* SPDX-License-Identifier: MIT */
/*
 * The chime plugin ABI: the only header a plugin includes.
 *
 * A plugin is a `struct chime_plugin` descriptor. Built-in plugins are
 * linked into libchime and listed in one table; a third-party plugin is a
 * shared object named by `plugin_path:` in the YAML that exports
 * `chime_plugin_entry()`, loaded with dlopen(RTLD_NOW | RTLD_LOCAL) and
 * checked for `abi_version` and `struct_size` before use.
 *
 * Life of a plugin for one job:
 *   configure()  on the loop thread at load and reload time; validates the
 *                job's `options:` and returns private state. Every bad option
 *                is a diagnostic (chime_node_error()), so `chimectl check`
 *                catches plugin mistakes with file:line:col.
 *   run()        on a worker thread, once per run, with a database
 *                connection of its own; may block; must check
 *                chime_run_cancelled() between units of work.
 *   release()    when the job definition is dropped (reload, shutdown).
 *   check()      optional, from `chimectl check` when the database is
 *                reachable: read-only checks of the job against it.
 *
 * Rules every plugin keeps: parameterised SQL only (identifiers quoted with
 * PQescapeIdentifier), each unit of work in its own transaction that calls
 * chime_run_fence() before it commits, safe to run twice on the same slot,
 * and a report of what it changed.
 */
#ifndef CHIME_PLUGIN_H
#define CHIME_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CHIME_PLUGIN_ABI_VERSION 1 /* bumped only on an incompatible change */

#if defined(__GNUC__)
#define CHIME_EXPORT       __attribute__((visibility("default")))
#define CHIME_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CHIME_EXPORT
#define CHIME_PRINTF(a, b)
#endif

struct chime_node;      /* read-only view of a YAML node (the job's `options:`) */
struct chime_run;       /* one run: connection, slot, dry-run, cancel, log, report */
struct chime_diag_list; /* where configure() puts its diagnostics */

struct chime_plugin {
	uint32_t abi_version; /* CHIME_PLUGIN_ABI_VERSION; first field forever */
	uint32_t struct_size; /* sizeof(struct chime_plugin) as the plugin saw it */
	const char *name;     /* "expiration"; [a-z0-9_]+ */
	/* Validate `options` (a mapping, or NULL when the job has none) and
	 * return private state in *ret_state. Returns 0, or a negative errno
	 * after adding at least one diagnostic. Never logs. */
	int (*configure)(const struct chime_node *options, struct chime_diag_list *diags,
	                 void **ret_state);
	/* Do the work of one run. Returns 0 on success or a negative errno;
	 * on failure set the reason with chime_run_fail(). May block. */
	int (*run)(void *state, struct chime_run *run);
	/* Free the state returned by configure(); NULL-safe. */
	void (*release)(void *state);
	/* Since ABI 1: true when re-running a slot after a lost claim (the
	 * node died mid-run) is safe; false marks such a run failed instead. */
	bool idempotent;
	/* Since ABI 1 (read only when struct_size covers it): verify the job
	 * against the live database (tables, columns, triggers) without
	 * changing anything; add diagnostics placed at the option nodes
	 * (chime_node_error/warning). `conn` is inside a transaction the
	 * caller rolls back, with a short statement_timeout. `job` and
	 * `timezone` are the job's name and IANA zone (what chime_run_job()
	 * and chime_run_timezone() give a run). Called by `chimectl check` on
	 * the state configure() returned. Returns 0 or a negative errno.
	 * Optional (NULL: nothing to check). */
	int (*check)(void *state, PGconn *conn, const char *job, const char *timezone,
	             const struct chime_node *options, struct chime_diag_list *diags);
	/* Since ABI 1 (read only when struct_size covers it): true when run()
	 * needs the database connection (chime_run_db()); `chimectl check`
	 * then rejects the job in a configuration without a `database:`
	 * section. False (or an older plugin): no such check. */
	bool needs_database;
	/* Since ABI 1 (read only when struct_size covers it): true when
	 * every unit transaction of run() calls chime_run_fence() before it
	 * commits, so a run whose claim another node recovered changes
	 * nothing more. `on_lost: rerun` is accepted for a plugin that
	 * fences or may be re-run (idempotent, rerun_safe()). */
	bool fences;
	/* Since ABI 1 (read only when struct_size covers it): true when
	 * run() does all its work in one fenced transaction on
	 * chime_run_db() that ends with chime_run_record_succeeded() before
	 * COMMIT: the effect and the `succeeded` row commit together, so a
	 * lost run did nothing and is re-run (exactly once) by `on_lost:
	 * auto`. */
	bool records_in_transaction;
	/* Since ABI 1 (read only when struct_size covers it): per job, true
	 * when re-running a lost run is safe for the job configure() made
	 * `state` for (exec's `idempotent: true` option); overrides
	 * `idempotent` for that job. Optional (NULL: `idempotent`). */
	bool (*rerun_safe)(const void *state);
	/* Since ABI 1 (read only when struct_size covers it): install, now
	 * and committed, what check() warns is missing and run() would
	 * install itself at its next run (expiration's on_save trigger), for
	 * `chimectl check --apply`. `conn` is in autocommit state. Describes
	 * what it did in `done` (one line, left empty when nothing was
	 * missing); problems are diagnostics as in check(). Returns 0 or a
	 * negative errno. Optional (NULL: nothing to install). */
	int (*apply)(void *state, PGconn *conn, const char *job, const char *timezone,
	             const struct chime_node *options, struct chime_diag_list *diags, char *done,
	             size_t done_size);
};

/*
 * The head of every descriptor: the ABI version and struct size this header
 * defines, then the name and the three life-cycle functions. A plugin that
 * starts its descriptor with it cannot forget struct_size or take it from
 * another header; the optional fields follow as designated initializers:
 *
 *   static const struct chime_plugin plugin = {
 *           CHIME_PLUGIN_INIT("sessions", sessions_configure, sessions_run, free),
 *           .idempotent = true,
 *   };
 */
#define CHIME_PLUGIN_INIT(plugin_name, configure_fn, run_fn, release_fn)                           \
	.abi_version = CHIME_PLUGIN_ABI_VERSION, .struct_size = sizeof(struct chime_plugin),       \
	.name = (plugin_name), .configure = (configure_fn), .run = (run_fn),                       \
	.release = (release_fn)

/* The one symbol a plugin .so exports. */
CHIME_EXPORT const struct chime_plugin *chime_plugin_entry(void);

/* ---- Options: the YAML under the job's `options:` key ---------------- */

enum chime_node_kind {
	CHIME_NODE_SCALAR,
	CHIME_NODE_SEQUENCE,
	CHIME_NODE_MAPPING,
};

CHIME_EXPORT enum chime_node_kind chime_node_kind(const struct chime_node *node);
/* The value of a scalar node, or NULL for other kinds. Borrowed. */
CHIME_EXPORT const char *chime_node_scalar(const struct chime_node *node);
/* The value under `key` of a mapping node, or NULL when absent/not a map. */
CHIME_EXPORT const struct chime_node *chime_node_get(const struct chime_node *map, const char *key);
/* Number of items of a sequence, or of key/value pairs of a mapping. */
CHIME_EXPORT size_t chime_node_count(const struct chime_node *node);
/* The i-th item of a sequence, or the i-th value of a mapping. */
CHIME_EXPORT const struct chime_node *chime_node_at(const struct chime_node *node, size_t i);
/* The key of the i-th pair of a mapping, or NULL. */
CHIME_EXPORT const char *chime_node_key_at(const struct chime_node *node, size_t i);

/*
 * Add an error diagnostic placed at `node` ("file:line:col: error:
 * jobs.NAME.options.KEY: message"). Returns -EINVAL so callers can write
 * `return chime_node_error(...)`.
 */
CHIME_EXPORT int chime_node_error(struct chime_diag_list *diags, const struct chime_node *node,
                                  const char *fmt, ...) CHIME_PRINTF(3, 4);
CHIME_EXPORT int chime_node_warning(struct chime_diag_list *diags, const struct chime_node *node,
                                    const char *fmt, ...) CHIME_PRINTF(3, 4);

/*
 * Typed getters for the common case. Each looks up `key` in mapping `map`;
 * when absent it stores `def` and returns 0; when present and valid it
 * stores the value and returns 0; when present and malformed it adds a
 * diagnostic naming the key and returns -EINVAL (the out-param untouched).
 * Strings are borrowed from the node tree, valid while the job is loaded.
 */
CHIME_EXPORT int chime_node_get_string(const struct chime_node *map, const char *key,
                                       const char *def, struct chime_diag_list *diags,
                                       const char **ret);
CHIME_EXPORT int chime_node_get_int(const struct chime_node *map, const char *key, int64_t min,
                                    int64_t max, int64_t def, struct chime_diag_list *diags,
                                    int64_t *ret);
CHIME_EXPORT int chime_node_get_bool(const struct chime_node *map, const char *key, bool def,
                                     struct chime_diag_list *diags, bool *ret);
/* A systemd time span ("30s", "5min", "1h 30min"), in microseconds. */
CHIME_EXPORT int chime_node_get_duration(const struct chime_node *map, const char *key,
                                         int64_t def_usec, struct chime_diag_list *diags,
                                         int64_t *ret_usec);
/* An SQL identifier ([A-Za-z_][A-Za-z0-9_$]*, at most 63 bytes, optionally
 * schema-qualified as "schema.name"); quoting is still the plugin's job. */
CHIME_EXPORT int chime_node_get_identifier(const struct chime_node *map, const char *key,
                                           const char *def, struct chime_diag_list *diags,
                                           const char **ret);
/* Report every key of `map` not listed in the NULL-terminated `known`. */
CHIME_EXPORT int chime_node_check_keys(const struct chime_node *map, const char *const *known,
                                       struct chime_diag_list *diags);

/* ---- The run context (valid only during run()) ----------------------- */

/*
 * Fencing (docs/design.md, "Fencing effects"). Call chime_run_fence() in
 * each unit transaction on chime_run_db(), after BEGIN and before COMMIT
 * (best: first): it proves in that transaction that the run's ledger row
 * is still this node's live claim, and holds the row against recovery
 * by another node until the transaction ends. A negative errno means the
 * claim is gone (recovered while this node stalled, or its lease ran
 * out): the reason is already set and stays the run's, the run is
 * cancelled (chime_run_cancelled()) and fails whatever run() returns;
 * ROLLBACK, stop, and return the value. A fenced transaction must not sit
 * idle longer
 * than the job's lease: the server then rolls it back (the node may be
 * stopped), and COMMIT fails. Without a ledger (no `database:` ledger,
 * a dry run, `chimectl run` without a row) both calls below succeed
 * doing nothing: no other node can recover such a run.
 */
CHIME_EXPORT int chime_run_fence(struct chime_run *run, PGconn *conn);
/*
 * Write the run's `succeeded` row, with the report as it is now, in the
 * current (fenced) transaction on `conn`: the work and its record commit
 * or roll back together (records_in_transaction). Call it last, just
 * before COMMIT; when COMMIT then fails, fail the run as usual. Returns 0
 * or a negative errno with the reason set.
 */
CHIME_EXPORT int chime_run_record_succeeded(struct chime_run *run, PGconn *conn);

/* This run's own connection, in autocommit state with no open
 * transaction; statement_timeout is already set to the job's timeout. */
CHIME_EXPORT PGconn *chime_run_db(struct chime_run *run);
/* The nominal slot instant (UTC microseconds since the epoch). */
CHIME_EXPORT int64_t chime_run_nominal_usec(const struct chime_run *run);
/* The job's previous nominal slot, or INT64_MIN when there is none. A run
 * may process exactly the window [previous, nominal). */
CHIME_EXPORT int64_t chime_run_previous_usec(const struct chime_run *run);
/* The ledger id of this run (0 for a dry run, which is not recorded). */
CHIME_EXPORT int64_t chime_run_id(const struct chime_run *run);
CHIME_EXPORT int chime_run_attempt(const struct chime_run *run);
CHIME_EXPORT const char *chime_run_job(const struct chime_run *run);
/* The job's IANA time zone name ("Europe/Tbilisi"), for SQL AT TIME ZONE. */
CHIME_EXPORT const char *chime_run_timezone(const struct chime_run *run);
/* The name of the node running this run (the `node:` key). */
CHIME_EXPORT const char *chime_run_node(const struct chime_run *run);
/* Dry run: change nothing (roll back), contact no external party, and
 * report what would change. */
CHIME_EXPORT bool chime_run_dry_run(const struct chime_run *run);
/* True once the run was cancelled (timeout, replace, shutdown): stop
 * between units of work, leaving every unit whole. Thread-safe. */
CHIME_EXPORT bool chime_run_cancelled(const struct chime_run *run);
/* Once cancelled: how long the run may take to stop (INT64_MAX: no limit
 * beyond the plugin's own). A node that could not renew its claim cancels
 * its runs with a short grace (about a quarter of the job's lease) so they
 * are stopped before another node may recover the claim: a plugin that
 * waits for children or I/O after a cancel waits at most this long. */
CHIME_EXPORT int64_t chime_run_cancel_grace_usec(const struct chime_run *run);

/* syslog priorities: 3 error, 4 warning, 5 notice, 6 info, 7 debug. The
 * line goes to the journal with the run's fields (CHIME_JOB, ...). */
CHIME_EXPORT void chime_run_log(struct chime_run *run, int priority, const char *fmt, ...)
        CHIME_PRINTF(3, 4);
/* Set the failure reason returned with a negative status from run(). */
CHIME_EXPORT void chime_run_fail(struct chime_run *run, const char *fmt, ...) CHIME_PRINTF(2, 3);

/*
 * The report: what the run changed (or would change, in a dry run). It is
 * printed by `chimectl run` and stored as JSON in the ledger summary:
 *   {"counts": {NAME: N, ...}, "values": {KEY: "TEXT", ...}, "items": ["...", ...]}
 * Counts add up; values are text (use it for numeric money totals); items
 * are one line each ("JOHNS-20 (Agent: John Smith)"), the first
 * CHIME_RUN_ITEMS_MAX kept and the rest counted as dropped, so a plugin
 * may skip building the text of items past that. Thread-safe.
 */
#define CHIME_RUN_ITEMS_MAX 1000

CHIME_EXPORT void chime_run_count(struct chime_run *run, const char *name, int64_t delta);
CHIME_EXPORT void chime_run_value(struct chime_run *run, const char *key, const char *value);
CHIME_EXPORT void chime_run_item(struct chime_run *run, const char *fmt, ...) CHIME_PRINTF(2, 3);

#ifdef __cplusplus
}
#endif

#endif /* CHIME_PLUGIN_H */
