#!/bin/bash
# SPDX-License-Identifier: MIT
# The units `cmake --install --prefix /usr` writes from
# systemd/chimed.service.in (chimed.service and an instance of the
# template chimed@.service): `systemd-analyze verify` prints nothing (on
# copies whose ExecStart=/ExecReload= point at the built binaries, since
# nothing is installed in /usr), `systemd-analyze security --offline=true`
# rates each 2.0 or better, and the directives the daemon relies on are
# there. Never boots systemd.
set -eu

: "${CHIME_SOURCE_DIR:?}" "${CHIME_BUILD_DIR:?}" "${CHIMED:?}" "${CHIMECTL:?}"
. "$CHIME_SOURCE_DIR/tests/harness/testlib.sh"
fail=0
ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; fail=1; }

command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
DESTDIR=$tmp/root cmake --install "$CHIME_BUILD_DIR" --prefix /usr >"$tmp/install.log"
unitdir=$(dirname "$(find "$tmp/root" -name chimed.service | head -1)")
sed -e "s|/usr/sbin/chimed|$CHIMED|g" -e "s|/usr/bin/chimectl|$CHIMECTL|g" \
	"$unitdir/chimed.service" >"$tmp/chimed.service"
sed -e "s|/usr/sbin/chimed|$CHIMED|g" -e "s|/usr/bin/chimectl|$CHIMECTL|g" \
	"$unitdir/chimed@.service" >"$tmp/chimed@billing.service"
unit=$tmp/chimed.service

for u in chimed.service chimed@billing.service; do
	out=$(systemd-analyze verify --man=no "$tmp/$u" 2>&1) && rc=0 || rc=$?
	if [ "$rc" = 0 ] && [ -z "$out" ]; then
		ok "$u: systemd-analyze verify prints nothing"
	else
		echo "$out"
		notok "$u: systemd-analyze verify (exit $rc)"
	fi
	sec=$(systemd-analyze security --offline=true "$tmp/$u" 2>&1) || true
	level=$(echo "$sec" | sed -n "s/.*Overall exposure level for $u: \([0-9.]*\).*/\1/p")
	if [ -z "$level" ]; then
		echo "$sec" | tail -5
		notok "$u: no exposure level from systemd-analyze security"
	elif awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }'; then
		ok "$u: exposure level $level (2.0 or better)"
	else
		echo "$sec" | grep '✗' || true
		notok "$u: exposure level $level is worse than 2.0"
	fi
done

# Each credential drop-in docs/operations.md shows ("Credentials"):
# verify accepts unit plus drop-in without a word.
awk '/^## Credentials/ { c = 1; next } /^## / { c = 0 } c && /^```ini/ { n++; p = 1; next }
	p && /^```/ { p = 0; next } p { print > (dir "/cred-" n ".conf") }' \
	dir="$tmp" "$CHIME_SOURCE_DIR/docs/operations.md"
n=0
for dropin in "$tmp"/cred-*.conf; do
	[ -f "$dropin" ] || continue
	n=$((n + 1))
	rm -rf "$tmp/chimed.service.d"
	mkdir "$tmp/chimed.service.d"
	cp "$dropin" "$tmp/chimed.service.d/"
	out=$(systemd-analyze verify --man=no "$tmp/chimed.service" 2>&1) || true
	if [ -z "$out" ] && grep -q '^LoadCredential' "$dropin"; then
		ok "credential drop-in $n of docs/operations.md verifies"
	else
		echo "$out"
		notok "credential drop-in $n of docs/operations.md: $(grep -m1 '^LoadCredential' "$dropin")"
	fi
done
rm -rf "$tmp/chimed.service.d"
[ "$n" = 3 ] && ok "docs/operations.md shows a drop-in per credential" ||
	notok "docs/operations.md shows $n credential drop-ins, want 3"

# Make sure verify would notice a broken unit (so the check above is real).
mkdir "$tmp/broken"
sed 's/^Type=notify$/Type=notifyy/' "$tmp/chimed.service" >"$tmp/broken/chimed.service"
if [ -n "$(systemd-analyze verify --man=no "$tmp/broken/chimed.service" 2>&1)" ]; then
	ok "systemd-analyze verify reports a bad Type="
else
	notok "systemd-analyze verify says nothing about Type=notifyy"
fi

for d in '^Type=notify$' '^WatchdogSec=' '^ExecReload=' '^Restart=on-failure$' '^User=chime$' \
	'^RuntimeDirectory=chime$' '^StateDirectory=chime$' \
	'^LoadCredential=db-password:chimed.db-password$' '^ProtectSystem=strict$' \
	'^NoNewPrivileges=yes$' '^PrivateTmp=yes$' '^RestrictAddressFamilies=' \
	'^SystemCallFilter=@system-service$'; do
	grep -q "$d" "$unit" && ok "chimed.service has $d" || notok "chimed.service lacks $d"
done
for d in '^RuntimeDirectory=chime-%i$' '^StateDirectory=chime/%i$' \
	'^LoadCredential=db-password:chimed@%i.db-password$' '--socket /run/chime-%i/control.sock$'; do
	grep -q -- "$d" "$unitdir/chimed@.service" && ok "chimed@.service has $d" ||
		notok "chimed@.service lacks $d"
done
exit $fail
