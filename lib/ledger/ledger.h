/* SPDX-License-Identifier: MIT */
/*
 * The run ledger: schema `chime` in the application's PostgreSQL. Every
 * run of every slot is a row of chime.runs; the unique key (job,
 * slot_local, slot_occurrence, attempt) makes a second run of a slot
 * impossible, whichever node tries. Catch-up after downtime is planned from
 * the ledger (chime_catchup_plan(), pure), not from memory.
 *
 * Slots are keyed by their nominal local wall time plus occurrence (see
 * cron.h), so "at most once per slot" survives DST nights. Times in the
 * rows are the server's clock (now()) for claims, heartbeats and leases,
 * so nodes with skewed clocks still agree on who is lost.
 *
 * Overlap across nodes (the `overlap:` policy) is decided by the node that
 * wins a slot's claim, from the ledger:
 *   skip     the claim itself checks, in the same statement, whether the
 *            job has a live claimed/running row (heartbeat within its
 *            lease) on any node; if so the row is written `skipped`.
 *   queue    the winner waits (heartbeating its claim) until no older live
 *            claim and no running row of the job remain
 *            (chime_ledger_job_busy()), so queued slots run oldest first
 *            across nodes.
 *   replace  the winner sets cancel_requested on the live rows of the job
 *            (chime_ledger_request_cancel()); the node running one sees it
 *            on its next heartbeat and cancels it; the winner then waits as
 *            for queue.
 *
 * Every function here blocks on its connection (worker threads, chimectl),
 * returns 0 or a negative errno as chime__sql_result_errno() maps it, with
 * the server's message in `errbuf` (may be NULL), and never logs.
 */
#ifndef CHIME_LEDGER_H
#define CHIME_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "config.h"
#include "cron.h"
#include "run-status.h"

#define CHIME_LEDGER_SCHEMA_VERSION 2

/*
 * Create or upgrade schema `chime` to CHIME_LEDGER_SCHEMA_VERSION. Cheap
 * when current (one catalog query, no lock, no CREATE privilege needed);
 * otherwise runs every missing migration in one transaction under
 * pg_advisory_xact_lock, so several nodes starting at once are safe.
 * Returns -EPROTO when the database has a newer schema than this binary.
 */
int chime_ledger_migrate(PGconn *conn, char *errbuf, size_t errsize);
/*
 * What chime_ledger_migrate() would do, inside the caller's open
 * transaction (no BEGIN, no COMMIT): `chimectl check` rolls it back to learn
 * whether the role may create or upgrade the schema. Returns 0 when the
 * schema is current or every statement succeeded, else the first error
 * (the transaction is then aborted) with PostgreSQL's message in errbuf.
 */
int chime_ledger_migrate_try(PGconn *conn, char *errbuf, size_t errsize);

/* One slot of a job as the ledger keys it. Strings are borrowed. */
struct chime_ledger_slot {
	const char *job;
	int64_t local_usec;    /* nominal local wall time, civil usec (tz.h) */
	int occurrence;        /* 0, or 1 for the repeat of a fall-back hour */
	int64_t instant_usec;  /* scheduled_for */
	int64_t previous_usec; /* previous_for; INT64_MIN: none */
};

struct chime_ledger_claim {
	const struct chime_ledger_slot *slot;
	int attempt; /* 1 for the first */
	const char *node;
	bool manual; /* chimectl run / trigger */
	int64_t lease_usec;
	bool skip_if_busy; /* overlap: skip (see above) */
	bool start;        /* write the row `running` at once (saves chime_ledger_start()) */
	bool honor_pause;  /* a job in chime.paused gets a `skipped` row ("paused") */
};

/*
 * Claim a slot: INSERT ... ON CONFLICT DO NOTHING RETURNING. Returns 0 with
 * the new row's id in *ret_id and its status (CLAIMED, or RUNNING with
 * `start`, or SKIPPED when skip_if_busy found the job live elsewhere or
 * honor_pause found it paused) in
 * *ret_status (may be NULL); -EEXIST when
 * that (slot, attempt) already has a row: another node or run has it.
 */
int chime_ledger_claim(PGconn *conn, const struct chime_ledger_claim *claim, int64_t *ret_id,
                       enum chime_run_status *ret_status, char *errbuf, size_t errsize);

/* A claimed row starts: status running, started_at and heartbeat now.
 * -ESTALE when the row is no longer claimed (recovered as lost). */
int chime_ledger_start(PGconn *conn, int64_t id, char *errbuf, size_t errsize);

/*
 * Heartbeat the live rows `ids` (claimed or running). On return
 * *ret_n_cancel ids that must stop are in ret_cancel (room for n_ids):
 * those whose cancellation another node requested (replace) and those no
 * longer live (recovered as lost by another node). Returns 0 or a
 * negative errno.
 */
