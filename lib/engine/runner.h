/* SPDX-License-Identifier: MIT */
/*
 * The runner: turns a due (job, slot) into a run on a worker thread and
 * its outcome back on the loop. Lives on the loop thread; everything here
 * must be called from it.
 *
 * Life of one dispatched slot (struct chime_runner_run):
 *
 *   dispatch      on the loop, from the schedule. Overlap policy for this
 *                 node: `skip` logs the slot skipped while the job has a
 *                 live run here; `queue` keeps it (FIFO, at most
 *                 CHIME_RUNNER_QUEUE_MAX per job) until the live run ends;
 *                 `replace` cancels the live run and starts when it ended.
 *                 A retry waiting for its backoff is abandoned when the
 *                 job's next slot arrives (retries never pass it).
 *   claim         OPTIONAL STAGE, on the loop: options.claim(rr, done).
 *                 This is where the ledger claims the slot (INSERT ... ON
 *                 CONFLICT DO NOTHING RETURNING id) and applies the
 *                 cross-node overlap; it sets the run id with
 *                 chime_runner_run_set_id() and reports with done(rr, r):
 *                 0 to run, -EEXIST when another node has the slot (the
 *                 run ends quietly), another negative errno on failure
 *                 (logged as failed). Without the hook a local sequence
 *                 number is the run id.
 *   worker        a thread of the runner's own pool (not libuv's: runs
 *                 may block for hours and would starve fs work), idle
 *                 threads kept, grown while all are busy up to
 *                 max(16, database.pool), a dedicated thread per run past
 *                 that: plugin->run(state, run) with a chime_run context;
 *                 "run started" is logged there. The
 *                 job timeout is a loop timer calling chime_run_cancel().
 *   complete      back on the loop through a uv_async: the status
 *                 ("succeeded", "failed", "timed_out", "cancelled") is
 *                 decided and logged with MESSAGE_ID run finished/failed.
 *   record        OPTIONAL STAGE, on the loop: options.record(rr, done)
 *                 stores the outcome (chime_runner_run_status(), the
 *                 report JSON, the error) and calls done(rr, r) once.
 *   retry         a failed run (not timed out or cancelled) with attempts
 *                 left is dispatched again after its backoff, attempt + 1.
 *
 * The hooks follow libuv's rule: a hook that returns a negative errno
 * never calls `done`; one that returns 0 calls it exactly once, on the
 * loop thread (a hook doing blocking work on a thread of its own posts
 * back with a uv_async of its own).
 *
 * Logs: run started/finished/failed/skipped lines with the run's journal
 * fields (chime/log.h).
 */
#ifndef CHIME_RUNNER_H
#define CHIME_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "cron.h"

#define CHIME_RUNNER_QUEUE_MAX 16

struct chime_runner;
struct chime_runner_run;

typedef void (*chime_runner_stage_done_fn)(struct chime_runner_run *rr, int r);
typedef int (*chime_runner_stage_fn)(struct chime_runner_run *rr, chime_runner_stage_done_fn done,
                                     void *userdata);

struct chime_runner_options {
	uv_loop_t *loop;
	const char *node;             /* copied; the runs' node name */
	chime_runner_stage_fn claim;  /* NULL: no claim stage */
	chime_runner_stage_fn record; /* NULL: no record stage */
	/* Called on the loop whenever the number of live runs changed, so
	 * the daemon can refresh STATUS=. May be NULL. */
	void (*changed_cb)(void *userdata);
	void *userdata; /* for the stages and changed_cb */
	/* The ledger (copied): with it, and without claim/record hooks, the
	 * runner claims each slot in chime.runs, runs the plugin with a
	 * connection of its own, records the outcome, heartbeats live runs,
	 * recovers lost claims of any node, catches up missed slots at start
	 * and when the database returns, raises `expect:` alarms and prunes
	 * history. NULL: no database (runs are numbered locally). */
	const struct chime_database_config *database;
	/* Called on the loop when a dispatched run is over (every stage
	 * done, or skipped or ended early): chime_runner_run_status() says
	 * how. The run is borrowed for the call. May be NULL (metrics). */
	void (*finished_cb)(const struct chime_runner_run *rr, void *userdata);
};

/* Returns 0 and a new runner in *ret_runner, or a negative errno. */
int chime_runner_new(const struct chime_runner_options *options, struct chime_runner **ret_runner);

