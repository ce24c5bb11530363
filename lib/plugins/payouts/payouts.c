/* SPDX-License-Identifier: MIT */
/*
 * The `payouts` plugin (seed 003): every eligible user (active, balance at
 * least `min_balance`, an approved payment method with an address, and on
 * the returning-users date an earlier invoice) gets one pending invoice for
 * exactly the balance locked, and that amount taken off the balance, at
 * most once per payout date.
 *
 * The payout date is the run's nominal slot read as a local date in the
 * job's zone. Users are taken in batches by ascending id (keyset). Each
 * batch is one transaction and one set-based statement: lock the rows
 * (FOR UPDATE, in id order, under a per-batch lock_timeout), judge each
 * locked row again, INSERT the invoices ... ON CONFLICT (user, payout date)
 * DO NOTHING RETURNING, and subtract exactly the invoiced amount from the
 * balances of the users whose invoice was inserted. The unique key makes a
 * second run of the same slot (a retry, a second node, a re-run after
 * SIGKILL) insert nothing and change no balance. A batch that fails is
 * rolled back and its users are retried one by one, so one bad row never
 * blocks the others; a user who still fails is reported and fails the run
 * so that the retry policy runs the slot again.
 *
 * FOR UPDATE SKIP LOCKED is not used: it would silently leave out a user
 * whose row another transaction holds (a balance being credited), and that
 * user would miss the payout date. Waiting, bounded by lock_timeout, pays
 * that user what the balance is once the other transaction commits.
 *
 * Money stays numeric: min_balance goes to the server as text, amounts come
 * back as text, and the per-currency totals are summed here in integer
 * cents (the amounts have two decimals at most, checked per user).
 *
 * This file holds the options and the start of a run; payouts_sql.c builds
 * and prepares the statements, payouts_batch.c runs the batches and the
 * report.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "chime/plugin.h"

#include "mapping.h"
#include "payouts_internal.h"
#include "sqlutil.h"

/* The table and column mapping: option key, default, and whether "" turns
 * the column off. */
static const struct chime_kit_name_option payouts_names[P_N_NAMES] = {
        [P_USERS] = {"users_table", "users", false},
        [P_USERS_ID] = {"users_id", "id", false},
        [P_USERS_EMAIL] = {"users_email", "email", false},
        [P_USERS_ACTIVE] = {"users_active", "is_active", false},
        [P_USERS_BALANCE] = {"users_balance", "balance", false},
        [P_USERS_CURRENCY] = {"users_currency", "currency", true},
        [P_METHODS] = {"methods_table", "payment_methods", false},
        [P_METHODS_ID] = {"methods_id", "id", false},
        [P_METHODS_USER] = {"methods_user", "user_id", false},
        [P_METHODS_ADDRESS] = {"methods_address", "address", false},
        [P_METHODS_APPROVED] = {"methods_approved", "approved", false},
        [P_INVOICES] = {"invoices_table", "invoices", false},
        [P_INVOICES_USER] = {"invoices_user", "user_id", false},
        [P_INVOICES_AMOUNT] = {"invoices_amount", "amount", false},
        [P_INVOICES_CURRENCY] = {"invoices_currency", "currency", true},
        [P_INVOICES_METHOD] = {"invoices_method", "method_id", true},
        [P_INVOICES_ADDRESS] = {"invoices_address", "address", true},
        [P_INVOICES_STATUS] = {"invoices_status", "status", false},
        [P_INVOICES_DATE] = {"invoices_payout_date", "payout_date", false},
        [P_INVOICES_RUN] = {"invoices_run_id", "run_id", true},
};

/* The options besides the mapping. */
static const char *const payouts_settings[] = {
        "min_balance", "currency",     "first_time_users",
        "batch_size",  "lock_timeout", "pending_status",
};

#define N_SETTINGS (sizeof(payouts_settings) / sizeof(payouts_settings[0]))

#define OID_BOOL      16
#define OID_INT8      20
#define OID_TEXT      25
#define OID_INT8ARRAY 1016
#define OID_DATE      1082
#define OID_NUMERIC   1700

static const unsigned scan_types[S_N] = {OID_INT8, OID_NUMERIC, OID_DATE,
                                         OID_TEXT, OID_BOOL,    OID_INT8};
