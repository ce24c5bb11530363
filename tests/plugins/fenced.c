/* SPDX-License-Identifier: MIT */
/*
 * A third-party plugin that fences its units, as chime-plugin(3) asks:
 * each run writes `units` rows (option, default 3) into fenced_units
 * (slot, unit), each in its own transaction: BEGIN, chime_run_fence(), the
 * idempotent INSERT ... ON CONFLICT DO NOTHING, a log row in fenced_log
 * (slot, unit, run id, node, clock_timestamp()) that is never deduplicated,
 * pg_sleep(`sleep_ms`), COMMIT. The chaos test pg-nodes-zombie.sh checks
 * with fenced_log that no unit of a run committed after another node
 * recovered the run. The tables are the test's.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "chime/plugin.h"

struct fenced_state {
	int64_t units, sleep_ms;
};

static int
fenced_configure(const struct chime_node *options, struct chime_diag_list *diags, void **ret_state)
{
	struct fenced_state *st = calloc(1, sizeof(*st));

	if (st == NULL)
		return -ENOMEM;
	if (chime_node_get_int(options, "units", 1, 100, 3, diags, &st->units) < 0 ||
	    chime_node_get_int(options, "sleep_ms", 0, 10000, 100, diags, &st->sleep_ms) < 0) {
		free(st);
		return -EINVAL;
	}
	*ret_state = st;
	return 0;
}

static int
command(struct chime_run *run, PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	int r = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -EIO;

	if (r < 0)
		chime_run_fail(run, "%s failed: %s", sql, PQerrorMessage(conn));
	PQclear(res);
	return r;
}

/* One fenced unit; on failure it is rolled back and the reason set. */
static int
unit(const struct fenced_state *st, struct chime_run *run, PGconn *conn, int64_t k)
{
	static const char sql[] =
	        "WITH e AS (INSERT INTO fenced_units (slot, unit)"
	        " VALUES (to_timestamp($1::bigint / 1000000.0), $2::int)"
	        " ON CONFLICT DO NOTHING RETURNING 1)"
	        " INSERT INTO fenced_log (slot, unit, run_id, node, at)"
	        " SELECT to_timestamp($1::bigint / 1000000.0), $2::int, $3::bigint, $4,"
	        " clock_timestamp() FROM pg_sleep($5::int / 1000.0)";
	char slot[48], unit_s[24], id[24], sleep_s[24];
	const char *params[5] = {slot, unit_s, id, chime_run_node(run), sleep_s};
	PGresult *res;
	int r;

	snprintf(slot, sizeof(slot), "%" PRId64, chime_run_nominal_usec(run));
	snprintf(unit_s, sizeof(unit_s), "%" PRId64, k);
	snprintf(id, sizeof(id), "%" PRId64, chime_run_id(run));
	snprintf(sleep_s, sizeof(sleep_s), "%" PRId64, st->sleep_ms);
	r = command(run, conn, "BEGIN");
	if (r < 0)
		return r;
	r = chime_run_fence(run, conn);
	if (r == 0) {
		res = PQexecParams(conn, sql, 5, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			chime_run_fail(run, "unit %" PRId64 ": %s", k, PQerrorMessage(conn));
			r = -EIO;
		}
		PQclear(res);
	}
	if (r < 0) {
		PQclear(PQexec(conn, "ROLLBACK"));
		return r;
	}
	return command(run, conn, "COMMIT");
}

static int
fenced_run(void *state, struct chime_run *run)
{
	const struct fenced_state *st = state;
	PGconn *conn = chime_run_db(run);
	int r = 0;

	if (conn == NULL) {
		chime_run_fail(run, "no database connection");
		return -ENOTCONN;
	}
	for (int64_t k = 1; k <= st->units && r == 0; k++) {
		if (chime_run_cancelled(run)) {
			chime_run_fail(run, "cancelled after %" PRId64 " units", k - 1);
			return -ECANCELED;
		}
		r = unit(st, run, conn, k);
		if (r == 0)
			chime_run_count(run, "units", 1);
	}
	return r;
}

static const struct chime_plugin fenced = {
        CHIME_PLUGIN_INIT("fenced", fenced_configure, fenced_run, free),
        .idempotent = true,
        .needs_database = true,
        .fences = true,
};

CHIME_EXPORT const struct chime_plugin *
chime_plugin_entry(void)
{
	return &fenced;
}
