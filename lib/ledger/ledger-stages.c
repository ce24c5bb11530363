/* SPDX-License-Identifier: MIT */
/*
 * The claim, record and skipped stages against the ledger (ledger.h): one
 * small operation struct each, run on libuv's pool with a ledger
 * connection and applied on the loop.
 *
 * Claim: INSERT ... ON CONFLICT DO NOTHING RETURNING, with the overlap
 * across nodes (ledger.h). A claim that must wait for the job's run on
 * another node (queue, replace) keeps its id, is heartbeated, and polls
 * with chime_runner_run_defer() until it may start. A claim whose start
 * was lost with the connection retries the start the same way.
 *
 * Record: the outcome of a live row. While the database is unreachable
 * the run stays live (and heartbeated while it answers) and the record is
 * retried: left `running`, the claim would be recovered after its lease
 * and the slot run again.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger-internal.h"
#include "log.h"
#include "mem.h"
#include "run.h"

#define WAIT_POLL_USEC   (INT64_C(500) * 1000)
#define RECORD_POLL_USEC (INT64_C(1000) * 1000)
/* How long an abandoned run's record waits for its row lock per try. */
#define ABANDONED_LOCK_WAIT "2s"

enum claim_outcome {
	CLAIM_RUN,     /* claimed and started */
	CLAIM_SKIPPED, /* claimed as skipped (overlap elsewhere) */
	CLAIM_WAIT,    /* claimed; the job runs elsewhere: wait */
	CLAIM_PAUSED,  /* the job is paused (chime.paused): recorded skipped */
	CLAIM_RETRY,   /* claimed; the start was not recorded: retry it as a wait */
};

/* A claim, or one poll of a waiting claim (`poll`). */
struct claim_op {
	struct ledger_work w;
	struct chime_runner_run *rr;
	chime_runner_stage_done_fn done;
	bool poll;
	enum claim_outcome outcome;
	int64_t id;
	int64_t sent_mono; /* when queued: the claim's renewal (ledger-fence.c) */
};

struct record_op {
	struct ledger_work w;
	struct chime_runner_run *rr;
	chime_runner_stage_done_fn done;
	bool again;     /* a retry after the database was unreachable */
	bool late;      /* recovered meanwhile: the truth was added to its row */
	bool in_tx;     /* the plugin recorded `succeeded` in its transaction */
	bool abandoned; /* given up past timeout plus grace: its backend may hold the row */
	bool vanished;  /* its row was gone: the outcome went on a new row */
	enum chime_run_status status;
	char *summary, *error;
};

struct skipped_op {
	struct ledger_work w;
	struct chime_ledger_slot slot;
	char *job, *reason;
};

bool
chime__ledger_run_waiting(const struct chime_runner_run *rr)
{
	const struct ledger_run *lr = chime_runner_run_stage_data(rr);

	return lr != NULL && lr->waiting;
}

/* ---- Claim ------------------------------------------------------------- */

/*
 * The row is claimed but its start was lost with the connection: the run
 * keeps the id and waits (heartbeated), and the wait retries the start
 * until it is recorded or another node recovered the claim (-ESTALE).
 * Given up, the row would stay 'claimed' unattended, catch-up would not
 * re-run the slot (it has a row), and after the lease it would be marked
 * failed or run elsewhere.
 */
static void
claim_start_failed(struct claim_op *op)
{
	if (op->w.r != -ENOTCONN && op->w.r != -ETIME)
		return;
	op->w.r = 0;
	op->outcome = CLAIM_RETRY;
}

/* The ledger's key of run `rr`'s slot. */
static struct chime_ledger_slot
run_slot(const struct chime_runner_run *rr)
{
	const struct chime_slot *s = chime_runner_run_slot(rr);

	return (struct chime_ledger_slot){
	        .job = chime_runner_run_job(rr)->name,
	        .local_usec = s->local_usec,
	        .occurrence = s->occurrence,
	        .instant_usec = s->instant_usec,
	        .previous_usec = chime_runner_run_previous_usec(rr),
	};
}

