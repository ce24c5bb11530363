/* SPDX-License-Identifier: MIT */
/*
 * billing, `action: charge`: for each active subscription of an active
 * tenant expiring within `days_before` of the nominal instant, with a
 * saved card:
 *   1. commit a `pending` payment order whose idempotency key is the
 *      subscription and the billing period (the expiry being renewed);
 *      the key is UNIQUE, so a re-run, a second node or a crash can never
 *      create a second order for the period;
 *   2. make one HTTPS POST to the gateway with that key as the
 *      Idempotency-Key header;
 *   3. record the answer: 2xx succeeded, 4xx failed (never charged again
 *      for the period), anything else (5xx, 408/409/429, timeout, no
 *      connection, a crash before step 3) leaves the order open, and the
 *      next run repeats the call with the SAME key, so the gateway answers
 *      with the original result instead of charging again.
 * Open orders of subscriptions that are no longer in the window (the call
 * failed on the last day) are retried too. A session advisory lock on the
 * order keeps two concurrent runs from calling at the same moment.
 */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing.h"
#include "freemany.h"
#include "http.h"
#include "sqlutil.h"

#define NOMINAL "('epoch'::timestamptz + $1::bigint * interval '1 microsecond')"

/* The idempotency key: the installation ($n), the subscription and the
 * expiry being renewed (UTC). */
#define KEY(n)                                                                                     \
	"$" #n "::text || '-sub-' || s.{s.id}::text || '-' ||"                                     \
	" to_char({=expires} AT TIME ZONE 'UTC', 'YYYYMMDD\"T\"HH24MISS\"Z\"')"

/* Whether the subscription has a saved card, and the card: its own
 * columns, or the gateway order id of its latest successful payment
 * order with card_saved (CARD_JOIN). */
#define CARD                                                                                       \
	"[[card.sub|coalesce(s.{s.card_saved}, false) AND coalesce(s.{s.card_token}::text, '') "   \
	"<> '',"                                                                                   \
	" s.{s.card_token}::text]][[card.order|c.card IS NOT NULL, c.card]]"
#define CARD_JOIN                                                                                  \
	"[[card.order| LEFT JOIN LATERAL (SELECT p.{o.gateway_order_id}::text AS card"             \
	" FROM {payment_orders} p WHERE p.{o.subscription_id} = s.{s.link} AND p.{o.card_saved}"   \
	" AND p.{o.status} = {=succeeded} AND coalesce(p.{o.gateway_order_id}::text, '') <> ''"    \
	" ORDER BY p.{o.id} DESC LIMIT 1) c ON true]]"

static const char sql_due[] =
        "SELECT s.{s.id}::text, t.{t.name}::text, s.{s.plan}::text, s.{s.amount}::text,"
        " s.{s.currency}::text, " KEY(3) ", " CARD " FROM {subscriptions} s JOIN {tenants} t ON "
                                         "t.{t.id} = s.{s.tenant_id}" CARD_JOIN
                                         " WHERE s.{s.status} = {=active} AND t.{t.is_active}"
                                         " AND {=expires} > " NOMINAL " AND {=expires} <= " NOMINAL
                                         " + $2::int * interval '1 day'"
                                         " ORDER BY {=expires}, s.{s.id}";

/* The application's other NOT NULL columns take their `values:`. */
static const char sql_insert[] =
        "INSERT INTO {payment_orders} ({o.subscription_id}[[o.period|, {o.period}]], {o.amount},"
        " {o.currency}, {o.status}, {o.idempotency_key}[[o.created_at|, {o.created_at}]]"
        "[[o.updated_at|, {o.updated_at}]]{=values.columns})"
        " SELECT s.{s.link}[[o.period|, {=expires}]], s.{s.amount}, s.{s.currency},"
        " {=pending}, $2::text[[o.created_at|, now()]][[o.updated_at|, now()]]{=values.select}"
        " FROM {subscriptions} s WHERE s.{s.id} = $1::bigint AND s.{s.status} = {=active}"
        " AND " KEY(3) " = $2::text"
                       " ON CONFLICT DO NOTHING RETURNING {o.id}::text";

static const char sql_by_key[] = "SELECT o.{o.id}::text, o.{o.status}::text FROM {payment_orders} o"
                                 " WHERE o.{o.idempotency_key}::text = $1::text";

