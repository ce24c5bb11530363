/* SPDX-License-Identifier: MIT */
/*
 * billing: the options that map the plugin onto the application's own
 * schema (configure time, no database): each table's columns, the status
 * words of the subscriptions and payment orders (`status: {column:
 * is_active, active: true, suspended: false}`), optional payment order
 * columns turned off with "", the values of the application's other
 * payment order columns (`values:`), where the saved card is (`card:`)
 * and the installation's idempotency key prefix (`key_prefix:`).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "billing.h"

static const char *const table_groups[] = {"tenants", "subscriptions", "payment_orders", "notices",
                                           NULL};

/* The words each group's status mapping holds, first to last. */
static const struct {
	const char *group;
	enum billing_word first, last;
} group_words[] = {
        {"subscriptions", BILLING_W_ACTIVE, BILLING_W_SUSPENDED},
        {"payment_orders", BILLING_W_PENDING, BILLING_W_UNKNOWN},
};

/* "", "~" or "null": an optional column turned off. */
static bool
mapping_off(const struct chime_node *node)
{
	const char *v = node != NULL ? chime_node_scalar(node) : NULL;

	return v != NULL && (v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0);
}

static bool
is_identifier(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 63 && strchr("0123456789$", s[0]) == NULL &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$") == n;
}

/* `status: COLUMN` or `status: {column: COLUMN, WORD: VALUE, ...}`. */
static int
read_status(struct billing_state *state, const char *group, const struct chime_node *map, int i,
            struct chime_diag_list *diags)
{
	const struct chime_node *node = chime_node_get(map, "status");
	const char *known[8] = {"column"};
	size_t nk = 1;
	int r = 0;

	for (size_t g = 0; g < sizeof(group_words) / sizeof(group_words[0]); g++) {
		if (strcmp(group_words[g].group, group) != 0)
			continue;
		for (int w = (int)group_words[g].first; w <= (int)group_words[g].last; w++) {
			known[nk++] = billing_word_names[w];
			if (node != NULL && chime_node_kind(node) == CHIME_NODE_MAPPING &&
			    chime_node_get_string(node, billing_word_names[w],
			                          billing_word_names[w], diags,
			                          &state->words[w]) < 0)
				r = -EINVAL;
		}
	}
	known[nk] = NULL;
	if (node == NULL || chime_node_kind(node) != CHIME_NODE_MAPPING)
		return chime_node_get_identifier(map, "status", billing_ident_defs[i].def, diags,
		                                 &state->ident[i]);
	if (nk == 1)
		return chime_node_error(diags, node, "expected a column name");
	if (chime_node_check_keys(node, known, diags) < 0)
		r = -EINVAL;
	if (chime_node_get_identifier(node, "column", billing_ident_defs[i].def, diags,
	                              &state->ident[i]) < 0)
		r = -EINVAL;
	return r;
}

/* payment_orders.values: {COLUMN: CONSTANT, COLUMN: {column: SUBSCRIPTION_COLUMN}}. */
static int
read_values(struct billing_state *state, const struct chime_node *map,
            struct chime_diag_list *diags)
{
	static const char *const known[] = {"column", NULL};
	const struct chime_node *values = chime_node_get(map, "values");
	int r = 0;

	if (values == NULL)
		return 0;
	if (chime_node_kind(values) != CHIME_NODE_MAPPING)
		return chime_node_error(diags, values,
		                        "expected a mapping of payment order columns to a constant "
		                        "or {column: a subscriptions column}");
	if (chime_node_count(values) > BILLING_MAX_VALUES)
		return chime_node_error(diags, values, "at most %d columns", BILLING_MAX_VALUES);
	for (size_t i = 0; i < chime_node_count(values); i++) {
		const struct chime_node *v = chime_node_at(values, i);
		struct billing_value *out = &state->values[state->n_values];

		out->column = chime_node_key_at(values, i);
		out->node = v;
		if (!is_identifier(out->column)) {
			r = chime_node_error(diags, v, "'%s' is not a column name", out->column);
			continue;
		}
		if (chime_node_kind(v) == CHIME_NODE_MAPPING) {
			out->from_column = true;
			if (chime_node_check_keys(v, known, diags) < 0 ||
			    chime_node_get_identifier(v, "column", NULL, diags, &out->value) < 0)
				r = -EINVAL;
			else if (out->value == NULL)
				r = chime_node_error(diags, v, "column: required");
		} else if ((out->value = chime_node_scalar(v)) == NULL) {
			r = chime_node_error(
			        diags, v,
			        "expected a constant or {column: a subscriptions column}");
		}
		if (r == 0)
			state->n_values++;
	}
	return r;
}

