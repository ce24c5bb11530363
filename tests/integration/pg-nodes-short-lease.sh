#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The shortest lease (2 s: heartbeat every 500 ms) on two nodes: a healthy
# exec run of 8 s (four leases) is renewed all along and never taken over
# (issue 13: with `lease: 1s` heartbeats went out every 1-2 s and a second
# node re-ran the slot). A trigger on chime.runs counts every renewal of
# heartbeat_at: the figures are the renewals and the longest gap between
# two, which must stay under the 3/4-lease self-fence (1.5 s) and far
# under the 2.5 s after which another node may recover the claim. (Exec:
# a sql run holds its row with the run fence while its statement runs,
# heartbeats skip the locked row and the fence stands for them.)
set -euo pipefail
. "$CHIME_SOURCE_DIR/tests/harness/pgnodes.sh"

effects="$tmp/effects"
: >"$effects"
chmod 666 "$effects"
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
    plugin: exec
    lease: 2s
    options:
      shell: true
      command: "sleep 8; echo \$CHIME_RUN_ID >>$effects"
EOF
	start_node "n$n"
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
expect_eq "the effect once" "$(wc -l <"$effects")" 1
check "no node took the run for lost, none fenced it" \
	sh -c "! grep -E 'lost \(no heartbeat|self-fencing' $tmp/n1.log $tmp/n2.log"
stop_nodes
finish
