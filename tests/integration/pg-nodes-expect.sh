#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Retries and the expect alarm through chimed and the ledger:
# - a failing job with retry { attempts: 3, backoff: 300ms } writes each
#   attempt of a slot as its own row (1, 2, 3, all failed), the backoff
#   doubling, and never retries past the job's next slot;
# - the same job with expect: 3s logs "expect: no successful run" while a
#   healthy job with the same expect never does;
# - the run's timeout cancels a long statement (statement_timeout and
#   PQcancel), recorded timed_out.
set -euo pipefail
. "$CHIME_PG_ENV"
. "$CHIME_SOURCE_DIR/tests/harness/testlib.sh"

db=t_nodes_expect_$$
tmp=$(mktemp -d)
createdb "$db"
chimed_pid=
cleanup() {
	[ -n "$chimed_pid" ] && kill -KILL "$chimed_pid" 2>/dev/null || true
	dropdb --if-exists "$db" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "not ok - $*" >&2; tail -20 "$tmp/chimed.log" >&2; exit 1; }
q() { psql -X -A -t -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }

cat >"$tmp/chime.yaml" <<EOF
timezone: UTC
node: expect-node
database:
  conninfo: "dbname=$db"
jobs:
  broken:
    schedule: "*/5 * * * * *"
    plugin: sql
    retry: { attempts: 3, backoff: 300ms, max_backoff: 10s }
    expect: 3s
    options: { statement: "SELECT 1/0" }
  healthy:
    schedule: "* * * * * *"
    plugin: sql
    expect: 3s
    options: { statement: "SELECT 1" }
  sleepy:
    schedule: "*/5 * * * * *"
    plugin: sql
    timeout: 1s
    retry: { attempts: 1 }
    options: { statement: "SELECT pg_sleep(60)" }
EOF
"$CHIMED" --config "$tmp/chime.yaml" >"$tmp/chimed.log" 2>&1 &
chimed_pid=$!
# Until a slot of 'broken' has its three attempts, its expect alarm is
# logged and 'sleepy' timed out; by then 'healthy' has had as long as
# 'broken' (over its 3 s expect) to raise an alarm it must not raise.
three_attempts() {
	[ -n "$(q "SELECT slot_local FROM chime.runs WHERE job = 'broken' AND finished_at IS NOT NULL
		GROUP BY slot_local HAVING count(*) = 3")" ]
}
wait_until 30 three_attempts || fail "no slot of 'broken' reached three attempts in 30 s"
wait_log 30 "$tmp/chimed.log" "job 'broken' \(sql\): expect: no successful run" ||
	fail "no expect alarm for the failing job in 30 s"
wait_eq 30 t q "SELECT count(*) > 0 FROM chime.runs WHERE job = 'sleepy' AND status = 'timed_out'" ||
	fail "the long statement was not timed out in 30 s"
kill -TERM "$chimed_pid"
wait "$chimed_pid" || fail "chimed exited with an error"
chimed_pid=

slot=$(q "SELECT slot_local FROM chime.runs WHERE job = 'broken' GROUP BY slot_local HAVING count(*) = 3 ORDER BY 1 LIMIT 1")
[ -n "$slot" ] || fail "no slot of 'broken' with three attempts: $(q "SELECT string_agg(slot_local || '#' || attempt || ':' || status, ', ') FROM chime.runs WHERE job = 'broken'")"
[ "$(q "SELECT string_agg(attempt || ':' || status, ',' ORDER BY attempt) FROM chime.runs WHERE job = 'broken' AND slot_local = '$slot'")" = \
	"1:failed,2:failed,3:failed" ] || fail "attempts of $slot"
gaps=$(q "SELECT string_agg(round(extract(epoch FROM b.started_at - a.finished_at) * 1000)::text, ',' ORDER BY a.attempt)
	FROM chime.runs a JOIN chime.runs b ON b.job = a.job AND b.slot_local = a.slot_local AND b.attempt = a.attempt + 1
	WHERE a.job = 'broken' AND a.slot_local = '$slot'")
set -- ${gaps//,/ }
[ "$1" -ge 250 ] && [ "$1" -le 1000 ] && [ "$2" -ge 550 ] && [ "$2" -le 1500 ] ||
	fail "backoff between attempts: $gaps ms, want about 300 then 600"
echo "ok - a failing slot is retried as attempts 2 and 3 (gaps $gaps ms), each its own ledger row"
[ "$(q "SELECT max(attempt) FROM chime.runs WHERE job = 'broken'")" = 3 ] || fail "more than 3 attempts"
echo "ok - attempts stop at retry.attempts"

grep -q "job 'broken' (sql): expect: no successful run in the last 3s" "$tmp/chimed.log" ||
	fail "no expect alarm for the failing job"
grep -q "job 'healthy' (sql): expect:" "$tmp/chimed.log" && fail "expect alarm for a healthy job"
echo "ok - expect: alarm for the job without success, none for the healthy one"

[ "$(q "SELECT count(*) FROM chime.runs WHERE job = 'sleepy' AND status = 'timed_out'")" -ge 1 ] ||
	fail "the long statement was not timed out: $(q "SELECT string_agg(status || ' ' || coalesce(error, ''), '; ') FROM chime.runs WHERE job = 'sleepy'")"
d=$(q "SELECT round(extract(epoch FROM finished_at - started_at) * 1000) FROM chime.runs WHERE job = 'sleepy' AND status = 'timed_out' LIMIT 1")
[ "$d" -lt 2000 ] || fail "timeout took $d ms for a 1 s limit"
echo "ok - pg_sleep(60) timed out after $d ms (limit 1 s), recorded timed_out"
