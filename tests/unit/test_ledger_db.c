/* SPDX-License-Identifier: MIT */
/*
 * The ledger's statements against a real PostgreSQL: migration (twice, and
 * from several threads at once), claims that only one caller wins,
 * attempts, overlap skip, heartbeats carrying cancel requests, lost-claim
 * recovery that only one recovering node wins, pruning, pause state.
 *
 * It needs a database, so it is not a ctest unit test: without
 * CHIME_LEDGER_TEST_CONNINFO it exits 77 (skipped).
 * tests/integration/pg-ledger-db.sh creates a database and runs this
 * binary with it set.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static char *
scalar(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	char *v;

	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
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

static void
exec_ok(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);

	assert_true(PQresultStatus(res) == PGRES_COMMAND_OK ||
	            PQresultStatus(res) == PGRES_TUPLES_OK);
	PQclear(res);
}

static struct chime_ledger_slot
slot_at(const char *job, int64_t sec)
{
	return (struct chime_ledger_slot){
	        .job = job,
	        .local_usec = T0 + sec * SEC,
	        .instant_usec = T0 + sec * SEC,
	        .previous_usec = T0 + (sec - 60) * SEC,
	};
}

static int
claim(PGconn *conn, const struct chime_ledger_slot *slot, int attempt, bool skip_if_busy,
      const char *node, int64_t *ret_id, enum chime_run_status *ret_status)
{
	struct chime_ledger_claim c = {
	        .slot = slot,
	        .attempt = attempt,
	        .node = node,
	        .lease_usec = LEASE,
	        .skip_if_busy = skip_if_busy,
	};

	return chime_ledger_claim(conn, &c, ret_id, ret_status, NULL, 0);
}

static void *
migrate_thread(void *userdata)
{
	struct chime_database_config db = {.conninfo = conninfo};
	char err[256];
	PGconn *conn = NULL;
	intptr_t r;

	(void)userdata;
	r = chime_db_connect(&db, &conn, err, sizeof(err));
	if (r == 0)
		r = chime_ledger_migrate(conn, err, sizeof(err));
	PQfinish(conn);
	return (void *)r;
}

static void
test_migrate_concurrent_and_idempotent(void **state)
{
	pthread_t t[4];
	PGconn *conn;

	(void)state;
	if (conninfo == NULL)
		skip();
	/* Start from nothing, then four nodes at once. */
	conn = connect_or_skip();
	exec_ok(conn, "DROP SCHEMA chime CASCADE");
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, migrate_thread, NULL), 0);
	for (int i = 0; i < 4; i++) {
		void *r;

		pthread_join(t[i], &r);
		assert_int_equal((intptr_t)r, 0);
	}
	assert_scalar(conn, "SELECT string_agg(version::text, ',') FROM chime.schema_version",
	              "1,2");
	assert_int_equal(chime_ledger_migrate(conn, NULL, 0), 0);
	assert_scalar(conn, "SELECT count(*) FROM chime.schema_version", "2");
	/* A newer schema than this binary knows is refused. */
	exec_ok(conn, "INSERT INTO chime.schema_version (version) VALUES (99)");
	assert_int_equal(chime_ledger_migrate(conn, NULL, 0), -EPROTO);
	exec_ok(conn, "DELETE FROM chime.schema_version WHERE version = 99");
	PQfinish(conn);
}

