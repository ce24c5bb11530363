/* SPDX-License-Identifier: MIT */
/*
 * The ledger service (ledger-service.h): its life, the queue of database
 * operations on libuv's pool, the database health, the 1 s tick that
 * drives the periodic work (lost claims, catch-up, expect, pruning), the
 * reconnect probe that runs every PROBE_EVERY while the database is down
 * (the pools' shared backoff, 100 ms doubling to 500 ms per failed
 * connect, decides when it really tries), the heartbeat timer (renewals
 * and self-fencing, ledger-fence.c) and the ledger's view of the jobs.
 * The stages are in ledger-stages.c and
 * ledger-runconn.c, the scans in ledger-scan.c and ledger-catchup.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger-internal.h"
#include "log.h"
#include "mem.h"
#include "queries.h"
#include "timespan.h"

#define EXPECT_EVERY_USEC (INT64_C(30) * 1000000)
#define PRUNE_EVERY_USEC  (INT64_C(3600) * 1000000)
#define PRUNE_FIRST_USEC  (INT64_C(60) * 1000000)
#define JOBS_EVERY_USEC   (INT64_C(5) * 1000000)
/* Short against the backoff cap, so that the first attempt after the
 * server's return is at most cap + PROBE_EVERY away. */
#define PROBE_EVERY_MSEC 100

int64_t
chime__ledger_wall(const struct chime_ledger_service *svc)
{
	return chime_clock_wall(&svc->clock);
}

int64_t
chime__ledger_mono(const struct chime_ledger_service *svc)
{
	return chime_clock_mono(&svc->clock);
}

const char *
chime__ledger_job_plugin(const struct chime_job_config *job)
{
	return job->plugin_name != NULL ? job->plugin_name : "?";
}

void
chime__ledger_gap(struct chime_ledger_service *svc, int64_t wall_usec)
{
	svc->catchup_pending = true;
	if (wall_usec == INT64_MAX || wall_usec == INT64_MIN)
		return; /* "none", from a failed scan */
	if (wall_usec < svc->catchup_since_wall_usec)
		svc->catchup_since_wall_usec = wall_usec;
	if (wall_usec > svc->catchup_latest_wall_usec)
		svc->catchup_latest_wall_usec = wall_usec;
}

void
chime__ledger_missed(struct chime_ledger_service *svc, int64_t instant_usec)
{
	chime__ledger_gap(svc, instant_usec - 1);
	if (instant_usec > svc->catchup_until_wall_usec)
		svc->catchup_until_wall_usec = instant_usec;
}

static void
service_maybe_free(struct chime_ledger_service *svc)
{
	if (!svc->closing || svc->open_handles > 0 || svc->pending_work > 0)
		return;
	svc->lpool = chime_db_pool_free(svc->lpool);
	svc->rpool = chime_db_pool_free(svc->rpool);
	svc->config = chime_config_unref(svc->config);
	chime__ledger_alarms_free(svc);
	for (size_t i = 0; i < svc->n_jobs; i++)
		free(svc->jobs[i].name);
	chime_free_many(svc->jobs, svc->node, svc);
}

/* ---- The operation queue ---------------------------------------------- */

/* A ledger connection with the schema in place (thread). */
static int
ledger_take(struct ledger_work *w, struct chime_db_conn **ret_conn)
{
	struct chime_ledger_service *svc = w->svc;
	struct chime_db_conn *c = NULL;
	char why[600];
	int r;

	r = chime_db_pool_take(svc->lpool, LEDGER_TAKE_WAIT_USEC, &c, w->err, sizeof(w->err));
	if (r < 0)
		return r;
	if (!atomic_load(&svc->schema_ready)) {
		r = chime_ledger_migrate(c->pg, w->err, sizeof(w->err));
		if (r < 0) {
			/* A schema we cannot create is an outage too: the
			 * reason shows in STATUS= and we retry with backoff. */
			snprintf(why, sizeof(why), "cannot prepare schema chime: %s", w->err);
			memcpy(w->err, why, sizeof(w->err) - 1);
			w->err[sizeof(w->err) - 1] = '\0';
			chime_db_pool_give(c, true, why);
			return -ENOTCONN;
		}
		atomic_store(&svc->schema_ready, true);
	}
	*ret_conn = c;
	return 0;
}

