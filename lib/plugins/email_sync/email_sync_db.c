/* SPDX-License-Identifier: MIT */
/*
 * The database half of the email_sync plugin (see email_sync.c): the
 * tenants and connections to visit, the transaction that stores a chunk of
 * messages with its last_uid, the error recorded on a connection row, and
 * the per-worker libpq connections opened with the run's conninfo. Reports
 * through the run; never logs otherwise.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "chime/plugin.h"

#include "email_sync.h"
#include "email_sync_internal.h"
#include "freemany.h"
#include "sqlutil.h"

static int
es_exec(PGconn *conn, const char *sql, char *err, size_t errsize)
{
	PGresult *res = PQexec(conn, sql);
	int r = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		chime__sql_error_text(res, conn, err, errsize);
		r = -EIO;
	}
	PQclear(res);
	return r;
}

/* SET search_path to `schema`, or back to the default. The name travels
 * as a parameter and the server quotes it, so a schema name from the
 * tenants table is never SQL text here. */
static int
es_search_path(PGconn *conn, const char *schema, char *err, size_t errsize)
{
	const char *params[1] = {schema};
	PGresult *res;
	int r = 0;

	if (schema == NULL)
		return es_exec(conn, "RESET search_path", err, errsize);
	res = PQexecParams(conn, "SELECT set_config('search_path', quote_ident($1), false)", 1,
	                   NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		chime__sql_error_text(res, conn, err, errsize);
		r = -EIO;
	}
	PQclear(res);
	return r;
}

/* Expand template `tmpl` over the table and column options into `b`. */
static int
es_sql(const struct es_sync *s, PGconn *conn, struct chime_kit_sqlbuf *b, const char *tmpl,
       char *err, size_t errsize)
{
	return chime_kit_sql_template(b, conn, tmpl, s->ids, N_NAMES, err, errsize);
}

static char *
es_strdup_or_null(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : strdup(PQgetvalue(res, row, col));
}

void
chime__email_unit_done(struct es_unit *u)
{
	chime_free_many(u->schema, u->id, u->host, u->tls, u->user, u->password, u->password_ref,
	                u->mailbox);
}

/* Read the active connections of one schema and append them. */
int
chime__email_db_load_units(struct es_sync *s, PGconn *conn, const char *schema,
                           struct es_unit **list, size_t *n)
{
	struct chime_kit_sqlbuf b = {0};
	PGresult *res = NULL;
	char err[256];
	int r;

	r = es_search_path(conn, schema, err, sizeof(err));
	if (r < 0)
		goto fail;
	/* password_ref and mailbox may be turned off (""): NULL stands in. */
	r = es_sql(s, conn, &b,
	           "SELECT {connections_id}::text, {connections_host}::text,"
	           " {connections_port}::int, {connections_tls}::text,"
	           " {connections_username}::text, {connections_password}::text, ",
	           err, sizeof(err));
	if (r == 0)
		r = es_sql(s, conn, &b,
		           s->cfg->names[N_CONNS_PASSWORD_REF] != NULL
		                   ? "{connections_password_ref}::text, "
		                   : "NULL::text, ",
		           err, sizeof(err));
	if (r == 0)
		r = es_sql(s, conn, &b,
		           s->cfg->names[N_CONNS_MAILBOX] != NULL ? "{connections_mailbox}::text,"
		                                                  : "NULL::text,",
		           err, sizeof(err));
	if (r == 0)
		r = es_sql(s, conn, &b,
		           " {connections_uidvalidity}::bigint, {connections_last_uid}::bigint"
		           " FROM {connections_table} WHERE {connections_active}"
		           " ORDER BY {connections_id}",
		           err, sizeof(err));
	if (r < 0)
		goto fail;
	res = PQexec(conn, b.data);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		chime__sql_error_text(res, conn, err, sizeof(err));
		r = -EIO;
		goto fail;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		struct es_unit *nl = realloc(*list, (*n + 1) * sizeof(**list));
		struct es_unit *u;

