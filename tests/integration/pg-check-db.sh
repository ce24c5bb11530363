#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# `chimectl check` against the live database: the plugins' check() of the
# expiration and activation jobs. All right: "configuration OK", exit 0. A
# missing table and a missing column: errors at the option's
# file:line:col naming job, table and column, exit 1. With on_save, a
# missing trigger and one changed by CREATE OR REPLACE FUNCTION: warnings,
# exit 0. An unreachable database: one note, exit 0. --no-db: no database
# checks at all. Nothing in the database changes.
set -euo pipefail
. "$CHIME_PG_ENV"

db=t_check_db_$$
tmp=$(mktemp -d)
createdb "$db"
trap 'dropdb --if-exists "$db" >/dev/null 2>&1; rm -rf "$tmp"' EXIT

fail() { echo "not ok - $*" >&2; exit 1; }
q() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }
ok() { echo "ok - $*"; }

q "CREATE TABLE promo (code text PRIMARY KEY, status text NOT NULL, expires_at timestamptz,
	usage_count int, max_uses int, auto_off boolean, off_at timestamptz);
   CREATE TABLE packages (id serial PRIMARY KEY, scheduled boolean, schedule_date date,
	schedule_time time, auto_activate boolean, auto_deactivate boolean,
	is_active boolean, valid_until date, updated_at timestamptz);
   INSERT INTO promo VALUES ('A', 'active', now() - interval '1 day', 0, 5, true, NULL)"

# $1: the expiration table, $2: its expiry column, $3: the activation table.
write_config() {
	cat >"$tmp/chime.yaml" <<EOF
timezone: Asia/Tbilisi
database: {conninfo: "dbname=$db"}
jobs:
  expire-promo:
    schedule: "0 2 * * *"
    plugin: expiration
    options:
      table: $1
      key: code
      expires_at: $2
      max_uses: {uses: usage_count, max: max_uses, guard: auto_off}
      stamp: off_at
      on_save: true
  packages:
    schedule: "* * * * *"
    plugin: activation
    options:
      table: $3
      stamp: updated_at
EOF
}

check() { "$CHIMECTL" check "$@" >"$tmp/out" 2>&1; }
has() { grep -qF -- "$1" "$tmp/out" || { cat "$tmp/out"; fail "$2: want '$1'"; }; }
hasnt() { ! grep -qF -- "$1" "$tmp/out" || { cat "$tmp/out"; fail "$2: unwanted '$1'"; }; }
snapshot() { q "SELECT string_agg(code || ':' || status, ',' ORDER BY code) FROM promo"; }
triggers() { q "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'chime_%'"; }

# A missing table and a missing column: placed at the option (file:line:col).
write_config promos expires_at packages
check "$tmp/chime.yaml" && { cat "$tmp/out"; fail "missing table accepted"; }
has "$tmp/chime.yaml:8:14: error: jobs.expire-promo.options.table: table 'promos' does not exist" \
	"missing table"
ok "missing table: error at jobs.expire-promo.options.table, exit 1"
hasnt "configuration OK" "missing table"

write_config promo expires_on packages_x
check "$tmp/chime.yaml" && { cat "$tmp/out"; fail "missing column accepted"; }
has "$tmp/chime.yaml:10:19: error: jobs.expire-promo.options.expires_at: table 'promo' has no column 'expires_on' (option expires_at)" \
	"missing column"
has "$tmp/chime.yaml:18:14: error: jobs.packages.options.table: table 'packages_x' does not exist" \
	"second job checked too"
ok "missing column: error at jobs.expire-promo.options.expires_at, exit 1"

# Activation columns: a missing one in a section left at its defaults is
# placed at the job's options.
q "ALTER TABLE packages RENAME COLUMN valid_until TO valid_to"
write_config promo expires_at packages
check "$tmp/chime.yaml" && { cat "$tmp/out"; fail "missing activation column accepted"; }
has "error: jobs.packages.options: table 'packages' has no column 'valid_until' (option deactivate.valid_until)" \
	"missing activation column"
ok "activation: missing column named with its option"
q "ALTER TABLE packages RENAME COLUMN valid_to TO valid_until"

# All right but the on_save trigger is not there yet: a warning, exit 0.
check "$tmp/chime.yaml" || { cat "$tmp/out"; fail "valid config rejected"; }
has "$tmp/chime.yaml:13:16: warning: jobs.expire-promo.options.on_save: on_save trigger 'chime_expire-promo' on table 'promo' is missing (chimed installs it at the next run)" \
	"missing trigger"
has "configuration OK" "missing trigger"
ok "missing on_save trigger: warning, exit 0"
[ "$(triggers)" = 0 ] || fail "check installed a trigger"
[ "$(snapshot)" = "A:active" ] || fail "check changed a row"
ok "check changed nothing"

# Installed by a run: no warning.
"$CHIMECTL" run expire-promo --config "$tmp/chime.yaml" >"$tmp/run" 2>&1 || { cat "$tmp/run"; fail "run"; }
[ "$(triggers)" = 1 ] || fail "run did not install the trigger"
check "$tmp/chime.yaml" || { cat "$tmp/out"; fail "config with trigger rejected"; }
hasnt "warning" "trigger installed"
has "configuration OK" "trigger installed"
ok "installed trigger: no warning"

# Changed behind chime's back: outdated.
q "CREATE OR REPLACE FUNCTION public.\"chime_expire-promo\"() RETURNS trigger LANGUAGE plpgsql
	AS 'BEGIN RETURN NEW; END'"
check "$tmp/chime.yaml" || { cat "$tmp/out"; fail "outdated trigger is an error"; }
has "warning: jobs.expire-promo.options.on_save: on_save trigger 'chime_expire-promo' on table 'promo' is outdated" \
	"outdated trigger"
ok "outdated on_save trigger: warning, exit 0"

# --no-db: the same file, no database check.
write_config promos expires_at packages
check --no-db "$tmp/chime.yaml" || { cat "$tmp/out"; fail "--no-db looked at the database"; }
hasnt "promos" "--no-db"
has "configuration OK" "--no-db"
ok "--no-db skips the database checks"

# Unreachable: a note, exit 0.
sed -i "s|conninfo: \"dbname=$db\"|conninfo: \"host=127.0.0.1 port=1 dbname=$db\"|" "$tmp/chime.yaml"
start=$(date +%s)
check "$tmp/chime.yaml" || { cat "$tmp/out"; fail "unreachable database fails the check"; }
has "note: database not reachable (" "unreachable"
has "): skipped the database checks" "unreachable"
has "configuration OK" "unreachable"
[ $(($(date +%s) - start)) -le 5 ] || fail "unreachable database took more than 5 s"
ok "unreachable database: note, exit 0"
