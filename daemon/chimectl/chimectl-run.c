/* SPDX-License-Identifier: MIT */
/*
 * chimectl run JOB [--config FILE] [--dry-run] [--at TIME] [--json]
 *
 * Run one slot of a job in this process through the same runner and
 * ledger stages as chimed (runner.h, ledger-service.h), on a small libuv
 * loop: the claim in chime.runs, heartbeats while it runs (so a run that
 * outlives its lease is not taken for lost), the job's timeout and
 * retries, the record of the outcome, then the report. The slot is --at
 * (default now); when it is a slot of the job's schedule its ledger key
 * is the schedule's (so it collides with the daemon's claim of the same
 * slot: whoever claims first runs it, once), and the previous slot is the
 * schedule's one before it.
 *
 * A slot that already has a run is refused (never twice), unless its
 * latest attempt failed, timed out, was cancelled or lost, or is a claim
 * whose holder stopped heartbeating past its lease (a killed chimectl or
 * node): that claim is recovered as failed, and this is a new attempt. A
 * dry run touches no ledger row: the plugin runs in dry-run mode with a
 * connection of its own and its report says what would change.
 *
 * SIGINT, SIGTERM and SIGHUP (an ssh session dropped) cancel the run,
 * which is recorded as cancelled and reported. Exit 0 when the run
 * succeeded, 1 otherwise, 2 on usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <uv.h>

#include "builtin.h"
#include "chimectl.h"
#include "clock.h"
#include "config.h"
#include "cron.h"
#include "db.h"
#include "diag.h"
#include "ledger-service.h"
#include "ledger.h"
#include "log.h"
#include "plugin_host.h"
#include "run.h"
#include "runner.h"
#include "timespan.h"
#include "tz.h"

#define CTL_LOST_BATCH 1000

struct ctl_run {
	uv_loop_t loop;
	struct chime_config *cfg;
	const struct chime_job_config *job;
	const char *job_name;
	struct chime_ledger_slot lslot; /* the ledger key and the report's slot */
	struct chime_slot slot;
	char when[64];
	bool dry, json;
	int attempt;
	struct chime_ledger_service *ledger; /* NULL for a dry run */
	struct chime_runner *runner;
	PGconn *conn;     /* a dry run's connection */
	PGcancel *cancel; /* of `conn` */
	uv_signal_t sigint, sigterm, sighup;
	uv_timer_t finish;
	bool handles_open, reported, closing;
	const char *signal_reason; /* the signal that cancelled the run, or NULL */
	int ret;
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: chimectl run JOB [--config FILE] [--dry-run] [--at TIME] [--json]\n");
}

/* The ledger key of the run: the schedule's slot when `at` is one, else
 * the wall time of `at` in the job's zone. */
static void
run_slot(const struct chime_job_config *job, int64_t at_usec, struct chime_ledger_slot *slot)
{
	struct chime_slot s;
	int64_t sec = at_usec / 1000000, frac = at_usec % 1000000, utc[2];

	if (frac < 0) {
		frac += 1000000;
		sec--;
	}
	slot->job = job->name;
	slot->instant_usec = at_usec;
	slot->previous_usec = INT64_MIN;
	if (job->expr != NULL && chime_expr_prev(job->expr, job->tz, at_usec, &s) == 0 &&
	    s.instant_usec == at_usec) {
		slot->local_usec = s.local_usec;
		slot->occurrence = s.occurrence;
	} else {
		slot->local_usec = chime_tz_to_local(job->tz, sec) * 1000000 + frac;
		slot->occurrence = 0;
		if (chime_tz_resolve(job->tz, chime_tz_to_local(job->tz, sec), utc, NULL, NULL) ==
		            2 &&
		    utc[1] == sec)
			slot->occurrence = 1;
	}
	if (job->expr != NULL && chime_expr_prev(job->expr, job->tz, at_usec - 1, &s) == 0)
		slot->previous_usec = s.instant_usec;
}

static void
print_report(const struct chime_job_config *job, const struct chime_ledger_slot *slot, int64_t id,
             int attempt, bool dry, enum chime_run_status status, const char *error,
             struct chime_run *run, bool json)
{
	char when[64], prev[64];

