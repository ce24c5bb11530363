#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The shortest lease (2 s: heartbeat every 500 ms) on two nodes: a healthy
# sql run of 8 s (four leases) is renewed all along and never taken over
# (issue 13: with `lease: 1s` heartbeats went out every 1-2 s and a second
# node re-ran the slot). A trigger on chime.runs counts every renewal of
# heartbeat_at: the figures are the renewals and the longest gap between
# two, which must stay under the 3/4-lease self-fence (1.5 s) and far
# under the 2.5 s after which another node may recover the claim.
set -euo pipefail
. "$CHIME_PG_ENV"
. "$CHIME_SOURCE_DIR/tests/harness/testlib.sh"

db=t_short_lease_$$
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

fail() { echo "not ok - $*" >&2; for n in 1 2; do echo "--- n$n" >&2; tail -15 "$tmp/n$n.log" >&2; done; exit 1; }
q() { psql -X -A -t -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }

q "CREATE TABLE effects (slot timestamptz, node text)" >/dev/null
at=$(($(date +%s) + 4))
spec="$(date -u -d "@$at" '+%-S %-M %-H') * * *"
for n in 1 2; do
	cat >"$tmp/n$n.yaml" <<EOF
timezone: UTC
node: n$n
database:
  conninfo: "dbname=$db"
jobs:
  long:
    schedule: "$spec"
    plugin: sql
    lease: 2s
    on_lost: rerun
    options:
      statement: "INSERT INTO effects SELECT \$1, current_setting('application_name') FROM pg_sleep(8)"
EOF
	"$CHIMED" --config "$tmp/n$n.yaml" >"$tmp/n$n.log" 2>&1 &
	pid[n$n]=$!
done

wait_sql 15 "SELECT to_regclass('chime.runs') IS NOT NULL" t || fail "no ledger"
q "CREATE TABLE beats (id bigint, at timestamptz);
   CREATE FUNCTION note_beat() RETURNS trigger LANGUAGE plpgsql AS
   \$\$ BEGIN INSERT INTO beats VALUES (NEW.id, NEW.heartbeat_at); RETURN NEW; END \$\$;
   CREATE TRIGGER note_beat AFTER UPDATE OF heartbeat_at ON chime.runs
   FOR EACH ROW WHEN (NEW.status = 'running') EXECUTE FUNCTION note_beat()" >/dev/null
wait_sql 15 "SELECT count(*) FROM chime.runs WHERE job = 'long' AND status = 'running'" 1 ||
	fail "the run never started"
wait_sql 20 "SELECT count(*) FROM chime.runs WHERE job = 'long' AND status IN ('claimed', 'running')" 0 ||
	fail "the run did not end"
read -r beats gap < <(q "SELECT count(*), coalesce(max(d), 0) FROM (SELECT
	round(extract(epoch FROM at - lag(at) OVER (ORDER BY at)) * 1000) AS d FROM beats) b" | tr '|' ' ')
echo "# figures: $beats heartbeats over the 8 s run, longest gap ${gap} ms"
[ "$beats" -ge 12 ] || fail "only $beats heartbeats in 8 s (want one every 500 ms)"
ok "heartbeats every 500 ms or so ($beats seen)"
[ "$gap" -lt 1500 ] || fail "a ${gap} ms gap between heartbeats: past the self-fence"
ok "no gap between heartbeats reaches the 1.5 s self-fence"

expect_sql "one attempt, succeeded" \
	"SELECT string_agg(attempt || ':' || status, ',' ORDER BY attempt) FROM chime.runs WHERE job = 'long'" \
	"1:succeeded"
expect_sql "the effect once" "SELECT count(*) FROM effects" 1
check "no node took the run for lost, none fenced it" \
	sh -c "! grep -E 'lost \(no heartbeat|self-fencing' $tmp/n1.log $tmp/n2.log"
for n in "${!pid[@]}"; do kill -TERM "${pid[$n]}"; done
for n in "${!pid[@]}"; do wait "${pid[$n]}" || fail "$n exited with an error"; done
pid=()
finish
