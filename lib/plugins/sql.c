/* SPDX-License-Identifier: MIT */
/*
 * sql: run one SQL statement (or CALL) per run, what pg_cron does.
 *
 *   options:
 *     statement: "INSERT INTO ticks (slot, prev) VALUES ($1, $2)"
 *
 * $1 is the run's nominal slot and $2 the previous nominal slot (NULL when
 * there is none), both timestamptz, so a statement can process exactly the
 * window [$2, $1). Parameters: configure() scans the statement for the
 * highest $n it uses, skipping quoted strings, quoted identifiers,
 * dollar-quoted bodies and comments, and the run sends exactly that many
 * (0, 1 or 2), typed timestamptz (OID 1184) and passed as RFC 3339 text. So
 * a statement that names no parameter runs as is, and one that names $3 is
 * a configuration error. The extended protocol also refuses a second
 * statement, and configure() already reports one.
 *
 * Transaction (exactly once): a real run sends BEGIN, the fence
 * (chime_run_fence(): the claim is still this node's, held until COMMIT),
 * the statement, the run's `succeeded` row (chime_run_record_succeeded())
 * and COMMIT, so a crash at any point leaves both the effect and the
 * record, or neither, and a node that stalled past its lease commits
 * nothing. A statement PostgreSQL refuses in a transaction block (VACUUM,
 * a CALLed procedure that COMMITs inside) is rolled back and run on its
 * own instead, without that guarantee (value "transaction": "none"). A
 * dry run wraps it in BEGIN ... ROLLBACK and reports what it would have
 * changed. The job's timeout is the connection's statement_timeout (set
 * by the host); a timeout or cancel fails the run with -ECANCELED.
 *
 * Report: value "command" (the command tag, "INSERT 0 3") and count "rows"
 * (rows affected or returned).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "sqlutil.h"

#define SQL_OID_TIMESTAMPTZ 1184

struct sql_state {
	char *statement;
	int n_params; /* highest $n used: 0, 1 or 2 */
};

/*
 * Find the highest $n outside quotes and comments, and whether a second
 * statement follows a top-level ';'. Returns 0, or -EINVAL with a message
 * in *ret_msg (static text).
 */
static int
sql_scan(const char *s, int *ret_max, const char **ret_msg)
{
	const char *p = s;
	int max = 0;
	bool ended = false;

	while (*p != '\0') {
		if (ended && !isspace((unsigned char)*p) && !(p[0] == '-' && p[1] == '-') &&
		    !(p[0] == '/' && p[1] == '*')) {
			*ret_msg = "only one statement per job (found text after ';')";
			return -EINVAL;
		}
		if (p[0] == '-' && p[1] == '-') {
			p += strcspn(p, "\n");
		} else if (p[0] == '/' && p[1] == '*') {
			int depth = 1;

			for (p += 2; *p != '\0' && depth > 0; p++) {
				if (p[0] == '/' && p[1] == '*')
					depth++, p++;
				else if (p[0] == '*' && p[1] == '/')
					depth--, p++;
			}
			if (depth > 0) {
				*ret_msg = "unterminated /* comment";
				return -EINVAL;
			}
		} else if (*p == '\'' || *p == '"') {
			char q = *p;
			/* E'...' strings take backslash escapes. */
			bool esc = q == '\'' && p > s && (p[-1] == 'E' || p[-1] == 'e') &&
			           (p - 1 == s || !(isalnum((unsigned char)p[-2]) || p[-2] == '_'));

			for (p++;; p++) {
				if (*p == '\0') {
					*ret_msg = "unterminated quoted string";
					return -EINVAL;
				}
				if (esc && *p == '\\' && p[1] != '\0') {
					p++;
					continue;
				}
				if (*p == q) {
					if (p[1] == q) {
						p++;
						continue;
					}
					break;
				}
			}
			p++;
		} else if (*p == '$' && isdigit((unsigned char)p[1]) &&
		           (p == s || !(isalnum((unsigned char)p[-1]) || p[-1] == '_'))) {
			char *endp;
			long n = strtol(p + 1, &endp, 10);

			p = endp;
			if (n > max)
				max = n > 1000 ? 1000 : (int)n;
		} else if (*p == '$' &&
		           (p == s || !(isalnum((unsigned char)p[-1]) || p[-1] == '_'))) {
			/* $tag$ ... $tag$ (tag may be empty) */
			size_t tl = 1;
			const char *end;
			char tag[64];

			while (isalnum((unsigned char)p[tl]) || p[tl] == '_')
				tl++;
			if (p[tl] != '$' || tl + 1 >= sizeof(tag)) {
				p++;
				continue;
			}
			memcpy(tag, p, tl + 1);
			tag[tl + 1] = '\0';
			end = strstr(p + tl + 1, tag);
			if (end == NULL) {
				*ret_msg = "unterminated dollar-quoted string";
				return -EINVAL;
			}
			p = end + tl + 1;
		} else {
			if (*p == ';')
				ended = true;
			p++;
		}
	}
	*ret_max = max;
	return 0;
}

