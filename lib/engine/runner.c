/* SPDX-License-Identifier: MIT */
/*
 * The runner (runner.h): overlap policy, the claim and record stages a
 * ledger plugs in (struct chime_runner_stages), worker threads
 * (runner-pool.c), timeouts, retries, and the drain at shutdown. All state
 * lives on the loop thread; a worker touches only its own run context and,
 * when done, the mutex-guarded done list it posts to the loop through a
 * uv_async. Time comes from the injected clock only.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "run.h"
#include "runner-internal.h"
#include "timespan.h"
#include "tz.h"

static int64_t
runner_mono_usec(const struct chime_runner *runner)
{
	return chime_clock_mono(&runner->clock);
}

static const char *
rr_plugin_name(const struct chime_runner_run *rr)
{
	if (rr->job->plugin_name != NULL)
		return rr->job->plugin_name;
	return rr->job->plugin != NULL ? rr->job->plugin->name : "?";
}

static const char *
rr_status_name(const struct chime_runner_run *rr)
{
	return rr->has_status ? chime_run_status_name(rr->status) : NULL;
}

static void
rr_set_status(struct chime_runner_run *rr, enum chime_run_status status)
{
	rr->status = status;
	rr->has_status = true;
}

void
chime_runner_run_log(const struct chime_runner_run *rr, int priority, const char *message_id,
                     const char *fmt, ...)
{
	struct chime_log_run fields = {
	        .job = rr->job->name,
	        .plugin = rr_plugin_name(rr),
	        .run_id = rr->id,
	        .scheduled_for_usec = rr->slot.instant_usec,
	        .status = rr_status_name(rr),
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
		/* A value of several lines (exec's output_tail) was logged line
		 * by line already; it stays in the report, not in this line. */
		if (json_is_string(v) && strchr(json_string_value(v), '\n') != NULL)
			continue;
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
chime_runner_run_when(const struct chime_runner_run *rr, char *buf, size_t size)
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

static void
runner_maybe_free(struct chime_runner *runner)
{
	if (!runner->closing || runner->open_handles > 0)
		return;
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

static struct chime_runner_run *
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
	rr->cancel_grace_usec = INT64_MAX;
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
	if (runner->options.stages.run_freed != NULL)
		runner->options.stages.run_freed(rr, runner->options.stages.userdata);
	rr->run = chime_run_free(rr->run);
	rr->config = chime_config_unref(rr->config);
	uv_close((uv_handle_t *)&rr->timer, rr_closed);
}

static bool
same_job(const struct chime_runner_run *rr, const struct chime_job_config *job)
{
	return strcmp(rr->job->name, job->name) == 0;
}

/* Cancel the run context (now, or when the worker creates it) and what
 * the run waits on in the stages. */
static void
rr_interrupt(struct chime_runner_run *rr)
{
	const struct chime_runner_stages *stages = &rr->runner->options.stages;

	pthread_mutex_lock(&rr->lock);
	rr->cancel_pending = true;
	if (rr->run != NULL)
		chime_run_cancel_within(rr->run, rr->cancel_grace_usec);
	pthread_mutex_unlock(&rr->lock);
	if (rr->state == RR_WORKING && stages->cancel != NULL)
		stages->cancel(rr, stages->userdata);
}

void
chime_runner_run_cancel(struct chime_runner_run *rr, const char *reason)
{
	if (rr->cancel_reason == NULL)
		rr->cancel_reason = reason;
	rr_interrupt(rr);
}

