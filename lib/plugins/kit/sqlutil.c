/* SPDX-License-Identifier: MIT */
/*
 * SQL helpers for the built-in business plugins: string building, quoting,
 * catalog checks with messages naming job, table and column, and the
 * batched keyset update with FOR UPDATE SKIP LOCKED. See sqlutil.h.
 */
#include "sqlutil.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "chime/plugin.h"

#include "freemany.h"

void
chime__sql_error_text(const PGresult *res, PGconn *conn, char *buf, size_t size)
{
	const char *msg = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	if (msg == NULL)
		msg = PQerrorMessage(conn);
	snprintf(buf, size, "%.*s", (int)strcspn(msg, "\n"), msg);
}

static enum chime__sql_kind
kind_of(const char *typname, const char *category)
{
	static const struct {
		const char *name;
		enum chime__sql_kind kind;
	} names[] = {
	        {"bool", CHIME_SQL_BOOL},           {"timestamptz", CHIME_SQL_TIMESTAMPTZ},
	        {"timestamp", CHIME_SQL_TIMESTAMP}, {"date", CHIME_SQL_DATE},
	        {"time", CHIME_SQL_TIME},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(typname, names[i].name) == 0)
			return names[i].kind;
	if (strcmp(category, "N") == 0)
		return CHIME_SQL_NUMBER;
	if (strcmp(category, "S") == 0 || strcmp(category, "E") == 0)
		return CHIME_SQL_TEXT;
	return CHIME_SQL_OTHER;
}

struct chime__sql_table *
chime__sql_table_free(struct chime__sql_table *t)
{
	if (t == NULL)
		return NULL;
	for (size_t i = 0; i < t->n_columns; i++) {
		free(t->columns[i].name);
		free(t->columns[i].type);
	}
	chime_free_many(t->columns, t->name, t->quoted, t->schema, t);
	return NULL;
}

void
chime__sql_check_init_run(struct chime__sql_check *k, struct chime_run *run)
{
	*k = (struct chime__sql_check){.conn = chime_run_db(run), .run = run};
}

void
chime__sql_check_init_diags(struct chime__sql_check *k, PGconn *conn,
                            const struct chime_node *options, struct chime_diag_list *diags)
{
	*k = (struct chime__sql_check){.conn = conn, .diags = diags, .options = options};
}

int
chime__sql_check_diags(PGconn *conn, const struct chime_node *options,
                       struct chime_diag_list *diags, chime__sql_schema_fn schema,
                       const void *state)
{
	struct chime__sql_check k;

	chime__sql_check_init_diags(&k, conn, options, diags);
	return schema(&k, state);
}

const struct chime_node *
chime__sql_option_node(const struct chime_node *options, const char *option)
{
	const struct chime_node *n = options;
	char key[64];

	while (n != NULL && option != NULL && *option != '\0') {
		size_t len = strcspn(option, ".");
		const struct chime_node *child;

		if (len >= sizeof(key))
			break;
		memcpy(key, option, len);
		key[len] = '\0';
		child = chime_node_get(n, key);
		if (child == NULL)
			break;
		n = child;
		option += len + (option[len] == '.' ? 1 : 0);
	}
	return n;
}

static void check_vreport(struct chime__sql_check *k, bool error, const char *option,
                          const char *fmt, va_list ap) CHIME_PRINTF(4, 0);

static void
check_vreport(struct chime__sql_check *k, bool error, const char *option, const char *fmt,
              va_list ap)
{
	struct chime_kit_sqlbuf b = {0};
	const struct chime_node *node;

	chime_kit_sqlbuf_vprintf(&b, fmt, ap);
	if (error)
		k->errors++;
	if (k->run != NULL) {
		const char *text = b.data != NULL ? b.data : "out of memory";

		if (!error)
			chime_run_log(k->run, 4, "%s", text);
		else if (k->errors == 1)
			chime_run_fail(k->run, "job '%s': %s", chime_run_job(k->run), text);
	} else if (k->diags != NULL) {
		node = chime__sql_option_node(k->options, option);
		if (error)
			(void)chime_node_error(k->diags, node, "%s", b.data != NULL ? b.data : "");
		else
			(void)chime_node_warning(k->diags, node, "%s",
			                         b.data != NULL ? b.data : "");
	}
	chime_kit_sqlbuf_done(&b);
}