static void
op_free(struct ledger_work *w)
{
	if (w->type->free != NULL)
		w->type->free(w);
	else
		free(w);
}

static void
queue_work_cb(uv_work_t *req)
{
	struct ledger_work *w = req->data;
	struct chime_db_conn *c = NULL;

	if (w->type->work == NULL) {
		w->type->raw(w);
		return;
	}
	w->r = ledger_take(w, &c);
	if (w->r < 0)
		return;
	w->type->work(w, c);
	chime_db_pool_give(c, w->r == -ENOTCONN, w->r == -ENOTCONN ? w->err : NULL);
}

static void
queue_after_cb(uv_work_t *req, int status)
{
	struct ledger_work *w = req->data;
	struct chime_ledger_service *svc = w->svc;

	svc->pending_work--;
	if (w->type->after != NULL)
		w->type->after(w);
	op_free(w);
	service_maybe_free(svc);
}

void *
chime__ledger_op_new(size_t size, const struct ledger_op_type *type)
{
	struct ledger_work *w = calloc(1, size);

	if (w != NULL)
		w->type = type;
	return w;
}

int
chime__ledger_queue(struct chime_ledger_service *svc, struct ledger_work *w)
{
	int r;

	w->svc = svc;
	w->req.data = w;
	r = uv_queue_work(svc->loop, &w->req, queue_work_cb, queue_after_cb);
	if (r < 0) {
		op_free(w);
		return r;
	}
	svc->pending_work++;
	return 0;
}

/* ---- Probe and heartbeats ------------------------------------------------ */

static void
probe_raw(struct ledger_work *w)
{
	struct chime_db_conn *c = NULL;

	w->r = chime_db_pool_probe(w->svc->lpool);
	if (w->r < 0 || atomic_load(&w->svc->schema_ready))
		return;
	w->r = ledger_take(w, &c);
	if (w->r == 0)
		chime_db_pool_give(c, false, NULL);
}

static void
probe_after(struct ledger_work *w)
{
	w->svc->probe_busy = false;
}

static const struct ledger_op_type probe_type = {.raw = probe_raw, .after = probe_after};

struct heartbeat_op {
	struct ledger_work w;
	int64_t *ids, *stop;
	size_t n_ids, n_stop;
	int64_t sent_mono;
};

static void
heartbeat_work(struct ledger_work *w, struct chime_db_conn *c)
{
	struct heartbeat_op *op = (struct heartbeat_op *)w;

	w->r = chime_ledger_heartbeat(c->pg, op->ids, op->n_ids, op->stop, &op->n_stop, w->err,
	                              sizeof(w->err));
}

static void
heartbeat_after(struct ledger_work *w)
{
	struct heartbeat_op *op = (struct heartbeat_op *)w;
	struct chime_ledger_service *svc = w->svc;

	svc->heartbeat_busy = false;
	if (w->r < 0 || svc->closing)
		return;
	chime__ledger_heartbeat_renewed(svc, op->ids, op->n_ids, op->stop, op->n_stop,
	                                op->sent_mono);
	for (size_t i = 0; i < op->n_stop; i++) {
		struct chime_runner_run *rr = chime_runner_find_live(svc->runner, op->stop[i]);

		/* A claim still waiting for the job's run elsewhere is
		 * cancelled too (the wait records it); else a newer slot's
		 * replace would wait behind it and it would run first. */
		if (rr == NULL || !(chime_runner_run_working(rr) || chime__ledger_run_waiting(rr)))
			continue;
		chime_runner_run_log(rr, CHIME_LOG_WARNING, NULL,
		                     "cancelling: another node replaced this run or recovered its "
		                     "claim");
		chime_runner_run_cancel(rr, "cancelled through the ledger");
	}
}

