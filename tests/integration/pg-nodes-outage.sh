#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# PostgreSQL stopped for 20 s under a running chimed, then started again:
# chimed never exits, logs the outage and the return, and afterwards the
# slots missed meanwhile are handled per each job's misfire policy:
#   run-all   every missed slot runs (no gap in the table at all)
#   run-once  at most one of them runs, the others are recorded skipped
#   skip      none runs, they are recorded skipped
# The outage needs a cluster of its own (the shared one serves other tests).
set -euo pipefail
. "$CHIME_SOURCE_DIR/tests/harness/testlib.sh"

tmp=$(mktemp -d)
chmod 755 "$tmp" # the cluster runs as postgres when we are root
pgdir="$tmp/pg"
"$CHIME_SOURCE_DIR/tests/harness/pgcluster.sh" start "$pgdir" >/dev/null
. "$pgdir/env"
chimed_pid=
cleanup() {
	[ -n "$chimed_pid" ] && kill -KILL "$chimed_pid" 2>/dev/null || true
	"$CHIME_SOURCE_DIR/tests/harness/pgcluster.sh" stop "$pgdir" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "not ok - $*" >&2; grep -v "finished in\|started$" "$tmp/chimed.log" | tail -40 >&2; exit 1; }
q() { psql -X -A -t -v ON_ERROR_STOP=1 -d outage -c "$1"; }
# caught_up: run-all has no gap, and every job ran at least two slots
# after the database came back ($back).
caught_up() {
	[ "$(q "SELECT count(*) FROM generate_series((SELECT min(slot) FROM ticks WHERE job = 'all'),
		(SELECT max(slot) FROM ticks WHERE job = 'all'), interval '1 second') s
		WHERE NOT EXISTS (SELECT 1 FROM ticks WHERE job = 'all' AND slot = s)")" = 0 ] &&
		[ "$(q "SELECT min(n) FROM (SELECT count(*) AS n FROM ticks WHERE slot > to_timestamp($back + 1)
			GROUP BY job) c HAVING count(*) = 3")" -ge 2 ] 2>/dev/null
}

createdb outage
q "CREATE TABLE ticks (job text, slot timestamptz, PRIMARY KEY (job, slot))" >/dev/null
job() {
	cat <<EOF
  $1:
    schedule: "* * * * * *"
    plugin: sql
    misfire: $2
    options:
      statement: "INSERT INTO ticks VALUES ('$1', \$1) ON CONFLICT DO NOTHING"
EOF
}
{
	cat <<EOF
timezone: UTC
node: outage-node
database:
  conninfo: "host=$PGHOST port=$PGPORT user=postgres dbname=outage connect_timeout=2"
defaults:
  lease: 3s
  on_lost: rerun
  catchup_window: 1h
  max_catchup: 1000
jobs:
EOF
	job all run-all
	job once run-once
	job skip skip
} >"$tmp/chime.yaml"

"$CHIMED" --config "$tmp/chime.yaml" >"$tmp/chimed.log" 2>&1 &
chimed_pid=$!
wait_eq 15 t q "SELECT count(DISTINCT job) = 3 FROM ticks" || fail "the jobs never ran before the outage"
halt=$(date +%s)
"$CHIME_SOURCE_DIR/tests/harness/pgcluster.sh" halt "$pgdir"
echo "# PostgreSQL halted at $halt"
sleep 20 # the outage itself: time must pass
kill -0 "$chimed_pid" || fail "chimed exited during the outage"
grep -q "database unavailable" "$tmp/chimed.log" || fail "the outage is not reported"
echo "ok - chimed up through 20 s without its database, outage reported"
"$CHIME_SOURCE_DIR/tests/harness/pgcluster.sh" resume "$pgdir"
wait_log 70 "$tmp/chimed.log" "database is back" || fail "no 'database is back' in the log after 70 s"
back=$(date +%s)
echo "ok - reconnected $((back - halt - 20)) s after PostgreSQL returned (backoff)"
wait_until 30 caught_up || true # the checks below say what is missing
kill -TERM "$chimed_pid"
wait "$chimed_pid" || fail "chimed exited with an error"
chimed_pid=

# run-all: every slot from the first to the last, the outage's included.
missing=$(q "SELECT count(*) FROM generate_series((SELECT min(slot) FROM ticks WHERE job = 'all'),
	(SELECT max(slot) FROM ticks WHERE job = 'all'), interval '1 second') s
	WHERE NOT EXISTS (SELECT 1 FROM ticks WHERE job = 'all' AND slot = s)")
[ "$missing" = 0 ] || fail "run-all: $missing slots missing"
during=$(q "SELECT count(*) FROM ticks WHERE job = 'all' AND slot BETWEEN to_timestamp($halt + 2) AND to_timestamp($back - 3)")
# The window is the 20 s outage less its edges: chimed reconnects within
# a second of the server's return, so back - halt is about 21 s.
[ "$during" -ge 15 ] || fail "run-all: only $during outage slots ran"
echo "ok - run-all: the $during outage slots ran, no gap"

window="slot BETWEEN to_timestamp($halt + 2) AND to_timestamp($back - 3)"
n=$(q "SELECT count(*) FROM ticks WHERE job = 'once' AND $window")
[ "$n" -le 1 ] || fail "run-once: $n outage slots ran"
s=$(q "SELECT count(*) FROM chime.runs WHERE job = 'once' AND status = 'skipped' AND error LIKE 'misfire%'")
[ "$s" -ge 15 ] || fail "run-once: only $s slots recorded skipped"
[ "$(q "SELECT count(*) FROM ticks WHERE job = 'once' AND slot > to_timestamp($back + 1)")" -ge 2 ] ||
	fail "run-once: the schedule did not resume"
echo "ok - run-once: $n outage slot ran, $s recorded skipped, schedule resumed"

n=$(q "SELECT count(*) FROM ticks WHERE job = 'skip' AND $window")
[ "$n" = 0 ] || fail "skip: $n outage slots ran"
s=$(q "SELECT count(*) FROM chime.runs WHERE job = 'skip' AND status = 'skipped' AND error LIKE 'misfire%'")
[ "$s" -ge 15 ] || fail "skip: only $s slots recorded skipped"
[ "$(q "SELECT count(*) FROM ticks WHERE job = 'skip' AND slot > to_timestamp($back + 1)")" -ge 2 ] ||
	fail "skip: the schedule did not resume"
echo "ok - skip: no outage slot ran, $s recorded skipped, schedule resumed"
dups=$(q "SELECT count(*) FROM (SELECT job, slot_local FROM chime.runs WHERE status = 'succeeded' GROUP BY 1, 2 HAVING count(*) > 1) d")
[ "$dups" = 0 ] || fail "$dups slots succeeded twice"
echo "ok - no slot succeeded twice"