		if (nl == NULL) {
			r = -ENOMEM;
			snprintf(err, sizeof(err), "out of memory");
			goto fail;
		}
		*list = nl;
		u = &nl[(*n)++];
		memset(u, 0, sizeof(*u));
		u->schema = schema != NULL ? strdup(schema) : NULL;
		u->id = es_strdup_or_null(res, i, 0);
		u->host = es_strdup_or_null(res, i, 1);
		u->port = PQgetisnull(res, i, 2) ? 0 : atoi(PQgetvalue(res, i, 2));
		u->tls = es_strdup_or_null(res, i, 3);
		u->user = es_strdup_or_null(res, i, 4);
		u->password = es_strdup_or_null(res, i, 5);
		u->password_ref = es_strdup_or_null(res, i, 6);
		u->mailbox = es_strdup_or_null(res, i, 7);
		u->has_uidvalidity = !PQgetisnull(res, i, 8);
		u->uidvalidity = u->has_uidvalidity ? strtoull(PQgetvalue(res, i, 8), NULL, 10) : 0;
		u->last_uid =
		        PQgetisnull(res, i, 9) ? 0 : strtoull(PQgetvalue(res, i, 9), NULL, 10);
	}
	r = 0;
	goto out;
fail:
	chime_run_log(s->run, 4, "tenant %s: cannot read %s: %s", schema != NULL ? schema : "-",
	              s->cfg->names[N_CONNS], err);
	chime_run_item(s->run, "tenant %s: cannot read %s: %s", schema != NULL ? schema : "-",
	               s->cfg->names[N_CONNS], err);
	chime__email_note_failure(s, schema != NULL ? schema : "connections", err);
out:
	PQclear(res);
	chime_kit_sqlbuf_done(&b);
	(void)es_search_path(conn, NULL, err, sizeof(err));
	return r;
}

/* The schemas to visit: from the tenants table, or `tenant`, or none. */
int
chime__email_db_load_tenants(struct es_sync *s, PGconn *conn, char ***ret, size_t *ret_n)
{
	const struct es_config *cfg = s->cfg;
	struct chime_kit_sqlbuf b = {0};
	const struct chime_kit_ident ids[] = {
	        {"tenants.table", cfg->tenants_table},
	        {"tenants.schema_column", cfg->tenants_schema},
	        {"tenants.active_column", cfg->tenants_active},
	};
	char **list = NULL, err[256];
	const char *params[1] = {cfg->tenant};
	PGresult *res = NULL;
	size_t n = 0;
	int r;

	if (cfg->tenants_table == NULL) {
		list = calloc(1, sizeof(*list));
		if (list == NULL)
			return -ENOMEM;
		list[0] = cfg->tenant != NULL ? strdup(cfg->tenant) : NULL;
		*ret = list;
		*ret_n = 1;
		return 0;
	}
	r = chime_kit_sql_template(&b, conn, CHIME__EMAIL_TENANTS_SQL, ids, sizeof(ids) / sizeof(ids[0]), err, sizeof(err));
	if (r < 0) {
		chime_run_fail(s->run, "cannot read the tenants from %s: %s", cfg->tenants_table,
		               err);
		goto out;
	}
	res = PQexecParams(conn, b.data, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		chime__sql_error_text(res, conn, err, sizeof(err));
		chime_run_fail(s->run, "cannot read the tenants from %s: %s", cfg->tenants_table,
		               err);
		r = -EIO;
		goto out;
	}
	if (PQntuples(res) == 0 && cfg->tenant != NULL) {
		chime_run_fail(s->run, "tenant '%s' is not an active tenant in %s", cfg->tenant,
		               cfg->tenants_table);
		r = -ENOENT;
		goto out;
	}
	list = calloc((size_t)PQntuples(res) + 1, sizeof(*list));
	if (list == NULL) {
		r = -ENOMEM;
		chime_run_fail(s->run, "out of memory");
		goto out;
	}
	for (int i = 0; i < PQntuples(res); i++)
		if (!PQgetisnull(res, i, 0))
			list[n++] = strdup(PQgetvalue(res, i, 0));
	*ret = list;
	*ret_n = n;
	list = NULL;
	r = 0;
out:
	free(list);
	PQclear(res);
	chime_kit_sqlbuf_done(&b);
	return r;
}

/* Record an error on the connection row (its own short transaction). */
void
chime__email_db_record_error(struct es_sync *s, PGconn *db, const struct es_unit *u,
                             const char *error)
{
	struct chime_kit_sqlbuf b = {0};
	const char *params[2] = {u->id, error};
	char err[256];
	PGresult *res;

	if (db == NULL || s->dry_run)
		return;
	if (es_search_path(db, u->schema, err, sizeof(err)) < 0)
		return;
	if (es_sql(s, db, &b,
	           "UPDATE {connections_table} SET {connections_last_error} = $2,"
	           " {connections_last_error_at} = now() WHERE {connections_id}::text = $1",
	           err, sizeof(err)) == 0) {
		res = PQexecParams(db, b.data, 2, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			chime__sql_error_text(res, db, err, sizeof(err));
			chime_run_log(s->run, 4, "connection %s: cannot record its error: %s",
			              u->id, err);
		}
		PQclear(res);
	}
	chime_kit_sqlbuf_done(&b);
}

