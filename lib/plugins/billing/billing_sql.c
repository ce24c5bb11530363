/* SPDX-License-Identifier: MIT */
/*
 * billing: SQL text over the application's schema (billing.h,
 * billing_sql_build()) and the installation's idempotency key prefix.
 * Three passes over a statement template, each simple on its own:
 *   1. [[name|text]] sections kept or dropped by the mapping (an optional
 *      column turned off, where the saved card is);
 *   2. {placeholder} identifiers quoted once by the kit's template;
 *   3. {=word} literals (the application's status words), the other
 *      payment order columns with their values, and {=expires}, the
 *      subscription's expiry as an instant (a column without time zone
 *      holds the job's local wall time), quoted here.
 * Pass 3 runs last so that nothing from the options is ever read as a
 * placeholder.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing.h"
#include "sqltext.h"
#include "sqlutil.h"

/* Whether section `name` (its length `len`) is kept. */
static bool
section_kept(const struct billing_state *state, const char *name, size_t len)
{
	if (len == 10 && strncmp(name, "card.order", len) == 0)
		return state->card_from_orders;
	if (len == 8 && strncmp(name, "card.sub", len) == 0)
		return !state->card_from_orders;
	for (int i = 0; i < BILLING_N_IDENTS; i++)
		if (strlen(billing_ident_defs[i].placeholder) == len &&
		    strncmp(billing_ident_defs[i].placeholder, name, len) == 0)
			return state->ident[i] != NULL;
	return false;
}

/* Pass 1. Returns 0, or -EINVAL with the reason in err (a bug). */
static int
sections(const struct billing_state *state, const char *tmpl, struct chime_kit_sqlbuf *out,
         char *err, size_t errsize)
{
	const char *p = tmpl, *open, *bar, *close;

	while ((open = strstr(p, "[[")) != NULL) {
		chime_kit_sqlbuf_printf(out, "%.*s", (int)(open - p), p);
		bar = strchr(open, '|');
		close = strstr(open, "]]");
		if (bar == NULL || close == NULL || bar > close) {
			snprintf(err, errsize, "malformed section at '%.20s'", open);
			return -EINVAL;
		}
		if (section_kept(state, open + 2, (size_t)(bar - open - 2)))
			chime_kit_sqlbuf_printf(out, "%.*s", (int)(close - bar - 1), bar + 1);
		p = close + 2;
	}
	chime_kit_sqlbuf_printf(out, "%s", p);
	return 0;
}

/* Append `text` quoted as a literal (false) or an identifier (true). */
static void
append_quoted(struct chime_kit_sqlbuf *out, PGconn *conn, const char *text, bool ident)
{
	char *q = ident ? chime_kit_quote_ident(conn, text)
	                : PQescapeLiteral(conn, text, strlen(text));

	if (q == NULL) {
		out->failed = true;
		return;
	}
	chime_kit_sqlbuf_printf(out, "%s", q);
	if (ident)
		free(q);
	else
		PQfreemem(q);
}

/* What the markers need besides the state: the subscriptions' expiry
 * column read as an instant. */
struct marker_ctx {
	const struct billing_state *state;
	PGconn *conn;
	const char *zone; /* a naive expiry's zone, the job's; NULL: timestamptz */
};

/* The text of marker {=name}; -ENOENT for an unknown one. */
static int
marker(const struct marker_ctx *m, const char *name, size_t len, struct chime_kit_sqlbuf *out)
{
	const struct billing_state *state = m->state;
	PGconn *conn = m->conn;
	bool columns = len == 14 && strncmp(name, "values.columns", len) == 0;

	if (len == 7 && strncmp(name, "expires", len) == 0) {
		/* A column without time zone holds the wall time in the job's
		 * zone: AT TIME ZONE makes it the instant. */
		chime_kit_sqlbuf_printf(out, "%ss.", m->zone != NULL ? "(" : "");
		append_quoted(out, conn, state->ident[BILLING_I_EXPIRES_AT], true);
		if (m->zone != NULL) {
			chime_kit_sqlbuf_printf(out, " AT TIME ZONE ");
			append_quoted(out, conn, m->zone, false);
			chime_kit_sqlbuf_printf(out, ")");
		}
		return 0;
	}

	if (columns || (len == 13 && strncmp(name, "values.select", len) == 0)) {
		for (size_t i = 0; i < state->n_values; i++) {
			const struct billing_value *v = &state->values[i];

			chime_kit_sqlbuf_printf(out, ", %s",
			                        columns || !v->from_column ? "" : "s.");
			append_quoted(out, conn, columns ? v->column : v->value,
			              columns || v->from_column);
		}
		return 0;
	}
	for (int w = 0; w < BILLING_W_COUNT; w++)
		if (strlen(billing_word_names[w]) == len &&
		    strncmp(billing_word_names[w], name, len) == 0) {
			append_quoted(out, conn, state->words[w], false);
			return 0;
		}
	return -ENOENT;
}

