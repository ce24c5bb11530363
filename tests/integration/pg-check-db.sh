#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# `chimectl check` against the live database: the plugins' check() of the
# expiration and activation jobs. All right: "configuration OK", exit 0. A
# missing table and a missing column: errors at the option's
# file:line:col naming job, table and column, exit 1. With on_save, a
# missing trigger and one changed by CREATE OR REPLACE FUNCTION: warnings,
# exit 0; `check --apply` installs (or replaces) it before any run. An
# unreachable database: one note, exit 0. --no-db: no database checks at
# all. Nothing else in the database changes.
#
# Connecting as chimed would: a wrong password (a role of this test that
# must use scram-sha-256 on loopback TCP, by a line of its own at the top of
# the cluster's pg_hba.conf, removed at exit), a missing password_file, a
# role without CREATE on a database with no ledger yet, a role without
# INSERT on chime.runs, and database plugins without a `database:` section:
# each exit 1 with the reason. The right password, and a role with exactly
# the grants docs/operations.md lists: exit 0.
set -euo pipefail
. "$CHIME_PG_ENV"

db=t_check_db_$$
fresh=t_check_fresh_$$
pw_role=chime_check_pw_$$
roles="$pw_role chime_check_nocreate_$$ chime_check_readonly_$$ chime_check_granted_$$"
tmp=$(mktemp -d)
createdb "$db"
hba=$(psql -X -A -t -q -d postgres -c "SHOW hba_file")
cleanup() {
	if grep -q "$pw_role" "$hba" 2>/dev/null; then
		grep -v "$pw_role" "$hba" >"$tmp/hba" && cat "$tmp/hba" >"$hba"
		psql -X -q -d postgres -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
	fi
	dropdb --if-exists "$db" >/dev/null 2>&1
	dropdb --if-exists "$fresh" >/dev/null 2>&1
	for r in $roles; do psql -X -q -d postgres -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1; done
	rm -rf "$tmp"
}
trap cleanup EXIT

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

# Installed before any run by check --apply: saves are checked at once,
# and the check that follows has nothing to warn about.
check --apply "$tmp/chime.yaml" || { cat "$tmp/out"; fail "check --apply"; }
has "job 'expire-promo': on_save trigger 'chime_expire-promo' on table 'promo' installed" "--apply"
hasnt "warning" "--apply"
has "configuration OK" "--apply"
[ "$(triggers)" = 1 ] || fail "--apply did not install the trigger"
q "INSERT INTO promo VALUES ('B', 'active', now() - interval '1 hour', 0, 5, true, NULL)"
[ "$(q "SELECT status FROM promo WHERE code = 'B'")" = inactive ] || fail "a save after --apply is not checked"
q "DELETE FROM promo WHERE code = 'B'"
check --apply "$tmp/chime.yaml" || { cat "$tmp/out"; fail "check --apply again"; }
hasnt "installed" "--apply with the trigger in place"
ok "check --apply installs the missing trigger before the first run, once"
check --no-db --apply "$tmp/chime.yaml" && fail "--apply with --no-db accepted"
has "--apply needs the database" "--apply with --no-db"

# The run finds it in place: no warning.
"$CHIMECTL" run expire-promo --config "$tmp/chime.yaml" >"$tmp/run" 2>&1 || { cat "$tmp/run"; fail "run"; }
[ "$(triggers)" = 1 ] || fail "run dropped the trigger"
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
check --apply "$tmp/chime.yaml" || { cat "$tmp/out"; fail "check --apply on an outdated trigger"; }
has "job 'expire-promo': on_save trigger 'chime_expire-promo' on table 'promo' replaced" "--apply outdated"
hasnt "warning" "--apply outdated"
ok "check --apply replaces an outdated trigger"

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

# ---- Connecting as chimed would -------------------------------------------

# $1: the database: line (flow style, or empty); one sql job.
write_sql_config() {
	cat >"$tmp/chime.yaml" <<EOF
timezone: UTC
$1
jobs:
  vacuum:
    schedule: "0 3 * * *"
    plugin: sql
    options: {statement: "SELECT 1"}
EOF
}

# A wrong password. The role may only log in with scram-sha-256 over TCP
# (a line of this test first in pg_hba.conf): wait until the server uses it.
createdb "$fresh"
q "CREATE ROLE $pw_role LOGIN PASSWORD 'right-pw'; GRANT CREATE ON DATABASE $fresh TO $pw_role"
{ echo "host all $pw_role 127.0.0.1/32 scram-sha-256"; cat "$hba"; } >"$tmp/hba.new"
cat "$tmp/hba.new" >"$hba"
q "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 1 100); do
	PGPASSWORD=wrong-pw psql -X -q -h 127.0.0.1 -U "$pw_role" -d "$fresh" -c "SELECT 1" \
		>/dev/null 2>"$tmp/psql.err" && : >"$tmp/psql.err"
	grep -q "password authentication failed" "$tmp/psql.err" && break
	sleep 0.1