static int
sql_configure(const struct chime_node *options, struct chime_diag_list *diags, void **ret_state)
{
	static const char *const known[] = {"statement", NULL};
	const struct chime_node *node;
	const char *statement = NULL, *msg = NULL;
	struct sql_state *st;
	int max = 0, r = 0;

	if (options == NULL || chime_node_get(options, "statement") == NULL)
		return chime_node_error(
		        diags, options,
		        "the sql plugin needs options.statement (one SQL statement)");
	if (chime_node_check_keys(options, known, diags) < 0)
		r = -EINVAL;
	if (chime_node_get_string(options, "statement", NULL, diags, &statement) < 0)
		return -EINVAL;
	node = chime_node_get(options, "statement");
	if (statement == NULL || strspn(statement, " \t\r\n") == strlen(statement))
		return chime_node_error(diags, node, "statement is empty");
	if (sql_scan(statement, &max, &msg) < 0)
		return chime_node_error(diags, node, "%s", msg);
	if (max > 2)
		return chime_node_error(diags, node,
		                        "statement uses $%d; only $1 (the nominal slot) and $2 "
		                        "(the previous slot) exist",
		                        max);
	if (r < 0)
		return r;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -ENOMEM;
	st->statement = strdup(statement);
	if (st->statement == NULL) {
		free(st);
		return -ENOMEM;
	}
	st->n_params = max;
	*ret_state = st;
	return 0;
}

static int
sql_fail(struct chime_run *run, PGconn *conn, PGresult *res, const char *what)
{
	char err[512];
	int r;

	r = chime__sql_result_errno(conn, res, err, sizeof(err));
	if (r == 0)
		r = -EIO;
	chime_run_fail(run, "%s: %s", what, err);
	return r;
}

/* A transaction command (BEGIN, COMMIT, ROLLBACK); fails the run when it fails. */
static int
sql_command(struct chime_run *run, PGconn *conn, const char *command)
{
	PGresult *res = PQexec(conn, command);
	char what[40];
	int r = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		snprintf(what, sizeof(what), "%s failed", command);
		r = sql_fail(run, conn, res, what);
	}
	PQclear(res);
	return r;
}

/* A statement PostgreSQL refuses inside a transaction block (VACUUM, a
 * CALLed procedure that commits): it runs on its own instead. */
static bool
sql_needs_own_transaction(const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	return state != NULL && (strcmp(state, "25001") == 0 || strcmp(state, "2D000") == 0);
}