static void
heartbeat_free(struct ledger_work *w)
{
	struct heartbeat_op *op = (struct heartbeat_op *)w;

	chime_free_many(op->ids, op->stop, op);
}

static const struct ledger_op_type heartbeat_type = {
        .work = heartbeat_work,
        .after = heartbeat_after,
        .free = heartbeat_free,
};

/* A run past its timeout plus grace is not kept alive: if its worker
 * does not return, its lease runs out and the job's next slots are free
 * to run on another node. */
static void
heartbeat_drop_abandoned(struct chime_ledger_service *svc, int64_t *ids, size_t *n_ids)
{
	size_t n = 0;

	for (size_t i = 0; i < *n_ids; i++) {
		struct chime_runner_run *rr = chime_runner_find_live(svc->runner, ids[i]);

		if (rr == NULL || !chime_runner_run_abandoned(rr))
			ids[n++] = ids[i];
	}
	*n_ids = n;
}

static void
queue_heartbeat(struct chime_ledger_service *svc)
{
	struct heartbeat_op *op;

	if (svc->heartbeat_busy)
		return;
	op = chime__ledger_op_new(sizeof(*op), &heartbeat_type);
	if (op == NULL)
		return;
	op->sent_mono = chime__ledger_mono(svc);
	if (chime__ledger_live_ids(svc, &op->ids, &op->n_ids) == 0)
		heartbeat_drop_abandoned(svc, op->ids, &op->n_ids);
	if (op->n_ids == 0 || (op->stop = calloc(op->n_ids, sizeof(*op->stop))) == NULL) {
		heartbeat_free(&op->w);
		return;
	}
	if (chime__ledger_queue(svc, &op->w) == 0)
		svc->heartbeat_busy = true;
}

/* ---- The ledger's view of the jobs --------------------------------------- */

struct jobs_op {
	struct ledger_work w;
	struct ledger_job_entry *jobs;
	size_t n_jobs;
	void (*done_cb)(int r, const char *error, void *userdata);
	void *userdata;
};

static int64_t
json_epoch_usec(const json_t *v)
{
	return json_is_number(v) ? (int64_t)(json_number_value(v) * 1e6) : INT64_MIN;
}

static void
jobs_work(struct ledger_work *w, struct chime_db_conn *c)
{
	struct jobs_op *op = (struct jobs_op *)w;
	json_t *all = NULL, *o;
	const char *name;

	w->r = chime_ledger_query_jobs(c->pg, &all, w->err, sizeof(w->err));
	if (w->r < 0)
		return;
	op->jobs = calloc(json_object_size(all) + 1, sizeof(*op->jobs));
	if (op->jobs == NULL) {
		w->r = -ENOMEM;
		goto out;
	}
	json_object_foreach(all, name, o)
	{
		struct ledger_job_entry *e = &op->jobs[op->n_jobs];
		const char *status = json_string_value(json_object_get(o, "last_status"));

		e->name = strdup(name);
		if (e->name == NULL) {
			w->r = -ENOMEM;
			break;
		}
		/* The SQL boundary: the status is text in chime.runs. */
		e->state.has_last = status != NULL &&
		                    chime_run_status_parse(status, &e->state.last_status) == 0;
		e->state.last_finished_usec =
		        json_epoch_usec(json_object_get(o, "last_finished_at"));
		e->state.last_success_usec = json_epoch_usec(json_object_get(o, "last_success_at"));
		e->state.paused = json_is_true(json_object_get(o, "paused"));
		e->state.paused_usec = json_epoch_usec(json_object_get(o, "paused_at"));
		snprintf(e->state.paused_by, sizeof(e->state.paused_by), "%s",
		         json_is_string(json_object_get(o, "paused_by"))
		                 ? json_string_value(json_object_get(o, "paused_by"))
		                 : "");
		snprintf(e->state.pause_note, sizeof(e->state.pause_note), "%s",
		         json_is_string(json_object_get(o, "pause_note"))
		                 ? json_string_value(json_object_get(o, "pause_note"))
		                 : "");
		op->n_jobs++;
	}
out:
	json_decref(all);
}

