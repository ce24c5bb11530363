/* SPDX-License-Identifier: MIT */
/*
 * billing: the schema checks (billing.h, billing_check_schema()), run by
 * `chimectl check` (every problem at its option) and at the start of every
 * run (the first problem fails it before anything changes): each table and
 * column the action uses exists with a type its statements can use, the
 * unique keys behind "one order per period" and "each notice once", the
 * NOT NULL columns of the rows chime inserts, the status words and the
 * constant `values:` the columns must hold, and an index on the payment
 * orders' subscription column (a warning).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "billing.h"
#include "sqlutil.h"

/* The tables, by the letter their columns' placeholders start with. */
enum { T_TENANTS, T_SUBSCRIPTIONS, T_ORDERS, T_NOTICES, T_COUNT };

struct billing_checked {
	struct chime__sql_table *t[T_COUNT];
	const struct chime__sql_column *c[BILLING_N_IDENTS];
};

static int
ident_index(const char *placeholder)
{
	for (int i = 0; i < BILLING_N_IDENTS; i++)
		if (strcmp(billing_ident_defs[i].placeholder, placeholder) == 0)
			return i;
	return -1;
}

/* The option of ident i as written ("subscriptions.status"). */
static void
option_of(int i, char *buf, size_t size)
{
	(void)snprintf(buf, size, "%s.%s", billing_ident_defs[i].group, billing_ident_defs[i].key);
}

static int
table_of(char letter)
{
	return letter == 't'   ? T_TENANTS
	       : letter == 's' ? T_SUBSCRIPTIONS
	       : letter == 'o' ? T_ORDERS
	                       : T_NOTICES;
}

/* A column in use: not turned off, used by the action, the saved card's
 * columns only where `card:` says the card is. */
static bool
column_used(const struct billing_state *state, const char *ph, unsigned used)
{
	unsigned action =
	        state->action == BILLING_ACTION_CHARGE ? BILLING_FOR_CHARGE : BILLING_FOR_STATUS;

	if (!(used & action))
		return false;
	if (strcmp(ph, "s.card_saved") == 0 || strcmp(ph, "s.card_token") == 0)
		return !state->card_from_orders;
	if (strcmp(ph, "o.card_saved") == 0)
		return state->card_from_orders;
	return true;
}

static int
check_tables(const struct billing_state *state, struct chime__sql_check *k,
             struct billing_checked *ck)
{
	static const char *const groups[T_COUNT] = {"tenants", "subscriptions", "payment_orders",
	                                            "notices"};
	bool charge = state->action == BILLING_ACTION_CHARGE;
	char option[64];

	for (int t = 0; t < T_COUNT; t++) {
		int i = ident_index(groups[t]);

		if ((t == T_ORDERS && !charge) || (t == T_NOTICES && charge))
			continue;
		(void)snprintf(option, sizeof(option), "%s.table", groups[t]);
		(void)chime__sql_check_table(k, option, state->ident[i], &ck->t[t]);
	}
	for (int i = 0; i < BILLING_N_IDENTS; i++) {
		const struct billing_ident_def *d = &billing_ident_defs[i];
		int t = table_of(d->placeholder[0]);

		if (strcmp(d->key, "table") == 0 || state->ident[i] == NULL || ck->t[t] == NULL ||
		    !column_used(state, d->placeholder, d->used))
			continue;
		option_of(i, option, sizeof(option));
		ck->c[i] = chime__sql_check_column(k, ck->t[t], option, state->ident[i], d->kinds);
	}
	return k->errors > 0 ? -EINVAL : 0;
}