/* Run the statement and report it. 1 when it must run outside a block. */
static int
sql_statement(const struct sql_state *st, struct chime_run *run, PGconn *conn,
              const char *const *values, bool in_block)
{
	const Oid types[2] = {SQL_OID_TIMESTAMPTZ, SQL_OID_TIMESTAMPTZ};
	PGresult *res;
	const char *rows;
	int r;

	res = PQexecParams(conn, st->statement, st->n_params, st->n_params > 0 ? types : NULL,
	                   st->n_params > 0 ? values : NULL, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		r = in_block && sql_needs_own_transaction(res)
		            ? 1
		            : sql_fail(run, conn, res, "statement failed");
		PQclear(res);
		return r;
	}
	chime_run_value(run, "command", PQcmdStatus(res));
	rows = PQcmdTuples(res);
	chime_run_count(run, "rows", rows[0] != '\0' ? strtoll(rows, NULL, 10) : 0);
	if (chime_run_dry_run(run))
		chime_run_item(run, "would run: %s (%s rows; rolled back)", PQcmdStatus(res),
		               rows[0] != '\0' ? rows : "0");
	PQclear(res);
	return 0;
}

/*
 * BEGIN; fence; the statement; the run's `succeeded` row; COMMIT: the
 * effect and its record commit together or not at all, and a node whose
 * claim was recovered (a stall past its lease) commits nothing. A dry run
 * rolls back instead and records nothing.
 */
static int
sql_in_transaction(const struct sql_state *st, struct chime_run *run, PGconn *conn,
                   const char *const *values)
{
	bool dry = chime_run_dry_run(run);
	int r;

	r = sql_command(run, conn, "BEGIN");
	if (r < 0)
		return r;
	r = dry ? 0 : chime_run_fence(run, conn);
	if (r == 0)
		r = sql_statement(st, run, conn, values, true);
	if (r == 0 && !dry)
		r = chime_run_record_succeeded(run, conn);
	if (r != 0 || dry) {
		int rb = sql_command(run, conn, "ROLLBACK");

		return r != 0 ? r : rb;
	}
	return sql_command(run, conn, "COMMIT");
}

static int
sql_run(void *state, struct chime_run *run)
{
	const struct sql_state *st = state;
	const char *values[2] = {NULL, NULL};
	char nominal[40], previous[40];
	PGconn *conn = chime_run_db(run);
	int r;

	if (conn == NULL) {
		chime_run_fail(run, "no database connection");
		return -ENOTCONN;
	}
	if (chime_run_cancelled(run)) {
		chime_run_fail(run, "cancelled before the statement ran");
		return -ECANCELED;
	}
	if (chime__sql_format_timestamptz(chime_run_nominal_usec(run), nominal, sizeof(nominal)) <
	    0)
		return -EINVAL;
	values[0] = nominal;
	if (chime_run_previous_usec(run) != INT64_MIN &&
	    chime__sql_format_timestamptz(chime_run_previous_usec(run), previous,
	                                  sizeof(previous)) >= 0)
		values[1] = previous;

	r = sql_in_transaction(st, run, conn, values);
	if (r != 1)
		return r;
	/* Refused inside a transaction block (and rolled back): run it
	 * on its own, recorded by the host afterwards as before. */
	chime_run_log(run, 5,
	              "the statement cannot run inside a transaction block; it runs on its "
	              "own, without the fence or the exactly-once record");
	chime_run_value(run, "transaction", "none");
	return sql_statement(st, run, conn, values, false);
}

static void
sql_release(void *state)
{
	struct sql_state *st = state;

	if (st == NULL)
		return;
	free(st->statement);
	free(st);
}

const struct chime_plugin chime_plugin_sql = {
        CHIME_PLUGIN_INIT("sql", sql_configure, sql_run, sql_release),
        /* The statement and the run's `succeeded` row commit in one fenced
         * transaction: a lost run changed nothing, so on_lost: auto re-runs
         * it. (A statement that cannot run in a transaction block runs on
         * its own, without that guarantee.) */
        .idempotent = false,
        .needs_database = true,
        .fences = true,
        .records_in_transaction = true,
};
