#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Self-fencing while the database is away (issue 13): an exec job (lease
# 4 s, so self-fence at 3 s without a renewal, SIGKILL an eighth of the
# lease after SIGTERM) whose command ignores SIGTERM, sleeps 30 s and then
# appends its run id to a file. PostgreSQL is stopped under it: the node cannot renew the
# claim, so before the lease is over it kills its child's process group
# itself, the moment any other node could start recovering it (lease +
# one period) being still ahead. When PostgreSQL is back the run is
# recorded cancelled, "self-fenced", and the effect never happened.
# Needs a cluster of its own (halting the shared one fails other tests).
set -euo pipefail
. "$CHIME_SOURCE_DIR/tests/harness/testlib.sh"

tmp=$(mktemp -d)
chmod 755 "$tmp" # the cluster runs as postgres when we are root
pgdir="$tmp/pg"
"$CHIME_SOURCE_DIR/tests/harness/pgcluster.sh" start "$pgdir" >/dev/null
. "$pgdir/env"
chimed_pid= child=
cleanup() {
	[ -n "$chimed_pid" ] && kill -KILL "$chimed_pid" 2>/dev/null || true
	[ -n "$child" ] && kill -KILL -- "-$child" 2>/dev/null || true
	"$CHIME_SOURCE_DIR/tests/harness/pgcluster.sh" stop "$pgdir" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "not ok - $*" >&2; tail -30 "$tmp/chimed.log" >&2; exit 1; }
q() { psql -X -A -t -v ON_ERROR_STOP=1 -d fence -c "$1"; }
ms() { date +%s%3N; }

createdb fence
export PGDATABASE=fence
effects="$tmp/effects"
: >"$effects"
chmod 666 "$effects"
at=$(($(date +%s) + 3))
cat >"$tmp/chime.yaml" <<EOF
timezone: UTC
node: fence-node
database:
  conninfo: "host=$PGHOST port=$PGPORT user=postgres dbname=fence connect_timeout=2"
jobs:
  fenced:
    schedule: "$(date -u -d "@$at" '+%-S %-M %-H') * * *"
    plugin: exec
    lease: 4s
    retry: { attempts: 1 }
    options:
      shell: true
      command: ": fmark-$$; trap '' TERM; sleep 30; echo \$CHIME_RUN_ID >>$effects"
EOF
"$CHIMED" --config "$tmp/chime.yaml" >"$tmp/chimed.log" 2>&1 &
chimed_pid=$!
wait_sql 15 "SELECT count(*) FROM chime.runs WHERE job = 'fenced' AND status = 'running'" 1 ||
	fail "the run never started"
wait_until 5 pgrep -P "$chimed_pid" -f "fmark-$$" >/dev/null || fail "no child"
child=$(pgrep -P "$chimed_pid" -f "fmark-$$")
last_beat=$(q "SELECT (extract(epoch FROM heartbeat_at) * 1000)::bigint FROM chime.runs WHERE job = 'fenced'")
"$CHIME_SOURCE_DIR/tests/harness/pgcluster.sh" halt "$pgdir"
halt_ms=$(ms)
echo "# PostgreSQL halted $((halt_ms - last_beat)) ms after the run's last heartbeat it saw"

# lease 4 s: the child must be gone before lease + one period (5 s) after
# the last renewal, when another node could recover the claim.
wait_until 6 sh -c "! kill -0 $child 2>/dev/null" || fail "the child still runs without a database"
gone_ms=$(ms)
kill -0 "$chimed_pid" || fail "chimed exited during the outage"
ok "the child was killed $((gone_ms - halt_ms)) ms after the halt, $((gone_ms - last_beat)) ms after the last heartbeat"
[ $((gone_ms - last_beat)) -lt 5000 ] || fail "the fence came after lease + one period (5000 ms)"
ok "before anyone could recover the claim (lease + one period: 5000 ms)"
grep -q "self-fencing: claim not renewed" "$tmp/chimed.log" || fail "no self-fencing line in the log"
ok "the self-fence is logged"
grep -q "did not exit 500 ms after SIGTERM, sending SIGKILL" "$tmp/chimed.log" ||
	fail "no SIGKILL an eighth of the lease after SIGTERM (kill_timeout is 10 s)"
ok "SIGKILL an eighth of the lease after the ignored SIGTERM, not after kill_timeout"

"$CHIME_SOURCE_DIR/tests/harness/pgcluster.sh" resume "$pgdir"
wait_sql 30 "SELECT status || ' ' || error FROM chime.runs WHERE job = 'fenced'" \
	"cancelled cancelled: self-fenced: its claim was not renewed within the lease" ||
	fail "the self-fence is not recorded when the database is back"
ok "recorded cancelled, self-fenced, once the database is back"
expect_eq "the effect never happened" "$(cat "$effects")" ""
echo "# figures: self-fence $((gone_ms - last_beat)) ms after the last heartbeat (lease 4000 ms, recovery possible from 5000 ms)"
kill -TERM "$chimed_pid"
wait "$chimed_pid" || fail "chimed exited with an error"
chimed_pid=
finish
