#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# chimed's command line (DESIGN.md section 11): --version, --help, usage
# errors exit 2, --check prints "configuration OK" or every diagnostic and
# exits 0 or 1, and an invalid configuration at start exits 1.
. "$CHIME_SOURCE_DIR/tests/harness/daemon-lib.sh"

out=$("$CHIMED" --version)
[[ "$out" =~ ^chimed\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "--version printed '$out'"
ok "--version"
"$CHIMED" --help | grep -q -- '--config FILE' || fail "--help lacks --config"
ok "--help"

rc=0; "$CHIMED" --no-such-option 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "unknown option: exit $rc, want 2"
rc=0; "$CHIMED" --log-level loud --check 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "bad --log-level: exit $rc, want 2"
rc=0; "$CHIMED" stray 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "stray argument: exit $rc, want 2"
ok "usage errors exit 2"

write_config <<'YAML'
jobs:
  tick:
    schedule: "* * * * * *"
    plugin: noop
    options: { sleep: 10ms }
YAML
out=$("$CHIMED" --check --config "$CONFIG")
[ "$out" = "configuration OK" ] || fail "--check printed '$out'"
ok "--check on a valid file: configuration OK, exit 0"

write_config <<'YAML'
jobs:
  tick:
    schedule: "* * * * * *"
    plugin: noop
    options: { sleep: soon, loud: true }
  tock:
    schedule: "* * * * * *"
    plugin: nope
YAML
rc=0; err=$("$CHIMED" --check --config "$CONFIG" 2>&1) || rc=$?
[ "$rc" = 1 ] || fail "--check on a bad file: exit $rc, want 1"
for re in "chime\.yaml:5:[0-9]+: error: jobs\.tick\.options\.sleep: " \
	"chime\.yaml:5:[0-9]+: error: jobs\.tick\.options(\.loud)?: .*loud" \
	"chime\.yaml:[0-9]+:[0-9]+: error: jobs\.tock\.plugin: unknown plugin 'nope'"; do
	grep -Eq -- "$re" <<<"$err" || fail "--check output lacks /$re/: $err"
done
! grep -q 'configuration OK' <<<"$err" || fail "--check said OK on a bad file"
ok "--check on a bad file: every diagnostic with file:line:col, exit 1"

rc=0; "$CHIMED" --check --config "$TMP/missing.yaml" >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "--check on a missing file: exit $rc, want 1"
rc=0; "$CHIMED" --check --config "$TMP" >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "--check on a directory: exit $rc, want 1"
ok "--check on a missing file or a directory: exit 1"

rc=0; "$CHIMED" --config "$CONFIG" >"$CHIMED_LOG" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "start with a bad file: exit $rc, want 1"
grep -q "cannot start: configuration '$CONFIG' is invalid" "$CHIMED_LOG" || fail "no reason logged"
ok "start with an invalid configuration: exit 1"
