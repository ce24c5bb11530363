/* SPDX-License-Identifier: MIT */
/*
 * The runner (chime/runner.h): overlap policy, the optional claim and
 * record stages, worker threads (runner-pool.c), timeouts, retries, and the drain
 * at shutdown. All state lives on the loop thread; a worker touches only
 * its own run context and, when done, the mutex-guarded done list it posts
 * to the loop through a uv_async.
 */
#include "runner.h"

#include "runner-internal.h"

/* Loop-side helpers runner-ledger.c shares (runner-internal.h). */
#define mono_usec         chime__runner_mono_usec
#define rr_log            chime__runner_log
#define rr_when           chime__runner_when
#define rr_new            chime__runner_run_new
#define rr_work           chime__runner_work
#define rr_end_early      chime__runner_end_early
#define rr_done           chime__runner_done
#define rr_start          chime__runner_start
#define runner_maybe_free chime__runner_maybe_free

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "run.h"
#include "timespan.h"
#include "tz.h"

int64_t
mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t
usec_to_msec_ceil(int64_t usec)
{
	return usec <= 0 ? 0 : (uint64_t)((usec + 999) / 1000);
}

static const char *
rr_plugin_name(const struct chime_runner_run *rr)
{
	if (rr->job->plugin_name != NULL)
		return rr->job->plugin_name;
	return rr->job->plugin != NULL ? rr->job->plugin->name : "?";
}

void
rr_log(const struct chime_runner_run *rr, int priority, const char *message_id, const char *fmt,
       ...)
{
	struct chime_log_run fields = {
	        .job = rr->job->name,
	        .plugin = rr_plugin_name(rr),
	        .run_id = rr->id,
	        .scheduled_for_usec = rr->slot.instant_usec,
	        .status = rr->status,
	        .message_id = message_id,
	};
	va_list ap;

	va_start(ap, fmt);
	chime_log_runv(priority, &fields, fmt, ap);
	va_end(ap);
}

/* The report JSON for humans: "rows=1, command='INSERT 0 1', 3 items";
 * "" for an empty report. A new string, or NULL on OOM or bad JSON. */
static char *
report_summary(const char *report)
{
	json_t *root = json_loads(report, 0, NULL), *v;
	size_t len = 0, n_items;
	char *out = NULL, *text = NULL;
	FILE *f = NULL;
	const char *key;
	bool first = true;

	if (root == NULL)
		return NULL;
	f = open_memstream(&out, &len);
	if (f == NULL)
		goto out;
	json_object_foreach(json_object_get(root, "counts"), key, v)
	{
		fprintf(f, "%s%s=%" JSON_INTEGER_FORMAT, first ? "" : ", ", key,
		        json_integer_value(v));
		first = false;
	}
	json_object_foreach(json_object_get(root, "values"), key, v)
	{
		if (json_is_string(v)) {
			fprintf(f, "%s%s='%s'", first ? "" : ", ", key, json_string_value(v));
		} else {
			char *dump = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

			fprintf(f, "%s%s=%s", first ? "" : ", ", key, dump != NULL ? dump : "?");
			free(dump);
		}
		first = false;
	}
	n_items = json_array_size(json_object_get(root, "items")) +
	          (size_t)json_integer_value(json_object_get(root, "items_dropped"));
	if (n_items > 0)
		fprintf(f, "%s%zu item%s", first ? "" : ", ", n_items, n_items == 1 ? "" : "s");
	if (fclose(f) == 0)
		text = out;
	else
		free(out);
	out = NULL;
out:
	free(out);
	json_decref(root);
	return text;
}

/* The slot as the job's zone writes it: "2026-11-23T02:00:00+04:00". */
const char *
rr_when(const struct chime_runner_run *rr, char *buf, size_t size)
{
	if (chime_time_format(rr->slot.instant_usec, rr->job->tz, buf, size) < 0)
		snprintf(buf, size, "%" PRId64, rr->slot.instant_usec);
	return buf;
}

/* The wait before attempt `attempt` + 1: backoff doubled per attempt,
 * capped at max_backoff. */
static int64_t
retry_backoff_usec(const struct chime_job_config *job, int attempt)
{
	int64_t backoff = job->retry.backoff_usec;

	for (int i = 1; i < attempt && backoff < INT64_MAX / 2; i++)
		backoff *= 2;
	if (job->retry.max_backoff_usec > 0 && backoff > job->retry.max_backoff_usec)
		backoff = job->retry.max_backoff_usec;
	return backoff;
}

