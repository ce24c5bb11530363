/* SPDX-License-Identifier: MIT */
/*
 * Small helpers shared by the built-in business plugins (SQL text, quoting
 * and templates are in sqltext.h): a description of a table read from the
 * catalog at run time (so a missing table or column is a clear error naming
 * the job, the table and the column), and the batched keyset update every
 * plugin that flips rows uses:
 *
 *   WITH b AS (SELECT r.key AS k FROM t AS r WHERE <pred> AND r.key > $last
 *              ORDER BY r.key LIMIT n FOR UPDATE OF r SKIP LOCKED),
 *        u AS (UPDATE t AS r SET <set> WHERE r.key = ANY (ARRAY(SELECT k FROM b))
 *              RETURNING r.*)
 *   SELECT r.key::text, <report columns> FROM u AS r <report join> ORDER BY r.key
 *
 * one statement (so one transaction) per batch, looping until a batch finds
 * nothing. The update finds its rows through the key's unique index and
 * re-reads the newest version of each (so a concurrent writer's committed
 * change is kept, never overwritten by a stale copy). Built on
 * chime/plugin.h only; every function that fails sets the
 * run's failure reason with chime_run_fail() and never logs otherwise.
 */
#ifndef CHIME_PLUGINS_SQLUTIL_H
#define CHIME_PLUGINS_SQLUTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "chime/plugin.h"

#include "pgutil.h"
#include "sqltext.h"

/*
 * The first line of the server's error message for `res` (or, when `res`
 * is NULL or has none, of the connection's last error) into buf, for
 * reports and last_error columns. Never logs.
 */
void chime__sql_error_text(const PGresult *res, PGconn *conn, char *buf, size_t size);

/* The type classes the plugins care about (from pg_type of the base type). */
enum chime__sql_kind {
	CHIME_SQL_OTHER,
	CHIME_SQL_BOOL,
	CHIME_SQL_NUMBER,
	CHIME_SQL_TEXT, /* text, varchar, char, enum */
	CHIME_SQL_TIMESTAMPTZ,
	CHIME_SQL_TIMESTAMP, /* without time zone: read in the job's zone */
	CHIME_SQL_DATE,
	CHIME_SQL_TIME,
};

struct chime__sql_column {
	char *name;
	char *type; /* format_type(): "timestamp with time zone" */
	enum chime__sql_kind kind;
	int attnum;
	bool not_null;    /* NOT NULL */
	bool has_default; /* a default, identity or generated: an INSERT may leave it out */
};

struct chime__sql_table {
	char *name;   /* as configured */
	char *quoted; /* quoted for SQL */
	char *schema; /* the table's schema, unquoted */
	struct chime__sql_column *columns;
	size_t n_columns;
	unsigned oid;
};

/*
 * Read the description of table `name` (as written in the options) from
 * the catalog. Returns 0 and a new table in *ret, or a negative errno after
 * chime_run_fail() ("job 'J': table 'T' does not exist").
 */
int chime__sql_table_load(struct chime_run *run, const char *name, struct chime__sql_table **ret);
struct chime__sql_table *chime__sql_table_free(struct chime__sql_table *t); /* NULL-safe */

/*
 * Look up column `name` (from option `option`, for the message) and check
 * that its kind is one of `kinds` (a mask of 1u << CHIME_SQL_*; 0 = any).
 * Returns the column (borrowed from `t`), or NULL after chime_run_fail()
 * naming the job, the table, the column and the option.
 */
const struct chime__sql_column *chime__sql_column_require(struct chime_run *run,
                                                          const struct chime__sql_table *t,
                                                          const char *option, const char *name,
                                                          unsigned kinds);

/* Require a single-column unique index (or primary key) on `key`. */
int chime__sql_require_unique(struct chime_run *run, const struct chime__sql_table *t,
                              const char *option, const char *key);

