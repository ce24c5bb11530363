#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# chimectl run goes through the same runner and ledger stages as chimed,
# next to a chimed on the same ledger, with a job whose lease (2 s) is a
# third of its run (exec sleep 7):
# - chimectl heartbeats its claim, so chimed's lost-claim scan leaves it
#   alone: one attempt in chime.runs, succeeded; chimectl exits 0 and
#   prints its report;
# - SIGHUP mid-run (an ssh session dropped): the run is cancelled,
#   recorded and reported; a new chimectl run of the slot succeeds;
# - SIGKILL mid-run: the claim is recovered after its lease by chimed like
#   any node's; a new chimectl run of the slot succeeds;
# - with no chimed: a killed chimectl's claim is refused while its lease
#   holds, then recovered by the next chimectl run of the slot.
set -euo pipefail
. "$CHIME_PG_ENV"

db=t_ctl_runner_$$
tmp=$(mktemp -d)
createdb "$db"
chimed_pid=
bg_pid=
cleanup() {
	[ -n "$chimed_pid" ] && kill -KILL "$chimed_pid" 2>/dev/null || true
	[ -n "$bg_pid" ] && kill -KILL "$bg_pid" 2>/dev/null || true
	dropdb --if-exists "$db" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "not ok - $*" >&2
	for f in "$tmp"/*.out "$tmp/chimed.log"; do
		[ -e "$f" ] && { echo "--- $f" >&2; tail -15 "$f" >&2; }
	done
	exit 1
}
ok() { echo "ok - $*"; }
q() { psql -X -A -t -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }
# wait_sql SQL WANT SECONDS: until the query answers WANT.
wait_sql() {
	local i v=
	for i in $(seq 1 $(($3 * 10))); do
		v=$(q "$1" 2>/dev/null || true)
		[ "$v" = "$2" ] && return 0
		sleep 0.1
	done
	fail "'$1' answered '$v', want '$2' within $3 s"
}
ctl() { "$CHIMECTL" run slow --config "$tmp/chime.yaml" --at "$@"; }
# kill_mid_run SIGNAL AT OUT: start chimectl run of slot AT, wait until
# its row is running, send SIGNAL; sets rc to its exit status.
kill_mid_run() {
	"$CHIMECTL" run slow --config "$tmp/chime.yaml" --at "$2" >"$3" 2>&1 &
	bg_pid=$! # chimectl itself, not a subshell
	wait_sql "SELECT status FROM chime.runs WHERE job = 'slow' AND scheduled_for = '$2'" running 10
	kill "-$1" "$bg_pid"
	rc=0
	wait "$bg_pid" 2>/dev/null || rc=$?
	bg_pid=
}
slot_runs() {
	q "SELECT string_agg(attempt || ':' || status, ',' ORDER BY attempt) FROM chime.runs
	   WHERE job = 'slow' AND scheduled_for = '$1'"
}

cat >"$tmp/chime.yaml" <<EOF
timezone: UTC
node: ctl-runner
control_socket: $tmp/control.sock
database:
  conninfo: "dbname=$db"
jobs:
  slow:
    schedule: "0 0 1 1 *"
    plugin: exec
    lease: 2s
    timeout: 60s
    options:
      command: [sleep, "7"]
EOF

"$CHIMED" --config "$tmp/chime.yaml" >"$tmp/chimed.log" 2>&1 &
chimed_pid=$!
for _ in $(seq 1 100); do
	grep -q "ready" "$tmp/chimed.log" && break
	sleep 0.1
done
grep -q "ready" "$tmp/chimed.log" || fail "chimed did not start"
ok "chimed running next to chimectl"

# 1. Three leases long, heartbeated: one attempt, succeeded, reported.
at=2026-02-01T00:00:00Z
start=$(date +%s)
ctl "$at" >"$tmp/one.out" 2>&1 || fail "chimectl run exited $?"
[ $(($(date +%s) - start)) -ge 6 ] || fail "the run did not take three leases"
grep -q "^job 'slow' (exec): succeeded" "$tmp/one.out" || fail "no report"
grep -q "^run: id [0-9]*, attempt 1" "$tmp/one.out" || fail "the report has no run id"
[ "$(slot_runs "$at")" = "1:succeeded" ] || fail "chime.runs: $(slot_runs "$at")"
! grep -q "lost (no heartbeat" "$tmp/chimed.log" || fail "chimed took the run for lost"
ok "a run of three leases: one attempt, succeeded, exit 0 and its report"

# 2. SIGHUP mid-run: cancelled, recorded and reported; the slot runs again.
at=2026-02-02T00:00:00Z
kill_mid_run HUP "$at" "$tmp/hup.out"
[ "$rc" = 1 ] || fail "chimectl after SIGHUP exited $rc, want 1"
grep -q "^job 'slow' (exec): cancelled" "$tmp/hup.out" || fail "no report after SIGHUP"
[ "$(q "SELECT status, error FROM chime.runs WHERE job = 'slow' AND scheduled_for = '$at'")" = \
	"cancelled|cancelled: hangup (SIGHUP)" ] || fail "SIGHUP not recorded"
ok "SIGHUP cancels the run, records it cancelled and prints the report"
ctl "$at" >"$tmp/hup2.out" 2>&1 || fail "the run after SIGHUP exited $?"
[ "$(slot_runs "$at")" = "1:cancelled,2:succeeded" ] || fail "after SIGHUP: $(slot_runs "$at")"
ok "a new chimectl run of the slot succeeds (attempt 2)"

# 3. SIGKILL mid-run: chimed recovers the claim after its lease.
at=2026-02-03T00:00:00Z
kill_mid_run KILL "$at" "$tmp/kill.out"
wait_sql "SELECT status, error LIKE 'lost:%' FROM chime.runs WHERE job = 'slow' AND scheduled_for = '$at'" \
	"failed|t" 20
ok "a killed chimectl's claim is recovered by chimed after its lease"
ctl "$at" >"$tmp/kill2.out" 2>&1 || fail "the run after SIGKILL exited $?"
[ "$(slot_runs "$at")" = "1:failed,2:succeeded" ] || fail "after SIGKILL: $(slot_runs "$at")"
ok "a new chimectl run of the recovered slot succeeds"

# 4. No chimed: the next chimectl recovers the stale claim itself.
kill -TERM "$chimed_pid"
wait "$chimed_pid" || fail "chimed did not stop cleanly"
chimed_pid=
at=2026-02-04T00:00:00Z
kill_mid_run KILL "$at" "$tmp/alone.out"
rc=0
ctl "$at" >"$tmp/refused.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "already has a run" "$tmp/refused.out" ||
	fail "a claim within its lease was not refused (exit $rc)"
ok "within its lease the killed claim still holds the slot"
wait_sql "SELECT now() - heartbeat_at > lease + lease / 4 FROM chime.runs WHERE job = 'slow' AND scheduled_for = '$at'" t 10
ctl "$at" >"$tmp/alone2.out" 2>&1 || fail "the run after the lease exited $?"
grep -q "stopped heartbeating past its lease" "$tmp/alone2.out" || fail "the recovery is not said"
[ "$(slot_runs "$at")" = "1:failed,2:succeeded" ] || fail "after the lease: $(slot_runs "$at")"
ok "after its lease the next chimectl run recovers the claim and runs the slot"
