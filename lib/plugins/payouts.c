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
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "chime/plugin.h"

#include "sqlutil.h"

/* The table and column mapping: option key, default, and whether "" turns
 * the column off. */
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

static const struct {
	const char *key;
	const char *def;
	bool optional;
} payouts_names[P_N_NAMES] = {
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
	char *q[P_N_NAMES]; /* quoted identifiers, NULL when turned off */
	int64_t paid, skipped, invalid, failed;
	struct payouts_total *totals;
	size_t n_totals;
	char first_error[320];
};

/* ---- Small helpers ---------------------------------------------------- */

/* The first line of the server's error message, for reports. */
static void
payouts_error_text(const PGresult *res, PGconn *conn, char *buf, size_t size)
{
	const char *msg = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	if (msg == NULL)
		msg = PQerrorMessage(conn);
	snprintf(buf, size, "%.*s", (int)strcspn(msg, "\n"), msg);
}

/* Run a command that returns no rows; 0 or -EIO with the message in buf. */
static int
payouts_exec(struct payouts_job *job, const char *sql, char *err, size_t errsize)
{
	PGresult *res = PQexec(job->conn, sql);
	int r = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		payouts_error_text(res, job->conn, err, errsize);
		r = -EIO;
	}
	PQclear(res);
	return r;
}

static void
payouts_rollback(struct payouts_job *job)
{
	char err[256];

	if (PQtransactionStatus(job->conn) != PQTRANS_IDLE)
		(void)payouts_exec(job, "ROLLBACK", err, sizeof(err));
}

static bool
payouts_conn_lost(const struct payouts_job *job)
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

static bool
payouts_off(const struct chime_node *node)
{
	const char *s = node != NULL ? chime_node_scalar(node) : NULL;

	return s != NULL && (s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0);
}

static int
payouts_configure(const struct chime_node *options, struct chime_diag_list *diags, void **ret_state)
{
	struct payouts_config *cfg;
	const struct chime_node *node;
	const char *known[N_SETTINGS + P_N_NAMES + 1];
	int r = 0;

	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL)
		return -ENOMEM;

	for (size_t i = 0; i < N_SETTINGS; i++)
		known[i] = payouts_settings[i];
	for (size_t i = 0; i < P_N_NAMES; i++)
		known[N_SETTINGS + i] = payouts_names[i].key;
	known[N_SETTINGS + P_N_NAMES] = NULL;
	if (options != NULL && chime_node_check_keys(options, known, diags) < 0)
		r = -EINVAL;

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

	for (size_t i = 0; i < P_N_NAMES; i++) {
		node = options != NULL ? chime_node_get(options, payouts_names[i].key) : NULL;
		if (payouts_names[i].optional && payouts_off(node)) {
			cfg->names[i] = NULL;
			continue;
		}
		if (chime_node_get_identifier(options, payouts_names[i].key, payouts_names[i].def,
		                              diags, &cfg->names[i]) < 0)
			r = -EINVAL;
	}
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

/* ---- SQL ---------------------------------------------------------------- */

/*
 * The keyset scan: the next batch of users worth a look, without locks.
 * It finds users who may be paid and users whose data is wrong (negative
 * balance, more than two decimals) so that those are reported.
 */
