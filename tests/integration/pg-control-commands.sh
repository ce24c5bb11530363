#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# chimectl against a running chimed over its control socket: status, list,
# history, trigger, pause, resume, reload, as tables and as --json (parsed
# back); a trigger recorded manual in chime.runs; a pause that survives a
# restart (paused slots recorded skipped); reload OK and reload of a broken
# file (exit 1 with the diagnostics, the daemon keeps running); garbage, a
# huge line, a client vanishing mid-command and a connection flood leave it
# serving; a second chimed on the same socket refused; a stale socket file
# of a killed daemon replaced; the socket's mode 0660.
. "$CHIME_SOURCE_DIR/tests/harness/daemon-lib.sh"
. "$CHIME_PG_ENV"
: "${CHIMECTL:?}"

db=t_control_$$
createdb "$db"
trap 'rc=$?; dropdb --if-exists --force "$db" >/dev/null 2>&1; set +e; (exit $rc); cleanup' EXIT

SOCK=$TMP/control.sock
q() { psql -X -A -t -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }
ctl() { "$CHIMECTL" "$1" --socket "$SOCK" "${@:2}"; }
# json EXPR: evaluate a Python expression on the JSON read from stdin as `j`.
json() { /usr/bin/python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }
expect_eq() { [ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"; ok "$3"; }
wait_q() { wait_eq "${3:-10}" "$2" q "$1" || fail "'$1' is not '$2' after ${3:-10} s"; } # SQL WANT [SECONDS]
db_up() { [ "$(ctl status --json | json 'j["database"]["state"]')" = up ]; }

config() { # config [EXTRA-JOB-YAML]
	write_config <<EOF
timezone: UTC
node: ctl-node
shutdown_timeout: 5s
control_socket: $SOCK
database:
  conninfo: "dbname=$db"
jobs:
  alpha:
    schedule: "* * * * * *"
    plugin: noop
  manual:
    schedule: "0 0 1 1 *"
    plugin: noop
$1
EOF
}

config ""
start_chimed
wait_for "$NOTIFY_LOG" '^READY=1' 10
ok "chimed ready"
expect_eq "$(stat -c %a "$SOCK")" 660 "control socket mode 0660"

# status
ctl status >"$TMP/status.txt"
grep -q '^state: *running' "$TMP/status.txt" || fail "status text: $(cat "$TMP/status.txt")"
grep -q '^node: *ctl-node' "$TMP/status.txt" || fail "status text lacks the node"
ok "status (text)"
wait_until 5 db_up || true # the expect_eq below shows the state it is in
expect_eq "$(ctl status --json | json '(j["ok"], j["state"], j["jobs"], j["node"], j["database"]["state"], j["config"])')" \
	"(True, 'running', 2, 'ctl-node', 'up', '$CONFIG')" "status --json"
expect_eq "$(ctl status --json | json 'sorted(n["job"] for n in j["next"])')" "['alpha', 'manual']" \
	"status --json: next slot per job"

# list
ctl list >"$TMP/list.txt"
head -1 "$TMP/list.txt" | grep -Eq '^NEXT +LEFT +LAST +PASSED +STATUS +JOB +PLUGIN +SCHEDULE$' ||
	fail "list header: $(head -1 "$TMP/list.txt")"
# Soonest first; times in the job's zone with the offset, as list-timers does.
sed -n 2p "$TMP/list.txt" | grep -Eq '^[0-9-]{10} [0-9:]{8} \+00:00 +[0-9a-z ]+ .* alpha +noop +\* \* \* \* \* \*$' ||
	fail "list text: $(cat "$TMP/list.txt")"
sed -n 3p "$TMP/list.txt" | grep -Eq '^[0-9]{4}-01-01 00:00:00 \+00:00 .* manual +noop +0 0 1 1 \*$' ||
	fail "list text lacks manual, second: $(cat "$TMP/list.txt")"
ok "list (text): NEXT LEFT LAST PASSED STATUS, soonest first"

# Where the socket is: $CHIME_SOCKET, or control_socket of --config FILE.
CHIME_SOCKET=$SOCK "$CHIMECTL" list >/dev/null || fail "CHIME_SOCKET"
ok "CHIME_SOCKET names the socket"
"$CHIMECTL" list --config "$CONFIG" >/dev/null || fail "--config FILE"
ok "control_socket read from --config FILE"
rc=0
"$CHIMECTL" status --socket "$TMP/none.sock" 2>"$TMP/err.txt" || rc=$?
expect_eq "$rc" 1 "no socket: exit 1"
grep -q "no such socket: is chimed running?" "$TMP/err.txt" || fail "no socket hint: $(cat "$TMP/err.txt")"
ok "no socket: says so"
if [ "$(id -u)" = 0 ] && command -v runuser >/dev/null; then
	chmod 0711 "$TMP"
	rc=0
	runuser -u nobody -- "$CHIMECTL" status --socket "$SOCK" 2>"$TMP/err.txt" || rc=$?
	chmod 0700 "$TMP"
	expect_eq "$rc" 1 "permission denied: exit 1"
	grep -q "Permission denied: only root and members of group '$(stat -c %G "$SOCK")' may ask chimed" "$TMP/err.txt" ||
		fail "permission hint: $(cat "$TMP/err.txt")"
	ok "permission denied names the socket's group"
else
	echo "ok - # SKIP permission hint: needs root to run chimectl as another user"
fi
expect_eq "$(ctl list --json | json '[(x["name"], x["plugin"], x["paused"], x["next"][:4]) for x in j["jobs"]]')" \
	"[('alpha', 'noop', False, '$(date -u +%Y)'), ('manual', 'noop', False, '$(($(date -u +%Y) + 1))')]" \
	"list --json"

# trigger: a manual row
ctl trigger manual >"$TMP/trigger.txt"
expect_eq "$(cat "$TMP/trigger.txt")" "triggered 'manual'" "trigger (text)"
wait_q "SELECT count(*) FROM chime.runs WHERE job = 'manual' AND manual AND status = 'succeeded'" 1
ok "trigger recorded as manual = true, succeeded"
ctl trigger nosuch 2>"$TMP/err.txt" && fail "trigger of an unknown job succeeded"
grep -q "no job 'nosuch'" "$TMP/err.txt" || fail "unknown job message: $(cat "$TMP/err.txt")"
ok "trigger of an unknown job: exit 1 with a message"

# history
expect_eq "$(ctl history manual --json | json '[(r["status"], r["manual"], r["node"]) for r in j["runs"]]')" \
	"[('succeeded', True, 'ctl-node')]" "history --json"
ctl history manual >"$TMP/history.txt"
grep -Eq '^[0-9]+ +[0-9-]{10} [0-9:]{8} \+00:00 +succeeded +1 +ctl-node +yes' "$TMP/history.txt" ||
	fail "history text: $(cat "$TMP/history.txt")"
grep -Eq '^    counts: noop 1$' "$TMP/history.txt" || fail "history shows the report: $(cat "$TMP/history.txt")"
ok "history (text), with each run's report"
expect_eq "$(ctl history manual --json | json 'j["timezone"], j["runs"][0]["summary"]["counts"]')" \
	"UTC {'noop': 1}" "history --json: the job's zone and each run's report"
rc=0
ctl history nosuch >/dev/null 2>"$TMP/err.txt" || rc=$?
expect_eq "$rc" 1 "history of an unknown job: exit 1"
grep -q "no job 'nosuch' in the configuration or the ledger" "$TMP/err.txt" ||
	fail "history unknown job message: $(cat "$TMP/err.txt")"
wait_q "SELECT count(*) >= 4 FROM chime.runs WHERE job = 'alpha'" t 10
expect_eq "$(ctl history alpha 3 --json | json 'len(j["runs"])')" 3 "history JOB LIMIT"

# pause: the following slots are recorded skipped ('paused'), none runs
expect_eq "$(ctl pause alpha --by alice --note 'deploy freeze, INC-7')" \
	"paused 'alpha' by alice: deploy freeze, INC-7" "pause --by --note (text)"
expect_eq "$(q "SELECT count(*) FROM chime.paused WHERE job = 'alpha' AND node = 'ctl-node' AND paused_by = 'alice' AND note = 'deploy freeze, INC-7'")" 1 \
	"pause stored in chime.paused, with who and why"
expect_eq "$(q "SELECT count(*) FROM chime.pause_log WHERE job = 'alpha' AND resumed_at IS NULL AND paused_by = 'alice'")" 1 \
	"pause kept in chime.pause_log"
ctl pause alpha --note 'another reason' | grep -q "^'alpha' was paused already, since .* by alice: deploy freeze, INC-7" ||
	fail "a second pause does not say the first stands"
ok "a second pause keeps the first one's who and why"
rc=0
ctl pause alpha --note "$(printf 'two\nlines')" 2>"$TMP/err.txt" || rc=$?
expect_eq "$rc" 2 "pause --note with a newline: usage error"
rc=0
ctl resume alpha --note x 2>"$TMP/err.txt" || rc=$?
expect_eq "$rc" 2 "resume --note: usage error"
expect_eq "$(ctl list --json | json '[(x["paused"], x.get("paused_by"), x.get("pause_note")) for x in j["jobs"]]')" \
	"[(True, 'alice', 'deploy freeze, INC-7'), (False, None, None)]" "list --json shows the pause, who and why"
ctl list | grep -q '^alpha: paused by alice: deploy freeze, INC-7 (since ' || fail "list text lacks the pause note: $(ctl list)"
ctl status | grep -q '^paused: *alpha by alice: deploy freeze, INC-7 (since ' ||
	fail "status text lacks the pause note: $(ctl status)"
ok "list and status show who paused and why"
# Not a wait for a result: time for a slot claimed just before the pause
# to end, so that every slot after `mark` must be skipped (a negative check).
sleep 1.2
mark=$(q "SELECT now()")
wait_q "SELECT count(*) >= 2 FROM chime.runs WHERE job = 'alpha' AND status = 'skipped' AND error = 'paused' AND scheduled_for > '$mark'" t 5
expect_eq "$(q "SELECT count(*) FROM chime.runs WHERE job = 'alpha' AND status <> 'skipped' AND scheduled_for > '$mark'")" 0 \
	"a paused job's slots are recorded skipped and not run"

# restart: still paused
kill -TERM "$CHIMED_PID"
wait_exit 10
start_chimed
wait_for "$NOTIFY_LOG" '^READY=1' 10
mark=$(q "SELECT now()")
expect_eq "$(ctl list --json | json '[x["paused"] for x in j["jobs"]]')" "[True, False]" \
	"the pause survives a restart"
wait_q "SELECT count(*) >= 2 FROM chime.runs WHERE job = 'alpha' AND error = 'paused' AND scheduled_for > '$mark'" t 5
expect_eq "$(q "SELECT count(*) FROM chime.runs WHERE job = 'alpha' AND status <> 'skipped' AND scheduled_for > '$mark'")" 0 \
	"after the restart the paused job still does not run"

# resume
expect_eq "$(ctl resume alpha)" "resumed 'alpha'" "resume (text)"
expect_eq "$(q "SELECT count(*) FROM chime.pause_log WHERE job = 'alpha' AND resumed_at IS NOT NULL AND paused_by = 'alice'")" 1 \
	"the resume closes the pause in chime.pause_log"
mark=$(q "SELECT now()")
wait_q "SELECT count(*) >= 1 FROM chime.runs WHERE job = 'alpha' AND status = 'succeeded' AND scheduled_for > '$mark'" t 5
ok "the resumed job runs again"

# reload OK
config "  bravo:
    schedule: \"0 * * * *\"
    plugin: noop"
ctl reload >"$TMP/reload.txt" || fail "reload of a valid file failed: $(cat "$TMP/reload.txt")"
expect_eq "$(cat "$TMP/reload.txt")" "reloaded: 3 jobs" "reload (valid file): exit 0"
expect_eq "$(ctl list --json | json '[x["name"] for x in j["jobs"]]')" "['alpha', 'bravo', 'manual']" \
	"the reloaded job is listed"

# reload of a broken file: exit 1, diagnostics, the daemon keeps its config
config "  charlie:
    schedule: \"0 61 * * *\"
    plugin: noop"
rc=0
ctl reload >"$TMP/reload.txt" 2>"$TMP/reload.err" || rc=$?
expect_eq "$rc" 1 "reload of a broken file: exit 1"
grep -Eq "chime.yaml:[0-9]+:[0-9]+: error: jobs.charlie.schedule" "$TMP/reload.err" ||
	fail "reload diagnostics: $(cat "$TMP/reload.err")"
ok "reload prints the diagnostics with file:line:col"
expect_eq "$(ctl status --json | json '(j["state"], j["jobs"], j["reload_failed"])')" "('running', 3, True)" \
	"the daemon keeps running on the old config"
rc=0
ctl reload --json >"$TMP/reload.json" || rc=$?
expect_eq "$rc:$(json 'j["ok"], len(j["diagnostics"]) > 0' <"$TMP/reload.json")" "1:False True" "reload --json"
config ""
ctl reload >/dev/null
ok "reload back to a valid file"

# bad clients
/usr/bin/python3 - "$SOCK" <<'PY' || fail "bad clients"
import json, socket, sys
path = sys.argv[1]

def conn():
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)  # blocking: waits while the backlog is full
    s.settimeout(10)
    return s, s.makefile("rb")

s, f = conn()
s.sendall(b"garbage\n")
r = json.loads(f.readline())
assert r["ok"] is False and "invalid JSON" in r["error"], r
s.sendall(b'{"cmd":"status","x":1}\n')
r = json.loads(f.readline())
assert r["ok"] is False and "unknown member" in r["error"], r
s.sendall(b'\x00\xff\xfe{]\n{"cmd":"status"}\n')
assert json.loads(f.readline())["ok"] is False
assert json.loads(f.readline())["ok"] is True
print("ok - garbage gets an error reply, the connection keeps working")

s, f = conn()
try:
    s.sendall(b"x" * 70000)
except OSError:
    pass
r = json.loads(f.readline())
assert r["ok"] is False and "longer than 65536" in r["error"], r
assert f.readline() == b"", "the connection stays open after a huge line"
print("ok - a line over 64 KiB: error reply, connection closed")

for _ in range(20):
    s, f = conn()
    s.sendall(b'{"cmd":"history","job":"alpha","limit":1000}\n{"cmd":"list"}\n')
    f.close()  # the file object holds the socket open too
    s.close()
print("ok - clients vanishing mid-command")

import time

def status_ok():
    for _ in range(100):  # until the daemon has seen the vanished ones go
        s, f = conn()
        try:
            s.sendall(b'{"cmd":"status"}\n')
            if json.loads(f.readline())["ok"]:
                return s, f
        except (OSError, ValueError):
            pass
        f.close()
        s.close()
        time.sleep(0.1)
    raise AssertionError("the daemon does not answer status")

held = [status_ok() for _ in range(16)]
s, f = conn()
s.sendall(b'{"cmd":"status"}\n')
r = json.loads(f.readline())
assert r["ok"] is True, r  # the newcomer is served...
r = json.loads(held[0][1].readline())  # ...and the idlest held one made room
assert r["ok"] is False and "closed to make room" in r["error"], r
for h, hf in held:
    hf.close()
    h.close()
print("ok - a 17th connection is served; the idlest of 16 idle ones is closed with a message")

for _ in range(50):  # the daemon sees the held ones go away first
    s, f = conn()
    try:
        s.sendall(b'{"cmd":"status"}\n')
        r = json.loads(f.readline())
        if r["ok"]:
            break
    except (OSError, ValueError):
        r = {}
    time.sleep(0.1)
assert r.get("state") == "running", r
print("ok - still serving")
PY
kill -0 "$CHIMED_PID" || fail "chimed died"

# a second chimed on the same socket
rc=0
NOTIFY_SOCKET= timeout 10 "$CHIMED" --config "$CONFIG" >"$TMP/second.log" 2>&1 || rc=$?
expect_eq "$rc" 1 "a second chimed on the same socket exits 1"
grep -q "another chimed is running on $SOCK" "$TMP/second.log" || fail "second chimed: $(cat "$TMP/second.log")"
ok "with a clear message"
expect_eq "$(ctl status --json | json 'j["state"]')" running "the first one keeps serving"

# a stale socket file from a killed daemon
kill -KILL "$CHIMED_PID"
wait "$CHIMED_PID" 2>/dev/null || true
CHIMED_PID=
[ -S "$SOCK" ] || fail "no stale socket left behind by SIGKILL"
start_chimed
wait_for "$CHIMED_LOG" "removing the stale control socket" 10
wait_for "$CHIMED_LOG" "ready" 10
expect_eq "$(ctl status --json | json 'j["state"]')" running "a stale socket file is replaced"

kill -TERM "$CHIMED_PID"
wait_exit 10
expect_eq "$EXIT_CODE" 0 "chimed stops cleanly"
[ ! -e "$SOCK" ] || fail "the socket file is left after a clean stop"
ok "the socket file is removed on a clean stop"
