/* SPDX-License-Identifier: MIT */
/*
 * chimectl run JOB [--config FILE] [--dry-run] [--at TIME] [--json]
 *
 * Run one job once in this process, as the daemon would: load the config
 * (plugins configured through the plugin host), connect, migrate the
 * ledger, claim the slot, run the plugin, record the outcome, print the
 * report. The slot is --at (default now); when it is a slot of the job's
 * schedule its ledger key is the schedule's (so it collides with the
 * daemon's claim of the same slot), and the previous slot is the
 * schedule's one before it. A slot that already has a run is refused
 * (never twice), unless its latest attempt failed, timed out, was
 * cancelled or lost: then this is a new attempt. A dry run touches no
 * ledger row: the plugin runs in dry-run mode and its report says what
 * would change.
 *
 * The job's timeout applies (statement_timeout and a cancel from a
 * watchdog thread); SIGINT/SIGTERM cancel the run, which is recorded as
 * cancelled. Exit 0 when the run succeeded, 1 otherwise, 2 on usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "config.h"
#include "cron.h"
#include "db.h"
#include "diag.h"
#include "ledger.h"
#include "log.h"
#include "plugin_host.h"
#include "builtin.h"
#include "run.h"
#include "timespan.h"
#include "tz.h"

#include "chimectl.h"

struct watchdog {
	pthread_t thread;
	struct chime_run *run;
	PGcancel *cancel;
	int64_t deadline_usec; /* CLOCK_MONOTONIC; 0: none */
	atomic_bool done;
	atomic_bool timed_out;
	atomic_int signal;
};

static int64_t
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t
wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Cancels the run at its deadline or on SIGINT/SIGTERM (blocked in every
 * thread, taken here with sigtimedwait). */
static void *
watchdog_main(void *userdata)
{
	struct watchdog *w = userdata;
	const struct timespec step = {.tv_sec = 0, .tv_nsec = 100 * 1000 * 1000};
	sigset_t set;
	bool fired = false;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	while (!atomic_load(&w->done)) {
		int sig = sigtimedwait(&set, NULL, &step);

		if (fired)
			continue;
		if (sig > 0) {
			atomic_store(&w->signal, sig);
			fired = true;
		} else if (w->deadline_usec > 0 && mono_now() >= w->deadline_usec) {
			atomic_store(&w->timed_out, true);
			fired = true;
		}
		if (fired) {
			chime_run_cancel(w->run);
			if (w->cancel != NULL)
				(void)chime_db_cancel(w->cancel, NULL, 0);
		}
	}
	return NULL;
}

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

