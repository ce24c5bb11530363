/* SPDX-License-Identifier: MIT */
/*
 * The `activation` plugin: rows whose start is due become active and
 * unscheduled (seed 004's packages), active rows past their end become
 * inactive, and rows with daily active hours (seed 001's promo codes) keep
 * a flag true exactly inside their window (start through the minute of
 * end, as the seed compares HH:MM) in the row's zone,
 * a window crossing midnight included. Everything is evaluated at the
 * run's nominal instant, in keyset batches with FOR UPDATE SKIP LOCKED, one
 * transaction per batch; a dry run lists what would change.
 *
 * Local dates and times (a date + time pair, a timestamp without time
 * zone, a date) are read in the job's zone by comparing them with the wall
 * clock there, as the seed's scheduler did: a start at a wall time skipped
 * by a DST jump is due at the jump, a start at a repeated wall time at its
 * first occurrence; a date `valid_until` lasts through the end of its day.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "chime/plugin.h"

#include "builtin.h"
#include "freemany.h"
#include "sqlutil.h"

struct activation {
	const char *table, *key, *stamp, *label;
	int64_t batch_size;
	bool activate, deactivate, windows;
	struct {
		const char *scheduled, *auto_, *active, *at, *date, *time;
	} act;
	struct {
		const char *auto_, *active, *valid_until;
	} deact;
	struct {
		const char *enabled, *start, *end, *zone, *active;
	} win;
};

static void
activation_release(void *state)
{
	free(state);
}

/* `KEY: true` (defaults), `KEY: false` (off), or a mapping. Returns 1 when
 * the section is on, 0 when off, -EINVAL after a diagnostic. */
static int
section(const struct chime_node *options, const char *key, const char *const *known,
        struct chime_diag_list *diags, const struct chime_node **ret)
{
	const struct chime_node *n = chime_node_get(options, key);
	bool on;

	*ret = NULL;
	if (n == NULL)
		return 0;
	if (chime_node_kind(n) == CHIME_NODE_MAPPING) {
		*ret = n;
		return chime_node_check_keys(n, known, diags) < 0 ? -EINVAL : 1;
	}
	if (chime_node_get_bool(options, key, false, diags, &on) < 0)
		return -EINVAL;
	return on ? 1 : 0;
}

