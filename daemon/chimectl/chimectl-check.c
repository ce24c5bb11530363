/* SPDX-License-Identifier: MIT */
/*
 * chimectl check [FILE] [--no-db]: load the configuration as chimed would,
 * plugins included, and print every diagnostic (exit 1) or the warnings and
 * "configuration OK" (exit 0). When the configuration is valid, has a
 * `database:` section and the database answers within a few seconds, each
 * job's plugin check() also verifies the job against the live database
 * (tables, columns, triggers) inside a transaction that is rolled back; an
 * unreachable database is a note, not a failure.
 *
 * `chimed --check` stays configuration-only: it runs as ExecStartPre and
 * must not depend on the database being up (chimed itself waits for it).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "config.h"
#include "db.h"
#include "pgutil.h"
#include "diag.h"
#include "plugin_host.h"
#include "builtin.h"
#include "tz.h"

#include "chimectl.h"

#define CHECK_CONNECT_USEC   (INT64_C(3) * 1000000)
#define CHECK_STATEMENT_USEC (INT64_C(5) * 1000000)

static void
check_usage(FILE *f)
{
	fprintf(f, "usage: chimectl check [FILE] [--no-db]\n\n"
	           "Check the configuration FILE (default " CHIME_DEFAULT_CONFIG ") and the\n"
	           "options of every job's plugin; print every problem, or \"configuration OK\".\n"
	           "When the database is reachable, also check each job against it (tables,\n"
	           "columns, triggers) without changing anything; --no-db skips that.\n");
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

/* The database checks of every job; returns the number of errors. */
static size_t
check_database(const struct chime_config *config, FILE *err)
{
	struct chime_database_config db = config->database;
	struct chime_diag_list diags;
	PGconn *conn = NULL;
	char reason[512];
	size_t errors;
	int r;

	db.connect_timeout_usec = CHECK_CONNECT_USEC;
	r = chime_db_connect(&db, &conn, reason, sizeof(reason));
	if (r < 0) {
		reason[strcspn(reason, "\n")] = '\0';
		fprintf(err, "%s: note: database not reachable (%s): skipped the database checks\n",
		        config->path, reason);
		return 0;
	}
	chime_diag_list_init(&diags);
	/* Short: a check never waits long on a lock or a slow catalog. */
	if (chime_db_set_statement_timeout(conn, CHECK_STATEMENT_USEC, reason, sizeof(reason)) < 0)
		(void)chime_diag_add(&diags, CHIME_DIAG_WARNING, config->path, 0, 0, NULL,
		                     "cannot set statement_timeout: %s", reason);
	for (size_t i = 0; i < config->n_jobs; i++) {
		const struct chime_job_config *job = config->jobs[i];

		if (job->plugin == NULL || job->plugin->check == NULL)
			continue;
		check_job_db(conn, job, &diags);
	}
	chime_diag_list_print(&diags, err);
	errors = diags.errors;
	chime_diag_list_done(&diags);
	PQfinish(conn);
	return errors;
}

int
chimectl_check_main(int argc, char **argv)
{
	struct chime_plugin_host *host = NULL;
	struct chime_config *config = NULL;
	struct chime_config_hooks hooks;
	struct chime_diag_list diags;
	const char *path = NULL;
	bool no_db = false;
	int r;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			check_usage(stdout);
			return CHIMECTL_EXIT_OK;
		}
		if (strcmp(argv[i], "--no-db") == 0) {
			no_db = true;
			continue;
		}
		if (strcmp(argv[i], "--") == 0 && i + 1 < argc && path == NULL && i + 2 == argc) {
			path = argv[++i];
			continue;
		}
		if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "chimectl check: unknown option '%s'\n", argv[i]);
			check_usage(stderr);
			return CHIMECTL_EXIT_USAGE;
		}
		if (path != NULL) {
			fprintf(stderr, "chimectl check: only one FILE may be given\n");
			check_usage(stderr);
			return CHIMECTL_EXIT_USAGE;
		}
		path = argv[i];
	}
	if (path == NULL)
		path = CHIME_DEFAULT_CONFIG;

	r = chime_plugin_host_new(chime_plugins_builtin, chime_plugins_builtin_count, &host);
	if (r < 0) {
		fprintf(stderr, "chimectl check: %s\n", strerror(-r));
		return CHIMECTL_EXIT_FAILURE;
	}
	chime_plugin_host_hooks(host, &hooks);
	chime_diag_list_init(&diags);
	r = chime_config_load(path, &hooks, &diags, &config);
	chime_diag_list_print(&diags, stderr);
	if (r < 0 && diags.errors == 0)
		fprintf(stderr, "%s: error: %s\n", path, strerror(-r));
	chime_diag_list_done(&diags);
	if (r == 0 && !no_db && config->n_trees > 0 &&
	    chime_node_get(config->trees[0], "database") != NULL &&
	    check_database(config, stderr) > 0)
		r = -EINVAL;
	if (r == 0)
		fprintf(stdout, "configuration OK\n");
	chime_config_unref(config);
	chime_plugin_host_free(host);
	return r == 0 ? CHIMECTL_EXIT_OK : CHIMECTL_EXIT_FAILURE;
}