int chime_ledger_heartbeat(PGconn *conn, const int64_t *ids, size_t n_ids, int64_t *ret_cancel,
                           size_t *ret_n_cancel, char *errbuf, size_t errsize);

/*
 * Record the outcome of a live row: `status` (SUCCEEDED, FAILED, TIMED_OUT,
 * CANCELLED, SKIPPED), `summary_json` (may be NULL) and `error` (may be
 * NULL). -ESTALE when the row is not live any more (another node recovered
 * it as lost meanwhile; the outcome is then not recorded).
 */
int chime_ledger_finish(PGconn *conn, int64_t id, enum chime_run_status status,
                        const char *summary_json, const char *error, char *errbuf, size_t errsize);

/*
 * The fence (docs/design.md, "Fencing effects"), on a run's own connection
 * inside the plugin's open unit transaction: 0 when run `id` is still
 * node `node`'s running claim within its lease, and then the run is held
 * against recovery (its advisory lock, shared) until the transaction ends
 * (and the server rolls the transaction back once it idles longer than
 * the lease). -ESTALE with the
 * reason ("fenced: run N is no longer this node's claim (...)") when it is
 * not; another negative errno when the statement failed.
 */
int chime_ledger_fence(PGconn *conn, int64_t id, const char *node, char *errbuf, size_t errsize);

/*
 * A run's outcome when its row `id` is gone altogether (its claim was
 * committed on a primary whose asynchronous standby was promoted before
 * receiving it): recorded on a new row for claim->slot and
 * claim->attempt, so the slot keeps one final row. 0 when inserted,
 * -ESTALE when row `id` exists or the slot's attempt has a row again.
 */
int chime_ledger_record_vanished(PGconn *conn, const struct chime_ledger_claim *claim, int64_t id,
                                 enum chime_run_status status, const char *summary_json,
                                 const char *error, char *errbuf, size_t errsize);

/*
 * A run's outcome when chime_ledger_finish() said -ESTALE: when another
 * node recovered the row as lost while this node (`node`) still worked,
 * record on it what really happened (succeeded late, or why the run
 * ended). 0 when the row was amended, -ESTALE when it was not such a row
 * (already final otherwise, or amended before).
 */
int chime_ledger_finish_late(PGconn *conn, int64_t id, const char *node,
                             enum chime_run_status status, const char *summary_json,
                             const char *error, char *errbuf, size_t errsize);

/* Write a `skipped` row for a slot with its reason ("misfire", "overlap",
 * "paused"). 0 with *ret_id (may be NULL), or -EEXIST when the slot has a
 * row already. */
int chime_ledger_record_skipped(PGconn *conn, const struct chime_ledger_slot *slot,
                                const char *node, const char *reason, int64_t *ret_id, char *errbuf,
                                size_t errsize);

/* The latest row of a slot (highest attempt). -ENOENT when none. */
struct chime_ledger_row {
	int64_t id;
	int attempt;
	enum chime_run_status status;
	char node[64];
	int64_t instant_usec;
	int64_t local_usec;
	int occurrence;
};
int chime_ledger_slot_latest(PGconn *conn, const char *job, int64_t local_usec, int occurrence,
                             struct chime_ledger_row *ret_row, char *errbuf, size_t errsize);

/* The job's latest scheduled (non-manual) slot at or before
 * `at_or_before_usec` (INT64_MAX: any), whatever its status. -ENOENT when
 * the job has none. Catch-up plans from the last slot before an outage
 * or a start, so slots the live schedule ran since do not hide the gap. */
int chime_ledger_last_slot(PGconn *conn, const char *job, int64_t at_or_before_usec,
                           struct chime_ledger_row *ret_row, char *errbuf, size_t errsize);

/* The instants of the job's slots in (after, until] that have a row,
 * ascending, in a new array (*ret NULL when none). 0 or a negative errno. */
int chime_ledger_slots_taken(PGconn *conn, const char *job, int64_t after_usec, int64_t until_usec,
                             int64_t **ret, size_t *ret_n, char *errbuf, size_t errsize);

/* The instant of the job's last succeeded run; -ENOENT when none. */
int chime_ledger_last_success(PGconn *conn, const char *job, int64_t *ret_finished_usec,
                              char *errbuf, size_t errsize);

/* True in *ret_busy when the job has a running row, or a claimed row
 * older (by scheduled_for, then id) than `id`, live within its lease. */
int chime_ledger_job_busy(PGconn *conn, const char *job, int64_t id, bool *ret_busy, char *errbuf,
                          size_t errsize);
/* Ask for cancellation of every live row of `job` except `except_id`;
 * *ret_n (may be NULL) gets how many. */
int chime_ledger_request_cancel(PGconn *conn, const char *job, int64_t except_id, size_t *ret_n,
                                char *errbuf, size_t errsize);

