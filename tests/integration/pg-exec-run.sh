#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The exec plugin through chimectl run: argv without a shell, shell: true,
# env and the CHIME_* variables, workdir, output lines in the log, a
# failing command recorded failed with its status and last stderr line, a
# child ignoring SIGTERM killed after kill_timeout, an output flood capped,
# long lines split at 4 KiB, a missing program, and a dry run that runs
# nothing.
set -euo pipefail
. "$CHIME_PG_ENV"

db=t_exec_$$
tmp=$(mktemp -d)
createdb "$db"
trap 'dropdb --if-exists "$db" >/dev/null 2>&1; rm -rf "$tmp"' EXIT

fail() { echo "not ok - $*" >&2; exit 1; }
q() { psql -X -A -t -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }
expect_eq() { [ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"; echo "ok - $3"; }

cat >"$tmp/chime.yaml" <<EOF
timezone: UTC
node: exec-node
database:
  conninfo: "dbname=$db"
jobs:
  argv:
    schedule: "0 * * * *"
    plugin: exec
    options:
      command: [/bin/sh, -c, 'echo "job=\$CHIME_JOB at=\$CHIME_SCHEDULED_FOR prev=\$CHIME_PREVIOUS_FOR id=\$CHIME_RUN_ID foo=\$FOO"; echo to-stderr >&2']
      env: {FOO: "bar baz"}
  shell:
    schedule: "0 * * * *"
    plugin: exec
    options:
      command: "cd $tmp && echo in-\$(basename \$(pwd)) && exit 0"
      shell: true
  workdir:
    schedule: "0 * * * *"
    plugin: exec
    options:
      command: [pwd]
      workdir: $tmp
  failing:
    schedule: "0 * * * *"
    plugin: exec
    options:
      command: [/bin/sh, -c, 'echo first >&2; echo boom >&2; exit 3']
  stubborn:
    schedule: "0 * * * *"
    plugin: exec
    timeout: 1s
    options:
      command: [/bin/sh, -c, 'trap "" TERM; echo started; sleep 30']
      kill_timeout: 1s
  flood:
    schedule: "0 * * * *"
    plugin: exec
    options:
      command: [/bin/sh, -c, 'yes flood | head -n 200000']
      max_log_lines: 100
  longline:
    schedule: "0 * * * *"
    plugin: exec
    options:
      command: [/bin/sh, -c, 'head -c 10000 /dev/zero | tr "\\\\000" x']
  missing:
    schedule: "0 * * * *"
    plugin: exec
    options:
      command: [no-such-program-chime-test]
  dry:
    schedule: "0 * * * *"
    plugin: exec
    options:
      command: [touch, $tmp/dry-ran]
  scrubbed:
    schedule: "0 * * * *"
    plugin: exec
    options:
      command: [/bin/sh, -c, 'echo "pw=\${PGPASSWORD-unset} cred=\${CREDENTIALS_DIRECTORY-unset} lang=\$LANG path=\${PATH:+set} foo=\$FOO"']
      env: {FOO: mine}
  inherited:
    schedule: "0 * * * *"
    plugin: exec
    options:
      command: [/bin/sh, -c, 'echo "pw=\${PGPASSWORD-unset} notify=\${NOTIFY_SOCKET-unset}"']
      inherit_env: true
  background:
    schedule: "0 * * * *"
    plugin: exec
    options:
      command: [/bin/sh, -c, 'sleep 3071 >/dev/null 2>&1 & echo backgrounded']
  background-ignores-term:
    schedule: "0 * * * *"
    plugin: exec
    options:
      command: [/bin/sh, -c, '(trap "" TERM; exec sleep 3072) >/dev/null 2>&1 & echo backgrounded']
      kill_timeout: 1s
  background-kept:
    schedule: "0 * * * *"
    plugin: exec
    options:
      command: [/bin/sh, -c, 'sleep 3073 >/dev/null 2>&1 & echo backgrounded']
      kill_group: false
  control-bytes:
    schedule: "0 * * * *"
    plugin: exec
    options:
      command: [printf, '\033[31mred\rover\tok\n']
EOF
run() { "$CHIMECTL" run "$@" --config "$tmp/chime.yaml"; }

run argv --at 2026-01-01T10:00:00Z >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/out" "$tmp/err"; fail "argv job"; }
id=$(q "SELECT id FROM chime.runs WHERE job = 'argv'")
grep -q "job=argv at=2026-01-01T10:00:00Z prev=2026-01-01T09:00:00Z id=$id foo=bar baz" "$tmp/err" ||
	{ cat "$tmp/err"; fail "stdout line with env and CHIME_* variables in the log"; }
grep -q "to-stderr" "$tmp/err" || fail "stderr line in the log"
expect_eq "$(q "SELECT status, summary->'values'->>'exit_status' FROM chime.runs WHERE job = 'argv'")" \
	"succeeded|0" "argv command recorded succeeded"

run shell --at 2026-01-01T10:00:00Z >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err"; fail "shell job"; }
grep -q "in-$(basename "$tmp")" "$tmp/err" || { cat "$tmp/err"; fail "shell: true runs /bin/sh -c"; }
echo "ok - shell: true"

run workdir --at 2026-01-01T10:00:00Z >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err"; fail "workdir job"; }
grep -q "$tmp\$" "$tmp/err" || { cat "$tmp/err"; fail "workdir"; }
echo "ok - workdir"

if run failing --at 2026-01-01T10:00:00Z >"$tmp/out" 2>"$tmp/err"; then fail "failing job succeeded"; fi
expect_eq "$(q "SELECT status, error FROM chime.runs WHERE job = 'failing'")" \
	"failed|exited with status 3: boom" "exit status and last stderr line recorded"
expect_eq "$(q "SELECT summary->'values'->>'output_tail' FROM chime.runs WHERE job = 'failing'" | tr '\n' '|')" \
	"first|boom|" "the last output lines are kept in the report (output_tail)"

start=$(date +%s%N)
if run stubborn --at 2026-01-01T10:00:00Z >"$tmp/out" 2>"$tmp/err"; then fail "stubborn job succeeded"; fi
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$elapsed_ms" -lt 4500 ] || fail "SIGTERM-ignoring child took ${elapsed_ms} ms to die"
expect_eq "$(q "SELECT status, error LIKE '%killed by signal SIGKILL%' FROM chime.runs WHERE job = 'stubborn'")" \
	"timed_out|t" "child ignoring SIGTERM killed with SIGKILL after kill_timeout (${elapsed_ms} ms)"
grep -q "sending SIGKILL" "$tmp/err" || fail "the escalation is logged"
pgrep -f "sleep 30" >/dev/null && pgrep -af "sleep 30" | grep -q "trap" && fail "a process of the group survived"

run flood --at 2026-01-01T10:00:00Z >"$tmp/out" 2>"$tmp/err" || { tail -3 "$tmp/err"; fail "flood job"; }
expect_eq "$(grep -c "flood$" "$tmp/err")" "100" "flood: 100 lines logged"
grep -q "199900 output lines suppressed" "$tmp/err" || { tail -3 "$tmp/err"; fail "suppressed count"; }
expect_eq "$(q "SELECT summary->'counts'->>'output_lines' FROM chime.runs WHERE job = 'flood'")" \
	"200000" "flood: every line counted"

run longline --at 2026-01-01T10:00:00Z >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err"; fail "longline job"; }
expect_eq "$(q "SELECT summary->'counts'->>'output_lines' FROM chime.runs WHERE job = 'longline'")" \
	"3" "a 10000-byte line is split at 4 KiB into 3 lines"

if run missing --at 2026-01-01T10:00:00Z >"$tmp/out" 2>"$tmp/err"; then fail "missing program succeeded"; fi
expect_eq "$(q "SELECT status, error LIKE 'command ''no-such-program-chime-test'' not found in PATH%' FROM chime.runs WHERE job = 'missing'")" \
	"failed|t" "missing program recorded failed"

run dry --at 2026-01-01T10:00:00Z --dry-run >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err"; fail "dry run"; }
grep -q "would run: 'touch' '$tmp/dry-ran'" "$tmp/out" || { cat "$tmp/out"; fail "dry run prints the command"; }
[ ! -e "$tmp/dry-ran" ] || fail "dry run ran the command"
expect_eq "$(q "SELECT count(*) FROM chime.runs WHERE job = 'dry'")" "0" "dry run not recorded"

# The environment: the daemon's secrets do not reach a job unless it asks.
PGPASSWORD=secret-pw CREDENTIALS_DIRECTORY=/run/credentials/chimed.service LANG=C.UTF-8 \
	run scrubbed --at 2026-01-01T10:00:00Z >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err"; fail "scrubbed job"; }
grep -q "pw=unset cred=unset lang=C.UTF-8 path=set foo=mine" "$tmp/err" ||
	{ cat "$tmp/err"; fail "PGPASSWORD and CREDENTIALS_DIRECTORY scrubbed, LANG and PATH kept, env: set"; }
echo "ok - environment scrubbed: PG* and CREDENTIALS_DIRECTORY not passed, LANG, PATH and env: are"
PGPASSWORD=secret-pw NOTIFY_SOCKET=/run/systemd/notify \
	run inherited --at 2026-01-01T10:00:00Z >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err"; fail "inherited job"; }
grep -q "pw=secret-pw notify=unset" "$tmp/err" ||
	{ cat "$tmp/err"; fail "inherit_env: true passes the environment but not systemd's NOTIFY_SOCKET"; }
echo "ok - inherit_env: true passes the daemon's environment (not NOTIFY_SOCKET)"

# A command that backgrounds a process: the rest of its group is stopped
# once it exits, with SIGKILL for one that ignores SIGTERM; kill_group:
# false keeps it.
run background --at 2026-01-01T10:00:00Z >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err"; fail "background job"; }
! pgrep -x -f "sleep 3071" >/dev/null || fail "a backgrounded grandchild outlived its run"
grep -q "stopping what it left running in its process group" "$tmp/err" || { cat "$tmp/err"; fail "the stop is logged"; }
echo "ok - a backgrounded grandchild is stopped when the command exits"
run background-ignores-term --at 2026-01-01T10:00:00Z >"$tmp/out" 2>"$tmp/err" ||
	{ cat "$tmp/err"; fail "background-ignores-term job"; }
! pgrep -x -f "sleep 3072" >/dev/null || fail "a grandchild ignoring SIGTERM outlived its run"
grep -q "did not exit 1000 ms after SIGTERM, sending SIGKILL" "$tmp/err" || { cat "$tmp/err"; fail "escalation logged"; }
echo "ok - a grandchild ignoring SIGTERM gets SIGKILL after kill_timeout"
run background-kept --at 2026-01-01T10:00:00Z >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err"; fail "background-kept job"; }
pgrep -x -f "sleep 3073" >/dev/null || fail "kill_group: false did not keep the grandchild"
pkill -x -f "sleep 3073" || true
echo "ok - kill_group: false keeps it"

# Control bytes of job output are escaped outside the journal.
run control-bytes --at 2026-01-01T10:00:00Z >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err"; fail "control-bytes job"; }
grep -qF 'red\x0dover' "$tmp/err" && grep -qF '\x1b[31m' "$tmp/err" ||
	{ cat -v "$tmp/err"; fail "ESC and CR escaped as \\xNN"; }
! grep -q $'\e' "$tmp/err" || fail "a raw ESC reached the log"
echo "ok - control bytes escaped in the log"
grep -qF 'output_tail: \x1b[31mred\x0dover\x09ok' "$tmp/out" && ! grep -q $'\e' "$tmp/out" ||
	{ cat -v "$tmp/out"; fail "the printed report escapes them too (output_tail)"; }
echo "ok - the report chimectl prints shows the output tail, escaped"