static const unsigned pay_types[Y_N] = {OID_INT8ARRAY, OID_NUMERIC, OID_DATE, OID_TEXT,
                                        OID_BOOL,      OID_TEXT,    OID_INT8, OID_TEXT};

/* ---- configure ---------------------------------------------------------- */

/* "100", "99.5", "0.01": digits, an optional point and at most two decimals. */
static bool
payouts_valid_amount(const char *s)
{
	size_t digits = strspn(s, "0123456789");
	bool nonzero = strspn(s, "0.") != strlen(s);

	if (digits == 0 || digits > 12)
		return false;
	s += digits;
	if (*s == '.') {
		size_t dec = strspn(s + 1, "0123456789");

		if (dec == 0 || dec > 2)
			return false;
		s += 1 + dec;
	}
	return *s == '\0' && nonzero;
}

static bool
payouts_valid_currency(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 16 &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static int
payouts_configure(const struct chime_node *options, struct chime_diag_list *diags, void **ret_state)
{
	struct payouts_config *cfg;
	int r = 0;

	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL)
		return -ENOMEM;

	r = chime_kit_mapping_check_keys(options, payouts_settings, N_SETTINGS, payouts_names,
	                                 P_N_NAMES, diags);

	if (chime_node_get_string(options, "min_balance", "100", diags, &cfg->min_balance) < 0)
		r = -EINVAL;
	else if (!payouts_valid_amount(cfg->min_balance))
		r = chime_node_error(diags, chime_node_get(options, "min_balance"),
		                     "'%s' is not an amount greater than zero with at most two "
		                     "decimals (e.g. 100 or 99.50)",
		                     cfg->min_balance);

	if (chime_node_get_string(options, "currency", "USD", diags, &cfg->currency) < 0)
		r = -EINVAL;
	else if (!payouts_valid_currency(cfg->currency))
		r = chime_node_error(diags, chime_node_get(options, "currency"),
		                     "'%s' is not a currency code (letters, digits, _)",
		                     cfg->currency);

	if (chime_node_get_bool(options, "first_time_users", true, diags, &cfg->first_time_users) <
	    0)
		r = -EINVAL;
	if (chime_node_get_int(options, "batch_size", 1, 100000, 500, diags, &cfg->batch_size) < 0)
		r = -EINVAL;
	if (chime_node_get_duration(options, "lock_timeout", 5 * INT64_C(1000000), diags,
	                            &cfg->lock_timeout_usec) < 0)
		r = -EINVAL;
	else if (cfg->lock_timeout_usec < 1000)
		r = chime_node_error(diags, chime_node_get(options, "lock_timeout"),
		                     "must be at least 1ms: a payout waits for a locked user, "
		                     "it never skips one");
	if (chime_node_get_string(options, "pending_status", "pending", diags,
	                          &cfg->pending_status) < 0)
		r = -EINVAL;

	if (chime_kit_mapping_read(options, payouts_names, P_N_NAMES, diags, cfg->names) < 0)
		r = -EINVAL;
	cfg->currency_filter = options != NULL && chime_node_get(options, "currency") != NULL &&
	                       cfg->names[P_USERS_CURRENCY] != NULL;

	if (r < 0) {
		free(cfg);
		return r;
	}
	*ret_state = cfg;
	return 0;
}

static void
payouts_release(void *state)
{
	free(state);
}

/* ---- run ------------------------------------------------------------------ */

static void
payouts_job_done(struct payouts_job *job)
{
	char err[256];

	if (job->prepared && !chime__payouts_conn_lost(job)) {
		chime__payouts_rollback(job);
		(void)chime__payouts_exec(job, "DEALLOCATE " SCAN_STMT, err, sizeof(err));
		(void)chime__payouts_exec(job, "DEALLOCATE " PAY_STMT, err, sizeof(err));
	}
	for (size_t i = 0; i < job->n_totals; i++)
		free(job->totals[i].currency);
	free(job->totals);
}

/* The schema checks of a run and of `chimectl check` (payouts_check.c). */
static int
payouts_schema(struct chime__sql_check *k, const void *cfg)
{
	return chime__payouts_check_schema(k, cfg, payouts_names);
}