static void
runner_changed(struct chime_runner *runner)
{
	if (runner->options.changed_cb != NULL)
		runner->options.changed_cb(runner->options.userdata);
}

void
runner_maybe_free(struct chime_runner *runner)
{
	if (!runner->closing || runner->open_handles > 0 || runner->pending_work > 0)
		return;
	chime__ledger_free(runner);
	chime__pool_free(runner);
	pthread_mutex_destroy(&runner->lock);
	free(runner->node);
	free(runner);
}

static void
runner_handle_closed(uv_handle_t *handle)
{
	struct chime_runner *runner = handle->data;

	runner->open_handles--;
	runner_maybe_free(runner);
}

/* ---- Runs ------------------------------------------------------------ */

struct chime_runner_run *
rr_new(struct chime_runner *runner, struct chime_config *config, const struct chime_job_config *job,
       const struct chime_slot *slot, int64_t previous_usec, int attempt)
{
	struct chime_runner_run *rr = calloc(1, sizeof(*rr));

	if (rr == NULL)
		return NULL;
	rr->runner = runner;
	rr->config = chime_config_ref(config);
	rr->job = job;
	rr->slot = *slot;
	rr->previous_usec = previous_usec;
	rr->attempt = attempt;
	pthread_mutex_init(&rr->lock, NULL);
	uv_timer_init(runner->options.loop, &rr->timer);
	rr->timer.data = rr;
	runner->open_handles++;
	rr->next = runner->runs;
	if (runner->runs != NULL)
		runner->runs->prev = rr;
	runner->runs = rr;
	return rr;
}

static void
rr_closed(uv_handle_t *handle)
{
	struct chime_runner_run *rr = handle->data;
	struct chime_runner *runner = rr->runner;

	pthread_mutex_destroy(&rr->lock);
	free(rr);
	runner->open_handles--;
	runner_maybe_free(runner);
}

/* Unlink and free (after its timer closed). Not for live runs. */
static void
rr_free(struct chime_runner_run *rr)
{
	struct chime_runner *runner = rr->runner;

	if (rr->prev != NULL)
		rr->prev->next = rr->next;
	else
		runner->runs = rr->next;
	if (rr->next != NULL)
		rr->next->prev = rr->prev;
	rr->run = chime_run_free(rr->run);
	rr->cancel = chime__ledger_cancel_unref(rr->cancel);
	rr->config = chime_config_unref(rr->config);
	uv_close((uv_handle_t *)&rr->timer, rr_closed);
}

static bool
rr_live(const struct chime_runner_run *rr)
{
	return rr->state == RR_CLAIMING || rr->state == RR_WORKING || rr->state == RR_RECORDING;
}

static bool
same_job(const struct chime_runner_run *rr, const struct chime_job_config *job)
{
	return strcmp(rr->job->name, job->name) == 0;
}

/* Mark a live run cancelled by the runner (replace, shutdown). */
static void
rr_cancel(struct chime_runner_run *rr, const char *reason)
{
	if (rr->cancel_reason == NULL)
		rr->cancel_reason = reason;
	pthread_mutex_lock(&rr->lock);
	rr->cancel_pending = true;
	if (rr->run != NULL)
		chime_run_cancel(rr->run);
	pthread_mutex_unlock(&rr->lock);
	if (rr->state == RR_WORKING && rr->runner->lpool != NULL)
		chime__ledger_cancel(rr);
}

static void
runner_check_drained(struct chime_runner *runner)
{
	void (*cb)(void *userdata) = runner->drained_cb;

	if (!runner->draining || runner->live > 0 || cb == NULL)
		return;
	runner->drained_cb = NULL;
	uv_timer_stop(&runner->drain_timer);
	cb(runner->drained_userdata);
}

static void
retry_timer_cb(uv_timer_t *timer)
{
	struct chime_runner_run *rr = timer->data;

	rr_start(rr);
}

/* The live run `rr` is done with every stage: free it and start what
 * waited for it. */