static void
test_claim_once(void **state)
{
	PGconn *conn = connect_or_skip();
	struct chime_ledger_slot s = slot_at("claim-once", 60);
	struct chime_ledger_row row;
	enum chime_run_status st;
	int64_t id, id2;

	(void)state;
	assert_int_equal(claim(conn, &s, 1, false, "a", &id, &st), 0);
	assert_int_equal(st, CHIME_RUN_CLAIMED);
	assert_int_equal(claim(conn, &s, 1, false, "b", &id2, &st), -EEXIST);
	assert_int_equal(chime_ledger_start(conn, id, NULL, 0), 0);
	assert_int_equal(chime_ledger_start(conn, id, NULL, 0), -ESTALE);
	assert_int_equal(
	        chime_ledger_finish(conn, id, CHIME_RUN_FAILED, "{\"counts\":{}}", "boom", NULL, 0),
	        0);
	/* Finished rows are not live any more. */
	assert_int_equal(chime_ledger_finish(conn, id, CHIME_RUN_SUCCEEDED, NULL, NULL, NULL, 0),
	                 -ESTALE);
	assert_int_equal(claim(conn, &s, 2, false, "b", &id2, &st), 0);
	assert_int_equal(
	        chime_ledger_slot_latest(conn, "claim-once", s.local_usec, 0, &row, NULL, 0), 0);
	assert_int_equal(row.id, id2);
	assert_int_equal(row.attempt, 2);
	assert_string_equal(row.node, "b");
	assert_int_equal(row.instant_usec, s.instant_usec);
	assert_scalar(conn,
	              "SELECT error || ' ' || status || ' ' || (previous_for AT TIME ZONE 'UTC')"
	              " FROM chime.runs WHERE job = 'claim-once' AND attempt = 1",
	              "boom failed 2026-01-01 00:00:00");
	/* A fall-back repeat of the same wall time is another slot. */
	s.occurrence = 1;
	s.instant_usec += 3600 * SEC;
	assert_int_equal(claim(conn, &s, 1, false, "a", &id, &st), 0);
	PQfinish(conn);
}

static void
test_overlap_and_cancel(void **state)
{
	PGconn *conn = connect_or_skip();
	struct chime_ledger_slot s1 = slot_at("overlap", 60), s2 = slot_at("overlap", 120),
	                         s3 = slot_at("overlap", 180);
	enum chime_run_status st;
	int64_t id1, id2, id3, cancel[4];
	size_t n = 9;
	bool busy;

	(void)state;
	assert_int_equal(claim(conn, &s1, 1, true, "a", &id1, &st), 0);
	assert_int_equal(st, CHIME_RUN_CLAIMED);
	assert_int_equal(chime_ledger_start(conn, id1, NULL, 0), 0);
	/* skip: the job is live on node a, so the next slot is recorded skipped. */
	assert_int_equal(claim(conn, &s2, 1, true, "b", &id2, &st), 0);
	assert_int_equal(st, CHIME_RUN_SKIPPED);
	assert_scalar(conn,
	              "SELECT status || ':' || (finished_at IS NOT NULL) FROM chime.runs"
	              " WHERE job = 'overlap' AND scheduled_for = '2026-01-01T00:02:00Z'",
	              "skipped:true");
	/* queue: the later claim waits while the earlier runs. */
	assert_int_equal(claim(conn, &s3, 1, false, "b", &id3, &st), 0);
	assert_int_equal(chime_ledger_job_busy(conn, "overlap", id3, &busy, NULL, 0), 0);
	assert_true(busy);
	assert_int_equal(chime_ledger_job_busy(conn, "overlap", id1, &busy, NULL, 0), 0);
	assert_false(busy);
	/* replace: a cancel request reaches the running node's heartbeat. */
	assert_int_equal(chime_ledger_request_cancel(conn, "overlap", id3, &n, NULL, 0), 0);
	assert_int_equal(n, 1);
	assert_int_equal(
	        chime_ledger_heartbeat(conn, (int64_t[]){id1, id3}, 2, cancel, &n, NULL, 0), 0);
	assert_int_equal(n, 1);
	assert_int_equal(cancel[0], id1);
	assert_int_equal(
	        chime_ledger_finish(conn, id1, CHIME_RUN_CANCELLED, NULL, "replaced", NULL, 0), 0);
	assert_int_equal(chime_ledger_job_busy(conn, "overlap", id3, &busy, NULL, 0), 0);
	assert_false(busy);
	PQfinish(conn);
}