/* Open orders of active subscriptions, oldest first: only this
 * installation's own (key prefix $1), never an order the application
 * opened itself. */
static const char sql_open[] =
        "SELECT o.{o.id}::text, o.{o.idempotency_key}::text, s.{s.id}::text, t.{t.name}::text,"
        " s.{s.plan}::text, " CARD " FROM {payment_orders} o"
        " JOIN {subscriptions} s ON s.{s.link} = o.{o.subscription_id}"
        " JOIN {tenants} t ON t.{t.id} = s.{s.tenant_id}" CARD_JOIN
        " WHERE o.{o.status} IN ({=pending}, {=unknown}) AND s.{s.status} = {=active}"
        " AND left(o.{o.idempotency_key}::text, length($1::text) + 5) = $1::text || '-sub-'"
        " ORDER BY o.{o.id}";

/* Counts the attempt before the call, so a call cut short by a crash is
 * counted too; returns the order as it will be sent. */
static const char sql_begin_attempt[] =
        "UPDATE {payment_orders} o SET {o.status} = o.{o.status}"
        "[[o.attempts|, {o.attempts} = o.{o.attempts} + 1]][[o.updated_at|, {o.updated_at} = "
        "now()]]"
        " WHERE o.{o.id} = $1::bigint AND o.{o.status} IN ({=pending}, {=unknown})"
        " RETURNING o.{o.amount}::text, o.{o.currency}::text";

static const char sql_record[] =
        "UPDATE {payment_orders} o SET {o.status} = $2::text,"
        " {o.gateway_order_id} = coalesce($3::text, o.{o.gateway_order_id}::text)"
        "[[o.gateway_message|, {o.gateway_message} = $4::text]]"
        "[[o.updated_at|, {o.updated_at} = now()]]"
        " WHERE o.{o.id} = $1::bigint AND o.{o.status} IN ({=pending}, {=unknown})"
        /* $4 typed even when gateway_message is turned off. */
        " AND ($4::text IS NULL OR true)";

static const char sql_sum_orders[] =
        "SELECT o.{o.currency}::text, sum(o.{o.amount})::text FROM {payment_orders} o"
        " WHERE o.{o.id} = ANY($1::bigint[]) GROUP BY 1 ORDER BY 1";

static const char sql_sum_subscriptions[] =
        "SELECT s.{s.currency}::text, sum(s.{s.amount})::text FROM {subscriptions} s"
        " WHERE s.{s.id} = ANY($1::bigint[]) GROUP BY 1 ORDER BY 1";

enum charge_stmt {
	STMT_DUE,
	STMT_INSERT,
	STMT_BY_KEY,
	STMT_OPEN,
	STMT_BEGIN_ATTEMPT,
	STMT_RECORD,
	STMT_SUM_ORDERS,
	STMT_SUM_SUBSCRIPTIONS,
	STMT_COUNT,
};

static const char *const stmt_templates[STMT_COUNT] = {
        sql_due,           sql_insert, sql_by_key,     sql_open,
        sql_begin_attempt, sql_record, sql_sum_orders, sql_sum_subscriptions,
};

/* A growing list of ids as a PostgreSQL array literal "{1,2,3}". */
struct id_list {
	char *text;
	size_t len, n;
};

struct charge_ctx {
	const struct billing_state *state;
	struct chime_run *run;
	PGconn *conn;
	char *sql[STMT_COUNT];
	char nominal[24];
	char prefix[72];          /* the idempotency key's installation part */
	char *token;              /* NULL in a dry run */
	struct id_list attempted; /* orders called in this run */
	struct id_list charged;   /* orders that succeeded in this run */
	struct id_list would;     /* dry run: subscriptions that would be charged */
	struct billing_errors err;
};

static int
id_list_add(struct id_list *l, const char *id)
{
	size_t need = l->len + strlen(id) + 3;
	char *p = realloc(l->text, need);

	if (p == NULL)
		return -ENOMEM;
	if (l->len == 0)
		l->len = (size_t)sprintf(p, "{%s}", id);
	else
		l->len = l->len - 1 + (size_t)sprintf(p + l->len - 1, ",%s}", id);
	l->text = p;
	l->n++;
	return 0;
}