void
rr_done(struct chime_runner_run *rr)
{
	struct chime_runner *runner = rr->runner;
	const struct chime_job_config *job = rr->job;
	struct chime_runner_run *retry = NULL, *q, *first = NULL;
	char when[64];

	runner->live--;
	if (rr->retry && !runner->draining) {
		retry = rr_new(runner, rr->config, job, &rr->slot, rr->previous_usec,
		               rr->attempt + 1);
		if (retry != NULL) {
			int64_t backoff = retry_backoff_usec(job, rr->attempt);

			retry->manual = rr->manual;

			retry->state = RR_RETRY_WAIT;
			uv_timer_start(&retry->timer, retry_timer_cb, usec_to_msec_ceil(backoff),
			               0);
		} else {
			rr_log(rr, CHIME_LOG_ERR, NULL, "slot %s: cannot retry: out of memory",
			       rr_when(rr, when, sizeof(when)));
		}
	}
	if (runner->options.finished_cb != NULL)
		runner->options.finished_cb(rr, runner->options.userdata);
	rr_free(rr);

	/* The oldest queued slot of the job (the list is newest first). */
	for (q = runner->runs; q != NULL; q = q->next)
		if (q->state == RR_QUEUED && same_job(q, job))
			first = q;
	if (first != NULL && !runner->draining)
		rr_start(first);
	runner_changed(runner);
	runner_check_drained(runner);
}

static void
record_done(struct chime_runner_run *rr, int r)
{
	char when[64];

	if (r < 0)
		rr_log(rr, CHIME_LOG_ERR, NULL, "slot %s: recording the outcome failed: %s",
		       rr_when(rr, when, sizeof(when)), strerror(-r));
	rr_done(rr);
}

static void
rr_complete(struct chime_runner_run *rr)
{
	struct chime_runner *runner = rr->runner;
	const struct chime_job_config *job = rr->job;
	const char *error = rr->run != NULL ? chime_run_error(rr->run)
	                                    : "no run context (out of memory or threads)";
	char when[64], retry_text[80] = "";
	double secs = (double)rr->duration_usec / 1e6;
	int r;

	uv_timer_stop(&rr->timer);
	if (rr->result >= 0) {
		rr->status = "succeeded";
		runner->stats.succeeded++;
	} else if (rr->timed_out) {
		rr->status = "timed_out";
		runner->stats.timed_out++;
	} else if (rr->cancel_reason != NULL) {
		rr->status = "cancelled";
		runner->stats.cancelled++;
	} else {
		rr->status = "failed";
		runner->stats.failed++;
		rr->retry = !runner->draining && rr->attempt < job->retry.attempts;
	}
	rr_when(rr, when, sizeof(when));

	if (rr->result >= 0) {
		char *report = rr->run != NULL ? chime_run_report_json(rr->run) : NULL;
		char *summary = report != NULL ? report_summary(report) : NULL;
		struct chime_log_run fields = {
		        .job = job->name,
		        .plugin = rr_plugin_name(rr),
		        .run_id = rr->id,
		        .scheduled_for_usec = rr->slot.instant_usec,
		        .status = rr->status,
		        .message_id = CHIME_MESSAGE_RUN_FINISHED,
		        .summary = report,
		};

		/* The full report goes to the journal (CHIME_SUMMARY=) and
		 * chime.runs; the line says it in a few words. */
		chime_log_run(CHIME_LOG_INFO, &fields, "run of %s finished in %.3f s%s%s", when,
		              secs, summary != NULL && summary[0] != '\0' ? ": " : "",
		              summary != NULL ? summary : "");
		free(summary);
		free(report);
	} else {
		if (rr->retry) {
			int64_t backoff = retry_backoff_usec(job, rr->attempt);
			char span[32];

			chime_timespan_format(backoff, span, sizeof(span));
			snprintf(retry_text, sizeof(retry_text),
			         ", retrying in %s (attempt %d of %d)", span, rr->attempt + 1,
			         job->retry.attempts);
		}
		if (rr->timed_out) {
			char span[32];

			chime_timespan_format(job->timeout_usec, span, sizeof(span));
			rr_log(rr, CHIME_LOG_ERR, CHIME_MESSAGE_RUN_FAILED,
			       "run of %s timed out after %s%s", when, span, retry_text);
		} else if (rr->cancel_reason != NULL) {
			rr_log(rr, CHIME_LOG_WARNING, CHIME_MESSAGE_RUN_FAILED,
			       "run of %s cancelled after %.3f s: %s", when, secs,
			       rr->cancel_reason);
		} else {
			rr_log(rr, CHIME_LOG_ERR, CHIME_MESSAGE_RUN_FAILED,
			       "run of %s failed after %.3f s: %s%s", when, secs,
			       error != NULL ? error : strerror(-rr->result), retry_text);
		}
	}

	rr->state = RR_RECORDING;
	if (runner->options.record != NULL) {
		r = runner->options.record(rr, record_done, runner->options.userdata);
		if (r < 0)
			record_done(rr, r);
		return;
	}
	if (runner->lpool != NULL && rr->id > 0) {
		chime__ledger_record(rr);
		return;
	}
	rr_done(rr);
}

