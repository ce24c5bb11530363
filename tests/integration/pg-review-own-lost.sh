#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A node whose heartbeats do not reach the ledger past the lease (here a
# trigger freezes heartbeat_at of running rows) must not recover its own
# run that is still live in this process: with on_lost: rerun it ran the
# slot a second time next to the first (and cancelled the first). Lease
# 3 s, the command runs 8 s: the slot must end 1:succeeded, run once.
set -euo pipefail
. "$CHIME_PG_ENV"

. "$CHIME_SOURCE_DIR/tests/harness/pgtest.sh" review_own_lost

at=$(( $(date +%s) + 5 ))
spec="$(date -u -d "@$at" '+%-S %-M %-H') * * *"
cat >"$tmp/chime.yaml" <<EOC
timezone: UTC
node: self
database:
  conninfo: "dbname=$db connect_timeout=2"
defaults:
  lease: 3s
  retry: { attempts: 1 }
jobs:
  append:
    schedule: "$spec"
    plugin: exec
    on_lost: rerun
    options:
      command: ["/bin/sh", "-c", "echo ran >> $tmp/ran; sleep 8"]
      idempotent: true
EOC
"$CHIMED" --config "$tmp/chime.yaml" >"$tmp/chimed.log" 2>&1 &
chimed_pid=$!

for _ in $(seq 1 50); do
	[ "$(q "SELECT to_regclass('chime.runs') IS NOT NULL" 2>/dev/null || echo f)" = t ] && break
	sleep 0.1
done
[ "$(q "SELECT to_regclass('chime.runs') IS NOT NULL")" = t ] || fail "no schema"
q "CREATE FUNCTION public.starve() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
	IF OLD.status = 'running' AND NEW.status = 'running' THEN
		NEW.heartbeat_at := OLD.heartbeat_at;
	END IF;
	RETURN NEW;
END \$\$;
CREATE TRIGGER starve BEFORE UPDATE ON chime.runs
	FOR EACH ROW EXECUTE FUNCTION public.starve();" >/dev/null

# A recovery (the defect) would leave attempt 1 lost, never succeeded; the
# command takes 8 s, so "1:succeeded" comes only after the 3 s lease passed.
wait_eq $(( at - $(date +%s) + 30 )) "1:succeeded" \
	q "SELECT string_agg(attempt || ':' || status, ',' ORDER BY attempt) FROM chime.runs" || true
expect() { local got; got=$(q "$1"); [ "$got" = "$2" ] || fail "$3: got '$got', want '$2'"; echo "ok - $3"; }
expect "SELECT string_agg(attempt || ':' || status, ',' ORDER BY attempt) FROM chime.runs" \
	"1:succeeded" "the node does not recover its own live run"
n=$(grep -c ran "$tmp/ran" 2>/dev/null || echo 0)
[ "$n" = 1 ] || fail "the command ran $n times"
echo "ok - the command ran once"
kill -TERM "$chimed_pid"
wait "$chimed_pid" || fail "chimed exited with an error"
chimed_pid=
