#!/bin/bash
# SPDX-License-Identifier: MIT
# chimed's structured journal fields, in a private journald: in a mount
# namespace of its own (unshare --mount), a tmpfs over /run/systemd/journal
# and /run/log and a bind-mounted journald.conf (volatile storage, nothing
# forwarded, no kmsg), /lib/systemd/systemd-journald is started by the test;
# chimed runs two jobs every second with JOURNAL_STREAM naming its stderr,
# so log.c sends native journal entries. `journalctl --directory=DIR
# CHIME_JOB=x` must return exactly job x's lines. No database: every slot
# logs "not claimed", which carries the job's fields like any run line.
# Skipped, with a message, where unshare or journald is not available.
set -eu

: "${CHIMED:?}" "${CHIME_SOURCE_DIR:?}"
. "$CHIME_SOURCE_DIR/tests/harness/testlib.sh"
journald=/lib/systemd/systemd-journald

if [ "${1:-}" != --inside ]; then
	if [ ! -x "$journald" ] || ! command -v journalctl >/dev/null; then
		skip "$journald or journalctl is not installed"
	fi
	if [ "$(id -u)" != 0 ] || ! unshare --mount true 2>/dev/null; then
		skip "unshare --mount is not permitted here (needs root or user namespaces)"
	fi
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	unshare --mount bash "$0" --inside "$tmp"
	exit $? # 77 when the inside skipped
fi

# ---- inside the private mount namespace --------------------------------
tmp=$2
fail=0
ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; fail=1; }

mount --make-rprivate /
mkdir -p /run/systemd/journal /run/log
mount -t tmpfs tmpfs /run/systemd/journal
mount -t tmpfs tmpfs /run/log
cat >"$tmp/journald.conf" <<'CONF'
[Journal]
Storage=volatile
RateLimitIntervalSec=0
ReadKMsg=no
ForwardToSyslog=no
ForwardToKMsg=no
ForwardToConsole=no
ForwardToWall=no
CONF
if [ -e /etc/systemd/journald.conf ]; then
	mount --bind "$tmp/journald.conf" /etc/systemd/journald.conf
else
	skip "no /etc/systemd/journald.conf to bind our settings over"
fi

"$journald" >"$tmp/journald.log" 2>&1 &
jpid=$!
trap 'kill $jpid 2>/dev/null; wait $jpid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
	[ -S /run/systemd/journal/socket ] && break
	sleep 0.05
done
if [ ! -S /run/systemd/journal/socket ]; then
	cat "$tmp/journald.log"
	skip "the private journald did not create its socket"
fi
machine=$(cat /etc/machine-id 2>/dev/null || true)
dir=/run/log/journal/$machine
[ -n "$machine" ] || skip "no /etc/machine-id"

cat >"$tmp/chime.yaml" <<'YAML'
timezone: UTC
node: journal-test
control_socket: ""
database: { conninfo: "host=/nonexistent dbname=none", connect_timeout: 1s }
jobs:
  x:
    schedule: "* * * * * *"
    plugin: noop
  y:
    schedule: "* * * * * *"
    plugin: noop
YAML

# log.c writes to the journal when JOURNAL_STREAM names its stderr.
: >"$tmp/stderr"
JOURNAL_STREAM=$(stat -c '%d:%i' "$tmp/stderr") timeout -s TERM 3.5 \
	"$CHIMED" --config "$tmp/chime.yaml" 2>"$tmp/stderr" || true
# journald writes what it received asynchronously, later still on a loaded
# machine: wait until both jobs' lines are readable (or 15 s pass).
for _ in $(seq 150); do
	if [ "$(journalctl --directory="$dir" -o cat CHIME_JOB=x 2>/dev/null | grep -c .)" -ge 2 ] &&
		[ "$(journalctl --directory="$dir" -o cat CHIME_JOB=y 2>/dev/null | grep -c .)" -ge 1 ]; then
		break
	fi
	sleep 0.1
done

jx=$(journalctl --directory="$dir" -o cat CHIME_JOB=x)
jy=$(journalctl --directory="$dir" -o cat CHIME_JOB=y)
all=$(journalctl --directory="$dir" -o cat SYSLOG_IDENTIFIER=chimed)
nx=$(printf '%s\n' "$jx" | grep -c . || true)
ny=$(printf '%s\n' "$jy" | grep -c . || true)
all_x=$(printf '%s\n' "$all" | grep -c "^job 'x' " || true)

if [ "$nx" -ge 2 ]; then
	ok "CHIME_JOB=x: $nx lines"
else
	echo "$all" | head
	notok "CHIME_JOB=x returned $nx lines, want at least 2 (one per second)"
fi
if [ -z "$(printf '%s\n' "$jx" | grep -v "^job 'x' (noop): " || true)" ]; then
	ok "every CHIME_JOB=x line is job x's"
else
	notok "CHIME_JOB=x returned other lines: $(printf '%s\n' "$jx" | grep -v "^job 'x' " | head -3)"
fi
[ "$nx" = "$all_x" ] && ok "all $all_x of job x's lines carry CHIME_JOB=x" ||
	notok "$all_x lines name job x, $nx carry CHIME_JOB=x"
[ "$ny" -ge 2 ] && ok "CHIME_JOB=y: $ny lines of its own" || notok "CHIME_JOB=y returned $ny lines"
if [ -n "$(printf '%s\n' "$all" | grep -F 'chimed 0' || true)" ] &&
	[ -z "$(journalctl --directory="$dir" -o cat CHIME_JOB=x + CHIME_JOB=y | grep -F 'ready' || true)" ]; then
	ok "daemon lines (ready) carry no CHIME_JOB"
else
	notok "daemon lines missing or tagged with a job"
fi
fields=$(journalctl --directory="$dir" -o verbose CHIME_JOB=x -n 1)
for f in CHIME_PLUGIN=noop CHIME_SCHEDULED_FOR= PRIORITY=4 SYSLOG_IDENTIFIER=chimed; do
	echo "$fields" | grep -q "^    $f" && ok "job x's entry has $f" || notok "no $f in: $fields"
done
slots=$(journalctl --directory="$dir" -o json CHIME_JOB=x |
	grep -o '"CHIME_SCHEDULED_FOR":"[^"]*"' | sort | uniq -d)
[ -z "$slots" ] && ok "one line per slot of x" || notok "repeated slots: $slots"
[ ! -s "$tmp/stderr" ] && ok "nothing on stderr (all went to the journal)" ||
	notok "stderr got: $(head -2 "$tmp/stderr")"
exit $fail