/* On a worker thread: the run's own part, then post it to the loop. The
 * "run started" line is written here, after the hand-off, so the loop
 * dispatching the rest of a batch does not pay for it, and before the
 * plugin's own lines. */
void
chime__runner_worker(struct chime_runner_run *rr)
{
	struct chime_runner *runner = rr->runner;
	const struct chime_job_config *job = rr->job;
	struct chime_run_params params = {
	        .job = job->name,
	        .plugin = rr_plugin_name(rr),
	        .timezone = job->tz != NULL ? chime_tz_name(job->tz) : "UTC",
	        .node = runner->node,
	        .nominal_usec = rr->slot.instant_usec,
	        .previous_usec = rr->previous_usec,
	        .run_id = rr->id,
	        .attempt = rr->attempt,
	};
	struct chime_db_conn *conn = NULL;
	struct chime_run *run;
	int64_t start = mono_usec();
	char err[256], when[64];
	int r = 0;

	rr_when(rr, when, sizeof(when));
	if (rr->attempt > 1)
		rr_log(rr, CHIME_LOG_INFO, CHIME_MESSAGE_RUN_STARTED,
		       "run of %s started (attempt %d of %d)", when, rr->attempt,
		       job->retry.attempts);
	else
		rr_log(rr, CHIME_LOG_INFO, CHIME_MESSAGE_RUN_STARTED, "run of %s started", when);
	/* The run's own connection, taken here: waiting for one may block. */
	if (runner->lpool != NULL)
		r = chime__ledger_take_run_conn(rr, &conn, err, sizeof(err));
	params.conn = conn != NULL ? conn->pg : NULL;
	run = chime_run_new(&params);
	pthread_mutex_lock(&rr->lock);
	rr->run = run;
	rr->conn = conn;
	if (rr->cancel_pending && run != NULL)
		chime_run_cancel(run);
	pthread_mutex_unlock(&rr->lock);

	if (run == NULL) {
		rr->result = -ENOMEM;
	} else if (r < 0) {
		chime_run_fail(run, "no database connection for the run: %s", err);
		rr->result = r;
	} else {
		rr->result = job->plugin->run(job->plugin_state, run);
		if (rr->result > 0)
			rr->result = 0;
	}
	rr->duration_usec = mono_usec() - start;

	pthread_mutex_lock(&rr->lock);
	rr->conn = NULL;
	pthread_mutex_unlock(&rr->lock);
	if (conn != NULL)
		chime__ledger_give_run_conn(rr, conn);

	pthread_mutex_lock(&runner->lock);
	rr->done_next = runner->done;
	runner->done = rr;
	pthread_mutex_unlock(&runner->lock);
	/* The async outlives every live run: the runner closes only when
	 * none is live, and this run stays live until the loop saw it. */
	uv_async_send(&runner->async);
}

static void
runner_async_cb(uv_async_t *async)
{
	struct chime_runner *runner = async->data;
	struct chime_runner_run *list, *rr, *reversed = NULL;

	pthread_mutex_lock(&runner->lock);
	list = runner->done;
	runner->done = NULL;
	pthread_mutex_unlock(&runner->lock);
	/* Complete in the order the workers finished. */
	while (list != NULL) {
		rr = list;
		list = rr->done_next;
		rr->done_next = reversed;
		reversed = rr;
	}
	while (reversed != NULL) {
		rr = reversed;
		reversed = rr->done_next;
		rr_complete(rr);
	}
}

static void
timeout_cb(uv_timer_t *timer)
{
	struct chime_runner_run *rr = timer->data;
	char span[32];

	rr->timed_out = true;
	pthread_mutex_lock(&rr->lock);
	rr->cancel_pending = true;
	if (rr->run != NULL)
		chime_run_cancel(rr->run);
	pthread_mutex_unlock(&rr->lock);
	/* statement_timeout ends a statement on the server; this also ends
	 * one the server no longer hears about. */
	if (rr->runner->lpool != NULL)
		chime__ledger_cancel(rr);
	chime_timespan_format(rr->job->timeout_usec, span, sizeof(span));
	rr_log(rr, CHIME_LOG_WARNING, NULL, "run exceeded its timeout of %s, cancelling", span);
}

