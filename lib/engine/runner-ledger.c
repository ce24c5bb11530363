/* SPDX-License-Identifier: MIT */
/*
 * The runner against the PostgreSQL ledger (chime/ledger.h): the claim and
 * record stages, heartbeats of live runs, cancelling a run's statement,
 * catch-up of missed slots, recovery of lost claims of any node, expect
 * alarms and history pruning, and the database health the daemon shows.
 *
 * Every database round trip runs on libuv's thread pool (uv_queue_work)
 * with a connection of the ledger pool, and its result is applied on the
 * loop in the after-work callback; the loop never blocks. A run's plugin
 * gets a connection of the run pool on its own worker thread. A 1 s loop
 * timer drives the periodic work: a reconnect probe while the database is
 * down (the pool's backoff, 1 s doubling to 60 s, decides when it really
 * tries), heartbeats, the lost-claim scan, expect checks and pruning.
 *
 * Catch-up runs when the database becomes available (at start and after
 * an outage) and after a slot could not be claimed: per job, the ledger's
 * last slot and the misfire policy give the slots to run (dispatched as
 * catch-up runs, queued behind the job's live run) and the slots to
 * record skipped. Skipped rows are only written for slots at least
 * CATCHUP_GRACE old, so a node starting next to live ones never pre-empts
 * the claim of a slot another node is just running.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledger.h"
#include "log.h"
#include "run.h"
#include "timespan.h"

#include "runner-internal.h"

#define LEDGER_POOL_SIZE      4 /* as many as libuv's thread pool has threads */
#define LEDGER_TAKE_WAIT_USEC (INT64_C(10) * 1000000)
#define CATCHUP_GRACE_USEC    (INT64_C(2) * 1000000)
#define EXPECT_EVERY_USEC     (INT64_C(30) * 1000000)
#define PRUNE_EVERY_USEC      (INT64_C(3600) * 1000000)
#define PRUNE_FIRST_USEC      (INT64_C(60) * 1000000)
#define WAIT_POLL_MSEC        500
#define LOST_BATCH            50

enum lw_kind {
	LW_CLAIM,
	LW_WAIT,
	LW_RECORD,
	LW_SKIPPED,
	LW_CANCEL,
	LW_PROBE,
	LW_HEARTBEAT,
	LW_LOST,
	LW_CATCHUP,
	LW_EXPECT,
	LW_PRUNE,
};

enum lw_outcome {
	LWO_RUN,     /* claimed and started */
	LWO_SKIPPED, /* claimed as skipped (overlap elsewhere) */
	LWO_WAIT,    /* claimed; the job runs elsewhere: wait */
	LWO_PAUSED,  /* the job is paused (chime.paused): recorded skipped */
	LWO_RETRY,   /* claimed; the start was not recorded: retry it as a wait */
};

struct lw_recovered {
	size_t job_index;
	struct chime_slot slot;
	int64_t previous_usec;
	int attempt;
	int64_t new_id;
	bool rerun;
	char node[64];
	int64_t old_id;
};

struct lw_catchup_run {
	size_t job_index;
	struct chime_slot slot;
	int64_t previous_usec;
};

/* A slot this node holds in memory with no ledger row yet (a queued run). */
struct lw_held {
	size_t job_index;
	int64_t local_usec;
	int occurrence;
};

struct lw_expect {
	size_t job_index;
	int64_t last_success_usec; /* INT64_MIN: none */
};

struct lwork {
	uv_work_t req;
	struct chime_runner *runner;
	enum lw_kind kind;
	struct chime_runner_run *rr;
	struct chime_config *config; /* a reference, for the scans */
	int r;
	char err[512];
	enum lw_outcome outcome;
	int64_t id;
	int64_t since_usec; /* LW_CATCHUP: plan from the last slot at or before */
	/* LW_RECORD */
	enum chime_run_status status;
	char *summary, *error;
	bool again; /* a retry after the database was unreachable */
	/* LW_SKIPPED */
	char *job;
	struct chime_ledger_slot slot;
	/* LW_CANCEL: a reference */
	struct ledger_cancel *cancel;
	/* LW_HEARTBEAT; LW_LOST: ids only, the runs live in this process */
	int64_t *ids, *stop;
	size_t n_ids, n_stop;
	/* LW_LOST, LW_CATCHUP, LW_EXPECT */
	void *items;
	size_t n_items;
	/* LW_CATCHUP: slots not to plan, taken on the loop */
	struct lw_held *held;
	size_t n_held;
};

/*
 * A run connection's PGcancel, shared by the run and its queued PQcancel
 * work. PQcancel is issued under `lock`, and the worker clears `pg` under
 * it before giving the connection back: a timeout's cancel either reaches
 * the run's own statement or nothing, never the connection's next user.
 */
struct ledger_cancel {
	pthread_mutex_t lock;
	PGcancel *pg; /* NULL while the run holds no connection */
	atomic_int refs;
};

static struct ledger_cancel *
ledger_cancel_ref(struct ledger_cancel *lc)
{
	atomic_fetch_add(&lc->refs, 1);
	return lc;
}

struct ledger_cancel *
chime__ledger_cancel_unref(struct ledger_cancel *lc)
{
	if (lc == NULL || atomic_fetch_sub(&lc->refs, 1) > 1)
		return NULL;
	if (lc->pg != NULL)
		PQfreeCancel(lc->pg);
	pthread_mutex_destroy(&lc->lock);
	free(lc);
	return NULL;
}

static int64_t
wall_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static bool
job_needs_db(const struct chime_job_config *job)
{
	/* exec runs a command: no connection held for it. */
	return !(job->plugin != NULL && job->plugin->name != NULL &&
	         strcmp(job->plugin->name, "exec") == 0);
}

static const char *
job_plugin(const struct chime_job_config *job)
{
	return job->plugin_name != NULL ? job->plugin_name : "?";
}

/* ---- Thread side ------------------------------------------------------ */

/* A ledger connection with the schema in place. */
static int
lw_take(struct lwork *w, struct chime_db_conn **ret_conn)
{
	struct chime_runner *runner = w->runner;
	struct chime_db_conn *c = NULL;
	char why[600];
	int r;

	r = chime_db_pool_take(runner->lpool, LEDGER_TAKE_WAIT_USEC, &c, w->err, sizeof(w->err));
	if (r < 0)
		return r;
	if (!atomic_load(&runner->schema_ready)) {
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
		atomic_store(&runner->schema_ready, true);
	}
	*ret_conn = c;
	return 0;
}

