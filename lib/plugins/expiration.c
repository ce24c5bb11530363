/* SPDX-License-Identifier: MIT */
/*
 * The `expiration` plugin: rows of an application table whose expiry passed
 * (before the run's nominal instant) or whose use count reached its maximum
 * get the expired status and, if configured, a stamp; in keyset batches
 * with FOR UPDATE SKIP LOCKED, one fenced transaction per batch
 * (chime__sql_unit_begin()). The report names each row by its key and an
 * optional label from a related row
 * ("JOHNS-20 (Agent: John Smith)"). With `on_save: true` it also keeps a
 * BEFORE INSERT OR UPDATE trigger that expires a row saved already expired
 * (seed 000's post_save signal), installing or refreshing it at run time.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "chime/plugin.h"

#include "builtin.h"
#include "sqlutil.h"

struct label_segment {
	bool column; /* a {column} placeholder, else literal text */
	char *text;
};

struct expiration {
	const char *table, *key;
	const char *status, *active, *expired;
	const char *expires_at;
	const char *uses, *max, *guard;
	const char *stamp;
	const char *label_join, *label_on, *label_key;
	struct label_segment *label;
	size_t n_label;
	int64_t batch_size;
	bool on_save;
};

static void
expiration_release(void *state)
{
	struct expiration *e = state;

	if (e == NULL)
		return;
	for (size_t i = 0; i < e->n_label; i++)
		free(e->label[i].text);
	free(e->label);
	free(e);
}

static int
label_add(struct expiration *e, bool column, const char *text, size_t len)
{
	struct label_segment *p;

	p = realloc(e->label, (e->n_label + 1) * sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	e->label = p;
	p[e->n_label].column = column;
	p[e->n_label].text = strndup(text, len);
	if (p[e->n_label].text == NULL)
		return -ENOMEM;
	e->n_label++;
	return 0;
}

static bool
is_identifier(const char *s, size_t len)
{
	if (len == 0 || len > 63 || (s[0] >= '0' && s[0] <= '9') || s[0] == '$')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!(c == '_' || c == '$' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		      (c >= 'A' && c <= 'Z')))
			return false;
	}
	return true;
}

/* "Agent: {name}" -> literal "Agent: ", column "name". */
static int
label_parse_format(struct expiration *e, const struct chime_node *node, const char *format,
                   struct chime_diag_list *diags)
{
	const char *p = format;
	int r;

	while (*p != '\0') {
		const char *open = strchr(p, '{'), *close;

		if (open == NULL)
			return label_add(e, false, p, strlen(p));
		if (open > p) {
			r = label_add(e, false, p, (size_t)(open - p));
			if (r < 0)
				return r;
		}
		close = strchr(open, '}');
		if (close == NULL || !is_identifier(open + 1, (size_t)(close - open - 1)))
			return chime_node_error(diags, node,
			                        "'{' must be followed by a column name and '}' "
			                        "(as in \"Agent: {name}\")");
		r = label_add(e, true, open + 1, (size_t)(close - open - 1));
		if (r < 0)
			return r;
		p = close + 1;
	}
	return 0;
}

static int
configure_label(struct expiration *e, const struct chime_node *label, struct chime_diag_list *diags)
{
	static const char *const known[] = {"join", "on", "key", "column", "format", NULL};
	const char *column = NULL, *format = NULL;
	int r = 0;

	if (chime_node_kind(label) != CHIME_NODE_MAPPING) {
		/* `label: name` is short for a column of the row itself. */
		column = chime_node_scalar(label);
		if (column == NULL || !is_identifier(column, strlen(column)))
			return chime_node_error(diags, label,
			                        "expected a column name or a mapping with join, "
			                        "on, key and column or format");
		return label_add(e, true, column, strlen(column));
	}
	r |= chime_node_check_keys(label, known, diags);
	r |= chime_node_get_identifier(label, "join", NULL, diags, &e->label_join);
	r |= chime_node_get_identifier(label, "on", NULL, diags, &e->label_on);
	r |= chime_node_get_identifier(label, "key", "id", diags, &e->label_key);
	r |= chime_node_get_identifier(label, "column", NULL, diags, &column);
	r |= chime_node_get_string(label, "format", NULL, diags, &format);
	if (r != 0)
		return -EINVAL;
	if ((e->label_join == NULL) != (e->label_on == NULL))
		return chime_node_error(diags, label,
		                        "'join' (the related table) and 'on' (the foreign key "
		                        "column of this table) go together");
	if ((column == NULL) == (format == NULL))
		return chime_node_error(diags, label, "give exactly one of 'column' and 'format'");
	if (column != NULL)
		return label_add(e, true, column, strlen(column));
	r = label_parse_format(e, chime_node_get(label, "format"), format, diags);
	if (r < 0)
		return r;
	for (size_t i = 0; i < e->n_label; i++)
		if (e->label[i].column)
			return 0;
	return chime_node_error(diags, chime_node_get(label, "format"),
	                        "the format names no column ({name})");
}

