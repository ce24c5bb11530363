/* SPDX-License-Identifier: MIT */
/*
 * billing, `action: status`: from each active subscription's expiry and the
 * run's nominal local date in the job's zone (days_left = expiry date -
 * nominal date), the notice that is due:
 *
 *   3 < days_left <= 7       reminder_7   (sent late, on days 6..4, when the
 *                                          day-7 run was missed)
 *   0 <= days_left <= 3      reminder_3   (likewise late on days 2..0)
 *   -grace_days < days_left < 0
 *                            grace_N, N = -days_left (only today's; a missed
 *                                          day's warning is not sent late)
 *   days_left <= -grace_days suspended    (never skipped, however late)
 *
 * Each notice is at most once per subscription, kind and expiry: its row
 * is committed (`pending`) before the mail goes out and marked `sent`
 * after the server accepted it. A crash in between leaves a pending row
 * that the next run sends again while the notice is still due, so a crash
 * at that exact point can mail one notice twice (at most once more); the
 * Message-ID is derived from the row, so mail clients fold the copies.
 * Suspension deactivates the subscription and the tenant and commits the
 * suspension notice row in one transaction; its mail is retried until sent.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "billing.h"
#include "freemany.h"
#include "smtp.h"
#include "sqlutil.h"

#define NOMINAL "('epoch'::timestamptz + $1::bigint * interval '1 microsecond')"

/* Columns shared by both selects, in the order of enum status_col. */
#define STATUS_COLUMNS                                                                             \
	"s.{s.id}::text, t.{t.id}::text, t.{t.name}::text, t.{t.schema_name}::text,"               \
	" t.{t.admin_email}::text, s.{s.plan}::text, s.{s.amount}::text, s.{s.currency}::text,"    \
	" to_char({=expires} AT TIME ZONE $2::text, 'YYYY-MM-DD'),"                                \
	" (({=expires} AT TIME ZONE $2::text)::date"                                               \
	" - (" NOMINAL " AT TIME ZONE $2::text)::date)::text"

enum status_col {
	COL_SUB_ID,
	COL_TENANT_ID,
	COL_TENANT_NAME,
	COL_SCHEMA_NAME,
	COL_ADMIN_EMAIL,
	COL_PLAN,
	COL_AMOUNT,
	COL_CURRENCY,
	COL_EXPIRES_AT,
	COL_DAYS_LEFT,
	COL_NOTICE_ID, /* the resend select only */
};

static const char sql_due[] =
        "SELECT " STATUS_COLUMNS " FROM {subscriptions} s"
        " JOIN {tenants} t ON t.{t.id} = s.{s.tenant_id}"
        " WHERE s.{s.status} = {=active} AND {=expires} < " NOMINAL " + interval '9 days'"
        " ORDER BY {=expires}, s.{s.id}";

/* Suspension notices committed but not sent (a failed mail, a crash). */
static const char sql_unsent_suspensions[] =
        "SELECT " STATUS_COLUMNS ", n.{n.id}::text FROM {notices} n"
        " JOIN {subscriptions} s ON s.{s.id} = n.{n.subscription_id}"
        " AND {=expires} = n.{n.expires_at}"
        " JOIN {tenants} t ON t.{t.id} = s.{s.tenant_id}"
        " WHERE n.{n.kind}::text = 'suspended' AND n.{n.status}::text <> 'sent'"
        " AND s.{s.status} = {=suspended}"
        " ORDER BY n.{n.id}";

static const char sql_insert[] =
        "INSERT INTO {notices} ({n.subscription_id}, {n.kind}, {n.expires_at}, {n.recipient},"
        " {n.status}) SELECT s.{s.id}, $2::text, {=expires}, $3::text, 'pending'"
        " FROM {subscriptions} s WHERE s.{s.id} = $1::bigint AND s.{s.status} = {=active}"
        " ON CONFLICT DO NOTHING RETURNING {n.id}::text";

