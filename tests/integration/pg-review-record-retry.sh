#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The database unreachable for a few seconds exactly when a run finishes:
# its outcome must be recorded once the database is back (the run stays
# live, heartbeated, not left 'running' for a node to recover and run
# again). An exec job with on_lost: rerun appends one line per run; after
# the outage and past the lease the slot is 1:succeeded and the line is
# there once.
set -euo pipefail
. "$CHIME_PG_ENV"

. "$CHIME_SOURCE_DIR/tests/harness/pgtest.sh" review_record
qp() { psql -X -A -t -v ON_ERROR_STOP=1 -d postgres -c "$1"; }

at=$(( $(date +%s) + 4 ))
spec="$(date -u -d "@$at" '+%-S %-M %-H') * * *"
cat >"$tmp/chime.yaml" <<EOF
timezone: UTC
node: rec
database:
  conninfo: "dbname=$db connect_timeout=2"
defaults:
  lease: 20s
  retry: { attempts: 1 }
jobs:
  append:
    schedule: "$spec"
    plugin: exec
    on_lost: rerun
    options:
      command: ["/bin/sh", "-c", "echo ran >> $tmp/ran; sleep 3"]
      idempotent: true
EOF
"$CHIMED" --config "$tmp/chime.yaml" >"$tmp/chimed.log" 2>&1 &
chimed_pid=$!

for _ in $(seq 1 100); do
	[ "$(q "SELECT count(*) FROM chime.runs WHERE status = 'running'" 2>/dev/null || echo 0)" = 1 ] && break
	sleep 0.1
done
[ "$(q "SELECT count(*) FROM chime.runs WHERE status = 'running'")" = 1 ] || fail "the run never started"
sleep 1 # into the 3 s command: the outage must start while it runs
# The database goes away while the command still sleeps; back after it ended.
qp "ALTER DATABASE $db ALLOW_CONNECTIONS false" >/dev/null
qp "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '$db'" >/dev/null
sleep 5 # the outage itself, past the command's end: time must pass
qp "ALTER DATABASE $db ALLOW_CONNECTIONS true" >/dev/null
echo "# database back"

# An unrecorded run would be recovered past the 20 s lease and re-run
# (attempt 1 lost): "1:succeeded" appears only if the outcome was recorded.
wait_eq 45 "1:succeeded" q "SELECT string_agg(attempt || ':' || status, ',' ORDER BY attempt) FROM chime.runs" ||
	true # expect below says what it is
expect() { local got; got=$(q "$1"); [ "$got" = "$2" ] || fail "$3: got '$got', want '$2'"; echo "ok - $3"; }
expect "SELECT string_agg(attempt || ':' || status, ',' ORDER BY attempt) FROM chime.runs" \
	"1:succeeded" "the outcome is recorded after the outage, no recovery"
n=$(grep -c ran "$tmp/ran")
[ "$n" = 1 ] || fail "the command ran $n times"
echo "ok - the command ran once"
kill -TERM "$chimed_pid"
wait "$chimed_pid" || fail "chimed exited with an error"
chimed_pid=