void
chime_runner_run_cancel_within(struct chime_runner_run *rr, const char *reason, int64_t grace_usec)
{
	pthread_mutex_lock(&rr->lock);
	if (grace_usec < rr->cancel_grace_usec)
		rr->cancel_grace_usec = grace_usec;
	pthread_mutex_unlock(&rr->lock);
	chime_runner_run_cancel(rr, reason);
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

static void rr_start(struct chime_runner_run *rr);

static void
retry_timer_cb(uv_timer_t *timer)
{
	struct chime_runner_run *rr = timer->data;

	rr_start(rr);
}

/* The live run `rr` is done with every stage: free it and start what
 * waited for it. */
static void
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
			uv_timer_start(&retry->timer, retry_timer_cb,
			               chime__usec_to_msec_ceil(backoff), 0);
		} else {
			chime_runner_run_log(rr, CHIME_LOG_ERR, NULL,
			                     "slot %s: cannot retry: out of memory",
			                     chime_runner_run_when(rr, when, sizeof(when)));
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
		chime_runner_run_log(rr, CHIME_LOG_ERR, NULL,
		                     "slot %s: recording the outcome failed: %s",
		                     chime_runner_run_when(rr, when, sizeof(when)), strerror(-r));
	rr_done(rr);
}

/* The record stage (the outcome is decided). */
static void
rr_record(struct chime_runner_run *rr)
{
	const struct chime_runner_stages *stages = &rr->runner->options.stages;
	int r;

	rr->state = RR_RECORDING;
	if (stages->record == NULL) {
		rr_done(rr);
		return;
	}
	r = stages->record(rr, record_done, stages->userdata);
	if (r < 0)
		record_done(rr, r);
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

	uv_timer_stop(&rr->timer);
	if (rr->result >= 0) {
		rr_set_status(rr, CHIME_RUN_SUCCEEDED);
		runner->stats.succeeded++;
	} else if (rr->timed_out) {
		rr_set_status(rr, CHIME_RUN_TIMED_OUT);
		runner->stats.timed_out++;
		/* Timed out waiting for its connection, it ran no work: the
		 * retry policy applies as to a failure. */
		rr->retry =
		        rr->not_started && !runner->draining && rr->attempt < job->retry.attempts;
	} else if (rr->cancel_reason != NULL) {
		rr_set_status(rr, CHIME_RUN_CANCELLED);
		runner->stats.cancelled++;
	} else {
		rr_set_status(rr, CHIME_RUN_FAILED);
		runner->stats.failed++;
		rr->retry = !runner->draining && rr->attempt < job->retry.attempts;
	}
	chime_runner_run_when(rr, when, sizeof(when));

	if (rr->result >= 0) {
		char *report = rr->run != NULL ? chime_run_report_json(rr->run) : NULL;
		char *summary = report != NULL ? report_summary(report) : NULL;
		struct chime_log_run fields = {
		        .job = job->name,
		        .plugin = rr_plugin_name(rr),
		        .run_id = rr->id,
		        .scheduled_for_usec = rr->slot.instant_usec,
		        .status = rr_status_name(rr),
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
			chime_runner_run_log(rr, CHIME_LOG_ERR, CHIME_MESSAGE_RUN_FAILED,
			                     "run of %s timed out after %s%s", when, span,
			                     retry_text);
		} else if (rr->cancel_reason != NULL) {
			chime_runner_run_log(rr, CHIME_LOG_WARNING, CHIME_MESSAGE_RUN_FAILED,
			                     "run of %s cancelled after %.3f s: %s", when, secs,
			                     rr->cancel_reason);
		} else {
			chime_runner_run_log(rr, CHIME_LOG_ERR, CHIME_MESSAGE_RUN_FAILED,
			                     "run of %s failed after %.3f s: %s%s", when, secs,
			                     error != NULL ? error : strerror(-rr->result),
			                     retry_text);
		}
	}

	rr_record(rr);
}

/* The run context's fence and in-transaction record: the stages'. */
static int
worker_fence(void *host, PGconn *conn, char *errbuf, size_t errsize)
{
	struct chime_runner_run *rr = host;
	const struct chime_runner_stages *stages = &rr->runner->options.stages;

	return stages->fence(rr, conn, errbuf, errsize, stages->userdata);
}