static void
lw_give(struct chime_db_conn *c, int r, const char *err)
{
	chime_db_pool_give(c, r == -ENOTCONN, r == -ENOTCONN ? err : NULL);
}

/*
 * The row is claimed but its start was lost with the connection: the run
 * keeps the id and waits (heartbeated), and the wait retries the start
 * until it is recorded or another node recovered the claim (-ESTALE).
 * Given up, the row would stay 'claimed' unattended, catch-up would not
 * re-run the slot (it has a row), and after the lease it would be marked
 * failed or run elsewhere.
 */
static void
lw_start_failed(struct lwork *w)
{
	if (w->r != -ENOTCONN && w->r != -ETIME)
		return;
	w->r = 0;
	w->outcome = LWO_RETRY;
}

static void
lw_claim(struct lwork *w, struct chime_db_conn *c)
{
	struct chime_runner_run *rr = w->rr;
	const struct chime_job_config *job = rr->job;
	bool first = rr->attempt == 1;
	bool waitable = first && !rr->manual && (rr->catchup || job->overlap != CHIME_OVERLAP_SKIP);
	struct chime_ledger_slot slot = {
	        .job = job->name,
	        .local_usec = rr->slot.local_usec,
	        .occurrence = rr->slot.occurrence,
	        .instant_usec = rr->slot.instant_usec,
	        .previous_usec = rr->previous_usec,
	};
	struct chime_ledger_claim claim = {
	        .slot = &slot,
	        .attempt = rr->attempt,
	        .node = rr->runner->node,
	        .manual = rr->manual,
	        .lease_usec = job->lease_usec,
	        .skip_if_busy =
	                first && !rr->manual && !rr->catchup && job->overlap == CHIME_OVERLAP_SKIP,
	        .start = !waitable,
	        .honor_pause = first && !rr->manual,
	};
	enum chime_run_status status = CHIME_RUN_CLAIMED;
	bool busy = false;

	if (rr->preclaimed) {
		w->id = rr->id;
		w->r = chime_ledger_start(c->pg, rr->id, w->err, sizeof(w->err));
		w->outcome = LWO_RUN;
		lw_start_failed(w);
		return;
	}
	w->r = chime_ledger_claim(c->pg, &claim, &w->id, &status, w->err, sizeof(w->err));
	if (w->r < 0)
		return;
	if (status == CHIME_RUN_SKIPPED) {
		bool paused = false;

		/* Paused (the claim checks chime.paused in the same statement,
		 * so catch-up after the resume does not run these slots
		 * either), or busy elsewhere. */
		(void)chime_ledger_is_paused(c->pg, job->name, &paused, NULL, 0);
		w->outcome = paused ? LWO_PAUSED : LWO_SKIPPED;
		return;
	}
	if (!waitable) {
		w->outcome = LWO_RUN;
		return;
	}
	if (job->overlap == CHIME_OVERLAP_REPLACE && !rr->catchup)
		(void)chime_ledger_request_cancel(c->pg, job->name, w->id, NULL, NULL, 0);
	w->r = chime_ledger_job_busy(c->pg, job->name, w->id, &busy, w->err, sizeof(w->err));
	if (w->r < 0 || busy) {
		/* Claimed either way: the loop keeps the id and waits. */
		w->outcome = LWO_WAIT;
		w->r = 0;
		return;
	}
	w->r = chime_ledger_start(c->pg, w->id, w->err, sizeof(w->err));
	w->outcome = LWO_RUN;
	lw_start_failed(w);
}

static void
lw_wait(struct lwork *w, struct chime_db_conn *c)
{
	bool busy = true;

	w->id = w->rr->id;
	w->outcome = LWO_WAIT;
	w->r = chime_ledger_job_busy(c->pg, w->rr->job->name, w->rr->id, &busy, w->err,
	                             sizeof(w->err));
	if (w->r < 0 || busy) {
		/* Keep waiting through a database error: the claim stays ours
		 * while we heartbeat it, else another node recovers it. */
		w->r = 0;
		return;
	}
	w->r = chime_ledger_start(c->pg, w->rr->id, w->err, sizeof(w->err));
	w->outcome = LWO_RUN;
}

static bool
lw_live_here(const struct lwork *w, int64_t id)
{
	for (size_t i = 0; i < w->n_ids; i++)
		if (w->ids[i] == id)
			return true;
	return false;
}

static void
lw_lost(struct lwork *w, struct chime_db_conn *c)
{
	struct chime_ledger_lost *lost = NULL;
	struct lw_recovered *out;
	size_t n = 0;

	w->r = chime_ledger_find_lost(c->pg, LOST_BATCH, &lost, &n, w->err, sizeof(w->err));
	if (w->r < 0)
		return;
	out = calloc(n > 0 ? n : 1, sizeof(*out));
	if (out == NULL) {
		free(lost);
		w->r = -ENOMEM;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct chime_job_config *job = NULL;
		struct lw_recovered *o = &out[w->n_items];
		size_t k;

		for (k = 0; k < w->config->n_jobs; k++)
			if (strcmp(w->config->jobs[k]->name, lost[i].job) == 0) {
				job = w->config->jobs[k];
				break;
			}
		if (job == NULL)
			continue; /* not ours to judge: a job this config lacks */
		if (lw_live_here(w, lost[i].id))
			continue; /* our heartbeats were late: the run goes on */
		o->rerun = job->on_lost == CHIME_LOST_RERUN ||
		           (job->on_lost == CHIME_LOST_AUTO && job->plugin != NULL &&
		            job->plugin->idempotent);
		if (chime_ledger_recover(c->pg, &lost[i], o->rerun, w->runner->node,
		                         job->lease_usec, &o->new_id, NULL, 0) < 0)
			continue; /* another node won, or it came back */
		o->job_index = k;
		o->slot.instant_usec = lost[i].instant_usec;
		o->slot.local_usec = lost[i].local_usec;
		o->slot.occurrence = lost[i].occurrence;
		o->previous_usec = lost[i].previous_usec;
		o->attempt = lost[i].attempt + 1;
		o->old_id = lost[i].id;
		snprintf(o->node, sizeof(o->node), "%s", lost[i].node);
		w->n_items++;
	}
	free(lost);
	w->items = out;
}

static bool
lw_held(const struct lwork *w, size_t job_index, const struct chime_slot *slot)
{
	for (size_t i = 0; i < w->n_held; i++)
		if (w->held[i].job_index == job_index &&
		    w->held[i].local_usec == slot->local_usec &&
		    w->held[i].occurrence == slot->occurrence)
			return true;
	return false;
}