static void
jobs_swap(struct chime_ledger_service *svc, struct jobs_op *op)
{
	struct ledger_job_entry *old = svc->jobs;
	size_t n_old = svc->n_jobs;

	svc->jobs = op->jobs;
	svc->n_jobs = op->n_jobs;
	svc->jobs_read = true;
	op->jobs = old;
	op->n_jobs = n_old;
}

static void
jobs_after(struct ledger_work *w)
{
	struct jobs_op *op = (struct jobs_op *)w;

	if (op->done_cb == NULL)
		w->svc->jobs_busy = false;
	if (w->r == 0)
		jobs_swap(w->svc, op);
	if (op->done_cb != NULL)
		op->done_cb(w->r, w->r < 0 ? w->err : NULL, op->userdata);
}

static void
jobs_free(struct ledger_work *w)
{
	struct jobs_op *op = (struct jobs_op *)w;

	for (size_t i = 0; i < op->n_jobs; i++)
		free(op->jobs[i].name);
	free(op->jobs);
	free(op);
}

static const struct ledger_op_type jobs_type = {
        .work = jobs_work,
        .after = jobs_after,
        .free = jobs_free,
};

int
chime_ledger_service_refresh_jobs(struct chime_ledger_service *svc,
                                  void (*done_cb)(int r, const char *error, void *userdata),
                                  void *userdata)
{
	struct jobs_op *op;
	int r;

	if (done_cb == NULL && svc->jobs_busy)
		return 0;
	op = chime__ledger_op_new(sizeof(*op), &jobs_type);
	if (op == NULL)
		return -ENOMEM;
	op->done_cb = done_cb;
	op->userdata = userdata;
	r = chime__ledger_queue(svc, &op->w);
	if (r == 0 && done_cb == NULL)
		svc->jobs_busy = true;
	return r;
}

int
chime_ledger_service_job_state(const struct chime_ledger_service *svc, const char *name,
                               struct chime_ledger_job_state *ret_state)
{
	if (!svc->jobs_read)
		return -ENODATA;
	for (size_t i = 0; i < svc->n_jobs; i++)
		if (strcmp(svc->jobs[i].name, name) == 0) {
			*ret_state = svc->jobs[i].state;
			return 0;
		}
	/* The ledger was read and has nothing of this job. */
	*ret_state = (struct chime_ledger_job_state){
	        .last_finished_usec = INT64_MIN,
	        .last_success_usec = INT64_MIN,
	        .paused_usec = INT64_MIN,
	};
	return 0;
}

/* ---- Health and the tick ------------------------------------------------- */

static void
health_cb(const struct chime_db_health *health, void *userdata)
{
	struct chime_ledger_service *svc = userdata;

	uv_async_send(&svc->health_async);
}

static uint64_t
runner_missed(const struct chime_ledger_service *svc)
{
	struct chime_runner_stats stats = {0};

	if (svc->runner != NULL)
		chime_runner_stats(svc->runner, &stats);
	return stats.missed;
}

static void queue_probe(struct chime_ledger_service *svc);

static void
probe_timer_cb(uv_timer_t *timer)
{
	struct chime_ledger_service *svc = timer->data;

	if (!svc->closing && svc->health.state != CHIME_DB_UP)
		queue_probe(svc);
}