static int
expiration_configure(const struct chime_node *options, struct chime_diag_list *diags,
                     void **ret_state)
{
	static const char *const known[] = {"table",    "key",   "status", "expires_at",
	                                    "max_uses", "stamp", "label",  "batch_size",
	                                    "on_save",  NULL};
	static const char *const status_known[] = {"column", "active", "expired", NULL};
	static const char *const max_known[] = {"uses", "max", "guard", NULL};
	const struct chime_node *status, *max_uses, *label;
	struct expiration *e;
	int r = 0;

	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	/* `options` is a mapping or NULL (the loader checked; plugin.h). */
	r |= chime_node_check_keys(options, known, diags);
	r |= chime_node_get_identifier(options, "table", "referral_codes", diags, &e->table);
	r |= chime_node_get_identifier(options, "key", "code", diags, &e->key);
	r |= chime_node_get_identifier(options, "expires_at", NULL, diags, &e->expires_at);
	r |= chime_node_get_identifier(options, "stamp", NULL, diags, &e->stamp);
	r |= chime_node_get_int(options, "batch_size", 1, 1000000, 10000, diags, &e->batch_size);
	r |= chime_node_get_bool(options, "on_save", false, diags, &e->on_save);

	status = chime_node_get(options, "status");
	if (status != NULL && chime_node_kind(status) != CHIME_NODE_MAPPING) {
		r |= chime_node_error(diags, status,
		                      "expected a mapping {column: COL, active: VALUE, expired: "
		                      "VALUE}");
		status = NULL;
	} else if (status != NULL) {
		r |= chime_node_check_keys(status, status_known, diags);
	}
	r |= chime_node_get_identifier(status, "column", "status", diags, &e->status);
	r |= chime_node_get_string(status, "active", "active", diags, &e->active);
	r |= chime_node_get_string(status, "expired", "inactive", diags, &e->expired);

	max_uses = chime_node_get(options, "max_uses");
	if (max_uses != NULL) {
		if (chime_node_kind(max_uses) != CHIME_NODE_MAPPING) {
			r |= chime_node_error(diags, max_uses,
			                      "expected a mapping {uses: COL, max: COL, guard: "
			                      "COL}");
		} else {
			r |= chime_node_check_keys(max_uses, max_known, diags);
			r |= chime_node_get_identifier(max_uses, "uses", "usage_count", diags,
			                               &e->uses);
			r |= chime_node_get_identifier(max_uses, "max", "max_uses", diags, &e->max);
			r |= chime_node_get_identifier(max_uses, "guard", NULL, diags, &e->guard);
		}
	}
	/* No rule at all: the reference schema's expiry column. */
	if (e->expires_at == NULL && max_uses == NULL)
		e->expires_at = "expires_at";

	label = chime_node_get(options, "label");
	if (label != NULL && configure_label(e, label, diags) < 0)
		r = -EINVAL;
	if (r == 0 && e->active != NULL && e->expired != NULL && strcmp(e->active, e->expired) == 0)
		r = chime_node_error(diags, status,
		                     "the active and expired values are the same ('%s')",
		                     e->active);
	if (r != 0) {
		r = -EINVAL;
		goto out;
	}
	*ret_state = e;
	e = NULL;
out:
	expiration_release(e);
	return r;
}

/* ---- run ------------------------------------------------------------- */

struct expire_ctx {
	const struct expiration *e;
	struct chime_kit_sqlbuf item;
};

static int
expire_row(struct chime_run *run, const PGresult *res, int row, void *userdata)
{
	struct expire_ctx *x = userdata;
	struct chime_kit_sqlbuf *b = &x->item;
	bool any = false;
	int col = 1;

	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
	chime_kit_sqlbuf_printf(b, "%s", PQgetvalue(res, row, 0));
	for (size_t i = 0; i < x->e->n_label; i++)
		if (x->e->label[i].column && !PQgetisnull(res, row, col + (int)i))
			any = true;
	if (any) {
		chime_kit_sqlbuf_printf(b, " (");
		for (size_t i = 0; i < x->e->n_label; i++) {
			const struct label_segment *s = &x->e->label[i];

			if (!s->column)
				chime_kit_sqlbuf_printf(b, "%s", s->text);
			else
				chime_kit_sqlbuf_printf(b, "%s",
				                        PQgetvalue(res, row, col + (int)i));
		}
		chime_kit_sqlbuf_printf(b, ")");
	}
	if (b->failed)
		return -ENOMEM;
	chime_run_item(run, "%s", b->data);
	return 0;
}

/*
 * Append template `tmpl` over the options' names: {table}, {key},
 * {status}, {expires_at}, {uses}, {max}, {guard}, {stamp}, {label_join},
 * {label_on}, {label_key}, and {column} for `column` (a label segment's).
 * Each is quoted once by the kit; a failure (a name invalid in the
 * database's encoding, out of memory) marks `b` failed.
 */
