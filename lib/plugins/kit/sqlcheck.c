/* SPDX-License-Identifier: MIT */
/*
 * The catalog checks a plugin makes of the application's schema before it
 * changes anything (sqlutil.h): unique keys over one or more columns, the
 * indexes a scan needs, the NOT NULL columns an INSERT must fill, and the
 * values the options write into a column. Each runs at check time (a
 * diagnostic at the option) and at the start of a run (the failure
 * reason, or a warning in the run's log).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "chime/plugin.h"

#include "sqlutil.h"

/* "a, b" quoted, for the messages' CREATE INDEX; NULL on OOM. */
static char *
column_list(PGconn *conn, const char *const *cols, size_t n)
{
	struct chime_kit_sqlbuf b = {0};

	for (size_t i = 0; i < n; i++) {
		char *q = chime_kit_quote_ident(conn, cols[i]);

		if (q == NULL)
			b.failed = true;
		chime_kit_sqlbuf_printf(&b, "%s%s", i > 0 ? ", " : "", q != NULL ? q : "");
		free(q);
	}
	if (b.failed) {
		chime_kit_sqlbuf_done(&b);
		return NULL;
	}
	return b.data;
}

/* The attnums of `cols` as an int2[] literal "{3,5}" into buf; -ENOENT
 * after an error when a column is missing. */
static int
attnum_array(struct chime__sql_check *k, const struct chime__sql_table *t, const char *option,
             const char *const *cols, size_t n, char *buf, size_t size)
{
	size_t len = 0;

	len += (size_t)snprintf(buf, size, "{");
	for (size_t i = 0; i < n; i++) {
		const struct chime__sql_column *c =
		        chime__sql_check_column(k, t, option, cols[i], 0);

		if (c == NULL)
			return -ENOENT;
		len += (size_t)snprintf(buf + len, len < size ? size - len : 0, "%s%d",
		                        i > 0 ? "," : "", c->attnum);
	}
	(void)snprintf(buf + len, len < size ? size - len : 0, "}");
	return len + 1 < size ? 0 : -ENOBUFS;
}

/* Rows of `sql` over ($1 table oid, $2 int2[] of attnums): 1 some, 0
 * none, -EIO after an error. The query runs read-only. */
static int
index_query(struct chime__sql_check *k, const struct chime__sql_table *t, const char *option,
            const char *sql, const char *attnums)
{
	char oid[24];
	const char *params[2] = {oid, attnums};
	PGresult *res;
	int r;

	(void)snprintf(oid, sizeof(oid), "%u", t->oid);
	res = PQexecParams(k->conn, sql, 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		chime__sql_check_error(k, option, "cannot read the indexes of table '%s': %s",
		                       t->name, PQerrorMessage(k->conn));
		r = -EIO;
	} else
		r = PQntuples(res) > 0 ? 1 : 0;
	PQclear(res);
	return r;
}

int
chime__sql_check_unique_set(struct chime__sql_check *k, const struct chime__sql_table *t,
                            const char *option, const char *const *cols, size_t n)
{
	/* Any order of the same columns, no partial or expression index. */
	static const char sql[] = "SELECT 1 FROM pg_index i"
	                          " WHERE i.indrelid = $1::oid AND i.indisunique"
	                          "   AND i.indpred IS NULL AND i.indexprs IS NULL"
	                          "   AND i.indnkeyatts = cardinality($2::int2[])"
	                          "   AND (i.indkey::int2[])[0:i.indnkeyatts - 1] @> $2::int2[]"
	                          " LIMIT 1";
	char attnums[128], *list;
	int r;

	r = attnum_array(k, t, option, cols, n, attnums, sizeof(attnums));
	if (r == -ENOBUFS)
		chime__sql_check_error(k, option, "too many key columns");
	if (r < 0)
		return r;
	r = index_query(k, t, option, sql, attnums);
	if (r != 0)
		return r < 0 ? r : 0;
	if (n == 1) {
		chime__sql_check_error(k, option,
		                       "table '%s' column '%s' (option %s) is not unique: "
		                       "the key needs a primary key or a unique index of its own",
		                       t->name, cols[0], option);
		return -EINVAL;
	}
	list = column_list(k->conn, cols, n);
	chime__sql_check_error(k, option,
	                       "table '%s' has no unique index on (%s) (option %s): the plugin "
	                       "relies on it to never write a row twice; run CREATE UNIQUE INDEX "
	                       "ON %s (%s)",
	                       t->name, list != NULL ? list : "?", option, t->quoted,
	                       list != NULL ? list : "?");
	free(list);
	return -EINVAL;
}

