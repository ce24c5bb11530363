/* SPDX-License-Identifier: MIT */
/*
 * The batch loop of the payouts plugin (see payouts.c): scan the next
 * users by id, pay them in one transaction (one by one when the batch
 * fails), and fold what was paid into the run's report with per-currency
 * totals in integer cents. Reports through the run; never logs otherwise.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "chime/plugin.h"

#include "payouts_internal.h"
#include "sqlutil.h"

/* ---- Small helpers ---------------------------------------------------- */

/* Run a command that returns no rows; 0 or -EIO with the message in err. */
int
chime__payouts_exec(struct payouts_job *job, const char *sql, char *err, size_t errsize)
{
	PGresult *res = PQexec(job->conn, sql);
	int r = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		chime__sql_error_text(res, job->conn, err, errsize);
		r = -EIO;
	}
	PQclear(res);
	return r;
}

void
chime__payouts_rollback(struct payouts_job *job)
{
	char err[256];

	if (PQtransactionStatus(job->conn) != PQTRANS_IDLE)
		(void)chime__payouts_exec(job, "ROLLBACK", err, sizeof(err));
}

bool
chime__payouts_conn_lost(const struct payouts_job *job)
{
	return PQstatus(job->conn) != CONNECTION_OK;
}

/*
 * Parse a decimal amount with at most two decimals ("150", "150.5",
 * "150.00", "-3.10") into cents. Returns 0, or -ERANGE / -EINVAL.
 */
static int
payouts_parse_cents(const char *s, int64_t *ret_cents)
{
	int64_t v = 0;
	bool neg = false;
	int decimals = -1;

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	for (; *s != '\0'; s++) {
		if (*s == '.' && decimals < 0) {
			decimals = 0;
			continue;
		}
		if (!isdigit((unsigned char)*s) || decimals == 2)
			return -EINVAL;
		if (decimals >= 0)
			decimals++;
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *s - '0', &v))
			return -ERANGE;
	}
	for (int d = decimals < 0 ? 0 : decimals; d < 2; d++)
		if (__builtin_mul_overflow(v, 10, &v))
			return -ERANGE;
	*ret_cents = neg ? -v : v;
	return 0;
}

static int
payouts_add_total(struct payouts_job *job, const char *currency, const char *amount)
{
	struct payouts_total *t = NULL;
	int64_t cents;
	int r;

	r = payouts_parse_cents(amount, &cents);
	if (r < 0)
		return r;
	for (size_t i = 0; i < job->n_totals; i++)
		if (strcmp(job->totals[i].currency, currency) == 0)
			t = &job->totals[i];
	if (t == NULL) {
		struct payouts_total *n =
		        realloc(job->totals, (job->n_totals + 1) * sizeof(*job->totals));

		if (n == NULL)
			return -ENOMEM;
		job->totals = n;
		t = &n[job->n_totals];
		t->currency = strdup(currency);
		if (t->currency == NULL)
			return -ENOMEM;
		t->cents = 0;
		job->n_totals++;
	}
	if (__builtin_add_overflow(t->cents, cents, &t->cents))
		return -ERANGE;
	return 0;
}

static void
payouts_format_cents(int64_t cents, char *buf, size_t size)
{
	uint64_t a = cents < 0 ? -(uint64_t)cents : (uint64_t)cents;

	snprintf(buf, size, "%s%" PRIu64 ".%02" PRIu64, cents < 0 ? "-" : "", a / 100, a % 100);
}

/* ---- Batches ------------------------------------------------------------ */

/* Fold one batch's rows (committed, or judged in a dry run) into the report. */
static int
payouts_report_rows(struct payouts_job *job, const PGresult *res)
{
	int r;

	for (int i = 0; i < PQntuples(res); i++) {
		const char *id = PQgetvalue(res, i, 0), *email = PQgetvalue(res, i, 1);
		const char *balance = PQgetvalue(res, i, 2), *amount = PQgetvalue(res, i, 3);
		const char *cur = PQgetvalue(res, i, 4), *outcome = PQgetvalue(res, i, 5);

		if (strcmp(outcome, "paid") == 0) {
			job->paid++;
			r = payouts_add_total(job, cur, amount);
			if (r < 0) {
				chime_run_fail(job->run, "cannot add %s %s to the total: %s",
				               amount, cur, strerror(-r));
				return r;
			}
			chime_run_item(job->run, "user %s %s: %s %s", id, email, amount, cur);
		} else if (strncmp(outcome, "bad:", 4) == 0) {
			job->invalid++;
			job->skipped++;
			chime_run_item(job->run, "user %s %s: not paid: %s (balance %s%s%s)", id,
			               email, outcome + 4, balance, *cur != '\0' ? " " : "", cur);
		} else {
			job->skipped++;
		}
	}
	return 0;
}

