#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Primary failover: chimed's conninfo names a primary and its streaming
# (asynchronous) standby with target_session_attrs=read-write. Under load
# (10 sql jobs every second), the primary crashes (pg_ctl stop -m
# immediate) and the standby is promoted: chimed follows it without a
# restart, and on the new primary every slot of the window has exactly one
# final outcome that agrees with the side-effect table.
#
# Measured and printed, not asserted: the time from the promotion to the
# first run on the new primary, and the slots the old primary committed
# that the asynchronous standby never received (their ledger rows went
# with them, so the new primary ran them again: with an effect outside the
# database, that is an effect twice; docs/reliability.md says what to do).
set -euo pipefail
. "$CHIME_SOURCE_DIR/tests/harness/testlib.sh"

cluster=$CHIME_SOURCE_DIR/tests/harness/pgcluster.sh
tmp=$(mktemp -d)
chmod 755 "$tmp" # the clusters run as postgres when we are root
"$cluster" start "$tmp/a" >/dev/null
chimed_pid=
cleanup() {
	[ -n "$chimed_pid" ] && kill -KILL "$chimed_pid" 2>/dev/null || true
	"$cluster" stop "$tmp/b" >/dev/null 2>&1 || true
	"$cluster" stop "$tmp/a" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "not ok - $*" >&2; tail -30 "$tmp/chimed.log" >&2; exit 1; }
port_of() { sed -n 's/^export PGPORT=//p' "$tmp/$1/env"; }
qa() { psql -X -A -t -v ON_ERROR_STOP=1 -h "$tmp/a" -p "$(port_of a)" -U postgres -d failover -c "$1"; }
qb() { psql -X -A -t -v ON_ERROR_STOP=1 -h "$tmp/b" -p "$(port_of b)" -U postgres -d failover -c "$1"; }

psql -X -q -h "$tmp/a" -p "$(port_of a)" -U postgres -d postgres -c "CREATE DATABASE failover"
qa "CREATE TABLE effects (job text NOT NULL, slot timestamptz NOT NULL,
	at timestamptz NOT NULL DEFAULT clock_timestamp())" >/dev/null
"$cluster" standby "$tmp/a" "$tmp/b" >/dev/null
replicated() { [ "$(qb "SELECT to_regclass('effects') IS NOT NULL" 2>/dev/null)" = t ]; }
wait_until 30 replicated || fail "the standby did not replay the table"

jobs=10
{
	cat <<EOF
timezone: UTC
node: failover-node
database:
  conninfo: "host=127.0.0.1,127.0.0.1 port=$(port_of a),$(port_of b) user=postgres dbname=failover target_session_attrs=read-write connect_timeout=2"
defaults:
  lease: 3s
  misfire: run-all
  catchup_window: 1h
jobs:
EOF
	for j in $(seq -w 1 $jobs); do
		cat <<EOF
  j$j:
    schedule: "* * * * * *"
    plugin: sql
    options:
      statement: "INSERT INTO effects (job, slot) VALUES ('j$j', \$1)"
EOF
	done
} >"$tmp/chime.yaml"
"$CHIMED" --config "$tmp/chime.yaml" >"$tmp/chimed.log" 2>&1 &
chimed_pid=$!
ran() { [ "$(qa "SELECT count(DISTINCT job) FROM effects")" = $jobs ]; }
wait_until 30 ran || fail "the jobs did not run on the primary"
from=$(($(date +%s) + 1))
sleep 6 # load on the primary: time must pass
# Crash 20 ms after a slot, with its claims and statements in flight.
now_ms=$(date +%s%3N)
sleep "$(printf '0.%03d' $((1020 - now_ms % 1000 > 999 ? 999 : 1020 - now_ms % 1000)))"
"$cluster" crash "$tmp/a"
crash_ms=$(date +%s%3N)
"$cluster" promote "$tmp/b"
promoted_ms=$(date +%s%3N)
echo "# primary crashed, standby promoted in $((promoted_ms - crash_ms)) ms"
# followed: a run on the new primary of a slot after the promotion.
followed() { [ "$(qb "SELECT count(*) FROM effects WHERE slot > to_timestamp($promoted_ms / 1000.0)")" -gt 0 ]; }
wait_until 30 followed || fail "chimed did not follow the promoted standby within 30 s"
first_ms=$(qb "SELECT (extract(epoch FROM min(at)) * 1000)::bigint FROM effects
	WHERE at > to_timestamp($promoted_ms / 1000.0)")
echo "# first run on the new primary $((first_ms - promoted_ms)) ms after the promotion"
sleep 6 # load on the new primary
to=$(($(date +%s) - 2))
live() { qb "SELECT count(*) FROM chime.runs WHERE status IN ('claimed', 'running')
	AND scheduled_for <= to_timestamp($to)"; }
wait_eq 30 0 live || fail "runs still live on the new primary"
kill -TERM "$chimed_pid"
wait "$chimed_pid" || fail "chimed exited with an error"
chimed_pid=
grep -m 20 -E "database|catch-up|skipped|failed" "$tmp/chimed.log" | sed 's/^/# log: /'

export PGHOST=$tmp/b PGPORT=$(port_of b) PGUSER=postgres PGDATABASE=failover
sql "CREATE TABLE verdict AS
	SELECT j.job, s.slot,
	 (SELECT r.status FROM chime.runs r WHERE r.job = j.job AND r.scheduled_for = s.slot
	  ORDER BY r.attempt DESC LIMIT 1) AS status,
	 (SELECT count(*) FROM effects e WHERE e.job = j.job AND e.slot = s.slot) AS effects
	FROM (SELECT DISTINCT job FROM chime.runs) j,
	 generate_series(to_timestamp($from), to_timestamp($to), interval '1 second') s(slot)" >/dev/null
expect_sql "no slot without a row on the new primary" \
	"SELECT count(*) FROM verdict WHERE status IS NULL" 0
expect_sql "no slot left claimed or running" \
	"SELECT count(*) FROM verdict WHERE status IN ('claimed', 'running')" 0
expect_sql "no effect twice on the new primary" "SELECT count(*) FROM verdict WHERE effects > 1" 0
expect_sql "succeeded slots have their effect once, others none" \
	"SELECT count(*) FROM verdict WHERE (status = 'succeeded') <> (effects = 1)" 0
echo "# slots without a row: $(sql "SELECT coalesce(string_agg(job || ' ' || slot, ', '), 'none')
	FROM verdict WHERE status IS NULL")"
echo "# outcomes: $(sql "SELECT string_agg(status || ' ' || n, ', ') FROM
	(SELECT status, count(*) n FROM verdict GROUP BY 1 ORDER BY 1) v")"

# The old primary, started alone (chimed is gone): what it had committed
# that the standby never received.
"$cluster" resume "$tmp/a"
old_last=$(qa "SELECT (extract(epoch FROM max(at)) * 1000)::bigint FROM effects")
# (job, slot) pairs the old primary ran in its last 10 s, as a VALUES list.
old_runs=$(qa "SELECT string_agg(format('(%L, %L::timestamptz)', job, slot), ', ') FROM effects
	WHERE at > to_timestamp($crash_ms / 1000.0 - 10)")
rerun=$(qb "SELECT count(*) FROM effects WHERE at > to_timestamp($promoted_ms / 1000.0)
	AND (job, slot) IN (VALUES $old_runs)")
echo "# the old primary's last effect $((crash_ms - old_last)) ms before the crash;" \
	"$rerun of the slots it had run were run again on the new primary (asynchronous standby)"
finish