static int
activation_configure(const struct chime_node *options, struct chime_diag_list *diags,
                     void **ret_state)
{
	static const char *const known[] = {"table",   "key",        "stamp",
	                                    "label",   "activate",   "deactivate",
	                                    "windows", "batch_size", NULL};
	static const char *const act_known[] = {"scheduled", "auto", "active", "at",
	                                        "date",      "time", NULL};
	static const char *const deact_known[] = {"auto", "active", "valid_until", NULL};
	static const char *const win_known[] = {"enabled", "start", "end", "zone", "active", NULL};
	const struct chime_node *act = NULL, *deact = NULL, *win = NULL;
	struct activation *a;
	int r = 0, s;

	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	/* `options` is a mapping or NULL (the loader checked; plugin.h). */
	r |= chime_node_check_keys(options, known, diags);
	r |= chime_node_get_identifier(options, "table", "special_packages", diags, &a->table);
	r |= chime_node_get_identifier(options, "key", "id", diags, &a->key);
	r |= chime_node_get_identifier(options, "stamp", NULL, diags, &a->stamp);
	r |= chime_node_get_identifier(options, "label", NULL, diags, &a->label);
	r |= chime_node_get_int(options, "batch_size", 1, 1000000, 10000, diags, &a->batch_size);

	s = section(options, "activate", act_known, diags, &act);
	r |= s < 0 ? s : 0;
	a->activate = s > 0;
	s = section(options, "deactivate", deact_known, diags, &deact);
	r |= s < 0 ? s : 0;
	a->deactivate = s > 0;
	s = section(options, "windows", win_known, diags, &win);
	r |= s < 0 ? s : 0;
	a->windows = s > 0;
	/* Nothing named: seed 004's scheduler on the reference schema. */
	if (r == 0 && chime_node_get(options, "activate") == NULL &&
	    chime_node_get(options, "deactivate") == NULL &&
	    chime_node_get(options, "windows") == NULL)
		a->activate = a->deactivate = true;

	r |= chime_node_get_identifier(act, "scheduled", "scheduled", diags, &a->act.scheduled);
	r |= chime_node_get_identifier(act, "auto", "auto_activate", diags, &a->act.auto_);
	r |= chime_node_get_identifier(act, "active", "is_active", diags, &a->act.active);
	r |= chime_node_get_identifier(act, "at", NULL, diags, &a->act.at);
	r |= chime_node_get_identifier(act, "date", a->act.at == NULL ? "schedule_date" : NULL,
	                               diags, &a->act.date);
	r |= chime_node_get_identifier(act, "time", a->act.at == NULL ? "schedule_time" : NULL,
	                               diags, &a->act.time);
	if (a->act.at != NULL && (a->act.date != NULL || a->act.time != NULL))
		r |= chime_node_error(
		        diags, act, "give either 'at' (one column) or 'date' and 'time', not both");

	r |= chime_node_get_identifier(deact, "auto", "auto_deactivate", diags, &a->deact.auto_);
	r |= chime_node_get_identifier(deact, "active", "is_active", diags, &a->deact.active);
	r |= chime_node_get_identifier(deact, "valid_until", "valid_until", diags,
	                               &a->deact.valid_until);

	r |= chime_node_get_identifier(win, "enabled", "active_hours_enabled", diags,
	                               &a->win.enabled);
	r |= chime_node_get_identifier(win, "start", "active_hours_start", diags, &a->win.start);
	r |= chime_node_get_identifier(win, "end", "active_hours_end", diags, &a->win.end);
	r |= chime_node_get_identifier(win, "zone", "active_hours_timezone", diags, &a->win.zone);
	r |= chime_node_get_identifier(win, "active", "in_active_hours", diags, &a->win.active);
	if (r != 0) {
		r = -EINVAL;
		goto out;
	}
	if (!a->activate && !a->deactivate && !a->windows) {
		r = chime_node_error(diags, options,
		                     "nothing to do: enable at least one of activate, deactivate "
		                     "and windows");
		goto out;
	}
	*ret_state = a;
	a = NULL;
out:
	activation_release(a);
	return r;
}

/* ---- run ------------------------------------------------------------- */

#define LOCAL_NOW "($1::timestamptz AT TIME ZONE $2::text)"

struct phase {
	const char *count; /* report count name */
	const char *verb;  /* item text after the key */
};

struct act_ctx {
	const struct activation *a;
	const struct phase *phase;
	bool windows; /* report column 1 (2 with a label) is the new window state */
};

static int
changed_row(struct chime_run *run, const PGresult *res, int row, void *userdata)
{
	struct act_ctx *x = userdata;
	const char *label = NULL, *verb = x->phase->verb;
	int col = 1;

	if (x->a->label != NULL) {
		if (!PQgetisnull(res, row, col))
			label = PQgetvalue(res, row, col);
		col++;
	}
	if (x->windows) {
		bool inside = strcmp(PQgetvalue(res, row, col), "t") == 0;

		verb = inside ? "inside active hours" : "outside active hours";
		chime_run_count(run, inside ? "window_opened" : "window_closed", 1);
	} else {
		chime_run_count(run, x->phase->count, 1);
	}
	if (label != NULL)
		chime_run_item(run, "%s (%s) %s", PQgetvalue(res, row, 0), label, verb);
	else
		chime_run_item(run, "%s %s", PQgetvalue(res, row, 0), verb);
	return 0;
}

/*
 * Append template `tmpl` over the options' names, {table}, {key},
 * {stamp}, {label} and each section's as its option path:
 * {activate.scheduled}, {deactivate.valid_until}, {windows.zone}... Each
 * is quoted once by the kit; a failure (a name invalid in the database's
 * encoding, out of memory) marks `b` failed.
 */
