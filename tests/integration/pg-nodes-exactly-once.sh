#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Three chimed on one database, one job every second (6-field crontab)
# inserting its slot: after 30 s every slot is in the table exactly once,
# none missing (the first and last second at the boundaries aside), and
# chime.runs holds exactly one succeeded run per slot.
set -euo pipefail
. "$CHIME_PG_ENV"

db=t_nodes_once_$$
tmp=$(mktemp -d)
createdb "$db"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	dropdb --if-exists "$db" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "not ok - $*" >&2; for n in 1 2 3; do echo "--- node n$n" >&2; tail -20 "$tmp/n$n.log" >&2; done; exit 1; }
q() { psql -X -A -t -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }
duration=${CHIME_NODES_SECONDS:-30}

q "CREATE TABLE ticks (slot timestamptz NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())" >/dev/null
for n in 1 2 3; do
	cat >"$tmp/n$n.yaml" <<EOF
timezone: UTC
node: n$n
database:
  conninfo: "dbname=$db"
jobs:
  tick:
    schedule: "* * * * * *"
    plugin: sql
    options:
      statement: "INSERT INTO ticks (slot) VALUES (\$1)"
EOF
done
start=$(date +%s)
for n in 1 2 3; do
	"$CHIMED" --config "$tmp/n$n.yaml" >"$tmp/n$n.log" 2>&1 &
	pids+=($!)
done
sleep "$duration" # the window checked: "exactly once" (none twice) needs time
for p in "${pids[@]}"; do kill -TERM "$p"; done
for p in "${pids[@]}"; do wait "$p" || fail "a chimed exited with an error"; done
pids=()
end=$(date +%s)

total=$(q "SELECT count(*) FROM ticks")
[ "$total" -ge $((duration - 3)) ] || fail "only $total slots ran in $duration s"
dups=$(q "SELECT count(*) FROM (SELECT slot FROM ticks GROUP BY slot HAVING count(*) > 1) d")
[ "$dups" = 0 ] || fail "$dups slots ran more than once"
echo "ok - $total slots, none twice"
# Every second between the first and the last slot (inclusive) is there.
missing=$(q "SELECT count(*) FROM generate_series((SELECT min(slot) FROM ticks),
	(SELECT max(slot) FROM ticks), interval '1 second') s
	WHERE NOT EXISTS (SELECT 1 FROM ticks WHERE slot = s)")
[ "$missing" = 0 ] || fail "$missing slots missing between the first and the last"
first=$(q "SELECT extract(epoch FROM min(slot))::bigint FROM ticks")
last=$(q "SELECT extract(epoch FROM max(slot))::bigint FROM ticks")
[ "$first" -le $((start + 2)) ] || fail "first slot $first, started at $start"
[ "$last" -ge $((end - 3)) ] || fail "last slot $last, stopped at $end"
echo "ok - no slot missing from $first to $last (ran $start..$end)"
runs=$(q "SELECT count(*) FROM chime.runs WHERE job = 'tick' AND status = 'succeeded'")
[ "$runs" = "$total" ] || fail "$runs succeeded runs for $total slots"
other=$(q "SELECT count(*) FROM chime.runs WHERE job = 'tick' AND status <> 'succeeded'")
[ "$other" = 0 ] || fail "$other runs not succeeded: $(q "SELECT status, error FROM chime.runs WHERE status <> 'succeeded' LIMIT 3")"
echo "ok - one succeeded ledger row per slot"
echo "# runs per node: $(q "SELECT string_agg(node || '=' || n, ' ') FROM (SELECT node, count(*) n FROM chime.runs GROUP BY node ORDER BY node) x")"
lateness=$(q "SELECT round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM at - slot)) * 1000)::numeric, 1) || ' ms p50, ' ||
	round(max(extract(epoch FROM at - slot)) * 1000, 1) || ' ms max' FROM ticks")
echo "# statement start after its slot: $lateness"
