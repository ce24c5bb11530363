#!/bin/bash
# SPDX-License-Identifier: MIT
# systemd/chimed.service: `systemd-analyze verify` prints nothing (on a
# temp copy whose ExecStart=/ExecReload= paths point at the built
# binaries, since nothing is installed), `systemd-analyze security
# --offline=true` rates its exposure 2.0 or better, and the directives
# the daemon relies on are there. Never boots systemd.
set -eu

: "${CHIME_SOURCE_DIR:?}" "${CHIMED:?}" "${CHIMECTL:?}"
. "$CHIME_SOURCE_DIR/tests/harness/testlib.sh"
unit=$CHIME_SOURCE_DIR/systemd/chimed.service
fail=0
ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; fail=1; }

command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -e "s|/usr/sbin/chimed|$CHIMED|g" -e "s|/usr/bin/chimectl|$CHIMECTL|g" \
	"$unit" >"$tmp/chimed.service"

out=$(systemd-analyze verify --man=no "$tmp/chimed.service" 2>&1) && rc=0 || rc=$?
if [ "$rc" = 0 ] && [ -z "$out" ]; then
	ok "systemd-analyze verify prints nothing"
else
	echo "$out"
	notok "systemd-analyze verify (exit $rc)"
fi

# Make sure verify would notice a broken unit (so the check above is real).
mkdir "$tmp/broken"
sed 's/^Type=notify$/Type=notifyy/' "$tmp/chimed.service" >"$tmp/broken/chimed.service"
if [ -n "$(systemd-analyze verify --man=no "$tmp/broken/chimed.service" 2>&1)" ]; then
	ok "systemd-analyze verify reports a bad Type="
else
	notok "systemd-analyze verify says nothing about Type=notifyy"
fi

sec=$(systemd-analyze security --offline=true "$tmp/chimed.service" 2>&1) || true
level=$(echo "$sec" | sed -n 's/.*Overall exposure level for chimed.service: \([0-9.]*\).*/\1/p')
if [ -z "$level" ]; then
	echo "$sec" | tail -5
	notok "no exposure level from systemd-analyze security"
elif awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }'; then
	ok "exposure level $level (2.0 or better)"
else
	echo "$sec" | grep '✗' || true
	notok "exposure level $level is worse than 2.0"
fi

for d in '^Type=notify$' '^WatchdogSec=' '^ExecReload=' '^Restart=on-failure$' '^User=chime$' \
	'^RuntimeDirectory=chime$' '^StateDirectory=chime$' '^ConfigurationDirectory=chime$' \
	'^LoadCredential=db-password:' '^ProtectSystem=strict$' '^NoNewPrivileges=yes$' \
	'^PrivateTmp=yes$' '^RestrictAddressFamilies=' '^SystemCallFilter=@system-service$'; do
	grep -q "$d" "$unit" && ok "unit has $d" || notok "unit lacks $d"
done
exit $fail
