/* SPDX-License-Identifier: MIT */
/*
 * The run ledger in PostgreSQL: schema migration, claims, heartbeats,
 * outcomes, lost-claim recovery, pruning and pause state. Each operation is
 * one parameterised statement (or one transaction for migrations), so a
 * crash between two of them leaves the ledger consistent. Times are passed
 * as microseconds since the epoch and converted in SQL, which keeps full
 * precision and needs no date formatting here. The statements and the
 * migrations are data, the files in lib/ledger/sql, compiled in as chime_sql_*
 * (chime-sql-ledger.h, generated). Never logs. Catch-up planning, which is
 * pure, lives in ledger-plan.c.
 */
#include "ledger.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "chime-sql-ledger.h"
#include "db.h"
#include "pgutil.h"

/* Text parameters formatted on the stack. */
struct params {
	const char *v[12];
	char buf[12][32];
	int n;
};

static void
p_str(struct params *p, const char *s)
{
	p->v[p->n++] = s;
}

static void
p_i64(struct params *p, int64_t x)
{
	snprintf(p->buf[p->n], sizeof(p->buf[0]), "%" PRId64, x);
	p->v[p->n] = p->buf[p->n];
	p->n++;
}

/* INT64_MIN is SQL NULL. */
static void
p_opt_i64(struct params *p, int64_t x)
{
	if (x == INT64_MIN)
		p_str(p, NULL);
	else
		p_i64(p, x);
}

static void
p_bool(struct params *p, bool b)
{
	p_str(p, b ? "t" : "f");
}

/* FNV-1a: names a statement's server-side prepared form by its text. */
static void
statement_name(const char *sql, char *buf, size_t size)
{
	uint64_t h = UINT64_C(14695981039346656037);

	for (const unsigned char *c = (const unsigned char *)sql; *c != '\0'; c++)
		h = (h ^ *c) * UINT64_C(1099511628211);
	snprintf(buf, size, "chime_ledger_%016" PRIx64, h);
}

static bool
missing_statement(const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	return state != NULL && strcmp(state, "26000") == 0;
}

/*
 * Statements with parameters run as server-side prepared statements,
 * prepared on first use on each connection (and again after anything,
 * such as DISCARD ALL in a plugin, dropped them): planning is most of the
 * cost of these short statements. Without parameters: the simple
 * protocol, which takes several statements (migrations).
 */
static int
ledger_exec(PGconn *conn, const char *sql, const struct params *p, PGresult **ret_res, char *errbuf,
            size_t errsize)
{
	char name[40];
	PGresult *res;
	int r;

	if (p == NULL) {
		res = PQexec(conn, sql);
	} else if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
		/* A failed EXECUTE would abort the caller's transaction. */
		res = PQexecParams(conn, sql, p->n, NULL, p->v, NULL, NULL, 0);
	} else {
		statement_name(sql, name, sizeof(name));
		res = PQexecPrepared(conn, name, p->n, p->v, NULL, NULL, 0);
		if (res != NULL && PQresultStatus(res) == PGRES_FATAL_ERROR &&
		    missing_statement(res)) {
			PQclear(res);
			res = PQprepare(conn, name, sql, p->n, NULL);
			if (res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK) {
				PQclear(res);
				res = PQexecPrepared(conn, name, p->n, p->v, NULL, NULL, 0);
			}
		}
	}
	r = chime__sql_result_errno(conn, res, errbuf, errsize);
	if (r < 0 || ret_res == NULL)
		PQclear(res);
	else
		*ret_res = res;
	return r;
}

