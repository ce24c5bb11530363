#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A zombie node: three nodes run a sql job (a plain INSERT, not idempotent:
# exactly once only through its fenced transaction with the run's record)
# and an idempotent third-party plugin that fences each of its units
# (tests/plugins/fenced.c), every second. The node running them is
# SIGSTOPped for three leases, then SIGCONTed; the others recover its
# claims and run the slots again. For every slot of the window: exactly
# one final outcome (its last attempt), the sql side effect present once
# when it succeeded and absent otherwise, the plugin's units all present
# when it succeeded and none when it was skipped, no unit of any run
# committed after its claim was recovered, no slot missing, none left
# running. Prints the figures.
set -euo pipefail
. "$CHIME_PG_ENV"
. "$CHIME_SOURCE_DIR/tests/harness/testlib.sh"
plugin=$CHIME_BUILD_DIR/tests/plugins/fenced.so
[ -f "$plugin" ] || skip "$plugin was not built"

db=t_nodes_zombie_$$
tmp=$(mktemp -d)
createdb "$db"
declare -A pid
cleanup() {
	for n in "${!pid[@]}"; do kill -CONT "${pid[$n]}" 2>/dev/null || true; done
	for n in "${!pid[@]}"; do kill -KILL "${pid[$n]}" 2>/dev/null || true; done
	dropdb --if-exists "$db" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "not ok - $*" >&2; for n in 1 2 3; do echo "--- n$n" >&2; tail -15 "$tmp/n$n.log" >&2; done; exit 1; }
q() { psql -X -A -t -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }
lease=2

q "CREATE TABLE side_sql (slot timestamptz NOT NULL);
   CREATE TABLE fenced_units (slot timestamptz, unit int, PRIMARY KEY (slot, unit));
   CREATE TABLE fenced_log (slot timestamptz, unit int, run_id bigint, node text,
    at timestamptz)" >/dev/null
for n in 1 2 3; do
	cat >"$tmp/n$n.yaml" <<EOF
timezone: UTC
node: n$n
database:
  conninfo: "dbname=$db"
defaults:
  lease: ${lease}s
  retry: { attempts: 1 }
  misfire: skip
jobs:
  once:
    schedule: "* * * * * *"
    plugin: sql
    options:
      statement: "INSERT INTO side_sql (slot) SELECT \$1 FROM pg_sleep(0.4)"
  units:
    schedule: "* * * * * *"
    plugin_path: $plugin
    options:
      units: 3
      sleep_ms: 150
EOF
	"$CHIMED" --config "$tmp/n$n.yaml" >"$tmp/n$n.log" 2>&1 &
	pid[n$n]=$!
done

# at_least N QUERY: the query's count is N or more (for wait_until).
at_least() { [ "$(q "$2" 2>/dev/null || echo 0)" -ge "$1" ]; }
wait_until 20 at_least 6 "SELECT count(*) FROM chime.runs WHERE status = 'succeeded'" ||
	fail "the nodes do not run the jobs"
start=$(q "SELECT max(scheduled_for) FROM chime.runs")
# Stop a node in the middle of a run of each job if one holds both, else
# of either.
victim=
for i in $(seq 1 200); do
	victim=$(q "SELECT node FROM chime.runs WHERE status = 'running' GROUP BY node
	            HAVING count(DISTINCT job) >= CASE WHEN $i < 150 THEN 2 ELSE 1 END LIMIT 1")
	[ -n "$victim" ] && break
	sleep 0.02
done
[ -n "$victim" ] || fail "no node is ever running a job"
kill -STOP "${pid[$victim]}"
held=$(q "SELECT string_agg(job || ' #' || id, ', ') FROM chime.runs WHERE node = '$victim' AND status = 'running'")
echo "# SIGSTOP $victim holding: $held"
sleep $((3 * lease)) # the stop itself is the fault under test
max_id=$(q "SELECT max(id) FROM chime.runs")
kill -CONT "${pid[$victim]}"
echo "# SIGCONT $victim"
# Past the wake: the zombie's runs end and the others keep the schedule.
none_live() { [ "$(q "SELECT count(*) FROM chime.runs WHERE node = '$victim' AND id <= $max_id AND status IN ('claimed', 'running')")" = 0 ]; }
wait_until 30 none_live || fail "the zombie's runs never ended"
# The zombie takes part again (a slot it ran since).
wait_until 20 at_least 1 "SELECT count(*) FROM chime.runs WHERE node = '$victim' AND id > $max_id AND status = 'succeeded'" ||
	fail "$victim never ran a slot after its wake"
end=$(q "SELECT max(scheduled_for) - interval '1 s' FROM chime.runs")
for n in "${!pid[@]}"; do kill -TERM "${pid[$n]}"; done
for n in "${!pid[@]}"; do wait "${pid[$n]}" || fail "node $n exited with an error"; done
pid=()

window="scheduled_for BETWEEN '$start' AND '$end' AND NOT manual"
last="(SELECT DISTINCT ON (job, scheduled_for) * FROM chime.runs WHERE $window
       ORDER BY job, scheduled_for, attempt DESC) l"
