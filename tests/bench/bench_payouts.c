/* SPDX-License-Identifier: MIT */
/*
 * bench_payouts: users paid per second by the `payouts` plugin (called
 * through a run context, as `chimectl run` does) against the plain
 * set-based statements on identical data in the same database:
 *
 *   INSERT INTO invoices ... SELECT ... FROM users JOIN payment_methods ...
 *   UPDATE users SET balance = 0 FROM invoices ...
 *
 * in one transaction. Each round regenerates the same data (N active users,
 * balances 100.00..1099.99, one approved method each) in a schema of its
 * own, runs one side, checks that every user was paid exactly his balance
 * and that the money adds up, and prints the rate. Rounds alternate the two
 * sides; the medians and their ratio are printed last.
 *
 *   bench_payouts [-n USERS] [-r ROUNDS] [-b BATCH_SIZE] [CONNINFO]
 *
 * CONNINFO defaults to "" (libpq's PG* environment). Exit 1 on any error.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "diag.h"
#include "node.h"
#include "chime/plugin.h"
#include "run.h"

extern const struct chime_plugin chime_plugin_payouts;

#define SCHEMA "chime_bench_payouts"

static const char *const schema_sql =
        "DROP SCHEMA IF EXISTS " SCHEMA " CASCADE;"
        "CREATE SCHEMA " SCHEMA ";"
        "SET search_path = " SCHEMA ";"
        "CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL,"
        " is_active boolean NOT NULL DEFAULT true, balance numeric(14,2) NOT NULL DEFAULT 0,"
        " currency text DEFAULT 'USD');"
        "CREATE TABLE payment_methods (id bigserial PRIMARY KEY, user_id bigint NOT NULL"
        " REFERENCES users (id) ON DELETE CASCADE, kind text NOT NULL DEFAULT 'binance',"
        " address text, approved boolean NOT NULL DEFAULT false,"
        " created_at timestamptz NOT NULL DEFAULT now());"
        "CREATE INDEX ON payment_methods (user_id);"
        "CREATE TABLE invoices (id bigserial PRIMARY KEY, user_id bigint NOT NULL REFERENCES users"
        " (id), amount numeric(14,2) NOT NULL CHECK (amount > 0), currency text NOT NULL DEFAULT"
        " 'USD', method_id bigint REFERENCES payment_methods (id), address text, status text NOT"
        " NULL DEFAULT 'pending' CHECK (status IN ('pending', 'paid', 'rejected')), payout_date"
        " date NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), run_id bigint,"
        " UNIQUE (user_id, payout_date));";

/* $1: the number of users. Balances are a fixed function of the id. */
static const char *const data_sql =
        "INSERT INTO " SCHEMA ".users (id, email, balance)"
        " SELECT g, 'user' || g || '@example.com', 100 + (g * 7919 % 100000) / 100.0"
        " FROM generate_series(1, $1::bigint) AS g";
static const char *const methods_sql =
        "INSERT INTO " SCHEMA ".payment_methods (user_id, address, approved)"
        " SELECT id, 'user' || id || '@binance.example', true FROM " SCHEMA ".users";

static const char *const setbased_sql =
        "BEGIN;"
        "INSERT INTO " SCHEMA ".invoices (user_id, amount, currency, method_id, address, status,"
        " payout_date) SELECT u.id, u.balance, u.currency, m.id, m.address, 'pending',"
        " date '2026-03-02' FROM " SCHEMA ".users AS u JOIN " SCHEMA ".payment_methods AS m"
        " ON m.user_id = u.id AND m.approved AND m.address <> ''"
        " WHERE u.is_active AND u.balance >= 100"
        " ON CONFLICT (user_id, payout_date) DO NOTHING;"
        "UPDATE " SCHEMA ".users AS u SET balance = u.balance - i.amount FROM " SCHEMA
        ".invoices AS i WHERE i.user_id = u.id AND i.payout_date = date '2026-03-02';"
        "COMMIT;";

/* Every user paid once, exactly the original balance, and nothing left. */
static const char *const check_sql =
        "SELECT (SELECT count(*) FROM " SCHEMA ".invoices),"
        " (SELECT coalesce(sum(amount), 0) FROM " SCHEMA ".invoices) ="
        " (SELECT sum(100 + (g * 7919 % 100000) / 100.0) FROM generate_series(1, $1::bigint)"
        " AS g),"
        " (SELECT coalesce(sum(balance), 0) FROM " SCHEMA ".users)";

static double
now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
exec_ok(PGconn *conn, const char *sql, int n, const char *const *params)
{
	PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		fprintf(stderr, "bench_payouts: %s", PQerrorMessage(conn));
		PQclear(res);
		return -EIO;
	}
	PQclear(res);
	return 0;
}

/* Several statements in one simple query. */
static int
exec_multi(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fprintf(stderr, "bench_payouts: %s", PQerrorMessage(conn));
		PQclear(res);
		return -EIO;
	}
	PQclear(res);
	return 0;
}

static int
setup(PGconn *conn, const char *users)
{
	const char *params[1] = {users};

	if (exec_multi(conn, schema_sql) < 0)
		return -EIO;
	if (exec_ok(conn, data_sql, 1, params) < 0 || exec_ok(conn, methods_sql, 0, NULL) < 0 ||
	    exec_ok(conn, "VACUUM ANALYZE", 0, NULL) < 0)
		return -EIO;
	return 0;
}