static int
worker_record(void *host, PGconn *conn, const char *summary_json, char *errbuf, size_t errsize)
{
	struct chime_runner_run *rr = host;
	const struct chime_runner_stages *stages = &rr->runner->options.stages;

	return stages->record_in_tx(rr, conn, summary_json, errbuf, errsize, stages->userdata);
}

/* On a worker thread: the run's own part, then post it to the loop. The
 * "run started" line is written here, after the hand-off, so the loop
 * dispatching the rest of a batch does not pay for it, and before the
 * plugin's own lines. */
void
chime__runner_worker(struct chime_runner_run *rr)
{
	struct chime_runner *runner = rr->runner;
	const struct chime_runner_stages *stages = &runner->options.stages;
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
	        .dry_run = runner->options.dry_run,
	};
	PGconn *conn = NULL;
	struct chime_run *run;
	int64_t start = runner_mono_usec(runner);
	char err[256], when[64];
	int r = 0;

	chime_runner_run_when(rr, when, sizeof(when));
	if (rr->attempt > 1)
		chime_runner_run_log(rr, CHIME_LOG_INFO, CHIME_MESSAGE_RUN_STARTED,
		                     "run of %s started (attempt %d of %d)", when, rr->attempt,
		                     job->retry.attempts);
	else
		chime_runner_run_log(rr, CHIME_LOG_INFO, CHIME_MESSAGE_RUN_STARTED,
		                     "run of %s started", when);
	/* The run's own connection, taken here: waiting for one may block. */
	if (stages->acquire_conn != NULL)
		r = stages->acquire_conn(rr, &conn, err, sizeof(err), stages->userdata);
	params.conn = conn;
	params.fence = stages->fence != NULL ? worker_fence : NULL;
	params.record = stages->record_in_tx != NULL ? worker_record : NULL;
	params.host = rr;
	run = chime_run_new(&params);
	pthread_mutex_lock(&rr->lock);
	rr->run = run;
	if (rr->cancel_pending && run != NULL)
		chime_run_cancel_within(run, rr->cancel_grace_usec);
	pthread_mutex_unlock(&rr->lock);

	if (run == NULL) {
		rr->result = -ENOMEM;
	} else if (r < 0) {
		/* A run that waited in vain for the database is not a failure
		 * of its work: it says it never started. */
		chime_run_fail(run, "not started: %s", err);
		rr->not_started = true;
		rr->result = r;
	} else {
		rr->result = job->plugin->run(job->plugin_state, run);
		if (rr->result > 0)
			rr->result = 0;
		/* A plugin that went on after a failed fence did not succeed:
		 * its later units could not commit. */
		if (rr->result == 0 && chime_run_fenced(run))
			rr->result = -ESTALE;
	}
	rr->duration_usec = runner_mono_usec(runner) - start;
	if (conn != NULL && stages->release_conn != NULL)
		stages->release_conn(rr, conn, stages->userdata);

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

/* Still working a grace after its timeout: the cancel did not end it. */
static void
abort_cb(uv_timer_t *timer)
{
	struct chime_runner_run *rr = timer->data;
	const struct chime_runner_stages *stages = &rr->runner->options.stages;

	if (rr->state != RR_WORKING)
		return;
	rr->abandoned = true;
	if (stages->abort != NULL)
		stages->abort(rr, stages->userdata);
}

static void
timeout_cb(uv_timer_t *timer)
{
	struct chime_runner_run *rr = timer->data;
	char span[32];

	rr->timed_out = true;
	/* statement_timeout ends a statement on the server; the cancel stage
	 * also ends one the server no longer hears about. */
	rr_interrupt(rr);
	chime_timespan_format(rr->job->timeout_usec, span, sizeof(span));
	chime_runner_run_log(rr, CHIME_LOG_WARNING, NULL,
	                     "run exceeded its timeout of %s, cancelling", span);
	uv_timer_start(&rr->timer, abort_cb,
	               chime__usec_to_msec_ceil(CHIME_RUNNER_TIMEOUT_GRACE_USEC), 0);
}