static void
lw_catchup(struct lwork *w, struct chime_db_conn *c)
{
	struct chime_config *cfg = w->config;
	struct lw_catchup_run *runs = NULL;
	size_t n_runs = 0, allocated = 0;
	int64_t now = wall_usec();

	for (size_t k = 0; k < cfg->n_jobs; k++) {
		const struct chime_job_config *job = cfg->jobs[k];
		struct chime_catchup_params p = {
		        .expr = job->expr,
		        .tz = job->tz,
		        .now_usec = now,
		        .misfire = job->misfire,
		        .window_usec = job->catchup_window_usec,
		        .max_catchup = job->max_catchup,
		};
		struct chime_catchup_plan plan;
		struct chime_ledger_row last;
		size_t recorded = 0;
		int r;

		if (!job->enabled || job->expr == NULL || job->plugin == NULL ||
		    chime_expr_kind(job->expr) == CHIME_EXPR_REBOOT)
			continue;
		r = chime_ledger_last_slot(c->pg, job->name, w->since_usec, &last, w->err,
		                           sizeof(w->err));
		if (r == -ENOENT)
			continue; /* a new job: nothing was missed */
		if (r < 0) {
			w->r = r;
			break;
		}
		p.last_instant_usec = last.instant_usec;
		if (chime_catchup_plan(&p, &plan) < 0) {
			w->r = -ENOMEM;
			break;
		}
		for (size_t i = 0; i < plan.n_skip; i++) {
			struct chime_ledger_slot s = {
			        .job = job->name,
			        .local_usec = plan.skip[i].local_usec,
			        .occurrence = plan.skip[i].occurrence,
			        .instant_usec = plan.skip[i].instant_usec,
			        .previous_usec = INT64_MIN,
			};

			if (plan.skip[i].instant_usec > now - CATCHUP_GRACE_USEC ||
			    lw_held(w, k, &plan.skip[i]))
				continue;
			if (chime_ledger_record_skipped(
			            c->pg, &s, w->runner->node,
			            "misfire: missed while no node could run it", NULL, NULL,
			            0) == 0)
				recorded++;
		}
		for (size_t i = 0; i < plan.n_run; i++) {
			struct chime_slot prev;

			if (lw_held(w, k, &plan.run[i]))
				continue; /* its queued run claims it */
			if (n_runs == allocated) {
				size_t na = allocated ? allocated * 2 : 16;
				struct lw_catchup_run *nr = realloc(runs, na * sizeof(*nr));

				if (nr == NULL)
					break;
				runs = nr;
				allocated = na;
			}
			runs[n_runs].job_index = k;
			runs[n_runs].slot = plan.run[i];
			runs[n_runs].previous_usec =
			        chime_expr_prev(job->expr, job->tz, plan.run[i].instant_usec - 1,
			                        &prev) == 0
			                ? prev.instant_usec
			                : INT64_MIN;
			n_runs++;
		}
		if (plan.n_run + plan.n_skip + plan.n_skip_unrecorded > 0)
			chime_log_run(CHIME_LOG_NOTICE,
			              &(struct chime_log_run){.job = job->name,
			                                      .plugin = job_plugin(job)},
			              "catch-up from the ledger: %zu missed slot%s, %zu to run, "
			              "%zu recorded skipped",
			              plan.n_run + plan.n_skip + plan.n_skip_unrecorded,
			              plan.n_run + plan.n_skip + plan.n_skip_unrecorded == 1 ? ""
			                                                                     : "s",
			              plan.n_run, recorded);
		chime_catchup_plan_done(&plan);
	}
	w->items = runs;
	w->n_items = n_runs;
}

static void
lw_expect(struct lwork *w, struct chime_db_conn *c)
{
	struct lw_expect *out = calloc(w->config->n_jobs + 1, sizeof(*out));

	if (out == NULL) {
		w->r = -ENOMEM;
		return;
	}
	for (size_t k = 0; k < w->config->n_jobs; k++) {
		const struct chime_job_config *job = w->config->jobs[k];
		int64_t last = INT64_MIN;
		int r;

		if (!job->enabled || job->expect_usec <= 0)
			continue;
		r = chime_ledger_last_success(c->pg, job->name, &last, w->err, sizeof(w->err));
		if (r < 0 && r != -ENOENT) {
			w->r = r;
			break;
		}
		out[w->n_items].job_index = k;
		out[w->n_items].last_success_usec = r == 0 ? last : INT64_MIN;
		w->n_items++;
	}
	w->items = out;
}

static void
lw_prune(struct lwork *w, struct chime_db_conn *c)
{
	int64_t now = wall_usec(), total = 0;

	for (size_t k = 0; k < w->config->n_jobs; k++) {
		const struct chime_job_config *job = w->config->jobs[k];
		int64_t n = 0;

		if (job->history_usec <= 0)
			continue;
		w->r = chime_ledger_prune(c->pg, job->name, now - job->history_usec, &n, w->err,
		                          sizeof(w->err));
		if (w->r < 0)
			break;
		total += n;
	}
	if (total > 0)
		chime_log_info("ledger: pruned %" PRId64 " run%s older than their job's history",
		               total, total == 1 ? "" : "s");
}

static void
lw_work_cb(uv_work_t *req)
{
	struct lwork *w = req->data;
	struct chime_db_conn *c = NULL;

	switch (w->kind) {
	case LW_CANCEL:
		pthread_mutex_lock(&w->cancel->lock);
		w->r = w->cancel->pg != NULL
		               ? chime_db_cancel(w->cancel->pg, w->err, sizeof(w->err))
		               : 0;
		pthread_mutex_unlock(&w->cancel->lock);
		return;
	case LW_PROBE:
		w->r = chime_db_pool_probe(w->runner->lpool);
		if (w->r < 0 || atomic_load(&w->runner->schema_ready))
			return;
		break;
	default:
		break;
	}
	w->r = lw_take(w, &c);
	if (w->r < 0)
		return;
	switch (w->kind) {
	case LW_CLAIM:
		lw_claim(w, c);
		break;
	case LW_WAIT:
		lw_wait(w, c);
		break;
	case LW_RECORD:
		w->r = chime_ledger_finish(c->pg, w->rr->id, w->status, w->summary, w->error,
		                           w->err, sizeof(w->err));
		break;
	case LW_SKIPPED:
		w->r = chime_ledger_record_skipped(c->pg, &w->slot, w->runner->node, w->error, NULL,
		                                   w->err, sizeof(w->err));
		break;
	case LW_HEARTBEAT:
		w->r = chime_ledger_heartbeat(c->pg, w->ids, w->n_ids, w->stop, &w->n_stop, w->err,
		                              sizeof(w->err));
		break;
	case LW_LOST:
		lw_lost(w, c);
		break;
	case LW_CATCHUP:
		lw_catchup(w, c);
		break;
	case LW_EXPECT:
		lw_expect(w, c);
		break;
	case LW_PRUNE:
		lw_prune(w, c);
		break;
	case LW_CANCEL:
	case LW_PROBE:
		break;
	}
	lw_give(c, w->r, w->err);
}