/*
 * Dispatch slot `slot` of `job` (attempt 1). `config` is the config `job`
 * belongs to: the run takes a reference, so a reload or removal of the job
 * lets the run finish on its own definition. `previous_usec` is the job's
 * previous nominal slot (INT64_MIN: none). Returns 0 when the slot was
 * started, queued or skipped by the overlap policy (logged), -ESHUTDOWN
 * while draining, -ENOMEM.
 */
int chime_runner_dispatch(struct chime_runner *runner, struct chime_config *config,
                          const struct chime_job_config *job, const struct chime_slot *slot,
                          int64_t previous_usec);

/*
 * Run `job` of `config` now, outside its schedule (chimectl trigger): the
 * slot is the current instant, the ledger row has manual = true, and a
 * pause does not hold it back (the operator asked). The job's overlap
 * policy is not applied: -EBUSY when the job has a live or queued run on
 * this node. Returns 0 when the run was started, -ESHUTDOWN while
 * draining, -ENOMEM.
 */
int chime_runner_trigger(struct chime_runner *runner, struct chime_config *config,
                         const struct chime_job_config *job);

/* Runs started and not yet completed (claim, worker, record stages). */
size_t chime_runner_running(const struct chime_runner *runner);
/* Completed runs by outcome since start. */
struct chime_runner_stats {
	uint64_t started, succeeded, failed, timed_out, cancelled, skipped;
	uint64_t missed;    /* not claimed: the database was unavailable */
	uint64_t recovered; /* lost claims of any node this node recovered */
};
void chime_runner_stats(const struct chime_runner *runner, struct chime_runner_stats *ret_stats);

/*
 * The configuration whose jobs the ledger's periodic work covers (catch-up,
 * lost-claim recovery, expect alarms, pruning): call after the first load
 * and after every reload. Takes a new reference. The first call (and the
 * database coming back after an outage) plans catch-up from the ledger.
 */
void chime_runner_set_config(struct chime_runner *runner, struct chime_config *config);

/* "database: up (since ...)" or "database: down (since ...: reason)" for
 * STATUS=; -ENOENT (buf untouched) without a database. */
int chime_runner_database_status(const struct chime_runner *runner, char *buf, size_t size);
/* 1 when the ledger's database is up, 0 when down or not tried yet,
 * -ENOENT without a database. */
int chime_runner_database_up(const struct chime_runner *runner);

/* Cancel every live run (chime_run_cancel); they finish as "cancelled". */
void chime_runner_cancel_all(struct chime_runner *runner);

/*
 * Stop dispatching (queued slots and waiting retries are dropped), give
 * live runs `timeout_usec` to finish, then cancel them and give them
 * CHIME_RUNNER_CANCEL_GRACE_USEC more. `drained_cb` is called once on the
 * loop when no run is live or the grace ran out (chime_runner_running()
 * then says how many threads ignored the cancel). Returns 0, or -EALREADY
 * when a drain is in progress (then drained_cb is never called).
 */
#define CHIME_RUNNER_CANCEL_GRACE_USEC (INT64_C(5) * 1000000)
int chime_runner_drain(struct chime_runner *runner, int64_t timeout_usec,
                       void (*drained_cb)(void *userdata), void *userdata);

/*
 * Close the runner's handles and free it once they are closed (the loop
 * must run). Call only when chime_runner_running() is 0: a live worker
 * would post to a closed handle. NULL-safe.
 */
void chime_runner_close(struct chime_runner *runner);

/* ---- For the claim and record stages --------------------------------- */

const struct chime_job_config *chime_runner_run_job(const struct chime_runner_run *rr);
const struct chime_slot *chime_runner_run_slot(const struct chime_runner_run *rr);
int64_t chime_runner_run_previous_usec(const struct chime_runner_run *rr);
int chime_runner_run_attempt(const struct chime_runner_run *rr);
const char *chime_runner_run_node(const struct chime_runner_run *rr);
/* The run context (NULL before the worker stage). Borrowed. */
struct chime_run *chime_runner_run_context(struct chime_runner_run *rr);
int64_t chime_runner_run_id(const struct chime_runner_run *rr);
void chime_runner_run_set_id(struct chime_runner_run *rr, int64_t id);
/* "succeeded", "failed", "timed_out", "cancelled" after the worker; NULL before. */
const char *chime_runner_run_status(const struct chime_runner_run *rr);
/* True for a run started by chime_runner_trigger(). */
bool chime_runner_run_manual(const struct chime_runner_run *rr);
/* Wall-clock duration of the worker stage. */
int64_t chime_runner_run_duration_usec(const struct chime_runner_run *rr);

#endif
