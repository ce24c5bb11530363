/* SPDX-License-Identifier: MIT */
/*
 * The runner's runs as the stages and the ledger service see them
 * (runner.h, "For the stages and the ledger service"): read-only
 * accessors, the stages' per-run data, a stage's deferred retry on the
 * run's own timer, and the walk over the runner's runs. Loop thread,
 * except chime_runner_run_cancelled().
 */
#include <pthread.h>

#include "runner-internal.h"

const struct chime_job_config *
chime_runner_run_job(const struct chime_runner_run *rr)
{
	return rr->job;
}

const struct chime_slot *
chime_runner_run_slot(const struct chime_runner_run *rr)
{
	return &rr->slot;
}

int64_t
chime_runner_run_previous_usec(const struct chime_runner_run *rr)
{
	return rr->previous_usec;
}

int
chime_runner_run_attempt(const struct chime_runner_run *rr)
{
	return rr->attempt;
}

const char *
chime_runner_run_node(const struct chime_runner_run *rr)
{
	return rr->runner->node;
}

struct chime_run *
chime_runner_run_context(const struct chime_runner_run *rr)
{
	return rr->run;
}

int64_t
chime_runner_run_id(const struct chime_runner_run *rr)
{
	return rr->id;
}

void
chime_runner_run_set_id(struct chime_runner_run *rr, int64_t id)
{
	rr->id = id;
}

bool
chime_runner_run_status(const struct chime_runner_run *rr, enum chime_run_status *ret_status)
{
	if (!rr->has_status)
		return false;
	*ret_status = rr->status;
	return true;
}

bool
chime_runner_run_manual(const struct chime_runner_run *rr)
{
	return rr->manual;
}

int64_t
chime_runner_run_duration_usec(const struct chime_runner_run *rr)
{
	return rr->duration_usec;
}

bool
chime_runner_run_will_retry(const struct chime_runner_run *rr)
{
	return rr->retry && !rr->runner->draining;
}

bool
chime_runner_run_catchup(const struct chime_runner_run *rr)
{
	return rr->catchup;
}

bool
chime_runner_run_preclaimed(const struct chime_runner_run *rr)
{
	return rr->preclaimed;
}

bool
chime_runner_run_live(const struct chime_runner_run *rr)
{
	return chime__runner_run_live(rr);
}

bool
chime_runner_run_working(const struct chime_runner_run *rr)
{
	return rr->state == RR_WORKING;
}

const char *
chime_runner_run_cancel_reason(const struct chime_runner_run *rr)
{
	return rr->cancel_reason;
}

bool
chime_runner_run_timed_out(const struct chime_runner_run *rr)
{
	return rr->timed_out;
}

bool
chime_runner_run_abandoned(const struct chime_runner_run *rr)
{
	return rr->abandoned;
}

bool
chime_runner_run_cancelled(struct chime_runner_run *rr)
{
	bool cancelled;

	pthread_mutex_lock(&rr->lock);
	cancelled = rr->cancel_pending;
	pthread_mutex_unlock(&rr->lock);
	return cancelled;
}

void *
chime_runner_run_stage_data(const struct chime_runner_run *rr)
{
	return rr->stage_data;
}

void
chime_runner_run_set_stage_data(struct chime_runner_run *rr, void *data)
{
	rr->stage_data = data;
}

static void
defer_timer_cb(uv_timer_t *timer)
{
	struct chime_runner_run *rr = timer->data;

	rr->defer_cb(rr, rr->runner->options.stages.userdata);
}

void
chime_runner_run_defer(struct chime_runner_run *rr, int64_t delay_usec,
                       void (*cb)(struct chime_runner_run *rr, void *userdata))
{
	rr->defer_cb = cb;
	uv_timer_start(&rr->timer, defer_timer_cb, chime__usec_to_msec_ceil(delay_usec), 0);
}

bool
chime_runner_draining(const struct chime_runner *runner)
{
	return runner->draining;
}

void
chime_runner_foreach(struct chime_runner *runner,
                     void (*fn)(struct chime_runner_run *rr, void *userdata), void *userdata)
{
	for (struct chime_runner_run *rr = runner->runs; rr != NULL; rr = rr->next)
		fn(rr, userdata);
}

struct chime_runner_run *
chime_runner_find_live(struct chime_runner *runner, int64_t id)
{
	for (struct chime_runner_run *rr = runner->runs; rr != NULL; rr = rr->next)
		if (rr->id == id && chime__runner_run_live(rr))
			return rr;
	return NULL;
}