static void
health_async_cb(uv_async_t *async)
{
	struct chime_ledger_service *svc = async->data;
	struct chime_db_health now;
	char since[64];

	chime_db_pool_health(svc->lpool, &now);
	if (now.state == svc->health.state) {
		/* The reason changed (a refused connect after "shutting
		 * down"): STATUS= shows the latest. */
		bool reason = strcmp(now.reason, svc->health.reason) != 0;

		svc->health = now;
		if (reason && svc->changed_cb != NULL)
			svc->changed_cb(svc->userdata);
		return;
	}
	if (now.state == CHIME_DB_UP)
		uv_timer_stop(&svc->probe_timer);
	else if (!svc->closing)
		uv_timer_start(&svc->probe_timer, probe_timer_cb, PROBE_EVERY_MSEC,
		               PROBE_EVERY_MSEC);
	if (now.state == CHIME_DB_DOWN) {
		svc->missed_at_down = runner_missed(svc);
		chime_log_error("database unavailable: %s; slots are not claimed until it is "
		                "back, retrying with backoff",
		                now.reason);
	} else if (now.state == CHIME_DB_UP && svc->health.state == CHIME_DB_DOWN) {
		if (chime_time_format(svc->health.since_wall_usec, NULL, since, sizeof(since)) < 0)
			snprintf(since, sizeof(since), "?");
		chime_log_notice("database is back (down since %s, %" PRIu64
		                 " slots not claimed meanwhile); catching up",
		                 since, runner_missed(svc) - svc->missed_at_down);
	} else if (now.state == CHIME_DB_UP)
		chime_log_info("database connected");
	if (now.state == CHIME_DB_DOWN)
		chime__ledger_gap(svc, now.since_wall_usec);
	if (now.state == CHIME_DB_UP)
		svc->catchup_pending = true;
	svc->health = now;
	if (svc->changed_cb != NULL)
		svc->changed_cb(svc->userdata);
}

static void
queue_probe(struct chime_ledger_service *svc)
{
	struct ledger_work *w;

	if (svc->probe_busy)
		return;
	w = chime__ledger_op_new(sizeof(*w), &probe_type);
	if (w == NULL)
		return;
	if (chime__ledger_queue(svc, w) == 0)
		svc->probe_busy = true;
}

/* The periodic work other than heartbeats: not in chimectl, not while
 * the runner drains. */
static void
tick_scans(struct chime_ledger_service *svc, int64_t now)
{
	if (svc->catchup_pending && !svc->catchup_busy && svc->config != NULL) {
		svc->catchup_pending = false;
		chime__ledger_scan_catchup(svc);
	}
	if (now >= svc->next_lost_mono) {
		chime__ledger_scan_lost(svc);
		svc->next_lost_mono = now + svc->lost_every_usec;
	}
	if (now >= svc->next_expect_mono) {
		chime__ledger_scan_expect(svc);
		svc->next_expect_mono = now + svc->expect_every_usec;
	}
	if (now >= svc->next_prune_mono) {
		chime__ledger_scan_prune(svc);
		svc->next_prune_mono = now + PRUNE_EVERY_USEC;
	}
	if (now >= svc->next_jobs_mono) {
		(void)chime_ledger_service_refresh_jobs(svc, NULL, NULL);
		svc->next_jobs_mono = now + JOBS_EVERY_USEC;
	}
}

static void
tick_cb(uv_timer_t *timer)
{
	struct chime_ledger_service *svc = timer->data;
	int64_t now = chime__ledger_mono(svc);

	if (svc->closing || svc->runner == NULL)
		return;
	if (svc->health.state != CHIME_DB_UP) {
		queue_probe(svc);
		return;
	}
	if (svc->stages_only || chime_runner_draining(svc->runner))
		return;
	tick_scans(svc, now);
}

/*
 * Every half heartbeat period: fence the runs whose claim went unrenewed
 * (also while the database is down: that is when it matters), then renew
 * the claims once per period. Its own timer, not the 1 s tick: a 2 s
 * lease needs a heartbeat every 500 ms.
 */