/* A live run that ends before its worker (claim refused or failed). */
static void
rr_end_early(struct chime_runner_run *rr, enum chime_run_status status)
{
	rr_set_status(rr, status);
	rr_done(rr);
}

static void
rr_work(struct chime_runner_run *rr)
{
	struct chime_runner *runner = rr->runner;
	const struct chime_job_config *job = rr->job;
	char when[64];
	int r;

	if (job->plugin == NULL || job->plugin->run == NULL) {
		chime_runner_run_log(rr, CHIME_LOG_ERR, CHIME_MESSAGE_RUN_FAILED,
		                     "run of %s failed: the plugin was not resolved",
		                     chime_runner_run_when(rr, when, sizeof(when)));
		runner->stats.failed++;
		rr_end_early(rr, CHIME_RUN_FAILED);
		return;
	}
	rr->state = RR_WORKING;
	rr_set_status(rr, CHIME_RUN_RUNNING);
	rr->start_mono_usec = runner_mono_usec(runner);
	runner->stats.started++;
	if (job->timeout_usec > 0)
		uv_timer_start(&rr->timer, timeout_cb, chime__usec_to_msec_ceil(job->timeout_usec),
		               0);

	r = chime__pool_submit(runner, rr);
	if (r < 0) {
		uv_timer_stop(&rr->timer);
		chime_runner_run_log(rr, CHIME_LOG_ERR, NULL, "cannot start a worker thread: %s",
		                     strerror(-r));
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
		chime_runner_run_log(rr, CHIME_LOG_DEBUG, NULL, "slot %s is taken by another node",
		                     chime_runner_run_when(rr, when, sizeof(when)));
		rr_end_early(rr, CHIME_RUN_SKIPPED);
		return;
	}
	if (r == CHIME_RUNNER_CLAIM_SKIPPED) {
		rr->runner->stats.skipped++;
		rr_end_early(rr, CHIME_RUN_SKIPPED);
		return;
	}
	if (r == CHIME_RUNNER_CLAIM_MISSED) {
		rr->runner->stats.missed++;
		rr_end_early(rr, CHIME_RUN_FAILED);
		return;
	}
	if (r == -ECANCELED) {
		/* Cancelled while the stage waited: recorded, not run. */
		rr_set_status(rr, CHIME_RUN_CANCELLED);
		rr_record(rr);
		return;
	}
	if (r < 0) {
		rr_set_status(rr, CHIME_RUN_FAILED);
		chime_runner_run_log(rr, CHIME_LOG_ERR, CHIME_MESSAGE_RUN_FAILED,
		                     "slot %s: claim failed: %s",
		                     chime_runner_run_when(rr, when, sizeof(when)), strerror(-r));
		rr->runner->stats.failed++;
		rr_end_early(rr, CHIME_RUN_FAILED);
		return;
	}
	rr_work(rr);
}