static int64_t
get_i64(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return INT64_MIN;
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static void
set_err(char *errbuf, size_t errsize, const char *msg)
{
	if (errbuf != NULL && errsize > 0)
		snprintf(errbuf, errsize, "%s", msg);
}

/* ---- Schema --------------------------------------------------------- */

static int
ledger_version(PGconn *conn, int *ret_version, char *errbuf, size_t errsize)
{
	PGresult *res = NULL;
	int r;

	r = ledger_exec(conn, chime_sql_schema_version_exists, NULL, &res, errbuf, errsize);
	if (r < 0)
		return r;
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		PQclear(res);
		*ret_version = 0;
		return 0;
	}
	PQclear(res);
	r = ledger_exec(conn, chime_sql_schema_version_current, NULL, &res, errbuf, errsize);
	if (r < 0)
		return r;
	*ret_version = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

static int
ledger_newer(int version, char *errbuf, size_t errsize)
{
	if (errbuf != NULL)
		snprintf(errbuf, errsize,
		         "schema chime is at version %d, newer than this chime (%d): upgrade chime",
		         version, CHIME_SQL_LEDGER_N_MIGRATIONS);
	return -EPROTO;
}

/* The migrations after the current version, in the caller's transaction:
 * the lock, the version table, then each missing one. */
static int
ledger_migrate_steps(PGconn *conn, char *errbuf, size_t errsize)
{
	const int latest = CHIME_SQL_LEDGER_N_MIGRATIONS;
	struct params p = {0};
	int version, r;

	r = ledger_exec(conn, chime_sql_migrate_lock, NULL, NULL, errbuf, errsize);
	if (r < 0)
		return r;
	/* Another node may have migrated while we waited for the lock. */
	r = ledger_version(conn, &version, errbuf, errsize);
	if (r < 0)
		return r;
	if (version > latest)
		return ledger_newer(version, errbuf, errsize);
	for (int v = version + 1; v <= latest; v++) {
		r = ledger_exec(conn, chime_sql_ledger_migrations[v - 1], NULL, NULL, errbuf,
		                errsize);
		if (r < 0)
			return r;
		p.n = 0;
		p_i64(&p, v);
		r = ledger_exec(conn, chime_sql_schema_version_insert, &p, NULL, errbuf, errsize);
		if (r < 0)
			return r;
	}
	return 0;
}

/* 1 when a migration is due, 0 when the schema is current, or a negative
 * errno (-EPROTO: newer than this binary). */
static int
ledger_migration_due(PGconn *conn, char *errbuf, size_t errsize)
{
	int version, r;

	r = ledger_version(conn, &version, errbuf, errsize);
	if (r < 0)
		return r;
	if (version > CHIME_SQL_LEDGER_N_MIGRATIONS)
		return ledger_newer(version, errbuf, errsize);
	return version < CHIME_SQL_LEDGER_N_MIGRATIONS;
}

int
chime_ledger_migrate(PGconn *conn, char *errbuf, size_t errsize)
{
	int r;

	r = ledger_migration_due(conn, errbuf, errsize);
	if (r <= 0)
		return r;
	r = ledger_exec(conn, "BEGIN", NULL, NULL, errbuf, errsize);
	if (r < 0)
		return r;
	r = ledger_migrate_steps(conn, errbuf, errsize);
	if (r < 0) {
		PQclear(PQexec(conn, "ROLLBACK"));
		return r;
	}
	return ledger_exec(conn, "COMMIT", NULL, NULL, errbuf, errsize);
}

int
chime_ledger_migrate_try(PGconn *conn, char *errbuf, size_t errsize)
{
	int r;

	r = ledger_migration_due(conn, errbuf, errsize);
	if (r <= 0)
		return r;
	return ledger_migrate_steps(conn, errbuf, errsize);
}

/* ---- Runs ----------------------------------------------------------- */

/* $1-$8 of a claim's row: job, slot local usec, occurrence, scheduled
 * usec, previous usec or NULL, attempt, node, manual. */
static void
p_claim_key(struct params *p, const struct chime_ledger_claim *claim)
{
	const struct chime_ledger_slot *s = claim->slot;

	p_str(p, s->job);
	p_i64(p, s->local_usec);
	p_i64(p, s->occurrence);
	p_i64(p, s->instant_usec);
	p_opt_i64(p, s->previous_usec);
	p_i64(p, claim->attempt);
	p_str(p, claim->node != NULL ? claim->node : "");
	p_bool(p, claim->manual);
}

int
chime_ledger_claim(PGconn *conn, const struct chime_ledger_claim *claim, int64_t *ret_id,
                   enum chime_run_status *ret_status, char *errbuf, size_t errsize)
{
	struct params p = {0};
	PGresult *res = NULL;
	int r;

	p_claim_key(&p, claim);
	p_i64(&p, claim->lease_usec > 0 ? claim->lease_usec : INT64_C(300000000));
	p_bool(&p, claim->skip_if_busy);
	p_str(&p, claim->start ? "running" : "claimed");
	p_bool(&p, claim->honor_pause);
	r = ledger_exec(conn, chime_sql_runs_claim, &p, &res, errbuf, errsize);
	if (r < 0)
		return r;
	if (PQntuples(res) == 0) {
		PQclear(res);
		set_err(errbuf, errsize, "the slot is already claimed");
		return -EEXIST;
	}
	*ret_id = get_i64(res, 0, 0);
	if (ret_status != NULL)
		(void)chime_run_status_parse(PQgetvalue(res, 0, 1), ret_status);
	PQclear(res);
	return 0;
}

static int
ledger_update_one(PGconn *conn, const char *sql, const struct params *p, char *errbuf,
                  size_t errsize)
{
	PGresult *res = NULL;
	int r;

	r = ledger_exec(conn, sql, p, &res, errbuf, errsize);
	if (r < 0)
		return r;
	if (strcmp(PQcmdTuples(res), "1") != 0) {
		PQclear(res);
		set_err(errbuf, errsize, "the run is no longer live (recovered by another node)");
		return -ESTALE;
	}
	PQclear(res);
	return 0;
}

int
chime_ledger_start(PGconn *conn, int64_t id, char *errbuf, size_t errsize)
{
	struct params p = {0};

	p_i64(&p, id);
	return ledger_update_one(conn, chime_sql_runs_start, &p, errbuf, errsize);
}

int
chime_ledger_heartbeat(PGconn *conn, const int64_t *ids, size_t n_ids, int64_t *ret_cancel,
                       size_t *ret_n_cancel, char *errbuf, size_t errsize)
{
	struct params p = {0};
	PGresult *res = NULL;
	size_t len = 3, n = 0;
	char *arr, *w;
	int r;

	if (n_ids == 0) {
		*ret_n_cancel = 0;
		return 0;
	}
	arr = malloc(n_ids * 21 + 3);
	if (arr == NULL)
		return -ENOMEM;
	w = arr;
	*w++ = '{';
	for (size_t i = 0; i < n_ids; i++)
		w += sprintf(w, "%s%" PRId64, i > 0 ? "," : "", ids[i]);
	*w++ = '}';
	*w = '\0';
	(void)len;
	p_str(&p, arr);
	r = ledger_exec(conn, chime_sql_runs_heartbeat, &p, &res, errbuf, errsize);
	free(arr);
	if (r < 0)
		return r;
	for (int i = 0; i < PQntuples(res); i++)
		if (strcmp(PQgetvalue(res, i, 1), "t") == 0)
			ret_cancel[n++] = get_i64(res, i, 0);
	/* An id that is no longer live was recovered by another node. */
	for (size_t i = 0; i < n_ids; i++) {
		bool found = false;

		for (int j = 0; j < PQntuples(res) && !found; j++)
			found = get_i64(res, j, 0) == ids[i];
		if (!found)
			ret_cancel[n++] = ids[i];
	}
	PQclear(res);
	*ret_n_cancel = n;
	return 0;
}

int
chime_ledger_finish(PGconn *conn, int64_t id, enum chime_run_status status,
                    const char *summary_json, const char *error, char *errbuf, size_t errsize)
{
	struct params p = {0};

	if (chime_run_status_name(status) == NULL)
		return -EINVAL;
	p_i64(&p, id);
	p_str(&p, chime_run_status_name(status));
	p_str(&p, summary_json);
	p_str(&p, error);
	return ledger_update_one(conn, chime_sql_runs_finish, &p, errbuf, errsize);
}

/* Why a fence did not hold, from the row as it was (runs_fence). */
static void
fence_reason(const PGresult *res, int64_t id, const char *node, char *errbuf, size_t errsize)
{
	const char *status, *holder, *error;
	int64_t age, lease;

	if (PQntuples(res) == 0) {
		snprintf(errbuf, errsize,
		         "fenced: run %" PRId64 " is no longer this node's claim (its row is gone)",
		         id);
		return;
	}
	status = PQgetvalue(res, 0, 2);
	holder = PQgetvalue(res, 0, 3);
	error = PQgetvalue(res, 0, 4);
	age = get_i64(res, 0, 5);
	lease = get_i64(res, 0, 6);
	if (strcmp(status, "running") == 0 && strcmp(holder, node) == 0)
		snprintf(errbuf, errsize,
		         "fenced: run %" PRId64 "'s claim lapsed (no heartbeat for %.1f s, lease "
		         "%.1f s): another node may recover it",
		         id, (double)age / 1e6, (double)lease / 1e6);
	else
		snprintf(errbuf, errsize,
		         "fenced: run %" PRId64 " is no longer this node's claim (%s%s%s)", id,
		         status, error[0] != '\0' ? ": " : "", error);
}

int
chime_ledger_fence(PGconn *conn, int64_t id, const char *node, char *errbuf, size_t errsize)
{
	struct params p = {0};
	PGresult *res = NULL;
	int r;

	p_i64(&p, id);
	r = ledger_exec(conn, chime_sql_runs_fence_hold, &p, NULL, errbuf, errsize);
	if (r < 0)
		return r;
	p_str(&p, node);
	r = ledger_exec(conn, chime_sql_runs_fence, &p, &res, errbuf, errsize);
	if (r < 0)
		return r;
	if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
		PQclear(res);
		return 0;
	}
	if (errbuf != NULL && errsize > 0)
		fence_reason(res, id, node, errbuf, errsize);
	PQclear(res);
	return -ESTALE;
}