static int
check(PGconn *conn, const char *users, long n)
{
	const char *params[1] = {users};
	PGresult *res = PQexecParams(conn, check_sql, 1, NULL, params, NULL, NULL, 0);
	int r = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "bench_payouts: check: %s", PQerrorMessage(conn));
		r = -EIO;
	} else if (strtol(PQgetvalue(res, 0, 0), NULL, 10) != n ||
	           strcmp(PQgetvalue(res, 0, 1), "t") != 0 ||
	           strcmp(PQgetvalue(res, 0, 2), "0.00") != 0) {
		fprintf(stderr,
		        "bench_payouts: wrong result: %s invoices, sums equal %s, %s left\n",
		        PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
		r = -EIO;
	}
	PQclear(res);
	return r;
}

static int
run_plugin(PGconn *conn, void *state, double *ret_sec)
{
	struct chime_run_params params = {
	        .job = "bench-payouts",
	        .plugin = "payouts",
	        .timezone = "UTC",
	        .nominal_usec = INT64_C(1772416800000000), /* 2026-03-02T02:00:00Z */
	        .previous_usec = INT64_MIN,
	        .run_id = 1,
	        .attempt = 1,
	        .conn = conn,
	};
	struct chime_run *run = chime_run_new(&params);
	double t0;
	int r;

	if (run == NULL)
		return -ENOMEM;
	t0 = now_sec();
	r = chime_plugin_payouts.run(state, run);
	*ret_sec = now_sec() - t0;
	if (r < 0)
		fprintf(stderr, "bench_payouts: plugin failed: %s\n", chime_run_error(run));
	chime_run_free(run);
	return r;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	long users = 100000, rounds = 3, batch = 500;
	char users_text[24], options[256];
	struct chime_diag_list diags;
	struct chime_node *root = NULL;
	double plugin_rate[32], set_rate[32];
	void *state = NULL;
	PGconn *conn = NULL;
	int c, r = 1;

	while ((c = getopt(argc, argv, "n:r:b:")) != -1) {
		switch (c) {
		case 'n':
			users = strtol(optarg, NULL, 10);
			break;
		case 'r':
			rounds = strtol(optarg, NULL, 10);
			break;
		case 'b':
			batch = strtol(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: bench_payouts [-n USERS] [-r ROUNDS] "
			                "[-b BATCH_SIZE] [CONNINFO]\n");
			return 2;
		}
	}
	if (users < 1 || rounds < 1 || rounds > 32 || batch < 1) {
		fprintf(stderr, "bench_payouts: bad -n, -r or -b\n");
		return 2;
	}
	snprintf(users_text, sizeof(users_text), "%ld", users);
	snprintf(options, sizeof(options),
	         "options: {batch_size: %ld, users_table: " SCHEMA ".users, methods_table: " SCHEMA
	         ".payment_methods, invoices_table: " SCHEMA ".invoices}\n",
	         batch);

	chime_diag_list_init(&diags);
	if (chime_node_parse_string("bench", options, strlen(options), NULL, &diags, &root) < 0 ||
	    chime_plugin_payouts.configure(chime_node_get(root, "options"), &diags, &state) < 0) {
		chime_diag_list_print(&diags, stderr);
		goto out;
	}
	conn = PQconnectdb(optind < argc ? argv[optind] : "");
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "bench_payouts: %s", PQerrorMessage(conn));
		goto out;
	}
	if (exec_ok(conn, "SET client_min_messages = warning", 0, NULL) < 0)
		goto out;
	printf("bench_payouts: %ld users, batch_size %ld, %ld rounds, PostgreSQL %d\n", users,
	       batch, rounds, PQserverVersion(conn));
	for (long i = 0; i < rounds; i++) {
		double t0, sec;

		if (setup(conn, users_text) < 0)
			goto out;
		t0 = now_sec();
		if (exec_multi(conn, setbased_sql) < 0)
			goto out;
		sec = now_sec() - t0;
		if (check(conn, users_text, users) < 0)
			goto out;
		set_rate[i] = (double)users / sec;
		printf("round %ld set-based: %.3f s, %.0f users/s\n", i + 1, sec, set_rate[i]);

		if (setup(conn, users_text) < 0)
			goto out;
		if (run_plugin(conn, state, &sec) < 0 || check(conn, users_text, users) < 0)
			goto out;
		plugin_rate[i] = (double)users / sec;
		printf("round %ld plugin:    %.3f s, %.0f users/s\n", i + 1, sec, plugin_rate[i]);
	}
	qsort(set_rate, (size_t)rounds, sizeof(double), cmp_double);
	qsort(plugin_rate, (size_t)rounds, sizeof(double), cmp_double);
	printf("median set-based %.0f users/s, plugin %.0f users/s, ratio %.2f\n",
	       set_rate[rounds / 2], plugin_rate[rounds / 2],
	       plugin_rate[rounds / 2] / set_rate[rounds / 2]);
	(void)exec_ok(conn, "DROP SCHEMA " SCHEMA " CASCADE", 0, NULL);
	r = 0;
out:
	if (chime_plugin_payouts.release != NULL)
		chime_plugin_payouts.release(state);
	chime_node_free(root);
	chime_diag_list_done(&diags);
	PQfinish(conn);
	return r;
}