/*
 * The same catalog checks, for both moments they run: at run time a
 * problem becomes the run's failure reason ("job 'J': table 'T' has no
 * column 'C' (option O)"; the first problem wins), at check time
 * (`chimectl check`, the plugin's check()) a diagnostic placed at the
 * option's node in the job's options ("jobs.J.options.O: table 'T' has no
 * column 'C' (option O)"), all of them. `errors` counts the problems.
 */
struct chime__sql_check {
	PGconn *conn;
	struct chime_run *run;            /* run time, else NULL */
	struct chime_diag_list *diags;    /* check time, else NULL */
	const struct chime_node *options; /* check time: the job's options, may be NULL */
	int errors;
};

void chime__sql_check_init_run(struct chime__sql_check *k, struct chime_run *run);
void chime__sql_check_init_diags(struct chime__sql_check *k, PGconn *conn,
                                 const struct chime_node *options, struct chime_diag_list *diags);
/* A plugin's check() in the usual case: `schema(k, state)` with a
 * check-time context over `conn`, `options` and `diags` (the same function
 * a run calls with chime__sql_check_init_run()). Returns what it returns. */
typedef int (*chime__sql_schema_fn)(struct chime__sql_check *k, const void *state);
int chime__sql_check_diags(PGconn *conn, const struct chime_node *options,
                           struct chime_diag_list *diags, chime__sql_schema_fn schema,
                           const void *state);
/* The node of dotted option `option` ("status.column") in `options`, or
 * the nearest one above it that exists (NULL when options is NULL). */
const struct chime_node *chime__sql_option_node(const struct chime_node *options,
                                                const char *option);
/* Report a problem with option `option` (an error counts in k->errors; a
 * warning at run time goes to the run's log at priority 4). */
void chime__sql_check_error(struct chime__sql_check *k, const char *option, const char *fmt, ...)
        CHIME_PRINTF(3, 4);
void chime__sql_check_warning(struct chime__sql_check *k, const char *option, const char *fmt, ...)
        CHIME_PRINTF(3, 4);
/* chime__sql_table_load() for option `option` ("table", "label.join"). */
int chime__sql_check_table(struct chime__sql_check *k, const char *option, const char *name,
                           struct chime__sql_table **ret);
/* chime__sql_column_require() and chime__sql_require_unique(). */
const struct chime__sql_column *chime__sql_check_column(struct chime__sql_check *k,
                                                        const struct chime__sql_table *t,
                                                        const char *option, const char *name,
                                                        unsigned kinds);
int chime__sql_check_unique(struct chime__sql_check *k, const struct chime__sql_table *t,
                            const char *option, const char *key);
/*
 * Require a unique index (or primary key) on exactly the `n` columns
 * `cols` (in any order; no predicate, no expression), e.g. the (user,
 * payout date) an ON CONFLICT relies on. `option` names the first column's
 * option; the message lists all of them and the CREATE UNIQUE INDEX to
 * run. Returns 0, or a negative errno after the error.
 */
int chime__sql_check_unique_set(struct chime__sql_check *k, const struct chime__sql_table *t,
                                const char *option, const char *const *cols, size_t n);
/*
 * Warn (never fail) when no index of table `t` starts with column `col`:
 * a scan the plugin makes by that column reads the whole table each
 * time. The warning carries the CREATE INDEX to run. Returns 0, or a
 * negative errno when the catalog cannot be read (after an error).
 */
int chime__sql_check_index(struct chime__sql_check *k, const struct chime__sql_table *t,
                           const char *option, const char *col);
/*
 * Every NOT NULL column of `t` without a default that the plugin's INSERT
 * does not fill (the `n` names in `filled`) is an error placed at option
 * `option` ("table 'T' column 'C' is NOT NULL without a default and chime
 * does not fill it (option O)"). Returns the number of such columns.
 */
int chime__sql_check_insert_columns(struct chime__sql_check *k, const struct chime__sql_table *t,
                                    const char *option, const char *const *filled, size_t n);
