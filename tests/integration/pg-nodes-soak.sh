#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Three nodes, 50 sql jobs every second for 60 s (3,000 slots), one node
# SIGKILLed and restarted twice. For every slot of the window: exactly
# one final outcome in chime.runs (its last attempt; none left claimed or
# running), and the ledger agrees with the side-effect table: the slot's
# row is in `effects` exactly once when the outcome is succeeded, and not
# at all otherwise. A run killed with its node is recovered after the
# lease; sql jobs commit their statement and their `succeeded` record in
# one transaction, so a recovered one is either already final or safe to
# run again. Each statement takes 0.2 s, so every kill lands on runs
# in flight (about 10 at any instant). CHIME_SOAK_SECONDS and CHIME_SOAK_JOBS change the load.
set -euo pipefail
. "$CHIME_PG_ENV"
. "$CHIME_SOURCE_DIR/tests/harness/testlib.sh"

db=t_nodes_soak_$$
tmp=$(mktemp -d)
createdb "$db"
export PGDATABASE=$db
declare -A pid
cleanup() {
	for n in "${!pid[@]}"; do kill -KILL "${pid[$n]}" 2>/dev/null || true; done
	dropdb --if-exists "$db" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "not ok - $*" >&2
	for n in 1 2 3; do echo "--- n$n" >&2; tail -15 "$tmp/n$n.log" >&2; done
	exit 1
}

seconds=${CHIME_SOAK_SECONDS:-60}
jobs=${CHIME_SOAK_JOBS:-50}
sql "CREATE TABLE effects (job text NOT NULL, slot timestamptz NOT NULL,
	at timestamptz NOT NULL DEFAULT clock_timestamp())" >/dev/null
for n in 1 2 3; do
	{
		cat <<EOF
timezone: UTC
node: n$n
database:
  conninfo: "dbname=$db"
  pool: 16
defaults:
  lease: 3s
  catchup_window: 10m
  misfire: run-all
jobs:
EOF
		for j in $(seq -w 1 "$jobs"); do
			cat <<EOF
  j$j:
    schedule: "* * * * * *"
    plugin: sql
    options:
      statement: "INSERT INTO effects (job, slot) SELECT 'j$j', \$1 FROM pg_sleep(0.2)"
EOF
		done
	} >"$tmp/n$n.yaml"
done

start() { # NODE
	"$CHIMED" --config "$tmp/n$1.yaml" >>"$tmp/n$1.log" 2>&1 &
	pid[$1]=$!
}
for n in 1 2 3; do start $n; done
ran() { [ "$(sql "SELECT count(*) FROM chime.runs WHERE status = 'succeeded'")" -gt 0 ]; }
wait_until 30 ran || fail "no run succeeded within 30 s"

# The window: whole seconds after every node is up, to the last second
# before the first SIGTERM.
from=$(($(date +%s) + 1))
kill_restart() { # NODE AT_SECOND
	local n=$1 at=$2
	while [ "$(date +%s)" -lt $((from + at)) ]; do sleep 0.2; done
	kill -KILL "${pid[$n]}"
	wait "${pid[$n]}" 2>/dev/null || true
	echo "# killed n$n at +${at}s"
	sleep 3
	start "$n"
}
kill_restart 2 $((seconds / 4))
kill_restart 3 $((seconds * 3 / 5))
while [ "$(date +%s)" -lt $((from + seconds)) ]; do sleep 0.5; done
to=$((from + seconds - 1))

# Every slot of the window final: killed runs are recovered after the
# lease (3 s) plus the lost-claim scan.
live() { sql "SELECT count(*) FROM chime.runs WHERE status IN ('claimed', 'running')
	AND scheduled_for <= to_timestamp($to)"; }
wait_eq 60 0 live || fail "runs still live a minute after the window"
for n in 1 2 3; do kill -TERM "${pid[$n]}"; done
for n in 1 2 3; do wait "${pid[$n]}" || fail "n$n exited with an error"; done
pid=()

# One row per (job, slot) of the window: its last attempt, its status,
# how many attempts succeeded and how many effects it left.
sql "CREATE TABLE verdict AS
	SELECT j.job, s.slot,
	 (SELECT r.status FROM chime.runs r WHERE r.job = j.job AND r.scheduled_for = s.slot
	  ORDER BY r.attempt DESC LIMIT 1) AS status,
	 (SELECT count(*) FROM chime.runs r WHERE r.job = j.job AND r.scheduled_for = s.slot
	  AND r.status = 'succeeded') AS succeeded,
	 (SELECT count(*) FROM chime.runs r WHERE r.job = j.job AND r.scheduled_for = s.slot)
	  AS attempts,
	 (SELECT count(*) FROM effects e WHERE e.job = j.job AND e.slot = s.slot) AS effects
	FROM (SELECT DISTINCT job FROM chime.runs) j,
	 generate_series(to_timestamp($from), to_timestamp($to), interval '1 second') s(slot)" >/dev/null

total=$(sql "SELECT count(*) FROM verdict")
expect_eq "$jobs jobs x $seconds slots in the window" "$total" $((jobs * seconds))
expect_sql "no slot without a row" "SELECT count(*) FROM verdict WHERE status IS NULL" 0
expect_sql "no slot left claimed or running" \
	"SELECT count(*) FROM verdict WHERE status IN ('claimed', 'running')" 0
expect_sql "no slot succeeded twice" "SELECT count(*) FROM verdict WHERE succeeded > 1" 0
expect_sql "no effect twice" "SELECT count(*) FROM verdict WHERE effects > 1" 0
expect_sql "succeeded slots have their effect once" \
	"SELECT count(*) FROM verdict WHERE status = 'succeeded' AND effects <> 1" 0
expect_sql "other slots left no effect" \
	"SELECT count(*) FROM verdict WHERE status <> 'succeeded' AND effects <> 0" 0
echo "# outcomes: $(sql "SELECT string_agg(status || ' ' || n, ', ') FROM
	(SELECT status, count(*) n FROM verdict GROUP BY 1 ORDER BY 1) v")"
echo "# slots with more than one attempt: $(sql "SELECT count(*) FROM verdict WHERE attempts > 1")"
echo "# lateness of the effects (ms): $(sql "SELECT format('p50 %s, p99 %s, max %s',
	round(percentile_cont(0.5) WITHIN GROUP (ORDER BY d)), round(percentile_cont(0.99) WITHIN GROUP (ORDER BY d)),
	round(max(d))) FROM (SELECT extract(epoch FROM at - slot) * 1000 d FROM effects
	WHERE slot BETWEEN to_timestamp($from) AND to_timestamp($to)) x")"
finish
