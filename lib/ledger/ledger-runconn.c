/* SPDX-License-Identifier: MIT */
/*
 * The run connection stages (ledger-internal.h): a plugin's own
 * connection from the run pool, taken on its worker thread with the job's
 * statement_timeout (waiting for the database while it is down, until the
 * run is cancelled or times out), reset and given back after the run; the
 * cancel stage, which sends PQcancel for a working run's statement from a
 * short-lived thread of its own (never one of libuv's four: a server that
 * does not answer would pin it); and the abort stage for a run still
 * working past its timeout plus grace (a stopped backend, a black-holed
 * network): its socket is shut down from the loop, which ends the
 * worker's wait, and its backend terminated over a ledger connection.
 * The run's struct ledger_run lives from its claim to the runner freeing
 * it.
 */
#include <sys/socket.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledger-internal.h"
#include "log.h"
#include "pgutil.h"

/* How long the worker waits for a PQcancel in flight before it closes the
 * connection instead of reusing it. */
#define CANCEL_DEADLINE_USEC (INT64_C(2) * 1000000)
/* The longest wait between connect attempts of a run waiting for the
 * database (the pool's backoff is shorter). */
#define CONN_WAIT_USEC (INT64_C(250) * 1000)

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
	pthread_cond_destroy(&lc->idle);
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
	pthread_cond_init(&lr->cancel->idle, NULL);
	lr->cancel->sock = -1;
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

/* A detached thread per cancel: PQcancel opens a connection to the
 * server and, in libpq 15, has no timeout of its own. */
static void *
cancel_thread(void *userdata)
{
	struct ledger_cancel *lc = userdata;
	char err[256];

	(void)chime_db_cancel(lc->pg, err, sizeof(err));
	pthread_mutex_lock(&lc->lock);
	lc->inflight--;
	pthread_cond_broadcast(&lc->idle);
	pthread_mutex_unlock(&lc->lock);
	cancel_unref(lc);
	return NULL;
}

void
chime__ledger_cancel(struct chime_runner_run *rr, void *userdata)
{
	struct ledger_run *lr = chime_runner_run_stage_data(rr);
	struct ledger_cancel *lc;
	pthread_attr_t attr;
	pthread_t thread;
	bool held;
	int r;

	if (lr == NULL)
		return;
	lc = lr->cancel;
	/* Only a run holding its connection has a statement to cancel. */
	pthread_mutex_lock(&lc->lock);
	held = lc->pg != NULL && !lc->released;
	if (held)
		lc->inflight++;
	pthread_mutex_unlock(&lc->lock);
	if (!held)
		return;
	cancel_ref(lc);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&thread, &attr, cancel_thread, lc);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		/* The timeout's abort still ends the run. */
		pthread_mutex_lock(&lc->lock);
		lc->inflight--;
		pthread_mutex_unlock(&lc->lock);
		cancel_unref(lc);
	}
}

struct terminate_op {
	struct ledger_work w;
	int pid;
};

static void
terminate_work(struct ledger_work *w, struct chime_db_conn *c)
{
	struct terminate_op *op = (struct terminate_op *)w;
	char pid[16];
	const char *params[1] = {pid};
	PGresult *res;

	snprintf(pid, sizeof(pid), "%d", op->pid);
	res = PQexecParams(c->pg, "SELECT pg_terminate_backend($1::int)", 1, NULL, params, NULL,
	                   NULL, 0);
	w->r = chime__sql_result_errno(c->pg, res, w->err, sizeof(w->err));
	PQclear(res);
}

static void
terminate_after(struct ledger_work *w)
{
	struct terminate_op *op = (struct terminate_op *)w;

	if (w->r < 0)
		chime_log_warning("cannot terminate the hung backend %d: %s", op->pid, w->err);
}

static const struct ledger_op_type terminate_type = {
        .work = terminate_work,
        .after = terminate_after,
};