static void
claim_work(struct ledger_work *w, struct chime_db_conn *c)
{
	struct claim_op *op = (struct claim_op *)w;
	struct chime_runner_run *rr = op->rr;
	const struct chime_job_config *job = chime_runner_run_job(rr);
	bool manual = chime_runner_run_manual(rr), catchup = chime_runner_run_catchup(rr);
	bool first = chime_runner_run_attempt(rr) == 1;
	bool waitable = first && !manual && (catchup || job->overlap != CHIME_OVERLAP_SKIP);
	struct chime_ledger_slot slot = run_slot(rr);
	struct chime_ledger_claim claim = {
	        .slot = &slot,
	        .attempt = chime_runner_run_attempt(rr),
	        .node = chime_runner_run_node(rr),
	        .manual = manual,
	        .lease_usec = job->lease_usec,
	        .skip_if_busy = first && !manual && !catchup && job->overlap == CHIME_OVERLAP_SKIP,
	        .start = !waitable,
	        .honor_pause = first && !manual,
	};
	enum chime_run_status status = CHIME_RUN_CLAIMED;
	bool busy = false;

	if (chime_runner_run_preclaimed(rr)) {
		op->id = chime_runner_run_id(rr);
		w->r = chime_ledger_start(c->pg, op->id, w->err, sizeof(w->err));
		op->outcome = CLAIM_RUN;
		claim_start_failed(op);
		return;
	}
	w->r = chime_ledger_claim(c->pg, &claim, &op->id, &status, w->err, sizeof(w->err));
	if (w->r < 0)
		return;
	if (status == CHIME_RUN_SKIPPED) {
		bool paused = false;

		/* Paused (the claim checks chime.paused in the same statement,
		 * so catch-up after the resume does not run these slots
		 * either), or busy elsewhere. */
		(void)chime_ledger_is_paused(c->pg, job->name, &paused, NULL, 0);
		op->outcome = paused ? CLAIM_PAUSED : CLAIM_SKIPPED;
		return;
	}
	if (!waitable) {
		op->outcome = CLAIM_RUN;
		return;
	}
	if (job->overlap == CHIME_OVERLAP_REPLACE && !catchup)
		(void)chime_ledger_request_cancel(c->pg, job->name, op->id, NULL, NULL, 0);
	w->r = chime_ledger_job_busy(c->pg, job->name, op->id, &busy, w->err, sizeof(w->err));
	if (w->r < 0 || busy) {
		/* Claimed either way: the loop keeps the id and waits. */
		op->outcome = CLAIM_WAIT;
		w->r = 0;
		return;
	}
	w->r = chime_ledger_start(c->pg, op->id, w->err, sizeof(w->err));
	op->outcome = CLAIM_RUN;
	claim_start_failed(op);
}

static void
claim_poll_work(struct ledger_work *w, struct chime_db_conn *c)
{
	struct claim_op *op = (struct claim_op *)w;
	const char *job = chime_runner_run_job(op->rr)->name;
	bool busy = true;

	op->id = chime_runner_run_id(op->rr);
	op->outcome = CLAIM_WAIT;
	w->r = chime_ledger_job_busy(c->pg, job, op->id, &busy, w->err, sizeof(w->err));
	if (w->r < 0 || busy) {
		/* Keep waiting through a database error: the claim stays ours
		 * while we heartbeat it, else another node recovers it. */
		w->r = 0;
		return;
	}
	w->r = chime_ledger_start(c->pg, op->id, w->err, sizeof(w->err));
	op->outcome = CLAIM_RUN;
}

static void claim_poll_cb(struct chime_runner_run *rr, void *userdata);

/* Claimed, not started: keep the id and poll again. */
static void
claim_wait(struct claim_op *op, struct ledger_run *lr)
{
	chime_runner_run_set_id(op->rr, op->id);
	lr->waiting = true;
	chime_runner_run_defer(op->rr, WAIT_POLL_USEC, claim_poll_cb);
}