	if (chime_time_format(slot->instant_usec, job->tz, when, sizeof(when)) < 0)
		snprintf(when, sizeof(when), "?");
	prev[0] = '\0';
	if (slot->previous_usec != INT64_MIN &&
	    chime_time_format(slot->previous_usec, job->tz, prev, sizeof(prev)) < 0)
		snprintf(prev, sizeof(prev), "?");
	if (json) {
		char *report = chime_run_report_json(run);
		json_t *o = json_object(), *rep = NULL;
		char *text;

		if (report != NULL)
			rep = json_loads(report, 0, NULL);
		json_object_set_new(o, "job", json_string(job->name));
		json_object_set_new(o, "plugin", json_string(job->plugin_name));
		json_object_set_new(o, "scheduled_for", json_string(when));
		json_object_set_new(o, "previous_for", prev[0] ? json_string(prev) : json_null());
		json_object_set_new(o, "run_id", id > 0 ? json_integer(id) : json_null());
		json_object_set_new(o, "attempt", json_integer(attempt));
		json_object_set_new(o, "dry_run", json_boolean(dry));
		json_object_set_new(o, "status", json_string(chime_run_status_name(status)));
		json_object_set_new(o, "error", error != NULL ? json_string(error) : json_null());
		json_object_set_new(o, "report", rep != NULL ? rep : json_object());
		text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (text != NULL)
			printf("%s\n", text);
		free(text);
		free(report);
		json_decref(o);
		return;
	}
	printf("job '%s' (%s): %s%s\n", job->name, job->plugin_name, chime_run_status_name(status),
	       dry ? " (dry run, nothing recorded)" : "");
	printf("slot: %s%s%s\n", when, prev[0] ? ", previous " : "", prev);
	if (!dry)
		printf("run: id %" PRId64 ", attempt %d\n", id, attempt);
	if (error != NULL)
		printf("error: %s\n", error);
	chime_run_report_print(run, stdout);
}

/* The error line of the report: what failed, why the run stopped. */
static const char *
ctl_error(const struct chime_runner_run *rr, enum chime_run_status status, char *buf, size_t size)
{
	struct chime_run *run = chime_runner_run_context(rr);
	const char *error = run != NULL ? chime_run_error(run) : NULL;
	const char *reason = chime_runner_run_cancel_reason(rr);

	if (status == CHIME_RUN_TIMED_OUT) {
		snprintf(buf, size, "timed out after %" PRId64 " ms%s%s",
		         chime_runner_run_job(rr)->timeout_usec / 1000, error != NULL ? ": " : "",
		         error != NULL ? error : "");
		return buf;
	}
	if (status == CHIME_RUN_CANCELLED && reason != NULL) {
		snprintf(buf, size, "cancelled: %s", reason);
		return buf;
	}
	if (status != CHIME_RUN_SUCCEEDED && error == NULL)
		return "failed";
	return error;
}

static void
ctl_close_cb(uv_handle_t *handle)
{
	(void)handle;
}

/* Everything is over: close the handles; uv_run() then returns. */
static void
ctl_close(struct ctl_run *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->sigint, ctl_close_cb);
	uv_close((uv_handle_t *)&c->sigterm, ctl_close_cb);
	uv_close((uv_handle_t *)&c->sighup, ctl_close_cb);
	uv_close((uv_handle_t *)&c->finish, ctl_close_cb);
	/* The service first: it heartbeats through the runner. */
	chime_ledger_service_close(c->ledger);
	c->ledger = NULL;
	chime_runner_close(c->runner);
	c->runner = NULL;
}

static void
count_run(struct chime_runner_run *rr, void *userdata)
{
	size_t *n = userdata;

	(*n)++;
}

/* Close once the runner holds no run (a retry waiting is one). */
static void
ctl_finish_cb(uv_timer_t *timer)
{
	struct ctl_run *c = timer->data;
	size_t n = 0;

	chime_runner_foreach(c->runner, count_run, &n);
	if (n > 0 || chime_runner_running(c->runner) > 0)
		return;
	if (!c->reported)
		fprintf(stderr, "chimectl run: job '%s': %s before the run ended\n", c->job_name,
		        c->signal_reason != NULL ? c->signal_reason : "stopped");
	ctl_close(c);
}

