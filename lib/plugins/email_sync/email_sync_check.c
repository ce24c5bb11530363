/* SPDX-License-Identifier: MIT */
/*
 * The email_sync plugin's schema checks (email_sync_internal.h): the
 * tenants table, and in the first tenant schema (or the search_path) each
 * mapped table and column with a type the statements can use, the emails'
 * unique key on (connection, uidvalidity, uid) that ON CONFLICT needs, the
 * NOT NULL columns of a message chime does not fill, and the index the
 * Message-ID match needs. The same checks run in `chimectl check` (every
 * problem at its option) and at the start of every run, dry or not, which
 * also reads from them the column kinds the plugin adapts to.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <libpq-fe.h>

#include "chime/plugin.h"

#include "email_sync_internal.h"
#include "mapping.h"
#include "sqlutil.h"

#define KIND(k) (1u << CHIME_SQL_##k)
#define TEXT    KIND(TEXT)
#define NUMBER  KIND(NUMBER)
#define STAMP   (KIND(TIMESTAMPTZ) | KIND(TIMESTAMP))

/* The type classes each mapped column may have (0: any). raw is bytea
 * (OTHER) or text. */
static const unsigned column_kinds[N_NAMES] = {
        [N_CONNS_HOST] = TEXT,          [N_CONNS_PORT] = NUMBER,
        [N_CONNS_TLS] = TEXT,           [N_CONNS_USER] = TEXT,
        [N_CONNS_PASSWORD] = TEXT,      [N_CONNS_PASSWORD_REF] = TEXT,
        [N_CONNS_MAILBOX] = TEXT,       [N_CONNS_ACTIVE] = KIND(BOOL),
        [N_CONNS_UIDVALIDITY] = NUMBER, [N_CONNS_LAST_UID] = NUMBER,
        [N_CONNS_LAST_SYNC] = STAMP,    [N_CONNS_LAST_ERROR] = TEXT,
        [N_CONNS_LAST_ERROR_AT] = STAMP, [N_EMAILS_UIDVALIDITY] = NUMBER,
        [N_EMAILS_UID] = NUMBER,        [N_EMAILS_MESSAGE_ID] = TEXT,
        [N_EMAILS_FROM] = TEXT,         [N_EMAILS_TO] = TEXT,
        [N_EMAILS_SUBJECT] = TEXT,      [N_EMAILS_DATE] = STAMP,
        [N_EMAILS_RAW] = TEXT | KIND(OTHER), [N_EMAILS_SIZE] = NUMBER,
};

/* In the check's transaction: the search_path of the schema to check, the
 * first active tenant (or `tenant`). 0, or -EINVAL after an error. */
static int
es_check_tenant(struct chime__sql_check *k, const struct es_config *cfg)
{
	static const struct {
		const char *option;
		unsigned kinds;
	} cols[] = {{"tenants.schema_column", TEXT}, {"tenants.active_column", KIND(BOOL)}};
	const char *names[2] = {cfg->tenants_schema, cfg->tenants_active};
	const struct chime_kit_ident ids[] = {
	        {"tenants.table", cfg->tenants_table},
	        {"tenants.schema_column", cfg->tenants_schema},
	        {"tenants.active_column", cfg->tenants_active},
	};
	struct chime__sql_table *t = NULL;
	struct chime_kit_sqlbuf b = {0};
	const char *params[1] = {cfg->tenant};
	char err[256], schema[256] = "";
	int r;

	if (cfg->tenants_table == NULL) {
		if (cfg->tenant != NULL)
			snprintf(schema, sizeof(schema), "%s", cfg->tenant);
		goto set;
	}
	r = chime__sql_check_table(k, "tenants.table", cfg->tenants_table, &t);
	if (r < 0)
		return r;
	for (size_t i = 0; i < 2; i++)
		(void)chime__sql_check_column(k, t, cols[i].option, names[i], cols[i].kinds);
	chime__sql_table_free(t);
	if (k->errors > 0)
		return -EINVAL;
	r = chime_kit_sql_template(&b, k->conn, CHIME__EMAIL_TENANTS_SQL " LIMIT 1", ids,
	                           sizeof(ids) / sizeof(ids[0]), err, sizeof(err));
	if (r == 0) {
		PGresult *res = PQexecParams(k->conn, b.data, 1, NULL, params, NULL, NULL, 0);

		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			chime__sql_error_text(res, k->conn, err, sizeof(err));
		else if (PQntuples(res) == 1)
			snprintf(schema, sizeof(schema), "%s", PQgetvalue(res, 0, 0));
		r = PQresultStatus(res) == PGRES_TUPLES_OK ? 0 : -EIO;
		PQclear(res);
	}
	chime_kit_sqlbuf_done(&b);
	if (r < 0) {
		chime__sql_check_error(k, "tenants.table", "cannot read the tenants from %s: %s",
		                       cfg->tenants_table, err);
		return -EINVAL;
	}
	if (schema[0] == '\0') {
		chime__sql_check_warning(k, "tenants.table",
		                         "%s has no active tenant%s%s: the email tables were not checked",
		                         cfg->tenants_table, cfg->tenant ? " " : "",
		                         cfg->tenant ? cfg->tenant : "");
		return 1;
	}
set:
	if (schema[0] != '\0') {
		const char *p[1] = {schema};
		PGresult *res = PQexecParams(k->conn,
		                             "SELECT set_config('search_path', quote_ident($1), true)",
		                             1, NULL, p, NULL, NULL, 0);

		r = PQresultStatus(res) == PGRES_TUPLES_OK ? 0 : -EIO;
		PQclear(res);
		if (r < 0) {
			chime__sql_check_error(k, "tenant", "cannot use schema '%s'", schema);
			return -EINVAL;
		}
	}
	return 0;
}

