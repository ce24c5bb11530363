/* SPDX-License-Identifier: MIT */
/*
 * Internals of the ledger service shared by its files: ledger-service.c
 * (life, health, the periodic tick, heartbeats, the jobs' view),
 * ledger-stages.c (claim, record, skipped), ledger-runconn.c (run
 * connections and cancels), ledger-scan.c (lost claims, expect, pruning)
 * and ledger-catchup.c. Loop-thread state except where a field says
 * otherwise.
 *
 * Each database operation is one small struct embedding struct
 * ledger_work first, and a static struct ledger_op_type saying what to do
 * with it: `work` runs on a thread of libuv's pool with a ledger
 * connection (schema in place), `after` applies the result on the loop,
 * `free` releases the operation.
 */
#ifndef CHIME_LEDGER_INTERNAL_H
#define CHIME_LEDGER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "clock.h"
#include "db.h"
#include "ledger-service.h"
#include "ledger.h"

#define LEDGER_POOL_SIZE      4 /* as many as libuv's thread pool has threads */
#define LEDGER_TAKE_WAIT_USEC (INT64_C(10) * 1000000)

struct ledger_work;

struct ledger_op_type {
	/* Thread, with a ledger connection; NULL: `raw` runs instead. */
	void (*work)(struct ledger_work *w, struct chime_db_conn *c);
	/* Thread, without a connection (probe, PQcancel). */
	void (*raw)(struct ledger_work *w);
	void (*after)(struct ledger_work *w); /* loop; may be NULL */
	void (*free)(struct ledger_work *w);  /* NULL: free(w) */
};

struct ledger_work {
	uv_work_t req;
	const struct ledger_op_type *type;
	struct chime_ledger_service *svc;
	int r;
	char err[512];
};

/*
 * A run connection's cancel handles, shared by the run and the threads
 * that send its PQcancel. A cancel is sent only while the run holds the
 * connection (`pg` set, not `released`); the worker waits up to
 * CANCEL_DEADLINE for the cancels in flight before giving the connection
 * back, and closes it instead when one is still in flight or the loop
 * cut its socket: a cancel either reaches the run's own statement or a
 * closed backend, never the connection's next user.
 */
struct ledger_cancel {
	pthread_mutex_t lock;
	pthread_cond_t idle; /* inflight dropped */
	PGcancel *pg;        /* freed with the last reference */
	int sock;            /* the connection's socket; -1 when not held */
	int backend_pid;
	int inflight;  /* PQcancel threads running */
	bool released; /* the worker gave the connection back: no more cancels */
	bool cut;      /* the loop shut the socket down (a hung run) */
	atomic_int refs;
};

/* What the ledger keeps for one run (chime_runner_run_stage_data()). */
struct ledger_run {
	struct ledger_cancel *cancel;    /* a reference */
	struct chime_db_conn *conn;      /* the run connection: the worker's while it runs */
	bool waiting;                    /* claimed; waiting for the job's run elsewhere */
	int64_t renewed_mono;            /* the last claim renewal sent (0: none yet) */
	bool fenced;                     /* cancelled by self-fencing (ledger-fence.c) */
	chime_runner_stage_done_fn done; /* of the stage in progress (claim, record) */
};

struct ledger_alarm {
	char *job;
	int64_t last_alarm_wall_usec;
};

struct ledger_job_entry {
	char *name;
	struct chime_ledger_job_state state;
};

struct chime_ledger_service {
	uv_loop_t *loop;
	struct chime_clock clock;
	char *node;
	bool stages_only;
	void (*changed_cb)(void *userdata);
	void *userdata;
	struct chime_runner *runner; /* attached, borrowed */
	struct chime_config *config; /* a reference, for the periodic work */

	struct chime_db_pool *lpool; /* claims, records, heartbeats, scans */
	struct chime_db_pool *rpool; /* one per running plugin */
	atomic_bool schema_ready;    /* any thread */

	uv_async_t health_async;       /* a pool's health changed (any thread) */
	uv_timer_t tick;               /* 1 s: scans */
	uv_timer_t probe_timer;        /* while the database is down: PROBE_EVERY */
	uv_timer_t heartbeat_timer;    /* half a heartbeat period: self-fence, heartbeats */
	struct chime_db_health health; /* as the loop last saw it */
	size_t pending_work;           /* uv_queue_work requests in flight */
	size_t open_handles;
	bool closing;

	bool probe_busy, heartbeat_busy, lost_busy, catchup_busy, expect_busy, prune_busy;
	bool jobs_busy, catchup_pending;
	uint64_t missed_at_down; /* the runner's missed count when the database went down */
	/* Catch-up plans each job from its last slot at or before `since`
	 * (the earliest gap asked for: the start, an outage, a missed slot),
	 * or, for a job with no slot that old (new at the start), at or
	 * before `latest` (the latest gap asked for). INT64_MAX / INT64_MIN:
	 * none. */
	int64_t catchup_since_wall_usec, catchup_latest_wall_usec;
	/* The newest slot missed (the start, a slot not claimed): catch-up
	 * plans nothing later, as later slots are the live schedule's.
	 * INT64_MIN: none since the last scan. */
	int64_t catchup_until_wall_usec;
	int64_t heartbeat_every_usec, lost_every_usec, expect_every_usec;
	int64_t next_heartbeat_mono, next_lost_mono, next_expect_mono, next_prune_mono,
	        next_jobs_mono;
	int64_t started_wall_usec;

