/* SPDX-License-Identifier: MIT */
/*
 * Catch-up planning: from the ledger's last slot of a job and the current
 * instant, which missed slots run and which are recorded as skipped, per
 * the job's misfire policy, catch-up window and max_catchup. Pure: no
 * database, no clock, no logging; the runner feeds it and acts on it.
 *
 * The slots are walked backwards from now with prev(), newest first, so
 * the work is bounded by what the plan keeps (plus a counting bound) and
 * never by how long the daemon was down.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "cron.h"
#include "ledger.h"

/* run-all without max_catchup still stops somewhere. */
#define PLAN_MAX_RUN_UNBOUNDED 10000
/* Walking further back than this only to count skipped slots is pointless. */
#define PLAN_MAX_WALK 1000000

struct slot_vec {
	struct chime_slot *v;
	size_t n, allocated;
};

static int
vec_push(struct slot_vec *vec, const struct chime_slot *s)
{
	if (chime_grow(&vec->v, &vec->allocated, vec->n + 1, sizeof(*vec->v)) < 0)
		return -ENOMEM;
	vec->v[vec->n++] = *s;
	return 0;
}

static void
vec_reverse(struct slot_vec *vec)
{
	for (size_t i = 0, j = vec->n; i + 1 < j; i++, j--) {
		struct chime_slot t = vec->v[i];

		vec->v[i] = vec->v[j - 1];
		vec->v[j - 1] = t;
	}
}

static bool
plan_taken(const struct chime_catchup_params *p, int64_t instant_usec)
{
	size_t lo = 0, hi = p->n_taken;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->taken[mid] == instant_usec)
			return true;
		if (p->taken[mid] < instant_usec)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int
plan_prev(const struct chime_catchup_params *p, int64_t at_usec, struct chime_slot *ret)
{
	if (p->prev_fn != NULL)
		return p->prev_fn(at_usec, ret, p->userdata);
	return chime_expr_prev(p->expr, p->tz, at_usec, ret);
}

int
chime_catchup_plan(const struct chime_catchup_params *params, struct chime_catchup_plan *ret_plan)
{
	struct slot_vec run = {0}, skip = {0};
	size_t max_run, max_listed, unrecorded = 0;
	int64_t window_start, at;
	struct chime_slot s;
	int r = 0;

	switch (params->misfire) {
	case CHIME_MISFIRE_SKIP:
		max_run = 0;
		break;
	case CHIME_MISFIRE_RUN_ONCE:
		max_run = 1;
		break;
	case CHIME_MISFIRE_RUN_ALL:
	default:
		max_run = params->max_catchup > 0 ? (size_t)params->max_catchup
		                                  : PLAN_MAX_RUN_UNBOUNDED;
		break;
	}
	max_listed = params->max_listed > 0 ? params->max_listed : 1000;
	window_start = params->window_usec > 0 ? params->now_usec - params->window_usec : INT64_MIN;

	at = params->until_usec != 0 && params->until_usec < params->now_usec ? params->until_usec
	                                                                      : params->now_usec;
	for (size_t walked = 0; params->last_instant_usec != INT64_MIN && walked < PLAN_MAX_WALK;
	     walked++) {
		if (plan_prev(params, at, &s) < 0 || s.instant_usec <= params->last_instant_usec)
			break;
		if (plan_taken(params, s.instant_usec)) {
			/* claimed already (a live node's): not missed */
		} else if (s.instant_usec >= window_start && run.n < max_run && skip.n == 0)
			r = vec_push(&run, &s);
		else if (skip.n < max_listed)
			r = vec_push(&skip, &s);
		else
			unrecorded++;
		if (r < 0)
			goto fail;
		if (s.instant_usec == INT64_MIN)
			break;
		at = s.instant_usec - 1;
	}
	vec_reverse(&run);
	vec_reverse(&skip);
	memset(ret_plan, 0, sizeof(*ret_plan));
	ret_plan->run = run.v;
	ret_plan->n_run = run.n;
	ret_plan->skip = skip.v;
	ret_plan->n_skip = skip.n;
	ret_plan->n_skip_unrecorded = unrecorded;
	return 0;
fail:
	free(run.v);
	free(skip.v);
	return r;
}

void
chime_catchup_plan_done(struct chime_catchup_plan *plan)
{
	if (plan == NULL)
		return;
	free(plan->run);
	free(plan->skip);
	memset(plan, 0, sizeof(*plan));
}