static void
ctl_finished_cb(const struct chime_runner_run *rr, void *userdata)
{
	struct ctl_run *c = userdata;
	struct chime_run *run = chime_runner_run_context(rr);
	enum chime_run_status status = CHIME_RUN_FAILED;
	char buf[600];

	(void)chime_runner_run_status(rr, &status);
	if (chime_runner_run_will_retry(rr))
		return; /* the next attempt reports */
	c->reported = true;
	c->ret = status == CHIME_RUN_SUCCEEDED ? CHIMECTL_EXIT_OK : CHIMECTL_EXIT_FAILURE;
	if (run != NULL) {
		c->lslot.previous_usec = chime_runner_run_previous_usec(rr);
		print_report(c->job, &c->lslot, chime_runner_run_id(rr),
		             chime_runner_run_attempt(rr), c->dry, status,
		             ctl_error(rr, status, buf, sizeof(buf)), run, c->json);
	} else if (status == CHIME_RUN_SKIPPED) {
		fprintf(stderr,
		        "chimectl run: job '%s': slot %s was just claimed by another run; "
		        "not running it twice\n",
		        c->job_name, c->when);
	} else {
		fprintf(stderr, "chimectl run: job '%s': cannot claim the slot (see above)\n",
		        c->job_name);
	}
	uv_timer_start(&c->finish, ctl_finish_cb, 0, 100);
}

static void
cancel_live(struct chime_runner_run *rr, void *userdata)
{
	struct ctl_run *c = userdata;

	if (chime_runner_run_live(rr))
		chime_runner_run_cancel(rr, c->signal_reason);
}

/* SIGINT, SIGTERM, SIGHUP: cancel the run (recorded, reported); a second
 * signal exits at once. */
static void
ctl_signal_cb(uv_signal_t *handle, int signum)
{
	struct ctl_run *c = handle->data;

	if (c->signal_reason != NULL)
		_exit(CHIMECTL_EXIT_FAILURE);
	c->signal_reason = signum == SIGHUP    ? "hangup (SIGHUP)"
	                   : signum == SIGTERM ? "terminated (SIGTERM)"
	                                       : "interrupted (SIGINT)";
	chime_runner_foreach(c->runner, cancel_live, c);
	/* A retry waiting for its backoff is dropped. */
	(void)chime_runner_drain(c->runner, CHIME_RUNNER_CANCEL_GRACE_USEC, NULL, NULL);
	uv_timer_start(&c->finish, ctl_finish_cb, 0, 100);
}

/* ---- A dry run's connection (no ledger) -------------------------------- */

static int
dry_acquire_conn(struct chime_runner_run *rr, PGconn **ret_conn, char *errbuf, size_t errsize,
                 void *userdata)
{
	struct ctl_run *c = userdata;

	*ret_conn = c->conn;
	return 0;
}

static void
dry_cancel(struct chime_runner_run *rr, void *userdata)
{
	struct ctl_run *c = userdata;

	if (c->cancel != NULL)
		(void)chime_db_cancel(c->cancel, NULL, 0);
}

/* ---- The slot's ledger history -------------------------------------------- */

/* The slot's latest attempt is a claim whose holder stopped heartbeating
 * past its lease: recover it as failed so a new attempt may run. 0 when
 * recovered (or gone meanwhile), -ENOENT when it is not lost. */
static int
recover_lost(struct ctl_run *c, PGconn *conn, const struct chime_ledger_row *latest)
{
	struct chime_ledger_lost *lost = NULL;
	size_t n = 0;
	int64_t new_id = 0;
	char err[512];
	int r = -ENOENT;

	if (chime_ledger_find_lost(conn, CTL_LOST_BATCH, &lost, &n, err, sizeof(err)) < 0)
		return -ENOENT;
	for (size_t i = 0; i < n; i++) {
		if (lost[i].id != latest->id)
			continue;
		r = chime_ledger_recover(conn, &lost[i], false, c->cfg->node, c->job->lease_usec,
		                         &new_id, err, sizeof(err));
		if (r == 0)
			fprintf(stderr,
			        "chimectl run: job '%s': slot %s: attempt %d on node '%s' stopped "
			        "heartbeating past its lease; marked failed, running attempt %d\n",
			        c->job_name, c->when, latest->attempt, latest->node,
			        latest->attempt + 1);
		else if (r == -ESTALE)
			r = -ENOENT; /* recovered by a node first, or alive again */
		break;
	}
	free(lost);
	return r;
}

static bool
status_retryable(enum chime_run_status s)
{
	return s == CHIME_RUN_FAILED || s == CHIME_RUN_TIMED_OUT || s == CHIME_RUN_CANCELLED ||
	       s == CHIME_RUN_LOST;
}

