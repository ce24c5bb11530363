/* SPDX-License-Identifier: MIT */
/* The ledger's rows for `chimectl audit` (ledger-audit.h). */
#include "ledger-audit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chime-sql-ledger.h"
#include "pgutil.h"

static int64_t
col_usec(const PGresult *res, int row, int col, int64_t null_value)
{
	if (PQgetisnull(res, row, col))
		return null_value;
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* A copy of a text column; NULL for SQL NULL. Sets *oom on failure. */
static char *
col_strdup(const PGresult *res, int row, int col, bool *oom)
{
	char *s;

	if (PQgetisnull(res, row, col))
		return NULL;
	s = strdup(PQgetvalue(res, row, col));
	if (s == NULL)
		*oom = true;
	return s;
}

/* Zeroed room for the rows of `res`, at most `max` (their number in
 * *ret_n); NULL on OOM. */
static void *
rows_calloc(const PGresult *res, size_t max, size_t size, int *ret_n)
{
	size_t n = (size_t)PQntuples(res);

	*ret_n = (int)(n < max ? n : max);
	return calloc((size_t)*ret_n + 1, size);
}

/* Run `sql` with job, from, to (and `limit` when not NULL) as text. */
static PGresult *
audit_exec(PGconn *conn, const char *sql, const char *job, int64_t from_usec, int64_t to_usec,
           const char *limit, int *ret_r, char *errbuf, size_t errsize)
{
	char from[24], to[24];
	const char *params[4] = {job, from, to, limit};
	PGresult *res;

	snprintf(from, sizeof(from), "%" PRId64, from_usec);
	snprintf(to, sizeof(to), "%" PRId64, to_usec);
	res = PQexecParams(conn, sql, limit != NULL ? 4 : 3, NULL, params, NULL, NULL, 0);
	*ret_r = chime__sql_result_errno(conn, res, errbuf, errsize);
	return res;
}

static int
audit_read_runs(PGconn *conn, const char *job, int64_t from_usec, int64_t to_usec, size_t max_runs,
                struct chime_ledger_audit *a, char *errbuf, size_t errsize)
{
	char limit[24];
	bool oom = false;
	PGresult *res;
	int r, n;

	snprintf(limit, sizeof(limit), "%zu", max_runs + 1);
	res = audit_exec(conn, chime_sql_audit_runs, job, from_usec, to_usec, limit, &r, errbuf,
	                 errsize);
	if (r < 0)
		goto out;
	a->runs = rows_calloc(res, max_runs, sizeof(*a->runs), &n);
	a->truncated = PQntuples(res) > n;
	if (a->runs == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		struct chime_run_record *run = &a->runs[a->n_runs++];

		run->id = col_usec(res, i, 0, 0);
		run->local_usec = col_usec(res, i, 1, 0);
		run->occurrence = (int)col_usec(res, i, 2, 0);
		run->scheduled_usec = col_usec(res, i, 3, 0);
		run->attempt = (int)col_usec(res, i, 4, 1);
		run->node = col_strdup(res, i, 5, &oom);
		/* The SQL boundary: an unknown status reads as failed. */
		if (chime_run_status_parse(PQgetvalue(res, i, 6), &run->status) < 0)
			run->status = CHIME_RUN_FAILED;
		run->manual = PQgetvalue(res, i, 7)[0] == 't';
		run->claimed_usec = col_usec(res, i, 8, INT64_MIN);
		run->started_usec = col_usec(res, i, 9, INT64_MIN);
		run->finished_usec = col_usec(res, i, 10, INT64_MIN);
		run->error = col_strdup(res, i, 11, &oom);
	}
	r = oom ? -ENOMEM : 0;
out:
	PQclear(res);
	return r;
}

static int
audit_read_pauses(PGconn *conn, const char *job, int64_t from_usec, int64_t to_usec,
                  struct chime_ledger_audit *a, char *errbuf, size_t errsize)
{
	bool oom = false;
	PGresult *res;
	int r, n;

	res = audit_exec(conn, chime_sql_audit_pauses, job, from_usec, to_usec, NULL, &r, errbuf,
	                 errsize);
	if (r < 0)
		goto out;
	a->pauses = rows_calloc(res, (size_t)PQntuples(res), sizeof(*a->pauses), &n);
	if (a->pauses == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		struct chime_pause_record *p = &a->pauses[a->n_pauses++];

		p->paused_usec = col_usec(res, i, 0, INT64_MIN);
		p->resumed_usec = col_usec(res, i, 1, INT64_MAX);
		p->by = col_strdup(res, i, 2, &oom);
		p->note = col_strdup(res, i, 3, &oom);
		p->node = col_strdup(res, i, 4, &oom);
	}
	r = oom ? -ENOMEM : 0;
out:
	PQclear(res);
	return r;
}

int
chime_ledger_audit_read(PGconn *conn, const char *job, int64_t from_usec, int64_t to_usec,
                        size_t max_runs, struct chime_ledger_audit *ret_audit, char *errbuf,
                        size_t errsize)
{
	struct chime_ledger_audit a = {.first_usec = INT64_MIN};
	const char *params[1] = {job};
	PGresult *res;
	int r;

	r = audit_read_runs(conn, job, from_usec, to_usec, max_runs, &a, errbuf, errsize);
	if (r == 0)
		r = audit_read_pauses(conn, job, from_usec, to_usec, &a, errbuf, errsize);
	if (r < 0)
		goto fail;
	res = PQexecParams(conn, chime_sql_audit_first_row, 1, NULL, params, NULL, NULL, 0);
	r = chime__sql_result_errno(conn, res, errbuf, errsize);
	if (r == 0 && PQntuples(res) == 1)
		a.first_usec = col_usec(res, 0, 0, INT64_MIN);
	PQclear(res);
	if (r < 0)
		goto fail;
	*ret_audit = a;
	return 0;
fail:
	chime_ledger_audit_done(&a);
	return r;
}

void
chime_ledger_audit_done(struct chime_ledger_audit *audit)
{
	if (audit == NULL)
		return;
	/* The strings each record owns, then the arrays. */
	for (size_t i = 0; i < audit->n_runs; i++)
		free(audit->runs[i].node), free(audit->runs[i].error);
	for (size_t i = 0; i < audit->n_pauses; i++)
		free(audit->pauses[i].by), free(audit->pauses[i].note), free(audit->pauses[i].node);
	free(audit->runs);
	free(audit->pauses);
	*audit = (struct chime_ledger_audit){.first_usec = INT64_MIN};
}