static void
add_sql(struct chime_kit_sqlbuf *b, PGconn *conn, const struct activation *a, const char *tmpl)
{
	const struct chime_kit_ident ids[] = {
	        {"table", a->table},
	        {"key", a->key},
	        {"stamp", a->stamp},
	        {"label", a->label},
	        {"activate.scheduled", a->act.scheduled},
	        {"activate.auto", a->act.auto_},
	        {"activate.active", a->act.active},
	        {"activate.at", a->act.at},
	        {"activate.date", a->act.date},
	        {"activate.time", a->act.time},
	        {"deactivate.auto", a->deact.auto_},
	        {"deactivate.active", a->deact.active},
	        {"deactivate.valid_until", a->deact.valid_until},
	        {"windows.enabled", a->win.enabled},
	        {"windows.start", a->win.start},
	        {"windows.end", a->win.end},
	        {"windows.zone", a->win.zone},
	        {"windows.active", a->win.active},
	};

	(void)chime_kit_sql_template(b, conn, tmpl, ids, sizeof(ids) / sizeof(ids[0]), NULL, 0);
}

struct built {
	struct chime_kit_sqlbuf where, set, report;
};

static void
built_done(struct built *b)
{
	chime_kit_sqlbuf_done(&b->where);
	chime_kit_sqlbuf_done(&b->set);
	chime_kit_sqlbuf_done(&b->report);
}

static int
built_status(const struct built *b)
{
	return b->where.failed || b->set.failed || b->report.failed ? -ENOMEM : 0;
}

static void
add_stamp(PGconn *conn, const struct activation *a, const struct chime__sql_column *stamp,
          struct chime_kit_sqlbuf *set)
{
	if (stamp == NULL)
		return;
	add_sql(set, conn, a, ", {stamp} = ");
	if (stamp->kind == CHIME_SQL_TIMESTAMPTZ)
		chime_kit_sqlbuf_printf(set, "$1::timestamptz");
	else if (stamp->kind == CHIME_SQL_TIMESTAMP)
		chime_kit_sqlbuf_printf(set, "%s", LOCAL_NOW);
	else
		chime_kit_sqlbuf_printf(set, "%s::date", LOCAL_NOW);
}

static void
add_label(PGconn *conn, const struct activation *a, struct chime_kit_sqlbuf *report)
{
	if (a->label != NULL)
		add_sql(report, conn, a, "r.{label}::text");
}

/* "is due" for the start column `col` (a template: "r.{activate.at}") of
 * kind date/timestamp/timestamptz. */
static void
add_when(struct chime_kit_sqlbuf *b, PGconn *conn, const struct activation *a, const char *col,
         const struct chime__sql_column *c, const char *op)
{
	add_sql(b, conn, a, col);
	if (c->kind == CHIME_SQL_TIMESTAMPTZ)
		chime_kit_sqlbuf_printf(b, " %s $1::timestamptz", op);
	else if (c->kind == CHIME_SQL_TIMESTAMP)
		chime_kit_sqlbuf_printf(b, " %s %s", op, LOCAL_NOW);
	else
		chime_kit_sqlbuf_printf(b, " %s %s::date", op, LOCAL_NOW);
}

static const unsigned when_kinds =
        1u << CHIME_SQL_TIMESTAMPTZ | 1u << CHIME_SQL_TIMESTAMP | 1u << CHIME_SQL_DATE;
static const unsigned bool_kind = 1u << CHIME_SQL_BOOL;

static int
build_activate(struct chime__sql_check *k, const struct activation *a,
               const struct chime__sql_table *t, const struct chime__sql_column *stamp,
               struct built *b)
{
	PGconn *conn = k->conn;

	if (chime__sql_check_column(k, t, "activate.scheduled", a->act.scheduled, bool_kind) ==
	            NULL ||
	    chime__sql_check_column(k, t, "activate.auto", a->act.auto_, bool_kind) == NULL ||
	    chime__sql_check_column(k, t, "activate.active", a->act.active, bool_kind) == NULL)
		return -EINVAL;
	add_sql(&b->where, conn, a,
	        "r.{activate.scheduled} IS TRUE AND r.{activate.auto} IS TRUE AND ");
	if (a->act.at != NULL) {
		const struct chime__sql_column *c =
		        chime__sql_check_column(k, t, "activate.at", a->act.at, when_kinds);

		if (c == NULL)
			return -EINVAL;
		add_when(&b->where, conn, a, "r.{activate.at}", c, "<=");
	} else {
		const struct chime__sql_column *time;

		if (chime__sql_check_column(k, t, "activate.date", a->act.date,
		                            1u << CHIME_SQL_DATE) == NULL)
			return -EINVAL;
		time = chime__sql_check_column(k, t, "activate.time", a->act.time,
		                               1u << CHIME_SQL_TIME | 1u << CHIME_SQL_TEXT);
		if (time == NULL)
			return -EINVAL;
		/* A missing time means the start of the day. */
		add_sql(&b->where, conn, a,
		        "r.{activate.date} + COALESCE(r.{activate.time}::time, '00:00') <= ");
		chime_kit_sqlbuf_printf(&b->where, "%s", LOCAL_NOW);
	}
	add_sql(&b->set, conn, a, "{activate.active} = true, {activate.scheduled} = false");
	add_stamp(conn, a, stamp, &b->set);
	add_label(conn, a, &b->report);
	return built_status(b);
}

