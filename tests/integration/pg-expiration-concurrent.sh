#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A batched expiration run (20,000 promo codes, batches of 100) while the
# application writes to the same rows: a writer increments usage_count in
# its own committed transactions throughout the run, and another session
# holds a row lock for the whole run. The run neither waits for the held
# row (SKIP LOCKED: it finishes while the lock is still held and leaves that
# row, and any row the writer holds at that moment, for the next slot) nor loses any of the writer's increments, and no
# deadlock or lock is left behind. The next slot expires the skipped row.
set -euo pipefail
. "$CHIME_PG_ENV"

db=t_exp_conc_$$
tmp=$(mktemp -d)
createdb "$db"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	dropdb --if-exists --force "$db" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "not ok - $*" >&2; exit 1; }
q() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }
expect_eq() { [ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"; echo "ok - $3"; }

psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$CHIME_SOURCE_DIR/config/sql/codes.sql" >/dev/null
q "INSERT INTO promo_codes (code, max_uses, usage_count)
	SELECT 'C-' || lpad(g::text, 5, '0'), 1, 1 FROM generate_series(1, 20000) g;
   CREATE TABLE writer (done bigint NOT NULL, stop boolean NOT NULL);
   INSERT INTO writer VALUES (0, false)"

cat >"$tmp/chime.yaml" <<EOF
timezone: UTC
database: {conninfo: "dbname=$db"}
jobs:
  expire-promo-codes:
    schedule: "*/5 * * * *"
    plugin: expiration
    options:
      table: promo_codes
      key: code
      status: {column: status, active: active, expired: expired}
      max_uses: {uses: usage_count, max: max_uses, guard: auto_deactivate_on_max_uses}
      stamp: auto_deactivated_at
      batch_size: 100
EOF

# The holder: locks C-10000 and keeps the lock until cancelled.
psql -X -q -d "$db" -c "BEGIN; UPDATE promo_codes SET usage_count = usage_count + 1
	WHERE code = 'C-10000'; SELECT pg_sleep(600); COMMIT;" >/dev/null 2>&1 &
pids+=($!)
# The writer: one committed increment per iteration over all rows (in key
# order and backwards, so it meets the run's batches), counting its commits.
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "DO \$\$
DECLARE i int := 0;
BEGIN
	LOOP
		i := i + 1;
		UPDATE promo_codes SET usage_count = usage_count + 1
			WHERE code = 'C-' || lpad((CASE WHEN i % 2 = 0 THEN i % 20000 + 1
				ELSE 20000 - i % 20000 END)::text, 5, '0')
			AND code <> 'C-10000';
		UPDATE writer SET done = done + 1;
		COMMIT;
		EXIT WHEN (SELECT stop FROM writer);
	END LOOP;
END \$\$" >"$tmp/writer.out" 2>&1 &
writer=$!
pids+=($writer)

for _ in $(seq 1 100); do
	[ "$(q "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
		WHERE a.query LIKE '%pg_sleep(600)%' AND l.mode = 'RowExclusiveLock'")" != 0 ] &&
		[ "$(q "SELECT done FROM writer")" -gt 10 ] && break
	sleep 0.1
done

"$CHIMECTL" run expire-promo-codes --config "$tmp/chime.yaml" --at 2026-03-10T10:00:00Z \
	>"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "run during concurrent writes"; }
# The holder still holds its lock: the run did not wait for it.
expect_eq "$(q "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%'
	AND state = 'active' AND pid <> pg_backend_pid()")" "1" "run finished while a row was locked"
expect_eq "$(q "SELECT status FROM promo_codes WHERE code = 'C-10000'")" "active" \
	"the locked row was skipped, not waited for"
during=$(q "SELECT done FROM writer")
[ "$during" -gt 10 ] || fail "writer made progress during the run ($during commits)"
echo "ok - writer committed $during increments during the run"

q "UPDATE writer SET stop = true"
wait "$writer" || { cat "$tmp/writer.out"; fail "writer failed (deadlock?)"; }
q "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%'
	AND pid <> pg_backend_pid()" >/dev/null
wait 2>/dev/null || true
pids=()

expect_eq "$(q "SELECT sum(usage_count) - 20000 = (SELECT done FROM writer) FROM promo_codes")" \
	"t" "no lost update: every committed increment is in the table"
# Rows the writer had locked at the moment a batch met them were skipped
# too (SKIP LOCKED): they are few and stay for the next slot.
left=$(q "SELECT count(*) FROM promo_codes WHERE status = 'active'")
[ "$left" -ge 1 ] && [ "$left" -le 5 ] || fail "1 to 5 rows left active, got $left"
expect_eq "$(q "SELECT count(*) FROM promo_codes WHERE status = 'active' AND code = 'C-10000'")" \
	"1" "the locked row is among the $left left for the next slot"
grep -qx "expired: $((20000 - left))" "$tmp/out" || { cat "$tmp/out"; fail "report counts $((20000 - left))"; }

"$CHIMECTL" run expire-promo-codes --config "$tmp/chime.yaml" --at 2026-03-10T10:05:00Z \
	>"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "next slot"; }
grep -qx "expired: $left" "$tmp/out" && grep -q "C-10000" "$tmp/out" || { cat "$tmp/out"; fail "next slot report"; }
expect_eq "$(q "SELECT count(*) FROM promo_codes WHERE status = 'active'")" "0" \
	"the next slot expired the skipped row"
expect_eq "$(q "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
	WHERE d.datname = current_database() AND l.pid <> pg_backend_pid()
	AND l.locktype IN ('relation', 'tuple', 'transactionid')")" "0" "no lock left behind"
