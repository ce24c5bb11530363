#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Every node down over several slots, then both restarted (issue 13,
# "after an outage"): jobs every 2 s, run-once and skip. After the
# restart every slot from the first to the last has exactly one final
# row: the outage's slots run or skipped with their reason, the one just
# before the restart (inside catch-up's 2 s grace) included, and no live
# slot is taken by catch-up: run-once runs exactly one outage slot (not
# a live one, whose claim would collide with the schedule's), and every
# slot after the restart runs live.
set -euo pipefail
. "$CHIME_SOURCE_DIR/tests/harness/pgnodes.sh"

q "CREATE TABLE ticks (job text, slot timestamptz)" >/dev/null
for n in 1 2; do
	cat >"$tmp/n$n.yaml" <<EOF
timezone: UTC
node: n$n
database:
  conninfo: "dbname=$db"
defaults:
  catchup_window: 1h
jobs:
  once:
    schedule: "*/2 * * * * *"
    plugin: sql
    misfire: run-once
    options:
      statement: "INSERT INTO ticks VALUES ('once', \$1)"
  skip:
    schedule: "*/2 * * * * *"
    plugin: sql
    misfire: skip
    options:
      statement: "INSERT INTO ticks VALUES ('skip', \$1)"
EOF
done
start_nodes() { start_node n1; start_node n2; }

start_nodes
wait_sql 20 "SELECT count(*) >= 2 FROM ticks WHERE job = 'skip'" t || fail "the jobs never ran"
stop_nodes
down=$(q "SELECT extract(epoch FROM max(scheduled_for))::bigint FROM chime.runs")
sleep 9 # the outage: slots must pass with no node up
start_nodes
started_twice() { [ "$(grep -c "info: started:" "$tmp/$1.log")" = 2 ]; }
wait_until 10 started_twice n1 || fail "n1 did not start"
wait_until 10 started_twice n2 || fail "n2 did not start"
# The outage ends when the first node's schedule starts: a slot after that
# is its live schedule's (seconds since the epoch, with fractions).
restart=$(for n in 1 2; do
	date -d "$(grep "info: started:" "$tmp/n$n.log" | tail -1 | cut -d' ' -f1)" +%s.%N
done | sort -n | head -1)
echo "# every node down after the slot at $down, the first up again at $restart"

# Every slot of each job from its first to the newest has its row, the
# grace slot included (catch-up plans it again once it is 2 s old).
gaps() {
	q "SELECT count(*) FROM (SELECT DISTINCT job FROM chime.runs) j,
		LATERAL generate_series((SELECT min(scheduled_for) FROM chime.runs r WHERE r.job = j.job),
			(SELECT max(scheduled_for) - interval '2 s' FROM chime.runs r WHERE r.job = j.job), interval '2 s') s
		WHERE NOT EXISTS (SELECT 1 FROM chime.runs r WHERE r.job = j.job AND r.scheduled_for = s
			AND r.status NOT IN ('claimed', 'running'))"
}
wait_sql 20 "SELECT count(*) >= 3 FROM chime.runs WHERE job = 'skip' AND scheduled_for > to_timestamp($restart + 1)" t ||
	fail "the schedule did not resume"
wait_eq 10 0 gaps || fail "slots without a final row: $(gaps)"
stopping=$(date +%s)
stop_nodes

outage="scheduled_for > to_timestamp($down) AND scheduled_for <= to_timestamp($restart)"
# A slot due while the nodes shut down may be cancelled: not a live one.
live="scheduled_for > to_timestamp($restart + 1) AND scheduled_for < to_timestamp($stopping - 1)"
n_outage=$(q "SELECT count(*) FROM chime.runs WHERE job = 'skip' AND $outage")
echo "# figures: $n_outage outage slots per job"
[ "$n_outage" -ge 4 ] || fail "only $n_outage outage slots"
ok "every slot of both jobs has a final row, the $n_outage of the outage included"
expect_sql "one final row per slot" \
	"SELECT count(*) FROM (SELECT job, scheduled_for FROM chime.runs GROUP BY 1, 2 HAVING count(*) > 1) d" 0
expect_sql "skip: every outage slot recorded skipped with its reason" \
	"SELECT count(*) FILTER (WHERE status = 'skipped' AND error LIKE 'misfire:%') = count(*)
	 FROM chime.runs WHERE job = 'skip' AND $outage" t
expect_sql "skip: the slot just before the restart (inside the grace) has its row" \
	"SELECT status FROM chime.runs WHERE job = 'skip' AND scheduled_for <= to_timestamp($restart)
	 ORDER BY scheduled_for DESC LIMIT 1" skipped
expect_sql "run-once: exactly one outage slot ran, the others skipped" \
	"SELECT count(*) FILTER (WHERE status = 'succeeded') || ':' || count(*) FILTER (WHERE status = 'skipped')
	 FROM chime.runs WHERE job = 'once' AND $outage" "1:$((n_outage - 1))"
expect_sql "run-once: the slot it ran is the newest of the outage" \
	"SELECT status FROM chime.runs WHERE job = 'once' AND $outage ORDER BY scheduled_for DESC LIMIT 1" succeeded
expect_sql "every live slot after the restart ran (none taken by catch-up)" \
	"SELECT string_agg(job || ' ' || scheduled_for || ' ' || status, ', ')
	 FROM chime.runs WHERE $live AND status <> 'succeeded'" ""
expect_sql "the effects agree with the ledger" \
	"SELECT count(*) FROM chime.runs r WHERE status = 'succeeded'
	 AND (SELECT count(*) FROM ticks t WHERE t.job = r.job AND t.slot = r.scheduled_for) <> 1" 0
finish
