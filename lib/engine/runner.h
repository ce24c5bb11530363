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
 *   claim         OPTIONAL STAGE, on the loop: stages.claim(rr, done).
 *                 This is where a ledger (lib/ledger, ledger-service.h)
 *                 claims the slot and applies the cross-node overlap; it
 *                 sets the run id with chime_runner_run_set_id() and
 *                 reports with done(rr, r) (the codes are below). Without
 *                 the hook a local sequence number is the run id. The
 *                 stage may wait (a queue across nodes) with
 *                 chime_runner_run_defer().
 *   worker        a thread of the runner's own pool (not libuv's: runs
 *                 may block for hours and would starve fs work), idle
 *                 threads kept, grown while all are busy up to
 *                 max(16, options.workers_cap), a dedicated thread per run
 *                 past that: plugin->run(state, run) with a chime_run
 *                 context and the connection of stages.acquire_conn;
 *                 "run started" is logged there. The job timeout is a
 *                 loop timer calling chime_run_cancel() and stages.cancel.
 *   complete      back on the loop through a uv_async: the status
 *                 (SUCCEEDED, FAILED, TIMED_OUT, CANCELLED) is decided
 *                 and logged with MESSAGE_ID run finished/failed.
 *   record        OPTIONAL STAGE, on the loop: stages.record(rr, done)
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
 * Time: only the injected clock (options.clock): the trigger's slot and
 * the worker's duration. Logs: run started/finished/failed/skipped lines
 * with the run's journal fields (log.h).
 */
#ifndef CHIME_RUNNER_H
#define CHIME_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>
#include <uv.h>

#include "config.h"
#include "cron.h"
#include "macro.h"
#include "run-status.h"

#define CHIME_RUNNER_QUEUE_MAX 16

struct chime_clock;
struct chime_runner;
struct chime_runner_run;

/*
 * What a claim stage reports with done(rr, r), besides 0 (run it) and a
 * negative errno (the runner logs "claim failed" and counts it failed):
 *   -EEXIST                     the slot is taken elsewhere: ends quietly
 *   CHIME_RUNNER_CLAIM_SKIPPED  the stage logged why (paused, busy on
 *                               another node): counted skipped
 *   CHIME_RUNNER_CLAIM_MISSED   the stage logged why (no database):
 *                               counted missed, ends failed
 *   -ECANCELED                  cancelled while the stage waited: the
 *                               outcome `cancelled` goes to the record stage
 */
#define CHIME_RUNNER_CLAIM_SKIPPED 1
#define CHIME_RUNNER_CLAIM_MISSED  2

typedef void (*chime_runner_stage_done_fn)(struct chime_runner_run *rr, int r);
typedef int (*chime_runner_stage_fn)(struct chime_runner_run *rr, chime_runner_stage_done_fn done,
                                     void *userdata);

/*
 * The stages a ledger plugs into the runner (lib/ledger provides them; the
 * unit tests provide fakes). Every hook may be NULL. All but the two
 * connection hooks are called on the loop.
 */
struct chime_runner_stages {
	chime_runner_stage_fn claim;  /* NULL: a local sequence number is the run id */
	chime_runner_stage_fn record; /* NULL: the outcome is only logged */
	/* A slot this node's overlap policy skipped: no run of it exists. */
	void (*skipped)(const struct chime_job_config *job, const struct chime_slot *slot,
	                int64_t previous_usec, const char *reason, void *userdata);
	/* Interrupt what a working run waits on (its statement): timeout,
	 * replace, shutdown. The run context is cancelled by the runner. */
	void (*cancel)(struct chime_runner_run *rr, void *userdata);
	/* A working run still working CHIME_RUNNER_TIMEOUT_GRACE_USEC after
	 * its timeout (the cancel did not end it: a stopped backend, a
	 * black-holed network): cut what it waits on so its worker returns. */
	void (*abort)(struct chime_runner_run *rr, void *userdata);
	/* Worker thread: the run's own connection (*ret_conn NULL for a
	 * plugin without SQL). A negative errno with the reason in errbuf
	 * fails the run. */
	int (*acquire_conn)(struct chime_runner_run *rr, PGconn **ret_conn, char *errbuf,
	                    size_t errsize, void *userdata);
	/* Worker thread: give back what acquire_conn returned (not NULL). */
	void (*release_conn)(struct chime_runner_run *rr, PGconn *conn, void *userdata);
	/* Worker thread, inside the plugin's open transaction on `conn`
	 * (chime_run_fence()): prove the run's claim is still this node's
	 * and hold it against recovery until the transaction ends. NULL:
	 * nothing to fence (no ledger). 0, or a negative errno with the
	 * reason in errbuf. */
	int (*fence)(struct chime_runner_run *rr, PGconn *conn, char *errbuf, size_t errsize,
	             void *userdata);
	/* Worker thread, the same place (chime_run_record_succeeded()):
	 * write the run's `succeeded` outcome with `summary_json` in that
	 * transaction. The record stage then finds the row final. */
	int (*record_in_tx)(struct chime_runner_run *rr, PGconn *conn, const char *summary_json,
	                    char *errbuf, size_t errsize, void *userdata);
	/* The run is about to be freed: drop chime_runner_run_stage_data(). */
	void (*run_freed)(struct chime_runner_run *rr, void *userdata);
	void *userdata;
};

