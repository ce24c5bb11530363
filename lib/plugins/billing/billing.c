/* SPDX-License-Identifier: MIT */
/*
 * The `billing` plugin (seed 002): `action: charge` charges the saved card
 * of each active subscription expiring within `days_before` through a
 * payment gateway, never twice for one billing period; `action: status`
 * sends the reminders, grace-period warnings and suspension notice by SMTP
 * and suspends tenants after `grace_days`. This file holds what both share:
 * the descriptor, option parsing and validation (configure), the table and
 * column mapping, template expansion, secrets and small libpq helpers. The
 * actions live in billing_charge.c and billing_status.c.
 */
#include "billing.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "env.h"
#include "http.h"
#include "sqltext.h"
#include "sqlutil.h"

/* ---- Table and column mapping ------------------------------------------ */

const struct billing_ident_def billing_ident_defs[] = {
        {"tenants", "table", "tenants", "tenants", false, 0, BILLING_FOR_BOTH},
        {"tenants", "id", "t.id", "id", false, 0, BILLING_FOR_BOTH},
        {"tenants", "name", "t.name", "name", false, 0, BILLING_FOR_BOTH},
        {"tenants", "schema_name", "t.schema_name", "schema_name", false, 0, BILLING_FOR_STATUS},
        {"tenants", "is_active", "t.is_active", "is_active", false, BILLING_KIND(BOOL),
         BILLING_FOR_BOTH},
        {"tenants", "admin_email", "t.admin_email", "admin_email", false, 0, BILLING_FOR_STATUS},
        {"tenants", "suspended_at", "t.suspended_at", "suspended_at", false, BILLING_WHEN,
         BILLING_FOR_STATUS},
        {"subscriptions", "table", "subscriptions", "subscriptions", false, 0, BILLING_FOR_BOTH},
        {"subscriptions", "id", "s.id", "id", false, BILLING_KIND(NUMBER), BILLING_FOR_BOTH},
        {"subscriptions", "tenant_id", "s.tenant_id", "tenant_id", false, 0, BILLING_FOR_BOTH},
        {"subscriptions", "plan", "s.plan", "plan", false, 0, BILLING_FOR_BOTH},
        {"subscriptions", "amount", "s.amount", "amount", false, BILLING_KIND(NUMBER),
         BILLING_FOR_BOTH},
        {"subscriptions", "currency", "s.currency", "currency", false, 0, BILLING_FOR_BOTH},
        {"subscriptions", "expires_at", "s.expires_at", "expires_at", false, BILLING_WHEN,
         BILLING_FOR_BOTH},
        {"subscriptions", "status", "s.status", "status", false, 0, BILLING_FOR_BOTH},
        {"subscriptions", "card_saved", "s.card_saved", "card_saved", true, BILLING_KIND(BOOL),
         BILLING_FOR_CHARGE},
        {"subscriptions", "card_token", "s.card_token", "card_token", true, 0, BILLING_FOR_CHARGE},
        {"payment_orders", "table", "payment_orders", "payment_orders", false, 0,
         BILLING_FOR_CHARGE},
        {"payment_orders", "id", "o.id", "id", false, BILLING_KIND(NUMBER), BILLING_FOR_CHARGE},
        {"payment_orders", "subscription_id", "o.subscription_id", "subscription_id", false, 0,
         BILLING_FOR_CHARGE},
        /* The subscription column o.subscription_id refers to: its id, or
         * (an application whose orders belong to the tenant) tenant_id. */
        {"payment_orders", "links_to", "s.link", "id", false, 0, BILLING_FOR_CHARGE},
        {"payment_orders", "period", "o.period", "period", true, BILLING_WHEN, BILLING_FOR_CHARGE},
        {"payment_orders", "amount", "o.amount", "amount", false, BILLING_KIND(NUMBER),
         BILLING_FOR_CHARGE},
        {"payment_orders", "currency", "o.currency", "currency", false, 0, BILLING_FOR_CHARGE},
        {"payment_orders", "status", "o.status", "status", false, BILLING_KIND(TEXT),
         BILLING_FOR_CHARGE},
        {"payment_orders", "idempotency_key", "o.idempotency_key", "idempotency_key", false,
         BILLING_KIND(TEXT), BILLING_FOR_CHARGE},
        {"payment_orders", "gateway_order_id", "o.gateway_order_id", "gateway_order_id", false,
         BILLING_KIND(TEXT), BILLING_FOR_CHARGE},
        {"payment_orders", "gateway_message", "o.gateway_message", "gateway_message", true,
         BILLING_KIND(TEXT), BILLING_FOR_CHARGE},
        {"payment_orders", "attempts", "o.attempts", "attempts", true, BILLING_KIND(NUMBER),
         BILLING_FOR_CHARGE},
        {"payment_orders", "created_at", "o.created_at", "created_at", true, BILLING_WHEN,
         BILLING_FOR_CHARGE},
        {"payment_orders", "updated_at", "o.updated_at", "updated_at", true, BILLING_WHEN,
         BILLING_FOR_CHARGE},
        {"payment_orders", "card_saved", "o.card_saved", "card_saved", true, BILLING_KIND(BOOL),
         BILLING_FOR_CHARGE},
        {"notices", "table", "notices", "notices", false, 0, BILLING_FOR_STATUS},
        {"notices", "id", "n.id", "id", false, BILLING_KIND(NUMBER), BILLING_FOR_STATUS},
        {"notices", "subscription_id", "n.subscription_id", "subscription_id", false, 0,
         BILLING_FOR_STATUS},
        {"notices", "kind", "n.kind", "kind", false, BILLING_KIND(TEXT), BILLING_FOR_STATUS},
        {"notices", "expires_at", "n.expires_at", "expires_at", false, BILLING_KIND(TIMESTAMPTZ),
         BILLING_FOR_STATUS},
        {"notices", "recipient", "n.recipient", "recipient", false, BILLING_KIND(TEXT),
         BILLING_FOR_STATUS},
        {"notices", "status", "n.status", "status", false, BILLING_KIND(TEXT), BILLING_FOR_STATUS},
        {"notices", "attempts", "n.attempts", "attempts", false, BILLING_KIND(NUMBER),
         BILLING_FOR_STATUS},
        {"notices", "error", "n.error", "error", false, BILLING_KIND(TEXT), BILLING_FOR_STATUS},
        {"notices", "created_at", "n.created_at", "created_at", false, BILLING_WHEN,
         BILLING_FOR_STATUS},
        {"notices", "sent_at", "n.sent_at", "sent_at", false, BILLING_WHEN, BILLING_FOR_STATUS},
};