static const char sql_lookup[] =
        "SELECT n.{n.id}::text, n.{n.status}::text FROM {notices} n"
        " JOIN {subscriptions} s ON s.{s.id} = n.{n.subscription_id}"
        " AND {=expires} = n.{n.expires_at}"
        " WHERE n.{n.subscription_id} = $1::bigint AND n.{n.kind}::text = $2::text";

static const char sql_begin_send[] =
        "UPDATE {notices} n SET {n.attempts} = n.{n.attempts} + 1"
        " WHERE n.{n.id} = $1::bigint AND n.{n.status}::text <> 'sent' RETURNING n.{n.id}";

static const char sql_record[] =
        "UPDATE {notices} n SET {n.status} = $2::text, {n.error} = $3::text,"
        " {n.sent_at} = CASE WHEN $2::text = 'sent' THEN now() END WHERE n.{n.id} = $1::bigint";

static const char sql_suspend_subscription[] =
        "UPDATE {subscriptions} s SET {s.status} = {=suspended}"
        " WHERE s.{s.id} = $1::bigint AND s.{s.status} = {=active}";

static const char sql_suspend_tenant[] =
        "UPDATE {tenants} t SET {t.is_active} = false, {t.suspended_at} = now()"
        " WHERE t.{t.id} = $1::bigint";

enum status_stmt {
	STMT_DUE,
	STMT_UNSENT,
	STMT_INSERT,
	STMT_LOOKUP,
	STMT_BEGIN_SEND,
	STMT_RECORD,
	STMT_SUSPEND_SUBSCRIPTION,
	STMT_SUSPEND_TENANT,
	STMT_COUNT,
};

static const char *const stmt_templates[STMT_COUNT] = {
        sql_due,    sql_unsent_suspensions,   sql_insert,         sql_lookup, sql_begin_send,
        sql_record, sql_suspend_subscription, sql_suspend_tenant,
};

struct status_ctx {
	const struct billing_state *state;
	struct chime_run *run;
	PGconn *conn;
	char *sql[STMT_COUNT];
	char nominal[24];
	char *password; /* NULL without AUTH or in a dry run */
	bool smtp_down; /* the server refused us once: no more mail this run */
	char smtp_down_reason[512];
	struct billing_errors err;
};

/* One subscription row and the notice due for it. */
struct notice {
	enum billing_notice_kind kind;
	char kind_text[32]; /* "grace_3" */
	const char *fields[BILLING_F_COUNT];
	char days_left[24], grace_day[24], grace_days[24], until[24];
	const char *sub_id, *tenant_id, *tenant, *recipient;
};