/* Prepare the schema and pick the attempt: 0, or 1 after a message. */
static int
ctl_check_slot(struct ctl_run *c, PGconn *conn)
{
	struct chime_ledger_row latest;
	char err[512];
	int r;

	r = chime_ledger_migrate(conn, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "chimectl run: cannot prepare schema chime: %s\n", err);
		return 1;
	}
	r = chime_ledger_slot_latest(conn, c->job->name, c->lslot.local_usec, c->lslot.occurrence,
	                             &latest, err, sizeof(err));
	if (r < 0 && r != -ENOENT) {
		fprintf(stderr, "chimectl run: job '%s': ledger: %s\n", c->job_name, err);
		return 1;
	}
	c->attempt = r == 0 ? latest.attempt + 1 : 1;
	if (r < 0 || status_retryable(latest.status))
		return 0;
	if ((latest.status == CHIME_RUN_CLAIMED || latest.status == CHIME_RUN_RUNNING) &&
	    recover_lost(c, conn, &latest) == 0)
		return 0;
	fprintf(stderr,
	        "chimectl run: job '%s': slot %s already has a run (id %" PRId64
	        ", attempt %d, %s on node '%s'); not running it twice\n",
	        c->job_name, c->when, latest.id, latest.attempt,
	        chime_run_status_name(latest.status), latest.node);
	return 1;
}

/* ---- The loop ------------------------------------------------------------- */

/* The handles ctl_close() closes, all initialised first so that any
 * failure after this point can close them. */
static void
ctl_init_handles(struct ctl_run *c)
{
	uv_timer_init(&c->loop, &c->finish);
	uv_signal_init(&c->loop, &c->sigint);
	uv_signal_init(&c->loop, &c->sigterm);
	uv_signal_init(&c->loop, &c->sighup);
	c->finish.data = c->sigint.data = c->sigterm.data = c->sighup.data = c;
	c->handles_open = true;
}

/* Set up the service (or the dry run's connection), the runner and the
 * signals, and start the run. 0, or a negative errno (logged). */
static int
ctl_start(struct ctl_run *c)
{
	struct chime_runner_options ropts = {
	        .loop = &c->loop,
	        .node = c->cfg->node,
	        .dry_run = c->dry,
	        .finished_cb = ctl_finished_cb,
	        .userdata = c,
	};
	int r;

	ctl_init_handles(c);
	if (c->dry) {
		c->cancel = PQgetCancel(c->conn);
		ropts.stages = (struct chime_runner_stages){
		        .acquire_conn = dry_acquire_conn,
		        .cancel = dry_cancel,
		        .userdata = c,
		};
	} else {
		struct chime_ledger_service_options lopts = {
		        .loop = &c->loop,
		        .database = &c->cfg->database,
		        .node = c->cfg->node,
		        .stages_only = true,
		};

		r = chime_ledger_service_new(&lopts, &c->ledger);
		if (r < 0)
			return r;
		chime_ledger_service_set_config(c->ledger, c->cfg);
		chime_ledger_service_stages(c->ledger, &ropts.stages);
	}
	r = chime_runner_new(&ropts, &c->runner);
	if (r < 0)
		return r;
	if (c->ledger != NULL)
		chime_ledger_service_attach(c->ledger, c->runner);
	if ((r = uv_signal_start(&c->sigint, ctl_signal_cb, SIGINT)) < 0 ||
	    (r = uv_signal_start(&c->sigterm, ctl_signal_cb, SIGTERM)) < 0 ||
	    (r = uv_signal_start(&c->sighup, ctl_signal_cb, SIGHUP)) < 0)
		return r;
	return chime_runner_run_now(c->runner, c->cfg, c->job, &c->slot, c->lslot.previous_usec,
	                            c->attempt);
}

/* Run the slot on a loop of its own; the exit code. */
static int
ctl_run_slot(struct ctl_run *c)
{
	int r;

	r = uv_loop_init(&c->loop);
	if (r < 0) {
		fprintf(stderr, "chimectl run: cannot create the event loop: %s\n", uv_strerror(r));
		return CHIMECTL_EXIT_FAILURE;
	}
	c->ret = CHIMECTL_EXIT_FAILURE;
	r = ctl_start(c);
	if (r < 0) {
		fprintf(stderr, "chimectl run: job '%s': cannot start the run: %s\n", c->job_name,
		        strerror(-r));
		if (c->handles_open)
			ctl_close(c); /* nothing was started */
	}
	if (c->closing || r == 0)
		uv_run(&c->loop, UV_RUN_DEFAULT);
	if (c->closing && uv_loop_close(&c->loop) < 0)
		fprintf(stderr, "chimectl run: event loop closed with handles left\n");
	return c->ret;
}