int
chime_ledger_finish_late(PGconn *conn, int64_t id, const char *node, enum chime_run_status status,
                         const char *summary_json, const char *error, char *errbuf, size_t errsize)
{
	struct params p = {0};

	if (chime_run_status_name(status) == NULL)
		return -EINVAL;
	p_i64(&p, id);
	p_str(&p, node);
	p_str(&p, chime_run_status_name(status));
	p_str(&p, summary_json);
	p_str(&p, error);
	return ledger_update_one(conn, chime_sql_runs_finish_late, &p, errbuf, errsize);
}

int
chime_ledger_record_vanished(PGconn *conn, const struct chime_ledger_claim *claim, int64_t id,
                             enum chime_run_status status, const char *summary_json,
                             const char *error, char *errbuf, size_t errsize)
{
	struct params p = {0};
	PGresult *res = NULL;
	int r;

	if (chime_run_status_name(status) == NULL)
		return -EINVAL;
	p_claim_key(&p, claim);
	p_str(&p, chime_run_status_name(status));
	p_str(&p, summary_json);
	p_str(&p, error);
	p_i64(&p, id);
	r = ledger_exec(conn, chime_sql_runs_record_vanished, &p, &res, errbuf, errsize);
	if (r < 0)
		return r;
	r = PQntuples(res) == 1 ? 0 : -ESTALE;
	PQclear(res);
	return r;
}