static void
heartbeat_timer_cb(uv_timer_t *timer)
{
	struct chime_ledger_service *svc = timer->data;
	int64_t now = chime__ledger_mono(svc);

	if (svc->closing || svc->runner == NULL)
		return;
	chime__ledger_fence_check(svc);
	if (svc->health.state != CHIME_DB_UP || now < svc->next_heartbeat_mono)
		return;
	queue_heartbeat(svc);
	/* A quarter period early: the timer's next firing is due then. */
	svc->next_heartbeat_mono = now + svc->heartbeat_every_usec * 3 / 4;
}

static void
heartbeat_timer_arm(struct chime_ledger_service *svc)
{
	uint64_t ms = (uint64_t)(svc->heartbeat_every_usec / 2000);

	if (svc->runner == NULL || svc->closing)
		return;
	if (uv_is_active((uv_handle_t *)&svc->heartbeat_timer) &&
	    uv_timer_get_repeat(&svc->heartbeat_timer) == ms)
		return;
	uv_timer_start(&svc->heartbeat_timer, heartbeat_timer_cb, ms, ms);
}

/* ---- Public ------------------------------------------------------------ */

int
chime_ledger_service_new(const struct chime_ledger_service_options *options,
                         struct chime_ledger_service **ret_service)
{
	const struct chime_database_config *db = options->database;
	struct chime_ledger_service *svc = calloc(1, sizeof(*svc));
	int r;

	if (svc == NULL)
		return -ENOMEM;
	svc->loop = options->loop;
	svc->clock = options->clock != NULL ? *options->clock : chime_clock_system;
	svc->stages_only = options->stages_only;
	svc->changed_cb = options->changed_cb;
	svc->userdata = options->userdata;
	svc->node = strdup(options->node != NULL ? options->node : "");
	if (svc->node == NULL) {
		free(svc);
		return -ENOMEM;
	}
	r = chime_db_pool_new(db, LEDGER_POOL_SIZE, &svc->lpool);
	if (r == 0)
		r = chime_db_pool_new(db, db->pool > 0 ? db->pool : 4, &svc->rpool);
	if (r == 0)
		chime_db_pool_share_health(svc->rpool, svc->lpool);
	if (r == 0)
		r = uv_async_init(svc->loop, &svc->health_async, health_async_cb);
	if (r < 0) {
		svc->lpool = chime_db_pool_free(svc->lpool);
		svc->rpool = chime_db_pool_free(svc->rpool);
		free(svc->node);
		free(svc);
		return r;
	}
	svc->health_async.data = svc;
	uv_timer_init(svc->loop, &svc->tick);
	svc->tick.data = svc;
	uv_timer_init(svc->loop, &svc->probe_timer);
	svc->probe_timer.data = svc;
	uv_timer_init(svc->loop, &svc->heartbeat_timer);
	svc->heartbeat_timer.data = svc;
	svc->open_handles = 4; /* tick, probe_timer, heartbeat_timer, health_async */
	chime_db_pool_set_health_cb(svc->lpool, health_cb, svc);
	chime_db_pool_health(svc->lpool, &svc->health);
	svc->heartbeat_every_usec = INT64_C(10) * 1000000;
	svc->lost_every_usec = INT64_C(30) * 1000000;
	svc->expect_every_usec = EXPECT_EVERY_USEC;
	svc->started_wall_usec = chime__ledger_wall(svc);
	/* Slots after the start are the live schedule's. */
	svc->catchup_since_wall_usec = svc->started_wall_usec;
	svc->catchup_latest_wall_usec = svc->started_wall_usec;
	svc->catchup_until_wall_usec = svc->started_wall_usec;
	svc->next_expect_mono = chime__ledger_mono(svc) + 1000000;
	svc->next_prune_mono = chime__ledger_mono(svc) + PRUNE_FIRST_USEC;
	*ret_service = svc;
	return 0;
}