/* ---- Loop side -------------------------------------------------------- */

static void lw_after_cb(uv_work_t *req, int status);

static struct lwork *
lw_new(struct chime_runner *runner, enum lw_kind kind)
{
	struct lwork *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->runner = runner;
	w->kind = kind;
	w->req.data = w;
	return w;
}

static void
lw_free(struct lwork *w)
{
	chime__ledger_cancel_unref(w->cancel);
	chime_config_unref(w->config);
	free(w->summary);
	free(w->error);
	free(w->job);
	free(w->ids);
	free(w->stop);
	free(w->items);
	free(w->held);
	free(w);
}

/* Returns 0, or a negative errno after freeing `w`. */
static int
lw_queue(struct lwork *w)
{
	struct chime_runner *runner = w->runner;
	int r;

	r = uv_queue_work(runner->options.loop, &w->req, lw_work_cb, lw_after_cb);
	if (r < 0) {
		lw_free(w);
		return r;
	}
	runner->pending_work++;
	return 0;
}

static void wait_timer_cb(uv_timer_t *timer);

static void
after_claim(struct lwork *w)
{
	struct chime_runner_run *rr = w->rr;
	struct chime_runner *runner = rr->runner;
	char when[64];

	chime__runner_when(rr, when, sizeof(when));
	if (w->kind == LW_WAIT && w->r < 0 && w->r != -ESTALE) {
		/* No connection for the check: keep waiting. */
		uv_timer_start(&rr->timer, wait_timer_cb, WAIT_POLL_MSEC, 0);
		return;
	}
	if (w->r == 0 && w->outcome == LWO_RUN) {
		rr->id = w->id;
		rr->waiting = false;
		chime__runner_work(rr);
		return;
	}
	if (w->r == 0 && w->outcome == LWO_WAIT) {
		if (!rr->waiting)
			chime__runner_log(rr, CHIME_LOG_NOTICE, NULL,
			                  "slot %s claimed; waiting for the job's run on another "
			                  "node (overlap: %s)",
			                  when,
			                  rr->job->overlap == CHIME_OVERLAP_REPLACE ? "replace"
			                                                            : "queue");
		rr->id = w->id;
		rr->waiting = true;
		uv_timer_start(&rr->timer, wait_timer_cb, WAIT_POLL_MSEC, 0);
		return;
	}
	if (w->r == 0 && w->outcome == LWO_RETRY) {
		chime__runner_log(rr, CHIME_LOG_WARNING, NULL,
		                  "slot %s claimed; its start not recorded yet: %s; retrying "
		                  "until the database is back",
		                  when, w->err);
		rr->id = w->id;
		rr->waiting = true;
		uv_timer_start(&rr->timer, wait_timer_cb, WAIT_POLL_MSEC, 0);
		return;
	}
	if (w->r == 0 && w->outcome == LWO_SKIPPED) {
		rr->id = w->id;
		runner->stats.skipped++;
		chime__runner_log(rr, CHIME_LOG_NOTICE, CHIME_MESSAGE_RUN_SKIPPED,
		                  "slot %s skipped: the job is still running on another node",
		                  when);
		chime__runner_end_early(rr, "skipped");
		return;
	}
	if (w->r == 0 && w->outcome == LWO_PAUSED) {
		rr->id = w->id;
		runner->stats.skipped++;
		chime__runner_log(rr, CHIME_LOG_NOTICE, CHIME_MESSAGE_RUN_SKIPPED,
		                  "slot %s skipped: the job is paused", when);
		chime__runner_end_early(rr, "skipped");
		return;
	}
	if (w->r == -EEXIST || w->r == -ESTALE) {
		chime__runner_log(rr, CHIME_LOG_DEBUG, NULL, "slot %s is taken by another node",
		                  when);
		chime__runner_end_early(rr, "skipped");
		return;
	}
	runner->stats.missed++;
	runner->catchup_pending = true;
	if (rr->slot.instant_usec - 1 < runner->catchup_since_wall_usec)
		runner->catchup_since_wall_usec = rr->slot.instant_usec - 1;
	/* Each slot an outage costs is a line with the job's fields, so
	 * `journalctl CHIME_JOB=x` shows it; the total comes with the
	 * "database is back" line. */
	chime__runner_log(rr, CHIME_LOG_WARNING, NULL,
	                  "slot %s not claimed: database unavailable: %s; catch-up decides "
	                  "when it is back",
	                  when, w->err);
	chime__runner_end_early(rr, "failed");
}

static void record_retry_cb(uv_timer_t *timer);

static void
after_record(struct lwork *w)
{
	struct chime_runner_run *rr = w->rr;
	struct chime_runner *runner = rr->runner;
	char when[64];

	chime__runner_when(rr, when, sizeof(when));
	if ((w->r == -ENOTCONN || w->r == -ETIME) && !runner->draining && !runner->closing) {
		/* The run stays live (and heartbeated while the database
		 * answers): left `running`, its claim would be recovered after
		 * the lease and the slot run again. */
		if (!w->again)
			chime__runner_log(rr, CHIME_LOG_WARNING, NULL,
			                  "run of %s: outcome '%s' not recorded yet: %s; retrying "
			                  "until the database is back",
			                  when, rr->status, w->err);
		uv_timer_start(&rr->timer, record_retry_cb, 1000, 0);
		return;
	}
	if (w->r == -ESTALE)
		chime__runner_log(rr, CHIME_LOG_WARNING, NULL,
		                  "run of %s: outcome '%s' not recorded: another node recovered "
		                  "the claim as lost meanwhile",
		                  when, rr->status);
	else if (w->r < 0)
		chime__runner_log(rr, CHIME_LOG_ERR, NULL,
		                  "run of %s: outcome '%s' not recorded: %s; the claim will be "
		                  "recovered after its lease",
		                  when, rr->status, w->err);
	chime__runner_done(rr);
}