/* A live run that ends before its worker (claim refused or failed). */
void
rr_end_early(struct chime_runner_run *rr, const char *status)
{
	rr->status = status;
	rr_done(rr);
}

void
rr_work(struct chime_runner_run *rr)
{
	struct chime_runner *runner = rr->runner;
	const struct chime_job_config *job = rr->job;
	char when[64];
	int r;

	if (job->plugin == NULL || job->plugin->run == NULL) {
		rr_log(rr, CHIME_LOG_ERR, CHIME_MESSAGE_RUN_FAILED,
		       "run of %s failed: the plugin was not resolved",
		       rr_when(rr, when, sizeof(when)));
		runner->stats.failed++;
		rr_end_early(rr, "failed");
		return;
	}
	rr->state = RR_WORKING;
	rr->status = "running";
	rr->start_mono_usec = mono_usec();
	runner->stats.started++;
	if (job->timeout_usec > 0)
		uv_timer_start(&rr->timer, timeout_cb, usec_to_msec_ceil(job->timeout_usec), 0);

	r = chime__pool_submit(runner, rr);
	if (r < 0) {
		uv_timer_stop(&rr->timer);
		rr_log(rr, CHIME_LOG_ERR, NULL, "cannot start a worker thread: %s", strerror(-r));
		rr->result = r;
		rr->duration_usec = 0;
		rr_complete(rr);
	}
}

static void
claim_done(struct chime_runner_run *rr, int r)
{
	char when[64];

	if (r == -EEXIST) {
		rr_log(rr, CHIME_LOG_DEBUG, NULL, "slot %s is taken by another node",
		       rr_when(rr, when, sizeof(when)));
		rr_end_early(rr, "skipped");
		return;
	}
	if (r < 0) {
		rr->status = "failed";
		rr_log(rr, CHIME_LOG_ERR, CHIME_MESSAGE_RUN_FAILED, "slot %s: claim failed: %s",
		       rr_when(rr, when, sizeof(when)), strerror(-r));
		rr->runner->stats.failed++;
		rr_end_early(rr, "failed");
		return;
	}
	rr_work(rr);
}

void
rr_start(struct chime_runner_run *rr)
{
	struct chime_runner *runner = rr->runner;
	int r;

	uv_timer_stop(&rr->timer);
	rr->state = RR_CLAIMING;
	runner->live++;
	runner_changed(runner);
	if (runner->options.claim != NULL) {
		r = runner->options.claim(rr, claim_done, runner->options.userdata);
		if (r < 0)
			claim_done(rr, r);
		return;
	}
	if (runner->lpool != NULL) {
		chime__ledger_claim(rr);
		return;
	}
	rr->id = ++runner->next_local_id;
	rr_work(rr);
}

/* ---- Public ---------------------------------------------------------- */

int
chime_runner_new(const struct chime_runner_options *options, struct chime_runner **ret_runner)
{
	struct chime_runner *runner = calloc(1, sizeof(*runner));
	int r;

	if (runner == NULL)
		return -ENOMEM;
	runner->options = *options;
	runner->node = strdup(options->node != NULL ? options->node : "");
	if (runner->node == NULL) {
		free(runner);
		return -ENOMEM;
	}
	r = pthread_mutex_init(&runner->lock, NULL);
	if (r != 0) {
		free(runner->node);
		free(runner);
		return -r;
	}
	r = uv_async_init(options->loop, &runner->async, runner_async_cb);
	if (r < 0) {
		pthread_mutex_destroy(&runner->lock);
		free(runner->node);
		free(runner);
		return r;
	}
	runner->async.data = runner;
	uv_timer_init(options->loop, &runner->drain_timer);
	runner->drain_timer.data = runner;
	runner->open_handles = 2;
	r = chime__pool_init(runner, options->database != NULL && options->database->pool >
	                                                                  CHIME_RUNNER_WORKERS_CAP
	                                     ? (size_t)options->database->pool
	                                     : CHIME_RUNNER_WORKERS_CAP);
	if (r < 0) {
		chime_runner_close(runner);
		return r;
	}
	runner->open_handles++;
	if (options->database != NULL) {
		r = chime__ledger_init(runner, options->database);
		if (r < 0) {
			chime_runner_close(runner);
			return r;
		}
	}
	*ret_runner = runner;
	return 0;
}