/* A live row whose heartbeat is older than its lease. */
struct chime_ledger_lost {
	int64_t id;
	char job[128];
	int attempt;
	char node[64];
	int64_t local_usec;
	int occurrence;
	int64_t instant_usec;
	int64_t previous_usec;
	int64_t heartbeat_usec; /* the heartbeat as seen, compared on recovery */
};

/* Up to `max` lost rows of any node, oldest heartbeat first, in a new
 * array *ret_rows (free()) of *ret_n items. */
int chime_ledger_find_lost(PGconn *conn, size_t max, struct chime_ledger_lost **ret_rows,
                           size_t *ret_n, char *errbuf, size_t errsize);

/*
 * Recover one lost row atomically: only if it is still live with the
 * heartbeat seen (so of two recovering nodes one wins). With `rerun` the
 * row becomes `lost` and a new attempt is claimed by `node` in the same
 * transaction (its id in *ret_new_id); without, the row becomes `failed`
 * ("lost: node 'x' stopped heartbeating") and *ret_new_id is 0. -ESTALE
 * when another node recovered it first or it heartbeated meanwhile.
 */
int chime_ledger_recover(PGconn *conn, const struct chime_ledger_lost *lost, bool rerun,
                         const char *node, int64_t lease_usec, int64_t *ret_new_id, char *errbuf,
                         size_t errsize);

/* Delete the job's finished rows older than `before_usec`; *ret_n (may be
 * NULL) gets how many. */
int chime_ledger_prune(PGconn *conn, const char *job, int64_t before_usec, int64_t *ret_n,
                       char *errbuf, size_t errsize);

/* A job's pause: when, by whom and why (`chimectl pause --note`). */
struct chime_ledger_pause {
	int64_t paused_usec;
	char by[128];   /* "" when not recorded */
	char note[512]; /* "" when not given */
	bool created;   /* this call paused it; false: it was paused already */
};

/*
 * chime.paused: pause/resume that survives restarts. A pause also goes to
 * chime.pause_log, which keeps it after the resume for `chimectl audit`.
 * `by` and `note` may be NULL. A job already paused keeps its first pause
 * (who and why); *ret_pause (may be NULL) gets the pause in force.
 */
int chime_ledger_pause(PGconn *conn, const char *job, const char *node, const char *by,
                       const char *note, struct chime_ledger_pause *ret_pause, char *errbuf,
                       size_t errsize);
int chime_ledger_resume(PGconn *conn, const char *job, char *errbuf, size_t errsize);
int chime_ledger_is_paused(PGconn *conn, const char *job, bool *ret_paused, char *errbuf,
                           size_t errsize);

/* ---- Catch-up planning (pure) --------------------------------------- */

struct chime_catchup_plan {
	struct chime_slot *run; /* slots to run now, oldest first */
	size_t n_run;
	struct chime_slot *skip; /* slots to record as skipped, oldest first */
	size_t n_skip;
	size_t n_skip_unrecorded; /* further missed slots past the cap, not listed */
};

/* The last slot at or before `at_usec`, as chime_expr_prev() answers. */
typedef int (*chime_catchup_prev_fn)(int64_t at_usec, struct chime_slot *ret_slot, void *userdata);

struct chime_catchup_params {
	const struct chime_expr *expr; /* with tz; ignored when prev_fn is set */
	const struct chime_tz *tz;
	chime_catchup_prev_fn prev_fn; /* NULL: chime_expr_prev(expr, tz, ...) */
	void *userdata;
	int64_t last_instant_usec; /* the ledger's last slot; INT64_MIN: none (no catch-up) */
	int64_t now_usec;
	/* The newest slot that may have been missed: later ones are the live
	 * schedule's (claimed as they come), never catch-up's. 0: now_usec. */
	int64_t until_usec;
	/* Instants of slots that have a row already (ascending): not missed,
	 * neither run nor skipped. May be NULL. */
	const int64_t *taken;
	size_t n_taken;
	enum chime_misfire_policy misfire;
	int64_t window_usec; /* catchup_window; <= 0: no window */
	int max_catchup;     /* run-all bound; <= 0: no bound */
	size_t max_listed;   /* cap on listed skipped slots; 0: 1000 */
};

/*
 * Plan catch-up: the missed slots are those with an instant in
 * (last, until] (until at most now) and not in `taken`. Slots older than now - window are
 * skipped. Within the
 * window, `skip` skips all, `run-once` runs the newest and skips the rest,
 * `run-all` runs the newest max_catchup of them oldest first and skips the
 * older rest. At most max_listed skipped slots are listed (the oldest ones
 * are then counted in n_skip_unrecorded instead, counting stops at 1e6).
 * Returns 0 and fills *ret_plan (free with chime_catchup_plan_done()), or
 * -ENOMEM. Pure.
 */
int chime_catchup_plan(const struct chime_catchup_params *params,
                       struct chime_catchup_plan *ret_plan);
void chime_catchup_plan_done(struct chime_catchup_plan *plan);

#endif