/* Decide the notice due for a row; false when none is. */
static bool
notice_due(const struct billing_state *state, const PGresult *res, int i, struct notice *n)
{
	long long d = strtoll(PQgetvalue(res, i, COL_DAYS_LEFT), NULL, 10);
	long long g = state->grace_days;

	memset(n, 0, sizeof(*n));
	if (d > 7)
		return false;
	if (d > 3) {
		n->kind = BILLING_NOTICE_REMINDER_7;
		snprintf(n->kind_text, sizeof(n->kind_text), "reminder_7");
		snprintf(n->until, sizeof(n->until), "%lld", d + g);
	} else if (d >= 0) {
		n->kind = BILLING_NOTICE_REMINDER_3;
		snprintf(n->kind_text, sizeof(n->kind_text), "reminder_3");
		snprintf(n->until, sizeof(n->until), "%lld", d + g);
	} else if (d > -g) {
		n->kind = BILLING_NOTICE_GRACE;
		snprintf(n->kind_text, sizeof(n->kind_text), "grace_%lld", -d);
		snprintf(n->grace_day, sizeof(n->grace_day), "%lld", -d);
		snprintf(n->until, sizeof(n->until), "%lld", g + d);
		n->fields[BILLING_F_GRACE_DAY] = n->grace_day;
	} else {
		n->kind = BILLING_NOTICE_SUSPENDED;
		snprintf(n->kind_text, sizeof(n->kind_text), "suspended");
		snprintf(n->until, sizeof(n->until), "0");
	}
	snprintf(n->days_left, sizeof(n->days_left), "%lld", d);
	snprintf(n->grace_days, sizeof(n->grace_days), "%lld", g);
	n->sub_id = PQgetvalue(res, i, COL_SUB_ID);
	n->tenant_id = PQgetvalue(res, i, COL_TENANT_ID);
	n->tenant = PQgetvalue(res, i, COL_TENANT_NAME);
	n->recipient = PQgetvalue(res, i, COL_ADMIN_EMAIL);
	n->fields[BILLING_F_TENANT_NAME] = n->tenant;
	n->fields[BILLING_F_SCHEMA_NAME] = PQgetvalue(res, i, COL_SCHEMA_NAME);
	n->fields[BILLING_F_ADMIN_EMAIL] = n->recipient;
	n->fields[BILLING_F_PLAN] = PQgetvalue(res, i, COL_PLAN);
	n->fields[BILLING_F_EXPIRES_AT] = PQgetvalue(res, i, COL_EXPIRES_AT);
	n->fields[BILLING_F_DAYS_LEFT] = n->days_left;
	n->fields[BILLING_F_GRACE_DAYS] = n->grace_days;
	n->fields[BILLING_F_DAYS_UNTIL_SUSPENSION] = n->until;
	n->fields[BILLING_F_AMOUNT] = PQgetvalue(res, i, COL_AMOUNT);
	n->fields[BILLING_F_CURRENCY] = PQgetvalue(res, i, COL_CURRENCY);
	return true;
}

static bool
address_ok(const char *a)
{
	const char *at = strchr(a, '@');

	return at != NULL && at != a && at[1] != '\0' && strpbrk(a, " \t\r\n<>,;\"") == NULL;
}

static void
base64_append(FILE *out, const unsigned char *p, size_t n)
{
	static const char tab[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16;

		if (i + 1 < n)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		fputc(tab[(v >> 18) & 63], out);
		fputc(tab[(v >> 12) & 63], out);
		fputc(i + 1 < n ? tab[(v >> 6) & 63] : '=', out);
		fputc(i + 2 < n ? tab[v & 63] : '=', out);
	}
}

/* The Subject header value: as is when ASCII, else RFC 2047 encoded words
 * of whole UTF-8 characters, folded. CR and LF become spaces. */
static void
write_subject(FILE *out, char *subject)
{
	const unsigned char *p = (const unsigned char *)subject;
	bool ascii = true;
	size_t len, chunk;

	for (char *s = subject; *s != '\0'; s++) {
		if (*s == '\r' || *s == '\n' || *s == '\t')
			*s = ' ';
		if ((unsigned char)*s >= 0x80)
			ascii = false;
	}
	fputs("Subject: ", out);
	if (ascii) {
		fputs(subject, out);
		fputs("\r\n", out);
		return;
	}
	len = strlen(subject);
	while (len > 0) {
		chunk = len > 45 ? 45 : len;
		while (chunk < len && chunk > 0 && (p[chunk] & 0xc0) == 0x80)
			chunk--;
		fputs("=?UTF-8?B?", out);
		base64_append(out, p, chunk);
		fputs("?=", out);
		p += chunk;
		len -= chunk;
		fputs(len > 0 ? "\r\n " : "\r\n", out);
	}
}