static struct chime_runner_run *
find_live(struct chime_runner *runner, int64_t id)
{
	for (struct chime_runner_run *rr = runner->runs; rr != NULL; rr = rr->next)
		if (rr->id == id && (rr->state == RR_CLAIMING || rr->state == RR_WORKING ||
		                     rr->state == RR_RECORDING))
			return rr;
	return NULL;
}

static void
after_heartbeat(struct lwork *w)
{
	struct chime_runner *runner = w->runner;

	runner->heartbeat_busy = false;
	if (w->r < 0)
		return;
	for (size_t i = 0; i < w->n_stop; i++) {
		struct chime_runner_run *rr = find_live(runner, w->stop[i]);

		/* A claim still waiting for the job's run elsewhere is
		 * cancelled too (the wait records it); else a newer slot's
		 * replace would wait behind it and it would run first. */
		if (rr == NULL ||
		    (rr->state != RR_WORKING && !(rr->state == RR_CLAIMING && rr->waiting)))
			continue;
		chime__runner_log(rr, CHIME_LOG_WARNING, NULL,
		                  "cancelling: another node replaced this run or recovered its "
		                  "claim");
		if (rr->cancel_reason == NULL)
			rr->cancel_reason = "cancelled through the ledger";
		pthread_mutex_lock(&rr->lock);
		rr->cancel_pending = true;
		if (rr->run != NULL)
			chime_run_cancel(rr->run);
		pthread_mutex_unlock(&rr->lock);
		chime__ledger_cancel(rr);
	}
}

static void
after_lost(struct lwork *w)
{
	struct chime_runner *runner = w->runner;
	struct lw_recovered *items = w->items;

	runner->lost_busy = false;
	for (size_t i = 0; i < w->n_items; i++) {
		const struct chime_job_config *job = w->config->jobs[items[i].job_index];
		struct chime_runner_run *rr;
		char when[64];

		runner->stats.recovered++;
		if (chime_time_format(items[i].slot.instant_usec, job->tz, when, sizeof(when)) < 0)
			snprintf(when, sizeof(when), "?");
		chime_log_run(
		        CHIME_LOG_WARNING,
		        &(struct chime_log_run){.job = job->name,
		                                .plugin = job_plugin(job),
		                                .run_id = items[i].old_id,
		                                .scheduled_for_usec = items[i].slot.instant_usec,
		                                .status = items[i].rerun ? "lost" : "failed"},
		        "run of %s on node '%s' lost (no heartbeat within the lease): %s", when,
		        items[i].node,
		        items[i].rerun ? "re-running it here as a new attempt"
		                       : "marked failed (not idempotent, or on_lost: fail)");
		if (!items[i].rerun || items[i].new_id <= 0 || runner->draining)
			continue;
		rr = chime__runner_run_new(runner, w->config, job, &items[i].slot,
		                           items[i].previous_usec, items[i].attempt);
		if (rr == NULL)
			continue;
		rr->id = items[i].new_id;
		rr->preclaimed = true;
		chime__runner_start(rr);
	}
}

static void
after_catchup(struct lwork *w)
{
	struct chime_runner *runner = w->runner;
	struct lw_catchup_run *runs = w->items;

	runner->catchup_busy = false;
	if (w->r < 0) {
		chime_log_warning("catch-up from the ledger failed: %s, retrying", w->err);
		runner->catchup_pending = true;
		if (w->since_usec < runner->catchup_since_wall_usec)
			runner->catchup_since_wall_usec = w->since_usec;
	}
	for (size_t i = 0; i < w->n_items && !runner->draining; i++)
		(void)chime__runner_dispatch(runner, w->config, w->config->jobs[runs[i].job_index],
		                             &runs[i].slot, runs[i].previous_usec, true);
}

static struct runner_alarm *
alarm_for(struct chime_runner *runner, const char *job)
{
	struct runner_alarm *na;

	for (size_t i = 0; i < runner->n_alarms; i++)
		if (strcmp(runner->alarms[i].job, job) == 0)
			return &runner->alarms[i];
	na = realloc(runner->alarms, (runner->n_alarms + 1) * sizeof(*na));
	if (na == NULL)
		return NULL;
	runner->alarms = na;
	na[runner->n_alarms].job = strdup(job);
	if (na[runner->n_alarms].job == NULL)
		return NULL;
	na[runner->n_alarms].last_alarm_wall_usec = INT64_MIN;
	return &na[runner->n_alarms++];
}

static void
after_expect(struct lwork *w)
{
	struct chime_runner *runner = w->runner;
	struct lw_expect *items = w->items;
	int64_t now = wall_usec();

	runner->expect_busy = false;
	for (size_t i = 0; i < w->n_items; i++) {
		const struct chime_job_config *job = w->config->jobs[items[i].job_index];
		int64_t since = items[i].last_success_usec != INT64_MIN ? items[i].last_success_usec
		                                                        : runner->started_wall_usec;
		struct runner_alarm *a;
		char span[32], last[64];

		if (now - since <= job->expect_usec)
			continue;
		a = alarm_for(runner, job->name);
		if (a == NULL || (a->last_alarm_wall_usec != INT64_MIN &&
		                  now - a->last_alarm_wall_usec < job->expect_usec))
			continue;
		a->last_alarm_wall_usec = now;
		chime_timespan_format(job->expect_usec, span, sizeof(span));
		if (items[i].last_success_usec == INT64_MIN ||
		    chime_time_format(items[i].last_success_usec, job->tz, last, sizeof(last)) < 0)
			snprintf(last, sizeof(last), "never");
		chime_log_run(CHIME_LOG_ERR,
		              &(struct chime_log_run){.job = job->name, .plugin = job_plugin(job)},
		              "expect: no successful run in the last %s (last success: %s)", span,
		              last);
	}
}

static void
lw_after_cb(uv_work_t *req, int status)
{
	struct lwork *w = req->data;
	struct chime_runner *runner = w->runner;

	runner->pending_work--;
	switch (w->kind) {
	case LW_CLAIM:
	case LW_WAIT:
		after_claim(w);
		break;
	case LW_RECORD:
		after_record(w);
		break;
	case LW_PROBE:
		runner->probe_busy = false;
		break;
	case LW_HEARTBEAT:
		after_heartbeat(w);
		break;
	case LW_LOST:
		after_lost(w);
		break;
	case LW_CATCHUP:
		after_catchup(w);
		break;
	case LW_EXPECT:
		after_expect(w);
		break;
	case LW_PRUNE:
		runner->prune_busy = false;
		break;
	case LW_SKIPPED:
	case LW_CANCEL:
		break;
	}
	lw_free(w);
	if (runner->closing)
		chime__runner_maybe_free(runner);
}

