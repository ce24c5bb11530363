#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# PostgreSQL crashed under 20 runs in flight, twice: once restarted at
# once (pg_ctl stop -m immediate, then start), once kept down for 30 s.
# Twenty sql jobs, one slot every 5 s each, write a side-effect table from
# a statement that takes 2 s. For every slot of the window:
#   - exactly one final outcome in chime.runs (its last attempt), none left
#     claimed or running, at most one attempt succeeded;
#   - the side effect present exactly once when it succeeded, absent when
#     it did not;
#   - no run recorded as failed for want of a connection;
# and every slot due after the crash (a claim in the blind window, a slot
# missed during the outage) succeeded. It prints how long after the server
# accepted connections again chimed was back (goal: at most 1 s).
# The crashes need a cluster of their own (the shared one serves others).
set -euo pipefail
. "$CHIME_SOURCE_DIR/tests/harness/testlib.sh"

tmp=$(mktemp -d)
chmod 755 "$tmp" # the cluster runs as postgres when we are root
pgdir="$tmp/pg"
cluster() { "$CHIME_SOURCE_DIR/tests/harness/pgcluster.sh" "$@"; }
cluster start "$pgdir" >/dev/null
. "$pgdir/env"
chimed_pid=
cleanup() {
	# CHIME_TEST_KEEP_LOG=FILE keeps chimed's log for a look after the run.
	[ -n "${CHIME_TEST_KEEP_LOG:-}" ] && cp "$tmp/chimed.log" "$CHIME_TEST_KEEP_LOG" && cp "$pgdir/postgres.log" "$CHIME_TEST_KEEP_LOG.pg"
	[ -n "$chimed_pid" ] && kill -KILL "$chimed_pid" 2>/dev/null || true
	cluster stop "$pgdir" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "not ok - $*" >&2; grep -v "finished in\|started$" "$tmp/chimed.log" | tail -40 >&2; exit 1; }
