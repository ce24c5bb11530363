#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A zombie node (issue 13): three nodes, an exec job (not idempotent, so
# a lost run is marked failed, not re-run) whose command sleeps 16 s, then
# appends its run id to a file (the side effect). The node running it is SIGSTOPped for three leases (lease 4 s:
# heartbeat every 1 s, self-fence at 3 s, recovery after 5 s), then
# SIGCONTed. Its child keeps sleeping meanwhile; on waking the node sees
# its claim unrenewed and kills the child's process group before it
# writes (self-fencing). Another node recovered the claim only after lease
# + one heartbeat period: the slot has one final outcome, failed (lost),
# and its effect never happened. Prints the figures: time from SIGCONT to
# the fence, from SIGSTOP to the recovery.
set -euo pipefail
. "$CHIME_SOURCE_DIR/tests/harness/pgnodes.sh"

stopped= child=
zombie_cleanup() {
	[ -n "$stopped" ] && kill -CONT "$stopped" 2>/dev/null || true
	[ -n "$child" ] && kill -KILL -- "-$child" 2>/dev/null || true
}
nodes_cleanup_extra=zombie_cleanup
ms() { date +%s%3N; }

effects="$tmp/effects"
: >"$effects"
chmod 666 "$effects"
at=$(($(date +%s) + 4))
spec="$(date -u -d "@$at" '+%-S %-M %-H') * * *"
for n in 1 2 3; do
	cat >"$tmp/n$n.yaml" <<EOF
timezone: UTC
node: n$n
database:
  conninfo: "dbname=$db"
defaults:
  lease: 4s
  retry: { attempts: 1 }
jobs:
  zombie:
    schedule: "$spec"
    plugin: exec
    timeout: 1min
    options:
      shell: true
      command: ": zmark-$$; sleep 16; echo \$CHIME_RUN_ID >>$effects"
EOF
	start_node "n$n"
done

wait_sql 15 "SELECT count(*) FROM chime.runs WHERE job = 'zombie' AND status = 'running'" 1 ||
	fail "the run never started"
holder=$(q "SELECT node FROM chime.runs WHERE job = 'zombie' AND status = 'running'")
wait_until 5 pgrep -P "${pid[$holder]}" -f "zmark-$$" >/dev/null || fail "no child of $holder"
child=$(pgrep -P "${pid[$holder]}" -f "zmark-$$")
stop_ms=$(ms)
kill -STOP "${pid[$holder]}"
stopped=${pid[$holder]}
echo "# SIGSTOP $holder (pid ${pid[$holder]}, child $child) for 12 s"

# While it is stopped another node recovers the claim and re-runs it.
wait_sql 20 "SELECT count(*) FROM chime.runs WHERE job = 'zombie' AND status = 'failed'" 1 ||
	fail "no recovery while $holder was stopped"
recover_ms=$(ms)
waited=$(q "SELECT round(extract(epoch FROM finished_at - heartbeat_at) * 1000)
	FROM chime.runs WHERE job = 'zombie' AND attempt = 1")
[ "$waited" -ge 5000 ] || fail "recovered ${waited} ms after the last heartbeat, before lease + period (5000 ms)"
ok "recovered ${waited} ms after the holder's last heartbeat (lease + one period: 5000 ms)"
expect_sql "recovered by another node, marked failed (lost), not re-run" \
	"SELECT error LIKE 'lost: node ''$holder'' stopped heartbeating, not re-run%' FROM chime.runs WHERE job = 'zombie'" t

# Wake it when three leases have passed since the stop.
while [ $(($(ms) - stop_ms)) -lt 12000 ]; do sleep 0.1; done
kill -0 "$child" || fail "the child ended while its node was stopped (sleep 16 must outlive the stop)"
cont_ms=$(ms)
kill -CONT "${pid[$holder]}"
stopped=
wait_until 5 sh -c "! kill -0 $child 2>/dev/null" || fail "the stopped node's child still runs after SIGCONT"
fence_ms=$(($(ms) - cont_ms))
ok "the woken node killed its child within ${fence_ms} ms of SIGCONT (self-fencing)"
grep -q "self-fencing: claim not renewed" "$tmp/$holder.log" || fail "no self-fencing line in $holder's log"
ok "the self-fence is logged"

wait_sql 40 "SELECT count(*) FROM chime.runs WHERE job = 'zombie' AND status IN ('claimed', 'running')" 0 ||
	fail "a run of the slot stays live"
expect_sql "the slot has one final outcome: attempt 1 failed" \
	"SELECT string_agg(attempt || ':' || status, ',' ORDER BY attempt) FROM chime.runs WHERE job = 'zombie'" \
	"1:failed"
expect_eq "the side effect never happened" "$(cat "$effects")" ""
expect_sql "no other slot in the window" "SELECT count(DISTINCT scheduled_for) FROM chime.runs" 1
echo "# figures: recovery $((recover_ms - stop_ms)) ms after SIGSTOP (${waited} ms after the last heartbeat); self-fence ${fence_ms} ms after SIGCONT"
stop_nodes
finish
