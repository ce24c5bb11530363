#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# overlap: replace across nodes must cancel a claim that is still waiting
# for the job's run elsewhere, not only a working run. Node 'other' runs
# the job (a row the test keeps live); this node claims the next slot and
# waits; another node's newer slot then asks to cancel it (cancel_requested,
# as chime_ledger_request_cancel() does). The waiting claim must end
# 'cancelled' and never run, even once the other run ended.
set -euo pipefail
. "$CHIME_PG_ENV"

. "$CHIME_SOURCE_DIR/tests/harness/pgtest.sh" review_replace

at=$(( $(date +%s) + 5 ))
spec="$(date -u -d "@$at" '+%-S %-M %-H') * * *"
cat >"$tmp/chime.yaml" <<EOC
timezone: UTC
node: here
database:
  conninfo: "dbname=$db connect_timeout=2"
defaults:
  lease: 6s
  retry: { attempts: 1 }
jobs:
  j:
    schedule: "$spec"
    plugin: exec
    overlap: replace
    options:
      command: ["/bin/sh", "-c", "echo ran >> $tmp/ran"]
EOC
"$CHIMED" --config "$tmp/chime.yaml" >"$tmp/chimed.log" 2>&1 &
chimed_pid=$!

for _ in $(seq 1 50); do
	[ "$(q "SELECT to_regclass('chime.runs') IS NOT NULL" 2>/dev/null || echo f)" = t ] && break
	sleep 0.1
done
[ "$(q "SELECT to_regclass('chime.runs') IS NOT NULL")" = t ] || fail "no schema"
q "INSERT INTO chime.runs (job, slot_local, scheduled_for, node, status, lease, started_at)
	VALUES ('j', (now() - interval '1 minute') AT TIME ZONE 'UTC',
	        now() - interval '1 minute', 'other', 'running', interval '1 hour', now())" >/dev/null

for _ in $(seq 1 100); do
	[ "$(q "SELECT count(*) FROM chime.runs WHERE node = 'here' AND status = 'claimed'")" = 1 ] && break
	sleep 0.1
done
[ "$(q "SELECT count(*) FROM chime.runs WHERE node = 'here' AND status = 'claimed'")" = 1 ] ||
	fail "the slot was not claimed to wait"
q "UPDATE chime.runs SET cancel_requested = true WHERE node = 'here'" >/dev/null
# Two heartbeats (every 2 s) while the other node still runs: the cancel
# must reach a claim that is waiting (time must pass, not a result).
sleep 5
q "UPDATE chime.runs SET status = 'succeeded', finished_at = now() WHERE node = 'other'" >/dev/null
wait_eq 10 cancelled q "SELECT status FROM chime.runs WHERE node = 'here'" || true # expect below says what it is
expect() { local got; got=$(q "$1"); [ "$got" = "$2" ] || fail "$3: got '$got', want '$2'"; echo "ok - $3"; }
expect "SELECT status FROM chime.runs WHERE node = 'here'" "cancelled" \
	"the waiting claim is cancelled by the other node's replace"
[ ! -e "$tmp/ran" ] || fail "the replaced slot ran"
echo "ok - the replaced slot never ran"
kill -TERM "$chimed_pid"
wait "$chimed_pid" || fail "chimed exited with an error"
chimed_pid=