static_assert(sizeof(billing_ident_defs) / sizeof(billing_ident_defs[0]) == BILLING_N_IDENTS,
              "BILLING_N_IDENTS matches billing_ident_defs");

const char *const billing_word_names[BILLING_W_COUNT] = {
        [BILLING_W_ACTIVE] = "active",   [BILLING_W_SUSPENDED] = "suspended",
        [BILLING_W_PENDING] = "pending", [BILLING_W_SUCCEEDED] = "succeeded",
        [BILLING_W_FAILED] = "failed",   [BILLING_W_UNKNOWN] = "unknown",
};

/* ---- Templates ----------------------------------------------------------- */

const char *const billing_field_names[BILLING_F_COUNT] = {
        [BILLING_F_TENANT_NAME] = "tenant_name",
        [BILLING_F_SCHEMA_NAME] = "schema_name",
        [BILLING_F_ADMIN_EMAIL] = "admin_email",
        [BILLING_F_PLAN] = "plan",
        [BILLING_F_EXPIRES_AT] = "expires_at",
        [BILLING_F_DAYS_LEFT] = "days_left",
        [BILLING_F_GRACE_DAY] = "grace_day",
        [BILLING_F_GRACE_DAYS] = "grace_days",
        [BILLING_F_DAYS_UNTIL_SUSPENSION] = "days_until_suspension",
        [BILLING_F_AMOUNT] = "amount",
        [BILLING_F_CURRENCY] = "currency",
};