/* NULL, or "" where the column is NOT NULL (a Django CharField). */
static const char *
es_text_param(const struct es_sync *s, int name, const char *v)
{
	return v == NULL && s->shape.notnull[name] ? "" : v;
}

/* Is a message with this Message-ID already stored for the connection
 * (under any UIDVALIDITY)? 1 yes, 0 no, -EIO with err set. */
static int
es_seen_message_id(struct es_sync *s, PGconn *db, const char *sql, const struct es_unit *u,
                   const char *mid, char *err, size_t errsize)
{
	const char *params[2] = {u->id, mid};
	PGresult *res;
	int r;

	if (mid == NULL || mid[0] == '\0')
		return 0;
	res = PQexecParams(db, sql, 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		chime__sql_error_text(res, db, err, errsize);
		r = -EIO;
	} else {
		r = PQntuples(res) > 0;
	}
	PQclear(res);
	return r;
}

/*
 * Insert one message under its own savepoint, so that a row the
 * application's table refuses (a value too long for a varchar, a unique
 * Message-ID seen again) skips that message and keeps the chunk. Returns
 * 1 stored, 0 already there, -EBADMSG refused (the reason in err, the
 * transaction still usable), -EIO when the transaction is lost.
 */
static int
es_store_one(struct es_sync *s, PGconn *db, const char *ins, const char *seen,
             const struct es_unit *u, const char *uidvalidity, const struct es_msg *m,
             char *err, size_t errsize)
{
	char uid[24], size[24], date[40];
	char *mid = NULL, *from = NULL, *to = NULL, *subj = NULL, *dh = NULL, *raw_text = NULL;
	const char *params[10];
	int lengths[10] = {0}, formats[10] = {0};
	bool have_date = false;
	PGresult *res = NULL;
	int r;

	snprintf(uid, sizeof(uid), "%" PRIu64, m->uid);
	snprintf(size, sizeof(size), "%" PRIu64, m->size);
	if (m->raw != NULL) {
		mid = chime__email_header(m->raw, m->len, "Message-ID");
		from = chime__email_header_text(m->raw, m->len, "From");
		to = chime__email_header_text(m->raw, m->len, "To");
		subj = chime__email_header_text(m->raw, m->len, "Subject");
		dh = chime__email_header(m->raw, m->len, "Date");
		have_date = dh != NULL && chime__email_parse_date(dh, date, sizeof(date));
	}
	r = es_seen_message_id(s, db, seen, u, mid, err, errsize);
	if (r != 0) {
		r = r > 0 ? 0 : -EIO;
		goto out;
	}
	params[0] = u->id;
	params[1] = uidvalidity;
	params[2] = uid;
	params[3] = mid;
	params[4] = es_text_param(s, N_EMAILS_FROM, from);
	params[5] = es_text_param(s, N_EMAILS_TO, to);
	params[6] = es_text_param(s, N_EMAILS_SUBJECT, subj);
	params[7] = have_date ? date : NULL;
	params[8] = m->raw;
	params[9] = size;
	if (m->raw != NULL && s->shape.raw_bytea) {
		lengths[8] = (int)m->len;
		formats[8] = 1;
	} else if (m->raw != NULL) {
		/* A text column: keep the message only when it is valid UTF-8. */
		raw_text = chime__email_valid_utf8((const unsigned char *)m->raw, m->len)
		                   ? strndup(m->raw, m->len)
		                   : NULL;
		params[8] = raw_text;
	}
	r = es_exec(db, "SAVEPOINT chime_email_message", err, errsize);
	if (r < 0)
		goto out;
	res = PQexecParams(db, ins, 10, NULL, params, lengths, formats, 0);
	if (PQresultStatus(res) == PGRES_COMMAND_OK) {
		r = atoi(PQcmdTuples(res)) > 0 ? 1 : 0;
		if (es_exec(db, "RELEASE SAVEPOINT chime_email_message", err, errsize) < 0)
			r = -EIO;
		goto out;
	}
	chime__sql_error_text(res, db, err, errsize);
	r = -EBADMSG;
	if (PQstatus(db) != CONNECTION_OK) {
		r = -EIO;
	} else {
		char e2[128];

		if (es_exec(db, "ROLLBACK TO SAVEPOINT chime_email_message", e2, sizeof(e2)) < 0)
			r = -EIO;
	}
out:
	PQclear(res);
	chime_free_many(mid, from, to, subj, dh, raw_text);
	return r;
}

