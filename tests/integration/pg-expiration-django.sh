#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The expiration plugin mapped onto a Django schema (main_referralcode with
# an agent_id foreign key into main_userprofile, integer id key, a
# timestamp WITHOUT time zone expiry as USE_TZ=False stores it, read in the
# job's zone), and bad input: a missing table, a missing column, a status
# value the column cannot hold, a key or label key that is not unique, a rule column of
# the wrong type. Each error names the job, the table and the column, and
# changes nothing.
set -euo pipefail
. "$CHIME_PG_ENV"

db=t_exp_django_$$
tmp=$(mktemp -d)
createdb "$db"
trap 'dropdb --if-exists "$db" >/dev/null 2>&1; rm -rf "$tmp"' EXIT

fail() { echo "not ok - $*" >&2; exit 1; }
q() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }
expect_eq() { [ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"; echo "ok - $3"; }

q "CREATE TABLE main_userprofile (id serial PRIMARY KEY, first_name varchar(150),
	last_name varchar(150), role varchar(20));
   CREATE TABLE main_referralcode (id bigserial PRIMARY KEY, code varchar(32) NOT NULL UNIQUE,
	agent_id integer REFERENCES main_userprofile (id), discount integer,
	status varchar(16) NOT NULL, expires_at timestamp without time zone,
	is_enabled boolean NOT NULL DEFAULT true);
   INSERT INTO main_userprofile (id, first_name, last_name, role) VALUES
	(1, 'John', 'Smith', 'agent'), (2, 'Maria', 'Garcia', 'agent'), (3, 'Alex', 'Johnson', 'agent');
   -- Local wall times in Asia/Tbilisi (+04): the slot is 2026-03-10 02:00 there.
   INSERT INTO main_referralcode (id, code, agent_id, discount, status, expires_at) VALUES
	(10, 'JOHNS-20', 1, 20, 'active', '2026-03-09 12:00'),
	(11, 'MARIA-15', 2, 15, 'active', '2026-03-10 01:59'),
	(12, 'ALEX-10', 3, 10, 'active', '2026-03-09 08:00'),
	(13, 'LATER-01', 1, 10, 'active', '2026-03-10 02:30'),
	(14, 'ORPHAN', NULL, 10, 'active', '2026-03-01 00:00')"

cat >"$tmp/chime.yaml" <<EOF
timezone: Asia/Tbilisi
database: {conninfo: "dbname=$db"}
jobs:
  expire-referral-codes:
    schedule: "0 2 * * *"
    plugin: expiration
    options:
      table: public.main_referralcode
      key: id
      expires_at: expires_at
      status: {column: status, active: active, expired: inactive}
      label: {join: main_userprofile, on: agent_id, key: id, format: "Agent: {first_name} {last_name}"}
  no-table:
    schedule: "0 2 * * *"
    plugin: expiration
    options: {table: main_referralcodes, key: id}
  no-column:
    schedule: "0 2 * * *"
    plugin: expiration
    options: {table: main_referralcode, key: id, expires_at: expires_on}
  bad-status:
    schedule: "0 2 * * *"
    plugin: expiration
    options:
      table: main_referralcode
      key: id
      status: {column: is_enabled, active: active, expired: inactive}
  not-unique:
    schedule: "0 2 * * *"
    plugin: expiration
    options: {table: main_referralcode, key: agent_id}
  bad-type:
    schedule: "0 2 * * *"
    plugin: expiration
    options: {table: main_referralcode, key: id, expires_at: discount}
  label-not-unique:
    schedule: "0 2 * * *"
    plugin: expiration
    options:
      table: main_referralcode
      key: id
      label: {join: main_userprofile, on: agent_id, key: role, column: first_name}
  no-label-column:
    schedule: "0 2 * * *"
    plugin: expiration
    options:
      table: main_referralcode
      key: id
      label: {join: main_userprofile, on: agent_id, column: full_name}
EOF
run() { "$CHIMECTL" run "$1" --config "$tmp/chime.yaml" "${@:2}"; }
snapshot() { q "SELECT string_agg(code || ':' || status, ',' ORDER BY id) FROM main_referralcode"; }

# The file is valid; the database check finds the broken jobs' mistakes
# (each at its option), and nothing wrong with the good one.
"$CHIMECTL" check --no-db "$tmp/chime.yaml" >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "the config checks"; }
if "$CHIMECTL" check "$tmp/chime.yaml" >"$tmp/out" 2>&1; then
	cat "$tmp/out"; fail "the database check passes broken jobs"