static bool
id_list_has(const struct id_list *l, const char *id)
{
	size_t n = strlen(id);

	for (const char *p = l->text; p != NULL && (p = strstr(p, id)) != NULL; p += n)
		if ((p[-1] == '{' || p[-1] == ',') && (p[n] == ',' || p[n] == '}'))
			return true;
	return false;
}

/* The gateway's order id ("order_id" or "id", string or number), or NULL. */
static char *
answer_order_id(json_t *doc)
{
	static const char *const keys[] = {"order_id", "id", NULL};
	char buf[32];

	for (const char *const *k = keys; *k != NULL; k++) {
		json_t *v = json_object_get(doc, *k);

		if (json_is_string(v))
			return strdup(json_string_value(v));
		if (json_is_integer(v)) {
			snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
			return strdup(buf);
		}
	}
	return NULL;
}

/* The gateway's message ("message", "error" or "error.message"), else the
 * start of `body` (NULL: no fallback). A new string, or NULL. */
static char *
answer_message(json_t *doc, const char *body)
{
	json_t *v = json_object_get(doc, "message");
	char *m;
	size_t n;

	if (!json_is_string(v)) {
		v = json_object_get(doc, "error");
		if (json_is_object(v))
			v = json_object_get(v, "message");
	}
	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (body == NULL)
		return NULL;
	n = strcspn(body, "\r\n");
	m = strndup(body, n > 200 ? 200 : n);
	return m;
}

static bool
status_is_retryable_4xx(long status)
{
	return status == 408 || status == 409 || status == 425 || status == 429;
}

/*
 * Call the gateway for one open order and record the answer. Errors are
 * reported through billing_error(); returns -EIO only when the database
 * connection is gone (the run stops).
 */
