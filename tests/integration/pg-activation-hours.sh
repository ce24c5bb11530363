#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Seed 001's active hours on the reference promo_codes table: MORNING10 is
# active 06:00-09:00 Asia/Kolkata (+05:30): in_active_hours is true at
# 06:00, false at 05:59 and at 09:01 (the checklist), true through the
# minute of the end (09:00:30), as the seed compares HH:MM; its all-day
# default 00:00-23:59 is true at 23:59:30. A window crossing midnight
# (22:00-02:00 in America/New_York) is true at 23:00 and 02:00:30 and false
# at 02:01 and 21:59. A row with a zone that does not exist is reported by key, the run
# fails naming job, table and column, and every other row is still
# processed; a disabled window is left alone. A dry run lists and changes
# nothing. The same on Django-style names with text times.
set -euo pipefail
. "$CHIME_PG_ENV"

db=t_act_hours_$$
tmp=$(mktemp -d)
createdb "$db"
trap 'dropdb --if-exists "$db" >/dev/null 2>&1; rm -rf "$tmp"' EXIT

fail() { echo "not ok - $*" >&2; exit 1; }
q() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }
expect_eq() { [ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"; echo "ok - $3"; }

psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$CHIME_SOURCE_DIR/config/sql/codes.sql" >/dev/null
q "INSERT INTO promo_codes (code, active_hours_enabled, active_hours_start, active_hours_end,
	active_hours_timezone, in_active_hours) VALUES
	('MORNING10', true, '06:00', '09:00', 'Asia/Kolkata', true),
	('NIGHT', true, '22:00', '02:00', 'America/New_York', true),
	('ALWAYS', false, '06:00', '09:00', 'Asia/Kolkata', true),
	('ALLDAY', true, '00:00', '23:59', 'UTC', false)"

cat >"$tmp/chime.yaml" <<EOF
timezone: UTC
database: {conninfo: "dbname=$db"}
jobs:
  promo-active-hours:
    schedule: "* * * * *"
    plugin: activation
    options:
      table: promo_codes
      key: code
      windows: {enabled: active_hours_enabled, start: active_hours_start, end: active_hours_end,
                zone: active_hours_timezone, active: in_active_hours}
EOF
run() { "$CHIMECTL" run promo-active-hours --config "$tmp/chime.yaml" --at "$@" >"$tmp/out" 2>&1; }
flag() { q "SELECT in_active_hours FROM promo_codes WHERE code = '$1'"; }
at_ok() { run "$@" || { cat "$tmp/out"; fail "run at $1"; }; }

at_ok 2026-03-10T05:59:00+05:30
expect_eq "$(flag MORNING10)" "f" "05:59 IST: MORNING10 inactive"
grep -qF "MORNING10 outside active hours" "$tmp/out" || { cat "$tmp/out"; fail "report at 05:59"; }
at_ok 2026-03-10T06:00:00+05:30 --dry-run
grep -qF "MORNING10 inside active hours" "$tmp/out" || { cat "$tmp/out"; fail "dry run at 06:00"; }
expect_eq "$(flag MORNING10)" "f" "dry run changed nothing"
at_ok 2026-03-10T06:00:00+05:30
expect_eq "$(flag MORNING10)" "t" "06:00 IST: MORNING10 active"
at_ok 2026-03-10T08:59:00+05:30
expect_eq "$(flag MORNING10)" "t" "08:59 IST: still active"
if grep -q MORNING10 "$tmp/out"; then cat "$tmp/out"; fail "MORNING10 unchanged inside its window"; fi
# (03:29Z is 23:29 in New York: NIGHT's window opened meanwhile.)
grep -qF "NIGHT inside active hours" "$tmp/out" || { cat "$tmp/out"; fail "NIGHT opened"; }
at_ok 2026-03-10T09:00:30+05:30
expect_eq "$(flag MORNING10)" "t" "09:00:30 IST: the end's minute is inside (the seed's HH:MM)"
at_ok 2026-03-10T09:01:00+05:30
expect_eq "$(flag MORNING10)" "f" "09:01 IST: MORNING10 inactive"
expect_eq "$(flag ALWAYS)" "t" "a disabled window is left alone"

# Crossing midnight in New York (EDT, -04:00, on 2026-06-10).
for t in "2026-06-10T21:59:00-04:00 f" "2026-06-10T22:00:00-04:00 t" "2026-06-10T23:00:00-04:00 t" \
	"2026-06-11T02:00:30-04:00 t" "2026-06-11T02:01:00-04:00 f"; do
	set -- $t
	at_ok "$1"
	expect_eq "$(flag NIGHT)" "$2" "22:00-02:00 New York at $1"
done

# The seed's all-day default 00:00-23:59 has no gap at 23:59.
for t in 2026-06-10T23:59:30Z 2026-06-11T00:00:00Z; do
	at_ok "$t"
	expect_eq "$(flag ALLDAY)" "t" "00:00-23:59 UTC active at $t"
done

# A zone that does not exist: reported, the run fails naming job, table,
# column; the other rows are processed all the same.
q "INSERT INTO promo_codes (code, active_hours_enabled, active_hours_start, active_hours_end,
	active_hours_timezone, in_active_hours) VALUES
	('MARS', true, '06:00', '09:00', 'Mars/Olympus_Mons', false)"
