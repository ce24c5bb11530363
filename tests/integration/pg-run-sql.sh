#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# chimectl run with the sql plugin against a real PostgreSQL: the slot and
# the previous slot reach the statement as $1/$2, the run is recorded in
# chime.runs, a second run of the same slot is refused, a failed slot gets
# a new attempt, --dry-run records nothing and rolls back, --json is JSON,
# and a job timeout cancels `SELECT pg_sleep(60)` within a second of it.
set -euo pipefail
. "$CHIME_PG_ENV"

db=t_run_sql_$$
tmp=$(mktemp -d)
createdb "$db"
trap 'dropdb --if-exists "$db" >/dev/null 2>&1; rm -rf "$tmp"' EXIT

fail() { echo "not ok - $*" >&2; exit 1; }
q() { psql -X -A -t -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }
expect_eq() { [ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"; echo "ok - $3"; }

q "CREATE TABLE ticks (slot timestamptz, prev timestamptz)" >/dev/null
cat >"$tmp/chime.yaml" <<EOF
timezone: UTC
node: test-node
database:
  conninfo: "dbname=$db"
jobs:
  tick:
    schedule: "*/5 * * * *"
    plugin: sql
    options:
      statement: "INSERT INTO ticks (slot, prev) VALUES (\$1, \$2)"
  noparams:
    schedule: "@hourly"
    plugin: sql
    options:
      statement: "UPDATE ticks SET prev = NULL WHERE false -- \$3 in a comment is fine"
  bad:
    schedule: "0 * * * *"
    plugin: sql
    options:
      statement: "SELECT 1/0"
  berlin:
    schedule: "30 2 * * *"
    timezone: Europe/Berlin
    dst: { overlap: both }
    plugin: sql
    options:
      statement: "INSERT INTO ticks (slot, prev) VALUES (\$1, \$2)"
  slow:
    schedule: "0 * * * *"
    plugin: sql
    timeout: 2s
    options:
      statement: "SELECT pg_sleep(60)"
EOF
run() { "$CHIMECTL" run "$@" --config "$tmp/chime.yaml"; }

# A scheduled slot: $1 is it, $2 the slot before.
run tick --at 2026-01-01T10:05:00Z >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/out" "$tmp/err"; fail "run tick"; }
expect_eq "$(q "SELECT slot AT TIME ZONE 'UTC', prev AT TIME ZONE 'UTC' FROM ticks")" \
	"2026-01-01 10:05:00|2026-01-01 10:00:00" "statement got the slot and the previous slot"
expect_eq "$(q "SELECT status, attempt, manual, node, scheduled_for AT TIME ZONE 'UTC',
	previous_for AT TIME ZONE 'UTC', slot_local, summary->'counts'->>'rows'
	FROM chime.runs WHERE job = 'tick'")" \
	"succeeded|1|t|test-node|2026-01-01 10:05:00|2026-01-01 10:00:00|2026-01-01 10:05:00|1" \
	"run recorded in chime.runs with its summary"
grep -q "succeeded" "$tmp/out" || fail "report says succeeded"

# Never twice.
if run tick --at 2026-01-01T10:05:00Z >"$tmp/out" 2>"$tmp/err"; then fail "second run of a slot succeeded"; fi
grep -q "already has a run" "$tmp/err" || { cat "$tmp/err"; fail "refusal names the reason"; }
expect_eq "$(q "SELECT count(*) FROM ticks")" "1" "second run of the slot did not run"
echo "ok - second run of a slot refused"

# Dry run: rolled back, nothing recorded, says what it would do.
run tick --at 2026-01-01T10:10:00Z --dry-run >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/out" "$tmp/err"; fail "dry run"; }
grep -q "would run: INSERT 0 1" "$tmp/out" || { cat "$tmp/out"; fail "dry run report"; }
expect_eq "$(q "SELECT count(*) FROM ticks")" "1" "dry run rolled back"
expect_eq "$(q "SELECT count(*) FROM chime.runs WHERE scheduled_for = '2026-01-01T10:10:00Z'")" "0" \
	"dry run not recorded"

# JSON report.
run tick --at 2026-01-01T10:15:00Z --json >"$tmp/out" 2>"$tmp/err" || fail "json run"
/usr/bin/python3 - "$tmp/out" <<'PY' || fail "json report"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["status"] == "succeeded", r
assert r["job"] == "tick" and isinstance(r["run_id"], int) and r["attempt"] == 1, r
assert r["scheduled_for"] == "2026-01-01T10:15:00+00:00", r
assert r["previous_for"] == "2026-01-01T10:10:00+00:00", r
assert r["report"]["counts"]["rows"] == 1, r
PY
echo "ok - --json report"

# A statement without parameters runs as is.
run noparams --at 2026-01-01T10:00:00Z >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err"; fail "statement without parameters"; }
echo "ok - statement without \$1/\$2"

# A failing statement: recorded failed with the server's message; the
# same slot again is a new attempt.
if run bad --at 2026-01-01T10:00:00Z >"$tmp/out" 2>"$tmp/err"; then fail "bad job succeeded"; fi
expect_eq "$(q "SELECT status, attempt, error LIKE '%division by zero%' FROM chime.runs WHERE job = 'bad'")" \
	"failed|1|t" "failed statement recorded with its error"
if run bad --at 2026-01-01T10:00:00Z >"$tmp/out" 2>"$tmp/err"; then fail "bad job succeeded"; fi
expect_eq "$(q "SELECT string_agg(attempt || ':' || status, ',' ORDER BY attempt) FROM chime.runs WHERE job = 'bad'")" \
	"1:failed,2:failed" "a failed slot runs again as a new attempt"

# Timeout: pg_sleep(60) cancelled within a second of the 2 s limit.
start=$(date +%s%N)
if run slow --at 2026-01-01T10:00:00Z >"$tmp/out" 2>"$tmp/err"; then fail "slow job succeeded"; fi
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$elapsed_ms" -lt 3500 ] || fail "timeout took ${elapsed_ms} ms (limit 2000 ms)"
echo "ok - pg_sleep(60) cancelled after ${elapsed_ms} ms (limit 2 s)"
expect_eq "$(q "SELECT status, error LIKE 'timed out after 2000 ms%' FROM chime.runs WHERE job = 'slow'")" \
	"timed_out|t" "timeout recorded as timed_out"
expect_eq "$(q "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%' AND state = 'active'")" \
	"0" "the sleeping statement is gone from the server"

# A fall-back night (Europe/Berlin, 2026-10-25): 02:30 happens twice and
# with dst overlap: both each is its own slot, keyed by occurrence; the
# second's previous slot is the first.
run berlin --at 2026-10-25T02:30:00+01:00 >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err"; fail "second 02:30"; }
run berlin --at 2026-10-25T02:30:00+02:00 >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err"; fail "first 02:30"; }
expect_eq "$(q "SELECT string_agg(slot_local || ' #' || slot_occurrence || ' ' ||
	to_char(scheduled_for AT TIME ZONE 'UTC', 'HH24:MI') || ' prev ' ||
	to_char(previous_for AT TIME ZONE 'UTC', 'MM-DD HH24:MI'), ', ' ORDER BY scheduled_for)
	FROM chime.runs WHERE job = 'berlin'")" \
	"2026-10-25 02:30:00 #0 00:30 prev 10-24 00:30, 2026-10-25 02:30:00 #1 01:30 prev 10-25 00:30" \
	"fall-back night: two slots with the same wall time, occurrences 0 and 1"
if run berlin --at 2026-10-25T01:30:00Z >"$tmp/out" 2>"$tmp/err"; then fail "the repeated 02:30 ran twice"; fi
echo "ok - the second 02:30 is refused a second run"
