/* SPDX-License-Identifier: MIT */
/*
 * The ledger service's periodic scans (ledger-internal.h): recovery of
 * lost claims of any node, `expect:` alarms and history pruning. Each is
 * one operation on libuv's pool over the configuration's jobs, applied on
 * the loop through the runner's public API.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger-internal.h"
#include "log.h"
#include "mem.h"
#include "plugin_host.h"
#include "timespan.h"
#include "tz.h"

#define LOST_BATCH 50

/* A lost claim recovered here. */
struct recovered {
	size_t job_index;
	struct chime_slot slot;
	int64_t previous_usec;
	int attempt;
	int64_t new_id;
	bool rerun;
	char node[64];
	int64_t old_id;
};

struct lost_op {
	struct ledger_work w;
	struct chime_config *config; /* a reference */
	int64_t *live_ids;           /* runs live in this process */
	size_t n_live;
	struct recovered *items;
	size_t n_items;
};

/* The last success of each job with `expect:` (INT64_MIN: none). */
struct expect_item {
	size_t job_index;
	int64_t last_success_usec;
};

struct scan_op {
	struct ledger_work w;
	struct chime_config *config; /* a reference */
	int64_t now_wall_usec;
	struct expect_item *items; /* expect */
	size_t n_items;
};

/* ---- Lost claims -------------------------------------------------------- */

static bool
lost_live_here(const struct lost_op *op, int64_t id)
{
	for (size_t i = 0; i < op->n_live; i++)
		if (op->live_ids[i] == id)
			return true;
	return false;
}

static void
lost_work(struct ledger_work *w, struct chime_db_conn *c)
{
	struct lost_op *op = (struct lost_op *)w;
	struct chime_ledger_lost *lost = NULL;
	size_t n = 0;

	w->r = chime_ledger_find_lost(c->pg, LOST_BATCH, &lost, &n, w->err, sizeof(w->err));
	if (w->r < 0)
		return;
	op->items = calloc(n > 0 ? n : 1, sizeof(*op->items));
	if (op->items == NULL) {
		free(lost);
		w->r = -ENOMEM;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct chime_job_config *job = NULL;
		struct recovered *o = &op->items[op->n_items];
		size_t k;

		for (k = 0; k < op->config->n_jobs; k++)
			if (strcmp(op->config->jobs[k]->name, lost[i].job) == 0) {
				job = op->config->jobs[k];
				break;
			}
		if (job == NULL)
			continue; /* not ours to judge: a job this config lacks */
		if (lost_live_here(op, lost[i].id))
			continue; /* our heartbeats were late: the run goes on */
		o->rerun = job->on_lost == CHIME_LOST_RERUN ||
		           (job->on_lost == CHIME_LOST_AUTO && chime_plugin_rerun_safe(job));
		if (chime_ledger_recover(c->pg, &lost[i], o->rerun, w->svc->node, job->lease_usec,
		                         &o->new_id, NULL, 0) < 0)
			continue; /* another node won, or it came back */
		o->job_index = k;
		o->slot.instant_usec = lost[i].instant_usec;
		o->slot.local_usec = lost[i].local_usec;
		o->slot.occurrence = lost[i].occurrence;
		o->previous_usec = lost[i].previous_usec;
		o->attempt = lost[i].attempt + 1;
		o->old_id = lost[i].id;
		snprintf(o->node, sizeof(o->node), "%s", lost[i].node);
		op->n_items++;
	}
	free(lost);
}

static void
lost_after(struct ledger_work *w)
{
	struct lost_op *op = (struct lost_op *)w;
	struct chime_ledger_service *svc = w->svc;

	svc->lost_busy = false;
	for (size_t i = 0; i < op->n_items; i++) {
		const struct recovered *it = &op->items[i];
		const struct chime_job_config *job = op->config->jobs[it->job_index];
		char when[64];

		if (chime_time_format(it->slot.instant_usec, job->tz, when, sizeof(when)) < 0)
			snprintf(when, sizeof(when), "?");
		chime_log_run(CHIME_LOG_WARNING,
		              &(struct chime_log_run){
		                      .job = job->name,
		                      .plugin = chime__ledger_job_plugin(job),
		                      .run_id = it->old_id,
		                      .scheduled_for_usec = it->slot.instant_usec,
		                      .status = chime_run_status_name(
		                              it->rerun ? CHIME_RUN_LOST : CHIME_RUN_FAILED)},
		              "run of %s on node '%s' lost (no heartbeat within the lease): %s",
		              when, it->node,
		              it->rerun ? "re-running it here as a new attempt"
		                        : "marked failed (not idempotent, or on_lost: fail)");
		if (!it->rerun || it->new_id <= 0 || svc->closing || svc->runner == NULL)
			continue;
		(void)chime_runner_dispatch_claimed(svc->runner, op->config, job, &it->slot,
		                                    it->previous_usec, it->attempt, it->new_id);
	}
}