/* Pass 3. Returns 0, or a negative errno with the reason in err. */
static int
markers(const struct marker_ctx *m, const char *sql, struct chime_kit_sqlbuf *out, char *err,
        size_t errsize)
{
	const char *p = sql, *open, *close;

	while ((open = strstr(p, "{=")) != NULL) {
		chime_kit_sqlbuf_printf(out, "%.*s", (int)(open - p), p);
		close = strchr(open, '}');
		if (close == NULL || marker(m, open + 2, (size_t)(close - open - 2), out) < 0) {
			snprintf(err, errsize, "unknown marker at '%.20s'", open);
			return -EINVAL;
		}
		p = close + 1;
	}
	chime_kit_sqlbuf_printf(out, "%s", p);
	return out->failed ? -ENOMEM : 0;
}

int
billing_sql_build(const struct billing_state *state, struct chime_run *run, PGconn *conn,
                  const char *const *tmpls, int n, char **ret_sql)
{
	struct marker_ctx m = {.state = state, .conn = conn};
	struct chime_kit_ident ids[BILLING_N_IDENTS];
	struct chime__sql_table *t = NULL;
	char err[256] = "out of memory";

	assert(strcmp(billing_ident_defs[BILLING_I_EXPIRES_AT].placeholder, "s.expires_at") == 0 &&
	       strcmp(billing_ident_defs[BILLING_I_SUBSCRIPTIONS].placeholder, "subscriptions") ==
	               0);
	/* The expiry's type: the catalog was checked just before. */
	if (chime__sql_table_load(run, state->ident[BILLING_I_SUBSCRIPTIONS], &t) < 0)
		return -EIO;
	for (size_t i = 0; i < t->n_columns; i++)
		if (strcmp(t->columns[i].name, state->ident[BILLING_I_EXPIRES_AT]) == 0 &&
		    t->columns[i].kind == CHIME_SQL_TIMESTAMP)
			m.zone = chime_run_timezone(run);
	chime__sql_table_free(t);
	for (int i = 0; i < BILLING_N_IDENTS; i++)
		ids[i] = (struct chime_kit_ident){billing_ident_defs[i].placeholder,
		                                  state->ident[i]};
	for (int i = 0; i < n; i++) {
		struct chime_kit_sqlbuf a = {0}, b = {0}, c = {0};
		int r;

		r = sections(state, tmpls[i], &a, err, sizeof(err));
		if (r >= 0 && !a.failed)
			r = chime_kit_sql_template(&b, conn, a.data, ids, BILLING_N_IDENTS, err,
			                           sizeof(err));
		if (r >= 0 && !a.failed && !b.failed)
			r = markers(&m, b.data, &c, err, sizeof(err));
		if (a.failed || b.failed)
			r = -ENOMEM;
		chime_kit_sqlbuf_done(&a);
		chime_kit_sqlbuf_done(&b);
		if (r < 0) {
			chime_kit_sqlbuf_done(&c);
			chime_run_fail(run, "cannot build SQL: %s", err);
			return r;
		}
		ret_sql[i] = c.data;
	}
	return 0;
}

int
billing_key_prefix(const struct billing_state *state, struct chime_run *run, char *buf, size_t size)
{
	PGconn *conn = chime_run_db(run);
	PGresult *res;
	char err[256];

	if (state->key_prefix != NULL) {
		snprintf(buf, size, "%s", state->key_prefix);
		return 0;
	}
	/* Staging restored from production's backup keeps this identifier:
	 * such an installation sets key_prefix: itself (chime-plugins(7)). */
	res = PQexec(conn, "SELECT system_identifier::text FROM pg_control_system()");
	if (!billing_ok(res) || PQntuples(res) != 1) {
		chime_run_fail(run,
		               "cannot read the database's system identifier for the idempotency "
		               "key prefix (set key_prefix: to name this installation): %s",
		               billing_pg_error(conn, res, err, sizeof(err)));
		PQclear(res);
		return -EIO;
	}
	snprintf(buf, size, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}