int
chime_runner_dispatch(struct chime_runner *runner, struct chime_config *config,
                      const struct chime_job_config *job, const struct chime_slot *slot,
                      int64_t previous_usec)
{
	return chime__runner_dispatch(runner, config, job, slot, previous_usec, false);
}

/* `catchup`: a missed slot from the ledger; it queues behind the job's
 * live run whatever the overlap policy, and abandons no retry. */
int
chime__runner_dispatch(struct chime_runner *runner, struct chime_config *config,
                       const struct chime_job_config *job, const struct chime_slot *slot,
                       int64_t previous_usec, bool catchup)
{
	struct chime_runner_run *rr, *q, *next, *live = NULL;
	bool behind_catchup = false;
	size_t queued = 0;
	char when[64], old[64];

	if (runner->draining)
		return -ESHUTDOWN;
	rr = rr_new(runner, config, job, slot, previous_usec, 1);
	if (rr == NULL)
		return -ENOMEM;
	rr->state = RR_QUEUED;
	rr->catchup = catchup;
	rr_when(rr, when, sizeof(when));

	for (q = runner->runs; q != NULL; q = next) {
		next = q->next;
		if (q == rr || !same_job(q, job))
			continue;
		if (q->state == RR_RETRY_WAIT && !catchup) {
			/* Retries never run past the job's next slot. */
			rr_log(q, CHIME_LOG_NOTICE, NULL,
			       "retry of slot %s abandoned: the next slot %s is due",
			       rr_when(q, old, sizeof(old)), when);
			rr_free(q);
		} else if (rr_live(q)) {
			live = q;
		} else if (q->state == RR_QUEUED) {
			queued++;
			if (q->catchup)
				behind_catchup = true;
		}
	}
	if (live != NULL && live->catchup)
		behind_catchup = true;
	if (live == NULL && queued == 0) {
		rr_start(rr);
		return 0;
	}
	if (catchup) {
		rr_log(rr, CHIME_LOG_INFO, NULL, "missed slot %s queued behind the job's run",
		       when);
		return 0;
	}
	/* A catch-up backlog is not an overlap: the live slot follows it. */
	if (behind_catchup) {
		rr->catchup = true;
		rr_log(rr, CHIME_LOG_INFO, NULL, "slot %s queued behind the catch-up runs", when);
		return 0;
	}

	switch (job->overlap) {
	case CHIME_OVERLAP_QUEUE:
		if (queued < CHIME_RUNNER_QUEUE_MAX) {
			rr_log(rr, CHIME_LOG_NOTICE, NULL,
			       "slot %s queued behind the run still in progress", when);
			return 0;
		}
		rr->status = "skipped";
		rr_log(rr, CHIME_LOG_WARNING, CHIME_MESSAGE_RUN_SKIPPED,
		       "slot %s skipped: %d slots already queued", when, CHIME_RUNNER_QUEUE_MAX);
		break;
	case CHIME_OVERLAP_REPLACE:
		for (q = runner->runs; q != NULL; q = next) {
			next = q->next;
			if (q == rr || !same_job(q, job))
				continue;
			if (rr_live(q)) {
				rr_log(q, CHIME_LOG_NOTICE, NULL,
				       "cancelling the run of %s: replaced by the slot %s",
				       rr_when(q, old, sizeof(old)), when);
				rr_cancel(q, "replaced by a newer slot");
			} else if (q->state == RR_QUEUED) {
				q->status = "skipped";
				rr_log(q, CHIME_LOG_NOTICE, CHIME_MESSAGE_RUN_SKIPPED,
				       "slot %s skipped: replaced by the slot %s",
				       rr_when(q, old, sizeof(old)), when);
				runner->stats.skipped++;
				rr_free(q);
			}
		}
		if (live == NULL)
			rr_start(rr);
		return 0;
	case CHIME_OVERLAP_SKIP:
	default:
		rr->status = "skipped";
		rr_log(rr, CHIME_LOG_NOTICE, CHIME_MESSAGE_RUN_SKIPPED,
		       "slot %s skipped: the run of %s is still in progress", when,
		       live != NULL ? rr_when(live, old, sizeof(old)) : "an earlier slot");
		if (runner->lpool != NULL)
			chime__ledger_record_skipped(runner, job, slot, previous_usec,
			                             "overlap: the previous run is still running");
		break;
	}
	runner->stats.skipped++;
	if (runner->options.finished_cb != NULL)
		runner->options.finished_cb(rr, runner->options.userdata);
	rr_free(rr);
	return 0;
}

