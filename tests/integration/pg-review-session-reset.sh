#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Session state a job's statement leaves on its pooled run connection
# (search_path set for the session, a session advisory lock; the run's
# own fence lock, key 1667787109 of fence.sql, is not counted)
# must not leak to the next run on that connection. One run connection
# (database.pool: 1), two slots of an sql job that records what it sees
# and then changes the session: both must see the defaults.
set -euo pipefail
. "$CHIME_PG_ENV"

. "$CHIME_SOURCE_DIR/tests/harness/pgtest.sh" review_session

q "CREATE TABLE public.seen (path text, locks bigint, a text, b text,
	at timestamptz DEFAULT clock_timestamp())" >/dev/null
at=$(( $(date +%s) + 4 ))
[ $(( at % 60 )) -le 56 ] || at=$(( at - at % 60 + 61 ))
s=$(( at % 60 ))
cat >"$tmp/chime.yaml" <<EOC
timezone: UTC
node: sess
database:
  conninfo: "dbname=$db connect_timeout=2"
  pool: 1
defaults:
  retry: { attempts: 1 }
jobs:
  leak:
    schedule: "$s,$(( s + 2 )) $(date -u -d "@$at" '+%-M %-H') * * *"
    plugin: sql
    options:
      statement: >-
        INSERT INTO public.seen
        SELECT current_setting('search_path'),
               (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
                AND classid::bigint <> 1667787109),
               set_config('search_path', 'nowhere', false),
               pg_advisory_lock(4242)::text
EOC
"$CHIMED" --config "$tmp/chime.yaml" >"$tmp/chimed.log" 2>&1 &
chimed_pid=$!

wait_eq $(( at - $(date +%s) + 20 )) "succeeded,succeeded" q "SELECT string_agg(status, ',') FROM chime.runs" ||
	true # expect below says what it is
expect() { local got; got=$(q "$1"); [ "$got" = "$2" ] || fail "$3: got '$got', want '$2'"; echo "ok - $3"; }
expect "SELECT string_agg(status, ',') FROM chime.runs" "succeeded,succeeded" "both slots ran"
expect "SELECT string_agg(path || ' ' || locks, ',' ORDER BY at) FROM public.seen" \
	'"$user", public 0,"$user", public 0' \
	"the second run does not see the first one's search_path or advisory lock"
kill -TERM "$chimed_pid"
wait "$chimed_pid" || fail "chimed exited with an error"
chimed_pid=
