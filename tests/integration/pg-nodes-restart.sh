#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# chimed stopped for a while and started again: catch-up from the ledger,
# not from memory. A run-all job gets every slot of the downtime run (no
# gap), a run-once job at most its newest one (the rest recorded skipped).
# (Catch-up across a DST night is covered by the planner's unit test with
# real expressions and by pg-run-sql.sh's fall-back slots.)
set -euo pipefail
. "$CHIME_PG_ENV"
. "$CHIME_SOURCE_DIR/tests/harness/testlib.sh"

db=t_nodes_restart_$$
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

q "CREATE TABLE ticks (job text, slot timestamptz, PRIMARY KEY (job, slot))" >/dev/null
cat >"$tmp/chime.yaml" <<EOF
timezone: UTC
node: restart-node
database:
  conninfo: "dbname=$db"
defaults:
  catchup_window: 1h
jobs:
  all:
    schedule: "* * * * * *"
    plugin: sql
    misfire: run-all
    options:
      statement: "INSERT INTO ticks VALUES ('all', \$1)"
  once:
    schedule: "* * * * * *"
    plugin: sql
    misfire: run-once
    options:
      statement: "INSERT INTO ticks VALUES ('once', \$1)"
EOF
# run_until SECONDS CMD...: chimed running until CMD holds (or SECONDS).
run_until() {
	"$CHIMED" --config "$tmp/chime.yaml" >>"$tmp/chimed.log" 2>&1 &
	chimed_pid=$!
	wait_until "$@" || true # the checks below say what is missing
	kill -TERM "$chimed_pid"
	wait "$chimed_pid" || fail "chimed exited with an error"
	chimed_pid=
}
both_ran() { [ "$(q "SELECT count(DISTINCT job) FROM ticks")" = 2 ]; }
# caught_up: the regular schedule resumed after the restart (two slots of
# 'all' after it, which run only once the catch-up queued ahead of them
# has), run-all has no gap, the run-once downtime slots are recorded
# skipped, and it said so.
caught_up() {
	[ "$(q "SELECT count(*) FROM ticks WHERE job = 'all' AND slot > to_timestamp($up + 1)")" -ge 2 ] &&
		[ "$(q "SELECT count(*) FROM generate_series((SELECT min(slot) FROM ticks WHERE job = 'all'),
		(SELECT max(slot) FROM ticks WHERE job = 'all'), interval '1 second') s
		WHERE NOT EXISTS (SELECT 1 FROM ticks WHERE job = 'all' AND slot = s)")" = 0 ] &&
		[ "$(q "SELECT count(*) FROM chime.runs WHERE job = 'once' AND status = 'skipped'")" -ge 5 ] &&
		grep -q "catch-up from the ledger" "$tmp/chimed.log"
}
run_until 10 both_ran
down=$(date +%s)
sleep 8 # the downtime itself: time must pass
up=$(date +%s)
run_until 15 caught_up

missing=$(q "SELECT count(*) FROM generate_series((SELECT min(slot) FROM ticks WHERE job = 'all'),
	(SELECT max(slot) FROM ticks WHERE job = 'all'), interval '1 second') s
	WHERE NOT EXISTS (SELECT 1 FROM ticks WHERE job = 'all' AND slot = s)")
[ "$missing" = 0 ] || fail "run-all: $missing slots missing"
during=$(q "SELECT count(*) FROM ticks WHERE job = 'all' AND slot > to_timestamp($down + 1) AND slot < to_timestamp($up - 1)")
[ "$during" -ge 5 ] || fail "run-all: only $during downtime slots ran"
echo "ok - run-all: the $during downtime slots ran after the restart, no gap"
n=$(q "SELECT count(*) FROM ticks WHERE job = 'once' AND slot > to_timestamp($down + 1) AND slot < to_timestamp($up - 1)")
[ "$n" -le 1 ] || fail "run-once: $n downtime slots ran"
s=$(q "SELECT count(*) FROM chime.runs WHERE job = 'once' AND status = 'skipped' AND error LIKE 'misfire%'")
[ "$s" -ge 5 ] || fail "run-once: only $s downtime slots recorded skipped"
echo "ok - run-once: $n downtime slot ran, $s recorded skipped"
grep -q "catch-up from the ledger" "$tmp/chimed.log" || fail "catch-up not logged"