expect() { local got; got=$(q "$1"); [ "$got" = "$2" ] || fail "$3: got '$got', want '$2'"; echo "ok - $3"; }

expect "SELECT count(*) FROM chime.runs WHERE status IN ('claimed', 'running')" 0 "no slot left running"
expect "SELECT count(*) FROM generate_series('$start'::timestamptz, '$end', interval '1 s') s,
         (VALUES ('once'), ('units')) j(job)
         WHERE NOT EXISTS (SELECT 1 FROM chime.runs r WHERE r.job = j.job AND r.scheduled_for = s)" \
	0 "no slot of the window without a row"
expect "SELECT count(*) FROM $last WHERE status NOT IN ('succeeded', 'failed', 'skipped', 'timed_out', 'cancelled')" \
	0 "every slot's last attempt is a final outcome"
expect "SELECT count(*) FROM $last WHERE job = 'once' AND
         (SELECT count(*) FROM side_sql s WHERE s.slot = l.scheduled_for) <> CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END" \
	0 "sql: the side effect once when succeeded, absent otherwise"
expect "SELECT count(*) FROM $last WHERE job = 'units' AND status IN ('succeeded', 'skipped') AND
         (SELECT count(*) FROM fenced_units u WHERE u.slot = l.scheduled_for)
         <> CASE WHEN status = 'succeeded' THEN 3 ELSE 0 END" \
	0 "plugin: all units when succeeded, none when skipped"
expect "SELECT count(*) FROM fenced_log f JOIN chime.runs r ON r.id = f.run_id
         WHERE r.status IN ('lost', 'failed') AND r.error LIKE 'lost: %' AND f.at >= r.finished_at" \
	0 "no unit committed after its run was recovered"
expect "SELECT count(*) FROM chime.runs WHERE $window AND status = 'succeeded' AND error LIKE 'succeeded late%'
         AND job = 'once'" 0 "sql: no zombie statement committed after recovery"

echo "# window $start .. $end, zombie $victim"
q "SELECT '# ' || job || ': ' || string_agg(status || ' ' || n, ', ' ORDER BY status)
   FROM (SELECT job, status, count(*) n FROM $last GROUP BY job, status) x GROUP BY job ORDER BY job"
q "SELECT '# attempts > 1: ' || count(*) FROM chime.runs WHERE $window AND attempt > 1"
q "SELECT '# recovered rows: ' || count(*) || coalesce(' (' || string_agg(job || ' ' || status || ': ' || error, '; ') || ')', '')
   FROM chime.runs WHERE $window AND error LIKE '%lost: node%'"
q "SELECT '# sql side rows: ' || count(*) || ', slots twice: ' || (SELECT count(*) FROM
   (SELECT slot FROM side_sql GROUP BY slot HAVING count(*) > 1) d) FROM side_sql"
q "SELECT '# plugin units committed: ' || count(*) || ', by runs later recovered: ' ||
   count(*) FILTER (WHERE r.error LIKE 'lost: %') || ' (all before their recovery)'
   FROM fenced_log f JOIN chime.runs r ON r.id = f.run_id"
q "SELECT '# runs stopped by the fence: ' || count(*) FILTER (WHERE error LIKE '%woke: fenced:%')
   || ', by self-fencing: ' || count(*) FILTER (WHERE error LIKE '%self-fenced:%')
   || ', succeeded late: ' || count(*) FILTER (WHERE error LIKE 'succeeded late%')
   FROM chime.runs WHERE $window"
echo "ok - zombie node"