static void
wait_timer_cb(uv_timer_t *timer)
{
	struct chime_runner_run *rr = timer->data;
	struct lwork *w;

	if (rr->runner->draining || rr->cancel_pending) {
		rr->status = "cancelled";
		rr->state = RR_RECORDING;
		chime__ledger_record(rr);
		return;
	}
	w = lw_new(rr->runner, LW_WAIT);
	if (w == NULL) {
		uv_timer_start(&rr->timer, wait_timer_cb, WAIT_POLL_MSEC, 0);
		return;
	}
	w->rr = rr;
	if (lw_queue(w) < 0)
		uv_timer_start(&rr->timer, wait_timer_cb, WAIT_POLL_MSEC, 0);
}

void
chime__ledger_claim(struct chime_runner_run *rr)
{
	struct lwork *w = lw_new(rr->runner, LW_CLAIM);

	if (w != NULL) {
		w->rr = rr;
		if (lw_queue(w) == 0)
			return;
	}
	rr->runner->stats.failed++;
	chime__runner_log(rr, CHIME_LOG_ERR, NULL, "cannot claim the slot: out of memory");
	chime__runner_end_early(rr, "failed");
}

static void
ledger_record(struct chime_runner_run *rr, bool again)
{
	struct lwork *w = lw_new(rr->runner, LW_RECORD);
	const char *error = rr->run != NULL ? chime_run_error(rr->run) : NULL;
	enum chime_run_status status = CHIME_RUN_FAILED;

	if (w == NULL) {
		chime__runner_log(rr, CHIME_LOG_ERR, NULL,
		                  "cannot record the outcome: out of memory");
		chime__runner_done(rr);
		return;
	}
	(void)chime_run_status_parse(rr->status, &status);
	w->rr = rr;
	w->again = again;
	w->status = status;
	w->summary = rr->run != NULL ? chime_run_report_json(rr->run) : NULL;
	if (rr->timed_out) {
		char span[32];

		chime_timespan_format(rr->job->timeout_usec, span, sizeof(span));
		if (asprintf(&w->error, "timed out after %s%s%s", span, error ? ": " : "",
		             error ? error : "") < 0)
			w->error = NULL;
	} else if (status == CHIME_RUN_CANCELLED) {
		if (asprintf(&w->error, "cancelled: %s",
		             rr->cancel_reason != NULL ? rr->cancel_reason : "shutting down") < 0)
			w->error = NULL;
	} else if (status != CHIME_RUN_SUCCEEDED) {
		w->error = strdup(error != NULL ? error : "failed");
	}
	if (lw_queue(w) < 0) {
		chime__runner_log(rr, CHIME_LOG_ERR, NULL, "cannot record the outcome");
		chime__runner_done(rr);
	}
}

static void
record_retry_cb(uv_timer_t *timer)
{
	ledger_record(timer->data, true);
}

void
chime__ledger_record(struct chime_runner_run *rr)
{
	ledger_record(rr, false);
}

void
chime__ledger_record_skipped(struct chime_runner *runner, const struct chime_job_config *job,
                             const struct chime_slot *slot, int64_t previous_usec,
                             const char *reason)
{
	struct lwork *w = lw_new(runner, LW_SKIPPED);

	if (w == NULL)
		return;
	w->job = strdup(job->name);
	w->error = strdup(reason);
	if (w->job == NULL || w->error == NULL) {
		lw_free(w);
		return;
	}
	w->slot = (struct chime_ledger_slot){
	        .job = w->job,
	        .local_usec = slot->local_usec,
	        .occurrence = slot->occurrence,
	        .instant_usec = slot->instant_usec,
	        .previous_usec = previous_usec,
	};
	(void)lw_queue(w);
}

void
chime__ledger_cancel(struct chime_runner_run *rr)
{
	struct ledger_cancel *lc = NULL;
	struct lwork *w;

	pthread_mutex_lock(&rr->lock);
	if (rr->conn != NULL && rr->cancel != NULL)
		lc = ledger_cancel_ref(rr->cancel);
	pthread_mutex_unlock(&rr->lock);
	if (lc == NULL)
		return;
	w = lw_new(rr->runner, LW_CANCEL);
	if (w == NULL) {
		chime__ledger_cancel_unref(lc);
		return;
	}
	w->cancel = lc;
	(void)lw_queue(w);
}

int
chime__ledger_take_run_conn(struct chime_runner_run *rr, struct chime_db_conn **ret_conn,
                            char *errbuf, size_t errsize)
{
	struct chime_db_conn *c = NULL;
	int r;

	*ret_conn = NULL;
	if (!job_needs_db(rr->job))
		return 0;
	for (;;) {
		bool cancelled;

		r = chime_db_pool_take(rr->runner->rpool, 1000000, &c, errbuf, errsize);
		if (r != -ETIME)
			break;
		pthread_mutex_lock(&rr->lock);
		cancelled = rr->cancel_pending;
		pthread_mutex_unlock(&rr->lock);
		if (cancelled) {
			snprintf(errbuf, errsize, "cancelled while waiting for a connection");
			return -ECANCELED;
		}
	}
	if (r < 0)
		return r;
	r = chime_db_set_statement_timeout(c->pg, rr->job->timeout_usec, errbuf, errsize);
	if (r < 0) {
		chime_db_pool_give(c, r == -ENOTCONN, NULL);
		return r;
	}
	/* The loop reads rr->cancel under rr->lock (chime__ledger_cancel). */
	pthread_mutex_lock(&rr->lock);
	if (rr->cancel == NULL) {
		rr->cancel = calloc(1, sizeof(*rr->cancel));
		if (rr->cancel != NULL) {
			pthread_mutex_init(&rr->cancel->lock, NULL);
			atomic_init(&rr->cancel->refs, 1);
		}
	}
	pthread_mutex_unlock(&rr->lock);
	if (rr->cancel != NULL) {
		pthread_mutex_lock(&rr->cancel->lock);
		rr->cancel->pg = PQgetCancel(c->pg);
		pthread_mutex_unlock(&rr->cancel->lock);
	}
	*ret_conn = c;
	return 0;
}

