#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Seed 004 on the reference special_packages table, job zone Asia/Tbilisi
# (+04, no DST): a package scheduled for 2025-12-31 09:00 activates on the
# first run at or after that local instant and not before (is_active true,
# scheduled false, updated_at = the slot); valid_until 2026-01-31 keeps it
# active through the end of that day and deactivates it at the first run
# after. DST days in Europe/Berlin: a start at 02:30 on 2026-03-29 (a wall
# time that does not exist) is due at the jump, 03:00 CEST; a start at
# 02:30 on 2026-10-25 (a wall time that happens twice) at its first
# occurrence, 02:30 CEST; an ordinary 09:00 start on the spring DST day at
# 09:00 CEST. A dry run lists and changes nothing; packages without
# auto_activate / auto_deactivate are left alone. A timestamptz start
# column (`at:`) works as well.
set -euo pipefail
. "$CHIME_PG_ENV"

db=t_act_pkg_$$
tmp=$(mktemp -d)
createdb "$db"
trap 'dropdb --if-exists "$db" >/dev/null 2>&1; rm -rf "$tmp"' EXIT

fail() { echo "not ok - $*" >&2; exit 1; }
q() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }
expect_eq() { [ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"; echo "ok - $3"; }

psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$CHIME_SOURCE_DIR/config/sql/packages.sql" >/dev/null
q "INSERT INTO special_packages (id, name, scheduled, schedule_date, schedule_time,
	auto_activate, auto_deactivate, is_active, valid_until, updated_at) VALUES
	(1, 'New Year', true, '2025-12-31', '09:00', true, true, false, '2026-01-31', '2025-01-01Z'),
	(2, 'Manual', true, '2025-12-31', '09:00', false, true, false, NULL, '2025-01-01Z'),
	(3, 'Keep on', false, NULL, NULL, false, false, true, '2026-01-01', '2025-01-01Z')"

cat >"$tmp/chime.yaml" <<EOF
timezone: Asia/Tbilisi
database: {conninfo: "dbname=$db"}
jobs:
  activate-packages:
    schedule: "* * * * *"
    plugin: activation
    options:
      table: special_packages
      key: id
      label: name
      stamp: updated_at
      activate: {scheduled: scheduled, auto: auto_activate, active: is_active,
                 date: schedule_date, time: schedule_time}
      deactivate: {auto: auto_deactivate, active: is_active, valid_until: valid_until}
  packages-berlin:
    schedule: "* * * * *"
    timezone: Europe/Berlin
    plugin: activation
    options: {table: special_packages, stamp: updated_at}
EOF
run() { "$CHIMECTL" run "$1" --config "$tmp/chime.yaml" --at "$2" "${@:3}" >"$tmp/out" 2>&1 ||
	{ cat "$tmp/out"; fail "run $1 at $2"; }; }
state() { q "SELECT is_active || ',' || scheduled || ',' ||
	to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM special_packages WHERE id = $1"; }

run activate-packages 2025-12-31T08:59:00+04:00
grep -qx "activated: 0" "$tmp/out" || { cat "$tmp/out"; fail "08:59 report"; }
expect_eq "$(state 1)" "false,true,2025-01-01 00:00" "08:59 local: not yet"
run activate-packages 2025-12-31T09:00:00+04:00 --dry-run
grep -qF "1 (New Year) activated" "$tmp/out" || { cat "$tmp/out"; fail "dry run lists package 1"; }
expect_eq "$(state 1)" "false,true,2025-01-01 00:00" "dry run changed nothing"
run activate-packages 2025-12-31T09:00:00+04:00
grep -qF "1 (New Year) activated" "$tmp/out" && grep -qx "activated: 1" "$tmp/out" ||
	{ cat "$tmp/out"; fail "09:00 report"; }
expect_eq "$(state 1)" "true,false,2025-12-31 05:00" "09:00 local: active, unscheduled, stamped"
expect_eq "$(state 2)" "false,true,2025-01-01 00:00" "no auto_activate: left scheduled"
run activate-packages 2025-12-31T09:01:00+04:00
grep -qx "activated: 0" "$tmp/out" || { cat "$tmp/out"; fail "09:01 changes nothing"; }
echo "ok - a second run changes nothing"

run activate-packages 2026-01-31T23:59:00+04:00
expect_eq "$(state 1)" "true,false,2025-12-31 05:00" "valid through the end of 2026-01-31"
expect_eq "$(state 3)" "true,false,2025-01-01 00:00" "no auto_deactivate: left active"
run activate-packages 2026-02-01T00:00:00+04:00
grep -qF "1 (New Year) deactivated" "$tmp/out" || { cat "$tmp/out"; fail "deactivation report"; }
expect_eq "$(state 1)" "false,false,2026-01-31 20:00" "deactivated once 2026-01-31 ended"

# A package that is due and already past its end on the first run ends
# inactive and unscheduled (activation, then deactivation).
q "INSERT INTO special_packages (id, name, scheduled, schedule_date, schedule_time, auto_activate,
	auto_deactivate, is_active, valid_until) VALUES
	(4, 'Missed', true, '2026-01-01', '10:00', true, true, false, '2026-01-15')"
run activate-packages 2026-02-01T00:01:00+04:00
expect_eq "$(q "SELECT is_active || ',' || scheduled FROM special_packages WHERE id = 4")" \
	"false,false" "a start and an end both past: ends inactive"

# DST days in Europe/Berlin.
q "DELETE FROM special_packages;
   INSERT INTO special_packages (id, name, scheduled, schedule_date, schedule_time, auto_activate)
   VALUES (10, 'Gap', true, '2026-03-29', '02:30', true),
	(11, 'Spring 09', true, '2026-03-29', '09:00', true),
	(12, 'Overlap', true, '2026-10-25', '02:30', true)"
run packages-berlin 2026-03-29T00:59:00Z
expect_eq "$(q "SELECT count(*) FROM special_packages WHERE is_active")" "0" \
	"spring: 01:59 CET, the 02:30 start is not due"
run packages-berlin 2026-03-29T01:00:00Z
expect_eq "$(q "SELECT string_agg(id::text, ',') FROM special_packages WHERE is_active")" "10" \
	"spring: the nonexistent 02:30 is due at the jump (03:00 CEST)"
run packages-berlin 2026-03-29T06:59:00Z
expect_eq "$(q "SELECT is_active FROM special_packages WHERE id = 11")" "f" \
	"spring: 08:59 CEST, the 09:00 start is not due"
run packages-berlin 2026-03-29T07:00:00Z
expect_eq "$(q "SELECT is_active FROM special_packages WHERE id = 11")" "t" \
	"spring: 09:00 CEST (07:00Z) activates"
run packages-berlin 2026-10-25T00:29:00Z
expect_eq "$(q "SELECT is_active FROM special_packages WHERE id = 12")" "f" \
	"autumn: 02:29 CEST, not due"
run packages-berlin 2026-10-25T00:30:00Z
expect_eq "$(q "SELECT is_active || ',' || to_char(updated_at AT TIME ZONE 'UTC', 'HH24:MI')
	FROM special_packages WHERE id = 12")" "true,00:30" \
	"autumn: the repeated 02:30 is due at its first occurrence (02:30 CEST)"

# A timestamptz start column.
q "ALTER TABLE special_packages ADD COLUMN starts_at timestamptz;
   INSERT INTO special_packages (id, name, scheduled, auto_activate, starts_at)
   VALUES (20, 'Instant', true, true, '2026-05-01 12:00Z')"
cat >>"$tmp/chime.yaml" <<EOF
  packages-instant:
    schedule: "* * * * *"
    plugin: activation
    options:
      activate: {at: starts_at}
EOF
run packages-instant 2026-05-01T11:59:59Z
expect_eq "$(q "SELECT is_active FROM special_packages WHERE id = 20")" "f" "at: not before"
run packages-instant 2026-05-01T12:00:00Z
expect_eq "$(q "SELECT is_active || ',' || scheduled FROM special_packages WHERE id = 20")" \
	"true,false" "at: activates at the instant"

# Start and end both passed by the time of the run: the real run activates
# and then deactivates the row; the dry run lists exactly those two changes
# (and changes nothing).
q "INSERT INTO special_packages (id, name, scheduled, schedule_date, schedule_time,
	auto_activate, auto_deactivate, is_active, valid_until, updated_at) VALUES
	(30, 'Missed', true, '2026-06-01', '09:00', true, true, false, '2026-06-02', '2025-01-01Z')"
changes() { grep -E '^ *[0-9]+ \(.*\) (activated|deactivated)$|^ *(activated|deactivated): ' "$tmp/out" |
	sed 's/^ *//' | sort; }
run activate-packages 2026-06-05T09:00:00+04:00 --dry-run
dry=$(changes)
grep -qF "30 (Missed) activated" "$tmp/out" && grep -qF "30 (Missed) deactivated" "$tmp/out" ||
	{ cat "$tmp/out"; fail "dry run lists the activation and the deactivation"; }
expect_eq "$(state 30)" "false,true,2025-01-01 00:00" "dry run (start and end passed) changed nothing"
run activate-packages 2026-06-05T09:00:00+04:00
expect_eq "$(changes)" "$dry" "the dry run listed exactly what the real run changed"
expect_eq "$(state 30)" "false,false,2026-06-05 05:00" "start and end passed: activated, then deactivated"