static void
add_sql(struct chime_kit_sqlbuf *b, PGconn *conn, const struct expiration *e, const char *tmpl,
        const char *column)
{
	const struct chime_kit_ident ids[] = {
	        {"table", e->table},
	        {"key", e->key},
	        {"status", e->status},
	        {"expires_at", e->expires_at},
	        {"uses", e->uses},
	        {"max", e->max},
	        {"guard", e->guard},
	        {"stamp", e->stamp},
	        {"label_join", e->label_join},
	        {"label_on", e->label_on},
	        {"label_key", e->label_key},
	        {"column", column},
	};

	(void)chime_kit_sql_template(b, conn, tmpl, ids, sizeof(ids) / sizeof(ids[0]), NULL, 0);
}

/* The SQL for "expired at instant X": X is `now` ("$1::timestamptz" in a
 * batch, "now()" in the trigger) and the zone `zone` for columns without
 * one. Columns are read from `row` ("r" or "NEW"). */
static void
build_predicate(struct chime_kit_sqlbuf *b, PGconn *conn, const struct expiration *e,
                const struct chime__sql_column *exp, const char *row, const char *now,
                const char *zone, const char *active)
{
	chime_kit_sqlbuf_printf(b, "%s.", row);
	add_sql(b, conn, e, "{status}", NULL);
	chime_kit_sqlbuf_printf(b, " = %s AND (", active);
	if (exp != NULL) {
		chime_kit_sqlbuf_printf(b, "%s.", row);
		add_sql(b, conn, e, "{expires_at}", NULL);
		if (exp->kind == CHIME_SQL_TIMESTAMPTZ)
			chime_kit_sqlbuf_printf(b, " < %s", now);
		else if (exp->kind == CHIME_SQL_TIMESTAMP)
			chime_kit_sqlbuf_printf(b, " < (%s AT TIME ZONE %s)", now, zone);
		else
			chime_kit_sqlbuf_printf(b, " < (%s AT TIME ZONE %s)::date", now, zone);
	}
	if (e->uses != NULL) {
		chime_kit_sqlbuf_printf(b, "%s(", exp != NULL ? " OR " : "");
		if (e->guard != NULL) {
			chime_kit_sqlbuf_printf(b, "%s.", row);
			add_sql(b, conn, e, "{guard} IS TRUE AND ", NULL);
		}
		chime_kit_sqlbuf_printf(b, "%s.", row);
		add_sql(b, conn, e, "{uses} >= ", NULL);
		chime_kit_sqlbuf_printf(b, "%s.", row);
		add_sql(b, conn, e, "{max})", NULL);
	}
	chime_kit_sqlbuf_printf(b, ")");
}

/* The value to stamp for instant `now`, by the stamp column's type. */
static void
build_stamp_value(struct chime_kit_sqlbuf *b, const struct chime__sql_column *stamp,
                  const char *now, const char *zone)
{
	if (stamp->kind == CHIME_SQL_TIMESTAMPTZ)
		chime_kit_sqlbuf_printf(b, "%s", now);
	else if (stamp->kind == CHIME_SQL_TIMESTAMP)
		chime_kit_sqlbuf_printf(b, "(%s AT TIME ZONE %s)", now, zone);
	else
		chime_kit_sqlbuf_printf(b, "(%s AT TIME ZONE %s)::date", now, zone);
}

struct checked {
	struct chime__sql_table *table, *join;
	const struct chime__sql_column *expires_at, *stamp;
};

/*
 * Check the table and every column the options name. At check time every
 * problem is reported; at run time the first one is the failure reason.
 */
