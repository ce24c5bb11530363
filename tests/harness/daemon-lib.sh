# SPDX-License-Identifier: MIT
#
# Helpers for the tests/integration/daemon-*.sh tests, sourced by them:
# a temp dir removed on exit, a notify socket read by notify_listen.py,
# the real $CHIMED started against a config in that dir, and polling waits
# (testlib.sh's, which it sources, and wait_for below).
#
#   . "$CHIME_SOURCE_DIR/tests/harness/daemon-lib.sh"
#   write_config <<'YAML' ... YAML
#   start_chimed;  wait_for "$NOTIFY_LOG" '^READY=1'
#
# $TMP, $CONFIG, $NOTIFY_LOG, $CHIMED_LOG and $CHIMED_PID are set for the test.
set -euo pipefail

: "${CHIMED:?CHIMED must name the chimed binary}"
: "${CHIME_SOURCE_DIR:?}"
. "$CHIME_SOURCE_DIR/tests/harness/testlib.sh"

TMP=$(mktemp -d /tmp/chime-daemon-test.XXXXXX)
CONFIG=$TMP/chime.yaml
NOTIFY_SOCK=$TMP/notify.sock
NOTIFY_LOG=$TMP/notify.log
CHIMED_LOG=$TMP/chimed.log
CHIMED_PID=
LISTENER_PID=

cleanup() {
	local rc=$?
	if [ -n "$CHIMED_PID" ] && kill -0 "$CHIMED_PID" 2>/dev/null; then
		kill -KILL "$CHIMED_PID" 2>/dev/null || true
	fi
	if [ -n "$LISTENER_PID" ]; then
		kill "$LISTENER_PID" 2>/dev/null || true
	fi
	if [ "$rc" != 0 ]; then
		echo "--- chimed log ($CHIMED_LOG)"; cat "$CHIMED_LOG" 2>/dev/null || true
		echo "--- notify messages"; cat "$NOTIFY_LOG" 2>/dev/null || true
	fi
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

write_config() {
	cat >"$CONFIG.tmp"
	mv "$CONFIG.tmp" "$CONFIG"
}

start_listener() {
	/usr/bin/python3 "$CHIME_SOURCE_DIR/tests/harness/notify_listen.py" "$NOTIFY_SOCK" \
		>"$NOTIFY_LOG" &
	LISTENER_PID=$!
	for _ in $(seq 1 100); do
		[ -S "$NOTIFY_SOCK" ] && return 0
		sleep 0.05
	done
	fail "notify listener did not bind $NOTIFY_SOCK"
}

# start_chimed [ARGS...]: run chimed in the background on $CONFIG.
start_chimed() {
	[ -n "$LISTENER_PID" ] || start_listener
	NOTIFY_SOCKET=$NOTIFY_SOCK "$CHIMED" --config "$CONFIG" "$@" >"$CHIMED_LOG" 2>&1 &
	CHIMED_PID=$!
}

# wait_for FILE REGEX [SECONDS]: until a line of FILE matches (grep -E),
# else the test fails.
wait_for() {
	wait_log "${3:-10}" "$1" "$2" 2>/dev/null || fail "no line matching '$2' in $1 within ${3:-10}s"
}

# count FILE REGEX: number of matching lines.
count() {
	grep -Ec -- "$2" "$1" 2>/dev/null || true
}

# line_no FILE REGEX: number of the first line matching after line $3 (default 0).
line_no() {
	awk -v re="$2" -v after="${3:-0}" 'NR > after && $0 ~ re { print NR; exit }' "$1"
}

# wait_exit SECONDS: wait for chimed to exit; sets EXIT_CODE and ELAPSED_MS.
wait_exit() {
	local secs=$1 start end
	start=$(date +%s%N)
	for _ in $(seq 1 $((secs * 50))); do
		kill -0 "$CHIMED_PID" 2>/dev/null || break
		sleep 0.02
	done
	kill -0 "$CHIMED_PID" 2>/dev/null && fail "chimed still running after ${secs}s"
	EXIT_CODE=0
	wait "$CHIMED_PID" || EXIT_CODE=$?
	end=$(date +%s%N)
	ELAPSED_MS=$(((end - start) / 1000000))
	CHIMED_PID=
}