/*
 * $2-$5 of both statements, the filter that picks the users to pay: the
 * scan and the payment must agree on it, so it is written once.
 */
static_assert((int)S_MIN == Y_MIN && (int)S_DATE == Y_DATE && (int)S_CURRENCY == Y_CURRENCY &&
                      (int)S_RETURNING == Y_RETURNING,
              "the scan and the payment take the filter at the same places");

static void
payouts_filter_params(const struct payouts_job *job, const char *params[])
{
	const struct payouts_config *cfg = job->cfg;

	params[S_MIN - 1] = cfg->min_balance;
	params[S_DATE - 1] = job->payout_date;
	params[S_CURRENCY - 1] = cfg->currency_filter ? cfg->currency : NULL;
	params[S_RETURNING - 1] = cfg->first_time_users ? "false" : "true";
}

/*
 * Pay the users in `ids` (an array literal) in one transaction. Returns 0
 * after the commit and the report update, -ENOTCONN when the connection is
 * gone, -ESTALE when the fence failed (the run's reason is set), or -EIO
 * with the server's message in err (rolled back).
 */
static int
payouts_pay(struct payouts_job *job, const char *ids, char *err, size_t errsize)
{
	const struct payouts_config *cfg = job->cfg;
	char begin[64];
	const char *params[Y_N] = {ids};
	PGresult *res = NULL;
	int64_t paid = 0;
	int r;

	payouts_filter_params(job, params);
	params[Y_DEFCUR - 1] = cfg->currency;
	params[Y_RUN - 1] = job->run_id[0] != '\0' ? job->run_id : NULL;
	params[Y_STATUS - 1] = cfg->pending_status;
	if (!job->dry_run) {
		snprintf(begin, sizeof(begin), "BEGIN; SET LOCAL lock_timeout = '%" PRId64 "ms'",
		         cfg->lock_timeout_usec / 1000);
		r = chime__payouts_exec(job, begin, err, errsize);
		if (r < 0)
			goto fail;
		/* A fenced unit: a node whose claim was recovered pays no one
		 * (the reason is set; the batch is not retried user by user). */
		r = chime_run_fence(job->run, job->conn);
		if (r < 0) {
			chime__payouts_rollback(job);
			return r == -ENOTCONN ? r : -ESTALE;
		}
	}
	res = PQexecPrepared(job->conn, PAY_STMT, Y_N, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		chime__sql_error_text(res, job->conn, err, errsize);
		r = -EIO;
		goto fail;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		if (strcmp(PQgetvalue(res, i, 5), "paid") == 0)
			paid++;
		if (strcmp(PQgetvalue(res, i, 7), "t") == 0) {
			snprintf(err, errsize,
			         "the invoice amount column changes %s to another amount; rolled "
			         "back",
			         PQgetvalue(res, i, 2));
			r = -EIO;
			goto fail;
		}
	}
	if (!job->dry_run) {
		if (PQntuples(res) > 0 && strtoll(PQgetvalue(res, 0, 6), NULL, 10) != paid) {
			snprintf(err, errsize,
			         "%s balances changed for %" PRId64 " invoices; rolled back",
			         PQgetvalue(res, 0, 6), paid);
			r = -EIO;
			goto fail;
		}
		r = chime__payouts_exec(job, "COMMIT", err, errsize);
		if (r < 0)
			goto fail;
	}
	r = payouts_report_rows(job, res);
	PQclear(res);
	return r;
fail:
	PQclear(res);
	if (chime__payouts_conn_lost(job))
		return -ENOTCONN;
	if (!job->dry_run)
		chime__payouts_rollback(job);
	return r;
}