static void
rr_start(struct chime_runner_run *rr)
{
	struct chime_runner *runner = rr->runner;
	const struct chime_runner_stages *stages = &runner->options.stages;
	int r;

	uv_timer_stop(&rr->timer);
	rr->state = RR_CLAIMING;
	runner->live++;
	runner_changed(runner);
	if (stages->claim != NULL) {
		r = stages->claim(rr, claim_done, stages->userdata);
		if (r < 0)
			claim_done(rr, r);
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
	runner->clock = options->clock != NULL ? *options->clock : chime_clock_system;
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
	r = chime__pool_init(runner, options->workers_cap > CHIME_RUNNER_WORKERS_CAP
	                                     ? options->workers_cap
	                                     : CHIME_RUNNER_WORKERS_CAP);
	if (r < 0) {
		chime_runner_close(runner);
		return r;
	}
	runner->open_handles++;
	*ret_runner = runner;
	return 0;
}

/* `catchup`: a missed slot from the ledger; it queues behind the job's
 * live run whatever the overlap policy, and abandons no retry. */
static int
runner_dispatch(struct chime_runner *runner, struct chime_config *config,
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
	chime_runner_run_when(rr, when, sizeof(when));

	for (q = runner->runs; q != NULL; q = next) {
		next = q->next;
		if (q == rr || !same_job(q, job))
			continue;
		if (q->state == RR_RETRY_WAIT && !catchup) {
			/* Retries never run past the job's next slot. */
			chime_runner_run_log(q, CHIME_LOG_NOTICE, NULL,
			                     "retry of slot %s abandoned: the next slot %s is due",
			                     chime_runner_run_when(q, old, sizeof(old)), when);
			rr_free(q);
		} else if (chime__runner_run_live(q)) {
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
		chime_runner_run_log(rr, CHIME_LOG_INFO, NULL,
		                     "missed slot %s queued behind the job's run", when);
		return 0;
	}
	/* A catch-up backlog is not an overlap: the live slot follows it. */
	if (behind_catchup) {
		rr->catchup = true;
		chime_runner_run_log(rr, CHIME_LOG_INFO, NULL,
		                     "slot %s queued behind the catch-up runs", when);
		return 0;
	}

	switch (job->overlap) {
	case CHIME_OVERLAP_QUEUE:
		if (queued < CHIME_RUNNER_QUEUE_MAX) {
			chime_runner_run_log(rr, CHIME_LOG_NOTICE, NULL,
			                     "slot %s queued behind the run still in progress",
			                     when);
			return 0;
		}
		rr_set_status(rr, CHIME_RUN_SKIPPED);
		chime_runner_run_log(rr, CHIME_LOG_WARNING, CHIME_MESSAGE_RUN_SKIPPED,
		                     "slot %s skipped: %d slots already queued", when,
		                     CHIME_RUNNER_QUEUE_MAX);
		break;
	case CHIME_OVERLAP_REPLACE:
		for (q = runner->runs; q != NULL; q = next) {
			next = q->next;
			if (q == rr || !same_job(q, job))
				continue;
			if (chime__runner_run_live(q)) {
				chime_runner_run_log(
				        q, CHIME_LOG_NOTICE, NULL,
				        "cancelling the run of %s: replaced by the slot %s",
				        chime_runner_run_when(q, old, sizeof(old)), when);
				chime_runner_run_cancel(q, "replaced by a newer slot");
			} else if (q->state == RR_QUEUED) {
				rr_set_status(q, CHIME_RUN_SKIPPED);
				chime_runner_run_log(q, CHIME_LOG_NOTICE, CHIME_MESSAGE_RUN_SKIPPED,
				                     "slot %s skipped: replaced by the slot %s",
				                     chime_runner_run_when(q, old, sizeof(old)),
				                     when);
				runner->stats.skipped++;
				rr_free(q);
			}
		}
		if (live == NULL)
			rr_start(rr);
		return 0;
	case CHIME_OVERLAP_SKIP:
	default:
		rr_set_status(rr, CHIME_RUN_SKIPPED);
		chime_runner_run_log(rr, CHIME_LOG_NOTICE, CHIME_MESSAGE_RUN_SKIPPED,
		                     "slot %s skipped: the run of %s is still in progress", when,
		                     live != NULL ? chime_runner_run_when(live, old, sizeof(old))
		                                  : "an earlier slot");
		if (runner->options.stages.skipped != NULL)
			runner->options.stages.skipped(job, slot, previous_usec,
			                               "overlap: the previous run is still running",
			                               runner->options.stages.userdata);
		break;
	}
	runner->stats.skipped++;
	if (runner->options.finished_cb != NULL)
		runner->options.finished_cb(rr, runner->options.userdata);
	rr_free(rr);
	return 0;
}

int
chime_runner_dispatch(struct chime_runner *runner, struct chime_config *config,
                      const struct chime_job_config *job, const struct chime_slot *slot,
                      int64_t previous_usec)
{
	return runner_dispatch(runner, config, job, slot, previous_usec, false);
}

int
chime_runner_dispatch_catchup(struct chime_runner *runner, struct chime_config *config,
                              const struct chime_job_config *job, const struct chime_slot *slot,
                              int64_t previous_usec)
{
	return runner_dispatch(runner, config, job, slot, previous_usec, true);
}

/* A run that skips the overlap policy and the schedule: one the caller
 * claimed already (id != 0), or a manual one (id == 0). */
static int
runner_start_direct(struct chime_runner *runner, struct chime_config *config,
                    const struct chime_job_config *job, const struct chime_slot *slot,
                    int64_t previous_usec, int attempt, int64_t id)
{
	struct chime_runner_run *rr;

	if (runner->draining)
		return -ESHUTDOWN;
	rr = rr_new(runner, config, job, slot, previous_usec, attempt);
	if (rr == NULL)
		return -ENOMEM;
	rr->id = id;
	rr->preclaimed = id != 0;
	rr->manual = id == 0;
	rr_start(rr);
	return 0;
}

int
chime_runner_dispatch_claimed(struct chime_runner *runner, struct chime_config *config,
                              const struct chime_job_config *job, const struct chime_slot *slot,
                              int64_t previous_usec, int attempt, int64_t id)
{
	return runner_start_direct(runner, config, job, slot, previous_usec, attempt, id);
}

int
chime_runner_trigger(struct chime_runner *runner, struct chime_config *config,
                     const struct chime_job_config *job)
{
	struct chime_runner_run *rr;
	struct chime_slot slot = {0};
	int64_t now;

	if (runner->draining)
		return -ESHUTDOWN;
	for (rr = runner->runs; rr != NULL; rr = rr->next)
		if (same_job(rr, job) && rr->state != RR_RETRY_WAIT)
			return -EBUSY;
	now = chime_clock_wall(&runner->clock);
	slot.instant_usec = now;
	slot.local_usec = job->tz != NULL ? chime_tz_to_local(job->tz, now / 1000000) * 1000000 +
	                                            now % 1000000
	                                  : now;
	return chime_runner_run_now(runner, config, job, &slot, INT64_MIN, 1);
}

int
chime_runner_run_now(struct chime_runner *runner, struct chime_config *config,
                     const struct chime_job_config *job, const struct chime_slot *slot,
                     int64_t previous_usec, int attempt)
{
	return runner_start_direct(runner, config, job, slot, previous_usec, attempt, 0);
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
		if (chime__runner_run_live(rr))
			chime_runner_run_cancel(rr, "shutting down");
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
		               chime__usec_to_msec_ceil(CHIME_RUNNER_CANCEL_GRACE_USEC), 0);
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
	runner->drained_cb = drained_cb;
	runner->drained_userdata = userdata;
	for (rr = runner->runs; rr != NULL; rr = next) {
		next = rr->next;
		if (chime__runner_run_live(rr))
			continue;
		chime_runner_run_log(rr, CHIME_LOG_NOTICE, NULL,
		                     "%s of slot %s dropped: shutting down",
		                     rr->state == RR_QUEUED ? "queued run" : "retry",
		                     chime_runner_run_when(rr, when, sizeof(when)));
		rr_free(rr);
	}
	/* Even with nothing live the callback comes from the loop. */
	uv_timer_start(&runner->drain_timer, drain_timer_cb,
	               runner->live == 0 ? 0 : chime__usec_to_msec_ceil(timeout_usec), 0);
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
		if (!chime__runner_run_live(rr))
			rr_free(rr);
	}
	chime__pool_stop(runner, runner_handle_closed);
	uv_close((uv_handle_t *)&runner->async, runner_handle_closed);
	uv_close((uv_handle_t *)&runner->drain_timer, runner_handle_closed);
}