static int
build_deactivate(struct chime__sql_check *k, const struct activation *a,
                 const struct chime__sql_table *t, const struct chime__sql_column *stamp,
                 const char *activating, struct built *b)
{
	PGconn *conn = k->conn;
	const struct chime__sql_column *until;

	if (chime__sql_check_column(k, t, "deactivate.auto", a->deact.auto_, bool_kind) == NULL ||
	    chime__sql_check_column(k, t, "deactivate.active", a->deact.active, bool_kind) == NULL)
		return -EINVAL;
	until = chime__sql_check_column(k, t, "deactivate.valid_until", a->deact.valid_until,
	                                when_kinds);
	if (until == NULL)
		return -EINVAL;
	/* A dry run changed nothing in the activate phase: a row it would
	 * have activated (into the same column) counts as active here, so
	 * the dry run lists what the real run changes. */
	if (activating != NULL) {
		add_sql(&b->where, conn, a, "(r.{deactivate.active} IS TRUE OR (");
		chime_kit_sqlbuf_printf(&b->where, "%s", activating);
		add_sql(&b->where, conn, a, ")) AND r.{deactivate.auto} IS TRUE AND ");
	} else {
		add_sql(&b->where, conn, a,
		        "r.{deactivate.active} IS TRUE AND r.{deactivate.auto} IS TRUE AND ");
	}
	/* Past the end: a date lasts through the end of its day. */
	add_when(&b->where, conn, a, "r.{deactivate.valid_until}", until, "<");
	add_sql(&b->set, conn, a, "{deactivate.active} = false");
	add_stamp(conn, a, stamp, &b->set);
	add_label(conn, a, &b->report);
	return built_status(b);
}

/* A text time column must look like HH:MM[:SS] before it is cast. */
#define TIME_PATTERN "'^([01]?[0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\\.[0-9]+)?)?$'"

/* The windows' start and end columns, for their kinds. */
struct window_cols {
	const struct chime__sql_column *cs, *ce;
};

/* The predicate "this row's window settings can be evaluated": its zone is
 * known ($3, lower-cased names) and text times parse. */
static void
window_valid(struct chime_kit_sqlbuf *b, PGconn *conn, const struct activation *a,
             const struct window_cols *w)
{
	add_sql(b, conn, a, "(lower(COALESCE(r.{windows.zone}, $2::text)) = ANY($3::text[])");
	if (w->cs->kind == CHIME_SQL_TEXT) {
		add_sql(b, conn, a, " AND r.{windows.start} ~ ");
		chime_kit_sqlbuf_printf(b, "%s", TIME_PATTERN);
	}
	if (w->ce->kind == CHIME_SQL_TEXT) {
		add_sql(b, conn, a, " AND r.{windows.end} ~ ");
		chime_kit_sqlbuf_printf(b, "%s", TIME_PATTERN);
	}
	chime_kit_sqlbuf_printf(b, ")");
}

/* Local time of day in the row's zone inside the window: from start
 * through the whole minute of end, as the seed compares "HH:MM" (its
 * all-day default 00:00-23:59 must include 23:59:30), crossing midnight
 * when start > end; start = end is that one minute. The minute is taken by
 * truncating the local time, never by adding to end: 23:59 + 1 minute
 * wraps to 00:00 in the time type. */