static void
test_lost_recovery_one_winner(void **state)
{
	PGconn *conn = connect_or_skip();
	struct chime_ledger_slot s = slot_at("lost", 60), s2 = slot_at("lost-fail", 60);
	struct chime_ledger_lost *lost = NULL;
	int64_t id, id2, new_id = -1, other = -1;
	size_t n = 0;
	char sql[256];

	(void)state;
	assert_int_equal(claim(conn, &s, 1, false, "dead", &id, NULL), 0);
	assert_int_equal(chime_ledger_start(conn, id, NULL, 0), 0);
	assert_int_equal(claim(conn, &s2, 1, false, "dead", &id2, NULL), 0);
	/* Fresh: not lost. */
	assert_int_equal(chime_ledger_find_lost(conn, 10, &lost, &n, NULL, 0), 0);
	for (size_t i = 0; i < n; i++)
		assert_true(lost[i].id != id && lost[i].id != id2);
	free(lost);
	snprintf(sql, sizeof(sql),
	         "UPDATE chime.runs SET heartbeat_at = now() - interval '2 minutes'"
	         " WHERE id IN (%lld, %lld)",
	         (long long)id, (long long)id2);
	exec_ok(conn, sql);
	assert_int_equal(chime_ledger_find_lost(conn, 10, &lost, &n, NULL, 0), 0);
	assert_int_equal(n, 2);
	assert_string_equal(lost[0].node, "dead");
	assert_int_equal(lost[0].instant_usec, s.instant_usec);
	assert_int_equal(lost[0].previous_usec, s.previous_usec);
	for (size_t i = 0; i < n; i++) {
		if (lost[i].id == id) {
			/* Two nodes recover the same row: one wins. */
			assert_int_equal(chime_ledger_recover(conn, &lost[i], true, "b", LEASE,
			                                      &new_id, NULL, 0),
			                 0);
			assert_int_equal(chime_ledger_recover(conn, &lost[i], true, "c", LEASE,
			                                      &other, NULL, 0),
			                 -ESTALE);
			assert_true(new_id > 0);
			assert_int_equal(other, -1);
		} else {
			assert_int_equal(chime_ledger_recover(conn, &lost[i], false, "b", LEASE,
			                                      &other, NULL, 0),
			                 0);
			assert_int_equal(other, 0);
		}
	}
	free(lost);
	/* The dead node comes back and tries to record: refused. */
	assert_int_equal(chime_ledger_finish(conn, id, CHIME_RUN_SUCCEEDED, NULL, NULL, NULL, 0),
	                 -ESTALE);
	assert_scalar(conn,
	              "SELECT string_agg(attempt || ':' || status || ':' || node, ','"
	              " ORDER BY attempt) FROM chime.runs WHERE job = 'lost'",
	              "1:lost:dead,2:claimed:b");
	assert_scalar(
	        conn, "SELECT status || ': ' || error FROM chime.runs WHERE job = 'lost-fail'",
	        "failed: lost: node 'dead' stopped heartbeating, not re-run (not idempotent)");
	PQfinish(conn);
}

