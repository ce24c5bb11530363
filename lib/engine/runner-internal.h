/* SPDX-License-Identifier: MIT */
/*
 * Internals of the runner shared by lib/runner.c (dispatch, overlap,
 * workers, retries, drain) and lib/runner-ledger.c (claims, records,
 * heartbeats, catch-up, lost-claim recovery, expect alarms and pruning
 * against the PostgreSQL ledger). Everything here belongs to the loop
 * thread except where a field says otherwise.
 */
#ifndef CHIME_RUNNER_INTERNAL_H
#define CHIME_RUNNER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "db.h"
#include "runner.h"

enum rr_state {
	RR_QUEUED,     /* waiting for the job's live run to end (overlap) */
	RR_RETRY_WAIT, /* waiting for its backoff */
	RR_CLAIMING,   /* live: in the claim stage */
	RR_WORKING,    /* live: on its worker thread */
	RR_RECORDING,  /* live: in the record stage */
};

struct chime_runner_run {
	struct chime_runner *runner;
	struct chime_config *config; /* a reference: keeps `job` alive */
	const struct chime_job_config *job;
	struct chime_slot slot;
	int64_t previous_usec;
	int attempt;
	int64_t id;
	enum rr_state state;
	/* `run` and `conn` are set by the worker thread and read by the loop
	 * (cancel) under `lock`; after the worker posted, the loop owns them. */
	pthread_mutex_t lock;
	struct chime_run *run;
	struct chime_db_conn *conn; /* the worker's run connection while it runs */
	/* Cancel handle of `conn` (runner-ledger.c), shared with queued
	 * PQcancel work; set by the worker under `lock`, a reference. */
	struct ledger_cancel *cancel;
	bool cancel_pending; /* cancel asked before the run context existed */
	int result;          /* plugin run()'s return, set by the worker */
	const char *status;
	const char *cancel_reason; /* why the runner cancelled it, or NULL */
	bool timed_out;
	bool retry;      /* a retry follows this failure */
	bool preclaimed; /* the ledger row exists already (a recovered lost claim) */
	bool catchup;    /* dispatched by catch-up: queued behind, never skipped */
	bool waiting;    /* claimed; waiting for the job's run on another node */
	bool manual;     /* chime_runner_trigger(): recorded manual, never paused */
	int64_t start_mono_usec, duration_usec;
	uv_timer_t timer; /* timeout while working; backoff or ledger wait while waiting */
	struct chime_runner_run *prev, *next; /* runner->runs */
	struct chime_runner_run *done_next;   /* runner->done, under the lock */
	struct chime_runner_run *work_next;   /* runner->pool's queue, under its lock */
};

/*
 * Worker threads (runner-pool.c). CHIME_RUNNER_WORKERS_START threads are
 * started with the runner; the pool grows while every thread is busy up
 * to max(CHIME_RUNNER_WORKERS_CAP, database.pool), and keeps idle
 * threads; past the cap each run gets a dedicated thread that exits
 * after it, so a run that blocks for hours never starves the others.
 */
#define CHIME_RUNNER_WORKERS_START 2
#define CHIME_RUNNER_WORKERS_CAP   16

struct runner_worker;

struct runner_pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct chime_runner_run *head, *tail; /* queued runs, under lock */
	size_t queued;                        /* under lock */
	size_t threads, free;                 /* pool threads; those not running a run */
	size_t cap;
	bool stop;
	bool initialised;
	struct runner_worker *workers; /* every thread not joined yet */
	uv_idle_t wake;                /* wakes the workers after a batch */
};

struct runner_alarm {
	char *job;
	int64_t last_alarm_wall_usec;
};

struct chime_runner {
	struct chime_runner_options options;
	char *node;
	uv_async_t async;
	uv_timer_t drain_timer;
	size_t open_handles; /* closed ones free the runner at 0 */

	pthread_mutex_t lock;
	struct chime_runner_run *done; /* posted by workers */

	struct chime_runner_run *runs; /* every run not yet freed */
	size_t live;
	int64_t next_local_id;
	struct chime_runner_stats stats;
	struct runner_pool pool;

	bool draining, drain_cancelled, closing;
	void (*drained_cb)(void *userdata);
	void *drained_userdata;