static int
check_schema(struct chime__sql_check *k, const struct expiration *e, struct checked *c)
{
	const unsigned when =
	        1u << CHIME_SQL_TIMESTAMPTZ | 1u << CHIME_SQL_TIMESTAMP | 1u << CHIME_SQL_DATE;
	const unsigned number = 1u << CHIME_SQL_NUMBER;
	const char *params[2] = {e->active, e->expired};
	struct chime_kit_sqlbuf sql = {0};
	const struct chime__sql_column *status;
	char err[256];
	int r;

	r = chime__sql_check_table(k, "table", e->table, &c->table);
	if (r < 0)
		return r;
	(void)chime__sql_check_unique(k, c->table, "key", e->key);
	status = chime__sql_check_column(k, c->table, "status.column", e->status, 0);
	if (e->expires_at != NULL)
		c->expires_at =
		        chime__sql_check_column(k, c->table, "expires_at", e->expires_at, when);
	if (e->uses != NULL) {
		(void)chime__sql_check_column(k, c->table, "max_uses.uses", e->uses, number);
		(void)chime__sql_check_column(k, c->table, "max_uses.max", e->max, number);
	}
	if (e->guard != NULL)
		(void)chime__sql_check_column(k, c->table, "max_uses.guard", e->guard,
		                              1u << CHIME_SQL_BOOL);
	if (e->stamp != NULL)
		c->stamp = chime__sql_check_column(k, c->table, "stamp", e->stamp, when);
	if (e->label_join != NULL) {
		(void)chime__sql_check_column(k, c->table, "label.on", e->label_on, 0);
		if (chime__sql_check_table(k, "label.join", e->label_join, &c->join) == 0)
			(void)chime__sql_check_unique(k, c->join, "label.key", e->label_key);
	}
	for (size_t i = 0; i < e->n_label; i++)
		if (e->label[i].column && (e->label_join == NULL || c->join != NULL))
			(void)chime__sql_check_column(k, c->join != NULL ? c->join : c->table,
			                              "label", e->label[i].text, 0);
	if (k->errors > 0 || status == NULL)
		return -EINVAL;

	/* The status values must be values of the status column's type. */
	add_sql(&sql, k->conn, e,
	        "SELECT 1 FROM {table} WHERE {status} = $1 OR {status} = $2 LIMIT 0", NULL);
	if (sql.failed) {
		chime_kit_sqlbuf_done(&sql);
		chime__sql_check_error(k, "status", "out of memory");
		return -ENOMEM;
	}
	r = chime__sql_check_query(k, sql.data, 2, params, err, sizeof(err));
	chime_kit_sqlbuf_done(&sql);
	if (r < 0)
		chime__sql_check_error(k, "status",
		                       "table '%s' column '%s' (option status) has type %s, "
		                       "which cannot hold the status values '%s' and '%s': %s",
		                       e->table, e->status, status->type, e->active, e->expired,
		                       err);
	return r;
}

/* ---- on_save trigger -------------------------------------------------- */

static int
trigger_body(PGconn *conn, const struct expiration *e, const struct checked *c, const char *zone,
             char **ret)
{
	struct chime_kit_sqlbuf b = {0}, pred = {0};
	char *active, *expired, *zlit;

	active = PQescapeLiteral(conn, e->active, strlen(e->active));
	expired = PQescapeLiteral(conn, e->expired, strlen(e->expired));
	zlit = PQescapeLiteral(conn, zone, strlen(zone));
	if (active == NULL || expired == NULL || zlit == NULL)
		b.failed = true;
	else
		build_predicate(&pred, conn, e, c->expires_at, "NEW", "now()", zlit, active);
	chime_kit_sqlbuf_printf(&b,
	                        "\nBEGIN\n"
	                        "\t-- Installed by chime (plugin expiration, option on_save):\n"
	                        "\t-- a row saved already expired is expired at once.\n"
	                        "\tIF %s THEN\n"
	                        "\t\tNEW.",
	                        pred.data != NULL ? pred.data : "");
	add_sql(&b, conn, e, "{status}", NULL);
	chime_kit_sqlbuf_printf(&b, " := %s;\n", expired ? expired : "");
	if (c->stamp != NULL) {
		add_sql(&b, conn, e, "\t\tNEW.{stamp} := ", NULL);
		build_stamp_value(&b, c->stamp, "now()", zlit ? zlit : "");
		chime_kit_sqlbuf_printf(&b, ";\n");
	}
	chime_kit_sqlbuf_printf(&b, "\tEND IF;\n\tRETURN NEW;\nEND\n");
	if (pred.failed)
		b.failed = true;
	PQfreemem(active);
	PQfreemem(expired);
	PQfreemem(zlit);
	chime_kit_sqlbuf_done(&pred);
	if (b.failed) {
		chime_kit_sqlbuf_done(&b);
		return -ENOMEM;
	}
	*ret = b.data;
	return 0;
}

/* The trigger and its function are both named "chime_<job>". */
static void
trigger_name(const char *job, char *buf, size_t size)
{
	(void)snprintf(buf, size, "chime_%.57s", job);
}

enum trigger_state { TRIGGER_OK, TRIGGER_MISSING, TRIGGER_OUTDATED };

static int
trigger_inspect(struct chime__sql_check *k, const struct checked *c, const char *name,
                const char *body, enum trigger_state *ret)
{
	static const char sql[] =
	        "SELECT p.prosrc = $3, t.tgenabled <> 'D' AND t.tgfoid = p.oid"
	        "       AND t.tgtype = 23"
	        "  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
	        "  LEFT JOIN pg_trigger t ON t.tgrelid = $4::oid AND t.tgname = $2"
	        " WHERE n.nspname = $1 AND p.proname = $2 AND p.pronargs = 0";
	PGconn *conn = k->conn;
	char oid[24];
	const char *params[4] = {c->table->schema, name, body, oid};
	PGresult *res;
	int r = 0;

	(void)snprintf(oid, sizeof(oid), "%u", c->table->oid);
	res = PQexecParams(conn, sql, 4, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		chime__sql_check_error(k, "on_save",
		                       "cannot inspect the on_save trigger of table '%s': %s",
		                       c->table->name, PQerrorMessage(conn));
		r = -EIO;
	} else if (PQntuples(res) == 0 || PQgetisnull(res, 0, 1)) {
		*ret = TRIGGER_MISSING;
	} else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0 ||
	           strcmp(PQgetvalue(res, 0, 1), "t") != 0) {
		*ret = TRIGGER_OUTDATED;
	} else {
		*ret = TRIGGER_OK;
	}
	PQclear(res);
	return r;
}

