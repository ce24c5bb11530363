/* SPDX-License-Identifier: MIT */
/*
 * The run fence against a real PostgreSQL (ledger.h chime_ledger_fence,
 * lib/ledger/sql/fence.sql): two connections, the run's own (the
 * plugin's unit transaction) and the ledger's (heartbeats, recovery). A
 * fence holds on a live run and sets the idle timeout; recovery and
 * heartbeats skip a fenced row without waiting; recovery succeeds once the
 * fenced transaction ended; a fence fails on a recovered row and on a
 * stale lease; a recovered run that finished records the truth once.
 *
 * It needs a database, so it is not a ctest unit test: without
 * CHIME_LEDGER_TEST_CONNINFO it exits 77 (skipped).
 * tests/integration/pg-ledger-fence.sh runs it with a database.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <libpq-fe.h>

#include "db.h"
#include "ledger.h"

#define SEC   INT64_C(1000000)
#define T0    (INT64_C(1767225600) * SEC) /* 2026-01-01T00:00:00Z */
#define LEASE (INT64_C(60) * SEC)

static char *conninfo;

static PGconn *
connect_or_skip(void)
{
	struct chime_database_config db = {.conninfo = conninfo};
	char err[256];
	PGconn *conn = NULL;

	if (conninfo == NULL)
		skip();
	assert_int_equal(chime_db_connect(&db, &conn, err, sizeof(err)), 0);
	if (chime_ledger_migrate(conn, err, sizeof(err)) < 0)
		fail_msg("migrate: %s", err);
	return conn;
}

static void
exec_ok(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(conn));
	PQclear(res);
}