static void
claim_after(struct ledger_work *w)
{
	struct claim_op *op = (struct claim_op *)w;
	struct chime_runner_run *rr = op->rr;
	const struct chime_job_config *job = chime_runner_run_job(rr);
	struct ledger_run *lr = chime_runner_run_stage_data(rr);
	char when[64];

	chime_runner_run_when(rr, when, sizeof(when));
	if (op->poll && w->r < 0 && w->r != -ESTALE) {
		/* No connection for the check: keep waiting. */
		chime_runner_run_defer(rr, WAIT_POLL_USEC, claim_poll_cb);
		return;
	}
	/* The insert or the start wrote heartbeat_at; a poll's check did not. */
	if (w->r == 0 && (!op->poll || op->outcome == CLAIM_RUN))
		chime__ledger_renewed(rr, op->sent_mono);
	switch (w->r == 0 ? (int)op->outcome : -1) {
	case CLAIM_RUN:
		chime_runner_run_set_id(rr, op->id);
		lr->waiting = false;
		/* A claim answered after a stall (SIGSTOP) may be stale already. */
		if (!lr->fenced && chime__ledger_fence_due(w->svc, rr))
			chime__ledger_fence(w->svc, rr);
		op->done(rr, lr->fenced ? -ECANCELED : 0);
		return;
	case CLAIM_WAIT:
		if (!lr->waiting)
			chime_runner_run_log(
			        rr, CHIME_LOG_NOTICE, NULL,
			        "slot %s claimed; waiting for the job's run on another "
			        "node (overlap: %s)",
			        when, job->overlap == CHIME_OVERLAP_REPLACE ? "replace" : "queue");
		claim_wait(op, lr);
		return;
	case CLAIM_RETRY:
		chime_runner_run_log(rr, CHIME_LOG_WARNING, NULL,
		                     "slot %s claimed; its start not recorded yet: %s; retrying "
		                     "until the database is back",
		                     when, w->err);
		claim_wait(op, lr);
		return;
	case CLAIM_SKIPPED:
	case CLAIM_PAUSED:
		chime_runner_run_set_id(rr, op->id);
		chime_runner_run_log(rr, CHIME_LOG_NOTICE, CHIME_MESSAGE_RUN_SKIPPED,
		                     "slot %s skipped: %s", when,
		                     op->outcome == CLAIM_PAUSED
		                             ? "the job is paused"
		                             : "the job is still running on another node");
		op->done(rr, CHIME_RUNNER_CLAIM_SKIPPED);
		return;
	default:
		break;
	}
	if (w->r == -EEXIST || w->r == -ESTALE) {
		op->done(rr, -EEXIST);
		return;
	}
	chime__ledger_missed(w->svc, chime_runner_run_slot(rr)->instant_usec);
	/* Each slot an outage costs is a line with the job's fields, so
	 * `journalctl CHIME_JOB=x` shows it; the total comes with the
	 * "database is back" line. */
	chime_runner_run_log(rr, CHIME_LOG_WARNING, NULL,
	                     "slot %s not claimed: database unavailable: %s; catch-up decides "
	                     "when it is back",
	                     when, w->err);
	op->done(rr, CHIME_RUNNER_CLAIM_MISSED);
}

static const struct ledger_op_type claim_type = {.work = claim_work, .after = claim_after};
static const struct ledger_op_type claim_poll_type = {.work = claim_poll_work,
                                                      .after = claim_after};

static int
claim_queue(struct chime_ledger_service *svc, struct chime_runner_run *rr,
            chime_runner_stage_done_fn done, bool poll)
{
	struct claim_op *op =
	        chime__ledger_op_new(sizeof(*op), poll ? &claim_poll_type : &claim_type);

	if (op == NULL)
		return -ENOMEM;
	op->rr = rr;
	op->done = done;
	op->poll = poll;
	op->sent_mono = chime__ledger_mono(svc);
	return chime__ledger_queue(svc, &op->w);
}

