#!/bin/bash
# SPDX-License-Identifier: MIT
# The exec drop-in docs/operations.md shows ("exec jobs under the
# sandbox"): placed beside the unit, `systemd-analyze verify` accepts unit
# plus drop-in without a word, and it really is read (a misspelt copy is
# reported). Never boots systemd.
set -eu

: "${CHIME_SOURCE_DIR:?}" "${CHIME_BUILD_DIR:?}" "${CHIMED:?}" "${CHIMECTL:?}"
. "$CHIME_SOURCE_DIR/tests/harness/testlib.sh"

command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The unit as `cmake --install --prefix /usr` writes it, pointed at the
# built binaries.
DESTDIR=$tmp/root cmake --install "$CHIME_BUILD_DIR" --prefix /usr >"$tmp/install.log"
unit=$(find "$tmp/root" -name chimed.service | head -1)
[ -n "$unit" ] || { not_ok "cmake --install wrote chimed.service"; finish; }
sed -e "s|/usr/sbin/chimed|$CHIMED|g" -e "s|/usr/bin/chimectl|$CHIMECTL|g" "$unit" >"$tmp/chimed.service"

# The block after the marker, between its ```ini fence and the closing one.
awk '/<!-- dropin:exec/ { m = 1; next } m && /^```ini/ { p = 1; next } p && /^```/ { exit } p' \
	"$CHIME_SOURCE_DIR/docs/operations.md" >"$tmp/exec.conf"
grep -q '^\[Service\]' "$tmp/exec.conf" || { not_ok "a drop-in block in docs/operations.md"; finish; }
mkdir "$tmp/chimed.service.d"
cp "$tmp/exec.conf" "$tmp/chimed.service.d/exec.conf"

out=$(systemd-analyze verify --man=no "$tmp/chimed.service" 2>&1) || true
expect_eq "systemd-analyze verify of the unit with the documented exec drop-in" "$out" ""

sed 's/^ReadWritePaths=/ReadWritePathz=/' "$tmp/exec.conf" >"$tmp/chimed.service.d/exec.conf"
out=$(systemd-analyze verify --man=no "$tmp/chimed.service" 2>&1) || true
case $out in
*ReadWritePathz*) ok "a misspelt key in the drop-in is reported (so the drop-in is read)" ;;
*) not_ok "a misspelt key in the drop-in is reported: got '$out'" ;;
esac
finish