static int
charge_call(struct charge_ctx *c, const char *order_id, const char *key, const char *sub_id,
            const char *tenant, const char *plan, const char *card_token)
{
	char errbuf[512], *auth = NULL, *idem = NULL, *body = NULL;
	char *gw_id = NULL, *message = NULL;
	const char *headers[5], *params[4], *status = NULL;
	struct chime__http_response resp = {0};
	const char *amount, *currency;
	PGresult *res = NULL;
	json_t *doc = NULL, *req = NULL;
	const char *const *words = c->state->words;
	int r = 0, locked;

	locked = billing_try_lock(c->conn, BILLING_LOCK_ORDER, order_id);
	if (locked < 0) {
		billing_db_error(&c->err, NULL, "cannot lock payment order");
		return c->err.db_failed ? -EIO : 0;
	}
	if (locked == 0) {
		chime_run_count(c->run, "in_progress", 1);
		chime_run_item(
		        c->run,
		        "subscription %s (tenant '%s'): order %s is being charged by another "
		        "run, skipped",
		        sub_id, tenant, order_id);
		return 0;
	}
	if (id_list_add(&c->attempted, order_id) < 0) {
		r = -ENOMEM;
		goto out;
	}
	params[0] = order_id;
	res = chime__sql_exec_fenced(c->run, c->conn, c->sql[STMT_BEGIN_ATTEMPT], 1, params);
	if (!billing_ok(res)) {
		billing_db_error(&c->err, res, "cannot update payment order");
		goto out;
	}
	if (PQntuples(res) != 1) {
		/* Settled by another run between our SELECT and the lock. */
		chime_run_count(c->run, "already_done", 1);
		goto out;
	}
	amount = PQgetvalue(res, 0, 0);
	currency = PQgetvalue(res, 0, 1);

	req = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "order_id", order_id,
	                "idempotency_key", key, "subscription_id", sub_id, "card_token", card_token,
	                "amount", amount, "currency", currency, "description", plan);
	body = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
	if (body == NULL || asprintf(&auth, "Authorization: Bearer %s", c->token) < 0 ||
	    asprintf(&idem, "Idempotency-Key: %s", key) < 0) {
		auth = NULL;
		r = -ENOMEM;
		goto out;
	}
	headers[0] = "Content-Type: application/json";
	headers[1] = "Accept: application/json";
	headers[2] = idem;
	headers[3] = auth;
	headers[4] = NULL;
	{
		struct chime__http_request hr = {
		        .url = c->state->gateway_url,
		        .ca_file = c->state->gateway_ca_file,
		        .timeout_usec = c->state->gateway_timeout_usec,
		        .connect_timeout_usec = c->state->gateway_connect_timeout_usec,
		        .headers = headers,
		        .body = body,
		        .body_len = strlen(body),
		        .run = c->run,
		};

		r = chime__http_post(&hr, &resp, errbuf, sizeof(errbuf));
	}
	if (r == -ENOMEM)
		goto out;
	if (r < 0) {
		status = words[BILLING_W_PENDING];
		if (asprintf(&message, "no answer: %s", errbuf) < 0)
			message = NULL;
		billing_error(
		        &c->err,
		        "subscription %s (tenant '%s'): order %s: no answer from the gateway: "
		        "%s; retried next run with key %s",
		        sub_id, tenant, order_id, errbuf, key);
		r = 0;
	} else {
		doc = json_loads(resp.body, JSON_DISABLE_EOF_CHECK, NULL);
		message = answer_message(doc, resp.status >= 300 ? resp.body : NULL);
		if (resp.status >= 200 && resp.status < 300) {
			status = words[BILLING_W_SUCCEEDED];
			gw_id = answer_order_id(doc);
			chime_run_count(c->run, "charged", 1);
			chime_run_item(
			        c->run,
			        "subscription %s (tenant '%s', %s): charged %s %s, gateway order "
			        "%s, key %s",
			        sub_id, tenant, plan, amount, currency, gw_id ? gw_id : "?", key);
			if (id_list_add(&c->charged, order_id) < 0) {
				r = -ENOMEM;
				goto out;
			}
		} else if (resp.status >= 400 && resp.status < 500 &&
		           !status_is_retryable_4xx(resp.status)) {
			status = words[BILLING_W_FAILED];
			chime_run_count(c->run, "declined", 1);
			chime_run_item(c->run,
			               "subscription %s (tenant '%s', %s): declined by the gateway "
			               "(%ld): %s; not charged again for this period",
			               sub_id, tenant, plan, resp.status, message ? message : "");
			chime_run_log(c->run, 4,
			              "subscription %s (tenant '%s'): order %s declined (%ld): %s",
			              sub_id, tenant, order_id, resp.status,
			              message ? message : "");
		} else {
			status = resp.status >= 400 ? words[BILLING_W_PENDING]
			                            : words[BILLING_W_UNKNOWN];
			billing_error(
			        &c->err,
			        "subscription %s (tenant '%s'): order %s: gateway answered %ld: "
			        "%s; retried next run with key %s",
			        sub_id, tenant, order_id, resp.status, message ? message : "", key);
		}
	}

	PQclear(res);
	params[0] = order_id;
	params[1] = status;
	params[2] = gw_id;
	params[3] = message;
	res = chime__sql_exec_fenced(c->run, c->conn, c->sql[STMT_RECORD], 4, params);
	if (!billing_ok(res))
		billing_db_error(&c->err, res,
		                 "cannot record the gateway's answer (the order stays open and is "
		                 "retried with the same key)");
out:
	billing_unlock(c->conn, BILLING_LOCK_ORDER, order_id);
	PQclear(res);
	json_decref(doc);
	json_decref(req);
	chime__http_response_done(&resp);
	chime_free_many(gw_id, message, body, auth, idem);
	if (r == 0 && c->err.db_failed)
		r = -EIO;
	return r;
}

static void
skip_no_card(struct charge_ctx *c, const char *sub_id, const char *tenant)
{
	chime_run_count(c->run, "skipped_no_card", 1);
	chime_run_item(c->run, "subscription %s (tenant '%s'): no saved card, skipped", sub_id,
	               tenant);
	chime_run_log(c->run, 4, "subscription %s (tenant '%s'): no saved card, skipped", sub_id,
	              tenant);
}

/* A dry run's line for an open order a real run would call the gateway for again. */
static void
note_would_retry(struct charge_ctx *c, const char *order_id, const char *sub_id, const char *tenant,
                 const char *key)
{
	chime_run_count(c->run, "would_retry", 1);
	chime_run_item(c->run, "would retry order %s of subscription %s (tenant '%s') with key %s",
	               order_id, sub_id, tenant, key);
}

/*
 * Call the gateway for the order whose id is the first value of *res. The
 * id is copied and *res cleared (set to NULL) first: the call may take
 * seconds, and the result is of no more use.
 */