static void
window_inside(struct chime_kit_sqlbuf *b, PGconn *conn, const struct activation *a)
{
	add_sql(b, conn, a,
	        "(CASE WHEN r.{windows.start}::time <= r.{windows.end}::time"
	        " THEN (($1::timestamptz AT TIME ZONE COALESCE(r.{windows.zone}, $2::text))::time"
	        " >= r.{windows.start}::time AND"
	        " date_trunc('minute', $1::timestamptz AT TIME ZONE"
	        " COALESCE(r.{windows.zone}, $2::text))::time <= r.{windows.end}::time)"
	        " ELSE (($1::timestamptz AT TIME ZONE COALESCE(r.{windows.zone}, $2::text))::time"
	        " >= r.{windows.start}::time OR"
	        " date_trunc('minute', $1::timestamptz AT TIME ZONE"
	        " COALESCE(r.{windows.zone}, $2::text))::time <= r.{windows.end}::time) END)");
}

static int
window_cols_get(struct chime__sql_check *k, const struct activation *a,
                const struct chime__sql_table *t, struct window_cols *w)
{
	const unsigned time_kinds = 1u << CHIME_SQL_TIME | 1u << CHIME_SQL_TEXT;

	if (chime__sql_check_column(k, t, "windows.enabled", a->win.enabled, bool_kind) == NULL ||
	    chime__sql_check_column(k, t, "windows.zone", a->win.zone, 1u << CHIME_SQL_TEXT) ==
	            NULL ||
	    chime__sql_check_column(k, t, "windows.active", a->win.active, bool_kind) == NULL)
		return -EINVAL;
	w->cs = chime__sql_check_column(k, t, "windows.start", a->win.start, time_kinds);
	if (w->cs == NULL)
		return -EINVAL;
	w->ce = chime__sql_check_column(k, t, "windows.end", a->win.end, time_kinds);
	if (w->ce == NULL)
		return -EINVAL;
	return 0;
}

static int
build_windows(struct chime_run *run, const struct activation *a, const struct window_cols *w,
              const struct chime__sql_column *stamp, struct built *b)
{
	PGconn *conn = chime_run_db(run);

	add_sql(&b->where, conn, a, "r.{windows.enabled} IS TRUE AND ");
	window_valid(&b->where, conn, a, w);
	add_sql(&b->where, conn, a, " AND r.{windows.active} IS DISTINCT FROM ");
	window_inside(&b->where, conn, a);
	add_sql(&b->set, conn, a, "{windows.active} = ");
	window_inside(&b->set, conn, a);
	add_stamp(conn, a, stamp, &b->set);
	add_label(conn, a, &b->report);
	chime_kit_sqlbuf_printf(&b->report, "%s", a->label != NULL ? ", " : "");
	window_inside(&b->report, conn, a);
	return built_status(b);
}

/* Report the rows whose window cannot be evaluated (unknown zone, bad
 * time text); returns their number in *ret_bad. */
static int
windows_report_bad(struct chime_run *run, const struct activation *a,
                   const struct chime__sql_table *t, const struct window_cols *w,
                   const char *const *params, const Oid *types, int64_t *ret_bad)
{
	PGconn *conn = chime_run_db(run);
	struct chime_kit_sqlbuf sql = {0};
	PGresult *res;
	int r = 0, n;

	add_sql(&sql, conn, a,
	        "SELECT r.{key}::text, COALESCE(r.{windows.zone}, $2::text),"
	        " lower(COALESCE(r.{windows.zone}, $2::text)) = ANY($3::text[]),"
	        " r.{windows.start}::text, r.{windows.end}::text FROM {table} AS r"
	        " WHERE r.{windows.enabled} IS TRUE AND NOT ");
	window_valid(&sql, conn, a, w);
	add_sql(&sql, conn, a, " ORDER BY r.{key} LIMIT 1000");
	if (sql.failed) {
		chime_kit_sqlbuf_done(&sql);
		return -ENOMEM;
	}
	res = PQexecParams(conn, sql.data, 3, types, params, NULL, NULL, 0);
	chime_kit_sqlbuf_done(&sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		chime_run_fail(run, "job '%s': cannot check the active hours of table '%s': %s",
		               chime_run_job(run), t->name, PQerrorMessage(conn));
		PQclear(res);
		return -EIO;
	}
	n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		const char *k = PQgetvalue(res, i, 0);

		if (strcmp(PQgetvalue(res, i, 2), "t") != 0)
			chime_run_item(run,
			               "%s skipped: table '%s' column '%s' (option windows.zone): "
			               "unknown time zone '%s'",
			               k, t->name, a->win.zone, PQgetvalue(res, i, 1));
		else
			chime_run_item(run,
			               "%s skipped: table '%s' columns '%s'/'%s' (options "
			               "windows.start/end): '%s'/'%s' is not a time of day",
			               k, t->name, a->win.start, a->win.end, PQgetvalue(res, i, 3),
			               PQgetvalue(res, i, 4));
	}
	chime_run_count(run, "skipped_bad_window", n);
	*ret_bad = n;
	PQclear(res);
	return r;
}