static char *
scalar(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	char *v;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(conn));
	v = strdup(PQgetisnull(res, 0, 0) ? "NULL" : PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

static void
assert_scalar(PGconn *conn, const char *sql, const char *want)
{
	char *got = scalar(conn, sql);

	if (strcmp(got, want) != 0)
		fail_msg("%s = '%s', want '%s'", sql, got, want);
	free(got);
}

/* A running claim of node "a" for job `job`. */
static int64_t
running(PGconn *conn, const char *job)
{
	struct chime_ledger_slot s = {
	        .job = job,
	        .local_usec = T0,
	        .instant_usec = T0,
	        .previous_usec = INT64_MIN,
	};
	struct chime_ledger_claim c = {
	        .slot = &s,
	        .attempt = 1,
	        .node = "a",
	        .lease_usec = LEASE,
	        .start = true,
	};
	int64_t id = 0;

	assert_int_equal(chime_ledger_claim(conn, &c, &id, NULL, NULL, 0), 0);
	return id;
}

/* The row as recovery would have found it lost (its committed heartbeat). */
static struct chime_ledger_lost
lost_row(PGconn *conn, int64_t id)
{
	struct chime_ledger_lost l = {.id = id,
	                              .attempt = 1,
	                              .local_usec = T0,
	                              .instant_usec = T0,
	                              .previous_usec = INT64_MIN};
	char sql[160], *hb;

	snprintf(sql, sizeof(sql),
	         "SELECT (extract(epoch FROM heartbeat_at) * 1000000)::bigint FROM chime.runs"
	         " WHERE id = %lld",
	         (long long)id);
	hb = scalar(conn, sql);
	l.heartbeat_usec = strtoll(hb, NULL, 10);
	free(hb);
	return l;
}

static void
test_fence_holds_against_recovery(void **state)
{
	PGconn *run = connect_or_skip(), *ledger = connect_or_skip();
	int64_t id = running(ledger, "fenced"), cancel[1], new_id = -1;
	struct chime_ledger_lost lost = lost_row(ledger, id);
	size_t n_cancel = 9;
	char err[512], want[512];

	(void)state;
	/* Waiting on the row lock would end in this timeout, not -ESTALE. */
	exec_ok(ledger, "SET statement_timeout = '3s'");
	exec_ok(run, "BEGIN");
	assert_int_equal(chime_ledger_fence(run, id, "a", err, sizeof(err)), 0);
	/* The server rolls the unit back when the node stops inside it. */
	assert_scalar(run, "SHOW idle_in_transaction_session_timeout", "1min");
	/* Recovery (with the heartbeat it saw) skips the fenced row... */
	assert_int_equal(
	        chime_ledger_recover(ledger, &lost, true, "b", LEASE, &new_id, err, sizeof(err)),
	        -ESTALE);
	/* ...and a heartbeat counts it live without waiting for it. */
	assert_int_equal(
	        chime_ledger_heartbeat(ledger, &id, 1, cancel, &n_cancel, err, sizeof(err)), 0);
	assert_int_equal(n_cancel, 0);
	/* The unit rolled back (its heartbeat too): now recovery wins. */
	exec_ok(run, "ROLLBACK");
	assert_scalar(run, "SHOW idle_in_transaction_session_timeout", "0");
	assert_int_equal(
	        chime_ledger_recover(ledger, &lost, true, "b", LEASE, &new_id, err, sizeof(err)),
	        0);
	assert_true(new_id > 0);
	/* The zombie's next unit: its fence fails and says why. */
	exec_ok(run, "BEGIN");
	assert_int_equal(chime_ledger_fence(run, id, "a", err, sizeof(err)), -ESTALE);
	exec_ok(run, "ROLLBACK");
	snprintf(want, sizeof(want),
	         "fenced: run %lld is no longer this node's claim (lost: lost: node 'a' stopped "
	         "heartbeating, re-run by node 'b')",
	         (long long)id);
	assert_string_equal(err, want);
	PQfinish(run);
	PQfinish(ledger);
}

static void
test_fence_commit_renews(void **state)
{
	PGconn *run = connect_or_skip(), *ledger = connect_or_skip();
	int64_t id = running(ledger, "renewed"), new_id = -1;
	struct chime_ledger_lost lost;
	char err[512];

	(void)state;
	exec_ok(ledger, "UPDATE chime.runs SET heartbeat_at = now() - interval '30 s'"
	                " WHERE job = 'renewed'");
	lost = lost_row(ledger, id);
	exec_ok(run, "BEGIN");
	assert_int_equal(chime_ledger_fence(run, id, "a", err, sizeof(err)), 0);
	exec_ok(run, "COMMIT");
	/* The committed unit renewed the claim: recovery with what it saw
	 * before loses. */
	assert_int_equal(chime_ledger_recover(ledger, &lost, true, "b", LEASE, &new_id, NULL, 0),
	                 -ESTALE);
	assert_scalar(ledger,
	              "SELECT status || ':' || (heartbeat_at > now() - interval '10 s')"
	              " FROM chime.runs WHERE job = 'renewed'",
	              "running:true");
	/* Another node's fence on it fails. */
	exec_ok(run, "BEGIN");
	assert_int_equal(chime_ledger_fence(run, id, "b", err, sizeof(err)), -ESTALE);
	exec_ok(run, "ROLLBACK");
	PQfinish(run);
	PQfinish(ledger);
}

static void
test_fence_stale_lease(void **state)
{
	PGconn *run = connect_or_skip(), *ledger = connect_or_skip();
	int64_t id = running(ledger, "stale");
	char err[512];

	(void)state;
	exec_ok(ledger, "UPDATE chime.runs SET heartbeat_at = now() - interval '90 s'"
	                " WHERE job = 'stale'");
	exec_ok(run, "BEGIN");
	assert_int_equal(chime_ledger_fence(run, id, "a", err, sizeof(err)), -ESTALE);
	exec_ok(run, "ROLLBACK");
	if (strstr(err, "'s claim lapsed (no heartbeat for 90.") == NULL ||
	    strstr(err, "lease 60.0 s): another node may recover it") == NULL)
		fail_msg("reason: %s", err);
	/* No ledger row at all. */
	exec_ok(run, "BEGIN");
	assert_int_equal(chime_ledger_fence(run, 999999, "a", err, sizeof(err)), -ESTALE);
	exec_ok(run, "ROLLBACK");
	assert_string_equal(err, "fenced: run 999999 is no longer this node's claim (its row is "
	                         "gone)");
	PQfinish(run);
	PQfinish(ledger);
}

static void
test_finish_late(void **state)
{
	PGconn *ledger = connect_or_skip();
	int64_t ok_id = running(ledger, "late-ok"), bad_id = running(ledger, "late-bad");
	int64_t new_id = -1;
	struct chime_ledger_lost lost;

	(void)state;
	lost = lost_row(ledger, ok_id);
	assert_int_equal(chime_ledger_recover(ledger, &lost, false, "b", LEASE, &new_id, NULL, 0),
	                 0);
	lost = lost_row(ledger, bad_id);
	assert_int_equal(chime_ledger_recover(ledger, &lost, true, "b", LEASE, &new_id, NULL, 0),
	                 0);
	/* The stalled node wakes: its work committed (ok) or was fenced. */
	assert_int_equal(
	        chime_ledger_finish(ledger, ok_id, CHIME_RUN_SUCCEEDED, "{}", NULL, NULL, 0),
	        -ESTALE);
	assert_int_equal(chime_ledger_finish_late(ledger, ok_id, "a", CHIME_RUN_SUCCEEDED, "{}",
	                                          NULL, NULL, 0),
	                 0);
	assert_int_equal(chime_ledger_finish_late(ledger, bad_id, "a", CHIME_RUN_FAILED, NULL,
	                                          "fenced: gone", NULL, 0),
	                 0);
	/* Once only, and only by the node that held it. */
	assert_int_equal(chime_ledger_finish_late(ledger, bad_id, "a", CHIME_RUN_FAILED, NULL,
	                                          "fenced: gone", NULL, 0),
	                 -ESTALE);
	assert_int_equal(
	        chime_ledger_finish_late(ledger, ok_id, "b", CHIME_RUN_FAILED, NULL, "x", NULL, 0),
	        -ESTALE);
	assert_scalar(ledger,
	              "SELECT status || ': ' || error FROM chime.runs WHERE job = 'late-ok'",
	              "succeeded: succeeded late (lost: node 'a' stopped heartbeating, not re-run "
	              "(not idempotent))");
	assert_scalar(
	        ledger,
	        "SELECT status || ': ' || error FROM chime.runs"
	        " WHERE job = 'late-bad' AND attempt = 1",
	        "lost: lost: node 'a' stopped heartbeating, re-run by node 'b'; then node 'a' "
	        "woke: fenced: gone");
	PQfinish(ledger);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_fence_holds_against_recovery),
	        cmocka_unit_test(test_fence_commit_renews),
	        cmocka_unit_test(test_fence_stale_lease),
	        cmocka_unit_test(test_finish_late),
	};

	conninfo = getenv("CHIME_LEDGER_TEST_CONNINFO");
	if (conninfo == NULL) {
		printf("1..0 # SKIP CHIME_LEDGER_TEST_CONNINFO is not set "
		       "(tests/integration/pg-ledger-fence.sh sets it)\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
