/* SPDX-License-Identifier: MIT */
/*
 * Benchmark: expire N of 2N rows (status + expiry indexed) three ways on the
 * same data in the same run: the `expiration` plugin (keyset batches of
 * batch_size with FOR UPDATE SKIP LOCKED, one transaction each), one plain
 * UPDATE, and a per-row UPDATE loop in autocommit (what a Django
 * `for c in qs: c.save()` does) measured on a sample and extrapolated.
 * Each method starts from a freshly built, vacuumed and analysed table;
 * plain UPDATE and plugin alternate for -r rounds and the median of each
 * is compared, so a noisy neighbour on the machine skews neither side.
 *
 *   bench_expiration [-n ROWS_EXPIRED] [-b BATCH] [-s LOOP_SAMPLE] [-r ROUNDS] [CONNINFO]
 *
 * CONNINFO defaults to libpq's environment (PGHOST, PGPORT, ...). Prints
 * rows/s for each method and the ratios.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "diag.h"
#include "node.h"
#include "chime/plugin.h"
#include "plugin_host.h"
#include "builtin.h"
#include "run.h"

/* The nominal instant of the run: 2026-03-10T02:00:00Z. */
#define NOMINAL_USEC INT64_C(1773108000000000)

static double
now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
exec_or_die(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "bench_expiration: %s: %s", sql, PQerrorMessage(conn));
		exit(1);
	}
	PQclear(res);
}

/* 2n rows: even ids expired a day before the nominal instant, odd ids
 * expiring a day after it; agent names for the label join. */
static void
build_table(PGconn *conn, long n)
{
	char sql[1024];

	exec_or_die(conn, "SET client_min_messages = warning");
	exec_or_die(conn, "DROP TABLE IF EXISTS bench_codes");
	exec_or_die(conn, "DROP TABLE IF EXISTS bench_agents");
	exec_or_die(conn, "CREATE TABLE bench_agents (id bigint PRIMARY KEY, name text NOT NULL)");
	exec_or_die(conn, "INSERT INTO bench_agents SELECT g, 'Agent ' || g"
	                  " FROM generate_series(1, 1000) g");
	exec_or_die(conn, "CREATE TABLE bench_codes (id bigint PRIMARY KEY, code text NOT NULL,"
	                  " agent_id bigint, status text NOT NULL, expires_at timestamptz,"
	                  " updated_at timestamptz)");
	(void)snprintf(sql, sizeof(sql),
	               "INSERT INTO bench_codes SELECT g, 'CODE-' || g, 1 + g %% 1000, 'active',"
	               " CASE WHEN g %% 2 = 0 THEN timestamptz '2026-03-09T02:00:00Z'"
	               " ELSE timestamptz '2026-03-11T02:00:00Z' END, NULL"
	               " FROM generate_series(1, %ld) g",
	               2 * n);
	exec_or_die(conn, sql);
	/* The reference schema's indexes: code unique, status + expiry, agent. */
	exec_or_die(conn, "CREATE UNIQUE INDEX ON bench_codes (code)");
	exec_or_die(conn, "CREATE INDEX ON bench_codes (status, expires_at)");
	exec_or_die(conn, "CREATE INDEX ON bench_codes (agent_id)");
	exec_or_die(conn, "VACUUM ANALYZE bench_codes");
	exec_or_die(conn, "VACUUM ANALYZE bench_agents");
	exec_or_die(conn, "CHECKPOINT");
}

static long
count_expired(PGconn *conn)
{
	PGresult *res = PQexec(conn, "SELECT count(*) FROM bench_codes WHERE status = 'inactive'");
	long n = atol(PQgetvalue(res, 0, 0));

	PQclear(res);
	return n;
}

static double
bench_plain(PGconn *conn, long n)
{
	double t0 = now_sec(), dt;

	exec_or_die(conn, "UPDATE bench_codes SET status = 'inactive',"
	                  " updated_at = '2026-03-10T02:00:00Z'"
	                  " WHERE status = 'active' AND expires_at < '2026-03-10T02:00:00Z'");
	dt = now_sec() - t0;
	if (count_expired(conn) != n) {
		fprintf(stderr, "bench_expiration: plain UPDATE expired %ld rows, want %ld\n",
		        count_expired(conn), n);
		exit(1);
	}
	return dt;
}

/* The report keeps the first 1,000 items, labelled (row 2 has agent 3), and
 * counts the other rows as dropped items. */
static void
check_report(const struct chime_run *run, long n)
{
	char *json = chime_run_report_json(run), dropped[64];

	(void)snprintf(dropped, sizeof(dropped), "\"items_dropped\":%ld", n > 1000 ? n - 1000 : 0);
	if (json == NULL || strstr(json, "\"items\":[\"2 (Agent: Agent 3)\",") == NULL ||
	    strstr(json, dropped) == NULL) {
		fprintf(stderr, "bench_expiration: unexpected report: %.300s\n",
		        json != NULL ? json : "(null)");
		exit(1);
	}
	free(json);
}