fi
grep -qE "chime.yaml:[0-9]+:[0-9]+: error: jobs.no-table.options.table: table 'main_referralcodes' does not exist" "$tmp/out" ||
	{ cat "$tmp/out"; fail "check names the missing table"; }
! grep -q "jobs.expire-referral-codes" "$tmp/out" || { cat "$tmp/out"; fail "check flags the good job"; }
echo "ok - chimectl check: the broken jobs at their options, the good one clean"
before=$(snapshot)
run expire-referral-codes --at 2026-03-10T02:00:00+04:00 --dry-run >"$tmp/out" 2>&1 ||
	{ cat "$tmp/out"; fail "dry run"; }
for item in "10 (Agent: John Smith)" "11 (Agent: Maria Garcia)" "12 (Agent: Alex Johnson)"; do
	grep -qF -- "$item" "$tmp/out" || { cat "$tmp/out"; fail "dry run lists '$item'"; }
done
grep -qE '^ *14$' "$tmp/out" || { cat "$tmp/out"; fail "a code without agent is listed by key alone"; }
grep -q "expired: 4" "$tmp/out" || { cat "$tmp/out"; fail "dry run counts 4"; }
expect_eq "$(snapshot)" "$before" "dry run changed nothing"

run expire-referral-codes --at 2026-03-10T02:00:00+04:00 >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "run"; }
expect_eq "$(snapshot)" \
	"JOHNS-20:inactive,MARIA-15:inactive,ALEX-10:inactive,LATER-01:active,ORPHAN:inactive" \
	"Django schema: local expiry read in the job's zone, LATER-01 (02:30 local) kept"

# Bad input: each names job, table and column; nothing changes.
before=$(snapshot)
check_error() {
	local job=$1 want=$2
	if run "$job" --at 2026-03-11T02:00:00+04:00 >"$tmp/out" 2>&1; then
		cat "$tmp/out"; fail "$job succeeded"
	fi
	grep -qF -- "$want" "$tmp/out" || { cat "$tmp/out"; fail "$job: message '$want'"; }
	echo "ok - $job: $want"
}
check_error no-table "job 'no-table': table 'main_referralcodes' does not exist"
check_error no-column "job 'no-column': table 'main_referralcode' has no column 'expires_on' (option expires_at)"
check_error bad-status "job 'bad-status': table 'main_referralcode' column 'is_enabled' (option status) has type boolean, which cannot hold the status values 'active' and 'inactive'"
check_error not-unique "job 'not-unique': table 'main_referralcode' column 'agent_id' (option key) is not unique"
check_error bad-type "job 'bad-type': table 'main_referralcode' column 'discount' (option expires_at) has type integer, expected"
check_error label-not-unique "job 'label-not-unique': table 'main_userprofile' column 'role' (option label.key) is not unique"
check_error no-label-column "job 'no-label-column': table 'main_userprofile' has no column 'full_name' (option label)"
expect_eq "$(snapshot)" "$before" "failed runs changed nothing"

# Option mistakes are caught by `chimectl check` with their place.
cat >"$tmp/bad.yaml" <<EOF
timezone: UTC
database: {conninfo: "dbname=$db"}
jobs:
  typo:
    schedule: "0 2 * * *"
    plugin: expiration
    options:
      table: main_referralcode
      expires: expires_at
      label: {join: main_userprofile, format: "Agent: {first name}"}
      batch_size: 0
EOF
if "$CHIMECTL" check "$tmp/bad.yaml" >"$tmp/out" 2>&1; then cat "$tmp/out"; fail "bad options pass check"; fi
grep -q "bad.yaml:9:.*expires" "$tmp/out" || { cat "$tmp/out"; fail "unknown key reported with its line"; }
grep -q "batch_size" "$tmp/out" || { cat "$tmp/out"; fail "batch_size 0 reported"; }
grep -q "label" "$tmp/out" || { cat "$tmp/out"; fail "bad label reported"; }
echo "ok - option mistakes found by chimectl check"