static void
lost_free(struct ledger_work *w)
{
	struct lost_op *op = (struct lost_op *)w;

	chime_config_unref(op->config);
	chime_free_many(op->live_ids, op->items, op);
}

struct live_ids {
	int64_t *ids;
	size_t n;
};

static void
collect_live(struct chime_runner_run *rr, void *userdata)
{
	struct live_ids *l = userdata;

	if (chime_runner_run_id(rr) <= 0 || !chime_runner_run_live(rr))
		return;
	if (l->ids != NULL)
		l->ids[l->n] = chime_runner_run_id(rr);
	l->n++;
}

/*
 * The ids of the runs live in this process (claim, worker or record
 * stage), in a new array: heartbeats go to them, and when their
 * heartbeats were starved past the lease the lost-claim scan must not
 * recover them here (a second run of the slot next to the first, which
 * the recovery then cancels). Another node may, as it cannot tell.
 * Returns 0 (*ret_ids NULL when none) or -ENOMEM.
 */
int
chime__ledger_live_ids(struct chime_ledger_service *svc, int64_t **ret_ids, size_t *ret_n)
{
	struct live_ids l = {0};

	chime_runner_foreach(svc->runner, collect_live, &l);
	*ret_ids = NULL;
	*ret_n = 0;
	if (l.n == 0)
		return 0;
	l.ids = calloc(l.n, sizeof(*l.ids));
	if (l.ids == NULL)
		return -ENOMEM;
	l.n = 0;
	chime_runner_foreach(svc->runner, collect_live, &l);
	*ret_ids = l.ids;
	*ret_n = l.n;
	return 0;
}

static const struct ledger_op_type lost_type = {
        .work = lost_work,
        .after = lost_after,
        .free = lost_free,
};

void
chime__ledger_scan_lost(struct chime_ledger_service *svc)
{
	struct lost_op *op;

	if (svc->lost_busy || svc->config == NULL)
		return;
	op = chime__ledger_op_new(sizeof(*op), &lost_type);
	if (op == NULL)
		return;
	op->config = chime_config_ref(svc->config);
	if (chime__ledger_live_ids(svc, &op->live_ids, &op->n_live) < 0) {
		lost_free(&op->w);
		return;
	}
	if (chime__ledger_queue(svc, &op->w) == 0)
		svc->lost_busy = true;
}

/* ---- Expect and pruning ---------------------------------------------- */

static void
expect_work(struct ledger_work *w, struct chime_db_conn *c)
{
	struct scan_op *op = (struct scan_op *)w;
	const struct chime_config *cfg = op->config;

	op->items = calloc(cfg->n_jobs + 1, sizeof(*op->items));
	if (op->items == NULL) {
		w->r = -ENOMEM;
		return;
	}
	for (size_t k = 0; k < cfg->n_jobs; k++) {
		const struct chime_job_config *job = cfg->jobs[k];
		int64_t last = INT64_MIN;
		int r;

		if (!job->enabled || job->expect_usec <= 0)
			continue;
		r = chime_ledger_last_success(c->pg, job->name, &last, w->err, sizeof(w->err));
		if (r < 0 && r != -ENOENT) {
			w->r = r;
			break;
		}
		op->items[op->n_items].job_index = k;
		op->items[op->n_items].last_success_usec = r == 0 ? last : INT64_MIN;
		op->n_items++;
	}
}

