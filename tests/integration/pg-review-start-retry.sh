#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A waiting claim (overlap: queue) whose start cannot be recorded: the
# connection dies exactly at the UPDATE claimed -> running (a trigger
# terminates its own backend once). The claim must stay live and the start
# be retried, not left 'claimed' for the lost-claim scan to mark failed
# after the lease (catch-up never re-runs a slot that has a row). A
# non-idempotent exec job with on_lost: fail: the slot must end
# 1:succeeded with the command run once.
set -euo pipefail
. "$CHIME_PG_ENV"

. "$CHIME_SOURCE_DIR/tests/harness/pgtest.sh" review_start

at=$(( $(date +%s) + 6 ))
spec="$(date -u -d "@$at" '+%-S %-M %-H') * * *"
cat >"$tmp/chime.yaml" <<EOC
timezone: UTC
node: start
database:
  conninfo: "dbname=$db connect_timeout=2"
defaults:
  lease: 10s
  retry: { attempts: 1 }
jobs:
  append:
    schedule: "$spec"
    plugin: exec
    overlap: queue
    on_lost: fail
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
# A sequence is not rolled back with the killed statement: the kill is once.
q "CREATE SEQUENCE public.kill_once;
CREATE FUNCTION public.kill_start() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
	IF OLD.status = 'claimed' AND NEW.status = 'running'
	   AND nextval('public.kill_once') = 1 THEN
		PERFORM pg_terminate_backend(pg_backend_pid());
		PERFORM pg_sleep(1);
	END IF;
	RETURN NEW;
END \$\$;
CREATE TRIGGER kill_start BEFORE UPDATE ON chime.runs
	FOR EACH ROW EXECUTE FUNCTION public.kill_start();" >/dev/null

# The slot, then past the 10 s lease: a claim left unattended is marked failed.
# An unretried start stays 'claimed' and ends failed after the lease,
# never 1:succeeded.
wait_eq $(( at - $(date +%s) + 35 )) "1:succeeded" \
	q "SELECT string_agg(attempt || ':' || status, ',' ORDER BY attempt) FROM chime.runs" || true
[ "$(q "SELECT last_value FROM public.kill_once")" -ge 1 ] || fail "the start was never attempted"
expect() { local got; got=$(q "$1"); [ "$got" = "$2" ] || fail "$3: got '$got', want '$2'"; echo "ok - $3"; }
expect "SELECT string_agg(attempt || ':' || status, ',' ORDER BY attempt) FROM chime.runs" \
	"1:succeeded" "the start is retried after the connection died"
n=$(grep -c ran "$tmp/ran" 2>/dev/null || echo 0)
[ "$n" = 1 ] || fail "the command ran $n times"
echo "ok - the command ran once"
kill -TERM "$chimed_pid"
wait "$chimed_pid" || fail "chimed exited with an error"
chimed_pid=