static void
test_last_slot_skip_prune_pause(void **state)
{
	PGconn *conn = connect_or_skip();
	struct chime_ledger_slot s;
	struct chime_ledger_claim c = {.attempt = 1, .node = "a", .manual = true, .start = true};
	struct chime_ledger_row row;
	int64_t id, n = -1, finished;
	bool paused = true;

	(void)state;
	assert_int_equal(chime_ledger_last_slot(conn, "hist", INT64_MAX, &row, NULL, 0), -ENOENT);
	for (int i = 1; i <= 3; i++) {
		s = slot_at("hist", i * 60);
		assert_int_equal(
		        chime_ledger_record_skipped(conn, &s, "a", "misfire", &id, NULL, 0), 0);
	}
	assert_int_equal(chime_ledger_record_skipped(conn, &s, "a", "misfire", &id, NULL, 0),
	                 -EEXIST);
	/* A manual run later than every scheduled one is not "the last slot". */
	s = slot_at("hist", 3600);
	c.slot = &s;
	assert_int_equal(chime_ledger_claim(conn, &c, &id, NULL, NULL, 0), 0);
	assert_scalar(conn,
	              "SELECT status || ':' || (started_at IS NOT NULL) FROM chime.runs"
	              " WHERE job = 'hist' AND manual",
	              "running:true");
	assert_int_equal(chime_ledger_finish(conn, id, CHIME_RUN_SUCCEEDED, NULL, NULL, NULL, 0),
	                 0);
	assert_int_equal(chime_ledger_last_slot(conn, "hist", INT64_MAX, &row, NULL, 0), 0);
	assert_int_equal(row.instant_usec, T0 + 180 * SEC);
	/* Bounded: the last slot at or before 00:02. */
	assert_int_equal(chime_ledger_last_slot(conn, "hist", T0 + 120 * SEC, &row, NULL, 0), 0);
	assert_int_equal(row.instant_usec, T0 + 120 * SEC);
	assert_int_equal(row.status, CHIME_RUN_SKIPPED);
	assert_int_equal(chime_ledger_last_success(conn, "hist", &finished, NULL, 0), 0);
	assert_true(finished > T0);
	/* Prune everything finished before the far future: the newest
	 * scheduled slot stays for catch-up. */
	assert_int_equal(chime_ledger_prune(conn, "hist", INT64_C(4102444800) * SEC, &n, NULL, 0),
	                 0);
	assert_int_equal(n, 2);
	assert_scalar(conn,
	              "SELECT string_agg(to_char(scheduled_for AT TIME ZONE 'UTC', 'HH24:MI'), ','"
	              " ORDER BY scheduled_for) FROM chime.runs WHERE job = 'hist'",
	              "00:03,01:00");

	assert_int_equal(chime_ledger_is_paused(conn, "hist", &paused, NULL, 0), 0);
	assert_false(paused);
	{
		struct chime_ledger_pause pz;

		assert_int_equal(chime_ledger_pause(conn, "hist", "a", "alice", "deploy freeze",
		                                    &pz, NULL, 0),
		                 0);
		assert_true(pz.created);
		/* Paused again: the first pause, who and why, stands. */
		assert_int_equal(chime_ledger_pause(conn, "hist", "b", "bob", NULL, &pz, NULL, 0),
		                 0);
		assert_false(pz.created);
		assert_string_equal(pz.by, "alice");
		assert_string_equal(pz.note, "deploy freeze");
		assert_scalar(
		        conn,
		        "SELECT count(*) || ' ' || paused_by || ' ' || note FROM chime.pause_log"
		        " WHERE job = 'hist' AND resumed_at IS NULL GROUP BY paused_by, note",
		        "1 alice deploy freeze");
	}
	assert_int_equal(chime_ledger_is_paused(conn, "hist", &paused, NULL, 0), 0);
	assert_true(paused);
	/* A paused job's scheduled claim becomes a skipped row; a manual
	 * one (chimectl run) does not look. */
	{
		struct chime_ledger_slot ps = slot_at("hist", 7200);
		struct chime_ledger_claim pc = {
		        .slot = &ps, .attempt = 1, .node = "a", .honor_pause = true};
		enum chime_run_status st;

		assert_int_equal(chime_ledger_claim(conn, &pc, &id, &st, NULL, 0), 0);
		assert_int_equal(st, CHIME_RUN_SKIPPED);
		assert_scalar(conn,
		              "SELECT error FROM chime.runs WHERE job = 'hist'"
		              " AND scheduled_for = '2026-01-01T02:00:00Z'",
		              "paused");
		ps = slot_at("hist", 7260);
		pc.honor_pause = false;
		assert_int_equal(chime_ledger_claim(conn, &pc, &id, &st, NULL, 0), 0);
		assert_int_equal(st, CHIME_RUN_CLAIMED);
	}
	assert_int_equal(chime_ledger_resume(conn, "hist", NULL, 0), 0);
	assert_int_equal(chime_ledger_is_paused(conn, "hist", &paused, NULL, 0), 0);
	assert_false(paused);
	PQfinish(conn);
}

