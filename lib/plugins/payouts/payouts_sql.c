/* SPDX-License-Identifier: MIT */
/*
 * The two statements of the payouts plugin (see payouts.c), built from the
 * quoted mapping and prepared once per run: the keyset scan of users worth
 * a look, and the batch that locks, judges, invoices and debits them.
 * Reports through the run; never logs otherwise.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "chime/plugin.h"

#include "payouts_internal.h"
#include "sqlutil.h"

/*
 * The keyset scan: the next batch of users worth a look, without locks.
 * It finds users who may be paid and users whose data is wrong (negative
 * balance, more than two decimals) so that those are reported.
 */
char *
chime__payouts_scan_sql(const struct payouts_job *job)
{
	char *const *q = job->q;
	struct chime_kit_sqlbuf b = {0};

	chime_kit_sqlbuf_printf(
	        &b,
	        "SELECT u.%s::text FROM %s AS u WHERE u.%s > $1 AND u.%s IS TRUE"
	        " AND (u.%s >= $2 OR u.%s < 0 OR u.%s <> round(u.%s, 2))"
	        " AND (SELECT true FROM %s AS m WHERE m.%s = u.%s AND m.%s IS TRUE LIMIT 1)"
	        " AND (NOT $5 OR (SELECT true FROM %s AS i"
	        " WHERE i.%s = u.%s AND i.%s < $3 LIMIT 1))",
	        q[P_USERS_ID], q[P_USERS], q[P_USERS_ID], q[P_USERS_ACTIVE], q[P_USERS_BALANCE],
	        q[P_USERS_BALANCE], q[P_USERS_BALANCE], q[P_USERS_BALANCE], q[P_METHODS],
	        q[P_METHODS_USER], q[P_USERS_ID], q[P_METHODS_APPROVED], q[P_INVOICES],
	        q[P_INVOICES_USER], q[P_USERS_ID], q[P_INVOICES_DATE]);
	if (q[P_USERS_CURRENCY] != NULL)
		chime_kit_sqlbuf_printf(
		        &b, " AND ($4::text IS NULL OR u.%s IS NULL OR u.%s::text IN ($4, ''))",
		        q[P_USERS_CURRENCY], q[P_USERS_CURRENCY]);
	else
		chime_kit_sqlbuf_printf(&b, " AND ($4::text IS NULL OR true)");
	chime_kit_sqlbuf_printf(&b, " ORDER BY u.%s LIMIT $6", q[P_USERS_ID]);
	if (b.failed) {
		free(b.data);
		return NULL;
	}
	return b.data;
}

/*
 * One batch: lock the users (in id order, so two runs never deadlock),
 * judge each locked row, insert the invoices, take the invoiced amounts
 * off the balances of exactly the users whose invoice was inserted, and
 * return one row per user: id, email, balance as stored, the amount with
 * two decimals, currency, outcome ("paid", "bad:why", "skip:why"), how
 * many balances were changed (must equal the paid rows), and whether the
 * invoice's amount differs from the balance locked (an invoices column
 * that rounds): either check failing rolls the batch back. A dry run
 * selects the same judgement without locks and changes nothing.
 */