/*
 * Require that `value` (text from the options: a status word, a constant)
 * is a value of column `c`'s type, one that reads back unchanged for a
 * text column (so 'active' for a boolean, or a 20-character word for
 * varchar(16), is an error
 * naming the option, the table, the column and its type). Returns 0, or
 * -EINVAL after the error.
 */
int chime__sql_check_value(struct chime__sql_check *k, const struct chime__sql_table *t,
                           const struct chime__sql_column *c, const char *option,
                           const char *value);
/* Run `sql` (read-only) with `n` text parameters; 0 when it succeeds, else
 * -EINVAL with the server's first error line in errbuf. For checks such
 * as "the status values fit the column's type". */
int chime__sql_check_query(struct chime__sql_check *k, const char *sql, int n,
                           const char *const *params, char *errbuf, size_t errsize);

/* Format `usec` (UTC microseconds) as an RFC 3339 UTC timestamp for a
 * timestamptz parameter; `buf` needs 40 bytes. */

/* Called with each changed (or, in a dry run, matching) row: column 0 is
 * the key as text, then the report columns. Returns 0 or a negative errno
 * (after chime_run_fail()) to stop. */
/*
 * The unit transaction of a database plugin: BEGIN, then chime_run_fence()
 * (docs/design.md, "Fencing effects"), so a run whose claim another node
 * recovered while this one stalled changes nothing more. Returns 0 with the
 * unit open, or a negative errno after chime_run_fail() with nothing left
 * open (a failed fence: "fenced: ..."). Without a ledger the fence is a
 * no-op and this is a plain BEGIN.
 */
int chime__sql_unit_begin(struct chime_run *run, PGconn *conn);
/* COMMIT the unit: 0, or a negative errno after chime_run_fail()
 * ("COMMIT failed: ..."; the unit is then rolled back). */
int chime__sql_unit_commit(struct chime_run *run, PGconn *conn);
/* ROLLBACK the unit after a failure (the run's reason stays). */
void chime__sql_unit_rollback(PGconn *conn);
/*
 * One statement as a fenced unit of its own: BEGIN, the fence, the
 * statement, COMMIT (or ROLLBACK when the statement failed). Returns the
 * statement's result as PQexecParams() does (text parameters, types
 * inferred), or NULL after chime_run_fail() when the unit could not begin
 * or commit (a failed fence: the run is then cancelled, "fenced: ...").
 */
PGresult *chime__sql_exec_fenced(struct chime_run *run, PGconn *conn, const char *sql, int n,
                                 const char *const *params);

typedef int (*chime__sql_row_fn)(struct chime_run *run, const PGresult *res, int row,
                                 void *userdata);

struct chime__sql_batch {
	const char *table;  /* quoted */
	const char *key;    /* quoted key column */
	const char *where;  /* predicate over alias r, may use $1..$n_params */
	const char *set;    /* SET list (targets unqualified, values over r), may use $n */
	const char *report; /* extra select list over r (and the join), or NULL */
	const char *join;   /* e.g. "LEFT JOIN agents AS l ON l.id = r.agent_id", or NULL */
	/* Values for $1..$n_params, text or NULL. The first n_where_params
	 * are the ones `where` uses (a dry run sends only those); the rest
	 * are used by `set` only. */
	const char *const *params;
	const Oid *param_types; /* NULL, or a type per param (0: inferred) */
	int n_params;
	int n_where_params;
	int64_t batch_size;
	bool dry_run; /* select the rows (no locks), change nothing */
	chime__sql_row_fn row_cb;
	void *userdata;
};

/*
 * Run the batched update (or, in a dry run, the batched select) until a
 * batch finds nothing, checking chime_run_cancelled() between batches.
 * Returns the number of rows changed (or matched) in *ret_rows, and 0, or
 * a negative errno after chime_run_fail() (-ECANCELED when cancelled).
 * Each batch of a real run is a fenced unit (chime__sql_unit_begin());
 * every batch that completed stays committed.
 */
int chime__sql_batch_run(struct chime_run *run, const struct chime__sql_batch *b,
                         int64_t *ret_rows);

#endif