static int
zone_names(struct chime_run *run, char **ret)
{
	PGconn *conn = chime_run_db(run);
	PGresult *res;
	char *s;

	res = PQexec(conn, "SELECT array_agg(lower(name))::text FROM pg_timezone_names");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		chime_run_fail(run, "job '%s': cannot list the time zones: %s", chime_run_job(run),
		               PQerrorMessage(conn));
		PQclear(res);
		return -EIO;
	}
	s = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (s == NULL)
		return -ENOMEM;
	*ret = s;
	return 0;
}

static int
run_phase(struct chime_run *run, const struct activation *a, const struct chime__sql_table *t,
          const char *key, const struct built *b, const struct phase *phase, bool windows,
          const char *const *params, const Oid *types, int n_params)
{
	struct act_ctx x = {.a = a, .phase = phase, .windows = windows};
	struct chime__sql_batch batch = {
	        .table = t->quoted,
	        .key = key,
	        .where = b->where.data,
	        .set = b->set.data,
	        .report = b->report.len > 0 ? b->report.data : NULL,
	        .params = params,
	        .param_types = types,
	        .n_params = n_params,
	        .n_where_params = n_params,
	        .batch_size = a->batch_size,
	        .dry_run = chime_run_dry_run(run),
	        .row_cb = changed_row,
	        .userdata = &x,
	};
	int64_t rows = 0;

	if (b->where.failed || b->set.failed || b->report.failed) {
		chime_run_fail(run, "job '%s': out of memory", chime_run_job(run));
		return -ENOMEM;
	}
	if (windows) {
		chime_run_count(run, "window_opened", 0);
		chime_run_count(run, "window_closed", 0);
	} else {
		chime_run_count(run, phase->count, 0);
	}
	return chime__sql_batch_run(run, &batch, &rows);
}

/* The table, its unique key, the stamp and label columns. */
static int
check_table(struct chime__sql_check *k, const struct activation *a, struct chime__sql_table **ret_t,
            const struct chime__sql_column **ret_stamp)
{
	const struct chime__sql_column *stamp = NULL;
	struct chime__sql_table *t = NULL;
	int r;

	r = chime__sql_check_table(k, "table", a->table, &t);
	if (r < 0)
		return r;
	(void)chime__sql_check_unique(k, t, "key", a->key);
	if (a->stamp != NULL)
		stamp = chime__sql_check_column(k, t, "stamp", a->stamp, when_kinds);
	if (a->label != NULL)
		(void)chime__sql_check_column(k, t, "label", a->label, 0);
	if (k->errors > 0) {
		chime__sql_table_free(t);
		return -EINVAL;
	}
	*ret_t = t;
	*ret_stamp = stamp;
	return 0;
}