static int
charge_order(struct charge_ctx *c, PGresult **res, const char *key, const char *sub_id,
             const char *tenant, const char *plan, const char *card)
{
	char *order_id = strdup(PQgetvalue(*res, 0, 0));
	int r;

	if (order_id == NULL)
		return -ENOMEM;
	PQclear(*res);
	*res = NULL;
	r = charge_call(c, order_id, key, sub_id, tenant, plan, card);
	free(order_id);
	return r;
}

/* One due subscription: commit its order (or find it), then call. */
static int
charge_due(struct charge_ctx *c, const PGresult *due, int i)
{
	const char *sub_id = PQgetvalue(due, i, 0), *tenant = PQgetvalue(due, i, 1);
	const char *plan = PQgetvalue(due, i, 2), *amount = PQgetvalue(due, i, 3);
	const char *currency = PQgetvalue(due, i, 4), *key = PQgetvalue(due, i, 5);
	bool has_card = strcmp(PQgetvalue(due, i, 6), "t") == 0;
	const char *card = PQgetvalue(due, i, 7);
	const char *params[3];
	const char *order_id, *status;
	PGresult *res = NULL;
	int r = 0;

	chime_run_count(c->run, "due", 1);
	if (!has_card) {
		skip_no_card(c, sub_id, tenant);
		return 0;
	}
	params[0] = sub_id;
	params[1] = key;
	params[2] = c->prefix;
	if (!chime_run_dry_run(c->run)) {
		res = chime__sql_exec_fenced(c->run, c->conn, c->sql[STMT_INSERT], 3, params);
		if (!billing_ok(res)) {
			billing_db_error(&c->err, res, "cannot insert payment order");
			goto out;
		}
		if (PQntuples(res) == 1) {
			r = charge_order(c, &res, key, sub_id, tenant, plan, card);
			goto out;
		}
		PQclear(res);
	}
	res = billing_exec(c->conn, c->sql[STMT_BY_KEY], 1, &params[1]);
	if (!billing_ok(res)) {
		billing_db_error(&c->err, res, "cannot read payment order");
		goto out;
	}
	if (PQntuples(res) == 0) {
		if (chime_run_dry_run(c->run)) {
			chime_run_count(c->run, "would_charge", 1);
			chime_run_item(
			        c->run,
			        "would charge subscription %s (tenant '%s', %s): %s %s, key %s",
			        sub_id, tenant, plan, amount, currency, key);
			r = id_list_add(&c->would, sub_id);
		} else {
			/* Renewed or cancelled between the two statements. */
			chime_run_count(c->run, "changed", 1);
		}
		goto out;
	}
	order_id = PQgetvalue(res, 0, 0);
	status = PQgetvalue(res, 0, 1);
	if (strcmp(status, c->state->words[BILLING_W_PENDING]) == 0 ||
	    strcmp(status, c->state->words[BILLING_W_UNKNOWN]) == 0) {
		if (chime_run_dry_run(c->run)) {
			note_would_retry(c, order_id, sub_id, tenant, key);
			r = id_list_add(&c->attempted, order_id);
			goto out;
		}
		r = charge_order(c, &res, key, sub_id, tenant, plan, card);
		goto out;
	}
	chime_run_count(c->run, "already_done", 1);
	chime_run_item(c->run, "subscription %s (tenant '%s'): order %s for this period already %s",
	               sub_id, tenant, order_id, status);
out:
	PQclear(res);
	return r;
}

/* Orders left open by an earlier run whose subscription is no longer in
 * the window: the same call again, with the same key. */
static int
charge_open_orders(struct charge_ctx *c)
{
	const char *params[1] = {c->prefix};
	PGresult *res = billing_exec(c->conn, c->sql[STMT_OPEN], 1, params);
	int r = 0;

	if (!billing_ok(res)) {
		billing_db_error(&c->err, res, "cannot list open payment orders");
		PQclear(res);
		return c->err.db_failed ? -EIO : 0;
	}
	for (int i = 0; i < PQntuples(res) && r == 0; i++) {
		const char *order_id = PQgetvalue(res, i, 0), *key = PQgetvalue(res, i, 1);
		const char *sub_id = PQgetvalue(res, i, 2), *tenant = PQgetvalue(res, i, 3);
		const char *plan = PQgetvalue(res, i, 4);

		if (chime_run_cancelled(c->run))
			break;
		if (id_list_has(&c->attempted, order_id))
			continue;
		if (strcmp(PQgetvalue(res, i, 5), "t") != 0) {
			skip_no_card(c, sub_id, tenant);
			continue;
		}
		if (chime_run_dry_run(c->run)) {
			note_would_retry(c, order_id, sub_id, tenant, key);
			continue;
		}
		r = charge_call(c, order_id, key, sub_id, tenant, plan, PQgetvalue(res, i, 6));
	}
	PQclear(res);
	return r;
}