void
chime__ledger_give_run_conn(struct chime_runner_run *rr, struct chime_db_conn *conn)
{
	char err[256];
	int r;

	/* Waits for a PQcancel in flight; none is issued after this. */
	if (rr->cancel != NULL) {
		pthread_mutex_lock(&rr->cancel->lock);
		if (rr->cancel->pg != NULL)
			PQfreeCancel(rr->cancel->pg);
		rr->cancel->pg = NULL;
		pthread_mutex_unlock(&rr->cancel->lock);
	}
	/* The job's statements may have changed the session (search_path,
	 * a session advisory lock): not for the connection's next run. One
	 * that cannot be reset is closed. */
	r = chime_db_session_reset(conn->pg, err, sizeof(err));
	chime_db_pool_give(conn, r < 0, r < 0 ? err : NULL);
}

/* ---- Health and the periodic tick ------------------------------------- */

static void
health_cb(const struct chime_db_health *health, void *userdata)
{
	struct chime_runner *runner = userdata;

	uv_async_send(&runner->health_async);
}

static void
health_async_cb(uv_async_t *async)
{
	struct chime_runner *runner = async->data;
	struct chime_db_health now;
	char since[64];

	chime_db_pool_health(runner->lpool, &now);
	if (now.state == runner->health.state) {
		runner->health = now;
		return;
	}
	if (now.state == CHIME_DB_DOWN)
		runner->missed_at_down = runner->stats.missed;
	if (now.state == CHIME_DB_DOWN)
		chime_log_error("database unavailable: %s; slots are not claimed until it is "
		                "back, retrying with backoff",
		                now.reason);
	else if (now.state == CHIME_DB_UP && runner->health.state == CHIME_DB_DOWN) {
		if (chime_time_format(runner->health.since_wall_usec, NULL, since, sizeof(since)) <
		    0)
			snprintf(since, sizeof(since), "?");
		chime_log_notice("database is back (down since %s, %" PRIu64
		                 " slots not claimed meanwhile); catching up",
		                 since, runner->stats.missed - runner->missed_at_down);
	} else if (now.state == CHIME_DB_UP)
		chime_log_info("database connected");
	if (now.state == CHIME_DB_DOWN && now.since_wall_usec < runner->catchup_since_wall_usec)
		runner->catchup_since_wall_usec = now.since_wall_usec;
	if (now.state == CHIME_DB_UP)
		runner->catchup_pending = true;
	runner->health = now;
	if (runner->options.changed_cb != NULL)
		runner->options.changed_cb(runner->options.userdata);
}

/*
 * The slots this node holds in memory without a ledger row (queued behind
 * the job's live run, or claiming): catch-up must not plan them, or it
 * would record them skipped (or run them twice) and their own run would
 * then find them "already claimed" and never run.
 */
static int
catchup_hold(struct lwork *w)
{
	struct chime_runner *runner = w->runner;
	size_t n = 0;

	for (struct chime_runner_run *rr = runner->runs; rr != NULL; rr = rr->next)
		if (rr->id <= 0)
			n++;
	if (n == 0)
		return 0;
	w->held = calloc(n, sizeof(*w->held));
	if (w->held == NULL)
		return -ENOMEM;
	for (struct chime_runner_run *rr = runner->runs; rr != NULL; rr = rr->next) {
		if (rr->id > 0)
			continue;
		for (size_t k = 0; k < w->config->n_jobs; k++)
			if (strcmp(w->config->jobs[k]->name, rr->job->name) == 0) {
				w->held[w->n_held++] = (struct lw_held){
				        .job_index = k,
				        .local_usec = rr->slot.local_usec,
				        .occurrence = rr->slot.occurrence,
				};
				break;
			}
	}
	return 0;
}

/*
 * The ids of the runs live in this process: when their heartbeats were
 * starved past the lease, the lost-claim scan must not recover them here
 * (a second run of the slot next to the first, which the recovery then
 * cancels). Another node may, as it cannot tell.
 */
static bool
rr_held_live(const struct chime_runner_run *rr)
{
	return rr->state == RR_CLAIMING || rr->state == RR_WORKING || rr->state == RR_RECORDING;
}

static int
lost_hold(struct lwork *w)
{
	size_t n = 0;

	for (struct chime_runner_run *rr = w->runner->runs; rr != NULL; rr = rr->next)
		if (rr->id > 0 && rr_held_live(rr))
			n++;
	if (n == 0)
		return 0;
	w->ids = calloc(n, sizeof(*w->ids));
	if (w->ids == NULL)
		return -ENOMEM;
	for (struct chime_runner_run *rr = w->runner->runs; rr != NULL; rr = rr->next)
		if (rr->id > 0 && rr_held_live(rr))
			w->ids[w->n_ids++] = rr->id;
	return 0;
}

static void
queue_scan(struct chime_runner *runner, enum lw_kind kind, bool *busy)
{
	struct lwork *w;

	if (*busy || runner->config == NULL)
		return;
	w = lw_new(runner, kind);
	if (w == NULL)
		return;
	w->config = chime_config_ref(runner->config);
	w->since_usec = runner->catchup_since_wall_usec;
	if ((kind == LW_CATCHUP && catchup_hold(w) < 0) || (kind == LW_LOST && lost_hold(w) < 0)) {
		lw_free(w);
		return;
	}
	if (lw_queue(w) == 0)
		*busy = true;
}

static void
queue_heartbeat(struct chime_runner *runner)
{
	struct lwork *w;
	size_t n = 0;

	if (runner->heartbeat_busy)
		return;
	for (struct chime_runner_run *rr = runner->runs; rr != NULL; rr = rr->next)
		if (rr->id > 0 && (rr->state == RR_CLAIMING || rr->state == RR_WORKING ||
		                   rr->state == RR_RECORDING))
			n++;
	if (n == 0)
		return;
	w = lw_new(runner, LW_HEARTBEAT);
	if (w == NULL)
		return;
	w->ids = calloc(n, sizeof(*w->ids));
	w->stop = calloc(n, sizeof(*w->stop));
	if (w->ids == NULL || w->stop == NULL) {
		lw_free(w);
		return;
	}
	for (struct chime_runner_run *rr = runner->runs; rr != NULL; rr = rr->next)
		if (rr->id > 0 && (rr->state == RR_CLAIMING || rr->state == RR_WORKING ||
		                   rr->state == RR_RECORDING))
			w->ids[w->n_ids++] = rr->id;
	if (lw_queue(w) == 0)
		runner->heartbeat_busy = true;
}