/* One table's mapping: `GROUP: TABLE` or `GROUP: {table: ..., COLUMN: ...}`. */
static int
read_group(struct billing_state *state, const struct chime_node *options, const char *group,
           struct chime_diag_list *diags)
{
	const struct chime_node *map = chime_node_get(options, group);
	const char *known[24];
	size_t nk = 0;
	int r = 0;

	if (map != NULL && chime_node_kind(map) != CHIME_NODE_SCALAR &&
	    chime_node_kind(map) != CHIME_NODE_MAPPING)
		return chime_node_error(diags, map,
		                        "expected a table name or a mapping of table and columns");
	for (int i = 0; i < BILLING_N_IDENTS; i++) {
		const struct billing_ident_def *d = &billing_ident_defs[i];

		if (strcmp(d->group, group) != 0)
			continue;
		known[nk++] = d->key;
		state->ident[i] = d->def;
		if (map == NULL)
			continue;
		if (chime_node_kind(map) == CHIME_NODE_SCALAR) {
			/* `tenants: app.tenant` names only the table. */
			if (strcmp(d->key, "table") == 0 &&
			    chime_node_get_identifier(options, group, d->def, diags,
			                              &state->ident[i]) < 0)
				r = -EINVAL;
			continue;
		}
		if (d->optional && mapping_off(chime_node_get(map, d->key)))
			state->ident[i] = NULL;
		else if (strcmp(d->key, "status") == 0) {
			if (read_status(state, group, map, i, diags) < 0)
				r = -EINVAL;
		} else if (chime_node_get_identifier(map, d->key, d->def, diags, &state->ident[i]) <
		           0)
			r = -EINVAL;
	}
	if (strcmp(group, "payment_orders") == 0) {
		known[nk++] = "values";
		if (map != NULL && chime_node_kind(map) == CHIME_NODE_MAPPING &&
		    read_values(state, map, diags) < 0)
			r = -EINVAL;
	}
	known[nk] = NULL;
	if (map != NULL && chime_node_kind(map) == CHIME_NODE_MAPPING &&
	    chime_node_check_keys(map, known, diags) < 0)
		r = -EINVAL;
	return r;
}

/* `card: subscription` (its card_saved and card_token columns) or `card:
 * order` (the gateway order id of the latest successful payment order with
 * card_saved); `key_prefix:` letters, digits, '.', '_' and '-'. */
static int
read_charge(struct billing_state *state, const struct chime_node *options,
            struct chime_diag_list *diags)
{
	const char *card = NULL;
	int r = 0;

	if (chime_node_get_string(options, "card", "subscription", diags, &card) < 0)
		r = -EINVAL;
	else if (strcmp(card, "order") == 0)
		state->card_from_orders = true;
	else if (strcmp(card, "subscription") != 0)
		r = chime_node_error(
		        diags, chime_node_get(options, "card"),
		        "'%s': expected subscription (its card_saved and card_token) "
		        "or order (the latest successful payment order with card_saved)",
		        card);
	if (chime_node_get_string(options, "key_prefix", NULL, diags, &state->key_prefix) < 0)
		r = -EINVAL;
	else if (state->key_prefix != NULL &&
	         (state->key_prefix[0] == '\0' || strlen(state->key_prefix) > 64 ||
	          strspn(state->key_prefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                                    "0123456789._-") != strlen(state->key_prefix)))
		r = chime_node_error(diags, chime_node_get(options, "key_prefix"),
		                     "'%s': expected 1 to 64 letters, digits, '.', '_' or '-'",
		                     state->key_prefix);
	return r;
}

int
billing_configure_mapping(struct billing_state *state, const struct chime_node *options,
                          struct chime_diag_list *diags)
{
	int r = 0;

	for (int w = 0; w < BILLING_W_COUNT; w++)
		state->words[w] = billing_word_names[w];
	for (const char *const *g = table_groups; *g != NULL; g++)
		if (read_group(state, options, *g, diags) < 0)
			r = -EINVAL;
	if (state->action == BILLING_ACTION_CHARGE && read_charge(state, options, diags) < 0)
		r = -EINVAL;
	return r;
}