/* Build the whole message; returns 0 and a malloc'd string or -ENOMEM. */
static int
build_message(struct status_ctx *c, const struct notice *n, const char *notice_id, char **ret)
{
	const struct billing_template *t = &c->state->templates[n->kind];
	const char *domain = strchr(c->state->smtp_envelope_from, '@') + 1;
	char *subject = NULL, *body = NULL, *buf = NULL, date[64];
	struct tm tm;
	time_t now = time(NULL);
	size_t len = 0;
	FILE *out = NULL;
	int r;

	r = billing_template_render(t->subject, n->fields, &subject);
	if (r < 0)
		goto out;
	r = billing_template_render(t->body, n->fields, &body);
	if (r < 0)
		goto out;
	out = open_memstream(&buf, &len);
	if (out == NULL) {
		r = -ENOMEM;
		goto out;
	}
	(void)gmtime_r(&now, &tm);
	(void)strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	fprintf(out, "From: %s\r\nTo: %s\r\n", c->state->smtp_from, n->recipient);
	write_subject(out, subject);
	fprintf(out,
	        "Date: %s\r\n"
	        "Message-ID: <chime.notice.%s@%s>\r\n"
	        "MIME-Version: 1.0\r\n"
	        "Content-Type: text/plain; charset=UTF-8\r\n"
	        "Content-Transfer-Encoding: 8bit\r\n"
	        "X-Chime-Job: %s\r\n"
	        "X-Chime-Notice: %s\r\n"
	        "X-Chime-Subscription: %s\r\n"
	        "\r\n",
	        date, notice_id, domain, chime_run_job(c->run), n->kind_text, n->sub_id);
	for (const char *p = body; *p != '\0'; p++) {
		if (*p == '\r')
			continue;
		if (*p == '\n')
			fputc('\r', out);
		fputc(*p, out);
	}
	if (body[0] != '\0' && body[strlen(body) - 1] != '\n')
		fputs("\r\n", out);
	if (fclose(out) != 0) {
		out = NULL;
		r = -ENOMEM;
		goto out;
	}
	out = NULL;
	*ret = buf;
	buf = NULL;
	r = 0;
out:
	if (out != NULL)
		(void)fclose(out);
	chime_free_many(buf, subject, body);
	return r;
}

static bool
smtp_error_is_server_wide(int r)
{
	return r == -EACCES || r == -ECONNREFUSED || r == -EHOSTUNREACH || r == -EPROTO ||
	       r == -ETIMEDOUT;
}

/* Send committed notice `notice_id` and record the outcome. Returns -EIO
 * only when the database is gone. */
static int
notice_send(struct status_ctx *c, const struct notice *n, const char *notice_id)
{
	char errbuf[512], *message = NULL;
	const char *params[3] = {notice_id, NULL, NULL};
	PGresult *res = NULL;
	int locked, r;

	if (c->smtp_down) {
		billing_error(&c->err,
		              "subscription %s (tenant '%s'): %s to '%s' not sent: %s; sent by the "
		              "next run",
		              n->sub_id, n->tenant, n->kind_text, n->recipient,
		              c->smtp_down_reason);
		return 0;
	}
	locked = billing_try_lock(c->conn, BILLING_LOCK_NOTICE, notice_id);
	if (locked < 0) {
		billing_db_error(&c->err, NULL, "subscription %s: %s", n->sub_id,
		                 "cannot lock notice");
		return c->err.db_failed ? -EIO : 0;
	}
	if (locked == 0) {
		chime_run_count(c->run, "in_progress", 1);
		return 0;
	}
	res = chime__sql_exec_fenced(c->run, c->conn, c->sql[STMT_BEGIN_SEND], 1, params);
	if (!billing_ok(res)) {
		billing_db_error(&c->err, res, "subscription %s: %s", n->sub_id,
		                 "cannot update notice");
		goto out;
	}
	if (PQntuples(res) == 0) {
		chime_run_count(c->run, "already_sent", 1);
		goto out;
	}
	PQclear(res);
	res = NULL;
	if (build_message(c, n, notice_id, &message) < 0) {
		billing_error(&c->err, "subscription %s: out of memory", n->sub_id);
		goto out;
	}
	{
		struct chime__smtp_server server = {
		        .url = c->state->smtp_url,
		        .require_starttls = c->state->smtp_starttls &&
		                            strncmp(c->state->smtp_url, "smtp://", 7) == 0,
		        .username = c->state->smtp_username,
		        .password = c->password,
		        .ca_file = c->state->smtp_ca_file,
		        .timeout_usec = c->state->smtp_timeout_usec,
		        .connect_timeout_usec = c->state->smtp_connect_timeout_usec,
		        .run = c->run,
		};

		r = chime__smtp_send(&server, c->state->smtp_envelope_from, n->recipient, message,
		                     errbuf, sizeof(errbuf));
	}
	if (r == 0) {
		params[1] = "sent";
		chime_run_count(c->run, "sent", 1);
		chime_run_count(c->run, n->kind == BILLING_NOTICE_GRACE ? "grace" : n->kind_text,
		                1);
		chime_run_item(c->run, "subscription %s (tenant '%s'): sent %s to %s (expires %s)",
		               n->sub_id, n->tenant, n->kind_text, n->recipient,
		               n->fields[BILLING_F_EXPIRES_AT]);
	} else {
		params[1] = "failed";
		params[2] = errbuf;
		billing_error(&c->err, "subscription %s (tenant '%s'): %s to '%s' not sent: %s",
		              n->sub_id, n->tenant, n->kind_text, n->recipient, errbuf);
		if (smtp_error_is_server_wide(r)) {
			c->smtp_down = true;
			snprintf(c->smtp_down_reason, sizeof(c->smtp_down_reason), "%s", errbuf);
		}
	}
	res = chime__sql_exec_fenced(c->run, c->conn, c->sql[STMT_RECORD], 3, params);
	if (!billing_ok(res))
		billing_db_error(&c->err, res, "subscription %s: %s", n->sub_id,
		                 "cannot record the notice as sent (it may be sent again)");
out:
	billing_unlock(c->conn, BILLING_LOCK_NOTICE, notice_id);
	PQclear(res);
	free(message);
	return c->err.db_failed ? -EIO : 0;
}