int
chime_ledger_record_skipped(PGconn *conn, const struct chime_ledger_slot *slot, const char *node,
                            const char *reason, int64_t *ret_id, char *errbuf, size_t errsize)
{
	struct params p = {0};
	PGresult *res = NULL;
	int r;

	p_str(&p, slot->job);
	p_i64(&p, slot->local_usec);
	p_i64(&p, slot->occurrence);
	p_i64(&p, slot->instant_usec);
	p_opt_i64(&p, slot->previous_usec);
	p_str(&p, node != NULL ? node : "");
	p_str(&p, reason);
	r = ledger_exec(conn, chime_sql_runs_record_skipped, &p, &res, errbuf, errsize);
	if (r < 0)
		return r;
	if (PQntuples(res) == 0) {
		PQclear(res);
		set_err(errbuf, errsize, "the slot is already claimed");
		return -EEXIST;
	}
	if (ret_id != NULL)
		*ret_id = get_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

/* The columns of runs_slot_latest and runs_last_slot (sql/runs.sql). */
static void
row_read(const PGresult *res, int i, struct chime_ledger_row *row)
{
	memset(row, 0, sizeof(*row));
	row->id = get_i64(res, i, 0);
	row->attempt = (int)get_i64(res, i, 1);
	(void)chime_run_status_parse(PQgetvalue(res, i, 2), &row->status);
	snprintf(row->node, sizeof(row->node), "%s", PQgetvalue(res, i, 3));
	row->instant_usec = get_i64(res, i, 4);
	row->local_usec = get_i64(res, i, 5);
	row->occurrence = (int)get_i64(res, i, 6);
}

static int
ledger_one_row(PGconn *conn, const char *sql, const struct params *p,
               struct chime_ledger_row *ret_row, char *errbuf, size_t errsize)
{
	PGresult *res = NULL;
	int r;

	r = ledger_exec(conn, sql, p, &res, errbuf, errsize);
	if (r < 0)
		return r;
	if (PQntuples(res) == 0) {
		PQclear(res);
		set_err(errbuf, errsize, "no such run");
		return -ENOENT;
	}
	row_read(res, 0, ret_row);
	PQclear(res);
	return 0;
}

int
chime_ledger_slot_latest(PGconn *conn, const char *job, int64_t local_usec, int occurrence,
                         struct chime_ledger_row *ret_row, char *errbuf, size_t errsize)
{
	struct params p = {0};

	p_str(&p, job);
	p_i64(&p, local_usec);
	p_i64(&p, occurrence);
	return ledger_one_row(conn, chime_sql_runs_slot_latest, &p, ret_row, errbuf, errsize);
}

int
chime_ledger_last_slot(PGconn *conn, const char *job, int64_t at_or_before_usec,
                       struct chime_ledger_row *ret_row, char *errbuf, size_t errsize)
{
	struct params p = {0};

	p_str(&p, job);
	/* INT64_MAX would overflow the timestamp: NULL means no bound. */
	p_opt_i64(&p, at_or_before_usec == INT64_MAX ? INT64_MIN : at_or_before_usec);
	return ledger_one_row(conn, chime_sql_runs_last_slot, &p, ret_row, errbuf, errsize);
}

int
chime_ledger_slots_taken(PGconn *conn, const char *job, int64_t after_usec, int64_t until_usec,
                         int64_t **ret, size_t *ret_n, char *errbuf, size_t errsize)
{
	struct params p = {0};
	PGresult *res = NULL;
	int64_t *v = NULL;
	int r, n;

	p_str(&p, job);
	p_i64(&p, after_usec);
	p_i64(&p, until_usec);
	r = ledger_exec(conn, chime_sql_runs_slots_taken, &p, &res, errbuf, errsize);
	if (r < 0)
		return r;
	n = PQntuples(res);
	if (n > 0 && (v = calloc((size_t)n, sizeof(*v))) == NULL) {
		PQclear(res);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++)
		v[i] = get_i64(res, i, 0);
	PQclear(res);
	*ret = v;
	*ret_n = (size_t)n;
	return 0;
}

int
chime_ledger_last_success(PGconn *conn, const char *job, int64_t *ret_finished_usec, char *errbuf,
                          size_t errsize)
{
	struct params p = {0};
	PGresult *res = NULL;
	int64_t v;
	int r;

	p_str(&p, job);
	r = ledger_exec(conn, chime_sql_runs_last_success, &p, &res, errbuf, errsize);
	if (r < 0)
		return r;
	v = get_i64(res, 0, 0);
	PQclear(res);
	if (v == INT64_MIN)
		return -ENOENT;
	*ret_finished_usec = v;
	return 0;
}

int
chime_ledger_job_busy(PGconn *conn, const char *job, int64_t id, bool *ret_busy, char *errbuf,
                      size_t errsize)
{
	struct params p = {0};
	PGresult *res = NULL;
	int r;

	p_str(&p, job);
	p_i64(&p, id);
	r = ledger_exec(conn, chime_sql_runs_job_busy, &p, &res, errbuf, errsize);
	if (r < 0)
		return r;
	*ret_busy = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return 0;
}

int
chime_ledger_request_cancel(PGconn *conn, const char *job, int64_t except_id, size_t *ret_n,
                            char *errbuf, size_t errsize)
{
	struct params p = {0};
	PGresult *res = NULL;
	int r;

	p_str(&p, job);
	p_i64(&p, except_id);
	r = ledger_exec(conn, chime_sql_runs_request_cancel, &p, &res, errbuf, errsize);
	if (r < 0)
		return r;
	if (ret_n != NULL)
		*ret_n = (size_t)strtoull(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return 0;
}

int
chime_ledger_find_lost(PGconn *conn, size_t max, struct chime_ledger_lost **ret_rows, size_t *ret_n,
                       char *errbuf, size_t errsize)
{
	struct chime_ledger_lost *rows;
	struct params p = {0};
	PGresult *res = NULL;
	int r, n;

	p_i64(&p, (int64_t)(max > 0 ? max : 100));
	r = ledger_exec(conn, chime_sql_runs_find_lost, &p, &res, errbuf, errsize);
	if (r < 0)
		return r;
	n = PQntuples(res);
	rows = calloc(n > 0 ? (size_t)n : 1, sizeof(*rows));
	if (rows == NULL) {
		PQclear(res);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		struct chime_ledger_lost *l = &rows[i];

		l->id = get_i64(res, i, 0);
		snprintf(l->job, sizeof(l->job), "%s", PQgetvalue(res, i, 1));
		l->attempt = (int)get_i64(res, i, 2);
		snprintf(l->node, sizeof(l->node), "%s", PQgetvalue(res, i, 3));
		l->local_usec = get_i64(res, i, 4);
		l->occurrence = (int)get_i64(res, i, 5);
		l->instant_usec = get_i64(res, i, 6);
		l->previous_usec = get_i64(res, i, 7);
		l->heartbeat_usec = get_i64(res, i, 8);
	}
	PQclear(res);
	*ret_rows = rows;
	*ret_n = (size_t)n;
	return 0;
}

int
chime_ledger_recover(PGconn *conn, const struct chime_ledger_lost *lost, bool rerun,
                     const char *node, int64_t lease_usec, int64_t *ret_new_id, char *errbuf,
                     size_t errsize)
{
	struct params p = {0};
	PGresult *res = NULL;
	int64_t n, id;
	int r;

	p_i64(&p, lost->id);
	p_i64(&p, lost->heartbeat_usec);
	p_bool(&p, rerun);
	p_str(&p, node != NULL ? node : "");
	p_i64(&p, lease_usec > 0 ? lease_usec : INT64_C(300000000));
	r = ledger_exec(conn, chime_sql_runs_recover, &p, &res, errbuf, errsize);
	if (r < 0)
		return r;
	n = get_i64(res, 0, 0);
	id = get_i64(res, 0, 1);
	PQclear(res);
	if (n != 1) {
		set_err(errbuf, errsize, "recovered by another node, or alive again");
		return -ESTALE;
	}
	*ret_new_id = id == INT64_MIN ? 0 : id;
	return 0;
}

int
chime_ledger_prune(PGconn *conn, const char *job, int64_t before_usec, int64_t *ret_n, char *errbuf,
                   size_t errsize)
{
	struct params p = {0};
	PGresult *res = NULL;
	int r;

	p_str(&p, job);
	p_i64(&p, before_usec);
	/* The job's newest slot stays: catch-up plans from it. */
	r = ledger_exec(conn, chime_sql_runs_prune, &p, &res, errbuf, errsize);
	if (r < 0)
		return r;
	if (ret_n != NULL)
		*ret_n = strtoll(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return 0;
}

int
chime_ledger_pause(PGconn *conn, const char *job, const char *node, const char *by,
                   const char *note, struct chime_ledger_pause *ret_pause, char *errbuf,
                   size_t errsize)
{
	struct params p = {0};
	PGresult *res = NULL;
	int r;

	p_str(&p, job);
	p_str(&p, node != NULL ? node : "");
	p_str(&p, by != NULL && by[0] != '\0' ? by : NULL);
	p_str(&p, note != NULL && note[0] != '\0' ? note : NULL);
	r = ledger_exec(conn, chime_sql_paused_insert, &p, &res, errbuf, errsize);
	if (r < 0)
		return r;
	if (PQntuples(res) != 1 || PQnfields(res) != 4) {
		PQclear(res);
		snprintf(errbuf, errsize, "pause: unexpected reply from the server");
		return -EPROTO;
	}
	if (ret_pause != NULL) {
		ret_pause->paused_usec = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		snprintf(ret_pause->by, sizeof(ret_pause->by), "%s", PQgetvalue(res, 0, 1));
		snprintf(ret_pause->note, sizeof(ret_pause->note), "%s", PQgetvalue(res, 0, 2));
		ret_pause->created = PQgetvalue(res, 0, 3)[0] == 't';
	}
	PQclear(res);
	return 0;
}

int
chime_ledger_resume(PGconn *conn, const char *job, char *errbuf, size_t errsize)
{
	struct params p = {0};

	p_str(&p, job);
	return ledger_exec(conn, chime_sql_paused_delete, &p, NULL, errbuf, errsize);
}

int
chime_ledger_is_paused(PGconn *conn, const char *job, bool *ret_paused, char *errbuf,
                       size_t errsize)
{
	struct params p = {0};
	PGresult *res = NULL;
	int r;

	p_str(&p, job);
	r = ledger_exec(conn, chime_sql_paused_exists, &p, &res, errbuf, errsize);
	if (r < 0)
		return r;
	*ret_paused = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return 0;
}