static enum chime_run_status
run_outcome(int r, const struct watchdog *w)
{
	if (r == 0)
		return CHIME_RUN_SUCCEEDED;
	if (atomic_load(&w->timed_out))
		return CHIME_RUN_TIMED_OUT;
	if (atomic_load(&w->signal) != 0)
		return CHIME_RUN_CANCELLED;
	/* Nothing else cancels a run here: statement_timeout beat the
	 * watchdog to it. */
	if (r == -ECANCELED)
		return CHIME_RUN_TIMED_OUT;
	return CHIME_RUN_FAILED;
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

/* Make sure the connection can record: out of any transaction, no
 * timeout, reconnected if the run broke it. */
static int
conn_for_ledger(const struct chime_config *cfg, PGconn **conn, char *err, size_t errsize)
{
	if (PQstatus(*conn) == CONNECTION_OK && PQtransactionStatus(*conn) != PQTRANS_IDLE)
		PQclear(PQexec(*conn, "ROLLBACK"));
	if (PQstatus(*conn) != CONNECTION_OK || PQtransactionStatus(*conn) != PQTRANS_IDLE) {
		PQfinish(*conn);
		*conn = NULL;
		if (chime_db_connect(&cfg->database, conn, err, errsize) < 0)
			return -ENOTCONN;
	}
	return chime_db_set_statement_timeout(*conn, 0, err, errsize);
}

int
chimectl_run_main(int argc, char **argv)
{
	const char *config_path = CHIME_DEFAULT_CONFIG, *job_name = NULL, *at_text = NULL;
	bool dry = false, json = false, watchdog_started = false;
	struct chime_plugin_host *host = NULL;
	struct chime_config_hooks hooks;
	struct chime_config *cfg = NULL;
	const struct chime_job_config *job;
	struct chime_diag_list diags;
	struct chime_ledger_slot slot;
	struct chime_ledger_row latest;
	struct watchdog w = {0};
	struct chime_run *run = NULL;
	enum chime_run_status status = CHIME_RUN_FAILED;
	const char *error = NULL;
	char err[512], when[64];
	PGconn *conn = NULL;
	int64_t id = 0, at_usec;
	sigset_t sigs;
	int attempt = 1, r, ret = CHIMECTL_EXIT_FAILURE;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dry-run") == 0)
			dry = true;
		else if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config_path = argv[++i];
		else if (strcmp(argv[i], "--at") == 0 && i + 1 < argc)
			at_text = argv[++i];
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return CHIMECTL_EXIT_OK;
		} else if (argv[i][0] != '-' && job_name == NULL)
			job_name = argv[i];
		else {
			fprintf(stderr, "chimectl run: unexpected argument '%s'\n", argv[i]);
			usage(stderr);
			return CHIMECTL_EXIT_USAGE;
		}
	}
	if (job_name == NULL) {
		usage(stderr);
		return CHIMECTL_EXIT_USAGE;
	}

	chime_log_open(CHIME_LOG_INFO);
	chime_diag_list_init(&diags);
	if (chime_plugin_host_new(chime_plugins_builtin, chime_plugins_builtin_count, &host) < 0) {
		fprintf(stderr, "chimectl run: out of memory\n");
		goto out;
	}
	chime_plugin_host_hooks(host, &hooks);
	r = chime_config_load(config_path, &hooks, &diags, &cfg);
	chime_diag_list_print(&diags, stderr);
	if (r < 0)
		goto out;
	job = chime_config_find_job(cfg, job_name);
	if (job == NULL) {
		fprintf(stderr, "chimectl run: no job '%s' in '%s'\n", job_name, config_path);
		goto out;
	}
	if (job->plugin == NULL) {
		fprintf(stderr, "chimectl run: job '%s': plugin '%s' is not available\n", job_name,
		        job->plugin_name);
		goto out;
	}
	if (at_text != NULL) {
		if (chime_time_parse(at_text, job->tz, &at_usec) < 0) {
			fprintf(stderr, "chimectl run: --at '%s': not an RFC 3339 time\n", at_text);
			ret = CHIMECTL_EXIT_USAGE;
			goto out;
		}
	} else {
		at_usec = wall_now();
	}
	run_slot(job, at_usec, &slot);
	if (chime_time_format(slot.instant_usec, job->tz, when, sizeof(when)) < 0)
		snprintf(when, sizeof(when), "?");

	r = chime_db_connect(&cfg->database, &conn, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "chimectl run: job '%s': cannot connect to the database: %s\n",
		        job_name, err);
		goto out;
	}
	if (!dry) {
		struct chime_ledger_claim claim = {
		        .slot = &slot,
		        .node = cfg->node,
		        .manual = true,
		        .lease_usec = job->lease_usec,
		        .start = true,
		};

		r = chime_ledger_migrate(conn, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "chimectl run: cannot prepare schema chime: %s\n", err);
			goto out;
		}
		r = chime_ledger_slot_latest(conn, job->name, slot.local_usec, slot.occurrence,
		                             &latest, err, sizeof(err));
		if (r == 0 && latest.status != CHIME_RUN_FAILED &&
		    latest.status != CHIME_RUN_TIMED_OUT && latest.status != CHIME_RUN_CANCELLED &&
		    latest.status != CHIME_RUN_LOST) {
			fprintf(stderr,
			        "chimectl run: job '%s': slot %s already has a run (id %" PRId64
			        ", attempt %d, %s on node '%s'); not running it twice\n",
			        job_name, when, latest.id, latest.attempt,
			        chime_run_status_name(latest.status), latest.node);
			goto out;
		}
		if (r < 0 && r != -ENOENT) {
			fprintf(stderr, "chimectl run: job '%s': ledger: %s\n", job_name, err);
			goto out;
		}
		attempt = r == 0 ? latest.attempt + 1 : 1;
		claim.attempt = attempt;
		r = chime_ledger_claim(conn, &claim, &id, NULL, err, sizeof(err));
		if (r == -EEXIST) {
			fprintf(stderr,
			        "chimectl run: job '%s': slot %s was just claimed by another run; "
			        "not running it twice\n",
			        job_name, when);
			goto out;
		}
		if (r < 0) {
			fprintf(stderr, "chimectl run: job '%s': cannot claim the slot: %s\n",
			        job_name, err);
			goto out;
		}
	}
	r = chime_db_set_statement_timeout(conn, job->timeout_usec, err, sizeof(err));
	if (r < 0) {
		error = err;
		goto record;
	}

	run = chime_run_new(&(struct chime_run_params){
	        .job = job->name,
	        .plugin = job->plugin_name,
	        .timezone = chime_tz_name(job->tz),
	        .node = cfg->node,
	        .nominal_usec = slot.instant_usec,
	        .previous_usec = slot.previous_usec,
	        .run_id = id,
	        .attempt = attempt,
	        .dry_run = dry,
	        .conn = conn,
	});
	if (run == NULL) {
		error = "out of memory";
		goto record;
	}
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	w.run = run;
	w.cancel = PQgetCancel(conn);
	w.deadline_usec = job->timeout_usec > 0 ? mono_now() + job->timeout_usec : 0;
	watchdog_started = pthread_create(&w.thread, NULL, watchdog_main, &w) == 0;

	r = job->plugin->run(job->plugin_state, run);
	status = run_outcome(r, &w);
	error = chime_run_error(run);
	if (r < 0 && error == NULL)
		error = strerror(-r);
	if (status == CHIME_RUN_TIMED_OUT) {
		snprintf(err, sizeof(err), "timed out after %" PRId64 " ms%s%s",
		         job->timeout_usec / 1000, error != NULL ? ": " : "",
		         error != NULL ? error : "");
		error = err;
	}

