/* SPDX-License-Identifier: MIT */
/*
 * Internals of the `billing` plugin, shared by billing.c (options, table
 * mapping, templates, helpers), billing_charge.c (`action: charge`) and
 * billing_status.c (`action: status`). Nothing here is part of the ABI.
 */
#ifndef CHIME_PLUGINS_BILLING_H
#define CHIME_PLUGINS_BILLING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chime/plugin.h"

enum billing_action {
	BILLING_ACTION_CHARGE,
	BILLING_ACTION_STATUS,
};

/* Mapped identifiers: tables and columns, in the order of the definition
 * table in billing.c. SQL text names them as {subscriptions}, {s.amount}. */
#define BILLING_N_IDENTS 41

/* Template fields, in the order of billing_field_names[]. */
enum billing_field {
	BILLING_F_TENANT_NAME,
	BILLING_F_SCHEMA_NAME,
	BILLING_F_ADMIN_EMAIL,
	BILLING_F_PLAN,
	BILLING_F_EXPIRES_AT,
	BILLING_F_DAYS_LEFT,
	BILLING_F_GRACE_DAY,
	BILLING_F_GRACE_DAYS,
	BILLING_F_DAYS_UNTIL_SUSPENSION,
	BILLING_F_AMOUNT,
	BILLING_F_CURRENCY,
	BILLING_F_COUNT,
};

enum billing_notice_kind {
	BILLING_NOTICE_REMINDER_7,
	BILLING_NOTICE_REMINDER_3,
	BILLING_NOTICE_GRACE,
	BILLING_NOTICE_SUSPENDED,
	BILLING_NOTICE_COUNT,
};

struct billing_template {
	const char *subject; /* borrowed from the node tree or a built-in default */
	const char *body;
};

struct billing_state {
	enum billing_action action;
	const char *ident[BILLING_N_IDENTS]; /* validated, unquoted */

	/* action: charge */
	int64_t days_before;
	const char *gateway_url;
	const char *token_file; /* may contain ${VAR}; expanded at run time */
	const char *gateway_ca_file;
	int64_t gateway_timeout_usec;
	int64_t gateway_connect_timeout_usec;

	/* action: status */
	int64_t grace_days;
	const char *smtp_url;
	bool smtp_starttls;
	const char *smtp_username;
	const char *smtp_password_file; /* may contain ${VAR} */
	const char *smtp_from;          /* header form: "Name <addr>" or "addr" */
	char *smtp_envelope_from;       /* the bare address, owned */
	const char *smtp_ca_file;
	int64_t smtp_timeout_usec;
	int64_t smtp_connect_timeout_usec;
	struct billing_template templates[BILLING_NOTICE_COUNT];
};

/* Field names as written in templates ("tenant_name"). */
extern const char *const billing_field_names[BILLING_F_COUNT];

/*
 * Build the `n` statements `tmpls` over the table and column mapping:
 * each {placeholder} ("s.plan", "payment_orders") becomes the mapped
 * identifier, quoted once (chime_kit_sql_template()). Returns 0 with a
 * malloc'd statement in each ret_sql[i], or a negative errno after
 * chime_run_fail() ("cannot build SQL: unknown placeholder '{x}'", a bug);
 * statements built before a failure are the caller's to free.
 */
int billing_sql_build(const struct billing_state *state, struct chime_run *run, PGconn *conn,
                      const char *const *tmpls, int n, char **ret_sql);

/*
 * Expand a template with `fields` (values may be NULL: empty). Returns 0
 * and a malloc'd string, or -ENOMEM. Templates were checked by configure().
 */
int billing_template_render(const char *tmpl, const char *const fields[BILLING_F_COUNT],
                            char **ret);

/*
 * Read a secret from `path_tmpl` after expanding ${VAR} by the rules of
 * chime.yaml(5) (chime_kit_expand_env()); strips trailing newlines.
 * Returns 0 and a malloc'd string, or a negative errno with the reason
 * (naming the file or the variable) in
 * `errbuf`. Never logs.
 */
int billing_read_secret(const char *path_tmpl, char **ret, char *errbuf, size_t errsize);

/* PQexecParams with text parameters; returns the result (never NULL after
 * an OOM: check with billing_ok()). */
PGresult *billing_exec(PGconn *conn, const char *sql, int n, const char *const *params);
/* True when `res` is PGRES_COMMAND_OK or PGRES_TUPLES_OK. */
bool billing_ok(const PGresult *res);
/* The error of `res` (or of `conn`) on one line, into buf; returns buf. */
const char *billing_pg_error(PGconn *conn, const PGresult *res, char *buf, size_t size);

/*
 * The errors of one run: each is logged, listed in the report and counted;
 * the first is kept for the run's failure reason, and a lost connection is
 * remembered so the run stops touching the database.
 */
struct billing_errors {
	struct chime_run *run;
	PGconn *conn;
	int64_t count;
	bool db_failed;
	char first[512];
};

void billing_error(struct billing_errors *e, const char *fmt, ...) CHIME_PRINTF(2, 3);
/* billing_error() of "WHAT: the server's message" for a failed statement. */
void billing_db_error(struct billing_errors *e, const PGresult *res, const char *fmt, ...)
        CHIME_PRINTF(3, 4);
/* Run a statement without parameters ("BEGIN", "COMMIT"); 0 or -EIO. */
int billing_command(PGconn *conn, const char *sql, char *errbuf, size_t errsize);
/* The nominal slot instant as SQL text for `$n::bigint` parameters. */
void billing_usec_text(int64_t usec, char buf[24]);

/* Try to take / release the session-level advisory lock on (class, id),
 * so two runs (two nodes) never work on the same order or notice at once.
 * Returns 1 taken, 0 held elsewhere, -EIO on a database error. */
int billing_try_lock(PGconn *conn, int32_t lock_class, const char *id);
void billing_unlock(PGconn *conn, int32_t lock_class, const char *id);

#define BILLING_LOCK_ORDER  0x63686f72 /* "chor" */
#define BILLING_LOCK_NOTICE 0x63686e6f /* "chno" */

/* The descriptor, listed in the built-in table. */
extern const struct chime_plugin chime_plugin_billing;

int billing_charge_run(const struct billing_state *state, struct chime_run *run);
int billing_status_run(const struct billing_state *state, struct chime_run *run);

#endif
