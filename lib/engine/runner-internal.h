/* SPDX-License-Identifier: MIT */
/*
 * Internals of the runner shared by runner.c (dispatch, overlap, stages,
 * timeouts, retries, drain) and runner-pool.c (worker threads).
 * Everything here belongs to the loop thread except where a field says
 * otherwise.
 */
#ifndef CHIME_RUNNER_INTERNAL_H
#define CHIME_RUNNER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "clock.h"
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
	/* `run` is set by the worker thread and read by the loop (cancel)
	 * under `lock`; after the worker posted, the loop owns it. */
	pthread_mutex_t lock;
	struct chime_run *run;
	bool cancel_pending;       /* cancel asked (before the run context, too); under lock */
	int64_t cancel_grace_usec; /* how long the cancelled plugin may take; under lock */
	void *stage_data;          /* the stages' (chime_runner_run_stage_data()) */
	void (*defer_cb)(struct chime_runner_run *rr, void *userdata);
	int result; /* plugin run()'s return, set by the worker */
	bool has_status;
	enum chime_run_status status;
	const char *cancel_reason; /* why the runner cancelled it, or NULL */
	bool timed_out;
	bool abandoned;   /* working past timeout + grace: aborted */
	bool not_started; /* its connection never came: no work ran */
	bool retry;       /* a retry follows this failure */
	bool preclaimed;  /* the ledger row exists already (a recovered lost claim) */
	bool catchup;     /* dispatched by catch-up: queued behind, never skipped */
	bool manual;      /* chime_runner_trigger(): recorded manual, never paused */
	int64_t start_mono_usec, duration_usec;
	uv_timer_t timer;                     /* timeout while working; backoff; a stage's defer */
	struct chime_runner_run *prev, *next; /* runner->runs */
	struct chime_runner_run *done_next;   /* runner->done, under the lock */
	struct chime_runner_run *work_next;   /* runner->pool's queue, under its lock */
};

/*
 * Worker threads (runner-pool.c). CHIME_RUNNER_WORKERS_START threads are
 * started with the runner; the pool grows while every thread is busy up
 * to max(CHIME_RUNNER_WORKERS_CAP, options.workers_cap), and keeps idle
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

struct chime_runner {
	struct chime_runner_options options;
	struct chime_clock clock;
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
};

/* In the claim, worker or record stage. */
static inline bool
chime__runner_run_live(const struct chime_runner_run *rr)
{
	return rr->state == RR_CLAIMING || rr->state == RR_WORKING || rr->state == RR_RECORDING;
}

/* A libuv timer's milliseconds for `usec`, rounded up. */
static inline uint64_t
chime__usec_to_msec_ceil(int64_t usec)
{
	return usec <= 0 ? 0 : (uint64_t)((usec + 999) / 1000);
}

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

#endif
