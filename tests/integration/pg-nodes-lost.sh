#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# kill -9 of the node holding a long run: another node recovers the claim
# after the lease (3 s here). A job with on_lost: rerun (an idempotent
# statement) is re-run as attempt 2 by a surviving node and its slot is in
# the table once; a non-idempotent sql job (on_lost: auto) is re-run too:
# its statement and its `succeeded` row commit in one fenced transaction,
# so the killed node's attempt left nothing and the slot is in the table
# exactly once.
set -euo pipefail
. "$CHIME_PG_ENV"

db=t_nodes_lost_$$
tmp=$(mktemp -d)
createdb "$db"
declare -A pid
cleanup() {
	for n in "${!pid[@]}"; do kill -KILL "${pid[$n]}" 2>/dev/null || true; done
	dropdb --if-exists "$db" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "not ok - $*" >&2; for n in 1 2 3; do echo "--- n$n" >&2; tail -15 "$tmp/n$n.log" >&2; done; exit 1; }
q() { psql -X -A -t -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }

q "CREATE TABLE done_rerun (slot timestamptz PRIMARY KEY, attempt_node text);
   CREATE TABLE done_fail (slot timestamptz)" >/dev/null
# One slot, a few seconds from now (UTC, 6-field crontab: sec min hour).
at=$(( $(date +%s) + 4 ))
spec="$(date -u -d "@$at" '+%-S %-M %-H') * * *"
for n in 1 2 3; do
	cat >"$tmp/n$n.yaml" <<EOF
timezone: UTC
node: n$n
database:
  conninfo: "dbname=$db"
defaults:
  lease: 3s
  retry: { attempts: 1 }
jobs:
  rerun:
    schedule: "$spec"
    plugin: sql
    on_lost: rerun
    options:
      statement: "INSERT INTO done_rerun (slot, attempt_node) SELECT \$1, current_setting('application_name') FROM pg_sleep(6) ON CONFLICT DO NOTHING"
  once:
    schedule: "$spec"
    plugin: sql
    options:
      statement: "INSERT INTO done_fail (slot) SELECT \$1 FROM pg_sleep(6)"
EOF
	"$CHIMED" --config "$tmp/n$n.yaml" >"$tmp/n$n.log" 2>&1 &
	pid[n$n]=$!
done

# Wait for both claims, then kill -9 every node holding one.
for _ in $(seq 1 100); do
	[ "$(q "SELECT count(*) FROM chime.runs WHERE status = 'running'" 2>/dev/null || echo 0)" = 2 ] && break
	sleep 0.1
done
[ "$(q "SELECT count(*) FROM chime.runs WHERE status = 'running'")" = 2 ] || fail "the two runs never started"
holders=$(q "SELECT DISTINCT node FROM chime.runs WHERE status = 'running'")
for n in $holders; do
	kill -KILL "${pid[$n]}"
	unset "pid[$n]"
	echo "# killed $n holding a run"
done

# Recovery after the 3 s lease, and the rerun of 6 s.
for _ in $(seq 1 200); do
	[ "$(q "SELECT count(*) FROM chime.runs WHERE job = 'rerun' AND status = 'succeeded'")" = 1 ] &&
		[ "$(q "SELECT count(*) FROM chime.runs WHERE job = 'once' AND status = 'succeeded'")" = 1 ] && break
	sleep 0.1
done
expect() { local got; got=$(q "$1"); [ "$got" = "$2" ] || fail "$3: got '$got', want '$2'"; echo "ok - $3"; }
expect "SELECT string_agg(attempt || ':' || status, ',' ORDER BY attempt) FROM chime.runs WHERE job = 'rerun'" \
	"1:lost,2:succeeded" "on_lost: rerun: the lost run is re-run as attempt 2"
survivor=$(q "SELECT node FROM chime.runs WHERE job = 'rerun' AND attempt = 2")
case " $holders " in *" $survivor "*) fail "the re-run went to a killed node '$survivor'" ;; esac
echo "ok - re-run by surviving node $survivor"
expect "SELECT string_agg(attempt || ':' || status, ',' ORDER BY attempt) FROM chime.runs WHERE job = 'once'" \
	"1:lost,2:succeeded" "sql (records in its transaction): the lost run is re-run as attempt 2"
expect "SELECT error LIKE 'lost: node ''n_'' stopped heartbeating, re-run%' FROM chime.runs WHERE job = 'once' AND attempt = 1" \
	"t" "the lost row names the lost node"
# The killed node's statement may still have committed on the server: the
# rerun's statement is idempotent, so the slot is in the table once. The
# sleep gives a late commit time to land before these negative checks.
sleep 1
expect "SELECT count(*) FROM done_rerun" "1" "the re-run slot is in the table once"
expect "SELECT count(*) FROM done_fail" "1" "the non-idempotent sql slot ran exactly once"
for n in "${!pid[@]}"; do
	kill -0 "${pid[$n]}" || fail "survivor $n died"
	kill -TERM "${pid[$n]}"
done
for n in "${!pid[@]}"; do wait "${pid[$n]}" || fail "survivor $n exited with an error"; done
pid=()