void
chime__sql_check_error(struct chime__sql_check *k, const char *option, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	check_vreport(k, true, option, fmt, ap);
	va_end(ap);
}

void
chime__sql_check_warning(struct chime__sql_check *k, const char *option, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	check_vreport(k, false, option, fmt, ap);
	va_end(ap);
}

int
chime__sql_check_table(struct chime__sql_check *k, const char *option, const char *name,
                       struct chime__sql_table **ret)
{
	static const char sql[] =
	        "SELECT c.oid::int8, n.nspname, a.attname, format_type(a.atttypid, a.atttypmod), "
	        "       bt.typname, bt.typcategory, a.attnum, a.attnotnull, "
	        "       a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '' "
	        "  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
	        "  LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
	        "       AND NOT a.attisdropped "
	        "  LEFT JOIN pg_type t ON t.oid = a.atttypid "
	        "  LEFT JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' "
	        "       THEN t.typbasetype ELSE t.oid END "
	        " WHERE c.oid = to_regclass($1) ORDER BY a.attnum";
	PGconn *conn = k->conn;
	struct chime__sql_table *t = NULL;
	PGresult *res = NULL;
	const char *params[1];
	int r, n;

	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		r = -ENOMEM;
		goto out;
	}
	t->name = strdup(name);
	t->quoted = chime_kit_quote_ident(conn, name);
	if (t->name == NULL || t->quoted == NULL) {
		r = -ENOMEM;
		goto out;
	}
	params[0] = t->quoted;
	res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		chime__sql_check_error(k, option, "cannot read the catalog for table '%s': %s",
		                       name, PQerrorMessage(conn));
		r = -EIO;
		goto out;
	}
	n = PQntuples(res);
	if (n == 0) {
		chime__sql_check_error(k, option, "table '%s' does not exist", name);
		r = -ENOENT;
		goto out;
	}
	t->oid = (unsigned)strtoul(PQgetvalue(res, 0, 0), NULL, 10);
	t->schema = strdup(PQgetvalue(res, 0, 1));
	t->columns = calloc((size_t)n, sizeof(*t->columns));
	if (t->schema == NULL || t->columns == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		struct chime__sql_column *c = &t->columns[t->n_columns];

		if (PQgetisnull(res, i, 2))
			continue;
		c->name = strdup(PQgetvalue(res, i, 2));
		c->type = strdup(PQgetvalue(res, i, 3));
		t->n_columns++;
		if (c->name == NULL || c->type == NULL) {
			r = -ENOMEM;
			goto out;
		}
		c->kind = kind_of(PQgetvalue(res, i, 4), PQgetvalue(res, i, 5));
		c->attnum = atoi(PQgetvalue(res, i, 6));
		c->not_null = strcmp(PQgetvalue(res, i, 7), "t") == 0;
		c->has_default = strcmp(PQgetvalue(res, i, 8), "t") == 0;
	}
	*ret = t;
	t = NULL;
	r = 0;
out:
	if (r == -ENOMEM)
		chime__sql_check_error(k, option, "out of memory");
	PQclear(res);
	chime__sql_table_free(t);
	return r;
}

int
chime__sql_table_load(struct chime_run *run, const char *name, struct chime__sql_table **ret)
{
	struct chime__sql_check k;

	chime__sql_check_init_run(&k, run);
	return chime__sql_check_table(&k, "table", name, ret);
}

static const char *
kind_names(unsigned kinds, char *buf, size_t size)
{
	static const char *const names[] = {
	        [CHIME_SQL_OTHER] = "other",
	        [CHIME_SQL_BOOL] = "boolean",
	        [CHIME_SQL_NUMBER] = "a number",
	        [CHIME_SQL_TEXT] = "text",
	        [CHIME_SQL_TIMESTAMPTZ] = "timestamp with time zone",
	        [CHIME_SQL_TIMESTAMP] = "timestamp",
	        [CHIME_SQL_DATE] = "date",
	        [CHIME_SQL_TIME] = "time",
	};
	size_t len = 0;

	buf[0] = '\0';
	for (unsigned k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		if (!(kinds & (1u << k)))
			continue;
		len += (size_t)snprintf(buf + len, len < size ? size - len : 0, "%s%s",
		                        len > 0 ? " or " : "", names[k]);
		if (len >= size)
			break;
	}
	return buf;
}