static double
bench_plugin(PGconn *conn, long n, long batch)
{
	const struct chime_plugin *p = chime_plugins_find("expiration");
	struct chime_diag_list diags;
	struct chime_node *root = NULL;
	struct chime_run *run;
	void *state = NULL;
	char yaml[512];
	double t0, dt;

	chime_diag_list_init(&diags);
	(void)snprintf(yaml, sizeof(yaml),
	               "{table: bench_codes, key: id, stamp: updated_at, batch_size: %ld,"
	               " label: {join: bench_agents, on: agent_id, format: \"Agent: {name}\"}}",
	               batch);
	if (p == NULL ||
	    chime_node_parse_string("bench", yaml, strlen(yaml), NULL, &diags, &root) < 0 ||
	    p->configure(root, &diags, &state) < 0) {
		chime_diag_list_print(&diags, stderr);
		exit(1);
	}
	run = chime_run_new(&(struct chime_run_params){
	        .job = "bench-expire",
	        .plugin = "expiration",
	        .timezone = "UTC",
	        .nominal_usec = NOMINAL_USEC,
	        .previous_usec = INT64_MIN,
	        .attempt = 1,
	        .conn = conn,
	});
	if (run == NULL)
		exit(1);
	t0 = now_sec();
	if (p->run(state, run) < 0) {
		fprintf(stderr, "bench_expiration: plugin failed: %s\n", chime_run_error(run));
		exit(1);
	}
	dt = now_sec() - t0;
	if (chime_run_report_count(run, "expired") != n || count_expired(conn) != n) {
		fprintf(stderr, "bench_expiration: plugin expired %" PRId64 " rows, want %ld\n",
		        chime_run_report_count(run, "expired"), n);
		exit(1);
	}
	check_report(run, n);
	chime_run_free(run);
	p->release(state);
	chime_node_free(root);
	chime_diag_list_done(&diags);
	return dt;
}

/* The per-row loop on `sample` rows: select the ids, then one autocommit
 * UPDATE per row, as an ORM's loop of save() calls does. */
static double
bench_loop(PGconn *conn, long sample)
{
	char sql[256];
	PGresult *ids;
	double t0, dt;

	t0 = now_sec();
	(void)snprintf(sql, sizeof(sql),
	               "SELECT id FROM bench_codes WHERE status = 'active'"
	               " AND expires_at < '2026-03-10T02:00:00Z' LIMIT %ld",
	               sample);
	ids = PQexec(conn, sql);
	if (PQresultStatus(ids) != PGRES_TUPLES_OK || PQntuples(ids) != sample) {
		fprintf(stderr, "bench_expiration: loop select: %s", PQerrorMessage(conn));
		exit(1);
	}
	for (int i = 0; i < PQntuples(ids); i++) {
		const char *params[1] = {PQgetvalue(ids, i, 0)};
		PGresult *res = PQexecParams(conn,
		                             "UPDATE bench_codes SET status = 'inactive',"
		                             " updated_at = now() WHERE id = $1",
		                             1, NULL, params, NULL, NULL, 0);

		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			fprintf(stderr, "bench_expiration: loop update: %s", PQerrorMessage(conn));
			exit(1);
		}
		PQclear(res);
	}
	dt = now_sec() - t0;
	PQclear(ids);
	return dt;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int
main(int argc, char **argv)
{
	long n = 1000000, batch = 10000, sample = 20000;
	double plain, plugin, loop, plains[16], plugins[16];
	int rounds = 3;
	const char *conninfo;
	PGconn *conn;
	int c;

	while ((c = getopt(argc, argv, "n:b:s:r:")) != -1) {
		switch (c) {
		case 'n':
			n = atol(optarg);
			break;
		case 'b':
			batch = atol(optarg);
			break;
		case 's':
			sample = atol(optarg);
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: bench_expiration [-n ROWS] [-b BATCH] [-s SAMPLE] "
			                "[-r ROUNDS] [CONNINFO]\n");
			return 2;
		}
	}
	if (n <= 0 || batch <= 0 || sample <= 0 || sample > n || rounds < 1 || rounds > 16) {
		fprintf(stderr, "bench_expiration: bad -n/-b/-s\n");
		return 2;
	}
	conninfo = optind < argc ? argv[optind] : "";
	conn = PQconnectdb(conninfo);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "bench_expiration: %s", PQerrorMessage(conn));
		return 1;
	}

	printf("expire %ld of %ld rows, status and expires_at indexed, batch_size %ld\n", n, 2 * n,
	       batch);
	for (int i = 0; i < rounds; i++) {
		build_table(conn, n);
		plains[i] = bench_plain(conn, n);
		build_table(conn, n);
		plugins[i] = bench_plugin(conn, n, batch);
		printf("round %d: plain UPDATE %.2f s, plugin %.2f s (%.2fx)\n", i + 1, plains[i],
		       plugins[i], plains[i] / plugins[i]);
		fflush(stdout);
	}
	plain = median(plains, rounds);
	plugin = median(plugins, rounds);
	printf("median of %d rounds:\n", rounds);
	printf("plain UPDATE:          %8.2f s  %9.0f rows/s\n", plain, (double)n / plain);
	printf("expiration plugin:     %8.2f s  %9.0f rows/s  (%.2fx plain UPDATE)\n", plugin,
	       (double)n / plugin, plain / plugin);
	build_table(conn, n);
	loop = bench_loop(conn, sample);
	printf("per-row autocommit:    %8.2f s  %9.0f rows/s  (sample of %ld rows; %.0f s "
	       "extrapolated for %ld; plugin %.1fx faster)\n",
	       loop, (double)sample / loop, sample, loop * (double)n / (double)sample, n,
	       ((double)n / plugin) / ((double)sample / loop));
	exec_or_die(conn, "DROP TABLE bench_codes");
	exec_or_die(conn, "DROP TABLE bench_agents");
	PQfinish(conn);
	return 0;
}