static char *
payouts_scan_sql(const struct payouts_job *job)
{
	char *const *q = job->q;
	struct chime__sqlbuf b = {0};

	chime__sqlbuf_printf(
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
		chime__sqlbuf_printf(
		        &b, " AND ($4::text IS NULL OR u.%s IS NULL OR u.%s::text IN ($4, ''))",
		        q[P_USERS_CURRENCY], q[P_USERS_CURRENCY]);
	else
		chime__sqlbuf_printf(&b, " AND ($4::text IS NULL OR true)");
	chime__sqlbuf_printf(&b, " ORDER BY u.%s LIMIT $6", q[P_USERS_ID]);
	if (b.oom) {
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
static char *
payouts_pay_sql(const struct payouts_job *job)
{
	char *const *q = job->q;
	struct chime__sqlbuf b = {0};
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

	chime__sqlbuf_printf(
	        &b,
	        "WITH locked AS (SELECT u.%s AS id, u.%s::text AS email, u.%s AS active,"
	        " u.%s AS balance, ",
	        q[P_USERS_ID], q[P_USERS_EMAIL], q[P_USERS_ACTIVE], q[P_USERS_BALANCE]);
	if (cur != NULL)
		chime__sqlbuf_printf(&b, "u.%s::text AS cur", cur);
	else
		chime__sqlbuf_printf(&b, "$6::text AS cur");
	chime__sqlbuf_printf(&b, " FROM %s AS u WHERE u.%s = ANY ($1) ORDER BY u.%s%s),",
	                     q[P_USERS], q[P_USERS_ID], q[P_USERS_ID],
	                     job->dry_run ? "" : " FOR UPDATE OF u");
	chime__sqlbuf_printf(
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
		chime__sqlbuf_printf(
		        &b,
		        " SELECT j.id::text, j.email, j.balance::text,"
		        " round(j.balance, 2)::text, j.cur, coalesce(j.outcome, 'paid'), 0, false"
		        " FROM judged AS j ORDER BY j.id");
		goto out;
	}
	chime__sqlbuf_printf(&b, ", inserted AS (INSERT INTO %s AS i (%s, %s, %s, %s",
	                     q[P_INVOICES], q[P_INVOICES_USER], q[P_INVOICES_AMOUNT],
	                     q[P_INVOICES_STATUS], q[P_INVOICES_DATE]);
	for (size_t k = 0; k < sizeof(optional) / sizeof(optional[0]); k++)
		if (q[optional[k].name] != NULL)
			chime__sqlbuf_printf(&b, ", %s", q[optional[k].name]);
	chime__sqlbuf_printf(&b, ") SELECT j.id, j.balance, $8, $3");
	for (size_t k = 0; k < sizeof(optional) / sizeof(optional[0]); k++)
		if (q[optional[k].name] != NULL)
			chime__sqlbuf_printf(&b, ", %s", optional[k].value);
	chime__sqlbuf_printf(&b, " FROM judged AS j WHERE j.outcome IS NULL ORDER BY j.id");
	chime__sqlbuf_printf(
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
	if (b.oom) {
		free(b.data);
		return NULL;
	}
	return b.data;
}

/* ---- run ------------------------------------------------------------------ */

static void
payouts_job_done(struct payouts_job *job)
{
	char err[256];

	if (job->prepared && !payouts_conn_lost(job)) {
		payouts_rollback(job);
		(void)payouts_exec(job, "DEALLOCATE " SCAN_STMT, err, sizeof(err));
		(void)payouts_exec(job, "DEALLOCATE " PAY_STMT, err, sizeof(err));
	}
	for (size_t i = 0; i < P_N_NAMES; i++)
		free(job->q[i]);
	for (size_t i = 0; i < job->n_totals; i++)
		free(job->totals[i].currency);
	free(job->totals);
}

static int
payouts_prepare_one(struct payouts_job *job, const char *name, const char *sql, int n,
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
			if (payouts_exec(job, dealloc, err, sizeof(err)) == 0)
				return payouts_prepare_one(job, name, sql, n, types);
			chime_run_fail(job->run, "cannot prepare the payout statements: %s", err);
			return -EIO;
		}
		payouts_error_text(res, job->conn, err, sizeof(err));
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

/* Compute the payout date, quote the mapping and prepare both statements. */
static int
payouts_start(struct payouts_job *job)
{
	const struct payouts_config *cfg = job->cfg;
	char usec[24], err[256];
	const char *params[2] = {usec, chime_run_timezone(job->run)};
	char *scan = NULL, *pay = NULL;
	PGresult *res;
	int r;

	snprintf(usec, sizeof(usec), "%" PRId64, chime_run_nominal_usec(job->run));
	res = PQexecParams(job->conn,
	                   "SELECT ((timestamptz 'epoch' + $1::bigint * interval '1 microsecond')"
	                   " AT TIME ZONE $2::text)::date::text",
	                   2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		payouts_error_text(res, job->conn, err, sizeof(err));
		PQclear(res);
		chime_run_fail(job->run, "cannot compute the payout date: %s", err);
		return -EIO;
	}
	snprintf(job->payout_date, sizeof(job->payout_date), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);

	for (size_t i = 0; i < P_N_NAMES; i++) {
		if (cfg->names[i] == NULL)
			continue;
		job->q[i] = chime__sql_quote(job->conn, cfg->names[i]);
		if (job->q[i] == NULL) {
			chime_run_fail(job->run, "%s: cannot quote '%s'", payouts_names[i].key,
			               cfg->names[i]);
			return -EINVAL;
		}
	}
	scan = payouts_scan_sql(job);
	pay = payouts_pay_sql(job);
	if (scan == NULL || pay == NULL) {
		r = -ENOMEM;
		chime_run_fail(job->run, "out of memory");
		goto out;
	}
	job->prepared = true;
	r = payouts_prepare_one(job, SCAN_STMT, scan, S_N, scan_types);
	if (r >= 0)
		r = payouts_prepare_one(job, PAY_STMT, pay, Y_N, pay_types);
out:
	free(scan);
	free(pay);
	return r;
}

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
 * Pay the users in `ids` (an array literal) in one transaction. Returns 0
 * after the commit and the report update, -ENOTCONN when the connection is
 * gone, or -EIO with the server's message in err (rolled back).
 */
static int
payouts_pay(struct payouts_job *job, const char *ids, char *err, size_t errsize)
{
	const struct payouts_config *cfg = job->cfg;
	char begin[64];
	const char *params[Y_N] = {
	        ids,
	        cfg->min_balance,
	        job->payout_date,
	        cfg->currency_filter ? cfg->currency : NULL,
	        cfg->first_time_users ? "false" : "true",
	        cfg->currency,
	        job->run_id[0] != '\0' ? job->run_id : NULL,
	        cfg->pending_status,
	};
	PGresult *res = NULL;
	int64_t paid = 0;
	int r;

	if (!job->dry_run) {
		snprintf(begin, sizeof(begin), "BEGIN; SET LOCAL lock_timeout = '%" PRId64 "ms'",
		         cfg->lock_timeout_usec / 1000);
		r = payouts_exec(job, begin, err, errsize);
		if (r < 0)
			goto fail;
	}
	res = PQexecPrepared(job->conn, PAY_STMT, Y_N, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		payouts_error_text(res, job->conn, err, errsize);
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
		r = payouts_exec(job, "COMMIT", err, errsize);
		if (r < 0)
			goto fail;
	}
	r = payouts_report_rows(job, res);
	PQclear(res);
	return r;
fail:
	PQclear(res);
	if (payouts_conn_lost(job))
		return -ENOTCONN;
	if (!job->dry_run)
		payouts_rollback(job);
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
		if (r == -ENOTCONN || r == -ENOMEM || r == -ERANGE)
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
	const char *params[S_N] = {
	        last,
	        cfg->min_balance,
	        job->payout_date,
	        cfg->currency_filter ? cfg->currency : NULL,
	        cfg->first_time_users ? "false" : "true",
	        limit,
	};
	PGresult *res;

	snprintf(limit, sizeof(limit), "%" PRId64, cfg->batch_size);
	res = PQexecPrepared(job->conn, SCAN_STMT, S_N, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		payouts_error_text(res, job->conn, err, sizeof(err));
		chime_run_fail(job->run, "cannot read the users after id %s: %s", last, err);
		PQclear(res);
		return NULL;
	}
	return res;
}

static int
payouts_loop(struct payouts_job *job)
{
	char last[32] = "-9223372036854775808", err[256];
	struct chime__sqlbuf ids = {0};
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
		chime__sqlbuf_printf(&ids, "{");
		for (int i = 0; i < n; i++)
			chime__sqlbuf_printf(&ids, "%s%s", i > 0 ? "," : "",
			                     PQgetvalue(scan, i, 0));
		chime__sqlbuf_printf(&ids, "}");
		if (ids.oom) {
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
	chime__sqlbuf_done(&ids);
	return r;
}

static void
payouts_report(struct payouts_job *job)
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
		r = payouts_exec(&job, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", err,
		                 sizeof(err));
		if (r < 0) {
			chime_run_fail(run, "cannot start the dry run: %s", err);
			goto out;
		}
	}
	r = payouts_loop(&job);
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
	payouts_report(&job);
	payouts_job_done(&job);
	return r;
}

const struct chime_plugin chime_plugin_payouts = {
        .abi_version = CHIME_PLUGIN_ABI_VERSION,
        .struct_size = sizeof(struct chime_plugin),
        .name = "payouts",
        .configure = payouts_configure,
        .run = payouts_run,
        .release = payouts_release,
        .idempotent = true,
};
