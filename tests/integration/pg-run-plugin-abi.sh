#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Third-party plugins through chimectl run: the example .so with the right
# ABI runs and is recorded; one built for another ABI version is refused
# with a clear message naming the file and both versions, and nothing is
# recorded for it.
set -euo pipefail
. "$CHIME_PG_ENV"

db=t_run_abi_$$
tmp=$(mktemp -d)
createdb "$db"
trap 'dropdb --if-exists "$db" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
fail() { echo "not ok - $*" >&2; exit 1; }
q() { psql -X -A -t -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }
plugins="$CHIME_BUILD_DIR/tests/plugins"
[ -f "$plugins/goodabi.so" ] && [ -f "$plugins/badabi.so" ] || fail "test plugins not built in $plugins"

cat >"$tmp/chime.yaml" <<EOF
timezone: UTC
database:
  conninfo: "dbname=$db"
jobs:
  good:
    schedule: "0 * * * *"
    plugin_path: $plugins/goodabi.so
EOF
"$CHIMECTL" run good --config "$tmp/chime.yaml" --at 2026-01-01T10:00:00Z >"$tmp/out" 2>"$tmp/err" ||
	{ cat "$tmp/out" "$tmp/err"; fail "the right-ABI plugin did not run"; }
[ "$(q "SELECT status FROM chime.runs WHERE job = 'good'")" = succeeded ] || fail "good run not recorded"
echo "ok - a plugin .so with the right ABI runs and is recorded"

cat >"$tmp/bad.yaml" <<EOF
timezone: UTC
database:
  conninfo: "dbname=$db"
jobs:
  bad:
    schedule: "0 * * * *"
    plugin_path: $plugins/badabi.so
EOF
if "$CHIMECTL" run bad --config "$tmp/bad.yaml" --at 2026-01-01T10:00:00Z >"$tmp/out" 2>"$tmp/err"; then
	fail "a wrong-ABI plugin ran"
fi
grep -q "badabi.so" "$tmp/err" && grep -qi "abi" "$tmp/err" && grep -q "7" "$tmp/err" ||
	{ cat "$tmp/err"; fail "the refusal does not name the file and the ABI versions"; }
grep -Eq "bad\.yaml:[0-9]+:[0-9]+:" "$tmp/err" || { cat "$tmp/err"; fail "no YAML position"; }
[ "$(q "SELECT count(*) FROM chime.runs WHERE job = 'bad'")" = 0 ] || fail "the refused job was recorded"
echo "ok - a wrong-ABI plugin is refused: $(grep -i abi "$tmp/err" | head -1)"
