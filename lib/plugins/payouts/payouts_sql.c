/* SPDX-License-Identifier: MIT */
/*
 * The two statements of the payouts plugin (see payouts.c), templates over
 * the option mapping (chime_kit_sql_template(): {users_id} is the users_id
 * option's column, quoted once), prepared once per run: the keyset scan of users worth
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
static const char scan_sql[] =
        "SELECT u.{users_id}::text FROM {users_table} AS u"
        " WHERE u.{users_id} > $1 AND u.{users_active} IS TRUE"
        " AND (u.{users_balance} >= $2 OR u.{users_balance} < 0"
        " OR u.{users_balance} <> round(u.{users_balance}, 2))"
        " AND (SELECT true FROM {methods_table} AS m"
        " WHERE m.{methods_user} = u.{users_id} AND m.{methods_approved} IS TRUE LIMIT 1)"
        " AND (NOT $5 OR (SELECT true FROM {invoices_table} AS i"
        " WHERE i.{invoices_user} = u.{users_id} AND i.{invoices_payout_date} < $3 LIMIT 1))";

/* The currency filter ($4), on the users' column when they have one. */
static const char scan_currency_sql[] = " AND ($4::text IS NULL OR u.{users_currency} IS NULL"
                                        " OR u.{users_currency}::text IN ($4, ''))";

/* The users, locked in id order (so two runs never deadlock). */
static const char pay_locked_sql[] =
        "WITH locked AS (SELECT u.{users_id} AS id, u.{users_email}::text AS email,"
        " u.{users_active} AS active, u.{users_balance} AS balance, ";

/* Each locked row judged: NULL outcome means "pay". */
static const char pay_judged_sql[] =
        " judged AS (SELECT l.*, pm.id AS method_id, pm.address, CASE"
        " WHEN l.active IS NOT TRUE THEN 'skip:inactive'"
        " WHEN l.balance < 0 THEN 'bad:negative balance'"
        " WHEN l.balance <> round(l.balance, 2) THEN 'bad:more than two decimals'"
        " WHEN l.cur IS NULL OR btrim(l.cur) = '' THEN 'bad:currency missing'"
        " WHEN $4::text IS NOT NULL AND l.cur <> $4 THEN 'skip:other currency'"
        " WHEN l.balance < $2 THEN 'skip:below minimum'"
        " WHEN pm.id IS NULL AND (SELECT true FROM {methods_table} AS m"
        " WHERE m.{methods_user} = l.id AND m.{methods_approved} IS TRUE LIMIT 1)"
        " THEN 'bad:approved payment method has an empty address'"
        " WHEN pm.id IS NULL THEN 'skip:no approved payment method'"
        " WHEN $5 AND (SELECT true FROM {invoices_table} AS i"
        " WHERE i.{invoices_user} = l.id AND i.{invoices_payout_date} < $3"
        " LIMIT 1) IS NULL THEN 'skip:first-time user'"
        " WHEN (SELECT true FROM {invoices_table} AS i"
        " WHERE i.{invoices_user} = l.id AND i.{invoices_payout_date} = $3 LIMIT 1)"
        " THEN 'skip:already invoiced' END AS outcome"
        " FROM locked AS l LEFT JOIN LATERAL (SELECT m.{methods_id} AS id,"
        " m.{methods_address}::text AS address"
        " FROM {methods_table} AS m WHERE m.{methods_user} = l.id AND m.{methods_approved} IS TRUE"
        " AND btrim(coalesce(m.{methods_address}::text, '')) <> ''"
        " ORDER BY m.{methods_id} LIMIT 1) AS pm ON true)";

/* The invoices of the users to pay, the balances debited by exactly the
 * invoiced amounts, and the report rows. */
static const char pay_tail_sql[] =
        " FROM judged AS j WHERE j.outcome IS NULL ORDER BY j.id"
        " ON CONFLICT ({invoices_user}, {invoices_payout_date}) DO NOTHING"
        " RETURNING i.{invoices_user} AS id, i.{invoices_amount} AS amount),"
        " zeroed AS (UPDATE {users_table} AS u SET {users_balance} = u.{users_balance} - n.amount"
        " FROM inserted AS n WHERE u.{users_id} = n.id RETURNING u.{users_id})"
        " SELECT j.id::text, j.email, j.balance::text,"
        " round(coalesce(n.amount, j.balance), 2)::text, j.cur,"
        " CASE WHEN n.id IS NOT NULL THEN 'paid'"
        " ELSE coalesce(j.outcome, 'skip:already invoiced') END,"
        " (SELECT count(*) FROM zeroed), coalesce(n.amount <> j.balance, false)"
        " FROM judged AS j LEFT JOIN inserted AS n ON n.id = j.id ORDER BY j.id";

