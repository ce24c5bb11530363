/* SPDX-License-Identifier: MIT */
/*
 * chimectl check, the database part. It connects as chimed would (the
 * configured conninfo, password_file and connect options), then tries what
 * chimed needs of the database inside transactions it rolls back: the
 * ledger's schema migration when one is due, then a run's life in the
 * ledger (claim, start, heartbeat, outcome, pruning, pause and resume), then
 * each job's plugin check() (tables, columns, triggers). Every failure is an
 * error with PostgreSQL's reason: a wrong password, an unreadable
 * password_file and a role without the privileges all make chimed flap or
 * run nothing. Only a server that cannot be reached at all is a note, and
 * the database checks are then skipped: chimed waits for a server that is
 * down. Jobs whose plugin needs a database in a configuration without a
 * `database:` section are errors too (every run would fail).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "chimectl.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "diag.h"
#include "ledger.h"
#include "node.h"
#include "pgutil.h"
#include "tz.h"

#define CHECK_CONNECT_USEC   (INT64_C(3) * 1000000)
#define CHECK_STATEMENT_USEC (INT64_C(5) * 1000000)
#define CHECK_PROBE_JOB      "chimectl check" /* the ledger rows it writes, rolled back */
#define CHECK_PROBE_NODE     "chimectl-check"

/* An error placed at database.KEY (or at `database:` without that key). */
static void CHIME_PRINTF(4, 5) check_db_error(const struct chime_config *config, const char *key,
                                              struct chime_diag_list *diags, const char *fmt, ...)
{
	const struct chime_node *db = chime_node_get(config->trees[0], "database");
	const struct chime_node *n = key != NULL ? chime_node_get(db, key) : NULL;
	va_list ap;

	if (n == NULL)
		n = db;
	va_start(ap, fmt);
	(void)chime_diag_addv(diags, CHIME_DIAG_ERROR, n->file, n->line, n->column, n->path, fmt,
	                      ap);
	va_end(ap);
}

/*
 * Connect as chimed would. Returns 0 and the connection, 1 when the server
 * cannot be reached at all (note printed to `err`), or -1 after an error
 * in `diags`: the password file cannot be read, or the server answered
 * and refused (authentication, no such role or database, a bad conninfo).
 */
static int
check_connect(const struct chime_config *config, PGconn **ret_conn, struct chime_diag_list *diags,
              FILE *err)
{
	const char *keys[] = {"connect_timeout", "dbname", NULL};
	struct chime_database_config db = config->database;
	const char *vals[3] = {"3", db.conninfo != NULL ? db.conninfo : "", NULL};
	char reason[512];
	int r;

	db.connect_timeout_usec = CHECK_CONNECT_USEC;
	r = chime_db_connect(&db, ret_conn, reason, sizeof(reason));
	if (r == 0)
		return 0;
	reason[strcspn(reason, "\n")] = '\0';
	if (r == -ENOMEM) {
		check_db_error(config, NULL, diags, "out of memory");
		return -1;
	}
	if (r != -ECONNREFUSED) { /* the password file, before any connection */
		check_db_error(config, "password_file", diags,
		               "%s: chimed could not connect either", reason);
		return -1;
	}
	/* libpq failed: was the server there at all? A ping needs no password. */
	if (PQpingParams(keys, vals, 1) == PQPING_NO_RESPONSE) {
		fprintf(err, "%s: note: database not reachable (%s): skipped the database checks\n",
		        config->path, reason);
		return 1;
	}
	check_db_error(config, "conninfo", diags, "cannot connect as chimed would: %s", reason);
	return -1;
}

/* PostgreSQL's message without libpq's "ERROR:  " prefix. */
static const char *
check_pg_message(const char *msg)
{
	static const char prefix[] = "ERROR:  ";

	return strncmp(msg, prefix, sizeof(prefix) - 1) == 0 ? msg + sizeof(prefix) - 1 : msg;
}

