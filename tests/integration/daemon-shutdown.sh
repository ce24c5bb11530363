#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Stopping the real chimed: a run that outlives shutdown_timeout is
# cancelled when the timeout ends and chimed exits 0 soon after; a run that
# finishes in time is waited for; a second SIGTERM exits at once.
. "$CHIME_SOURCE_DIR/tests/harness/daemon-lib.sh"

# 1. A 60 s run and shutdown_timeout 2s: cancelled at 2 s, exit 0.
write_config <<'YAML'
shutdown_timeout: 2s
jobs:
  long:
    schedule: "* * * * * *"
    plugin: noop
    options: { sleep: 60s }
YAML
start_chimed
wait_for "$NOTIFY_LOG" '^READY=1' 10
wait_for "$CHIMED_LOG" "job 'long' \(noop\): run of .* started" 5
kill -TERM "$CHIMED_PID"
wait_exit 6
wait_for "$NOTIFY_LOG" '^STOPPING=1' 1
[ "$EXIT_CODE" = 0 ] || fail "exit status $EXIT_CODE"
grep -Eq "job 'long' \(noop\): run of .* cancelled after .*: shutting down" "$CHIMED_LOG" ||
	fail "the long run was not logged as cancelled"
[ "$ELAPSED_MS" -ge 1900 ] || fail "exited after ${ELAPSED_MS} ms, before the shutdown timeout"
[ "$ELAPSED_MS" -le 3500 ] || fail "exited after ${ELAPSED_MS} ms, long after the 2 s timeout"
! grep -Eq "job 'long' .* started" <(sed -n '/stopping/,$p' "$CHIMED_LOG") ||
	fail "a run started after SIGTERM"
ok "run longer than shutdown_timeout: cancelled, exit 0 after ${ELAPSED_MS} ms"

# 2. A run that ends within the timeout is waited for and succeeds.
write_config <<'YAML'
shutdown_timeout: 10s
jobs:
  short:
    schedule: "* * * * * *"
    plugin: noop
    options: { sleep: 1500ms }
YAML
: >"$NOTIFY_LOG"
start_chimed
wait_for "$CHIMED_LOG" "job 'short' \(noop\): run of .* started" 5
kill -TERM "$CHIMED_PID"
wait_exit 6
[ "$EXIT_CODE" = 0 ] || fail "exit status $EXIT_CODE"
grep -Eq "job 'short' \(noop\): run of .* finished in" "$CHIMED_LOG" ||
	fail "the run was not waited for"
ok "run shorter than shutdown_timeout: finished, exit 0 after ${ELAPSED_MS} ms"

# 3. A second SIGTERM exits at once.
write_config <<'YAML'
shutdown_timeout: 30s
jobs:
  long:
    schedule: "* * * * * *"
    plugin: noop
    options: { sleep: 60s }
YAML
start_chimed
wait_for "$CHIMED_LOG" "job 'long' \(noop\): run of .* started" 5
kill -TERM "$CHIMED_PID"
wait_for "$CHIMED_LOG" 'stopping, waiting up to 30s' 5
kill -TERM "$CHIMED_PID"
wait_exit 2
[ "$ELAPSED_MS" -le 1000 ] || fail "second SIGTERM took ${ELAPSED_MS} ms"
[ "$EXIT_CODE" = 1 ] || fail "exit status $EXIT_CODE after a second SIGTERM (want 1)"
grep -q 'again: exiting at once, abandoning 1 run' "$CHIMED_LOG" || fail "no log line"
ok "second SIGTERM: exit 1 at once (${ELAPSED_MS} ms)"

# 4. SIGINT behaves as SIGTERM; with WATCHDOG_USEC set chimed pings at
# half of it from the loop.
write_config <<'YAML'
jobs:
  tick:
    schedule: "* * * * * *"
    plugin: noop
YAML
: >"$NOTIFY_LOG"
WATCHDOG_USEC=400000 start_chimed
wait_for "$CHIMED_LOG" "job 'tick' \(noop\): run of .* finished" 5
watchdogs() { [ "$(count "$NOTIFY_LOG" '^WATCHDOG=1$')" -ge "$1" ]; }
wait_until 1 watchdogs 3 || fail "fewer than 3 WATCHDOG=1 in 1 s"
ok "WATCHDOG=1 at half of WATCHDOG_USEC"
kill -INT "$CHIMED_PID"
wait_exit 5
[ "$EXIT_CODE" = 0 ] || fail "exit status $EXIT_CODE after SIGINT"
ok "SIGINT: exit 0"
