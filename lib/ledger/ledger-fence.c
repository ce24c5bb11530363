/* SPDX-License-Identifier: MIT */
/*
 * Self-fencing (ledger-internal.h; docs/design.md, "Leases and
 * self-fencing"). A node that cannot renew a claim stops the run before
 * another node may recover it:
 *
 *   renew    every lease/4 (the service's heartbeat period, from the
 *            shortest lease); a claim counts as renewed at the moment its
 *            claim, start or heartbeat statement was sent, which is no
 *            later than the heartbeat_at the database wrote;
 *   fence    checked every half period (and before a claimed run starts):
 *            a run whose last renewal is older than 3/4 of its lease is
 *            cancelled with a grace of 1/8 lease (exec: SIGTERM, then
 *            SIGKILL after it), so it has stopped by the end of its lease;
 *   recover  other nodes wait for lease + lease/4 since heartbeat_at
 *            (runs_find_lost), a quarter lease after the stop.
 *
 * Both clocks are this node's monotonic one (the service's injectable
 * struct chime_clock), so a SIGSTOP or a VM pause counts as time without
 * renewal: on wake the first check fences before the run goes on.
 */
#include <inttypes.h>
#include <stdio.h>

#include "ledger-internal.h"
#include "log.h"

#define FENCE_REASON "self-fenced: its claim was not renewed within the lease"

/* Older than this, the run's claim is no longer safely ours. */
static int64_t
fence_after_usec(const struct chime_job_config *job)
{
	return job->lease_usec - job->lease_usec / CHIME_LEASE_HEARTBEATS;
}

void
chime__ledger_renewed(struct chime_runner_run *rr, int64_t sent_mono)
{
	struct ledger_run *lr = chime_runner_run_stage_data(rr);

	if (lr != NULL && sent_mono > lr->renewed_mono)
		lr->renewed_mono = sent_mono;
}

void
chime__ledger_heartbeat_renewed(struct chime_ledger_service *svc, const int64_t *ids, size_t n_ids,
                                const int64_t *stop, size_t n_stop, int64_t sent_mono)
{
	for (size_t i = 0; i < n_ids; i++) {
		struct chime_runner_run *rr;
		bool stopped = false;

		for (size_t k = 0; k < n_stop && !stopped; k++)
			stopped = stop[k] == ids[i];
		rr = stopped ? NULL : chime_runner_find_live(svc->runner, ids[i]);
		if (rr != NULL)
			chime__ledger_renewed(rr, sent_mono);
	}
}

bool
chime__ledger_fence_due(struct chime_ledger_service *svc, struct chime_runner_run *rr)
{
	const struct ledger_run *lr = chime_runner_run_stage_data(rr);

	if (lr == NULL || lr->renewed_mono == 0)
		return false; /* not claimed in the ledger (yet) */
	return chime__ledger_mono(svc) - lr->renewed_mono >=
	       fence_after_usec(chime_runner_run_job(rr));
}

void
chime__ledger_fence(struct chime_ledger_service *svc, struct chime_runner_run *rr)
{
	struct ledger_run *lr = chime_runner_run_stage_data(rr);
	const struct chime_job_config *job = chime_runner_run_job(rr);
	int64_t age = chime__ledger_mono(svc) - lr->renewed_mono;

	lr->fenced = true;
	chime_runner_run_log(rr, CHIME_LOG_WARNING, NULL,
	                     "self-fencing: claim not renewed for %" PRId64 " ms (lease %" PRId64
	                     " ms); cancelling the run before another node may recover it",
	                     age / 1000, job->lease_usec / 1000);
	chime_runner_run_cancel_within(rr, FENCE_REASON, job->lease_usec / 8);
}

static void
fence_one(struct chime_runner_run *rr, void *userdata)
{
	struct chime_ledger_service *svc = userdata;
	const struct ledger_run *lr = chime_runner_run_stage_data(rr);

	/* A run past its work (recording) has nothing left to stop. */
	if (lr == NULL || lr->fenced || chime_runner_run_id(rr) <= 0 ||
	    !(chime_runner_run_working(rr) || lr->waiting))
		return;
	if (chime__ledger_fence_due(svc, rr))
		chime__ledger_fence(svc, rr);
}

void
chime__ledger_fence_check(struct chime_ledger_service *svc)
{
	chime_runner_foreach(svc->runner, fence_one, svc);
}