const struct chime__sql_column *
chime__sql_check_column(struct chime__sql_check *k, const struct chime__sql_table *t,
                        const char *option, const char *name, unsigned kinds)
{
	char want[160];

	for (size_t i = 0; i < t->n_columns; i++) {
		const struct chime__sql_column *c = &t->columns[i];

		if (strcmp(c->name, name) != 0)
			continue;
		if (kinds != 0 && !(kinds & (1u << c->kind))) {
			chime__sql_check_error(k, option,
			                       "table '%s' column '%s' (option %s) has type %s, "
			                       "expected %s",
			                       t->name, name, option, c->type,
			                       kind_names(kinds, want, sizeof(want)));
			return NULL;
		}
		return c;
	}
	chime__sql_check_error(k, option, "table '%s' has no column '%s' (option %s)", t->name,
	                       name, option);
	return NULL;
}

const struct chime__sql_column *
chime__sql_column_require(struct chime_run *run, const struct chime__sql_table *t,
                          const char *option, const char *name, unsigned kinds)
{
	struct chime__sql_check k;

	chime__sql_check_init_run(&k, run);
	return chime__sql_check_column(&k, t, option, name, kinds);
}

int
chime__sql_check_unique(struct chime__sql_check *k, const struct chime__sql_table *t,
                        const char *option, const char *key)
{
	return chime__sql_check_unique_set(k, t, option, &key, 1);
}

int
chime__sql_require_unique(struct chime_run *run, const struct chime__sql_table *t,
                          const char *option, const char *key)
{
	struct chime__sql_check k;

	chime__sql_check_init_run(&k, run);
	return chime__sql_check_unique(&k, t, option, key);
}

int
chime__sql_check_query(struct chime__sql_check *k, const char *sql, int n,
                       const char *const *params, char *errbuf, size_t errsize)
{
	/* Inside a transaction (check time) a failed statement would abort
	 * it and every later check with it: fence the query in a savepoint. */
	bool fence = PQtransactionStatus(k->conn) == PQTRANS_INTRANS;
	PGresult *res;
	int r = 0;

	if (fence)
		PQclear(PQexec(k->conn, "SAVEPOINT chime_check"));
	res = PQexecParams(k->conn, sql, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK) {
		chime__sql_error_text(res, k->conn, errbuf, errsize);
		r = -EINVAL;
	}
	PQclear(res);
	if (fence)
		PQclear(PQexec(k->conn, r < 0 ? "ROLLBACK TO SAVEPOINT chime_check"
		                              : "RELEASE SAVEPOINT chime_check"));
	return r;
}

static int
batch_sql(const struct chime__sql_batch *b, bool keyset, struct chime_kit_sqlbuf *s)
{
	const char *report = b->report != NULL ? b->report : "";
	const char *comma = b->report != NULL ? ", " : "";
	const char *join = b->join != NULL ? b->join : "";
	int last = (b->dry_run ? b->n_where_params : b->n_params) + 1;

	if (b->dry_run) {
		chime_kit_sqlbuf_printf(s, "SELECT r.%s::text%s%s FROM %s AS r %s WHERE (%s)",
		                        b->key, comma, report, b->table, join, b->where);
		if (keyset)
			chime_kit_sqlbuf_printf(s, " AND r.%s > $%d", b->key, last);
		chime_kit_sqlbuf_printf(s, " ORDER BY r.%s LIMIT %" PRId64, b->key, b->batch_size);
	} else {
		chime_kit_sqlbuf_printf(s, "WITH b AS (SELECT r.%s AS k FROM %s AS r WHERE (%s)",
		                        b->key, b->table, b->where);
		if (keyset)
			chime_kit_sqlbuf_printf(s, " AND r.%s > $%d", b->key, last);
		chime_kit_sqlbuf_printf(
		        s,
		        " ORDER BY r.%s LIMIT %" PRId64 " FOR UPDATE OF r SKIP LOCKED), "
		        "u AS (UPDATE %s AS r SET %s WHERE r.%s = ANY (ARRAY(SELECT k FROM b)) "
		        "RETURNING r.*) "
		        "SELECT r.%s::text%s%s FROM u AS r %s ORDER BY r.%s",
		        b->key, b->batch_size, b->table, b->set, b->key, b->key, comma, report,
		        join, b->key);
	}
	return s->failed ? -ENOMEM : 0;
}

