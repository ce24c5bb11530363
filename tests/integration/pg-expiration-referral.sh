#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Seed 000 on the reference schema: JOHNS-20, MARIA-15 and ALEX-10 expired
# yesterday, other codes not. A dry run prints exactly those three with
# their agents' names and changes nothing; a real run expires exactly
# those and stamps updated_at with the nominal instant; the next slot
# changes nothing. on_save installs the trigger (reported once), which
# then expires a code saved already expired.
set -euo pipefail
. "$CHIME_PG_ENV"

db=t_exp_ref_$$
tmp=$(mktemp -d)
createdb "$db"
trap 'dropdb --if-exists "$db" >/dev/null 2>&1; rm -rf "$tmp"' EXIT

fail() { echo "not ok - $*" >&2; exit 1; }
q() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }
expect_eq() { [ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"; echo "ok - $3"; }

psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$CHIME_SOURCE_DIR/config/sql/codes.sql" >/dev/null
# Loading the reference schema twice is harmless.
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$CHIME_SOURCE_DIR/config/sql/codes.sql" >/dev/null 2>&1
q "INSERT INTO agents (id, name) VALUES (1, 'John Smith'), (2, 'Maria Garcia'),
	(3, 'Alex Johnson'), (4, 'Nina Park');
   INSERT INTO referral_codes (code, agent_id, discount, status, expires_at, updated_at) VALUES
	('JOHNS-20', 1, 20, 'active', '2026-03-09 12:00+04', '2026-01-01Z'),
	('MARIA-15', 2, 15, 'active', '2026-03-09 08:00+04', '2026-01-01Z'),
	('ALEX-10', 3, 10, 'active', '2026-03-09 23:59+04', '2026-01-01Z'),
	('NINA-05', 4, 5, 'active', '2026-03-11 09:00+04', '2026-01-01Z'),
	('EDGE-01', 4, 5, 'active', '2026-03-10 02:00+04', '2026-01-01Z'),
	('OLD-01', 4, 5, 'inactive', '2026-01-01 12:00+04', '2026-01-01Z'),
	('FOREVER', NULL, 5, 'active', NULL, '2026-01-01Z')"

cat >"$tmp/chime.yaml" <<EOF
timezone: Asia/Tbilisi
database: {conninfo: "dbname=$db"}
jobs:
  expire-referral-codes:
    schedule: "0 2 * * *"
    plugin: expiration
    options:
      table: referral_codes
      key: code
      expires_at: expires_at
      status: {column: status, active: active, expired: inactive}
      stamp: updated_at
      label: {join: agents, on: agent_id, format: "Agent: {name}"}
      on_save: true
EOF
run() { "$CHIMECTL" run expire-referral-codes --config "$tmp/chime.yaml" "$@"; }
snapshot() { q "SELECT string_agg(code || ':' || status || ':' || updated_at, ',' ORDER BY code)
	FROM referral_codes"; }
# EDGE-01 expires exactly at the slot: not before it, so not expired.
slot=2026-03-10T02:00:00+04:00

before=$(snapshot)
run --at "$slot" --dry-run >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/out" "$tmp/err"; fail "dry run"; }
for item in "JOHNS-20 (Agent: John Smith)" "MARIA-15 (Agent: Maria Garcia)" \
	"ALEX-10 (Agent: Alex Johnson)"; do
	grep -qF -- "$item" "$tmp/out" || { cat "$tmp/out"; fail "dry run lists '$item'"; }
done
expect_eq "$(grep -cE 'NINA-05|EDGE-01|OLD-01|FOREVER' "$tmp/out" || true)" "0" \
	"dry run lists no other code"
grep -qE 'expired: 3' "$tmp/out" || { cat "$tmp/out"; fail "dry run counts 3"; }
grep -q "would install" "$tmp/out" || { cat "$tmp/out"; fail "dry run reports the missing trigger"; }
expect_eq "$(snapshot)" "$before" "dry run changed nothing"
expect_eq "$(q "SELECT count(*) FROM pg_trigger WHERE tgname = 'chime_expire-referral-codes'")" \
	"0" "dry run installed no trigger"

run --at "$slot" >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/out" "$tmp/err"; fail "real run"; }
grep -qE 'expired: 3' "$tmp/out" || { cat "$tmp/out"; fail "real run counts 3"; }
if grep -q "NOTICE" "$tmp/err"; then cat "$tmp/err"; fail "server notices leak to the output"; fi
grep -qF "JOHNS-20 (Agent: John Smith)" "$tmp/out" || fail "real run report names JOHNS-20"
expect_eq "$(q "SELECT string_agg(code, ',' ORDER BY code) FROM referral_codes
	WHERE status = 'inactive' AND updated_at = '2026-03-10 02:00+04'")" \
	"ALEX-10,JOHNS-20,MARIA-15" "real run expired exactly the three, stamped with the slot"
expect_eq "$(q "SELECT string_agg(code, ',' ORDER BY code) FROM referral_codes
	WHERE status = 'active'")" "EDGE-01,FOREVER,NINA-05" "the others stay active"
expect_eq "$(q "SELECT summary->'counts'->>'expired' FROM chime.runs
	WHERE job = 'expire-referral-codes'")" "3" "the ledger summary counts 3"
expect_eq "$(q "SELECT count(*) FROM pg_trigger WHERE tgname = 'chime_expire-referral-codes'")" \
	"1" "on_save trigger installed"

# The next slot (one minute later: EDGE-01 is now past) and then the same
# state again: nothing changes twice.
after=$(snapshot)
run --at 2026-03-10T02:01:00+04:00 >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/out" "$tmp/err"; fail "run 2"; }
grep -qE 'expired: 1' "$tmp/out" && grep -qF "EDGE-01 (Agent: Nina Park)" "$tmp/out" ||
	{ cat "$tmp/out"; fail "a minute later only EDGE-01 expires"; }
if grep -q "trigger" "$tmp/out"; then cat "$tmp/out"; fail "trigger reported again"; fi
after=$(snapshot)
run --at 2026-03-11T02:00:00+04:00 >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/out" "$tmp/err"; fail "run 3"; }
grep -qE 'expired: 0' "$tmp/out" || { cat "$tmp/out"; fail "next day: nothing (NINA-05 expires at 09:00)"; }
expect_eq "$(snapshot)" "$after" "a later run changes nothing already done"

# The trigger: a code saved already expired is inactive at once; one saved
# with a future expiry stays active.
q "INSERT INTO referral_codes (code, agent_id, status, expires_at) VALUES
	('LATE-01', 1, 'active', now() - interval '1 day'),
	('NEW-01', 1, 'active', now() + interval '1 day')"
expect_eq "$(q "SELECT string_agg(code || ':' || status, ',' ORDER BY code) FROM referral_codes
	WHERE code IN ('LATE-01', 'NEW-01')")" "LATE-01:inactive,NEW-01:active" \
	"trigger expires a code saved already expired"
q "UPDATE referral_codes SET expires_at = now() - interval '1 hour' WHERE code = 'NEW-01'"
expect_eq "$(q "SELECT status FROM referral_codes WHERE code = 'NEW-01'")" "inactive" \
	"trigger expires a code edited into the past"

# An outdated trigger function (edited by hand) is reported and replaced.
q "CREATE OR REPLACE FUNCTION \"chime_expire-referral-codes\"() RETURNS trigger
	LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'"
run --at 2026-03-12T02:00:00+04:00 >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/out" "$tmp/err"; fail "run 4"; }
grep -q "was outdated, installed" "$tmp/out" || { cat "$tmp/out"; fail "outdated trigger reported"; }
q "INSERT INTO referral_codes (code, status, expires_at) VALUES ('LATE-02', 'active', now() - interval '1 day')"
expect_eq "$(q "SELECT status FROM referral_codes WHERE code = 'LATE-02'")" "inactive" \
	"replaced trigger works"
echo "ok - seed 000 referral code expiration"