/* A refused message: in the report and the log with its UID, counted. */
static void
es_note_refused(struct es_sync *s, const struct es_unit *u, uint64_t uid, const char *why,
                char *note, size_t notesize)
{
	chime_run_count(s->run, "not_stored", 1);
	chime_run_item(s->run, "connection %s%s%s: message UID %" PRIu64 " not stored: %s",
	               u->schema ? u->schema : "", u->schema ? "/" : "", u->id, uid, why);
	chime_run_log(s->run, 4, "connection %s: message UID %" PRIu64 " not stored, skipped: %s",
	              u->id, uid, why);
	if (note[0] == '\0')
		snprintf(note, notesize, "message UID %" PRIu64 " not stored, skipped: %s", uid,
		         why);
}

/* The statements of a chunk, from the templates; 0 or -ENOMEM/-EINVAL. */
static int
es_store_sql(struct es_sync *s, PGconn *db, struct chime_kit_sqlbuf *ins,
             struct chime_kit_sqlbuf *seen, struct chime_kit_sqlbuf *upd, char *err,
             size_t errsize)
{
	snprintf(err, errsize, "out of memory"); /* unless a template says otherwise */
	(void)es_sql(s, db, ins,
	             "INSERT INTO {emails_table} ({emails_connection}, {emails_uidvalidity},"
	             " {emails_uid}, {emails_message_id}, {emails_from}, {emails_to},"
	             " {emails_subject}, {emails_date}, {emails_raw}, {emails_size})"
	             " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9",
	             err, errsize);
	chime_kit_sqlbuf_printf(ins, "%s", s->shape.raw_bytea ? "::bytea" : "::text");
	(void)es_sql(s, db, ins,
	             ", $10) ON CONFLICT ({emails_connection}, {emails_uidvalidity}, {emails_uid})"
	             " DO NOTHING",
	             err, errsize);
	(void)es_sql(s, db, seen,
	             "SELECT 1 FROM {emails_table} WHERE {emails_connection} = $1"
	             " AND {emails_message_id} = $2 LIMIT 1",
	             err, errsize);
	(void)es_sql(s, db, upd,
	             "UPDATE {connections_table} SET {connections_last_uid} ="
	             " CASE WHEN {connections_uidvalidity} IS DISTINCT FROM $2::bigint"
	             " THEN $3::bigint ELSE greatest({connections_last_uid}, $3::bigint) END,"
	             " {connections_uidvalidity} = $2::bigint, {connections_last_sync_at} = now(),"
	             " {connections_last_error} = $4, {connections_last_error_at} ="
	             " CASE WHEN coalesce($5::text, '') = '' THEN {connections_last_error_at}"
	             " ELSE now() END WHERE {connections_id}::text = $1",
	             err, errsize);
	return ins->failed || seen->failed || upd->failed ? -ENOMEM : 0;
}

/*
 * Store `msgs` and advance the connection to `last` in one transaction;
 * `note` ("" for none; the first refused message's reason is written there
 * when it is empty) becomes last_error. Returns 0 or -EIO with err set.
 */