static void
report_totals(struct charge_ctx *c, const struct id_list *ids, enum charge_stmt stmt,
              const char *prefix)
{
	const char *params[1] = {ids->text};
	PGresult *res;
	char key[64];

	if (ids->n == 0)
		return;
	res = billing_exec(c->conn, c->sql[stmt], 1, params);
	for (int i = 0; billing_ok(res) && i < PQntuples(res); i++) {
		snprintf(key, sizeof(key), "%s_%s", prefix, PQgetvalue(res, i, 0));
		chime_run_value(c->run, key, PQgetvalue(res, i, 1));
	}
	PQclear(res);
}

int
billing_charge_run(const struct billing_state *state, struct chime_run *run)
{
	struct charge_ctx c = {.state = state, .run = run, .conn = chime_run_db(run)};

	c.err.run = run;
	c.err.conn = c.conn;
	char errbuf[512], days[24];
	const char *params[3];
	struct chime__sql_check k;
	PGresult *due = NULL;
	int r = 0;

	/* A mapping that cannot work fails the run before anything changes. */
	chime__sql_check_init_run(&k, run);
	r = billing_check_schema(&k, state);
	if (r >= 0)
		r = billing_key_prefix(state, run, c.prefix, sizeof(c.prefix));
	if (r >= 0)
		r = billing_sql_build(state, run, c.conn, stmt_templates, STMT_COUNT, c.sql);
	if (r < 0)
		goto out;
	if (!chime_run_dry_run(run)) {
		r = billing_read_secret(state->token_file, &c.token, errbuf, sizeof(errbuf));
		if (r < 0) {
			chime_run_fail(run, "gateway token_file: %s", errbuf);
			goto out;
		}
	}
	billing_usec_text(chime_run_nominal_usec(run), c.nominal);
	snprintf(days, sizeof(days), "%lld", (long long)state->days_before);
	params[0] = c.nominal;
	params[1] = days;
	params[2] = c.prefix;
	due = billing_exec(c.conn, c.sql[STMT_DUE], 3, params);
	if (!billing_ok(due)) {
		chime_run_fail(run, "cannot list due subscriptions: %s",
		               billing_pg_error(c.conn, due, errbuf, sizeof(errbuf)));
		r = -EIO;
		goto out;
	}
	for (int i = 0; i < PQntuples(due) && r == 0 && !c.err.db_failed; i++) {
		if (chime_run_cancelled(run))
			break;
		r = charge_due(&c, due, i);
	}
	if (r == 0 && !c.err.db_failed && !chime_run_cancelled(run))
		r = charge_open_orders(&c);
	if (r == -ENOMEM) {
		chime_run_fail(run, "out of memory");
		goto out;
	}
	if (!c.err.db_failed) {
		report_totals(&c, &c.charged, STMT_SUM_ORDERS, "charged");
		report_totals(&c, &c.would, STMT_SUM_SUBSCRIPTIONS, "would_charge");
	}
	if (chime_run_cancelled(run)) {
		chime_run_fail(run,
		               "cancelled; open orders are retried with the same key next run");
		r = -ECANCELED;
	} else if (c.err.count > 0) {
		chime_run_fail(run, "%lld charge(s) got no definite answer, first: %s",
		               (long long)c.err.count, c.err.first);
		r = -EIO;
	} else
		r = 0;
out:
	PQclear(due);
	for (int i = 0; i < STMT_COUNT; i++)
		free(c.sql[i]);
	if (c.token != NULL) {
		explicit_bzero(c.token, strlen(c.token));
		free(c.token);
	}
	chime_free_many(c.attempted.text, c.charged.text, c.would.text);
	return r;
}
