#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Overlap policies across two nodes, with jobs every 2 s whose run takes
# 3 s: no two runs of a job ever overlap in time, on any node;
#   skip     the slots due while it runs are recorded skipped
#   queue    the slots wait for the running one, none is skipped
#   replace  the running run is cancelled for the newer slot
set -euo pipefail
. "$CHIME_PG_ENV"

db=t_nodes_overlap_$$
tmp=$(mktemp -d)
createdb "$db"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	dropdb --if-exists "$db" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "not ok - $*" >&2; for n in 1 2; do tail -15 "$tmp/n$n.log" >&2; done; exit 1; }
q() { psql -X -A -t -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }

for n in 1 2; do
	cat >"$tmp/n$n.yaml" <<EOF
timezone: UTC
node: n$n
database:
  conninfo: "dbname=$db"
defaults:
  retry: { attempts: 1 }
jobs:
  skipper:
    schedule: "*/2 * * * * *"
    plugin: sql
    overlap: skip
    options: { statement: "SELECT pg_sleep(3)" }
  queuer:
    schedule: "*/2 * * * * *"
    plugin: sql
    overlap: queue
    options: { statement: "SELECT pg_sleep(3)" }
  replacer:
    schedule: "*/2 * * * * *"
    plugin: sql
    overlap: replace
    options: { statement: "SELECT pg_sleep(3)" }
EOF
	"$CHIMED" --config "$tmp/n$n.yaml" >"$tmp/n$n.log" 2>&1 &
	pids+=($!)
done
sleep 13 # the window the policies are observed in: "never overlap" needs time
for p in "${pids[@]}"; do kill -TERM "$p"; done
for p in "${pids[@]}"; do wait "$p" || true; done
pids=()

for job in skipper queuer replacer; do
	o=$(q "SELECT count(*) FROM chime.runs a JOIN chime.runs b ON a.job = b.job AND a.id < b.id
		WHERE a.job = '$job' AND a.started_at IS NOT NULL AND b.started_at IS NOT NULL
		AND a.started_at < coalesce(b.finished_at, now()) AND b.started_at < coalesce(a.finished_at, now())")
	[ "$o" = 0 ] || fail "$job: $o pairs of runs overlapped: $(q "SELECT string_agg(id || ' ' || node || ' ' || status || ' ' || started_at::time || '-' || finished_at::time, E'\n') FROM chime.runs WHERE job = '$job'")"
	echo "ok - $job: no two runs overlapped in time, across both nodes"
done
[ "$(q "SELECT count(*) FROM chime.runs WHERE job = 'skipper' AND status = 'skipped'")" -ge 2 ] ||
	fail "skip: no slot recorded skipped"
[ "$(q "SELECT count(*) FROM chime.runs WHERE job = 'skipper' AND status = 'succeeded'")" -ge 2 ] ||
	fail "skip: too few runs"
echo "ok - skip: slots due while running were recorded skipped"
[ "$(q "SELECT count(*) FROM chime.runs WHERE job = 'queuer' AND status = 'skipped'")" = 0 ] ||
	fail "queue: a slot was skipped"
[ "$(q "SELECT count(*) FROM chime.runs WHERE job = 'queuer' AND status = 'succeeded'")" -ge 3 ] ||
	fail "queue: too few runs"
echo "ok - queue: slots waited for the running one, none skipped"
[ "$(q "SELECT count(*) FROM chime.runs WHERE job = 'replacer' AND status = 'cancelled'")" -ge 2 ] ||
	fail "replace: no run was cancelled: $(q "SELECT string_agg(status || ' ' || coalesce(error, ''), '; ') FROM chime.runs WHERE job = 'replacer'")"
echo "ok - replace: running runs were cancelled for the newer slot"