	struct ledger_alarm *alarms;
	size_t n_alarms;
	struct ledger_job_entry *jobs; /* the ledger's view; NULL until read */
	size_t n_jobs;
	bool jobs_read;
};

/* ledger-service.c */
/* A new zeroed operation of `size` bytes (struct ledger_work first) of
 * `type`, or NULL on OOM. */
void *chime__ledger_op_new(size_t size, const struct ledger_op_type *type);
/* Queue `w`. Returns 0, or a negative errno after freeing it. */
int chime__ledger_queue(struct chime_ledger_service *svc, struct ledger_work *w);
int64_t chime__ledger_wall(const struct chime_ledger_service *svc);
int64_t chime__ledger_mono(const struct chime_ledger_service *svc);
/* The job's plugin name for log lines. */
const char *chime__ledger_job_plugin(const struct chime_job_config *job);
/* Slots after `wall_usec` may have been missed (an outage, a slot not
 * claimed, a failed catch-up): plan catch-up from there. */
void chime__ledger_gap(struct chime_ledger_service *svc, int64_t wall_usec);
/* The slot at `instant_usec` was missed (not claimed): catch-up plans it
 * and what came before it since the gap. */
void chime__ledger_missed(struct chime_ledger_service *svc, int64_t instant_usec);

/* ledger-stages.c: the claim, record and skipped stages. */
int chime__ledger_claim(struct chime_runner_run *rr, chime_runner_stage_done_fn done,
                        void *userdata);
int chime__ledger_record(struct chime_runner_run *rr, chime_runner_stage_done_fn done,
                         void *userdata);
void chime__ledger_skipped(const struct chime_job_config *job, const struct chime_slot *slot,
                           int64_t previous_usec, const char *reason, void *userdata);
/* True while the run's claim waits for the job's run elsewhere. */
bool chime__ledger_run_waiting(const struct chime_runner_run *rr);

/* ledger-runconn.c: run connections and cancels. */
void chime__ledger_cancel(struct chime_runner_run *rr, void *userdata);
void chime__ledger_abort(struct chime_runner_run *rr, void *userdata);
int chime__ledger_acquire_conn(struct chime_runner_run *rr, PGconn **ret_conn, char *errbuf,
                               size_t errsize, void *userdata);
void chime__ledger_release_conn(struct chime_runner_run *rr, PGconn *conn, void *userdata);
void chime__ledger_run_freed(struct chime_runner_run *rr, void *userdata);
/* The fence and in-transaction record stages (ledger-stages.c). */
int chime__ledger_run_fence(struct chime_runner_run *rr, PGconn *conn, char *errbuf, size_t errsize,
                            void *userdata);
int chime__ledger_record_in_tx(struct chime_runner_run *rr, PGconn *conn, const char *summary_json,
                               char *errbuf, size_t errsize, void *userdata);
/* The run's ledger state (created on first use, on the loop), or NULL on OOM. */
struct ledger_run *chime__ledger_run(struct chime_runner_run *rr);

/* ledger-scan.c: the lost-claim scan, expect checks and pruning. */
void chime__ledger_scan_lost(struct chime_ledger_service *svc);
void chime__ledger_scan_expect(struct chime_ledger_service *svc);
void chime__ledger_scan_prune(struct chime_ledger_service *svc);
void chime__ledger_alarms_free(struct chime_ledger_service *svc);
/* The ids of the attached runner's live runs with a row, in a new array
 * (*ret_ids NULL when none). 0 or -ENOMEM. */
int chime__ledger_live_ids(struct chime_ledger_service *svc, int64_t **ret_ids, size_t *ret_n);

/* ledger-fence.c: self-fencing. */
/* The run's claim was renewed by a statement sent at `sent_mono`. */
void chime__ledger_renewed(struct chime_runner_run *rr, int64_t sent_mono);
/* A heartbeat sent at `sent_mono` for `ids` came back: all but `stop`
 * were renewed. */
void chime__ledger_heartbeat_renewed(struct chime_ledger_service *svc, const int64_t *ids,
                                     size_t n_ids, const int64_t *stop, size_t n_stop,
                                     int64_t sent_mono);
/* True when the run's last renewal is too old to go on with it. */
bool chime__ledger_fence_due(struct chime_ledger_service *svc, struct chime_runner_run *rr);
/* Cancel the run for self-fencing (logged), with a short grace. */
void chime__ledger_fence(struct chime_ledger_service *svc, struct chime_runner_run *rr);
/* Fence every working or waiting run whose renewal is too old. */
void chime__ledger_fence_check(struct chime_ledger_service *svc);

/* ledger-catchup.c */
void chime__ledger_scan_catchup(struct chime_ledger_service *svc);

#endif