static const char *const notice_template_keys[BILLING_NOTICE_COUNT] = {
        [BILLING_NOTICE_REMINDER_7] = "reminder_7",
        [BILLING_NOTICE_REMINDER_3] = "reminder_3",
        [BILLING_NOTICE_GRACE] = "grace",
        [BILLING_NOTICE_SUSPENDED] = "suspended",
};

/* The seed's messages. */
static const struct billing_template default_templates[BILLING_NOTICE_COUNT] = {
        [BILLING_NOTICE_REMINDER_7] =
                {
                        "Your {plan} subscription expires in {days_left} days",
                        "Hello {tenant_name},\n\n"
                        "your {plan} subscription expires on {expires_at}, in {days_left} days.\n"
                        "The saved card will be charged {amount} {currency} before then; without "
                        "a\n"
                        "saved card, please renew in the billing settings.\n",
                },
        [BILLING_NOTICE_REMINDER_3] =
                {
                        "\xe2\x9a\xa0\xef\xb8\x8f Urgent: your {plan} subscription expires in "
                        "{days_left} days",
                        "Hello {tenant_name},\n\n"
                        "your {plan} subscription expires on {expires_at}, in {days_left} days.\n"
                        "Renewal: {amount} {currency}.\n",
                },
        [BILLING_NOTICE_GRACE] =
                {
                        "Payment required - {days_until_suspension} days until suspension",
                        "Hello {tenant_name},\n\n"
                        "your {plan} subscription expired on {expires_at}. This is day "
                        "{grace_day}\n"
                        "of {grace_days} of the grace period: the account stays active for\n"
                        "{days_until_suspension} more days. Renewal: {amount} {currency}.\n",
                },
        [BILLING_NOTICE_SUSPENDED] =
                {
                        "Your account {tenant_name} has been suspended",
                        "Hello {tenant_name},\n\n"
                        "your {plan} subscription expired on {expires_at} and was not renewed\n"
                        "within {grace_days} days, so the account is suspended. Your data is "
                        "kept;\n"
                        "renew ({amount} {currency}) to reactivate it.\n",
                },
};

static int
field_lookup(const char *name, size_t len)
{
	for (int i = 0; i < BILLING_F_COUNT; i++)
		if (strlen(billing_field_names[i]) == len &&
		    strncmp(billing_field_names[i], name, len) == 0)
			return i;
	return -1;
}

/*
 * Walk a template: `{{` and `}}` are literal braces, `{name}` a field.
 * With `out` NULL only checks; returns 0, or -EINVAL with the offending
 * text in `bad`.
 */
static int
template_walk(const char *tmpl, const char *const *fields, FILE *out, char *bad, size_t badsize)
{
	const char *p = tmpl, *end;
	int f;

	while (*p != '\0') {
		if (p[0] == '{' && p[1] == '{') {
			if (out != NULL)
				fputc('{', out);
			p += 2;
			continue;
		}
		if (p[0] == '}' && p[1] == '}') {
			if (out != NULL)
				fputc('}', out);
			p += 2;
			continue;
		}
		if (p[0] != '{') {
			if (out != NULL)
				fputc(*p, out);
			p++;
			continue;
		}
		end = strchr(p + 1, '}');
		if (end == NULL) {
			snprintf(bad, badsize, "unterminated '{' (write '{{' for a literal brace)");
			return -EINVAL;
		}
		f = field_lookup(p + 1, (size_t)(end - p - 1));
		if (f < 0) {
			snprintf(bad, badsize, "unknown field '{%.*s}'", (int)(end - p - 1), p + 1);
			return -EINVAL;
		}
		if (out != NULL && fields[f] != NULL)
			fputs(fields[f], out);
		p = end + 1;
	}
	return 0;
}

int
billing_template_render(const char *tmpl, const char *const fields[BILLING_F_COUNT], char **ret)
{
	char bad[128], *buf = NULL;
	size_t len = 0;
	FILE *out;
	int r;

	out = open_memstream(&buf, &len);
	if (out == NULL)
		return -ENOMEM;
	r = template_walk(tmpl, fields, out, bad, sizeof(bad));
	if (fclose(out) != 0 && r == 0)
		r = -ENOMEM;
	if (r < 0) {
		free(buf);
		return r;
	}
	*ret = buf;
	return 0;
}

