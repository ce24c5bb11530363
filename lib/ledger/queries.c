/* SPDX-License-Identifier: MIT */
/* Read-only ledger queries as JSON (queries.h); the SQL is sql/queries.sql. */
#include "queries.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chime-sql-ledger.h"
#include "clock.h"
#include "pgutil.h"

json_t *
chime_ledger_json_time(int64_t utc_usec)
{
	char buf[CHIME_CLOCK_FORMAT_MAX];

	if (utc_usec == INT64_MIN || chime_clock_format_utc(utc_usec, buf, sizeof(buf)) < 0)
		return json_null();
	return json_string(buf);
}

static json_t *
col_time(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return json_null();
	return chime_ledger_json_time(strtoll(PQgetvalue(res, row, col), NULL, 10));
}

static json_t *
col_text(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return json_null();
	return json_string(PQgetvalue(res, row, col));
}

static json_t *
col_epoch(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return json_null();
	return json_real(strtod(PQgetvalue(res, row, col), NULL));
}

/* A jsonb column as JSON (null when NULL or unreadable). */
static json_t *
col_json(const PGresult *res, int row, int col)
{
	json_t *v;

	if (PQgetisnull(res, row, col))
		return json_null();
	v = json_loads(PQgetvalue(res, row, col), 0, NULL);
	return v != NULL ? v : json_null();
}

int
chime_ledger_query_history(PGconn *conn, const char *job, int limit, json_t **ret_runs,
                           char *errbuf, size_t errsize)
{
	char limit_text[16];
	const char *params[2] = {job, limit_text};
	PGresult *res;
	json_t *runs = NULL;
	int r;

	snprintf(limit_text, sizeof(limit_text), "%d", limit);
	res = PQexecParams(conn, chime_sql_query_history, 2, NULL, params, NULL, NULL, 0);
	r = chime__sql_result_errno(conn, res, errbuf, errsize);
	if (r < 0)
		goto out;
	runs = json_array();
	if (runs == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		json_t *o = json_object();

		if (o == NULL || json_array_append_new(runs, o) < 0) {
			r = -ENOMEM;
			goto out;
		}
		json_object_set_new(o, "id",
		                    json_integer(strtoll(PQgetvalue(res, i, 0), NULL, 10)));
		json_object_set_new(o, "scheduled_for", col_time(res, i, 1));
		json_object_set_new(o, "attempt", json_integer(atoi(PQgetvalue(res, i, 2))));
		json_object_set_new(o, "node", col_text(res, i, 3));
		json_object_set_new(o, "status", col_text(res, i, 4));
		json_object_set_new(o, "manual", json_boolean(PQgetvalue(res, i, 5)[0] == 't'));
		json_object_set_new(o, "claimed_at", col_time(res, i, 6));
		json_object_set_new(o, "started_at", col_time(res, i, 7));
		json_object_set_new(o, "finished_at", col_time(res, i, 8));
		json_object_set_new(o, "duration_seconds", col_epoch(res, i, 9));
		json_object_set_new(o, "error", col_text(res, i, 10));
		json_object_set_new(o, "summary", col_json(res, i, 11));
	}
	*ret_runs = runs;
	runs = NULL;
	r = 0;
out:
	json_decref(runs);
	PQclear(res);
	return r;
}

int
chime_ledger_query_jobs(PGconn *conn, json_t **ret_jobs, char *errbuf, size_t errsize)
{
	PGresult *res;
	json_t *jobs = NULL;
	int r;

	res = PQexec(conn, chime_sql_query_jobs);
	r = chime__sql_result_errno(conn, res, errbuf, errsize);
	if (r < 0)
		goto out;
	jobs = json_object();
	if (jobs == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		json_t *o = json_object();

		if (o == NULL || json_object_set_new(jobs, PQgetvalue(res, i, 0), o) < 0) {
			r = -ENOMEM;
			goto out;
		}
		json_object_set_new(o, "last_status", col_text(res, i, 1));
		json_object_set_new(o, "last_finished_at", col_epoch(res, i, 2));
		json_object_set_new(o, "last_success_at", col_epoch(res, i, 3));
		json_object_set_new(o, "paused", json_boolean(PQgetvalue(res, i, 4)[0] == 't'));
		json_object_set_new(o, "paused_at", col_epoch(res, i, 5));
		json_object_set_new(o, "paused_by", col_text(res, i, 6));
		json_object_set_new(o, "pause_note", col_text(res, i, 7));
	}
	*ret_jobs = jobs;
	jobs = NULL;
	r = 0;
out:
	json_decref(jobs);
	PQclear(res);
	return r;
}