/* One step of a run's life in the ledger, as chimed does it. */
static int
check_ledger_step(PGconn *conn, int step, int64_t *id, char *err, size_t errsize)
{
	int64_t now = chime_clock_wall_usec(), cancel[1];
	struct chime_ledger_slot slot = {
	        .job = CHECK_PROBE_JOB,
	        .local_usec = now,
	        .instant_usec = now,
	        .previous_usec = INT64_MIN,
	};
	struct chime_ledger_claim claim = {
	        .slot = &slot,
	        .attempt = 1,
	        .node = CHECK_PROBE_NODE,
	        .manual = true,
	        .lease_usec = INT64_C(60) * 1000000,
	        .skip_if_busy = true,
	        .honor_pause = true,
	};
	size_t n;

	switch (step) {
	case 0:
		return chime_ledger_claim(conn, &claim, id, NULL, err, errsize);
	case 1:
		return chime_ledger_start(conn, *id, err, errsize);
	case 2:
		return chime_ledger_heartbeat(conn, id, 1, cancel, &n, err, errsize);
	case 3:
		return chime_ledger_finish(conn, *id, CHIME_RUN_SUCCEEDED, NULL, NULL, err,
		                           errsize);
	case 4: /* the row just finished is older than an hour from now */
		return chime_ledger_prune(conn, CHECK_PROBE_JOB, now + INT64_C(3600) * 1000000,
		                          NULL, err, errsize);
	case 5:
		return chime_ledger_pause(conn, CHECK_PROBE_JOB, CHECK_PROBE_NODE, NULL, NULL, NULL,
		                          err, errsize);
	default:
		return chime_ledger_resume(conn, CHECK_PROBE_JOB, err, errsize);
	}
}

/*
 * What the ledger needs, in one transaction rolled back at the end: the
 * migration when one is due (CREATE on the database, CREATE in schema
 * chime), then each statement of a run's life. Stops at the first failure
 * (the transaction is aborted then). Returns the errors added.
 */
static size_t
check_ledger(PGconn *conn, const struct chime_config *config, struct chime_diag_list *diags)
{
	static const char *const steps[] = {
	        "claim a run (INSERT INTO chime.runs)",
	        "start it (UPDATE chime.runs)",
	        "heartbeat it (UPDATE chime.runs)",
	        "record its outcome (UPDATE chime.runs)",
	        "prune history (DELETE FROM chime.runs)",
	        "pause a job (INSERT INTO chime.paused, chime.pause_log)",
	        "resume it (DELETE FROM chime.paused, UPDATE chime.pause_log)",
	};
	size_t before = diags->errors;
	int64_t id = 0;
	char err[512];
	PGresult *res;
	int r;

	err[0] = '\0';
	res = PQexec(conn, "BEGIN");
	r = chime__sql_result_errno(conn, res, err, sizeof(err));
	PQclear(res);
	if (r >= 0 && (r = chime_ledger_migrate_try(conn, err, sizeof(err))) < 0)
		check_db_error(config, NULL, diags,
		               "ledger: role '%s' cannot set up schema chime (read its version, "
		               "create or upgrade it): %s (grants: see docs/operations.md)",
		               PQuser(conn), check_pg_message(err));
	for (int i = 0; r >= 0 && i < (int)(sizeof(steps) / sizeof(steps[0])); i++) {
		r = check_ledger_step(conn, i, &id, err, sizeof(err));
		if (r < 0)
			check_db_error(
			        config, NULL, diags,
			        "ledger: role '%s' cannot %s: %s (grants: see docs/operations.md)",
			        PQuser(conn), steps[i],
			        err[0] != '\0' ? check_pg_message(err) : strerror(-r));
	}
	PQclear(PQexec(conn, "ROLLBACK"));
	return diags->errors - before;
}

/* Copy one job's diagnostics to `out`; one without a place (a job with no
 * `options:`) is placed at the job itself. */
static void
check_copy_diags(const struct chime_job_config *job, const struct chime_diag_list *in,
                 struct chime_diag_list *out)
{
	char path[320];

	(void)snprintf(path, sizeof(path), "jobs.%s", job->name);
	for (size_t i = 0; i < in->count; i++) {
		const struct chime_diag *d = &in->items[i];

		if (d->file != NULL)
			(void)chime_diag_add(out, d->severity, d->file, d->line, d->column, d->path,
			                     "%s", d->message);
		else
			(void)chime_diag_add(out, d->severity, job->file, job->line, job->column,
			                     path, "%s", d->message);
	}
}