/* ---- libpq helpers -------------------------------------------------------- */

PGresult *
billing_exec(PGconn *conn, const char *sql, int n, const char *const *params)
{
	return PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
}

bool
billing_ok(const PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	return res != NULL && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
}

const char *
billing_pg_error(PGconn *conn, const PGresult *res, char *buf, size_t size)
{
	const char *msg = res != NULL ? PQresultErrorMessage(res) : "";
	size_t n;

	if (msg == NULL || msg[0] == '\0')
		msg = PQerrorMessage(conn);
	if (msg == NULL || msg[0] == '\0')
		msg = "unknown database error";
	n = strcspn(msg, "\n");
	snprintf(buf, size, "%.*s", (int)n, msg);
	return buf;
}

int
billing_command(PGconn *conn, const char *sql, char *errbuf, size_t errsize)
{
	PGresult *res = PQexec(conn, sql);
	int r = 0;

	if (!billing_ok(res)) {
		billing_pg_error(conn, res, errbuf, errsize);
		r = -EIO;
	}
	PQclear(res);
	return r;
}

void
billing_usec_text(int64_t usec, char buf[24])
{
	snprintf(buf, 24, "%lld", (long long)usec);
}

int
billing_try_lock(PGconn *conn, int32_t lock_class, const char *id)
{
	char cls[16];
	const char *params[2] = {cls, id};
	PGresult *res;
	int r;

	snprintf(cls, sizeof(cls), "%d", (int)lock_class);
	/* The second key is the row id folded into 32 bits; a collision only
	 * makes two unrelated rows wait for each other's run. */
	res = billing_exec(conn,
	                   "SELECT pg_try_advisory_lock($1::int, ($2::bigint % 2147483647)::int)",
	                   2, params);
	if (!billing_ok(res) || PQntuples(res) != 1)
		r = -EIO;
	else
		r = strcmp(PQgetvalue(res, 0, 0), "t") == 0 ? 1 : 0;
	PQclear(res);
	return r;
}

void
billing_unlock(PGconn *conn, int32_t lock_class, const char *id)
{
	char cls[16];
	const char *params[2] = {cls, id};

	snprintf(cls, sizeof(cls), "%d", (int)lock_class);
	PQclear(billing_exec(conn,
	                     "SELECT pg_advisory_unlock($1::int, ($2::bigint % 2147483647)::int)",
	                     2, params));
}

/* ---- Secrets -------------------------------------------------------------- */

