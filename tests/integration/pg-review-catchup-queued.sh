#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# One node, overlap: queue: a slot queued in memory behind a long run has
# no ledger row yet. A catch-up meanwhile (here: another job's claim fails
# on a database error) must not plan that slot: with misfire: skip it would
# record it skipped, and the queued run would then find it "already
# claimed" and never run. Job a fires at S and S+2 and runs 8 s; job b's
# claim at S+5 is rejected by a trigger. Both slots of a must succeed.
set -euo pipefail
. "$CHIME_PG_ENV"

. "$CHIME_SOURCE_DIR/tests/harness/pgtest.sh" review_catchup

at=$(( $(date +%s) + 5 ))
# All three slots within one minute.
[ $(( at % 60 )) -le 52 ] || at=$(( at - at % 60 + 61 ))
hm="$(date -u -d "@$at" '+%-M %-H')"
s=$(( at % 60 ))
cat >"$tmp/chime.yaml" <<EOC
timezone: UTC
node: solo
database:
  conninfo: "dbname=$db connect_timeout=2"
defaults:
  retry: { attempts: 1 }
jobs:
  a:
    schedule: "$s,$(( s + 2 )) $hm * * *"
    plugin: exec
    overlap: queue
    misfire: skip
    options:
      command: ["/bin/sh", "-c", "echo ran >> $tmp/ran; sleep 8"]
  b:
    schedule: "$(( s + 5 )) $hm * * *"
    plugin: exec
    options:
      command: ["true"]
EOC
"$CHIMED" --config "$tmp/chime.yaml" >"$tmp/chimed.log" 2>&1 &
chimed_pid=$!

for _ in $(seq 1 50); do
	[ "$(q "SELECT to_regclass('chime.runs') IS NOT NULL" 2>/dev/null || echo f)" = t ] && break
	sleep 0.1
done
[ "$(q "SELECT to_regclass('chime.runs') IS NOT NULL")" = t ] || fail "no schema"
q "CREATE FUNCTION public.reject_b() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
	RAISE EXCEPTION 'no claims for b';
END \$\$;
CREATE TRIGGER reject_b BEFORE INSERT ON chime.runs
	FOR EACH ROW WHEN (NEW.job = 'b') EXECUTE FUNCTION public.reject_b();" >/dev/null

# Both runs of a: S..S+8, then S+8..S+16.
want="$(printf '%02d' "$s"):succeeded,$(printf '%02d' $(( s + 2 ))):succeeded"
a_runs="SELECT string_agg(to_char(scheduled_for, 'SS') || ':' || status, ',' ORDER BY scheduled_for) FROM chime.runs WHERE job = 'a'"
wait_eq $(( at - $(date +%s) + 40 )) "$want" q "$a_runs" || true # expect below says what it is
grep -q "slot .* not claimed" "$tmp/chimed.log" || fail "b's claim did not fail"
expect() { local got; got=$(q "$1"); [ "$got" = "$2" ] || fail "$3: got '$got', want '$2'"; echo "ok - $3"; }
expect "$a_runs" "$want" \
	"the queued slot is not recorded skipped by the catch-up"
n=$(grep -c ran "$tmp/ran" 2>/dev/null || echo 0)
[ "$n" = 2 ] || fail "the command ran $n times"
echo "ok - both slots ran"
kill -TERM "$chimed_pid"
wait "$chimed_pid" || fail "chimed exited with an error"
chimed_pid=