void
chime_ledger_service_stages(struct chime_ledger_service *svc, struct chime_runner_stages *ret)
{
	*ret = (struct chime_runner_stages){
	        .claim = chime__ledger_claim,
	        .record = chime__ledger_record,
	        .skipped = chime__ledger_skipped,
	        .cancel = chime__ledger_cancel,
	        .abort = chime__ledger_abort,
	        .acquire_conn = chime__ledger_acquire_conn,
	        .release_conn = chime__ledger_release_conn,
	        .fence = chime__ledger_run_fence,
	        .record_in_tx = chime__ledger_record_in_tx,
	        .run_freed = chime__ledger_run_freed,
	        .userdata = svc,
	};
}

void
chime_ledger_service_attach(struct chime_ledger_service *svc, struct chime_runner *runner)
{
	svc->runner = runner;
	uv_timer_start(&svc->tick, tick_cb, 0, 1000);
	heartbeat_timer_arm(svc);
}

/* Clamp `v` to [lo, hi]. */
static int64_t
clamp_usec(int64_t v, int64_t lo, int64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

void
chime_ledger_service_set_config(struct chime_ledger_service *svc, struct chime_config *config)
{
	int64_t min_lease = INT64_MAX, expect_every = EXPECT_EVERY_USEC;

	/* The first configuration comes with the schedule's start: a slot
	 * before now is not the live schedule's, so catch-up plans it. */
	if (svc->config == NULL && chime__ledger_wall(svc) > svc->catchup_until_wall_usec)
		svc->catchup_until_wall_usec = chime__ledger_wall(svc);
	chime_config_ref(config);
	chime_config_unref(svc->config);
	svc->config = config;
	for (size_t i = 0; i < config->n_jobs; i++) {
		const struct chime_job_config *job = config->jobs[i];

		if (!job->enabled)
			continue;
		if (job->lease_usec > 0 && job->lease_usec < min_lease)
			min_lease = job->lease_usec;
		/* Check expect: at least twice per shortest expect span. */
		if (job->expect_usec > 0 && job->expect_usec / 2 < expect_every)
			expect_every = job->expect_usec / 2;
	}
	if (min_lease == INT64_MAX)
		min_lease = INT64_C(60) * 1000000;
	svc->expect_every_usec = clamp_usec(expect_every, 1000000, EXPECT_EVERY_USEC);
	/* Heartbeat four times per lease (ledger-fence.c says why); look for
	 * lost claims twice. */
	svc->heartbeat_every_usec =
	        clamp_usec(min_lease / CHIME_LEASE_HEARTBEATS,
	                   CHIME_LEASE_MIN_USEC / CHIME_LEASE_HEARTBEATS, INT64_C(10) * 1000000);
	svc->lost_every_usec = clamp_usec(min_lease / 2, 1000000, INT64_C(30) * 1000000);
	heartbeat_timer_arm(svc);
}

void
chime_ledger_service_database_status(const struct chime_ledger_service *svc, char *buf, size_t size)
{
	char text[400];

	chime_db_health_format(&svc->health, text, sizeof(text));
	snprintf(buf, size, "database: %s", text);
}

bool
chime_ledger_service_database_up(const struct chime_ledger_service *svc)
{
	return svc->health.state == CHIME_DB_UP;
}

static void
service_handle_closed(uv_handle_t *handle)
{
	struct chime_ledger_service *svc = handle->data;

	svc->open_handles--;
	service_maybe_free(svc);
}

void
chime_ledger_service_close(struct chime_ledger_service *svc)
{
	if (svc == NULL || svc->closing)
		return;
	svc->closing = true;
	/* Work still in flight must not wake the closed async. */
	chime_db_pool_set_health_cb(svc->lpool, NULL, NULL);
	uv_timer_stop(&svc->tick);
	uv_close((uv_handle_t *)&svc->tick, service_handle_closed);
	uv_close((uv_handle_t *)&svc->probe_timer, service_handle_closed);
	uv_timer_stop(&svc->heartbeat_timer);
	uv_close((uv_handle_t *)&svc->heartbeat_timer, service_handle_closed);
	uv_close((uv_handle_t *)&svc->health_async, service_handle_closed);
}