static void
test_pool_health(void **state)
{
	struct chime_database_config bad = {.conninfo = (char[]){"host=127.0.0.1 port=1 "
	                                                         "connect_timeout=2"}};
	struct chime_database_config good = {.conninfo = conninfo};
	struct chime_db_pool *pool = NULL;
	struct chime_db_conn *c = NULL;
	struct chime_db_health h;
	char err[256], text[512];

	(void)state;
	if (conninfo == NULL)
		skip();
	/* password_file: read at connect time; a missing one is named. */
	{
		char path[] = "/tmp/chime-test-pw-XXXXXX";
		struct chime_database_config pw = {.conninfo = conninfo, .password_file = path};
		PGconn *conn = NULL;
		int fd = mkstemp(path);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, "s3cret\nignored\n", 15), 15);
		close(fd);
		assert_int_equal(chime_db_connect(&pw, &conn, err, sizeof(err)), 0);
		PQfinish(conn);
		unlink(path);
		assert_int_equal(chime_db_connect(&pw, &conn, err, sizeof(err)), -ENOENT);
		assert_non_null(strstr(err, "cannot read password_file"));
		assert_null(strstr(err, "s3cret"));
	}
	assert_int_equal(chime_db_pool_new(&bad, 2, &pool), 0);
	chime_db_pool_health(pool, &h);
	assert_int_equal(h.state, CHIME_DB_UNKNOWN);
	assert_int_equal(chime_db_pool_take(pool, 0, &c, err, sizeof(err)), -ENOTCONN);
	chime_db_pool_health(pool, &h);
	assert_int_equal(h.state, CHIME_DB_DOWN);
	assert_non_null(strstr(h.reason, "127.0.0.1"));
	/* Within the backoff: refused at once without trying. */
	assert_int_equal(chime_db_pool_take(pool, 0, &c, err, sizeof(err)), -ENOTCONN);
	chime_db_health_format(&h, text, sizeof(text));
	assert_true(strncmp(text, "down (since ", 12) == 0);
	pool = chime_db_pool_free(pool);

	assert_int_equal(chime_db_pool_new(&good, 1, &pool), 0);
	assert_int_equal(chime_db_pool_take(pool, 0, &c, err, sizeof(err)), 0);
	chime_db_pool_health(pool, &h);
	assert_int_equal(h.state, CHIME_DB_UP);
	/* The only connection is taken: a second taker times out. */
	{
		struct chime_db_conn *c2 = NULL;

		assert_int_equal(chime_db_pool_take(pool, 50000, &c2, err, sizeof(err)), -ETIME);
	}
	exec_ok(c->pg, "BEGIN");
	chime_db_pool_give(c, false, NULL);
	/* Given back inside a transaction: rolled back, reused. */
	assert_int_equal(chime_db_pool_take(pool, 0, &c, err, sizeof(err)), 0);
	assert_int_equal(PQtransactionStatus(c->pg), PQTRANS_IDLE);
	/* Rounded up to whole milliseconds. (Long enough that the SHOW
	 * below cannot itself time out on a loaded machine.) */
	assert_int_equal(chime_db_set_statement_timeout(c->pg, 5000500, err, sizeof(err)), 0);
	assert_scalar(c->pg, "SHOW statement_timeout", "5001ms");
	assert_scalar(c->pg, "SELECT current_setting('application_name')", "chimed");
	chime_db_pool_give(c, true, "test says broken");
	chime_db_pool_health(pool, &h);
	assert_int_equal(h.state, CHIME_DB_DOWN);
	assert_string_equal(h.reason, "test says broken");
	/* A broken connection does not back off: the next take connects. */
	assert_int_equal(chime_db_pool_take(pool, 0, &c, err, sizeof(err)), 0);
	chime_db_pool_health(pool, &h);
	assert_int_equal(h.state, CHIME_DB_UP);
	chime_db_pool_give(c, false, NULL);
	pool = chime_db_pool_free(pool);
}

