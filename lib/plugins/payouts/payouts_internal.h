/* SPDX-License-Identifier: MIT */
/*
 * Private to the payouts plugin: the option mapping, the state of one run
 * and the functions payouts.c (options, start, run), payouts_sql.c (the two
 * prepared statements) and payouts_batch.c (the batch loop and the report)
 * share. Not part of any plugin's interface.
 */
#ifndef CHIME_PLUGINS_PAYOUTS_INTERNAL_H
#define CHIME_PLUGINS_PAYOUTS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "chime/plugin.h"

#include "mapping.h"
#include "sqltext.h"

/* The table and column mapping (payouts_names in payouts.c). */
enum {
	P_USERS,
	P_USERS_ID,
	P_USERS_EMAIL,
	P_USERS_ACTIVE,
	P_USERS_BALANCE,
	P_USERS_CURRENCY,
	P_METHODS,
	P_METHODS_ID,
	P_METHODS_USER,
	P_METHODS_ADDRESS,
	P_METHODS_APPROVED,
	P_INVOICES,
	P_INVOICES_USER,
	P_INVOICES_AMOUNT,
	P_INVOICES_CURRENCY,
	P_INVOICES_METHOD,
	P_INVOICES_ADDRESS,
	P_INVOICES_STATUS,
	P_INVOICES_DATE,
	P_INVOICES_RUN,
	P_N_NAMES,
};

struct payouts_config {
	const char *min_balance; /* validated decimal text */
	const char *currency;    /* invoice currency when users have no currency column */
	bool currency_filter;    /* `currency:` given and users have a currency column */
	bool first_time_users;
	int64_t batch_size;
	int64_t lock_timeout_usec;
	const char *pending_status;
	const char *names[P_N_NAMES]; /* NULL: optional column turned off */
};

/* Parameters of the scan and pay statements (PQprepare types below). */
enum {
	S_LAST = 1,  /* bigint: the last id of the previous batch */
	S_MIN,       /* numeric */
	S_DATE,      /* date */
	S_CURRENCY,  /* text or NULL: the currency filter */
	S_RETURNING, /* boolean: returning users only */
	S_LIMIT,     /* bigint */
	S_N = S_LIMIT,
};

enum {
	Y_IDS = 1,   /* bigint[] */
	Y_MIN,       /* numeric */
	Y_DATE,      /* date */
	Y_CURRENCY,  /* text or NULL: the currency filter */
	Y_RETURNING, /* boolean */
	Y_DEFCUR,    /* text: currency when users have none */
	Y_RUN,       /* bigint or NULL */
	Y_STATUS,    /* text */
	Y_N = Y_STATUS,
};

#define SCAN_STMT "chime_payouts_scan"
#define PAY_STMT  "chime_payouts_pay"

struct payouts_total {
	char *currency;
	int64_t cents;
};

/* The state of one run. */
struct payouts_job {
	const struct payouts_config *cfg;
	struct chime_run *run;
	PGconn *conn;
	bool dry_run;
	bool prepared;
	char payout_date[16];
	char run_id[24];
	/* {option}: its identifier, NULL when turned off (the templates). */
	struct chime_kit_ident ids[P_N_NAMES];
	int64_t paid, skipped, invalid, failed;
	struct payouts_total *totals;
	size_t n_totals;
	char first_error[320];
};

/* ---- payouts_batch.c ---------------------------------------------------- */

/* Run a command that returns no rows; 0 or -EIO with the message in err. */
int chime__payouts_exec(struct payouts_job *job, const char *sql, char *err, size_t errsize);

/* Roll back an open transaction, if any. */
void chime__payouts_rollback(struct payouts_job *job);

/* True when the run's connection is gone. */
bool chime__payouts_conn_lost(const struct payouts_job *job);

/* Pay every eligible user, batch after batch; 0 or a negative errno with
 * the run's failure reason set. */
int chime__payouts_loop(struct payouts_job *job);

/* Counts, the payout date and the per-currency totals into the report. */
void chime__payouts_report(struct payouts_job *job);

/* ---- payouts_check.c ---------------------------------------------------- */

struct chime__sql_check;

/*
 * Check the mapped tables and columns (`names`: the mapping's options, in
 * the order of P_*), the invoices' unique key on (user, payout date), the
 * invoices' NOT NULL columns chime does not fill, that pending_status
 * fits the status column, and (a warning) an index on the payment
 * methods' user column. Returns 0, or -EINVAL after the problems were
 * reported through `k`.
 */
int chime__payouts_check_schema(struct chime__sql_check *k, const struct payouts_config *cfg,
                                const struct chime_kit_name_option *names);

/* ---- payouts_sql.c ------------------------------------------------------ */

/*
 * The keyset scan: the next batch of users worth a look, without locks.
 * It finds users who may be paid and users whose data is wrong (negative
 * balance, more than two decimals) so that those are reported.
 */
int chime__payouts_scan_sql(const struct payouts_job *job, char **ret);

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
 *
 * Both return 0 and a malloc'd statement in *ret, or -ENOMEM with the
 * run's failure reason set.
 */
int chime__payouts_pay_sql(const struct payouts_job *job, char **ret);

/* Prepare statement `name` (deallocating one left over on a pooled
 * connection); 0, -EIO or -EINVAL with the run's failure reason set. */
int chime__payouts_prepare_one(struct payouts_job *job, const char *name, const char *sql, int n,
                               const unsigned *types);

#endif
