/* SPDX-License-Identifier: MIT */
/*
 * Catch-up of missed slots from the ledger (ledger-internal.h). It runs
 * when the database becomes available (at start and after an outage) and
 * after a slot could not be claimed: per job, the ledger's last slot
 * before the gap and the misfire policy (chime_catchup_plan(), pure) give
 * the slots to run, dispatched through chime_runner_dispatch_catchup()
 * (queued behind the job's live run), and the slots to record skipped.
 * The plan ends at the newest slot missed (the start, a slot whose claim
 * failed): later slots are the live schedule's, so catch-up never takes
 * one (run-once would pick it as the newest and the claim of one of the
 * two would fail, leaving the outage without its run).
 * Skipped rows are only written for slots at least CATCHUP_GRACE old, so
 * a node starting next to live ones never pre-empts the claim of a slot
 * another node is just running; a younger one is planned again by a
 * later scan, once it is old enough, so every missed slot gets its row.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ledger-internal.h"
#include "log.h"
#include "mem.h"

#define CATCHUP_GRACE_USEC (INT64_C(2) * 1000000)

struct catchup_run {
	size_t job_index;
	struct chime_slot slot;
	int64_t previous_usec;
};

/* A slot this node holds in memory with no ledger row yet (a queued run). */
struct catchup_held {
	size_t job_index;
	int64_t local_usec;
	int occurrence;
};

struct catchup_op {
	struct ledger_work w;
	struct chime_config *config;     /* a reference */
	int64_t since_usec, latest_usec; /* see catchup_since_wall_usec */
	int64_t until_usec;              /* see catchup_until_wall_usec */
	int64_t now_wall_usec;
	int64_t young_usec; /* the oldest skipped slot left for a later scan; INT64_MAX: none */
	struct catchup_held *held; /* slots not to plan, taken on the loop */
	size_t n_held, held_room;
	bool held_oom; /* a held slot could not be noted: no scan this time */
	struct catchup_run *runs;
	size_t n_runs, runs_room;
};

static bool
catchup_is_held(const struct catchup_op *op, size_t job_index, const struct chime_slot *slot)
{
	for (size_t i = 0; i < op->n_held; i++)
		if (op->held[i].job_index == job_index &&
		    op->held[i].local_usec == slot->local_usec &&
		    op->held[i].occurrence == slot->occurrence)
			return true;
	return false;
}

static int
catchup_add_run(struct catchup_op *op, const struct chime_job_config *job, size_t k,
                const struct chime_slot *slot)
{
	struct chime_slot prev;

	if (op->n_runs == op->runs_room) {
		size_t na = op->runs_room ? op->runs_room * 2 : 16;
		struct catchup_run *nr = realloc(op->runs, na * sizeof(*nr));

		if (nr == NULL)
			return -ENOMEM;
		op->runs = nr;
		op->runs_room = na;
	}
	op->runs[op->n_runs].job_index = k;
	op->runs[op->n_runs].slot = *slot;
	op->runs[op->n_runs].previous_usec =
	        chime_expr_prev(job->expr, job->tz, slot->instant_usec - 1, &prev) == 0
	                ? prev.instant_usec
	                : INT64_MIN;
	op->n_runs++;
	return 0;
}

/* Plan one job; 0, or a negative errno that ends the scan. */
static int
catchup_job(struct catchup_op *op, PGconn *pg, size_t k)
{
	const struct chime_job_config *job = op->config->jobs[k];
	int64_t now = op->now_wall_usec;
	struct chime_catchup_params p = {
	        .expr = job->expr,
	        .tz = job->tz,
	        .now_usec = now,
	        .until_usec = op->until_usec,
	        .misfire = job->misfire,
	        .window_usec = job->catchup_window_usec,
	        .max_catchup = job->max_catchup,
	};
	struct chime_catchup_plan plan;
	struct chime_ledger_row last;
	size_t recorded = 0, missed;
	int64_t *taken = NULL;
	int r;

	r = chime_ledger_last_slot(pg, job->name, op->since_usec, &last, op->w.err,
	                           sizeof(op->w.err));
	/* New since the start (no slot that old), yet it ran before a later
	 * gap (an outage after the start's own catch-up failed). */
	if (r == -ENOENT && op->latest_usec > op->since_usec)
		r = chime_ledger_last_slot(pg, job->name, op->latest_usec, &last, op->w.err,
		                           sizeof(op->w.err));
	if (r == -ENOENT)
		return 0; /* a new job: nothing was missed */
	if (r < 0)
		return r;
	p.last_instant_usec = last.instant_usec;
	r = chime_ledger_slots_taken(pg, job->name, last.instant_usec, op->until_usec, &taken,
	                             &p.n_taken, op->w.err, sizeof(op->w.err));
	if (r < 0)
		return r;
	p.taken = taken;
	r = chime_catchup_plan(&p, &plan);
	free(taken);
	if (r < 0)
		return -ENOMEM;
	/* A slot to run that a live node may be claiming just now: plan the
	 * whole job again once it is older, so its run is not lost to that
	 * claim with the older slots already recorded skipped. */
	if (plan.n_run > 0 && plan.run[plan.n_run - 1].instant_usec > now - CATCHUP_GRACE_USEC) {
		if (last.instant_usec + 1 < op->young_usec)
			op->young_usec = last.instant_usec + 1;
		chime_catchup_plan_done(&plan);
		return 0;
	}
	for (size_t i = 0; i < plan.n_skip; i++) {
		struct chime_ledger_slot s = {
		        .job = job->name,
		        .local_usec = plan.skip[i].local_usec,
		        .occurrence = plan.skip[i].occurrence,
		        .instant_usec = plan.skip[i].instant_usec,
		        .previous_usec = INT64_MIN,
		};

		if (catchup_is_held(op, k, &plan.skip[i]))
			continue;
		if (plan.skip[i].instant_usec > now - CATCHUP_GRACE_USEC) {
			if (plan.skip[i].instant_usec < op->young_usec)
				op->young_usec = plan.skip[i].instant_usec;
			continue;
		}
		if (chime_ledger_record_skipped(pg, &s, op->w.svc->node,
		                                "misfire: missed while no node could run it", NULL,
		                                NULL, 0) == 0)
			recorded++;
	}
	for (size_t i = 0; i < plan.n_run; i++)
		if (!catchup_is_held(op, k, &plan.run[i]) && /* its queued run claims it */
		    catchup_add_run(op, job, k, &plan.run[i]) < 0)
			break;
	missed = plan.n_run + plan.n_skip + plan.n_skip_unrecorded;
	if (missed > 0)
		chime_log_run(CHIME_LOG_NOTICE,
		              &(struct chime_log_run){.job = job->name,
		                                      .plugin = chime__ledger_job_plugin(job)},
		              "catch-up from the ledger: %zu missed slot%s, %zu to run, "
		              "%zu recorded skipped",
		              missed, missed == 1 ? "" : "s", plan.n_run, recorded);
	chime_catchup_plan_done(&plan);
	return 0;
}