static int health_calls;

static void
count_health(const struct chime_db_health *health, void *userdata)
{
	(void)health;
	(void)userdata;
	health_calls++;
}

/* Two pools sharing one health: one outage, one reason, one backoff. */
static void
test_pool_shared_health(void **state)
{
	struct chime_database_config bad = {.conninfo = (char[]){"host=127.0.0.1 port=1 "
	                                                         "connect_timeout=2"}};
	struct chime_database_config good = {.conninfo = conninfo};
	struct chime_db_pool *lpool = NULL, *rpool = NULL;
	struct chime_db_conn *c = NULL;
	struct chime_db_health h;
	char err[256];

	(void)state;
	assert_int_equal(chime_db_pool_new(&good, 1, &lpool), 0);
	/* The "run pool" reaches a dead address, so its connects fail
	 * while the other pool's server is fine. */
	assert_int_equal(chime_db_pool_new(&bad, 1, &rpool), 0);
	chime_db_pool_share_health(rpool, lpool);
	chime_db_pool_set_health_cb(lpool, count_health, NULL);
	assert_int_equal(chime_db_pool_take(lpool, 0, &c, err, sizeof(err)), 0);
	assert_int_equal(health_calls, 1); /* UP */
	chime_db_pool_give(c, true, "first reason");
	assert_int_equal(health_calls, 2); /* DOWN */
	/* A failed connect through the other pool refreshes the one reason
	 * (and says so), and starts the one backoff. */
	assert_int_equal(chime_db_pool_take(rpool, 0, &c, err, sizeof(err)), -ENOTCONN);
	assert_int_equal(health_calls, 3);
	chime_db_pool_health(lpool, &h);
	assert_int_equal(h.state, CHIME_DB_DOWN);
	assert_non_null(strstr(h.reason, "127.0.0.1"));
	assert_int_equal(chime_db_pool_take(lpool, 0, &c, err, sizeof(err)), -ENOTCONN);
	assert_non_null(strstr(err, "127.0.0.1"));
	/* The backoff is short (CHIME_DB_BACKOFF_MIN_USEC): once it passed,
	 * the next take connects and resets it. */
	chime_db_pool_wait(lpool, CHIME_DB_BACKOFF_MAX_USEC);
	assert_int_equal(chime_db_pool_take(lpool, 0, &c, err, sizeof(err)), 0);
	chime_db_pool_health(rpool, &h);
	assert_int_equal(h.state, CHIME_DB_UP);
	assert_int_equal(health_calls, 4);
	chime_db_pool_give(c, false, NULL);
	rpool = chime_db_pool_free(rpool);
	lpool = chime_db_pool_free(lpool);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_migrate_concurrent_and_idempotent),
	        cmocka_unit_test(test_claim_once),
	        cmocka_unit_test(test_overlap_and_cancel),
	        cmocka_unit_test(test_lost_recovery_one_winner),
	        cmocka_unit_test(test_last_slot_skip_prune_pause),
	        cmocka_unit_test(test_pool_health),
	        cmocka_unit_test(test_pool_shared_health),
	};

	conninfo = getenv("CHIME_LEDGER_TEST_CONNINFO");
	if (conninfo == NULL) {
		/* 77: ctest's SKIP_RETURN_CODE, so a run without a database
		 * shows as skipped, not as passed. */
		printf("1..0 # SKIP CHIME_LEDGER_TEST_CONNINFO is not set "
		       "(tests/integration/pg-ledger-db.sh sets it)\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