/* Retry the users of a failed batch one by one. */
static int
payouts_pay_each(struct payouts_job *job, const PGresult *scan)
{
	char ids[48], err[256];
	int r;

	for (int i = 0; i < PQntuples(scan); i++) {
		const char *id = PQgetvalue(scan, i, 0);

		if (chime_run_cancelled(job->run))
			return -ECANCELED;
		snprintf(ids, sizeof(ids), "{%s}", id);
		r = payouts_pay(job, ids, err, sizeof(err));
		if (r == -ENOTCONN || r == -ENOMEM || r == -ERANGE || r == -ESTALE)
			return r;
		if (r < 0) {
			job->failed++;
			if (job->first_error[0] == '\0')
				snprintf(job->first_error, sizeof(job->first_error), "user %s: %s",
				         id, err);
			chime_run_log(job->run, 4, "user %s not paid: %s", id, err);
			chime_run_item(job->run, "user %s: not paid: %s", id, err);
		}
	}
	return 0;
}

/* Fetch the next batch of user ids after `last`; a PGresult or NULL. */
static PGresult *
payouts_scan(struct payouts_job *job, const char *last)
{
	const struct payouts_config *cfg = job->cfg;
	char limit[24], err[256];
	const char *params[S_N] = {last};
	PGresult *res;

	payouts_filter_params(job, params);
	params[S_LIMIT - 1] = limit;
	snprintf(limit, sizeof(limit), "%" PRId64, cfg->batch_size);
	res = PQexecPrepared(job->conn, SCAN_STMT, S_N, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		chime__sql_error_text(res, job->conn, err, sizeof(err));
		chime_run_fail(job->run, "cannot read the users after id %s: %s", last, err);
		PQclear(res);
		return NULL;
	}
	return res;
}

int
chime__payouts_loop(struct payouts_job *job)
{
	char last[32] = "-9223372036854775808", err[256];
	struct chime_kit_sqlbuf ids = {0};
	PGresult *scan = NULL;
	int r = 0;

	for (;;) {
		if (chime_run_cancelled(job->run)) {
			r = -ECANCELED;
			break;
		}
		PQclear(scan);
		scan = payouts_scan(job, last);
		if (scan == NULL) {
			r = -EIO;
			break;
		}
		int n = PQntuples(scan);
		if (n == 0)
			break;
		ids.len = 0;
		chime_kit_sqlbuf_printf(&ids, "{");
		for (int i = 0; i < n; i++)
			chime_kit_sqlbuf_printf(&ids, "%s%s", i > 0 ? "," : "",
			                        PQgetvalue(scan, i, 0));
		chime_kit_sqlbuf_printf(&ids, "}");
		if (ids.failed) {
			r = -ENOMEM;
			chime_run_fail(job->run, "out of memory");
			break;
		}
		r = payouts_pay(job, ids.data, err, sizeof(err));
		if (r == -EIO && !job->dry_run) {
			chime_run_log(job->run, 4,
			              "batch of %d users from id %s failed: %s; paying them one "
			              "by one",
			              n, PQgetvalue(scan, 0, 0), err);
			r = payouts_pay_each(job, scan);
		}
		if (r == -ENOTCONN) {
			chime_run_fail(job->run,
			               "connection lost after paying %" PRId64 " users: %s",
			               job->paid, PQerrorMessage(job->conn));
			break;
		}
		if (r == -EIO) {
			chime_run_fail(job->run, "payout batch failed: %s", err);
			break;
		}
		if (r < 0)
			break;
		snprintf(last, sizeof(last), "%s", PQgetvalue(scan, n - 1, 0));
	}
	if (r == -ECANCELED)
		chime_run_fail(job->run,
		               "cancelled after paying %" PRId64 " users; running the slot again "
		               "pays the rest, never anyone twice",
		               job->paid);
	PQclear(scan);
	chime_kit_sqlbuf_done(&ids);
	return r;
}

void
chime__payouts_report(struct payouts_job *job)
{
	char total[48], key[48];

	chime_run_count(job->run, "paid", job->paid);
	chime_run_count(job->run, "skipped", job->skipped);
	chime_run_count(job->run, "invalid", job->invalid);
	chime_run_count(job->run, "failed", job->failed);
	chime_run_value(job->run, "payout_date", job->payout_date);
	chime_run_value(job->run, "users", job->cfg->first_time_users ? "all" : "returning");
	for (size_t i = 0; i < job->n_totals; i++) {
		payouts_format_cents(job->totals[i].cents, total, sizeof(total));
		snprintf(key, sizeof(key), "total %s", job->totals[i].currency);
		chime_run_value(job->run, key, total);
	}
	if (job->n_totals == 0) {
		snprintf(key, sizeof(key), "total %s", job->cfg->currency);
		chime_run_value(job->run, key, "0.00");
	}
}