q() { psql -X -A -t -v ON_ERROR_STOP=1 -d crash -c "$1"; }
in_flight() { q "SELECT count(*) FROM pg_stat_activity WHERE datname = 'crash'
	AND state = 'active' AND query LIKE 'INSERT INTO effects%'"; }
backs() { grep -c "notice: database is back" "$tmp/chimed.log" || true; }

createdb crash
# The shared clusters run with synchronous_commit off (speed); a crash
# would then lose commits the clients were told about, ours included.
q "ALTER DATABASE crash SET synchronous_commit = on" >/dev/null
q "CREATE TABLE effects (job text, slot timestamptz)" >/dev/null
{
	cat <<EOF
timezone: UTC
node: crash-node
database:
  conninfo: "host=$PGHOST port=$PGPORT user=postgres dbname=crash connect_timeout=2"
  pool: 24
defaults:
  catchup_window: 1h
  max_catchup: 1000
  timeout: 60s
  retry:
    attempts: 3
    backoff: 1s
jobs:
EOF
	for i in $(seq -w 1 20); do
		cat <<EOF
  j$i:
    schedule: "*/5 * * * * *"
    plugin: sql
    misfire: run-all
    options:
      statement: "INSERT INTO effects SELECT 'j$i', \$1 FROM pg_sleep(2)"
EOF
	done
} >"$tmp/chime.yaml"

"$CHIMED" --config "$tmp/chime.yaml" >"$tmp/chimed.log" 2>&1 &
chimed_pid=$!
start=$(date +%s)

# ready_ms N: the server log's Nth "ready to accept connections", in
# epoch milliseconds (the log's own clock: the moment it really was).
ready_ms() {
	local line
	line=$(grep "ready to accept connections" "$pgdir/postgres.log" | sed -n "${1}p")
	date -d "$(echo "$line" | cut -d' ' -f1-3)" +%s%3N
}
readies() { grep -c "ready to accept connections" "$pgdir/postgres.log" || true; }

# crash DOWN_SECONDS: crash the server with the 20 runs in flight, keep it
# down DOWN_SECONDS, start it, and set $ms to the milliseconds from its
# accepting connections again to chimed's "database is back".
crash() {
	local before ready back_line back
	wait_eq 30 20 in_flight || fail "the 20 runs were never in flight together"
	before=$(backs)
	ready=$(($(readies) + 1))
	cluster crash "$pgdir"
	[ "$1" -gt 0 ] && sleep "$1" # the outage itself: time must pass
	cluster resume "$pgdir" || fail "PostgreSQL did not start again"
	came_back() { [ "$(backs)" -gt "$before" ]; }
	wait_until 20 came_back || fail "chimed did not come back within 20 s"
	back_line=$(grep "notice: database is back" "$tmp/chimed.log" | sed -n "$((before + 1))p")
	back=$(date -d "${back_line%% *}" +%s%3N)
	ms=$((back - $(ready_ms "$ready")))
}

# Every connection of the pools open (the first slots open them).
warm() { [ "$(q "SELECT count(*) FROM effects")" -ge 40 ]; }
wait_until 30 warm || fail "the jobs do not run"
crash1=$(date +%s)
crash 0
ms1=$ms
echo "# restart -m immediate: chimed back $ms1 ms after the server accepted connections"
crash 30
ms2=$ms
echo "# down 30 s: chimed back $ms2 ms after the server accepted connections"
back2=$(date +%s)
# Ten more seconds of slots after the return: the catch-up of the outage
# and two live slots of every job.
done_after() {
	[ "$(q "SELECT count(*) FROM chime.runs WHERE scheduled_for > to_timestamp($back2 + 10)
		AND status = 'succeeded'")" -ge 20 ] &&
		[ "$(q "SELECT count(*) FROM chime.runs WHERE status IN ('claimed', 'running')
			AND scheduled_for <= to_timestamp($back2 + 10)")" = 0 ]
}
wait_until 90 done_after || true # the checks below say what is missing
kill -TERM "$chimed_pid"
wait "$chimed_pid" || fail "chimed exited with an error"
chimed_pid=

# The window: the first slot after the start to the last slot before
# back2 + 10, every 5 s, for every job.
first=$(((start / 5 + 2) * 5))
last=$((((back2 + 10) / 5) * 5))
slots="SELECT j.job, s.slot FROM (SELECT DISTINCT job FROM effects) j(job),
	generate_series(to_timestamp($first), to_timestamp($last), interval '5 seconds') s(slot)"
final="SELECT DISTINCT ON (job, scheduled_for) job, scheduled_for AS slot, status, error
	FROM chime.runs ORDER BY job, scheduled_for, attempt DESC"
[ "$(q "SELECT count(DISTINCT job) FROM effects")" = 20 ] || fail "not every job ran"
n=$(q "SELECT count(*) FROM ($slots) w")
echo "# window: $n slots of 20 jobs from $(date -ud @$first +%T) to $(date -ud @$last +%T)"

missing=$(q "SELECT count(*) FROM ($slots) w WHERE NOT EXISTS
	(SELECT 1 FROM chime.runs r WHERE r.job = w.job AND r.scheduled_for = w.slot)")
[ "$missing" = 0 ] || fail "$missing slots have no outcome"
open=$(q "SELECT count(*) FROM ($slots) w JOIN ($final) f USING (job, slot)
	WHERE f.status IN ('claimed', 'running')")
[ "$open" = 0 ] || fail "$open slots left claimed or running"
twice=$(q "SELECT count(*) FROM (SELECT job, scheduled_for FROM chime.runs
	WHERE status = 'succeeded' GROUP BY 1, 2 HAVING count(*) > 1) d")
[ "$twice" = 0 ] || fail "$twice slots succeeded twice"
echo "ok - every one of the $n slots has one final outcome, none left running, none succeeded twice"

disagree="SELECT w.job, w.slot, f.status, f.error,
	(SELECT count(*) FROM effects e WHERE e.job = w.job AND e.slot = w.slot) AS effects
	FROM ($slots) w JOIN ($final) f USING (job, slot)
	WHERE (SELECT count(*) FROM effects e WHERE e.job = w.job AND e.slot = w.slot)
	<> CASE WHEN EXISTS (SELECT 1 FROM chime.runs r WHERE r.job = w.job
		AND r.scheduled_for = w.slot AND r.status = 'succeeded') THEN 1 ELSE 0 END"
wrong=$(q "SELECT count(*) FROM ($disagree) d")
if [ "$wrong" != 0 ]; then
	q "$disagree" | sed 's/^/# /' >&2
	fail "$wrong slots disagree with the side-effect table"
fi
echo "ok - the side effect is there exactly once for every succeeded slot, absent for the others"

want=$(q "SELECT count(*) FROM chime.runs WHERE error LIKE '%no database connection%'
	OR error LIKE '%not started%'")
[ "$want" = 0 ] || fail "$want runs recorded as failed for want of a connection"
q "SELECT f.status, left(f.error, 100), count(*) FROM ($slots) w JOIN ($final) f USING (job, slot)
	WHERE f.status <> 'succeeded' GROUP BY 1, 2" | sed 's/^/# /'
# Not succeeded, and for a reason other than a statement the crash cut
# (its retry abandoned when the next slot came) or the overlap policy
# (the next slot due while the retry ran): a burned run.
lost=$(q "SELECT count(*) FROM ($slots) w JOIN ($final) f USING (job, slot)
	WHERE w.slot > to_timestamp($crash1 + 1) AND f.status <> 'succeeded'
	AND NOT (f.status = 'failed' AND f.error LIKE '%server closed the connection%')
	AND NOT (f.status = 'skipped' AND f.error LIKE 'overlap%')")
failed=$(q "SELECT count(*) FROM ($slots) w JOIN ($final) f USING (job, slot) WHERE f.status <> 'succeeded'")
echo "# $failed slots did not succeed: statements a crash cut, or skipped by overlap behind their retry"
[ "$lost" = 0 ] || fail "$lost slots due after the first crash did not succeed for another reason"
echo "ok - no run failed for want of a connection; every other slot due after the crash succeeded"
[ "$ms1" -le 1000 ] && [ "$ms2" -le 1000 ] ||
	fail "reconnect took $ms1 ms / $ms2 ms after the server accepted connections (goal: 1000 ms)"
echo "ok - reconnected $ms1 ms (restart) and $ms2 ms (30 s down) after the server accepted connections"