/* Commit the suspension: notice row, subscription, tenant, one transaction.
 * Returns 1 when this run suspended, 0 when someone else did, -EIO. */
static int
suspend(struct status_ctx *c, const struct notice *n)
{
	const char *params[3] = {n->sub_id, "suspended", n->recipient};
	char errbuf[256];
	PGresult *res = NULL;
	int r;

	r = billing_command(c->conn, "BEGIN", errbuf, sizeof(errbuf));
	if (r < 0) {
		billing_error(&c->err, "subscription %s: cannot begin: %s", n->sub_id, errbuf);
		c->err.db_failed = PQstatus(c->conn) != CONNECTION_OK;
		return 0;
	}
	/* The suspension is one fenced unit (the fence's reason is the
	 * run's when it fails). */
	if (chime_run_fence(c->run, c->conn) < 0)
		goto fail;
	res = billing_exec(c->conn, c->sql[STMT_INSERT], 3, params);
	if (!billing_ok(res))
		goto fail;
	PQclear(res);
	res = billing_exec(c->conn, c->sql[STMT_SUSPEND_SUBSCRIPTION], 1, params);
	if (!billing_ok(res))
		goto fail;
	if (strcmp(PQcmdTuples(res), "1") != 0) {
		PQclear(res);
		(void)billing_command(c->conn, "ROLLBACK", errbuf, sizeof(errbuf));
		return 0;
	}
	PQclear(res);
	params[0] = n->tenant_id;
	res = billing_exec(c->conn, c->sql[STMT_SUSPEND_TENANT], 1, params);
	if (!billing_ok(res))
		goto fail;
	PQclear(res);
	res = NULL;
	r = billing_command(c->conn, "COMMIT", errbuf, sizeof(errbuf));
	if (r < 0) {
		billing_error(&c->err, "subscription %s: cannot commit the suspension: %s",
		              n->sub_id, errbuf);
		c->err.db_failed = PQstatus(c->conn) != CONNECTION_OK;
		return 0;
	}
	chime_run_count(c->run, "suspended_tenants", 1);
	chime_run_item(c->run,
	               "subscription %s (tenant '%s'): suspended after %s grace days (expired %s)",
	               n->sub_id, n->tenant, n->grace_days, n->fields[BILLING_F_EXPIRES_AT]);
	chime_run_log(c->run, 5, "subscription %s (tenant '%s'): tenant suspended", n->sub_id,
	              n->tenant);
	return 1;
fail:
	billing_db_error(&c->err, res, "subscription %s: %s", n->sub_id, "cannot suspend");
	PQclear(res);
	(void)billing_command(c->conn, "ROLLBACK", errbuf, sizeof(errbuf));
	return 0;
}