static void
claim_poll_cb(struct chime_runner_run *rr, void *userdata)
{
	struct chime_ledger_service *svc = userdata;

	if (chime_runner_draining(svc->runner) || chime_runner_run_cancelled(rr)) {
		/* Recorded cancelled by the record stage. */
		chime__ledger_run(rr)->done(rr, -ECANCELED);
		return;
	}
	if (claim_queue(svc, rr, chime__ledger_run(rr)->done, true) < 0)
		chime_runner_run_defer(rr, WAIT_POLL_USEC, claim_poll_cb);
}

int
chime__ledger_claim(struct chime_runner_run *rr, chime_runner_stage_done_fn done, void *userdata)
{
	struct chime_ledger_service *svc = userdata;
	struct ledger_run *lr = chime__ledger_run(rr);

	if (lr == NULL)
		return -ENOMEM;
	lr->done = done;
	return claim_queue(svc, rr, done, false);
}

/* ---- Record ------------------------------------------------------------ */

/*
 * Run `id`'s row is gone (a failover to an asynchronous standby that never
 * received the claim): give the slot a row saying how the run ended. A
 * run that recorded `succeeded` in its own transaction lost that
 * transaction with the row, so its work did not happen here: failed.
 */
static int
record_vanished(struct record_op *op, PGconn *conn, int64_t id)
{
	struct chime_ledger_slot slot = run_slot(op->rr);
	struct chime_ledger_claim claim = {
	        .slot = &slot,
	        .attempt = chime_runner_run_attempt(op->rr),
	        .node = chime_runner_run_node(op->rr),
	        .manual = chime_runner_run_manual(op->rr),
	};
	enum chime_run_status status = op->in_tx ? CHIME_RUN_FAILED : op->status;
	const char *why = !op->in_tx && op->error != NULL ? op->error : NULL;
	char *error = NULL;
	int r;

	if (asprintf(&error,
	             "the run's ledger row (id %" PRId64 ") was lost with the database it was "
	             "claimed on (a failover?)%s%s%s",
	             id, op->in_tx ? ": its work, committed with that row, was lost too" : "",
	             why != NULL ? "; the run: " : "", why != NULL ? why : "") < 0)
		return -ENOMEM;
	r = chime_ledger_record_vanished(conn, &claim, id, status, op->in_tx ? NULL : op->summary,
	                                 error, NULL, 0);
	free(error);
	return r;
}

static void
record_work(struct ledger_work *w, struct chime_db_conn *c)
{
	struct record_op *op = (struct record_op *)w;

	int64_t id = chime_runner_run_id(op->rr);

	/* A hung backend of a fenced run holds the row until it exits: wait
	 * for it a little, then again later, never with a pool thread pinned. */
	if (op->abandoned)
		PQclear(PQexec(c->pg, "SET lock_timeout = '" ABANDONED_LOCK_WAIT "'"));
	w->r = chime_ledger_finish(c->pg, id, op->status, op->summary, op->error, w->err,
	                           sizeof(w->err));
	if (op->abandoned) {
		if (w->r == -EIO && strstr(w->err, "lock timeout") != NULL)
			w->r = -EAGAIN;
		PQclear(PQexec(c->pg, "RESET lock_timeout"));
	}
	/* Not live: another node recovered it while this one worked (a
	 * stall, a pause). The row must not contradict the database: say on
	 * it how the run really ended (succeeded late: its work committed;
	 * else why, such as the fence rolling its unit back). */
	if (w->r == -ESTALE && !op->in_tx)
		op->late =
		        chime_ledger_finish_late(c->pg, id, chime_runner_run_node(op->rr),
		                                 op->status, op->summary, op->error, NULL, 0) == 0;
	if (w->r == -ESTALE && !op->late)
		op->vanished = record_vanished(op, c->pg, id) == 0;
}

static void
record_free(struct ledger_work *w)
{
	struct record_op *op = (struct record_op *)w;

	chime_free_many(op->summary, op->error, op);
}

static int record_queue(struct chime_ledger_service *svc, struct chime_runner_run *rr,
                        chime_runner_stage_done_fn done, bool again);
static void record_after(struct ledger_work *w);

static const struct ledger_op_type record_type = {
        .work = record_work,
        .after = record_after,
        .free = record_free,
};