/*
 * Install (or replace) the trigger `name` with `body` on the table, in one
 * transaction of its own; the advisory lock serialises nodes doing the
 * same. Returns 0, or a negative errno with the reason in err.
 */
static int
trigger_install(PGconn *conn, const struct expiration *e, const struct checked *c, const char *name,
                const char *body, char *err, size_t errsize)
{
	struct chime_kit_sqlbuf sql = {0};
	/* The function lives in the table's schema, named after the trigger. */
	const struct chime_kit_ident ids[] = {
	        {"table", e->table}, {"schema", c->table->schema}, {"name", name}};
	char *lit = PQescapeLiteral(conn, body, strlen(body));
	PGresult *res;
	int r = 0;

	chime_kit_sqlbuf_printf(&sql,
	                        "BEGIN;\n"
	                        "SET LOCAL client_min_messages = warning;\n"
	                        "SELECT pg_advisory_xact_lock(%u, hashtext('chime_on_save'));\n",
	                        c->table->oid);
	(void)chime_kit_sql_template(&sql, conn,
	                             "CREATE OR REPLACE FUNCTION {schema}.{name}()"
	                             " RETURNS trigger LANGUAGE plpgsql AS ",
	                             ids, 3, NULL, 0);
	chime_kit_sqlbuf_printf(&sql, "%s;\n", lit != NULL ? lit : "");
	(void)chime_kit_sql_template(&sql, conn,
	                             "DROP TRIGGER IF EXISTS {name} ON {table};\n"
	                             "CREATE TRIGGER {name} BEFORE INSERT OR UPDATE ON {table}"
	                             " FOR EACH ROW EXECUTE FUNCTION {schema}.{name}();\n"
	                             "COMMIT;",
	                             ids, 3, NULL, 0);
	if (sql.failed || lit == NULL) {
		(void)snprintf(err, errsize, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	res = PQexec(conn, sql.data);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		(void)snprintf(err, errsize, "cannot install the on_save trigger on table '%s': %s",
		               e->table, PQerrorMessage(conn));
		PQclear(PQexec(conn, "ROLLBACK"));
		r = -EIO;
	}
	PQclear(res);
out:
	PQfreemem(lit);
	chime_kit_sqlbuf_done(&sql);
	return r;
}

static int
trigger_ensure(struct chime_run *run, struct chime__sql_check *k, const struct expiration *e,
               const struct checked *c)
{
	PGconn *conn = chime_run_db(run);
	char name[64], err[512], *body = NULL;
	enum trigger_state state;
	int r;

	trigger_name(chime_run_job(run), name, sizeof(name));
	r = trigger_body(conn, e, c, chime_run_timezone(run), &body);
	if (r < 0) {
		chime_run_fail(run, "job '%s': out of memory", chime_run_job(run));
		return r;
	}
	r = trigger_inspect(k, c, name, body, &state);
	if (r < 0 || state == TRIGGER_OK)
		goto out;
	chime_run_count(run, "trigger_installed", 1);
	chime_run_item(run, "on_save trigger %s on %s: %s%s", name, e->table,
	               state == TRIGGER_MISSING ? "was missing" : "was outdated",
	               chime_run_dry_run(run) ? ", would install it" : ", installed");
	if (chime_run_dry_run(run))
		goto out;
	chime_run_log(run, 5, "on_save trigger '%s' on table '%s' %s, installing it", name,
	              e->table, state == TRIGGER_MISSING ? "is missing" : "is outdated");
	r = trigger_install(conn, e, c, name, body, err, sizeof(err));
	if (r < 0)
		chime_run_fail(run, "job '%s': %s", chime_run_job(run), err);
out:
	free(body);
	return r;
}

/* Rows past the items the report keeps are counted as dropped items; their
 * labels are not looked up. */
#define ITEMS_LABELLED CHIME_RUN_ITEMS_MAX

/*
 * The statement of one batch: lock up to batch_size rows in key order,
 * skipping rows others hold, update them, return their keys in order and
 * the label columns. A joined label is looked up only for the first $5 rows
 * (the report keeps no more); $6 is the last key of the previous batch.
 *
 *   WITH b AS (SELECT r.key AS k FROM t AS r WHERE <pred> AND r.key > $6
 *              ORDER BY r.key LIMIT n FOR UPDATE OF r SKIP LOCKED),
 *        u AS (UPDATE t AS r SET <set> WHERE r.key = ANY (ARRAY(SELECT k FROM b))
 *              RETURNING r.key AS k, <label columns or the join column>)
 *   SELECT u.k::text, <labels> FROM u ORDER BY u.k
 *
 * The key is matched with = ANY so the update probes the key's unique
 * index once per row (a merge join would re-read the index from its start
 * every batch) and re-reads the newest version of each locked row.
 */
static int
batch_statement(PGconn *conn, const struct expiration *e, const struct checked *c,
                const char *where, const char *set, bool keyset, bool tail,
                struct chime_kit_sqlbuf *s)
{
	add_sql(s, conn, e, "WITH b AS (SELECT r.{key} AS k FROM {table} AS r WHERE (", NULL);
	chime_kit_sqlbuf_printf(s, "%s)", where);
	if (keyset)
		add_sql(s, conn, e, " AND r.{key} > $6", NULL);
	chime_kit_sqlbuf_printf(s, " ORDER BY r.");
	add_sql(s, conn, e, "{key}", NULL);
	chime_kit_sqlbuf_printf(s, " LIMIT %" PRId64 " FOR UPDATE OF r SKIP LOCKED), ",
	                        e->batch_size);
	add_sql(s, conn, e, "u AS (UPDATE {table} AS r SET ", NULL);
	chime_kit_sqlbuf_printf(s, "%s", set);
	add_sql(s, conn, e, " WHERE r.{key} = ANY (ARRAY(SELECT k FROM b)) RETURNING r.{key} AS k",
	        NULL);
	if (tail) {
		chime_kit_sqlbuf_printf(s,
		                        ") SELECT count(*)::text, (SELECT k FROM u ORDER BY k DESC "
		                        "LIMIT 1)::text FROM u");
		return s->failed ? -ENOMEM : 0;
	}
	if (c->join != NULL) {
		add_sql(s, conn, e, ", r.{label_on} AS o", NULL);
	} else {
		for (size_t i = 0; i < e->n_label; i++) {
			if (!e->label[i].column)
				continue;
			add_sql(s, conn, e, ", r.{column}::text", e->label[i].text);
			chime_kit_sqlbuf_printf(s, " AS c%zu", i);
		}
	}
	chime_kit_sqlbuf_printf(s, ") SELECT u.k::text");
	for (size_t i = 0; i < e->n_label; i++) {
		if (!e->label[i].column)
			chime_kit_sqlbuf_printf(s, ", NULL");
		else if (c->join == NULL)
			chime_kit_sqlbuf_printf(s, ", u.c%zu", i);
		else
			add_sql(s, conn, e,
			        ", CASE WHEN row_number() OVER (ORDER BY u.k) <= $5"
			        " THEN (SELECT l.{column}::text FROM {label_join} AS l"
			        " WHERE l.{label_key} = u.o) END",
			        e->label[i].text);
	}
	chime_kit_sqlbuf_printf(s, " FROM u ORDER BY u.k");
	return s->failed ? -ENOMEM : 0;
}

/*
 * The batches of a real run, each its own statement and transaction, until
 * one finds nothing. The keyset statements are prepared (unnamed) once
 * each. Once the report keeps no more items, a batch returns only its row
 * count and last key: its rows are counted as dropped items, not sent.
 */
static int
expire_batches(struct chime_run *run, const struct expiration *e, const struct checked *c,
               const char *where, const char *set, const char *const *base, int64_t *ret_rows)
{
	/* timestamptz, text, the status values take the column's type, the
	 * label limit, the last key takes the key's type. */
	static const Oid types[6] = {1184, 25, 0, 0, 23, 0};
	PGconn *conn = chime_run_db(run);
	struct chime_kit_sqlbuf first = {0}, next = {0}, tail = {0};
	struct expire_ctx x = {.e = e};
	const char *params[6], *end;
	char limit[24], *last = NULL;
	const char *prepared = NULL;
	int64_t rows = 0, labelled = 0, n;
	int r;

	r = batch_statement(conn, e, c, where, set, false, false, &first);
	if (r == 0)
		r = batch_statement(conn, e, c, where, set, true, false, &next);
	if (r == 0)
		r = batch_statement(conn, e, c, where, set, true, true, &tail);
	if (r < 0) {
		chime_run_fail(run, "job '%s': out of memory", chime_run_job(run));
		goto out;
	}
	memcpy(params, base, 4 * sizeof(*params));
	params[4] = limit;
	for (;;) {
		bool counted = last != NULL && labelled >= ITEMS_LABELLED;
		const char *sql = counted ? tail.data : next.data;
		PGresult *res;

		if (chime_run_cancelled(run)) {
			chime_run_fail(run, "job '%s': cancelled after %" PRId64 " row(s)",
			               chime_run_job(run), rows);
			r = -ECANCELED;
			goto out;
		}
		(void)snprintf(limit, sizeof(limit), "%" PRId64,
		               labelled < ITEMS_LABELLED ? ITEMS_LABELLED - labelled : 0);
		params[5] = last;
		/* Each batch a fenced unit. BEGIN (a simple query) and the
		 * fence drop the unnamed statement: prepare it again. */
		r = chime__sql_unit_begin(run, conn);
		if (r < 0)
			goto out;
		prepared = NULL;
		if (last == NULL) {
			res = PQexecParams(conn, first.data, 5, types, params, NULL, NULL, 0);
		} else {
			if (prepared != sql) {
				res = PQprepare(conn, "", sql, 6, types);
				if (PQresultStatus(res) != PGRES_COMMAND_OK)
					goto failed;
				PQclear(res);
				prepared = sql;
			}
			res = PQexecPrepared(conn, "", 6, params, NULL, NULL, 0);
		}
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			goto failed;
		if (counted) {
			n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
			end = PQgetvalue(res, 0, 1);
			for (int64_t i = 0; i < n; i++)
				chime_run_item(run, "%s", end);
		} else {
			n = PQntuples(res);
			end = n > 0 ? PQgetvalue(res, (int)n - 1, 0) : NULL;
			for (int i = 0; i < n && r == 0; i++) {
				if (labelled < ITEMS_LABELLED) {
					r = expire_row(run, res, i, &x);
					labelled++;
				} else {
					chime_run_item(run, "%s", PQgetvalue(res, i, 0));
				}
			}
		}
		rows += n;
		if (r == 0 && n > 0) {
			free(last);
			last = strdup(end);
			if (last == NULL) {
				chime_run_fail(run, "job '%s': out of memory", chime_run_job(run));
				r = -ENOMEM;
			}
		}
		PQclear(res);
		if (r == 0)
			r = chime__sql_unit_commit(run, conn);
		if (r < 0)
			goto out;
		if (n == 0)
			break;
		continue;
	failed:
		chime_run_fail(run,
		               "job '%s': batch on table %s failed after %" PRId64 " row(s): %s",
		               chime_run_job(run), c->table->quoted, rows, PQerrorMessage(conn));
		PQclear(res);
		r = -EIO;
		goto out;
	}
	*ret_rows = rows;
out:
	chime__sql_unit_rollback(conn);
	free(last);
	chime_kit_sqlbuf_done(&x.item);
	chime_kit_sqlbuf_done(&first);
	chime_kit_sqlbuf_done(&next);
	chime_kit_sqlbuf_done(&tail);
	return r;
}

static int
expiration_run(void *state, struct chime_run *run)
{
	const struct expiration *e = state;
	PGconn *conn = chime_run_db(run);
	struct checked c = {0};
	struct chime_kit_sqlbuf where = {0}, set = {0}, report = {0}, join = {0};
	struct expire_ctx x = {.e = e};
	struct chime__sql_check k;
	struct chime__sql_batch batch;
	char now[48], *qkey = NULL;
	/* timestamptz, text; the status values take the column's type. */
	static const Oid types[4] = {1184, 25, 0, 0};
	const char *params[4];
	int64_t rows = 0;
	int r;

	if (conn == NULL) {
		chime_run_fail(run, "job '%s': no database connection", chime_run_job(run));
		return -ENOTCONN;
	}
	chime__sql_check_init_run(&k, run);
	r = check_schema(&k, e, &c);
	if (r < 0)
		goto out;
	if (e->on_save) {
		r = trigger_ensure(run, &k, e, &c);
		if (r < 0)
			goto out;
	}

	/* $1 the nominal instant, $2 the job's zone, $3 the active value: the
	 * predicate; $4 the expired value: the update only. */
	(void)chime__sql_format_timestamptz(chime_run_nominal_usec(run), now, sizeof(now));
	params[0] = now;
	params[1] = chime_run_timezone(run);
	params[2] = e->active;
	params[3] = e->expired;
	build_predicate(&where, conn, e, c.expires_at, "r", "$1::timestamptz", "$2::text", "$3");
	qkey = chime_kit_quote_ident(conn, e->key);
	add_sql(&set, conn, e, "{status} = $4", NULL);
	if (c.stamp != NULL) {
		add_sql(&set, conn, e, ", {stamp} = ", NULL);
		build_stamp_value(&set, c.stamp, "$1::timestamptz", "$2::text");
	}
	/* One report column per label segment (NULL for literal text), so
	 * expire_row() indexes the result by segment. */
	for (size_t i = 0; i < e->n_label; i++) {
		chime_kit_sqlbuf_printf(&report, "%s", i > 0 ? ", " : "");
		if (!e->label[i].column)
			chime_kit_sqlbuf_printf(&report, "NULL");
		else if (c.join != NULL)
			add_sql(&report, conn, e, "l.{column}::text", e->label[i].text);
		else
			add_sql(&report, conn, e, "r.{column}::text", e->label[i].text);
	}
	/* label.key is unique (checked), so this is at most one row. */
	if (c.join != NULL)
		add_sql(&join, conn, e,
		        "LEFT JOIN {label_join} AS l ON l.{label_key} = r.{label_on}", NULL);
	if (where.failed || set.failed || report.failed || join.failed || qkey == NULL) {
		chime_run_fail(run, "job '%s': out of memory", chime_run_job(run));
		r = -ENOMEM;
		goto out;
	}

	batch = (struct chime__sql_batch){
	        .table = c.table->quoted,
	        .key = qkey,
	        .where = where.data,
	        .set = set.data,
	        .report = e->n_label > 0 ? report.data : NULL,
	        .join = c.join != NULL ? join.data : NULL,
	        .params = params,
	        .param_types = types,
	        .n_params = 4,
	        .n_where_params = 3,
	        .batch_size = e->batch_size,
	        .dry_run = chime_run_dry_run(run),
	        .row_cb = expire_row,
	        .userdata = &x,
	};
	if (batch.dry_run)
		r = chime__sql_batch_run(run, &batch, &rows);
	else
		r = expire_batches(run, e, &c, where.data, set.data, params, &rows);
	chime_run_count(run, "expired", rows);
out:
	free(qkey);
	chime_kit_sqlbuf_done(&where);
	chime_kit_sqlbuf_done(&set);
	chime_kit_sqlbuf_done(&report);
	chime_kit_sqlbuf_done(&join);
	chime_kit_sqlbuf_done(&x.item);
	chime__sql_table_free(c.table);
	chime__sql_table_free(c.join);
	return r;
}

/* ---- check ----------------------------------------------------------- */

/*
 * `chimectl check`: the schema checks of a run, all problems reported at
 * their options, and with on_save a warning when the trigger a run would
 * install is missing or differs from the installed one (the job's name and
 * zone name the trigger and shape its body). With `install` (`chimectl
 * check --apply`) such a trigger is installed instead, committed, and
 * what was done is described in `done`.
 */
static int
check_or_install(const struct expiration *e, PGconn *conn, const char *job, const char *timezone,
                 const struct chime_node *options, struct chime_diag_list *diags, bool install,
                 char *done, size_t done_size)
{
	struct chime__sql_check k;
	struct checked c = {0};
	enum trigger_state ts;
	char name[64], err[512], *body = NULL;
	int r;

	chime__sql_check_init_diags(&k, conn, options, diags);
	r = check_schema(&k, e, &c);
	if (r < 0 || !e->on_save)
		goto out;
	trigger_name(job, name, sizeof(name));
	r = trigger_body(conn, e, &c, timezone, &body);
	if (r < 0) {
		chime__sql_check_error(&k, "on_save", "out of memory");
		goto out;
	}
	r = trigger_inspect(&k, &c, name, body, &ts);
	if (r < 0 || ts == TRIGGER_OK)
		goto out;
	if (!install) {
		chime__sql_check_warning(
		        &k, "on_save",
		        "on_save trigger '%s' on table '%s' is %s (chimed installs "
		        "it at the next run); `chimectl check --apply` installs it "
		        "now",
		        name, e->table, ts == TRIGGER_MISSING ? "missing" : "outdated");
		goto out;
	}
	r = trigger_install(conn, e, &c, name, body, err, sizeof(err));
	if (r < 0)
		chime__sql_check_error(&k, "on_save", "%s", err);
	else
		(void)snprintf(done, done_size, "on_save trigger '%s' on table '%s' %s", name,
		               e->table, ts == TRIGGER_MISSING ? "installed" : "replaced");
out:
	free(body);
	chime__sql_table_free(c.table);
	chime__sql_table_free(c.join);
	return k.errors > 0 ? -EINVAL : r;
}

static int
expiration_check(void *state, PGconn *conn, const char *job, const char *timezone,
                 const struct chime_node *options, struct chime_diag_list *diags)
{
	return check_or_install(state, conn, job, timezone, options, diags, false, NULL, 0);
}

static int
expiration_apply(void *state, PGconn *conn, const char *job, const char *timezone,
                 const struct chime_node *options, struct chime_diag_list *diags, char *done,
                 size_t done_size)
{
	return check_or_install(state, conn, job, timezone, options, diags, true, done, done_size);
}

const struct chime_plugin chime_plugin_expiration = {
        CHIME_PLUGIN_INIT("expiration", expiration_configure, expiration_run, expiration_release),
        .idempotent = true,
        /* Every batch is fenced (chime__sql_unit_begin). */
        .fences = true,
        .check = expiration_check,
        .needs_database = true,
        .apply = expiration_apply,
};