static struct ledger_alarm *
alarm_for(struct chime_ledger_service *svc, const char *job)
{
	struct ledger_alarm *na;

	for (size_t i = 0; i < svc->n_alarms; i++)
		if (strcmp(svc->alarms[i].job, job) == 0)
			return &svc->alarms[i];
	na = realloc(svc->alarms, (svc->n_alarms + 1) * sizeof(*na));
	if (na == NULL)
		return NULL;
	svc->alarms = na;
	na[svc->n_alarms].job = strdup(job);
	if (na[svc->n_alarms].job == NULL)
		return NULL;
	na[svc->n_alarms].last_alarm_wall_usec = INT64_MIN;
	return &na[svc->n_alarms++];
}

void
chime__ledger_alarms_free(struct chime_ledger_service *svc)
{
	for (size_t i = 0; i < svc->n_alarms; i++)
		free(svc->alarms[i].job);
	free(svc->alarms);
	svc->alarms = NULL;
	svc->n_alarms = 0;
}

static void
expect_after(struct ledger_work *w)
{
	struct scan_op *op = (struct scan_op *)w;
	struct chime_ledger_service *svc = w->svc;
	int64_t now = chime__ledger_wall(svc);

	svc->expect_busy = false;
	for (size_t i = 0; i < op->n_items; i++) {
		const struct expect_item *it = &op->items[i];
		const struct chime_job_config *job = op->config->jobs[it->job_index];
		int64_t since = it->last_success_usec != INT64_MIN ? it->last_success_usec
		                                                   : svc->started_wall_usec;
		struct ledger_alarm *a;
		char span[32], last[64];

		if (now - since <= job->expect_usec)
			continue;
		a = alarm_for(svc, job->name);
		if (a == NULL || (a->last_alarm_wall_usec != INT64_MIN &&
		                  now - a->last_alarm_wall_usec < job->expect_usec))
			continue;
		a->last_alarm_wall_usec = now;
		chime_timespan_format(job->expect_usec, span, sizeof(span));
		if (it->last_success_usec == INT64_MIN ||
		    chime_time_format(it->last_success_usec, job->tz, last, sizeof(last)) < 0)
			snprintf(last, sizeof(last), "never");
		chime_log_run(CHIME_LOG_ERR,
		              &(struct chime_log_run){.job = job->name,
		                                      .plugin = chime__ledger_job_plugin(job)},
		              "expect: no successful run in the last %s (last success: %s)", span,
		              last);
	}
}

static void
prune_work(struct ledger_work *w, struct chime_db_conn *c)
{
	struct scan_op *op = (struct scan_op *)w;
	int64_t total = 0;

	for (size_t k = 0; k < op->config->n_jobs; k++) {
		const struct chime_job_config *job = op->config->jobs[k];
		int64_t n = 0;

		if (job->history_usec <= 0)
			continue;
		w->r = chime_ledger_prune(c->pg, job->name, op->now_wall_usec - job->history_usec,
		                          &n, w->err, sizeof(w->err));
		if (w->r < 0)
			break;
		total += n;
	}
	if (total > 0)
		chime_log_info("ledger: pruned %" PRId64 " run%s older than their job's history",
		               total, total == 1 ? "" : "s");
}

static void
prune_after(struct ledger_work *w)
{
	w->svc->prune_busy = false;
}

static void
scan_free(struct ledger_work *w)
{
	struct scan_op *op = (struct scan_op *)w;

	chime_config_unref(op->config);
	free(op->items);
	free(op);
}

static void
scan_queue(struct chime_ledger_service *svc, bool *busy, const struct ledger_op_type *type)
{
	struct scan_op *op;

	if (*busy || svc->config == NULL)
		return;
	op = chime__ledger_op_new(sizeof(*op), type);
	if (op == NULL)
		return;
	op->config = chime_config_ref(svc->config);
	op->now_wall_usec = chime__ledger_wall(svc);
	if (chime__ledger_queue(svc, &op->w) == 0)
		*busy = true;
}

static const struct ledger_op_type expect_type = {
        .work = expect_work,
        .after = expect_after,
        .free = scan_free,
};

static const struct ledger_op_type prune_type = {
        .work = prune_work,
        .after = prune_after,
        .free = scan_free,
};

void
chime__ledger_scan_expect(struct chime_ledger_service *svc)
{
	scan_queue(svc, &svc->expect_busy, &expect_type);
}

void
chime__ledger_scan_prune(struct chime_ledger_service *svc)
{
	scan_queue(svc, &svc->prune_busy, &prune_type);
}