int
chime__email_check_schema(struct chime__sql_check *k, const struct es_config *cfg,
                          const struct chime_kit_name_option *names, struct es_shape *ret_shape)
{
	struct chime__sql_table *conns = NULL, *emails = NULL;
	const char *filled[N_NAMES], *key[3];
	struct es_shape shape = {.raw_bytea = true};
	size_t n_filled = 0;
	int r;

	r = chime__sql_check_table(k, names[N_CONNS].key, cfg->names[N_CONNS], &conns);
	if (chime__sql_check_table(k, names[N_EMAILS].key, cfg->names[N_EMAILS], &emails) < 0)
		r = -EINVAL;
	if (r < 0)
		goto out;
	for (int i = 0; i < N_NAMES; i++) {
		struct chime__sql_table *t = i < N_EMAILS ? conns : emails;
		const struct chime__sql_column *c;

		if (i == N_CONNS || i == N_EMAILS || cfg->names[i] == NULL)
			continue; /* a table, or a column turned off */
		c = chime__sql_check_column(k, t, names[i].key, cfg->names[i], column_kinds[i]);
		if (c == NULL)
			continue;
		shape.notnull[i] = c->not_null;
		if (i == N_EMAILS_RAW)
			shape.raw_bytea = strcmp(c->type, "bytea") == 0;
		if (t == emails)
			filled[n_filled++] = cfg->names[i];
	}
	if (k->errors > 0)
		goto out;
	key[0] = cfg->names[N_EMAILS_CONN];
	key[1] = cfg->names[N_EMAILS_UIDVALIDITY];
	key[2] = cfg->names[N_EMAILS_UID];
	(void)chime__sql_check_unique_set(k, emails, names[N_EMAILS_UID].key, key, 3);
	(void)chime__sql_check_insert_columns(k, emails, names[N_EMAILS].key, filled, n_filled);
	(void)chime__sql_check_index(k, emails, names[N_EMAILS_MESSAGE_ID].key,
	                             cfg->names[N_EMAILS_MESSAGE_ID]);
	if (ret_shape != NULL)
		*ret_shape = shape;
out:
	chime__sql_table_free(conns);
	chime__sql_table_free(emails);
	return k->errors > 0 ? -EINVAL : r;
}

int
chime__email_check(const struct es_config *cfg, const struct chime_kit_name_option *names,
                   PGconn *conn, const struct chime_node *options, struct chime_diag_list *diags)
{
	struct chime__sql_check k;
	int r;

	chime__sql_check_init_diags(&k, conn, options, diags);
	r = es_check_tenant(&k, cfg);
	if (r != 0)
		return r < 0 ? r : 0;
	return chime__email_check_schema(&k, cfg, names, NULL);
}
