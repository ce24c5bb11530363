/* SPDX-License-Identifier: MIT */
/*
 * The payouts plugin's schema checks (payouts_internal.h): each mapped
 * table and column exists with a type the statements can use, the
 * invoices' unique key on (user, payout date) that makes a second run of
 * a slot pay nobody twice, the NOT NULL columns of an invoice chime does
 * not fill, and the index the eligibility scan needs on the payment
 * methods' user column. The same checks run in `chimectl check` (every
 * problem at its option) and at the start of every run, dry or not, so a
 * schema that cannot work is refused before anyone is paid.
 */
#include <errno.h>
#include <stddef.h>

#include "chime/plugin.h"

#include "mapping.h"
#include "payouts_internal.h"
#include "sqlutil.h"

#define KIND(k) (1u << CHIME_SQL_##k)

/* The type classes each mapped column may have (0: any). */
static const unsigned column_kinds[P_N_NAMES] = {
        [P_USERS_ID] = KIND(NUMBER),
        [P_USERS_ACTIVE] = KIND(BOOL),
        [P_USERS_BALANCE] = KIND(NUMBER),
        [P_USERS_CURRENCY] = KIND(TEXT),
        [P_METHODS_APPROVED] = KIND(BOOL),
        [P_INVOICES_AMOUNT] = KIND(NUMBER),
        [P_INVOICES_CURRENCY] = KIND(TEXT),
        [P_INVOICES_ADDRESS] = KIND(TEXT),
        [P_INVOICES_DATE] = KIND(DATE) | KIND(TIMESTAMP) | KIND(TIMESTAMPTZ),
};

/* The table each name belongs to: the nearest table entry before it. */
static int
table_of(int name)
{
	while (name != P_USERS && name != P_METHODS && name != P_INVOICES)
		name--;
	return name;
}

int
chime__payouts_check_schema(struct chime__sql_check *k, const struct payouts_config *cfg,
                            const struct chime_kit_name_option *names)
{
	struct chime__sql_table *t[P_N_NAMES] = {0};
	const char *filled[P_N_NAMES];
	const struct chime__sql_column *status = NULL;
	const char *key[2];
	size_t n_filled = 0;
	int r = 0;

	for (int i = 0; i < P_N_NAMES; i++) {
		if (i == table_of(i)) {
			if (chime__sql_check_table(k, names[i].key, cfg->names[i], &t[i]) < 0)
				r = -EINVAL;
			continue;
		}
		if (cfg->names[i] == NULL || t[table_of(i)] == NULL)
			continue;
		const struct chime__sql_column *c = chime__sql_check_column(
		        k, t[table_of(i)], names[i].key, cfg->names[i], column_kinds[i]);
		if (i == P_INVOICES_STATUS)
			status = c;
		if (table_of(i) == P_INVOICES)
			filled[n_filled++] = cfg->names[i];
	}
	if (k->errors > 0)
		goto out;
	key[0] = cfg->names[P_INVOICES_USER];
	key[1] = cfg->names[P_INVOICES_DATE];
	(void)chime__sql_check_unique_set(k, t[P_INVOICES], names[P_INVOICES_DATE].key, key, 2);
	(void)chime__sql_check_insert_columns(k, t[P_INVOICES], names[P_INVOICES].key, filled,
	                                      n_filled);
	(void)chime__sql_check_value(k, t[P_INVOICES], status, "pending_status",
	                             cfg->pending_status);
	(void)chime__sql_check_index(k, t[P_METHODS], names[P_METHODS_USER].key,
	                             cfg->names[P_METHODS_USER]);
out:
	for (int i = 0; i < P_N_NAMES; i++)
		chime__sql_table_free(t[i]);
	return k->errors > 0 ? -EINVAL : r;
}