static void
catchup_work(struct ledger_work *w, struct chime_db_conn *c)
{
	struct catchup_op *op = (struct catchup_op *)w;

	if (op->until_usec == INT64_MIN)
		return; /* no slot was missed (an outage between two slots) */
	for (size_t k = 0; k < op->config->n_jobs; k++) {
		const struct chime_job_config *job = op->config->jobs[k];

		if (!job->enabled || job->expr == NULL || job->plugin == NULL ||
		    chime_expr_kind(job->expr) == CHIME_EXPR_REBOOT)
			continue;
		w->r = catchup_job(op, c->pg, k);
		if (w->r < 0)
			break;
	}
}

static void
catchup_after(struct ledger_work *w)
{
	struct catchup_op *op = (struct catchup_op *)w;
	struct chime_ledger_service *svc = w->svc;

	svc->catchup_busy = false;
	if (w->r < 0) {
		chime_log_warning("catch-up from the ledger failed: %s, retrying", w->err);
		chime__ledger_gap(svc, op->since_usec);
		chime__ledger_gap(svc, op->latest_usec);
	}
	/* Plan again what was too young to record, or all after a failure. */
	if (w->r < 0 || op->young_usec != INT64_MAX) {
		if (op->young_usec != INT64_MAX)
			chime__ledger_gap(svc, op->young_usec - 1);
		if (op->until_usec > svc->catchup_until_wall_usec)
			svc->catchup_until_wall_usec = op->until_usec;
	}
	for (size_t i = 0; i < op->n_runs && !svc->closing; i++) {
		if (chime_runner_draining(svc->runner))
			break;
		(void)chime_runner_dispatch_catchup(svc->runner, op->config,
		                                    op->config->jobs[op->runs[i].job_index],
		                                    &op->runs[i].slot, op->runs[i].previous_usec);
	}
}

static void
catchup_free(struct ledger_work *w)
{
	struct catchup_op *op = (struct catchup_op *)w;

	chime_config_unref(op->config);
	chime_free_many(op->held, op->runs, op);
}

/*
 * The slots this node holds in memory without a ledger row (queued behind
 * the job's live run, or claiming): catch-up must not plan them, or it
 * would record them skipped (or run them twice) and their own run would
 * then find them "already claimed" and never run.
 */
static void
catchup_hold(struct chime_runner_run *rr, void *userdata)
{
	struct catchup_op *op = userdata;
	const char *name = chime_runner_run_job(rr)->name;
	struct catchup_held *nh;

	if (chime_runner_run_id(rr) > 0)
		return;
	for (size_t k = 0; k < op->config->n_jobs; k++) {
		if (strcmp(op->config->jobs[k]->name, name) != 0)
			continue;
		if (op->n_held == op->held_room) {
			size_t na = op->held_room ? op->held_room * 2 : 8;

			nh = realloc(op->held, na * sizeof(*nh));
			if (nh == NULL) {
				op->held_oom = true;
				return;
			}
			op->held = nh;
			op->held_room = na;
		}
		op->held[op->n_held++] = (struct catchup_held){
		        .job_index = k,
		        .local_usec = chime_runner_run_slot(rr)->local_usec,
		        .occurrence = chime_runner_run_slot(rr)->occurrence,
		};
		return;
	}
}

static const struct ledger_op_type catchup_type = {
        .work = catchup_work,
        .after = catchup_after,
        .free = catchup_free,
};

void
chime__ledger_scan_catchup(struct chime_ledger_service *svc)
{
	struct catchup_op *op;

	if (svc->catchup_busy || svc->config == NULL)
		return;
	op = chime__ledger_op_new(sizeof(*op), &catchup_type);
	if (op == NULL)
		return;
	op->config = chime_config_ref(svc->config);
	op->since_usec = svc->catchup_since_wall_usec;
	op->latest_usec = svc->catchup_latest_wall_usec;
	op->until_usec = svc->catchup_until_wall_usec;
	op->now_wall_usec = chime__ledger_wall(svc);
	op->young_usec = INT64_MAX;
	chime_runner_foreach(svc->runner, catchup_hold, op);
	if (op->held_oom) {
		catchup_free(&op->w);
		return;
	}
	if (chime__ledger_queue(svc, &op->w) == 0) {
		svc->catchup_busy = true;
		svc->catchup_since_wall_usec = INT64_MAX;
		svc->catchup_latest_wall_usec = INT64_MIN;
		svc->catchup_until_wall_usec = INT64_MIN;
	}
}