done
grep -q "password authentication failed" "$tmp/psql.err" ||
	fail "the pg_hba.conf line for $pw_role is not in effect"
echo wrong-pw >"$tmp/pw"
write_sql_config "database: {conninfo: \"host=127.0.0.1 port=$PGPORT dbname=$fresh user=$pw_role\", password_file: $tmp/pw}"
check "$tmp/chime.yaml" && { cat "$tmp/out"; fail "wrong password accepted"; }
has "$tmp/chime.yaml:2:" "wrong password: placed at database.conninfo"
has "error: database.conninfo: cannot connect as chimed would: " "wrong password"
has "password authentication failed for user \"$pw_role\"" "wrong password"
hasnt "configuration OK" "wrong password"
hasnt "skipped the database checks" "wrong password"
ok "wrong password: error with libpq's reason, exit 1"

echo right-pw >"$tmp/pw"
check "$tmp/chime.yaml" || { cat "$tmp/out"; fail "right password rejected"; }
has "configuration OK" "right password"
ok "right password, CREATE on the database: exit 0"

# A password_file that is not there.
write_sql_config "database: {conninfo: \"host=127.0.0.1 port=$PGPORT dbname=$fresh user=$pw_role\", password_file: $tmp/nope}"
check "$tmp/chime.yaml" && { cat "$tmp/out"; fail "missing password_file accepted"; }
has "error: database.password_file: cannot read password_file '$tmp/nope': No such file or directory" \
	"missing password_file"
hasnt "configuration OK" "missing password_file"
ok "missing password_file: error at database.password_file, exit 1"

# A role without CREATE on a database that has no ledger yet: chimed could
# not create schema chime.
q "CREATE ROLE chime_check_nocreate_$$ LOGIN"
write_sql_config "database: {conninfo: \"dbname=$fresh user=chime_check_nocreate_$$\"}"
check "$tmp/chime.yaml" && { cat "$tmp/out"; fail "role without CREATE accepted"; }
has "error: database: ledger: role 'chime_check_nocreate_$$' cannot set up schema chime (read its version, create or upgrade it): permission denied for database $fresh" \
	"role without CREATE"
ok "role without CREATE: error naming the role and the privilege, exit 1"
[ "$(psql -X -A -t -q -d "$fresh" -c "SELECT count(*) FROM pg_namespace WHERE nspname = 'chime'")" = 0 ] ||
	fail "check created schema chime"

# $db has its ledger (the run above migrated it). A role that may read it
# but not INSERT: chimed could claim nothing.
q "CREATE ROLE chime_check_readonly_$$ LOGIN;
   GRANT USAGE ON SCHEMA chime TO chime_check_readonly_$$;
   GRANT SELECT ON ALL TABLES IN SCHEMA chime TO chime_check_readonly_$$"
write_sql_config "database: {conninfo: \"dbname=$db user=chime_check_readonly_$$\"}"
check "$tmp/chime.yaml" && { cat "$tmp/out"; fail "role without INSERT accepted"; }
has "error: database: ledger: role 'chime_check_readonly_$$' cannot claim a run (INSERT INTO chime.runs): permission denied for table runs" \
	"role without INSERT"
ok "role without INSERT on chime.runs: error, exit 1"

# The grants docs/operations.md lists for a ledger an administrator made.
q "CREATE ROLE chime_check_granted_$$ LOGIN;
   GRANT USAGE ON SCHEMA chime TO chime_check_granted_$$;
   GRANT SELECT ON chime.schema_version TO chime_check_granted_$$;
   GRANT SELECT, INSERT, UPDATE, DELETE ON chime.runs, chime.paused, chime.pause_log TO chime_check_granted_$$;
   GRANT USAGE ON ALL SEQUENCES IN SCHEMA chime TO chime_check_granted_$$"
write_sql_config "database: {conninfo: \"dbname=$db user=chime_check_granted_$$\"}"
check "$tmp/chime.yaml" || { cat "$tmp/out"; fail "the documented grants are not enough"; }
has "configuration OK" "documented grants"
[ "$(q "SELECT count(*) FROM chime.runs WHERE job = 'chimectl check'")" = 0 ] ||
	fail "check left a row in chime.runs"
ok "the documented ledger grants: exit 0, no row left"

# Database plugins and no database: section.
write_sql_config ""
check "$tmp/chime.yaml" && { cat "$tmp/out"; fail "sql job without a database accepted"; }
has "$tmp/chime.yaml:4:3: error: jobs.vacuum.plugin: plugin 'sql' needs a database, and the configuration has no 'database:' section" \
	"no database section"
ok "database plugin without a database: section: error at the job, exit 1"
