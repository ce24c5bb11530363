#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The sd_notify sequence of the real chimed and what a reload does:
# READY once loaded; SIGHUP with a valid change: RELOADING (with
# MONOTONIC_USEC) then READY, and the new job fires; SIGHUP with a broken
# file: the old jobs keep firing, every diagnostic is logged with
# file:line:col, STATUS says so; SIGTERM: STOPPING and exit 0.
. "$CHIME_SOURCE_DIR/tests/harness/daemon-lib.sh"

write_config <<'YAML'
shutdown_timeout: 5s
jobs:
  alpha:
    schedule: "* * * * * *"
    plugin: noop
YAML

start_chimed
wait_for "$NOTIFY_LOG" '^READY=1' 10
ok "READY=1 after start"
wait_for "$NOTIFY_LOG" "STATUS=1 jobs, next 'alpha' at " 5
ok "STATUS names the jobs and the next one"
wait_for "$CHIMED_LOG" "^<6>job 'alpha' \(noop\): run of .* finished" 5
ok "alpha fires every second"

# A valid change: a second job.
write_config <<'YAML'
shutdown_timeout: 5s
jobs:
  alpha:
    schedule: "* * * * * *"
    plugin: noop
  bravo:
    schedule: "* * * * * *"
    plugin: noop
YAML
ready_before=$(count "$NOTIFY_LOG" '^READY=1')
kill -HUP "$CHIMED_PID"
wait_for "$NOTIFY_LOG" '^RELOADING=1 .*MONOTONIC_USEC=[0-9]+' 5
reloading=$(line_no "$NOTIFY_LOG" '^RELOADING=1')
wait_for "$NOTIFY_LOG" '^READY=1' 5
[ "$(count "$NOTIFY_LOG" '^READY=1')" -gt "$ready_before" ] || fail "no READY=1 after the reload"
ready=$(line_no "$NOTIFY_LOG" '^READY=1' "$reloading")
[ -n "$ready" ] || fail "READY=1 did not follow RELOADING=1"
ok "SIGHUP: RELOADING=1 + MONOTONIC_USEC, then READY=1"
wait_for "$CHIMED_LOG" 'reloaded: 2 jobs \(1 kept, 0 changed, 1 added, 0 removed\)' 5
wait_for "$CHIMED_LOG" "^<6>job 'bravo' \(noop\): run of .* finished" 5
ok "the new job fires after the reload"

# A broken file: an unknown plugin and an out-of-range field.
write_config <<'YAML'
shutdown_timeout: 5s
jobs:
  alpha:
    schedule: "* * * * * *"
    plugin: noop
  charlie:
    schedule: "* * 61 * * *"
    plugin: noop
  delta:
    schedule: "* * * * * *"
    plugin: nope
YAML
kill -HUP "$CHIMED_PID"
wait_for "$CHIMED_LOG" 'reload failed: .* keeping the running configuration' 5
grep -Eq "chime\.yaml:7:[0-9]+: error: jobs\.charlie\.schedule: " "$CHIMED_LOG" ||
	fail "no file:line:col diagnostic for the schedule"
grep -Eq "chime\.yaml:[0-9]+:[0-9]+: error: jobs\.delta\.plugin: unknown plugin 'nope'" \
	"$CHIMED_LOG" || fail "no diagnostic for the unknown plugin"
ok "a broken file: every diagnostic logged with file:line:col"
wait_for "$NOTIFY_LOG" 'STATUS=reload failed: see journal' 5
ok "STATUS=reload failed: see journal"
finished() { count "$CHIMED_LOG" "job '$1' \(noop\): run of .* finished"; }
fired_since() { [ "$(finished "$1")" -ge $(($2 + 2)) ]; } # JOB COUNT: two more runs
alpha=$(finished alpha)
bravo=$(finished bravo)
wait_until 5 fired_since alpha "$alpha" || fail "alpha stopped firing after a failed reload"
wait_until 5 fired_since bravo "$bravo" || fail "bravo stopped firing after a failed reload"
! grep -Eq "job '(charlie|delta)'" "$CHIMED_LOG" || fail "a job of the broken file was armed"
ok "the old schedule keeps firing after a failed reload"

# Each slot at most once: no job ran the same slot twice.
dups=$(grep -Eo "job '[a-z]+' \(noop\): run of [^ ]+ started" "$CHIMED_LOG" | sort | uniq -d)
[ -z "$dups" ] || fail "slots run twice: $dups"
ok "no slot ran twice across the reloads"

kill -TERM "$CHIMED_PID"
wait_exit 8
wait_for "$NOTIFY_LOG" '^STOPPING=1' 1
[ "$EXIT_CODE" = 0 ] || fail "exit status $EXIT_CODE after SIGTERM"
ok "SIGTERM: STOPPING=1 and exit 0 in ${ELAPSED_MS} ms"