int
chimectl_run_main(int argc, char **argv)
{
	const char *config_path = CHIME_DEFAULT_CONFIG, *at_text = NULL;
	struct chime_plugin_host *host = NULL;
	struct chime_config_hooks hooks;
	struct chime_diag_list diags;
	struct ctl_run c = {0};
	char err[512];
	PGconn *conn = NULL;
	int64_t at_usec;
	int r, ret = CHIMECTL_EXIT_FAILURE;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dry-run") == 0)
			c.dry = true;
		else if (strcmp(argv[i], "--json") == 0)
			c.json = true;
		else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config_path = argv[++i];
		else if (strcmp(argv[i], "--at") == 0 && i + 1 < argc)
			at_text = argv[++i];
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return CHIMECTL_EXIT_OK;
		} else if (argv[i][0] != '-' && c.job_name == NULL)
			c.job_name = argv[i];
		else {
			fprintf(stderr, "chimectl run: unexpected argument '%s'\n", argv[i]);
			usage(stderr);
			return CHIMECTL_EXIT_USAGE;
		}
	}
	if (c.job_name == NULL) {
		usage(stderr);
		return CHIMECTL_EXIT_USAGE;
	}

	/* The plugin's lines (an exec job's output) are info. */
	chime_log_open(CHIME_LOG_INFO);
	chime_diag_list_init(&diags);
	if (chime_plugin_host_new(chime_plugins_builtin, chime_plugins_builtin_count, &host) < 0) {
		fprintf(stderr, "chimectl run: out of memory\n");
		goto out;
	}
	chime_plugin_host_hooks(host, &hooks);
	r = chime_config_load(config_path, &hooks, &diags, &c.cfg);
	chime_diag_list_print(&diags, stderr);
	if (r < 0)
		goto out;
	c.job = chime_config_find_job(c.cfg, c.job_name);
	if (c.job == NULL) {
		fprintf(stderr, "chimectl run: no job '%s' in '%s'\n", c.job_name, config_path);
		goto out;
	}
	if (c.job->plugin == NULL) {
		fprintf(stderr, "chimectl run: job '%s': plugin '%s' is not available\n",
		        c.job_name, c.job->plugin_name);
		goto out;
	}
	if (at_text != NULL) {
		if (chime_time_parse(at_text, c.job->tz, &at_usec) < 0) {
			fprintf(stderr, "chimectl run: --at '%s': not an RFC 3339 time\n", at_text);
			ret = CHIMECTL_EXIT_USAGE;
			goto out;
		}
	} else {
		at_usec = chime_clock_wall_usec();
	}
	run_slot(c.job, at_usec, &c.lslot);
	c.slot = (struct chime_slot){
	        .instant_usec = c.lslot.instant_usec,
	        .local_usec = c.lslot.local_usec,
	        .occurrence = c.lslot.occurrence,
	};
	if (chime_time_format(c.lslot.instant_usec, c.job->tz, c.when, sizeof(c.when)) < 0)
		snprintf(c.when, sizeof(c.when), "?");

	r = chime_db_connect(&c.cfg->database, &conn, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "chimectl run: job '%s': cannot connect to the database: %s\n",
		        c.job_name, err);
		goto out;
	}
	if (c.dry) {
		c.attempt = 1;
		c.conn = conn; /* the dry run's own */
		conn = NULL;
		r = chime_db_set_statement_timeout(c.conn, c.job->timeout_usec, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "chimectl run: job '%s': %s\n", c.job_name, err);
			goto out;
		}
	} else if (ctl_check_slot(&c, conn) != 0) {
		goto out;
	}
	if (conn != NULL)
		PQfinish(conn); /* the run uses the service's pools */
	conn = NULL;
	ret = ctl_run_slot(&c);
out:
	if (c.cancel != NULL)
		PQfreeCancel(c.cancel);
	if (c.conn != NULL)
		PQfinish(c.conn);
	if (conn != NULL)
		PQfinish(conn);
	chime_config_unref(c.cfg);
	chime_plugin_host_free(host);
	chime_diag_list_done(&diags);
	return ret;
}