char *
chime__payouts_pay_sql(const struct payouts_job *job)
{
	char *const *q = job->q;
	struct chime_kit_sqlbuf b = {0};
	const char *cur = q[P_USERS_CURRENCY];
	static const struct {
		int name;
		const char *value;
	} optional[] = {
	        {P_INVOICES_CURRENCY, "j.cur"},
	        {P_INVOICES_METHOD, "j.method_id"},
	        {P_INVOICES_ADDRESS, "j.address"},
	        {P_INVOICES_RUN, "$7"},
	};

	chime_kit_sqlbuf_printf(
	        &b,
	        "WITH locked AS (SELECT u.%s AS id, u.%s::text AS email, u.%s AS active,"
	        " u.%s AS balance, ",
	        q[P_USERS_ID], q[P_USERS_EMAIL], q[P_USERS_ACTIVE], q[P_USERS_BALANCE]);
	if (cur != NULL)
		chime_kit_sqlbuf_printf(&b, "u.%s::text AS cur", cur);
	else
		chime_kit_sqlbuf_printf(&b, "$6::text AS cur");
	chime_kit_sqlbuf_printf(&b, " FROM %s AS u WHERE u.%s = ANY ($1) ORDER BY u.%s%s),",
	                     q[P_USERS], q[P_USERS_ID], q[P_USERS_ID],
	                     job->dry_run ? "" : " FOR UPDATE OF u");
	chime_kit_sqlbuf_printf(
	        &b,
	        " judged AS (SELECT l.*, pm.id AS method_id, pm.address, CASE"
	        " WHEN l.active IS NOT TRUE THEN 'skip:inactive'"
	        " WHEN l.balance < 0 THEN 'bad:negative balance'"
	        " WHEN l.balance <> round(l.balance, 2) THEN 'bad:more than two decimals'"
	        " WHEN l.cur IS NULL OR btrim(l.cur) = '' THEN 'bad:currency missing'"
	        " WHEN $4::text IS NOT NULL AND l.cur <> $4 THEN 'skip:other currency'"
	        " WHEN l.balance < $2 THEN 'skip:below minimum'"
	        " WHEN pm.id IS NULL AND (SELECT true FROM %s AS m WHERE m.%s = l.id"
	        " AND m.%s IS TRUE LIMIT 1) THEN 'bad:approved payment method has an empty address'"
	        " WHEN pm.id IS NULL THEN 'skip:no approved payment method'"
	        " WHEN $5 AND (SELECT true FROM %s AS i WHERE i.%s = l.id AND i.%s < $3"
	        " LIMIT 1) IS NULL THEN 'skip:first-time user'"
	        " WHEN (SELECT true FROM %s AS i WHERE i.%s = l.id AND i.%s = $3 LIMIT 1)"
	        " THEN 'skip:already invoiced' END AS outcome"
	        " FROM locked AS l LEFT JOIN LATERAL (SELECT m.%s AS id, m.%s::text AS address"
	        " FROM %s AS m WHERE m.%s = l.id AND m.%s IS TRUE"
	        " AND btrim(coalesce(m.%s::text, '')) <> '' ORDER BY m.%s LIMIT 1) AS pm ON true)",
	        q[P_METHODS], q[P_METHODS_USER], q[P_METHODS_APPROVED], q[P_INVOICES],
	        q[P_INVOICES_USER], q[P_INVOICES_DATE], q[P_INVOICES], q[P_INVOICES_USER],
	        q[P_INVOICES_DATE], q[P_METHODS_ID], q[P_METHODS_ADDRESS], q[P_METHODS],
	        q[P_METHODS_USER], q[P_METHODS_APPROVED], q[P_METHODS_ADDRESS], q[P_METHODS_ID]);
	if (job->dry_run) {
		chime_kit_sqlbuf_printf(
		        &b,
		        " SELECT j.id::text, j.email, j.balance::text,"
		        " round(j.balance, 2)::text, j.cur, coalesce(j.outcome, 'paid'), 0, false"
		        " FROM judged AS j ORDER BY j.id");
		goto out;
	}
	chime_kit_sqlbuf_printf(&b, ", inserted AS (INSERT INTO %s AS i (%s, %s, %s, %s",
	                     q[P_INVOICES], q[P_INVOICES_USER], q[P_INVOICES_AMOUNT],
	                     q[P_INVOICES_STATUS], q[P_INVOICES_DATE]);
	for (size_t k = 0; k < sizeof(optional) / sizeof(optional[0]); k++)
		if (q[optional[k].name] != NULL)
			chime_kit_sqlbuf_printf(&b, ", %s", q[optional[k].name]);
	chime_kit_sqlbuf_printf(&b, ") SELECT j.id, j.balance, $8, $3");
	for (size_t k = 0; k < sizeof(optional) / sizeof(optional[0]); k++)
		if (q[optional[k].name] != NULL)
			chime_kit_sqlbuf_printf(&b, ", %s", optional[k].value);
	chime_kit_sqlbuf_printf(&b, " FROM judged AS j WHERE j.outcome IS NULL ORDER BY j.id");
	chime_kit_sqlbuf_printf(
	        &b,
	        " ON CONFLICT (%s, %s) DO NOTHING RETURNING i.%s AS id, i.%s AS amount),"
	        " zeroed AS (UPDATE %s AS u SET %s = u.%s - n.amount FROM inserted AS n"
	        " WHERE u.%s = n.id RETURNING u.%s)"
	        " SELECT j.id::text, j.email, j.balance::text,"
	        " round(coalesce(n.amount, j.balance), 2)::text, j.cur, CASE WHEN n.id IS "
	        "NOT NULL THEN 'paid'"
	        " ELSE coalesce(j.outcome, 'skip:already invoiced') END,"
	        " (SELECT count(*) FROM zeroed), coalesce(n.amount <> j.balance, false)"
	        " FROM judged AS j LEFT JOIN inserted AS n ON n.id = j.id ORDER BY j.id",
	        q[P_INVOICES_USER], q[P_INVOICES_DATE], q[P_INVOICES_USER], q[P_INVOICES_AMOUNT],
	        q[P_USERS], q[P_USERS_BALANCE], q[P_USERS_BALANCE], q[P_USERS_ID], q[P_USERS_ID]);
out:
	if (b.failed) {
		free(b.data);
		return NULL;
	}
	return b.data;
}

int
chime__payouts_prepare_one(struct payouts_job *job, const char *name, const char *sql, int n,
                           const unsigned *types)
{
	PGresult *res;
	char err[256];

	res = PQprepare(job->conn, name, sql, n, types);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		if (state != NULL && strcmp(state, "42P05") == 0) {
			/* Left over by an earlier run on this pooled connection. */
			PQclear(res);
			char dealloc[64];

			snprintf(dealloc, sizeof(dealloc), "DEALLOCATE %s", name);
			if (chime__payouts_exec(job, dealloc, err, sizeof(err)) == 0)
				return chime__payouts_prepare_one(job, name, sql, n, types);
			chime_run_fail(job->run, "cannot prepare the payout statements: %s", err);
			return -EIO;
		}
		chime__sql_error_text(res, job->conn, err, sizeof(err));
		PQclear(res);
		chime_run_fail(job->run,
		               "the tables do not match the payouts options "
		               "(users_table, methods_table, invoices_table and their columns; "
		               "invoices need a unique key on (user, payout date)): %s",
		               err);
		return -EINVAL;
	}
	PQclear(res);
	return 0;
}