int
chime__email_db_store(struct es_sync *s, PGconn *db, const struct es_unit *u, uint64_t uidvalidity,
                      const struct es_msg *msgs, size_t n, uint64_t last, char *note,
                      size_t notesize, int64_t *ret_inserted, char *err, size_t errsize)
{
	struct chime_kit_sqlbuf ins = {0}, seen = {0}, upd = {0};
	char v[24], last_s[24];
	int64_t inserted = 0, matched = 0;
	PGresult *res;
	int r;

	snprintf(v, sizeof(v), "%" PRIu64, uidvalidity);
	snprintf(last_s, sizeof(last_s), "%" PRIu64, last);
	r = es_store_sql(s, db, &ins, &seen, &upd, err, errsize);
	if (r < 0)
		goto out;
	r = es_search_path(db, u->schema, err, errsize);
	if (r < 0)
		goto out;
	r = es_exec(db, "BEGIN", err, errsize);
	if (r < 0)
		goto out;
	/* Each chunk a fenced unit (on the worker's own connection to the
	 * same database): a node whose claim was recovered stores nothing
	 * more; the run is then cancelled with the fence's reason. */
	if (chime_run_fence(s->run, db) < 0) {
		snprintf(err, errsize, "fenced: the run's claim is no longer this node's");
		r = -EIO;
		goto rollback;
	}
	for (size_t i = 0; i < n; i++) {
		char why[256];

		r = es_store_one(s, db, ins.data, seen.data, u, v, &msgs[i], why, sizeof(why));
		if (r == -EBADMSG) {
			es_note_refused(s, u, msgs[i].uid, why, note, notesize);
			continue;
		}
		if (r < 0) {
			snprintf(err, errsize, "message UID %" PRIu64 ": %s", msgs[i].uid, why);
			goto rollback;
		}
		inserted += r;
		matched += r == 0;
	}
	{
		const char *params[5] = {u->id, v, last_s,
		                         es_text_param(s, N_CONNS_LAST_ERROR, note[0] ? note : NULL),
		                         note[0] ? note : NULL};

		res = PQexecParams(db, upd.data, 5, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			chime__sql_error_text(res, db, err, errsize);
			PQclear(res);
			r = -EIO;
			goto rollback;
		}
		PQclear(res);
	}
	r = es_exec(db, "COMMIT", err, errsize);
	if (r < 0)
		goto out;
	if (matched > 0)
		chime_run_count(s->run, "already_stored", matched);
	*ret_inserted = inserted;
	goto out;
rollback:
	if (PQtransactionStatus(db) != PQTRANS_IDLE) {
		char e2[64];

		(void)es_exec(db, "ROLLBACK", e2, sizeof(e2));
	}
out:
	chime_kit_sqlbuf_done(&ins);
	chime_kit_sqlbuf_done(&seen);
	chime_kit_sqlbuf_done(&upd);
	return r;
}

PGconn *
chime__email_db_connect(struct es_sync *s, char *err, size_t errsize)
{
	PGconn *db = PQconnectdbParams((const char *const *)s->kw, (const char *const *)s->val, 0);
	char sql[96];

	if (PQstatus(db) != CONNECTION_OK) {
		chime__sql_error_text(NULL, db, err, errsize);
		PQfinish(db);
		return NULL;
	}
	snprintf(sql, sizeof(sql), "SET statement_timeout = '%s'", s->statement_timeout);
	if (es_exec(db, sql, err, errsize) < 0) {
		PQfinish(db);
		return NULL;
	}
	return db;
}

int
chime__email_db_prepare(struct es_sync *s, PGconn *conn)
{
	PQconninfoOption *opts = PQconninfo(conn), *o;
	PGresult *res;
	char err[256];
	size_t n = 0;

	if (opts == NULL)
		return -ENOMEM;
	for (o = opts; o->keyword != NULL; o++)
		n++;
	s->kw = calloc(n + 1, sizeof(*s->kw));
	s->val = calloc(n + 1, sizeof(*s->val));
	if (s->kw == NULL || s->val == NULL) {
		PQconninfoFree(opts);
		return -ENOMEM;
	}
	n = 0;
	for (o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL)
			continue;
		s->kw[n] = strdup(o->keyword);
		s->val[n] = strdup(o->val);
		if (s->kw[n] == NULL || s->val[n] == NULL) {
			PQconninfoFree(opts);
			return -ENOMEM;
		}
		n++;
	}
	PQconninfoFree(opts);
	res = PQexec(conn, "SHOW statement_timeout");
	snprintf(s->statement_timeout, sizeof(s->statement_timeout), "%s",
	         PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
	                         strspn(PQgetvalue(res, 0, 0), "0123456789msinhd") ==
	                                 strlen(PQgetvalue(res, 0, 0))
	                 ? PQgetvalue(res, 0, 0)
	                 : "0");
	PQclear(res);
	(void)err;
	return 0;
}

int
chime__email_db_check(struct es_sync *s, PGconn *conn, const struct chime_kit_name_option *names)
{
	struct chime__sql_check k;
	char err[256];
	int r;

	if (s->n_units == 0)
		return 0;
	r = es_search_path(conn, s->units[0].schema, err, sizeof(err));
	if (r < 0) {
		chime_run_fail(s->run, "cannot use schema '%s': %s", s->units[0].schema, err);
		return r;
	}
	chime__sql_check_init_run(&k, s->run);
	r = chime__email_check_schema(&k, s->cfg, names, &s->shape);
	(void)es_search_path(conn, NULL, err, sizeof(err));
	return r;
}