record:
	if (watchdog_started) {
		atomic_store(&w.done, true);
		pthread_join(w.thread, NULL);
	}
	if (!dry && id > 0) {
		char *summary = run != NULL ? chime_run_report_json(run) : NULL;
		char *error_copy = error != NULL ? strdup(error) : NULL;
		char lerr[512];

		r = conn_for_ledger(cfg, &conn, lerr, sizeof(lerr));
		if (r == 0)
			r = chime_ledger_finish(conn, id, status, summary, error_copy, lerr,
			                        sizeof(lerr));
		if (r < 0)
			fprintf(stderr, "chimectl run: job '%s': cannot record the outcome: %s\n",
			        job_name, lerr);
		free(summary);
		free(error_copy);
		if (r < 0)
			goto out;
	}
	if (run != NULL)
		print_report(job, &slot, id, attempt, dry, status, error, run, json);
	else if (error != NULL)
		fprintf(stderr, "chimectl run: job '%s': %s\n", job_name, error);
	ret = status == CHIME_RUN_SUCCEEDED ? CHIMECTL_EXIT_OK : CHIMECTL_EXIT_FAILURE;
out:
	if (w.cancel != NULL)
		PQfreeCancel(w.cancel);
	chime_run_free(run);
	if (conn != NULL)
		PQfinish(conn);
	chime_config_unref(cfg);
	chime_plugin_host_free(host);
	chime_diag_list_done(&diags);
	return ret;
}