/* Find the committed notice row of `n`: 0 and its id (malloc'd) in
 * *ret_id, 1 when it is already sent, -ENOENT when absent, -EIO. */
static int
notice_lookup(struct status_ctx *c, const struct notice *n, char **ret_id)
{
	const char *params[2] = {n->sub_id, n->kind_text};
	PGresult *res = billing_exec(c->conn, c->sql[STMT_LOOKUP], 2, params);
	int r;

	if (!billing_ok(res)) {
		billing_db_error(&c->err, res, "subscription %s: %s", n->sub_id,
		                 "cannot read notices");
		r = -EIO;
	} else if (PQntuples(res) == 0)
		r = -ENOENT;
	else if (strcmp(PQgetvalue(res, 0, 1), "sent") == 0)
		r = 1;
	else {
		*ret_id = strdup(PQgetvalue(res, 0, 0));
		r = *ret_id != NULL ? 0 : -ENOMEM;
	}
	PQclear(res);
	return r;
}

static int
process_dry(struct status_ctx *c, const struct notice *n)
{
	char *id = NULL;
	int r = notice_lookup(c, n, &id);

	free(id);
	if (r == 1) {
		chime_run_count(c->run, "already_sent", 1);
		return 0;
	}
	if (r != 0 && r != -ENOENT)
		return 0;
	if (n->kind == BILLING_NOTICE_SUSPENDED) {
		chime_run_count(c->run, "would_suspend", 1);
		chime_run_item(c->run,
		               "would suspend tenant '%s' (subscription %s, expired %s) and send "
		               "the suspension notice to %s",
		               n->tenant, n->sub_id, n->fields[BILLING_F_EXPIRES_AT], n->recipient);
		return 0;
	}
	chime_run_count(c->run, "would_send", 1);
	chime_run_item(c->run, "would send %s to %s for subscription %s (tenant '%s', expires %s)",
	               n->kind_text, n->recipient, n->sub_id, n->tenant,
	               n->fields[BILLING_F_EXPIRES_AT]);
	return 0;
}

static int
process(struct status_ctx *c, const struct notice *n)
{
	const char *params[3] = {n->sub_id, n->kind_text, n->recipient};
	PGresult *res = NULL;
	char *id = NULL;
	int r;

	if (!address_ok(n->recipient)) {
		billing_error(&c->err,
		              "subscription %s (tenant '%s'): admin email '%s' is not an address, "
		              "%s not sent",
		              n->sub_id, n->tenant, n->recipient, n->kind_text);
		if (n->kind != BILLING_NOTICE_SUSPENDED)
			return 0;
	}
	if (chime_run_dry_run(c->run))
		return process_dry(c, n);
	if (n->kind == BILLING_NOTICE_SUSPENDED) {
		r = suspend(c, n);
		if (r <= 0)
			return c->err.db_failed ? -EIO : 0;
	} else {
		res = chime__sql_exec_fenced(c->run, c->conn, c->sql[STMT_INSERT], 3, params);
		if (!billing_ok(res)) {
			billing_db_error(&c->err, res, "subscription %s: %s", n->sub_id,
			                 "cannot insert notice");
			PQclear(res);
			return c->err.db_failed ? -EIO : 0;
		}
		if (PQntuples(res) == 1) {
			id = strdup(PQgetvalue(res, 0, 0));
			PQclear(res);
			if (id == NULL)
				return -ENOMEM;
			goto send;
		}
		PQclear(res);
	}
	r = notice_lookup(c, n, &id);
	if (r == 1) {
		chime_run_count(c->run, "already_sent", 1);
		return 0;
	}
	if (r < 0)
		return r == -ENOMEM || c->err.db_failed ? r : 0;
send:
	if (!address_ok(n->recipient)) {
		free(id);
		return 0;
	}
	r = notice_send(c, n, id);
	free(id);
	return r;
}

