/* SPDX-License-Identifier: MIT */
/*
 * The ledger service: the runner's stages against the PostgreSQL ledger
 * (claim, record, cancel, run connections; struct chime_runner_stages)
 * and the periodic work that drives the runner through its public API:
 * heartbeats of live runs, recovery of lost claims of any node, catch-up
 * of missed slots, `expect:` alarms, history pruning, the database health
 * the daemon shows, and the ledger's view of every job (last status, last
 * success, pause) that the control socket and the metrics read.
 *
 * Every database round trip runs on libuv's thread pool (uv_queue_work)
 * with a connection of the ledger pool, and its result is applied on the
 * loop; the loop never blocks. A run's plugin gets a connection of the
 * run pool on its worker thread. Everything here is called on the loop.
 * The service logs what it decides (claims lost, runs recovered, the
 * database going down and coming back).
 *
 * Life: chime_ledger_service_new(), chime_ledger_service_stages() into
 * the runner's options, chime_runner_new(), chime_ledger_service_attach(),
 * chime_ledger_service_set_config(); at the end close the service before
 * the runner (after the runner drained: no run live).
 */
#ifndef CHIME_LEDGER_SERVICE_H
#define CHIME_LEDGER_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "run-status.h"
#include "runner.h"

struct chime_clock;
struct chime_ledger_service;

struct chime_ledger_service_options {
	uv_loop_t *loop;
	const struct chime_database_config *database; /* copied by the pools */
	const char *node;                             /* copied */
	const struct chime_clock *clock;              /* copied; NULL: the system's */
	/* Without the periodic work (chimectl run): only the stages, and
	 * heartbeats of the runs; no catch-up, recovery, expect or pruning. */
	bool stages_only;
	/* Called on the loop when the database health changed. May be NULL. */
	void (*changed_cb)(void *userdata);
	void *userdata;
};

/* Returns 0 and a new service in *ret_service, or a negative errno. The
 * pools connect lazily. Does not log. */
int chime_ledger_service_new(const struct chime_ledger_service_options *options,
                             struct chime_ledger_service **ret_service);

/* The stages to put in chime_runner_options.stages. */
void chime_ledger_service_stages(struct chime_ledger_service *service,
                                 struct chime_runner_stages *ret_stages);

/* The runner the service drives (borrowed; outlives the service's use of
 * it: close the service first). Starts the periodic work. */
void chime_ledger_service_attach(struct chime_ledger_service *service, struct chime_runner *runner);

/*
 * The configuration whose jobs the periodic work covers: call after the
 * first load and after every reload. Takes a new reference. The first
 * call (and the database coming back after an outage) plans catch-up.
 */
void chime_ledger_service_set_config(struct chime_ledger_service *service,
                                     struct chime_config *config);

/* "database: up (since ...)" or "database: down (since ...: reason)". */
void chime_ledger_service_database_status(const struct chime_ledger_service *service, char *buf,
                                          size_t size);
/* True when the ledger's database is up. */
bool chime_ledger_service_database_up(const struct chime_ledger_service *service);

/* The ledger's view of one job, as last read. */
struct chime_ledger_job_state {
	bool has_last; /* the job has a row */
	enum chime_run_status last_status;
	int64_t last_finished_usec; /* INT64_MIN: none */
	int64_t last_success_usec;  /* INT64_MIN: none */
	bool paused;
	int64_t paused_usec;  /* when; INT64_MIN: not paused */
	char paused_by[128];  /* who paused it; "" not recorded */
	char pause_note[512]; /* why; "" none given */
};

/*
 * The ledger's view of job `name`: 0 and *ret_state (a job the ledger
 * has nothing of reads as never run, not paused), or -ENODATA when the
 * ledger was not read yet. The view is re-read every few seconds.
 */
int chime_ledger_service_job_state(const struct chime_ledger_service *service, const char *name,
                                   struct chime_ledger_job_state *ret_state);

/*
 * Re-read the ledger's view of the jobs now. `done_cb` (may be NULL) is
 * called once on the loop when the read is over: r = 0, or a negative
 * errno with the reason in `error`. Returns 0, or a negative errno (then
 * done_cb is never called).
 */
int chime_ledger_service_refresh_jobs(struct chime_ledger_service *service,
                                      void (*done_cb)(int r, const char *error, void *userdata),
                                      void *userdata);

/*
 * Stop the periodic work and free the service once its handles closed
 * and no database work is in flight (the loop must run). The attached
 * runner must have no live run. NULL-safe.
 */
void chime_ledger_service_close(struct chime_ledger_service *service);

#endif
