/* SPDX-License-Identifier: MIT */
/*
 * The run connection stages (ledger-internal.h): a plugin's own
 * connection from the run pool, taken on its worker thread with the job's
 * statement_timeout, reset and given back after the run; and the cancel
 * stage, which sends PQcancel for a working run's statement from a thread
 * of libuv's pool. The run's struct ledger_run lives from its claim to
 * the runner freeing it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger-internal.h"

static struct ledger_cancel *
cancel_ref(struct ledger_cancel *lc)
{
	atomic_fetch_add(&lc->refs, 1);
	return lc;
}

static struct ledger_cancel *
cancel_unref(struct ledger_cancel *lc)
{
	if (lc == NULL || atomic_fetch_sub(&lc->refs, 1) > 1)
		return NULL;
	if (lc->pg != NULL)
		PQfreeCancel(lc->pg);
	pthread_mutex_destroy(&lc->lock);
	free(lc);
	return NULL;
}

struct ledger_run *
chime__ledger_run(struct chime_runner_run *rr)
{
	struct ledger_run *lr = chime_runner_run_stage_data(rr);

	if (lr != NULL)
		return lr;
	lr = calloc(1, sizeof(*lr));
	if (lr == NULL)
		return NULL;
	lr->cancel = calloc(1, sizeof(*lr->cancel));
	if (lr->cancel == NULL) {
		free(lr);
		return NULL;
	}
	pthread_mutex_init(&lr->cancel->lock, NULL);
	atomic_init(&lr->cancel->refs, 1);
	chime_runner_run_set_stage_data(rr, lr);
	return lr;
}

void
chime__ledger_run_freed(struct chime_runner_run *rr, void *userdata)
{
	struct ledger_run *lr = chime_runner_run_stage_data(rr);

	if (lr == NULL)
		return;
	cancel_unref(lr->cancel);
	free(lr);
	chime_runner_run_set_stage_data(rr, NULL);
}

struct cancel_op {
	struct ledger_work w;
	struct ledger_cancel *cancel; /* a reference */
};

static void
cancel_raw(struct ledger_work *w)
{
	struct cancel_op *op = (struct cancel_op *)w;

	pthread_mutex_lock(&op->cancel->lock);
	w->r = op->cancel->pg != NULL ? chime_db_cancel(op->cancel->pg, w->err, sizeof(w->err)) : 0;
	pthread_mutex_unlock(&op->cancel->lock);
}

static void
cancel_free(struct ledger_work *w)
{
	struct cancel_op *op = (struct cancel_op *)w;

	cancel_unref(op->cancel);
	free(op);
}

static const struct ledger_op_type cancel_type = {.raw = cancel_raw, .free = cancel_free};

void
chime__ledger_cancel(struct chime_runner_run *rr, void *userdata)
{
	struct chime_ledger_service *svc = userdata;
	struct ledger_run *lr = chime_runner_run_stage_data(rr);
	struct cancel_op *op;
	bool held;

	if (lr == NULL)
		return;
	/* Only a run holding its connection has a statement to cancel. */
	pthread_mutex_lock(&lr->cancel->lock);
	held = lr->cancel->pg != NULL;
	pthread_mutex_unlock(&lr->cancel->lock);
	if (!held)
		return;
	op = chime__ledger_op_new(sizeof(*op), &cancel_type);
	if (op == NULL)
		return;
	op->cancel = cancel_ref(lr->cancel);
	(void)chime__ledger_queue(svc, &op->w);
}

static bool
job_needs_db(const struct chime_job_config *job)
{
	/* exec runs a command: no connection held for it. */
	return !(job->plugin != NULL && job->plugin->name != NULL &&
	         strcmp(job->plugin->name, "exec") == 0);
}

int
chime__ledger_acquire_conn(struct chime_runner_run *rr, PGconn **ret_conn, char *errbuf,
                           size_t errsize, void *userdata)
{
	struct chime_ledger_service *svc = userdata;
	const struct chime_job_config *job = chime_runner_run_job(rr);
	struct ledger_run *lr = chime_runner_run_stage_data(rr);
	struct chime_db_conn *c = NULL;
	int r;

	*ret_conn = NULL;
	if (!job_needs_db(job))
		return 0;
	if (lr == NULL) {
		snprintf(errbuf, errsize, "out of memory");
		return -ENOMEM;
	}
	for (;;) {
		r = chime_db_pool_take(svc->rpool, 1000000, &c, errbuf, errsize);
		if (r != -ETIME)
			break;
		if (chime_runner_run_cancelled(rr)) {
			snprintf(errbuf, errsize, "cancelled while waiting for a connection");
			return -ECANCELED;
		}
	}
	if (r < 0)
		return r;
	r = chime_db_set_statement_timeout(c->pg, job->timeout_usec, errbuf, errsize);
	if (r < 0) {
		chime_db_pool_give(c, r == -ENOTCONN, NULL);
		return r;
	}
	/* The stage data was created by the claim on the loop; the loop
	 * reads `pg` under the cancel's lock (chime__ledger_cancel). */
	pthread_mutex_lock(&lr->cancel->lock);
	lr->cancel->pg = PQgetCancel(c->pg);
	pthread_mutex_unlock(&lr->cancel->lock);
	lr->conn = c;
	*ret_conn = c->pg;
	return 0;
}

void
chime__ledger_release_conn(struct chime_runner_run *rr, PGconn *conn, void *userdata)
{
	struct ledger_run *lr = chime_runner_run_stage_data(rr);
	struct chime_db_conn *c;
	char err[256];
	int r;

	if (lr == NULL || lr->conn == NULL || lr->conn->pg != conn)
		return; /* not ours: acquire_conn returned it */
	c = lr->conn;
	lr->conn = NULL;
	/* Waits for a PQcancel in flight; none is issued after this. */
	pthread_mutex_lock(&lr->cancel->lock);
	if (lr->cancel->pg != NULL)
		PQfreeCancel(lr->cancel->pg);
	lr->cancel->pg = NULL;
	pthread_mutex_unlock(&lr->cancel->lock);
	/* The job's statements may have changed the session (search_path,
	 * a session advisory lock): not for the connection's next run. One
	 * that cannot be reset is closed. */
	r = chime_db_session_reset(conn, err, sizeof(err));
	chime_db_pool_give(c, r < 0, r < 0 ? err : NULL);
}