	/* The ledger: NULL pools when the runner has no database. */
	struct chime_db_pool *lpool;   /* claims, records, heartbeats, scans */
	struct chime_db_pool *rpool;   /* one per running plugin */
	struct chime_config *config;   /* the current config (a reference) */
	uv_async_t health_async;       /* a pool's health changed (any thread) */
	uv_timer_t ledger_timer;       /* 1 s tick: probe, heartbeats, scans */
	struct chime_db_health health; /* as the loop last saw it */
	size_t pending_work;           /* uv_queue_work requests in flight */
	bool probe_busy, heartbeat_busy, lost_busy, catchup_busy, expect_busy, prune_busy;
	bool catchup_pending;
	uint64_t missed_at_down;         /* stats.missed when the database went down */
	int64_t catchup_since_wall_usec; /* plan from the last slot at or before; INT64_MAX none */
	atomic_bool schema_ready;
	int64_t heartbeat_every_usec, lost_every_usec, expect_every_usec;
	int64_t next_heartbeat_mono, next_lost_mono, next_expect_mono, next_prune_mono;
	int64_t started_wall_usec;
	struct runner_alarm *alarms;
	size_t n_alarms;
};

/* runner.c, for runner-ledger.c */
int64_t chime__runner_mono_usec(void);
void chime__runner_work(struct chime_runner_run *rr);
void chime__runner_end_early(struct chime_runner_run *rr, const char *status);
void chime__runner_done(struct chime_runner_run *rr);
void chime__runner_log(const struct chime_runner_run *rr, int priority, const char *message_id,
                       const char *fmt, ...) CHIME_PRINTF(4, 5);
const char *chime__runner_when(const struct chime_runner_run *rr, char *buf, size_t size);
struct chime_runner_run *chime__runner_run_new(struct chime_runner *runner,
                                               struct chime_config *config,
                                               const struct chime_job_config *job,
                                               const struct chime_slot *slot, int64_t previous_usec,
                                               int attempt);
void chime__runner_start(struct chime_runner_run *rr);
int chime__runner_dispatch(struct chime_runner *runner, struct chime_config *config,
                           const struct chime_job_config *job, const struct chime_slot *slot,
                           int64_t previous_usec, bool catchup);
void chime__runner_maybe_free(struct chime_runner *runner);

/* runner.c: a worker thread's part of a run; posts it back to the loop. */
void chime__runner_worker(struct chime_runner_run *rr);

/* runner-pool.c, on the loop. */
int chime__pool_init(struct chime_runner *runner, size_t cap);
/* Queue `rr` for a worker (woken after the loop's current batch), or
 * start a dedicated thread for it; 0 or a negative errno (not queued). */
int chime__pool_submit(struct chime_runner *runner, struct chime_runner_run *rr);
/* Stop and join every thread (no run may be live), then close the wake
 * handle with `closed_cb`. */
void chime__pool_stop(struct chime_runner *runner, uv_close_cb closed_cb);
void chime__pool_free(struct chime_runner *runner);

/* runner-ledger.c */
int chime__ledger_init(struct chime_runner *runner, const struct chime_database_config *db);
/* The claim stage against the ledger; calls chime__runner_work() or ends
 * the run early, on the loop. */
void chime__ledger_claim(struct chime_runner_run *rr);
/* The record stage; calls chime__runner_done() on the loop. */
void chime__ledger_record(struct chime_runner_run *rr);
/* Record a slot skipped by this node's overlap policy. */
void chime__ledger_record_skipped(struct chime_runner *runner, const struct chime_job_config *job,
                                  const struct chime_slot *slot, int64_t previous_usec,
                                  const char *reason);
/* Cancel the statement of a working run (PQcancel on a worker thread). */
void chime__ledger_cancel(struct chime_runner_run *rr);
/* Worker thread: a run connection for `rr` (NULL for plugins without SQL
 * or on failure, with the reason in errbuf and a negative errno). */
int chime__ledger_take_run_conn(struct chime_runner_run *rr, struct chime_db_conn **ret_conn,
                                char *errbuf, size_t errsize);
/* Worker thread: give the run connection back. Its cancel handle is
 * cleared first under the handle's mutex, the one PQcancel is issued
 * under, so a cancel never reaches the connection's next user. */
void chime__ledger_give_run_conn(struct chime_runner_run *rr, struct chime_db_conn *conn);
/* Loop: drop the run's reference to its cancel handle (NULL-safe). */
struct ledger_cancel *chime__ledger_cancel_unref(struct ledger_cancel *lc);
void chime__ledger_drain(struct chime_runner *runner);
void chime__ledger_close(struct chime_runner *runner);
/* Free the pools and alarms (no work pending, handles closed). */
void chime__ledger_free(struct chime_runner *runner);

#endif