static void
record_retry_cb(struct chime_runner_run *rr, void *userdata)
{
	chime_runner_stage_done_fn done = chime__ledger_run(rr)->done;

	if (record_queue(userdata, rr, done, true) < 0)
		done(rr, -ENOMEM);
}

static void
record_after(struct ledger_work *w)
{
	struct record_op *op = (struct record_op *)w;
	struct chime_runner_run *rr = op->rr;
	const char *status = chime_run_status_name(op->status);
	char when[64];

	chime_runner_run_when(rr, when, sizeof(when));
	if (w->r == -EAGAIN && !chime_runner_draining(w->svc->runner) && !w->svc->closing) {
		if (!op->again)
			chime_runner_run_log(rr, CHIME_LOG_WARNING, NULL,
			                     "run of %s: outcome '%s' not recorded yet: its hung "
			                     "backend still holds the row; retrying until it exits",
			                     when, status);
		chime_runner_run_defer(rr, RECORD_POLL_USEC, record_retry_cb);
		return;
	}
	if ((w->r == -ENOTCONN || w->r == -ETIME) && !chime_runner_draining(w->svc->runner) &&
	    !w->svc->closing) {
		if (!op->again)
			chime_runner_run_log(
			        rr, CHIME_LOG_WARNING, NULL,
			        "run of %s: outcome '%s' not recorded yet: %s; retrying "
			        "until the database is back",
			        when, status, w->err);
		chime_runner_run_defer(rr, RECORD_POLL_USEC, record_retry_cb);
		return;
	}
	if (w->r == -ESTALE && op->vanished)
		chime_runner_run_log(
		        rr, CHIME_LOG_WARNING, NULL,
		        "run of %s: its ledger row was gone (lost with the database "
		        "it was claimed on: a failover?); the outcome went on a new row",
		        when);
	else if (w->r == -ESTALE && op->late)
		chime_runner_run_log(
		        rr, CHIME_LOG_WARNING, NULL,
		        "run of %s: another node recovered the claim as lost meanwhile; "
		        "its row now says this run's outcome '%s' came late",
		        when, status);
	else if (w->r == -ESTALE && !op->in_tx) /* in_tx: the plugin wrote the final row */
		chime_runner_run_log(rr, CHIME_LOG_WARNING, NULL,
		                     "run of %s: outcome '%s' not recorded: another node recovered "
		                     "the claim as lost meanwhile",
		                     when, status);
	else if (w->r < 0 && w->r != -ESTALE)
		chime_runner_run_log(rr, CHIME_LOG_ERR, NULL,
		                     "run of %s: outcome '%s' not recorded: %s; the claim will be "
		                     "recovered after its lease",
		                     when, status, w->err);
	op->done(rr, 0);
}

/* The error text recorded with the outcome; NULL for a success. */
static char *
record_error(struct chime_runner_run *rr, enum chime_run_status status)
{
	struct chime_run *run = chime_runner_run_context(rr);
	const char *error = run != NULL ? chime_run_error(run) : NULL;
	const char *reason = chime_runner_run_cancel_reason(rr);
	char *text = NULL;

	if (chime_runner_run_timed_out(rr)) {
		if (asprintf(&text, "timed out after %" PRId64 " ms%s%s",
		             chime_runner_run_job(rr)->timeout_usec / 1000, error ? ": " : "",
		             error ? error : "") < 0)
			text = NULL;
	} else if (status == CHIME_RUN_CANCELLED) {
		if (asprintf(&text, "cancelled: %s", reason != NULL ? reason : "shutting down") < 0)
			text = NULL;
	} else if (status != CHIME_RUN_SUCCEEDED) {
		text = strdup(error != NULL ? error : "failed");
	}
	return text;
}