static void
ledger_tick_cb(uv_timer_t *timer)
{
	struct chime_runner *runner = timer->data;
	int64_t now = chime__runner_mono_usec();

	if (runner->closing)
		return;
	if (runner->health.state != CHIME_DB_UP) {
		struct lwork *w;

		if (runner->probe_busy)
			return;
		w = lw_new(runner, LW_PROBE);
		if (w != NULL && lw_queue(w) == 0)
			runner->probe_busy = true;
		return;
	}
	if (runner->catchup_pending && !runner->catchup_busy && !runner->draining &&
	    runner->config != NULL) {
		runner->catchup_pending = false;
		queue_scan(runner, LW_CATCHUP, &runner->catchup_busy);
		if (runner->catchup_busy)
			runner->catchup_since_wall_usec = INT64_MAX;
	}
	if (now >= runner->next_heartbeat_mono) {
		queue_heartbeat(runner);
		runner->next_heartbeat_mono = now + runner->heartbeat_every_usec;
	}
	if (runner->draining)
		return;
	if (now >= runner->next_lost_mono) {
		queue_scan(runner, LW_LOST, &runner->lost_busy);
		runner->next_lost_mono = now + runner->lost_every_usec;
	}
	if (now >= runner->next_expect_mono) {
		queue_scan(runner, LW_EXPECT, &runner->expect_busy);
		runner->next_expect_mono = now + runner->expect_every_usec;
	}
	if (now >= runner->next_prune_mono) {
		queue_scan(runner, LW_PRUNE, &runner->prune_busy);
		runner->next_prune_mono = now + PRUNE_EVERY_USEC;
	}
}

int
chime__ledger_init(struct chime_runner *runner, const struct chime_database_config *db)
{
	uv_loop_t *loop = runner->options.loop;
	int r;

	r = chime_db_pool_new(db, LEDGER_POOL_SIZE, &runner->lpool);
	if (r < 0)
		return r;
	r = chime_db_pool_new(db, db->pool > 0 ? db->pool : 4, &runner->rpool);
	if (r < 0) {
		runner->lpool = chime_db_pool_free(runner->lpool);
		return r;
	}
	r = uv_async_init(loop, &runner->health_async, health_async_cb);
	if (r < 0) {
		runner->lpool = chime_db_pool_free(runner->lpool);
		runner->rpool = chime_db_pool_free(runner->rpool);
		return r;
	}
	runner->health_async.data = runner;
	uv_timer_init(loop, &runner->ledger_timer);
	runner->ledger_timer.data = runner;
	runner->open_handles += 2;
	chime_db_pool_set_health_cb(runner->lpool, health_cb, runner);
	chime_db_pool_health(runner->lpool, &runner->health);
	runner->heartbeat_every_usec = INT64_C(10) * 1000000;
	runner->lost_every_usec = INT64_C(30) * 1000000;
	runner->started_wall_usec = wall_usec();
	/* Slots after the start are the live schedule's. */
	runner->catchup_since_wall_usec = runner->started_wall_usec;
	runner->expect_every_usec = EXPECT_EVERY_USEC;
	runner->next_expect_mono = chime__runner_mono_usec() + 1000000;
	runner->next_prune_mono = chime__runner_mono_usec() + PRUNE_FIRST_USEC;
	uv_timer_start(&runner->ledger_timer, ledger_tick_cb, 0, 1000);
	return 0;
}

void
chime_runner_set_config(struct chime_runner *runner, struct chime_config *config)
{
	int64_t min_lease = INT64_MAX;

	chime_config_ref(config);
	chime_config_unref(runner->config);
	runner->config = config;
	for (size_t i = 0; i < config->n_jobs; i++)
		if (config->jobs[i]->enabled && config->jobs[i]->lease_usec > 0 &&
		    config->jobs[i]->lease_usec < min_lease)
			min_lease = config->jobs[i]->lease_usec;
	if (min_lease == INT64_MAX)
		min_lease = INT64_C(60) * 1000000;
	/* Check expect: at least twice per shortest expect span. */
	runner->expect_every_usec = EXPECT_EVERY_USEC;
	for (size_t i = 0; i < config->n_jobs; i++)
		if (config->jobs[i]->enabled && config->jobs[i]->expect_usec > 0 &&
		    config->jobs[i]->expect_usec / 2 < runner->expect_every_usec)
			runner->expect_every_usec = config->jobs[i]->expect_usec / 2;
	if (runner->expect_every_usec < 1000000)
		runner->expect_every_usec = 1000000;
	/* Heartbeat three times per lease; look for lost claims twice. */
	runner->heartbeat_every_usec = min_lease / 3;
	if (runner->heartbeat_every_usec < 1000000)
		runner->heartbeat_every_usec = 1000000;
	if (runner->heartbeat_every_usec > INT64_C(10) * 1000000)
		runner->heartbeat_every_usec = INT64_C(10) * 1000000;
	runner->lost_every_usec = min_lease / 2;
	if (runner->lost_every_usec < 1000000)
		runner->lost_every_usec = 1000000;
	if (runner->lost_every_usec > INT64_C(30) * 1000000)
		runner->lost_every_usec = INT64_C(30) * 1000000;
}

int
chime_runner_database_status(const struct chime_runner *runner, char *buf, size_t size)
{
	char text[400];

	if (runner == NULL || runner->lpool == NULL)
		return -ENOENT;
	chime_db_health_format(&runner->health, text, sizeof(text));
	snprintf(buf, size, "database: %s", text);
	return 0;
}

int
chime_runner_database_up(const struct chime_runner *runner)
{
	if (runner == NULL || runner->lpool == NULL)
		return -ENOENT;
	return runner->health.state == CHIME_DB_UP ? 1 : 0;
}

void
chime__ledger_drain(struct chime_runner *runner)
{
	runner->catchup_pending = false;
}

static void
ledger_handle_closed(uv_handle_t *handle)
{
	struct chime_runner *runner = handle->data;

	runner->open_handles--;
	chime__runner_maybe_free(runner);
}

void
chime__ledger_close(struct chime_runner *runner)
{
	/* Work still in flight must not wake the closed async. */
	chime_db_pool_set_health_cb(runner->lpool, NULL, NULL);
	uv_timer_stop(&runner->ledger_timer);
	uv_close((uv_handle_t *)&runner->ledger_timer, ledger_handle_closed);
	uv_close((uv_handle_t *)&runner->health_async, ledger_handle_closed);
}

void
chime__ledger_free(struct chime_runner *runner)
{
	runner->lpool = chime_db_pool_free(runner->lpool);
	runner->rpool = chime_db_pool_free(runner->rpool);
	runner->config = chime_config_unref(runner->config);
	for (size_t i = 0; i < runner->n_alarms; i++)
		free(runner->alarms[i].job);
	free(runner->alarms);
	runner->alarms = NULL;
	runner->n_alarms = 0;
}