void
chime__ledger_abort(struct chime_runner_run *rr, void *userdata)
{
	struct chime_ledger_service *svc = userdata;
	struct ledger_run *lr = chime_runner_run_stage_data(rr);
	struct terminate_op *op;
	int pid = 0;

	if (lr == NULL)
		return;
	/* The worker waits in libpq for an answer that does not come: a
	 * shut-down socket ends that wait at once (the fd stays open, and
	 * is the worker's to close). */
	pthread_mutex_lock(&lr->cancel->lock);
	if (lr->cancel->sock >= 0 && !lr->cancel->released && !lr->cancel->cut) {
		(void)shutdown(lr->cancel->sock, SHUT_RDWR);
		lr->cancel->cut = true;
		pid = lr->cancel->backend_pid;
	}
	pthread_mutex_unlock(&lr->cancel->lock);
	if (pid <= 0)
		return;
	chime_runner_run_log(rr, CHIME_LOG_WARNING, NULL,
	                     "run still working after its timeout and a grace of %d s: connection "
	                     "cut, terminating backend %d",
	                     (int)(CHIME_RUNNER_TIMEOUT_GRACE_USEC / 1000000), pid);
	/* Its locks and its transaction stay until the backend is gone. */
	op = chime__ledger_op_new(sizeof(*op), &terminate_type);
	if (op == NULL)
		return;
	op->pid = pid;
	(void)chime__ledger_queue(svc, &op->w);
}

static bool
job_needs_db(const struct chime_job_config *job)
{
	/* exec runs a command: no connection held for it. */
	return !(job->plugin != NULL && job->plugin->name != NULL &&
	         strcmp(job->plugin->name, "exec") == 0);
}

/* Take a run connection with the job's statement_timeout, waiting while
 * the database is down: a run that never started its work for want of a
 * connection is not a failure of the job. Ends only when connected, on
 * another error, or when the run is cancelled (its timeout). */
static int
acquire_wait(struct chime_ledger_service *svc, struct chime_runner_run *rr,
             struct chime_db_conn **ret_conn, char *errbuf, size_t errsize)
{
	const struct chime_job_config *job = chime_runner_run_job(rr);
	struct chime_db_conn *c = NULL;
	char last[256] = "";
	int r;

	for (;;) {
		r = chime_db_pool_take(svc->rpool, CONN_WAIT_USEC, &c, errbuf, errsize);
		if (r == 0) {
			r = chime_db_set_statement_timeout(c->pg, job->timeout_usec, errbuf,
			                                   errsize);
			if (r == 0) {
				*ret_conn = c;
				return 0;
			}
			c = chime_db_pool_give(c, r == -ENOTCONN, NULL);
		}
		if (r != -ENOTCONN && r != -ETIME)
			return r;
		if (r == -ENOTCONN)
			snprintf(last, sizeof(last), "%s", errbuf);
		if (chime_runner_run_cancelled(rr)) {
			snprintf(errbuf, errsize,
			         "no database connection before the run was cancelled or timed "
			         "out%s%s",
			         last[0] != '\0' ? ": " : "", last);
			return -ECANCELED;
		}
		if (r == -ENOTCONN)
			chime_db_pool_wait(svc->rpool, CONN_WAIT_USEC);
	}
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
	r = acquire_wait(svc, rr, &c, errbuf, errsize);
	if (r < 0)
		return r;
	/* The stage data was created by the claim on the loop; the loop
	 * reads these under the cancel's lock (cancel and abort). */
	pthread_mutex_lock(&lr->cancel->lock);
	lr->cancel->pg = PQgetCancel(c->pg);
	lr->cancel->sock = PQsocket(c->pg);
	lr->cancel->backend_pid = PQbackendPID(c->pg);
	pthread_mutex_unlock(&lr->cancel->lock);
	lr->conn = c;
	*ret_conn = c->pg;
	return 0;
}

/* No more cancels or aborts for the run: wait for those in flight, up to
 * CANCEL_DEADLINE. True when the connection may serve another run. */
static bool
release_cancels(struct ledger_cancel *lc)
{
	int64_t until = chime_clock_wall_usec() + CANCEL_DEADLINE_USEC;
	struct timespec ts = {.tv_sec = until / 1000000, .tv_nsec = (until % 1000000) * 1000};
	bool reusable;

	pthread_mutex_lock(&lc->lock);
	lc->released = true;
	lc->sock = -1;
	while (lc->inflight > 0)
		if (pthread_cond_timedwait(&lc->idle, &lc->lock, &ts) == ETIMEDOUT)
			break;
	reusable = lc->inflight == 0 && !lc->cut;
	pthread_mutex_unlock(&lc->lock);
	return reusable;
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
	if (!release_cancels(lr->cancel)) {
		/* Cut by the abort, or a cancel may still arrive. */
		chime_db_pool_discard(c);
		return;
	}
	/* The job's statements may have changed the session (search_path,
	 * a session advisory lock): not for the connection's next run. One
	 * that cannot be reset is closed. */
	r = chime_db_session_reset(conn, err, sizeof(err));
	chime_db_pool_give(c, r < 0, r < 0 ? err : NULL);
}
