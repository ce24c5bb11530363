/* SPDX-License-Identifier: MIT */
/*
 * Private to the email_sync plugin: the state shared by email_sync.c (the
 * options, one connection's IMAP sync, the worker pool) and email_sync_db.c
 * (its tables). Not part of any plugin's interface.
 */
#ifndef CHIME_PLUGINS_EMAIL_SYNC_INTERNAL_H
#define CHIME_PLUGINS_EMAIL_SYNC_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "chime/plugin.h"

#include "sqltext.h"

/* The table and column names, each an option with a default (es_names). */
enum {
	N_CONNS,
	N_CONNS_ID,
	N_CONNS_HOST,
	N_CONNS_PORT,
	N_CONNS_TLS,
	N_CONNS_USER,
	N_CONNS_PASSWORD,
	N_CONNS_PASSWORD_REF,
	N_CONNS_MAILBOX,
	N_CONNS_ACTIVE,
	N_CONNS_UIDVALIDITY,
	N_CONNS_LAST_UID,
	N_CONNS_LAST_SYNC,
	N_CONNS_LAST_ERROR,
	N_CONNS_LAST_ERROR_AT,
	N_EMAILS,
	N_EMAILS_CONN,
	N_EMAILS_UIDVALIDITY,
	N_EMAILS_UID,
	N_EMAILS_MESSAGE_ID,
	N_EMAILS_FROM,
	N_EMAILS_TO,
	N_EMAILS_SUBJECT,
	N_EMAILS_DATE,
	N_EMAILS_RAW,
	N_EMAILS_SIZE,
	N_NAMES,
};

struct es_config {
	const char *tenants_table, *tenants_schema, *tenants_active; /* NULL: no tenants */
	const char *tenant;                                          /* NULL: all */
	int64_t max_messages, max_size, concurrency, batch_size;
	int64_t timeout_usec;
	const char *ca_file;
	const char *mailbox; /* for a row without one (or no mailbox column) */
	const char *names[N_NAMES];
};

/* One connection to sync: a row of email_connections in one schema. */
struct es_unit {
	char *schema; /* NULL: the search_path as connected */
	char *id, *host, *tls, *user, *password, *password_ref, *mailbox;
	int port;
	bool has_uidvalidity;
	uint64_t uidvalidity, last_uid;
};

/* What the plugin adapts to, read from the catalog by the schema check. */
struct es_shape {
	bool raw_bytea;        /* else text */
	bool notnull[N_NAMES]; /* NOT NULL columns: '' where the plugin has no text */
};

struct es_sync {
	const struct es_config *cfg;
	struct chime_run *run;
	bool dry_run;
	char **kw, **val; /* the run's conninfo, for the workers */
	char statement_timeout[64];
	struct chime_kit_ident ids[N_NAMES]; /* {option} -> its name (templates) */
	struct es_shape shape;
	struct es_unit *units;
	size_t n_units, next;
	pthread_mutex_t lock;
	int64_t ok, failed, fetched, skipped, resets, would_fetch;
	char first_error[320];
};

/* One message ready to store. */
struct es_msg {
	uint64_t uid, size;
	char *raw; /* NULL: skipped (over max_size) */
	size_t len;
};

/* Count a failed connection and keep the first error for the run's
 * failure reason; thread-safe. */
void chime__email_note_failure(struct es_sync *s, const char *what, const char *err);

/* Free what the unit owns (not the unit itself). */
void chime__email_unit_done(struct es_unit *u);

/* The schemas to visit: from the tenants table, or `tenant`, or none. */
int chime__email_db_load_tenants(struct es_sync *s, PGconn *conn, char ***ret, size_t *ret_n);

/* Read the active connections of one schema and append them. */
int chime__email_db_load_units(struct es_sync *s, PGconn *conn, const char *schema,
                               struct es_unit **list, size_t *n);

/* Record an error on the connection row (its own short transaction). */
void chime__email_db_record_error(struct es_sync *s, PGconn *db, const struct es_unit *u,
                                  const char *error);

/*
 * Store `msgs` and advance the connection to `last` in one transaction;
 * `note` ("" for none; the first refused message's reason is written
 * there when it is empty, so later chunks keep it) becomes last_error.
 * Each message is inserted under a savepoint: one the table
 * refuses is reported with its UID and skipped (last_uid passes it); one
 * whose Message-ID is already stored for the connection is not stored
 * again. Returns 0 or -EIO with err set.
 */
int chime__email_db_store(struct es_sync *s, PGconn *db, const struct es_unit *u,
                          uint64_t uidvalidity, const struct es_msg *msgs, size_t n, uint64_t last,
                          char *note, size_t notesize, int64_t *ret_inserted, char *err,
                          size_t errsize);

/* A worker's own connection, opened with the run's conninfo and its
 * statement_timeout; NULL with the reason in err. */
PGconn *chime__email_db_connect(struct es_sync *s, char *err, size_t errsize);

/* Copy the run's conninfo and statement_timeout for the workers. 0 or
 * -ENOMEM. */
int chime__email_db_prepare(struct es_sync *s, PGconn *conn);

/* The active tenant schemas, from the tenants table (a template over the
 * tenants.* options; $1 is `tenant` or NULL). */
#define CHIME__EMAIL_TENANTS_SQL                                                                  \
	"SELECT {tenants.schema_column}::text FROM {tenants.table}"                               \
	" WHERE {tenants.active_column} AND ($1::text IS NULL"                                    \
	" OR {tenants.schema_column} = $1) ORDER BY 1"

struct chime__sql_check;
struct chime_kit_name_option;

/*
 * The schema checks (email_sync_check.c) in the schema the search_path
 * names: tables, columns and their kinds, the unique key, the NOT NULL
 * columns, the Message-ID index. `names` is the option table. Fills
 * *ret_shape (may be NULL) when they pass. Returns 0, or -EINVAL after
 * reporting every problem through `k`.
 */
int chime__email_check_schema(struct chime__sql_check *k, const struct es_config *cfg,
                              const struct chime_kit_name_option *names,
                              struct es_shape *ret_shape);

/* check() of the plugin: the tenants table, then the schema checks in the
 * first active tenant's schema (or `tenant`'s, or the search_path). */
int chime__email_check(const struct es_config *cfg, const struct chime_kit_name_option *names,
                       PGconn *conn, const struct chime_node *options,
                       struct chime_diag_list *diags);

/* At the start of a run, before anything changes: the schema checks in
 * the first unit's schema, filling s->shape. 0, or a negative errno after
 * chime_run_fail(). */
int chime__email_db_check(struct es_sync *s, PGconn *conn,
                          const struct chime_kit_name_option *names);

#endif