static int
activation_run(void *state, struct chime_run *run)
{
	static const struct phase activated = {"activated", "activated"};
	static const struct phase deactivated = {"deactivated", "deactivated"};
	static const struct phase window = {"window", ""};
	static const Oid types[3] = {1184, 25, 1009}; /* timestamptz, text, text[] */
	const struct activation *a = state;
	PGconn *conn = chime_run_db(run);
	const struct chime__sql_column *stamp = NULL;
	struct chime__sql_table *t = NULL;
	struct window_cols w = {0};
	struct chime__sql_check k;
	char *activating = NULL;
	char now[48], *key = NULL, *zones = NULL;
	const char *params[3];
	int64_t bad = 0;
	int r;

	if (conn == NULL) {
		chime_run_fail(run, "job '%s': no database connection", chime_run_job(run));
		return -ENOTCONN;
	}
	chime__sql_check_init_run(&k, run);
	r = check_table(&k, a, &t, &stamp);
	if (r < 0)
		goto out;
	key = chime_kit_quote_ident(conn, a->key);
	if (key == NULL) {
		r = -ENOMEM;
		goto out;
	}
	(void)chime__sql_format_timestamptz(chime_run_nominal_usec(run), now, sizeof(now));
	params[0] = now;
	params[1] = chime_run_timezone(run);
	params[2] = NULL;

	/* Check every section's columns before changing anything. */
	if (a->windows) {
		r = window_cols_get(&k, a, t, &w);
		if (r < 0)
			goto out;
	}
	if (a->activate) {
		struct built b = {0};

		r = build_activate(&k, a, t, stamp, &b);
		if (r >= 0)
			r = run_phase(run, a, t, key, &b, &activated, false, params, types, 2);
		if (r >= 0 && chime_run_dry_run(run) && a->deactivate &&
		    strcmp(a->act.active, a->deact.active) == 0) {
			activating = strdup(b.where.data != NULL ? b.where.data : "false");
			if (activating == NULL)
				r = -ENOMEM;
		}
		built_done(&b);
		if (r < 0)
			goto out;
	}
	if (a->deactivate) {
		struct built b = {0};

		r = build_deactivate(&k, a, t, stamp, activating, &b);
		if (r >= 0)
			r = run_phase(run, a, t, key, &b, &deactivated, false, params, types, 2);
		built_done(&b);
		if (r < 0)
			goto out;
	}
	if (a->windows) {
		struct built b = {0};

		r = zone_names(run, &zones);
		if (r < 0)
			goto out;
		params[2] = zones;
		r = build_windows(run, a, &w, stamp, &b);
		if (r >= 0)
			r = run_phase(run, a, t, key, &b, &window, true, params, types, 3);
		built_done(&b);
		if (r >= 0)
			r = windows_report_bad(run, a, t, &w, params, types, &bad);
		if (r < 0)
			goto out;
		if (bad > 0) {
			chime_run_fail(run,
			               "job '%s': table '%s' column '%s' (option windows.zone): "
			               "%" PRId64 " row(s) skipped for an unknown time zone or a "
			               "bad start/end time (listed in the report); the other rows "
			               "were processed",
			               chime_run_job(run), t->name, a->win.zone, bad);
			r = -EINVAL;
			goto out;
		}
	}
	r = 0;
out:
	if (r == -ENOMEM)
		chime_run_fail(run, "job '%s': out of memory", chime_run_job(run));
	chime_free_many(activating, zones, key);
	chime__sql_table_free(t);
	return r;
}

/* ---- check ----------------------------------------------------------- */

/* `chimectl check`: the table and every column of the enabled sections
 * exist with usable types; every problem reported at its option. */
static int
activation_check(void *state, PGconn *conn, const char *job, const char *timezone,
                 const struct chime_node *options, struct chime_diag_list *diags)
{
	const struct activation *a = state;
	const struct chime__sql_column *stamp = NULL;
	struct chime__sql_table *t = NULL;
	struct chime__sql_check k;
	struct window_cols w = {0};
	int r;

	chime__sql_check_init_diags(&k, conn, options, diags);
	r = check_table(&k, a, &t, &stamp);
	if (r < 0)
		return r;
	if (a->windows)
		(void)window_cols_get(&k, a, t, &w);
	if (a->activate) {
		struct built b = {0};

		(void)build_activate(&k, a, t, stamp, &b);
		built_done(&b);
	}
	if (a->deactivate) {
		struct built b = {0};

		(void)build_deactivate(&k, a, t, stamp, NULL, &b);
		built_done(&b);
	}
	chime__sql_table_free(t);
	return k.errors > 0 ? -EINVAL : 0;
}

const struct chime_plugin chime_plugin_activation = {
        CHIME_PLUGIN_INIT("activation", activation_configure, activation_run, activation_release),
        .idempotent = true,
        /* Every batch is fenced (chime__sql_batch_run). */
        .fences = true,
        .check = activation_check,
        .needs_database = true,
};