int
billing_read_secret(const char *path_tmpl, char **ret, char *errbuf, size_t errsize)
{
	char *path = NULL, *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd = -1, r;

	r = chime_kit_expand_env(path_tmpl, &path, errbuf, errsize);
	if (r < 0)
		return r;
	buf = malloc(4097);
	if (buf == NULL) {
		r = -ENOMEM;
		snprintf(errbuf, errsize, "out of memory");
		goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		snprintf(errbuf, errsize, "cannot read '%s': %s", path, strerror(-r));
		goto out;
	}
	while (len < 4096) {
		n = read(fd, buf + len, 4096 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			snprintf(errbuf, errsize, "cannot read '%s': %s", path, strerror(-r));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	buf[len] = '\0';
	if (len == 0) {
		r = -EINVAL;
		snprintf(errbuf, errsize, "'%s' is empty", path);
		goto out;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f) {
			r = -EINVAL;
			snprintf(errbuf, errsize,
			         "'%s' holds a control character (one line expected)", path);
			goto out;
		}
	*ret = buf;
	buf = NULL;
	r = 0;
out:
	if (fd >= 0)
		(void)close(fd);
	free(buf);
	free(path);
	return r;
}

/* ---- configure() ---------------------------------------------------------- */

static void
billing_release(void *userdata)
{
	struct billing_state *state = userdata;

	if (state == NULL)
		return;
	free(state->smtp_envelope_from);
	free(state);
}

static int
configure_gateway(struct billing_state *state, const struct chime_node *options,
                  struct chime_diag_list *diags)
{
	static const char *const known[] = {"url",     "token_file",      "ca_file",
	                                    "timeout", "connect_timeout", NULL};
	const struct chime_node *gw = chime_node_get(options, "gateway");
	char why[512];
	int r = 0;

	if (gw == NULL)
		return chime_node_error(diags, options,
		                        "gateway: required for action 'charge' (url, token_file)");
	if (chime_node_kind(gw) != CHIME_NODE_MAPPING)
		return chime_node_error(diags, gw, "expected a mapping (url, token_file, ...)");
	if (chime_node_check_keys(gw, known, diags) < 0)
		r = -EINVAL;
	if (chime_node_get_string(gw, "url", NULL, diags, &state->gateway_url) < 0 ||
	    chime_node_get_string(gw, "token_file", NULL, diags, &state->token_file) < 0 ||
	    chime_node_get_string(gw, "ca_file", NULL, diags, &state->gateway_ca_file) < 0 ||
	    chime_node_get_duration(gw, "timeout", 30 * INT64_C(1000000), diags,
	                            &state->gateway_timeout_usec) < 0 ||
	    chime_node_get_duration(gw, "connect_timeout", 10 * INT64_C(1000000), diags,
	                            &state->gateway_connect_timeout_usec) < 0)
		r = -EINVAL;
	if (state->gateway_url == NULL)
		r = chime_node_error(diags, gw, "url: required");
	else if (chime__url_check_secure(state->gateway_url, why, sizeof(why)) < 0)
		r = chime_node_error(diags, chime_node_get(gw, "url"), "%s", why);
	if (state->token_file == NULL)
		r = chime_node_error(
		        diags, gw, "token_file: required (the bearer token is never in the YAML)");
	if (state->gateway_timeout_usec <= 0)
		r = chime_node_error(diags, chime_node_get(gw, "timeout"), "must be positive");
	return r;
}

/* The bare address of "Name <addr>" or "addr"; NULL when malformed. */
static char *
envelope_address(const char *from)
{
	const char *lt = strrchr(from, '<'), *gt;
	const char *start = from, *end = from + strlen(from);

	if (strpbrk(from, "\r\n") != NULL)
		return NULL;
	if (lt != NULL) {
		gt = strchr(lt, '>');
		if (gt == NULL || gt[1] != '\0')
			return NULL;
		start = lt + 1;
		end = gt;
	}
	if (end - start < 3 || memchr(start, '@', (size_t)(end - start)) == NULL ||
	    memchr(start, ' ', (size_t)(end - start)) != NULL)
		return NULL;
	return strndup(start, (size_t)(end - start));
}

static int
configure_smtp(struct billing_state *state, const struct chime_node *options,
               struct chime_diag_list *diags)
{
	static const char *const known[] = {"url",  "starttls", "username", "password_file",
	                                    "from", "ca_file",  "timeout",  "connect_timeout",
	                                    NULL};
	const struct chime_node *smtp = chime_node_get(options, "smtp");
	int r = 0;

	if (smtp == NULL)
		return chime_node_error(diags, options,
		                        "smtp: required for action 'status' (url, from, ...)");
	if (chime_node_kind(smtp) != CHIME_NODE_MAPPING)
		return chime_node_error(diags, smtp, "expected a mapping (url, from, ...)");
	if (chime_node_check_keys(smtp, known, diags) < 0)
		r = -EINVAL;
	if (chime_node_get_string(smtp, "url", NULL, diags, &state->smtp_url) < 0 ||
	    chime_node_get_bool(smtp, "starttls", true, diags, &state->smtp_starttls) < 0 ||
	    chime_node_get_string(smtp, "username", NULL, diags, &state->smtp_username) < 0 ||
	    chime_node_get_string(smtp, "password_file", NULL, diags, &state->smtp_password_file) <
	            0 ||
	    chime_node_get_string(smtp, "from", NULL, diags, &state->smtp_from) < 0 ||
	    chime_node_get_string(smtp, "ca_file", NULL, diags, &state->smtp_ca_file) < 0 ||
	    chime_node_get_duration(smtp, "timeout", 30 * INT64_C(1000000), diags,
	                            &state->smtp_timeout_usec) < 0 ||
	    chime_node_get_duration(smtp, "connect_timeout", 10 * INT64_C(1000000), diags,
	                            &state->smtp_connect_timeout_usec) < 0)
		return -EINVAL;
	if (state->smtp_url == NULL)
		r = chime_node_error(diags, smtp,
		                     "url: required (smtp://HOST:PORT or smtps://...)");
	else if (strncmp(state->smtp_url, "smtp://", 7) != 0 &&
	         strncmp(state->smtp_url, "smtps://", 8) != 0)
		r = chime_node_error(diags, chime_node_get(smtp, "url"),
		                     "'%s': must start with smtp:// or smtps://", state->smtp_url);
	if (state->smtp_from == NULL)
		r = chime_node_error(diags, smtp, "from: required (\"Name <address>\")");
	else {
		state->smtp_envelope_from = envelope_address(state->smtp_from);
		if (state->smtp_envelope_from == NULL)
			r = chime_node_error(diags, chime_node_get(smtp, "from"),
			                     "'%s': not an address (\"Name <user@host>\")",
			                     state->smtp_from);
	}
	if ((state->smtp_username == NULL) != (state->smtp_password_file == NULL))
		r = chime_node_error(diags, smtp, "username and password_file go together");
	return r;
}

static int
check_template_text(const struct chime_node *node, const char *text, bool one_line,
                    struct chime_diag_list *diags)
{
	char bad[160];

	if (template_walk(text, NULL, NULL, bad, sizeof(bad)) < 0)
		return chime_node_error(diags, node,
		                        "%s; known fields: tenant_name, schema_name, "
		                        "admin_email, plan, expires_at, days_left, grace_day, "
		                        "grace_days, days_until_suspension, amount, currency",
		                        bad);
	if (one_line && strpbrk(text, "\r\n") != NULL)
		return chime_node_error(diags, node, "a subject is one line");
	return 0;
}

static int
configure_templates(struct billing_state *state, const struct chime_node *options,
                    struct chime_diag_list *diags)
{
	static const char *const part_keys[] = {"subject", "body", NULL};
	const struct chime_node *all = chime_node_get(options, "templates");
	int r = 0;

	memcpy(state->templates, default_templates, sizeof(default_templates));
	if (all == NULL)
		return 0;
	if (chime_node_kind(all) != CHIME_NODE_MAPPING)
		return chime_node_error(
		        diags, all,
		        "expected a mapping (reminder_7, reminder_3, grace, suspended)");
	if (chime_node_check_keys(all, notice_template_keys, diags) < 0)
		r = -EINVAL;
	for (int k = 0; k < BILLING_NOTICE_COUNT; k++) {
		const struct chime_node *t = chime_node_get(all, notice_template_keys[k]);
		const struct chime_node *subject, *body;

		if (t == NULL)
			continue;
		if (chime_node_kind(t) != CHIME_NODE_MAPPING) {
			r = chime_node_error(diags, t, "expected a mapping (subject, body)");
			continue;
		}
		if (chime_node_check_keys(t, part_keys, diags) < 0)
			r = -EINVAL;
		if (chime_node_get_string(t, "subject", default_templates[k].subject, diags,
		                          &state->templates[k].subject) < 0 ||
		    chime_node_get_string(t, "body", default_templates[k].body, diags,
		                          &state->templates[k].body) < 0) {
			r = -EINVAL;
			continue;
		}
		subject = chime_node_get(t, "subject");
		body = chime_node_get(t, "body");
		if (subject != NULL &&
		    check_template_text(subject, state->templates[k].subject, true, diags) < 0)
			r = -EINVAL;
		if (body != NULL &&
		    check_template_text(body, state->templates[k].body, false, diags) < 0)
			r = -EINVAL;
	}
	return r;
}

static int
billing_configure(const struct chime_node *options, struct chime_diag_list *diags, void **ret_state)
{
	static const char *const known_charge[] = {
	        "action",      "tenants", "subscriptions", "payment_orders", "notices",
	        "days_before", "gateway", "card",          "key_prefix",     NULL};
	static const char *const known_status[] = {"action",         "tenants",   "subscriptions",
	                                           "payment_orders", "notices",   "grace_days",
	                                           "smtp",           "templates", NULL};
	struct billing_state *state = NULL;
	const char *action = NULL;
	int r = 0;

	if (options == NULL || chime_node_kind(options) != CHIME_NODE_MAPPING)
		return chime_node_error(
		        diags, options,
		        "options: required: action (charge or status) and its settings");
	state = calloc(1, sizeof(*state));
	if (state == NULL)
		return -ENOMEM;
	if (chime_node_get_string(options, "action", NULL, diags, &action) < 0) {
		r = -EINVAL;
		goto out;
	}
	if (action == NULL) {
		r = chime_node_error(diags, options, "action: required (charge or status)");
		goto out;
	}
	if (strcmp(action, "charge") == 0)
		state->action = BILLING_ACTION_CHARGE;
	else if (strcmp(action, "status") == 0)
		state->action = BILLING_ACTION_STATUS;
	else {
		r = chime_node_error(diags, chime_node_get(options, "action"),
		                     "'%s': expected charge or status", action);
		goto out;
	}

	if (chime_node_check_keys(
	            options, state->action == BILLING_ACTION_CHARGE ? known_charge : known_status,
	            diags) < 0)
		r = -EINVAL;
	if (billing_configure_mapping(state, options, diags) < 0)
		r = -EINVAL;
	if (state->action == BILLING_ACTION_CHARGE) {
		if (chime_node_get_int(options, "days_before", 0, 366, 3, diags,
		                       &state->days_before) < 0)
			r = -EINVAL;
		if (configure_gateway(state, options, diags) < 0)
			r = -EINVAL;
	} else {
		if (chime_node_get_int(options, "grace_days", 1, 366, 7, diags,
		                       &state->grace_days) < 0)
			r = -EINVAL;
		if (configure_smtp(state, options, diags) < 0)
			r = -EINVAL;
		if (configure_templates(state, options, diags) < 0)
			r = -EINVAL;
	}
	if (r < 0)
		goto out;
	if (chime__curl_init() < 0) {
		r = chime_node_error(diags, options, "libcurl initialisation failed");
		goto out;
	}
	*ret_state = state;
	state = NULL;
out:
	billing_release(state);
	return r;
}

static int
billing_run(void *userdata, struct chime_run *run)
{
	const struct billing_state *state = userdata;

	if (chime_run_db(run) == NULL) {
		chime_run_fail(run, "no database connection");
		return -ENOTCONN;
	}
	if (state->action == BILLING_ACTION_CHARGE)
		return billing_charge_run(state, run);
	return billing_status_run(state, run);
}

const struct chime_plugin chime_plugin_billing = {
        CHIME_PLUGIN_INIT("billing", billing_configure, billing_run, billing_release),
        /* Orders and notices are keyed in the database and gateway calls
         * carry the idempotency key: re-running a slot charges and mails
         * nothing twice. */
        .idempotent = true,
        /* Each order and notice write, and each suspension, is fenced. */
        .fences = true,
        .check = billing_check,
        .needs_database = true,
};

void
billing_error(struct billing_errors *e, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	chime_run_log(e->run, 3, "%s", buf);
	chime_run_item(e->run, "error: %s", buf);
	chime_run_count(e->run, "errors", 1);
	if (e->count++ == 0)
		snprintf(e->first, sizeof(e->first), "%s", buf);
}

void
billing_db_error(struct billing_errors *e, const PGresult *res, const char *fmt, ...)
{
	char what[256], msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	billing_pg_error(e->conn, res, msg, sizeof(msg));
	billing_error(e, "%s: %s", what, msg);
	if (PQstatus(e->conn) != CONNECTION_OK)
		e->db_failed = true;
}