int
chime__sql_check_index(struct chime__sql_check *k, const struct chime__sql_table *t,
                       const char *option, const char *col)
{
	static const char sql[] = "SELECT 1 FROM pg_index i"
	                          " WHERE i.indrelid = $1::oid AND i.indpred IS NULL"
	                          "   AND i.indkey[0] = ($2::int2[])[1] LIMIT 1";
	char attnums[32], *list;
	int r;

	r = attnum_array(k, t, option, &col, 1, attnums, sizeof(attnums));
	if (r < 0)
		return r;
	r = index_query(k, t, option, sql, attnums);
	if (r != 0)
		return r < 0 ? r : 0;
	list = column_list(k->conn, &col, 1);
	chime__sql_check_warning(k, option,
	                         "table '%s' has no index on column '%s' (option %s): each run "
	                         "reads the whole table for it; run CREATE INDEX ON %s (%s)",
	                         t->name, col, option, t->quoted, list != NULL ? list : "?");
	free(list);
	return 0;
}

int
chime__sql_check_insert_columns(struct chime__sql_check *k, const struct chime__sql_table *t,
                                const char *option, const char *const *filled, size_t n)
{
	int missing = 0;

	for (size_t i = 0; i < t->n_columns; i++) {
		const struct chime__sql_column *c = &t->columns[i];
		bool given = false;

		if (!c->not_null || c->has_default)
			continue;
		for (size_t j = 0; j < n && !given; j++)
			given = filled[j] != NULL && strcmp(filled[j], c->name) == 0;
		if (given)
			continue;
		chime__sql_check_error(k, option,
		                       "table '%s' column '%s' is NOT NULL without a default and "
		                       "chime does not fill it (option %s)",
		                       t->name, c->name, option);
		missing++;
	}
	return missing;
}

int
chime__sql_check_value(struct chime__sql_check *k, const struct chime__sql_table *t,
                       const struct chime__sql_column *c, const char *option, const char *value)
{
	struct chime_kit_sqlbuf sql = {0};
	const char *params[1] = {value};
	char err[256];
	PGresult *res;
	bool fence = PQtransactionStatus(k->conn) == PQTRANS_INTRANS;
	int r = 0;

	/* An explicit cast truncates a varchar silently: reading a text
	 * value back tells one that does not fit. Other types only have to
	 * accept it ('now' for a timestamp reads back as the instant). */
	chime_kit_sqlbuf_printf(&sql, "SELECT CAST($1::text AS %s)::text = $1::text OR %s", c->type,
	                        c->kind == CHIME_SQL_TEXT ? "false" : "true");
	if (sql.failed) {
		chime__sql_check_error(k, option, "out of memory");
		return -ENOMEM;
	}
	if (fence)
		PQclear(PQexec(k->conn, "SAVEPOINT chime_check"));
	res = PQexecParams(k->conn, sql.data, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		chime__sql_error_text(res, k->conn, err, sizeof(err));
		r = -EINVAL;
	} else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		(void)snprintf(err, sizeof(err), "it would be stored changed");
		r = -EINVAL;
	}
	PQclear(res);
	if (fence)
		PQclear(PQexec(k->conn, r < 0 ? "ROLLBACK TO SAVEPOINT chime_check"
		                              : "RELEASE SAVEPOINT chime_check"));
	chime_kit_sqlbuf_done(&sql);
	if (r < 0)
		chime__sql_check_error(
		        k, option,
		        "table '%s' column '%s' (option %s) has type %s, which cannot "
		        "hold the value '%s': %s",
		        t->name, c->name, option, c->type, value, err);
	return r;
}