/* Run one job's check() in a transaction that is rolled back. */
static void
check_job_db(PGconn *conn, const struct chime_job_config *job, struct chime_diag_list *diags)
{
	struct chime_diag_list jd;
	char err[512];
	PGresult *res;
	int r;

	chime_diag_list_init(&jd);
	err[0] = '\0';
	res = PQexec(conn, "BEGIN");
	r = chime__sql_result_errno(conn, res, err, sizeof(err));
	PQclear(res);
	if (r >= 0)
		r = job->plugin->check(job->plugin_state, conn, job->name, chime_tz_name(job->tz),
		                       job->options, &jd);
	if (r < 0 && jd.errors == 0)
		(void)chime_diag_add(&jd, CHIME_DIAG_ERROR, NULL, 0, 0, NULL,
		                     "plugin '%s': database check failed: %s", job->plugin->name,
		                     r == -ENOMEM ? "out of memory"
		                     : err[0]     ? err
		                                  : strerror(-r));
	PQclear(PQexec(conn, "ROLLBACK"));
	check_copy_diags(job, &jd, diags);
	chime_diag_list_done(&jd);
}

/* `--apply`: install what one job's check would warn is missing
 * (committed), printing what was done to `out`. */
static void
apply_job_db(PGconn *conn, const struct chime_job_config *job, struct chime_diag_list *diags,
             FILE *out)
{
	struct chime_diag_list jd;
	char done[512] = "";
	int r;

	chime_diag_list_init(&jd);
	r = job->plugin->apply(job->plugin_state, conn, job->name, chime_tz_name(job->tz),
	                       job->options, &jd, done, sizeof(done));
	if (r < 0 && jd.errors == 0)
		(void)chime_diag_add(&jd, CHIME_DIAG_ERROR, NULL, 0, 0, NULL,
		                     "plugin '%s': cannot apply: %s", job->plugin->name,
		                     strerror(-r));
	/* A failed statement may leave a transaction open. */
	if (PQtransactionStatus(conn) != PQTRANS_IDLE)
		PQclear(PQexec(conn, "ROLLBACK"));
	if (done[0] != '\0')
		fprintf(out, "job '%s': %s\n", job->name, done);
	/* Diagnostics only for errors: the check that follows warns anew. */
	if (jd.errors > 0)
		check_copy_diags(job, &jd, diags);
	chime_diag_list_done(&jd);
}

/* Without a `database:` section: each job whose plugin needs one. */
static void
check_no_database(const struct chime_config *config, struct chime_diag_list *diags)
{
	char path[320];

	for (size_t i = 0; i < config->n_jobs; i++) {
		const struct chime_job_config *job = config->jobs[i];

		if (job->plugin == NULL || !job->plugin->needs_database)
			continue;
		(void)snprintf(path, sizeof(path), "jobs.%s.plugin", job->name);
		(void)chime_diag_add(diags, CHIME_DIAG_ERROR, job->file, job->line, job->column,
		                     path,
		                     "plugin '%s' needs a database, and the configuration has no "
		                     "'database:' section (every run would fail)",
		                     job->plugin->name);
	}
}

int
chimectl_check_database(const struct chime_config *config, bool no_db, bool apply, FILE *err)
{
	struct chime_diag_list diags;
	PGconn *conn = NULL;
	char reason[512];
	size_t errors;

	chime_diag_list_init(&diags);
	if (config->n_trees == 0 || chime_node_get(config->trees[0], "database") == NULL) {
		check_no_database(config, &diags);
		goto out;
	}
	if (no_db || check_connect(config, &conn, &diags, err) != 0)
		goto out;
	/* Short: a check never waits long on a lock or a slow catalog. */
	if (chime_db_set_statement_timeout(conn, CHECK_STATEMENT_USEC, reason, sizeof(reason)) < 0)
		(void)chime_diag_add(&diags, CHIME_DIAG_WARNING, config->path, 0, 0, NULL,
		                     "cannot set statement_timeout: %s", reason);
	(void)check_ledger(conn, config, &diags);
	for (size_t i = 0; apply && i < config->n_jobs; i++) {
		const struct chime_job_config *job = config->jobs[i];

		if (job->plugin != NULL && job->plugin->apply != NULL)
			apply_job_db(conn, job, &diags, stdout);
	}
	for (size_t i = 0; i < config->n_jobs; i++) {
		const struct chime_job_config *job = config->jobs[i];

		if (job->plugin != NULL && job->plugin->check != NULL)
			check_job_db(conn, job, &diags);
	}
out:
	chime_diag_list_print(&diags, err);
	errors = diags.errors;
	chime_diag_list_done(&diags);
	PQfinish(conn);
	return errors > 0 ? -EINVAL : 0;
}