int
billing_status_run(const struct billing_state *state, struct chime_run *run)
{
	struct status_ctx c = {.state = state, .run = run, .conn = chime_run_db(run)};

	c.err.run = run;
	c.err.conn = c.conn;
	const char *params[2];
	char errbuf[512];
	PGresult *res = NULL;
	struct chime__sql_check k;
	struct notice n;
	int r = 0;

	/* A mapping that cannot work fails the run before anything changes. */
	chime__sql_check_init_run(&k, run);
	r = billing_check_schema(&k, state);
	if (r >= 0)
		r = billing_sql_build(state, run, c.conn, stmt_templates, STMT_COUNT, c.sql);
	if (r < 0)
		goto out;
	if (!chime_run_dry_run(run) && state->smtp_password_file != NULL) {
		r = billing_read_secret(state->smtp_password_file, &c.password, errbuf,
		                        sizeof(errbuf));
		if (r < 0) {
			chime_run_fail(run, "smtp password_file: %s", errbuf);
			goto out;
		}
	}
	billing_usec_text(chime_run_nominal_usec(run), c.nominal);
	params[0] = c.nominal;
	params[1] = chime_run_timezone(run) != NULL ? chime_run_timezone(run) : "UTC";

	/* First the suspension notices a previous run could not send. */
	res = billing_exec(c.conn, c.sql[STMT_UNSENT], 2, params);
	if (!billing_ok(res)) {
		chime_run_fail(run, "cannot list unsent suspension notices: %s",
		               billing_pg_error(c.conn, res, errbuf, sizeof(errbuf)));
		r = -EIO;
		goto out;
	}
	for (int i = 0; i < PQntuples(res) && r == 0 && !chime_run_cancelled(run); i++) {
		(void)notice_due(state, res, i, &n);
		n.kind = BILLING_NOTICE_SUSPENDED;
		snprintf(n.kind_text, sizeof(n.kind_text), "suspended");
		if (chime_run_dry_run(run)) {
			chime_run_count(run, "would_send", 1);
			chime_run_item(run,
			               "would resend the suspension notice to %s for "
			               "subscription %s (tenant '%s')",
			               n.recipient, n.sub_id, n.tenant);
			continue;
		}
		if (address_ok(n.recipient))
			r = notice_send(&c, &n, PQgetvalue(res, i, COL_NOTICE_ID));
	}
	PQclear(res);

	res = r == 0 ? billing_exec(c.conn, c.sql[STMT_DUE], 2, params) : NULL;
	if (r == 0 && !billing_ok(res)) {
		chime_run_fail(run, "cannot list subscriptions: %s",
		               billing_pg_error(c.conn, res, errbuf, sizeof(errbuf)));
		r = -EIO;
		goto out;
	}
	for (int i = 0; r == 0 && i < PQntuples(res) && !chime_run_cancelled(run); i++)
		if (notice_due(state, res, i, &n))
			r = process(&c, &n);

	if (r == -ENOMEM)
		chime_run_fail(run, "out of memory");
	else if (c.err.db_failed) {
		chime_run_fail(run, "database connection lost: %s", c.err.first);
		r = -EIO;
	} else if (chime_run_cancelled(run)) {
		chime_run_fail(run, "cancelled; notices not yet sent go out with the next run");
		r = -ECANCELED;
	} else if (c.err.count > 0) {
		chime_run_fail(run, "%lld notice(s) failed, first: %s", (long long)c.err.count,
		               c.err.first);
		r = -EIO;
	}
out:
	PQclear(res);
	for (int i = 0; i < STMT_COUNT; i++)
		free(c.sql[i]);
	if (c.password != NULL) {
		explicit_bzero(c.password, strlen(c.password));
		free(c.password);
	}
	return r;
}
