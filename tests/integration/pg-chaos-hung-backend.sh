#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The backend of a running sql job stopped (SIGSTOP: what a hung server
# process or a black-holed network looks like from chimed: the statement
# never answers, the socket stays up, statement_timeout and PQcancel reach
# nobody). After the job's timeout plus CHIME_RUNNER_TIMEOUT_GRACE (5 s)
# chimed shuts the run's socket down and terminates the backend through a
# ledger connection: the stuck run is recorded timed_out, the job's next
# slot runs on time, and when the backend wakes its statement rolls back
# (no side effect). Figures: when the stuck run was recorded, and how late
# the next slot started.
set -euo pipefail
. "$CHIME_PG_ENV"
. "$CHIME_SOURCE_DIR/tests/harness/pgtest.sh" hung
stopped=
cleanup_hung() {
	[ -n "$stopped" ] && kill -CONT "$stopped" 2>/dev/null || true
	cleanup
}
trap cleanup_hung EXIT

q "CREATE TABLE effects (job text, slot timestamptz)" >/dev/null
cat >"$tmp/chime.yaml" <<EOF
timezone: UTC
node: hung-node
database:
  conninfo: "dbname=$db"
jobs:
  hang:
    schedule: "*/15 * * * * *"
    plugin: sql
    timeout: 4s
    options:
      statement: "INSERT INTO effects SELECT 'hang', \$1 FROM pg_sleep(2.5)"
EOF
"$CHIMED" --config "$tmp/chime.yaml" >"$tmp/chimed.log" 2>&1 &
chimed_pid=$!

wait_eq 35 t q "SELECT count(*) > 0 FROM effects" || fail "the job never ran"
backend() { q "SELECT pid FROM pg_stat_activity WHERE datname = '$db' AND state = 'active'
	AND query LIKE 'INSERT INTO effects%'"; }
in_flight() { [ -n "$(backend)" ]; }
wait_until 20 in_flight || fail "the next run was never in flight"
pid=$(backend)
kill -STOP "$pid"
stopped=$pid
slot=$(q "SELECT extract(epoch FROM scheduled_for)::bigint FROM chime.runs
	WHERE job = 'hang' AND status = 'running'")
[ -n "$slot" ] || fail "no running row for the stopped backend's run"
echo "# backend $pid of the run of $(date -ud "@$slot" +%T) stopped"

next_done() {
	[ "$(q "SELECT count(*) FROM chime.runs WHERE job = 'hang'
		AND scheduled_for = to_timestamp($slot + 15) AND status = 'succeeded'")" = 1 ]
}
wait_until 25 next_done || fail "the next slot did not succeed"
status=$(q "SELECT status FROM chime.runs WHERE job = 'hang' AND scheduled_for = to_timestamp($slot)")
[ "$status" = timed_out ] || fail "the stuck run is recorded '$status', not timed_out"
recorded=$(q "SELECT round(extract(epoch FROM finished_at - scheduled_for)::numeric, 1)
	FROM chime.runs WHERE job = 'hang' AND scheduled_for = to_timestamp($slot)")
late=$(q "SELECT round(extract(epoch FROM started_at - scheduled_for)::numeric, 2)
	FROM chime.runs WHERE job = 'hang' AND scheduled_for = to_timestamp($slot + 15)")
echo "# the stuck run recorded timed_out $recorded s after its slot (timeout 4 s + grace 5 s)"
echo "# the next slot started $late s after it was due"
on_time() { [ "$(q "SELECT started_at - scheduled_for < interval '1 second' FROM chime.runs
	WHERE job = 'hang' AND scheduled_for = to_timestamp($slot + 15)")" = t ]; }
on_time || fail "the next slot started $late s late"
skipped=$(q "SELECT count(*) FROM chime.runs WHERE job = 'hang' AND status = 'skipped'")
[ "$skipped" = 0 ] || fail "$skipped slots skipped behind the stuck run"
grep -q "connection cut, terminating backend $pid" "$tmp/chimed.log" || fail "the abort is not logged"
echo "ok - stuck run recorded timed_out, the next slot ran on time"

kill -CONT "$pid"
stopped=
gone() { ! kill -0 "$pid" 2>/dev/null; }
wait_until 10 gone || fail "backend $pid still alive after SIGCONT (pg_terminate_backend did not reach it)"
n=$(q "SELECT count(*) FROM effects WHERE slot = to_timestamp($slot)")
[ "$n" = 0 ] || fail "the stuck run's statement committed after all ($n rows)"
echo "ok - woken, the stopped backend exits (terminated) and its statement left no side effect"
kill -0 "$chimed_pid" || fail "chimed died"