/* Append template `tmpl` over the job's mapping. */
static void
add(const struct payouts_job *job, struct chime_kit_sqlbuf *b, const char *tmpl, char *err,
    size_t errsize)
{
	(void)chime_kit_sql_template(b, job->conn, tmpl, job->ids, P_N_NAMES, err, errsize);
}

/* Hand the statement over, or fail the run with the template's message. */
static int
finish(const struct payouts_job *job, struct chime_kit_sqlbuf *b, const char *err, char **ret)
{
	if (b->failed) {
		chime_run_fail(job->run, "cannot build the payout statements: %s", err);
		chime_kit_sqlbuf_done(b);
		return -ENOMEM;
	}
	*ret = b->data;
	return 0;
}

int
chime__payouts_scan_sql(const struct payouts_job *job, char **ret)
{
	struct chime_kit_sqlbuf b = {0};
	char err[256] = "out of memory";

	add(job, &b, scan_sql, err, sizeof(err));
	if (job->ids[P_USERS_CURRENCY].ident != NULL)
		add(job, &b, scan_currency_sql, err, sizeof(err));
	else
		chime_kit_sqlbuf_printf(&b, " AND ($4::text IS NULL OR true)");
	add(job, &b, " ORDER BY u.{users_id} LIMIT $6", err, sizeof(err));
	return finish(job, &b, err, ret);
}

int
chime__payouts_pay_sql(const struct payouts_job *job, char **ret)
{
	/* The invoices' optional columns, each when mapped. */
	static const struct {
		int name;
		const char *column, *value;
	} optional[] = {
	        {P_INVOICES_CURRENCY, ", {invoices_currency}", ", j.cur"},
	        {P_INVOICES_METHOD, ", {invoices_method}", ", j.method_id"},
	        {P_INVOICES_ADDRESS, ", {invoices_address}", ", j.address"},
	        {P_INVOICES_RUN, ", {invoices_run_id}", ", $7"},
	};
	struct chime_kit_sqlbuf b = {0};
	char err[256] = "out of memory";

	add(job, &b, pay_locked_sql, err, sizeof(err));
	if (job->ids[P_USERS_CURRENCY].ident != NULL)
		add(job, &b, "u.{users_currency}::text AS cur", err, sizeof(err));
	else
		chime_kit_sqlbuf_printf(&b, "$6::text AS cur");
	add(job, &b, " FROM {users_table} AS u WHERE u.{users_id} = ANY ($1) ORDER BY u.{users_id}",
	    err, sizeof(err));
	chime_kit_sqlbuf_printf(&b, "%s),", job->dry_run ? "" : " FOR UPDATE OF u");
	add(job, &b, pay_judged_sql, err, sizeof(err));
	if (job->dry_run) {
		chime_kit_sqlbuf_printf(
		        &b,
		        " SELECT j.id::text, j.email, j.balance::text,"
		        " round(j.balance, 2)::text, j.cur, coalesce(j.outcome, 'paid'), 0, false"
		        " FROM judged AS j ORDER BY j.id");
		return finish(job, &b, err, ret);
	}
	add(job, &b,
	    ", inserted AS (INSERT INTO {invoices_table} AS i ({invoices_user}, {invoices_amount},"
	    " {invoices_status}, {invoices_payout_date}",
	    err, sizeof(err));
	for (size_t k = 0; k < sizeof(optional) / sizeof(optional[0]); k++)
		if (job->ids[optional[k].name].ident != NULL)
			add(job, &b, optional[k].column, err, sizeof(err));
	chime_kit_sqlbuf_printf(&b, ") SELECT j.id, j.balance, $8, $3");
	for (size_t k = 0; k < sizeof(optional) / sizeof(optional[0]); k++)
		if (job->ids[optional[k].name].ident != NULL)
			chime_kit_sqlbuf_printf(&b, "%s", optional[k].value);
	add(job, &b, pay_tail_sql, err, sizeof(err));
	return finish(job, &b, err, ret);
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