/* A transaction command; fails the run naming it. */
static int
unit_command(struct chime_run *run, PGconn *conn, const char *command)
{
	PGresult *res = PQexec(conn, command);
	char err[512];
	int r = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		chime__sql_error_text(res, conn, err, sizeof(err));
		chime_run_fail(run, "job '%s': %s failed: %s", chime_run_job(run), command, err);
		r = -EIO;
	}
	PQclear(res);
	return r;
}

int
chime__sql_unit_begin(struct chime_run *run, PGconn *conn)
{
	int r = unit_command(run, conn, "BEGIN");

	if (r < 0)
		return r;
	r = chime_run_fence(run, conn);
	if (r < 0)
		chime__sql_unit_rollback(conn);
	return r;
}

int
chime__sql_unit_commit(struct chime_run *run, PGconn *conn)
{
	int r = unit_command(run, conn, "COMMIT");

	if (r < 0)
		chime__sql_unit_rollback(conn);
	return r;
}

void
chime__sql_unit_rollback(PGconn *conn)
{
	if (PQtransactionStatus(conn) != PQTRANS_IDLE)
		PQclear(PQexec(conn, "ROLLBACK"));
}

PGresult *
chime__sql_exec_fenced(struct chime_run *run, PGconn *conn, const char *sql, int n,
                       const char *const *params)
{
	PGresult *res;
	ExecStatusType st;

	if (chime__sql_unit_begin(run, conn) < 0)
		return NULL;
	res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		chime__sql_unit_rollback(conn);
		return res;
	}
	if (chime__sql_unit_commit(run, conn) < 0) {
		PQclear(res);
		return NULL;
	}
	return res;
}

int
chime__sql_batch_run(struct chime_run *run, const struct chime__sql_batch *b, int64_t *ret_rows)
{
	struct chime_kit_sqlbuf first = {0}, next = {0};
	PGconn *conn = chime_run_db(run);
	const char **params = NULL;
	Oid *types = NULL;
	char *last_key = NULL;
	int64_t rows = 0;
	int n_params, r;

	r = batch_sql(b, false, &first);
	if (r >= 0)
		r = batch_sql(b, true, &next);
	n_params = b->dry_run ? b->n_where_params : b->n_params;
	params = calloc((size_t)n_params + 1, sizeof(*params));
	types = calloc((size_t)n_params + 1, sizeof(*types));
	if (r < 0 || params == NULL || types == NULL) {
		chime_run_fail(run, "job '%s': out of memory", chime_run_job(run));
		r = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < n_params; i++) {
		params[i] = b->params[i];
		types[i] = b->param_types != NULL ? b->param_types[i] : 0;
	}

	for (;;) {
		PGresult *res;
		int n;

		if (chime_run_cancelled(run)) {
			chime_run_fail(run, "job '%s': cancelled after %" PRId64 " row(s)",
			               chime_run_job(run), rows);
			r = -ECANCELED;
			goto out;
		}
		params[n_params] = last_key;
		if (!b->dry_run) {
			r = chime__sql_unit_begin(run, conn);
			if (r < 0)
				goto out;
		}
		res = PQexecParams(conn, last_key != NULL ? next.data : first.data,
		                   n_params + (last_key != NULL ? 1 : 0), types, params, NULL, NULL,
		                   0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			chime_run_fail(run,
			               "job '%s': batch on table %s failed after %" PRId64
			               " row(s): %s",
			               chime_run_job(run), b->table, rows, PQerrorMessage(conn));
			PQclear(res);
			r = -EIO;
			goto out;
		}
		n = PQntuples(res);
		for (int i = 0; i < n && b->row_cb != NULL; i++) {
			r = b->row_cb(run, res, i, b->userdata);
			if (r < 0) {
				PQclear(res);
				goto out;
			}
		}
		rows += n;
		if (n > 0) {
			free(last_key);
			last_key = strdup(PQgetvalue(res, n - 1, 0));
			if (last_key == NULL) {
				PQclear(res);
				chime_run_fail(run, "job '%s': out of memory", chime_run_job(run));
				r = -ENOMEM;
				goto out;
			}
		}
		PQclear(res);
		if (!b->dry_run) {
			r = chime__sql_unit_commit(run, conn);
			if (r < 0)
				goto out;
		}
		if (n == 0)
			break;
	}
	*ret_rows = rows;
	r = 0;
out:
	if (r < 0)
		chime__sql_unit_rollback(conn);
	chime_free_many(last_key, params, types);
	chime_kit_sqlbuf_done(&first);
	chime_kit_sqlbuf_done(&next);
	return r;
}