struct chime_runner_options {
	uv_loop_t *loop;
	const char *node; /* copied; the runs' node name */
	struct chime_runner_stages stages;
	/* The clocks the runner reads (copied); NULL: the system's. */
	const struct chime_clock *clock;
	/* Worker threads kept at most (CHIME_RUNNER_WORKERS_CAP when smaller). */
	size_t workers_cap;
	/* Runs are dry runs (chimectl run --dry-run): plugins change nothing. */
	bool dry_run;
	/* Called on the loop whenever the number of live runs changed, so
	 * the daemon can refresh STATUS=. May be NULL. */
	void (*changed_cb)(void *userdata);
	/* Called on the loop when a dispatched run is over (every stage
	 * done, or skipped or ended early): chime_runner_run_status() says
	 * how. The run is borrowed for the call. May be NULL (metrics). */
	void (*finished_cb)(const struct chime_runner_run *rr, void *userdata);
	void *userdata; /* for changed_cb and finished_cb */
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

/*
 * Run `slot` of `job` now as attempt `attempt`, outside the schedule and
 * without the overlap policy (chimectl run): recorded manual, a pause
 * does not hold it back, failures retried as the job says. Returns 0,
 * -ESHUTDOWN while draining, -ENOMEM.
 */
int chime_runner_run_now(struct chime_runner *runner, struct chime_config *config,
                         const struct chime_job_config *job, const struct chime_slot *slot,
                         int64_t previous_usec, int attempt);

/* Runs started and not yet completed (claim, worker, record stages). */
size_t chime_runner_running(const struct chime_runner *runner);
/* Completed runs by outcome since start. */
struct chime_runner_stats {
	uint64_t started, succeeded, failed, timed_out, cancelled, skipped;
	uint64_t missed; /* not claimed: the database was unavailable */
};
void chime_runner_stats(const struct chime_runner *runner, struct chime_runner_stats *ret_stats);

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
/* How long a timed-out run may take to end after its cancel before the
 * abort stage cuts its connection, and from when it is no longer
 * heartbeated (chime_runner_run_abandoned()). */
#define CHIME_RUNNER_TIMEOUT_GRACE_USEC (INT64_C(5) * 1000000)
int chime_runner_drain(struct chime_runner *runner, int64_t timeout_usec,
                       void (*drained_cb)(void *userdata), void *userdata);

/*
 * Close the runner's handles and free it once they are closed (the loop
 * must run). Call only when chime_runner_running() is 0: a live worker
 * would post to a closed handle. NULL-safe.
 */
void chime_runner_close(struct chime_runner *runner);

/* ---- For the stages and the ledger service ---------------------------- */

/*
 * Dispatch a missed slot found by catch-up: it queues behind the job's
 * live run whatever the overlap policy, and abandons no waiting retry.
 * Returns as chime_runner_dispatch().
 */
int chime_runner_dispatch_catchup(struct chime_runner *runner, struct chime_config *config,
                                  const struct chime_job_config *job, const struct chime_slot *slot,
                                  int64_t previous_usec);
/*
 * Start attempt `attempt` of a slot whose ledger row `id` exists already
 * (a lost claim recovered here): the claim stage only starts it. Returns
 * 0, -ESHUTDOWN while draining, -ENOMEM.
 */
int chime_runner_dispatch_claimed(struct chime_runner *runner, struct chime_config *config,
                                  const struct chime_job_config *job, const struct chime_slot *slot,
                                  int64_t previous_usec, int attempt, int64_t id);
/* True once chime_runner_drain() was called. */
bool chime_runner_draining(const struct chime_runner *runner);
/* Call `fn` for every run the runner holds (live, queued or waiting for
 * a retry), newest first. `fn` must not dispatch or free runs. */
void chime_runner_foreach(struct chime_runner *runner,
                          void (*fn)(struct chime_runner_run *rr, void *userdata), void *userdata);
/* The live run (claim, worker or record stage) with ledger id `id`, or NULL. */
struct chime_runner_run *chime_runner_find_live(struct chime_runner *runner, int64_t id);

const struct chime_job_config *chime_runner_run_job(const struct chime_runner_run *rr);
const struct chime_slot *chime_runner_run_slot(const struct chime_runner_run *rr);
int64_t chime_runner_run_previous_usec(const struct chime_runner_run *rr);
int chime_runner_run_attempt(const struct chime_runner_run *rr);
const char *chime_runner_run_node(const struct chime_runner_run *rr);
/* The run context (NULL before the worker stage). Borrowed. */
struct chime_run *chime_runner_run_context(const struct chime_runner_run *rr);
int64_t chime_runner_run_id(const struct chime_runner_run *rr);
void chime_runner_run_set_id(struct chime_runner_run *rr, int64_t id);
/* False before the worker stage decided an outcome (and *ret_status is
 * untouched); then true with RUNNING, SUCCEEDED, FAILED, TIMED_OUT,
 * CANCELLED or SKIPPED. */
bool chime_runner_run_status(const struct chime_runner_run *rr, enum chime_run_status *ret_status);
/* True for a run started by chime_runner_trigger(). */
bool chime_runner_run_manual(const struct chime_runner_run *rr);
/* True when a retry of this failed run follows (finished_cb). */
bool chime_runner_run_will_retry(const struct chime_runner_run *rr);
/* True for a slot dispatched by catch-up (or queued behind it). */
bool chime_runner_run_catchup(const struct chime_runner_run *rr);
/* True for a run dispatched by chime_runner_dispatch_claimed(). */
bool chime_runner_run_preclaimed(const struct chime_runner_run *rr);
/* True while in the claim, worker or record stage. */
bool chime_runner_run_live(const struct chime_runner_run *rr);
/* True while on its worker thread. */
bool chime_runner_run_working(const struct chime_runner_run *rr);
/* Duration of the worker stage (monotonic clock). */
int64_t chime_runner_run_duration_usec(const struct chime_runner_run *rr);
/* Why the runner cancelled the run, or NULL. */
const char *chime_runner_run_cancel_reason(const struct chime_runner_run *rr);
/* True when the run timed out. */
bool chime_runner_run_timed_out(const struct chime_runner_run *rr);
/* True once the run outlived its timeout plus CHIME_RUNNER_TIMEOUT_GRACE_USEC
 * (the abort stage ran): its claim is no longer kept alive. */
bool chime_runner_run_abandoned(const struct chime_runner_run *rr);
/* True once a cancel was asked (any thread). */
bool chime_runner_run_cancelled(struct chime_runner_run *rr);
/*
 * Cancel a live run for `reason` (static text): its context is cancelled,
 * the cancel stage interrupts its statement, and a claim stage waiting
 * with chime_runner_run_defer() sees chime_runner_run_cancelled().
 */
void chime_runner_run_cancel(struct chime_runner_run *rr, const char *reason);
/* The same, and the plugin has at most `grace_usec` to stop
 * (chime_run_cancel_grace_usec()): a self-fenced run. */
void chime_runner_run_cancel_within(struct chime_runner_run *rr, const char *reason,
                                    int64_t grace_usec);
/* What the stages keep for this run (NULL at first); the run_freed hook
 * drops it. */
void *chime_runner_run_stage_data(const struct chime_runner_run *rr);
void chime_runner_run_set_stage_data(struct chime_runner_run *rr, void *data);
/* Log a line with the run's journal fields (log.h). */
void chime_runner_run_log(const struct chime_runner_run *rr, int priority, const char *message_id,
                          const char *fmt, ...) CHIME_PRINTF(4, 5);
/* The slot as the job's zone writes it, in `buf`. */
const char *chime_runner_run_when(const struct chime_runner_run *rr, char *buf, size_t size);
/*
 * For a claim or record stage that must try again later: call `cb` on the
 * loop after `delay_usec`, with the stages' userdata, on the run's own
 * timer. Only while the run is in the claim or record stage.
 */
void chime_runner_run_defer(struct chime_runner_run *rr, int64_t delay_usec,
                            void (*cb)(struct chime_runner_run *rr, void *userdata));

#endif
