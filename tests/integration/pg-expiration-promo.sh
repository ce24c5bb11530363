#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Seed 001's auto-deactivation on the reference promo_codes table: codes
# whose usage_count reached max_uses get status 'expired' and
# auto_deactivated_at = the run's nominal instant, only where
# auto_deactivate_on_max_uses is true when the job names that guard; a job
# without the guard expires them all. The stamp is set once and never
# moved by later runs. Small batches (batch_size 2) cover the keyset loop.
set -euo pipefail
. "$CHIME_PG_ENV"

db=t_exp_promo_$$
tmp=$(mktemp -d)
createdb "$db"
trap 'dropdb --if-exists "$db" >/dev/null 2>&1; rm -rf "$tmp"' EXIT

fail() { echo "not ok - $*" >&2; exit 1; }
q() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }
expect_eq() { [ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"; echo "ok - $3"; }

psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$CHIME_SOURCE_DIR/config/sql/codes.sql" >/dev/null
q "INSERT INTO promo_codes (code, max_uses, usage_count, auto_deactivate_on_max_uses, status) VALUES
	('FULL-3', 3, 3, true, 'active'),
	('OVER-3', 3, 4, true, 'active'),
	('LEFT-1', 3, 2, true, 'active'),
	('NOGUARD', 3, 3, false, 'active'),
	('NOLIMIT', NULL, 50, true, 'active'),
	('DONE', 3, 3, true, 'inactive'),
	('FULL-A', 1, 1, true, 'active'),
	('FULL-B', 1, 1, true, 'active'),
	('FULL-C', 1, 1, true, 'active')"

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
      batch_size: 2
  expire-promo-unguarded:
    schedule: "*/5 * * * *"
    plugin: expiration
    options:
      table: promo_codes
      key: code
      status: {column: status, active: active, expired: expired}
      max_uses: {uses: usage_count, max: max_uses}
      stamp: auto_deactivated_at
EOF
run() { "$CHIMECTL" run "$1" --config "$tmp/chime.yaml" "${@:2}"; }
expired() { q "SELECT string_agg(code || '@' || to_char(auto_deactivated_at AT TIME ZONE 'UTC',
	'HH24:MI'), ',' ORDER BY code) FROM promo_codes WHERE status = 'expired'"; }

run expire-promo-codes --at 2026-03-10T10:00:00Z --dry-run >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "dry run"; }
grep -q "expired: 5" "$tmp/out" || { cat "$tmp/out"; fail "dry run counts 5"; }
expect_eq "$(expired)" "" "dry run changed nothing"

run expire-promo-codes --at 2026-03-10T10:00:00Z >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "run"; }
grep -q "expired: 5" "$tmp/out" || { cat "$tmp/out"; fail "run counts 5"; }
expect_eq "$(expired)" "FULL-3@10:00,FULL-A@10:00,FULL-B@10:00,FULL-C@10:00,OVER-3@10:00" \
	"guarded: codes at or over max uses expired in batches of 2, stamped with the slot"
expect_eq "$(q "SELECT string_agg(code || ':' || status, ',' ORDER BY code) FROM promo_codes
	WHERE code IN ('LEFT-1', 'NOGUARD', 'NOLIMIT', 'DONE')")" \
	"DONE:inactive,LEFT-1:active,NOGUARD:active,NOLIMIT:active" \
	"below the limit, guard off, no limit, already inactive: untouched"

# LEFT-1 reaches its limit: the next slot expires it; earlier stamps stay.
q "UPDATE promo_codes SET usage_count = 3 WHERE code = 'LEFT-1'"
run expire-promo-codes --at 2026-03-10T10:05:00Z >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "run 2"; }
expect_eq "$(expired)" \
	"FULL-3@10:00,FULL-A@10:00,FULL-B@10:00,FULL-C@10:00,LEFT-1@10:05,OVER-3@10:00" \
	"the stamp is set once and not moved by a later run"

# Without the guard the flag is ignored: NOGUARD expires too.
run expire-promo-unguarded --at 2026-03-10T10:10:00Z >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "unguarded"; }
grep -q "expired: 1" "$tmp/out" && grep -q "NOGUARD" "$tmp/out" || { cat "$tmp/out"; fail "unguarded report"; }
expect_eq "$(q "SELECT status || '@' || to_char(auto_deactivated_at AT TIME ZONE 'UTC', 'HH24:MI')
	FROM promo_codes WHERE code = 'NOGUARD'")" "expired@10:10" "no guard: NOGUARD expired"
run expire-promo-codes --at 2026-03-10T10:15:00Z >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "run 3"; }
grep -q "expired: 0" "$tmp/out" || { cat "$tmp/out"; fail "nothing left"; }
expect_eq "$(q "SELECT count(*) FROM promo_codes WHERE auto_deactivated_at > '2026-03-10 10:10Z'")" \
	"0" "no stamp moved later"
echo "ok - seed 001 promo code auto-deactivation"