static int
record_queue(struct chime_ledger_service *svc, struct chime_runner_run *rr,
             chime_runner_stage_done_fn done, bool again)
{
	struct record_op *op = chime__ledger_op_new(sizeof(*op), &record_type);
	struct chime_run *run = chime_runner_run_context(rr);

	if (op == NULL)
		return -ENOMEM;
	op->rr = rr;
	op->done = done;
	op->again = again;
	op->status = CHIME_RUN_FAILED;
	(void)chime_runner_run_status(rr, &op->status);
	op->summary = run != NULL ? chime_run_report_json(run) : NULL;
	op->error = record_error(rr, op->status);
	op->in_tx = run != NULL && chime_run_recorded(run);
	op->abandoned = chime_runner_run_abandoned(rr);
	return chime__ledger_queue(svc, &op->w);
}

int
chime__ledger_record(struct chime_runner_run *rr, chime_runner_stage_done_fn done, void *userdata)
{
	struct ledger_run *lr = chime__ledger_run(rr);

	struct chime_run *run = chime_runner_run_context(rr);
	enum chime_run_status status = CHIME_RUN_FAILED;

	/* A run that never got a row (no claim) has nothing to record, nor
	 * has a success whose row the plugin's committed transaction wrote
	 * (records_in_transaction). Any other outcome of such a run is still
	 * sent: the row is final when the COMMIT got through after all, and
	 * chime_ledger_finish() then leaves it as the database says. */
	(void)chime_runner_run_status(rr, &status);
	if (chime_runner_run_id(rr) <= 0 || lr == NULL ||
	    (status == CHIME_RUN_SUCCEEDED && run != NULL && chime_run_recorded(run))) {
		done(rr, 0);
		return 0;
	}
	lr->done = done;
	return record_queue(userdata, rr, done, false);
}

/* ---- In the plugin's transaction (worker thread) ----------------------- */

int
chime__ledger_run_fence(struct chime_runner_run *rr, PGconn *conn, char *errbuf, size_t errsize,
                        void *userdata)
{
	return chime_ledger_fence(conn, chime_runner_run_id(rr), chime_runner_run_node(rr), errbuf,
	                          errsize);
}

int
chime__ledger_record_in_tx(struct chime_runner_run *rr, PGconn *conn, const char *summary_json,
                           char *errbuf, size_t errsize, void *userdata)
{
	return chime_ledger_finish(conn, chime_runner_run_id(rr), CHIME_RUN_SUCCEEDED, summary_json,
	                           NULL, errbuf, errsize);
}

/* ---- Skipped by this node's overlap policy ----------------------------- */

static void
skipped_work(struct ledger_work *w, struct chime_db_conn *c)
{
	struct skipped_op *op = (struct skipped_op *)w;

	w->r = chime_ledger_record_skipped(c->pg, &op->slot, w->svc->node, op->reason, NULL, w->err,
	                                   sizeof(w->err));
}

static void
skipped_free(struct ledger_work *w)
{
	struct skipped_op *op = (struct skipped_op *)w;

	chime_free_many(op->job, op->reason, op);
}

/* Not recorded (no database): catch-up gives the slot its row later. */
static void
skipped_after(struct ledger_work *w)
{
	struct skipped_op *op = (struct skipped_op *)w;

	if (w->r < 0 && w->r != -EEXIST)
		chime__ledger_missed(w->svc, op->slot.instant_usec);
}

static const struct ledger_op_type skipped_type = {
        .work = skipped_work,
        .after = skipped_after,
        .free = skipped_free,
};

void
chime__ledger_skipped(const struct chime_job_config *job, const struct chime_slot *slot,
                      int64_t previous_usec, const char *reason, void *userdata)
{
	struct skipped_op *op = chime__ledger_op_new(sizeof(*op), &skipped_type);

	if (op == NULL)
		return;
	op->job = strdup(job->name);
	op->reason = strdup(reason);
	if (op->job == NULL || op->reason == NULL) {
		skipped_free(&op->w);
		return;
	}
	op->slot = (struct chime_ledger_slot){
	        .job = op->job,
	        .local_usec = slot->local_usec,
	        .occurrence = slot->occurrence,
	        .instant_usec = slot->instant_usec,
	        .previous_usec = previous_usec,
	};
	(void)chime__ledger_queue(userdata, &op->w);
}