int
chime_runner_trigger(struct chime_runner *runner, struct chime_config *config,
                     const struct chime_job_config *job)
{
	struct chime_runner_run *rr;
	struct chime_slot slot = {0};
	struct timespec ts;
	int64_t now;

	if (runner->draining)
		return -ESHUTDOWN;
	for (rr = runner->runs; rr != NULL; rr = rr->next)
		if (same_job(rr, job) && rr->state != RR_RETRY_WAIT)
			return -EBUSY;
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	slot.instant_usec = now;
	slot.local_usec = job->tz != NULL ? chime_tz_to_local(job->tz, now / 1000000) * 1000000 +
	                                            now % 1000000
	                                  : now;
	rr = rr_new(runner, config, job, &slot, INT64_MIN, 1);
	if (rr == NULL)
		return -ENOMEM;
	rr->manual = true;
	rr_start(rr);
	return 0;
}

size_t
chime_runner_running(const struct chime_runner *runner)
{
	return runner->live;
}

void
chime_runner_stats(const struct chime_runner *runner, struct chime_runner_stats *ret_stats)
{
	*ret_stats = runner->stats;
}

void
chime_runner_cancel_all(struct chime_runner *runner)
{
	for (struct chime_runner_run *rr = runner->runs; rr != NULL; rr = rr->next)
		if (rr_live(rr))
			rr_cancel(rr, "shutting down");
}

static void
drain_timer_cb(uv_timer_t *timer)
{
	struct chime_runner *runner = timer->data;
	void (*cb)(void *userdata) = runner->drained_cb;

	if (runner->live > 0 && !runner->drain_cancelled) {
		chime_log_warning("shutdown timeout reached: cancelling %zu run%s", runner->live,
		                  runner->live == 1 ? "" : "s");
		runner->drain_cancelled = true;
		chime_runner_cancel_all(runner);
		uv_timer_start(&runner->drain_timer, drain_timer_cb,
		               usec_to_msec_ceil(CHIME_RUNNER_CANCEL_GRACE_USEC), 0);
		return;
	}
	runner->drained_cb = NULL;
	if (cb != NULL)
		cb(runner->drained_userdata);
}

int
chime_runner_drain(struct chime_runner *runner, int64_t timeout_usec,
                   void (*drained_cb)(void *userdata), void *userdata)
{
	struct chime_runner_run *rr, *next;
	char when[64];

	if (runner->draining)
		return -EALREADY;
	runner->draining = true;
	if (runner->lpool != NULL)
		chime__ledger_drain(runner);
	runner->drained_cb = drained_cb;
	runner->drained_userdata = userdata;
	for (rr = runner->runs; rr != NULL; rr = next) {
		next = rr->next;
		if (rr_live(rr))
			continue;
		rr_log(rr, CHIME_LOG_NOTICE, NULL, "%s of slot %s dropped: shutting down",
		       rr->state == RR_QUEUED ? "queued run" : "retry",
		       rr_when(rr, when, sizeof(when)));
		rr_free(rr);
	}
	/* Even with nothing live the callback comes from the loop. */
	uv_timer_start(&runner->drain_timer, drain_timer_cb,
	               runner->live == 0 ? 0 : usec_to_msec_ceil(timeout_usec), 0);
	return 0;
}

void
chime_runner_close(struct chime_runner *runner)
{
	struct chime_runner_run *rr, *next;

	if (runner == NULL || runner->closing)
		return;
	runner->closing = true;
	for (rr = runner->runs; rr != NULL; rr = next) {
		next = rr->next;
		if (!rr_live(rr))
			rr_free(rr);
	}
	if (runner->lpool != NULL)
		chime__ledger_close(runner);
	chime__pool_stop(runner, runner_handle_closed);
	uv_close((uv_handle_t *)&runner->async, runner_handle_closed);
	uv_close((uv_handle_t *)&runner->drain_timer, runner_handle_closed);
}

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
chime_runner_run_context(struct chime_runner_run *rr)
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

const char *
chime_runner_run_status(const struct chime_runner_run *rr)
{
	return rr->status;
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
