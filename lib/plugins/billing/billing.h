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
 * table billing_ident_defs. SQL text names them as {subscriptions},
 * {s.amount}. */
#define BILLING_N_IDENTS 43

struct billing_ident_def {
	const char *group;       /* option key of the table's mapping */
	const char *key;         /* "table" or the column's logical name */
	const char *placeholder; /* as written in SQL text, without braces */
	const char *def;         /* default: the reference schema */
	bool optional;           /* "" turns the column off (NULL) */
	unsigned kinds;          /* a column's type classes, 1u << CHIME_SQL_* (0: any) */
	unsigned used;           /* BILLING_FOR_*: the actions whose statements use it */
};

#define BILLING_FOR_CHARGE 1u
#define BILLING_FOR_STATUS 2u
#define BILLING_FOR_BOTH   3u
#define BILLING_KIND(k)    (1u << CHIME_SQL_##k)
#define BILLING_WHEN       (BILLING_KIND(TIMESTAMPTZ) | BILLING_KIND(TIMESTAMP))

extern const struct billing_ident_def billing_ident_defs[BILLING_N_IDENTS];

/* Entries of billing_ident_defs the code names. */
#define BILLING_I_SUBSCRIPTIONS 7
#define BILLING_I_EXPIRES_AT    13

/* The words the application's status columns hold, each an option of the
 * column's mapping (`status: {column: is_active, active: true, suspended:
 * false}`); SQL text writes them as {=active}, a quoted literal. */
enum billing_word {
	BILLING_W_ACTIVE, /* subscriptions.status */
	BILLING_W_SUSPENDED,
	BILLING_W_PENDING, /* payment_orders.status */
	BILLING_W_SUCCEEDED,
	BILLING_W_FAILED,
	BILLING_W_UNKNOWN,
	BILLING_W_COUNT,
};

extern const char *const billing_word_names[BILLING_W_COUNT];

/* A value for one of the application's other payment order columns:
 * a constant, or a column of the subscription row. */
struct billing_value {
	const char *column; /* the payment order column, validated */
	const char *value;  /* the constant, or the subscription column */
	bool from_column;
	const struct chime_node *node; /* for diagnostics */
};

#define BILLING_MAX_VALUES 16

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
	const char *ident[BILLING_N_IDENTS]; /* validated, unquoted; NULL: turned off */
	const char *words[BILLING_W_COUNT];  /* status words, borrowed */
	struct billing_value values[BILLING_MAX_VALUES];
	size_t n_values;

	/* action: charge */
	int64_t days_before;
	bool card_from_orders;  /* `card: order`: the latest successful order's */
	const char *key_prefix; /* NULL: derived from the system identifier */
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

/* Read the table mapping, the status words, `values:`, `card:` and
 * `key_prefix:` (billing_map.c); state->action is already set. Returns 0,
 * or -EINVAL after diagnostics. */
int billing_configure_mapping(struct billing_state *state, const struct chime_node *options,
                              struct chime_diag_list *diags);

/* Field names as written in templates ("tenant_name"). */
extern const char *const billing_field_names[BILLING_F_COUNT];

/*
 * Build the `n` statements `tmpls` over the table and column mapping
 * (billing_sql.c): a section [[name|text]] is kept when `name` (a
 * placeholder, or "card.order" / "card.sub") is in use and dropped
 * otherwise; each {placeholder} ("s.plan", "payment_orders") becomes the
 * mapped identifier, quoted once (chime_kit_sql_template()); each {=word}
 * ("active", "pending") the application's status word as a literal, and
 * {=values.columns} / {=values.select} the other payment order columns
 * and their values. Returns 0 with a malloc'd statement in each
 * ret_sql[i], or a negative errno after chime_run_fail() ("cannot build
 * SQL: unknown placeholder '{x}'", a bug); statements built before a
 * failure are the caller's to free.
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

/*
 * The schema checks (billing_check.c): every mapped table and column with
 * a usable type, the unique keys the plugin's ON CONFLICT relies on, the
 * NOT NULL columns of a payment order or notice chime does not fill, and
 * that each status word fits its column. `k` reports at check time or
 * fails the run (sqlutil.h). Returns 0 or -EINVAL.
 */
struct chime__sql_check;
int billing_check_schema(struct chime__sql_check *k, const void *state);
int billing_check(void *state, PGconn *conn, const char *job, const char *timezone,
                  const struct chime_node *options, struct chime_diag_list *diags);

/*
 * The installation's part of the idempotency key: `key_prefix`, or the
 * database's system identifier. 0 with the text in buf, or -EIO after
 * chime_run_fail().
 */
int billing_key_prefix(const struct billing_state *state, struct chime_run *run, char *buf,
                       size_t size);

int billing_charge_run(const struct billing_state *state, struct chime_run *run);
int billing_status_run(const struct billing_state *state, struct chime_run *run);

#endif