if run 2026-06-11T06:30:00+05:30; then cat "$tmp/out"; fail "a bad zone row passes"; fi
grep -qF "MARS skipped: table 'promo_codes' column 'active_hours_timezone' (option windows.zone): unknown time zone 'Mars/Olympus_Mons'" "$tmp/out" ||
	{ cat "$tmp/out"; fail "bad zone row reported"; }
grep -qF "job 'promo-active-hours': table 'promo_codes' column 'active_hours_timezone'" "$tmp/out" ||
	{ cat "$tmp/out"; fail "failure names job, table, column"; }
expect_eq "$(flag MORNING10)" "t" "the other rows were processed"
expect_eq "$(flag MARS)" "f" "the bad row was not touched"

# Django-style names with text times ('HH:MM' strings, as seed 001 stores
# them) and a malformed time in one row.
q "CREATE TABLE main_promocode (id serial PRIMARY KEY, code varchar(32) UNIQUE,
	ah_enabled boolean, ah_start varchar(5), ah_end varchar(5), ah_tz varchar(64),
	usable_now boolean);
   INSERT INTO main_promocode (code, ah_enabled, ah_start, ah_end, ah_tz, usable_now) VALUES
	('MORNING10', true, '06:00', '09:00', 'Asia/Kolkata', false),
	('BROKEN', true, '6 am', '09:00', 'Asia/Kolkata', false)"
cat >>"$tmp/chime.yaml" <<EOF
  django-hours:
    schedule: "* * * * *"
    plugin: activation
    options:
      table: main_promocode
      windows: {enabled: ah_enabled, start: ah_start, end: ah_end, zone: ah_tz, active: usable_now}
EOF
if "$CHIMECTL" run django-hours --config "$tmp/chime.yaml" --at 2026-03-10T06:00:00+05:30 \
	>"$tmp/out" 2>&1; then cat "$tmp/out"; fail "a malformed time passes"; fi
grep -qF "'6 am'/'09:00' is not a time of day" "$tmp/out" || { cat "$tmp/out"; fail "bad time reported"; }
expect_eq "$(q "SELECT string_agg(code || ':' || usable_now, ',' ORDER BY id) FROM main_promocode")" \
	"MORNING10:true,BROKEN:false" "Django names: MORNING10 active at 06:00, BROKEN untouched"

# Missing column and wrong type: the run fails before changing anything.
cat >>"$tmp/chime.yaml" <<EOF
  no-column:
    schedule: "* * * * *"
    plugin: activation
    options: {table: main_promocode, windows: {enabled: ah_enabled, start: ah_start, end: ah_end, zone: ah_zone, active: usable_now}}
  bad-type:
    schedule: "* * * * *"
    plugin: activation
    options: {table: main_promocode, windows: {enabled: ah_start, start: ah_start, end: ah_end, zone: ah_tz, active: usable_now}}
EOF
if "$CHIMECTL" run no-column --config "$tmp/chime.yaml" >"$tmp/out" 2>&1; then fail "missing column passes"; fi
grep -qF "job 'no-column': table 'main_promocode' has no column 'ah_zone' (option windows.zone)" "$tmp/out" ||
	{ cat "$tmp/out"; fail "missing column message"; }
if "$CHIMECTL" run bad-type --config "$tmp/chime.yaml" >"$tmp/out" 2>&1; then fail "wrong type passes"; fi
grep -qF "job 'bad-type': table 'main_promocode' column 'ah_start' (option windows.enabled) has type character varying(5), expected boolean" "$tmp/out" ||
	{ cat "$tmp/out"; fail "wrong type message"; }
echo "ok - bad input named with job, table and column"