/* Compute the payout date, quote the mapping and prepare both statements. */
static int
payouts_start(struct payouts_job *job)
{
	const struct payouts_config *cfg = job->cfg;
	char usec[24], err[256];
	const char *params[2] = {usec, chime_run_timezone(job->run)};
	char *scan = NULL, *pay = NULL;
	struct chime__sql_check k;
	PGresult *res;
	int r;

	/* A schema that cannot work is refused before anyone is paid. */
	chime__sql_check_init_run(&k, job->run);
	r = payouts_schema(&k, cfg);
	if (r < 0)
		return r;
	snprintf(usec, sizeof(usec), "%" PRId64, chime_run_nominal_usec(job->run));
	res = PQexecParams(job->conn,
	                   "SELECT ((timestamptz 'epoch' + $1::bigint * interval '1 microsecond')"
	                   " AT TIME ZONE $2::text)::date::text",
	                   2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		chime__sql_error_text(res, job->conn, err, sizeof(err));
		PQclear(res);
		chime_run_fail(job->run, "cannot compute the payout date: %s", err);
		return -EIO;
	}
	snprintf(job->payout_date, sizeof(job->payout_date), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);

	for (size_t i = 0; i < P_N_NAMES; i++)
		job->ids[i] = (struct chime_kit_ident){payouts_names[i].key, cfg->names[i]};
	r = chime__payouts_scan_sql(job, &scan);
	if (r >= 0)
		r = chime__payouts_pay_sql(job, &pay);
	if (r < 0)
		goto out;
	job->prepared = true;
	r = chime__payouts_prepare_one(job, SCAN_STMT, scan, S_N, scan_types);
	if (r >= 0)
		r = chime__payouts_prepare_one(job, PAY_STMT, pay, Y_N, pay_types);
out:
	free(scan);
	free(pay);
	return r;
}

static int
payouts_run(void *state, struct chime_run *run)
{
	struct payouts_job job = {
	        .cfg = state,
	        .run = run,
	        .conn = chime_run_db(run),
	        .dry_run = chime_run_dry_run(run),
	};
	char err[256];
	int r;

	if (job.conn == NULL) {
		chime_run_fail(run, "no database connection");
		return -ENOTCONN;
	}
	if (chime_run_id(run) > 0)
		snprintf(job.run_id, sizeof(job.run_id), "%" PRId64, chime_run_id(run));

	r = payouts_start(&job);
	if (r < 0)
		goto out;
	if (job.dry_run) {
		r = chime__payouts_exec(&job, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
		                        err, sizeof(err));
		if (r < 0) {
			chime_run_fail(run, "cannot start the dry run: %s", err);
			goto out;
		}
	}
	r = chime__payouts_loop(&job);
	if (r >= 0 && job.failed > 0) {
		chime_run_fail(run,
		               "%" PRId64 " users not paid because of errors (first: %s); running "
		               "the slot again pays them, never anyone twice",
		               job.failed, job.first_error);
		r = -EIO;
	}
	chime_run_log(run, r < 0 ? 4 : 6,
	              "payout date %s%s: %" PRId64 " users %s, %" PRId64 " skipped (%" PRId64
	              " invalid), %" PRId64 " failed",
	              job.payout_date, job.dry_run ? " (dry run)" : "", job.paid,
	              job.dry_run ? "would be paid" : "paid", job.skipped, job.invalid, job.failed);
out:
	chime__payouts_report(&job);
	payouts_job_done(&job);
	return r;
}

/* `chimectl check`: every problem at its option. */
static int
payouts_check(void *state, PGconn *conn, const char *job, const char *timezone,
              const struct chime_node *options, struct chime_diag_list *diags)
{
	(void)job;
	(void)timezone;
	return chime__sql_check_diags(conn, options, diags, payouts_schema, state);
}

const struct chime_plugin chime_plugin_payouts = {
        CHIME_PLUGIN_INIT("payouts", payouts_configure, payouts_run, payouts_release),
        .idempotent = true,
        /* Every pay batch is fenced (payouts_pay). */
        .fences = true,
        .check = payouts_check,
        .needs_database = true,
};