/* Each status word must be a value of its column's type. */
static void
check_words(const struct billing_state *state, struct chime__sql_check *k,
            const struct billing_checked *ck)
{
	bool charge = state->action == BILLING_ACTION_CHARGE;
	int s = ident_index("s.status"), o = ident_index("o.status");
	char option[64];

	for (int w = 0; w < BILLING_W_COUNT; w++) {
		bool orders = w >= BILLING_W_PENDING;
		int i = orders ? o : s;

		if ((orders && !charge) || ck->c[i] == NULL)
			continue;
		(void)snprintf(option, sizeof(option), "%s.status.%s", billing_ident_defs[i].group,
		               billing_word_names[w]);
		(void)chime__sql_check_value(k, ck->t[orders ? T_ORDERS : T_SUBSCRIPTIONS],
		                             ck->c[i], option, state->words[w]);
	}
}

/* The payment orders chime inserts: their keys, NOT NULL columns, values. */
static void
check_orders(const struct billing_state *state, struct chime__sql_check *k,
             const struct billing_checked *ck)
{
	static const char *const filled_by_chime[] = {
	        "o.subscription_id", "o.period",          "o.amount",     "o.currency",
	        "o.status",          "o.idempotency_key", "o.created_at", "o.updated_at"};
	const char *filled[BILLING_MAX_VALUES + 8];
	size_t n = 0;
	char option[96];

	(void)chime__sql_check_unique(k, ck->t[T_ORDERS], "payment_orders.idempotency_key",
	                              state->ident[ident_index("o.idempotency_key")]);
	(void)chime__sql_check_unique(k, ck->t[T_SUBSCRIPTIONS], "payment_orders.links_to",
	                              state->ident[ident_index("s.link")]);
	for (size_t j = 0; j < sizeof(filled_by_chime) / sizeof(filled_by_chime[0]); j++)
		filled[n++] = state->ident[ident_index(filled_by_chime[j])];
	for (size_t v = 0; v < state->n_values; v++) {
		const struct billing_value *bv = &state->values[v];
		const struct chime__sql_column *c;

		filled[n++] = bv->column;
		(void)snprintf(option, sizeof(option), "payment_orders.values.%s", bv->column);
		c = chime__sql_check_column(k, ck->t[T_ORDERS], option, bv->column, 0);
		if (bv->from_column)
			(void)chime__sql_check_column(k, ck->t[T_SUBSCRIPTIONS], option, bv->value,
			                              0);
		else if (c != NULL)
			(void)chime__sql_check_value(k, ck->t[T_ORDERS], c, option, bv->value);
	}
	(void)chime__sql_check_insert_columns(k, ck->t[T_ORDERS], "payment_orders.values", filled,
	                                      n);
	(void)chime__sql_check_index(k, ck->t[T_ORDERS], "payment_orders.subscription_id",
	                             state->ident[ident_index("o.subscription_id")]);
}

static void
check_notices(const struct billing_state *state, struct chime__sql_check *k,
              const struct billing_checked *ck)
{
	static const char *const filled_by_chime[] = {"n.subscription_id", "n.kind", "n.expires_at",
	                                              "n.recipient", "n.status"};
	const char *filled[5];

	for (size_t j = 0; j < 5; j++)
		filled[j] = state->ident[ident_index(filled_by_chime[j])];
	(void)chime__sql_check_unique_set(k, ck->t[T_NOTICES], "notices", filled, 3);
	(void)chime__sql_check_insert_columns(k, ck->t[T_NOTICES], "notices", filled, 5);
}

int
billing_check_schema(struct chime__sql_check *k, const void *userdata)
{
	const struct billing_state *state = userdata;
	struct billing_checked ck = {0};

	if (check_tables(state, k, &ck) == 0) {
		check_words(state, k, &ck);
		if (state->action == BILLING_ACTION_CHARGE)
			check_orders(state, k, &ck);
		else
			check_notices(state, k, &ck);
	}
	for (int t = 0; t < T_COUNT; t++)
		chime__sql_table_free(ck.t[t]);
	return k->errors > 0 ? -EINVAL : 0;
}

int
billing_check(void *state, PGconn *conn, const char *job, const char *timezone,
              const struct chime_node *options, struct chime_diag_list *diags)
{
	(void)job;
	(void)timezone;
	return chime__sql_check_diags(conn, options, diags, billing_check_schema, state);
}
