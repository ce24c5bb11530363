#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The control plane cannot be starved (`systemctl reload` goes through
# it): sixteen slow clients (one byte every few seconds, never a newline)
# hold every control slot, and `chimectl reload` still answers within 2 s;
# the slow ones get "incomplete request" once their deadline passes.
# Sixteen idle connections on the metrics port do not keep /healthz from
# answering. No database.
. "$CHIME_SOURCE_DIR/tests/harness/daemon-lib.sh"
: "${CHIMECTL:?}"

SOCK=$TMP/control.sock
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
write_config <<EOF
timezone: UTC
shutdown_timeout: 5s
control_socket: $SOCK
metrics:
  listen: 127.0.0.1:$PORT
jobs:
  alpha:
    schedule: "0 * * * *"
    plugin: noop
EOF
start_chimed
wait_for "$NOTIFY_LOG" '^READY=1' 10
ok "chimed ready"

# Slow clients: connect, write one byte, then one more every second or
# so; the script reports what each was told and when.
/usr/bin/python3 - "$SOCK" >"$TMP/slow.out" 2>&1 <<'PY' &
import socket, sys, time
path = sys.argv[1]
held = []
for _ in range(16):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(b"{")
    s.settimeout(0.05)
    held.append(s)
print("connected %d" % len(held), flush=True)
t0 = last_byte = time.monotonic()
told = {}
while time.monotonic() - t0 < 9 and len(told) < len(held):
    for i, s in enumerate(held):
        if i in told:
            continue
        try:
            data = s.recv(4096)
            told[i] = (time.monotonic() - t0, data.decode(errors="replace").strip())
        except socket.timeout:
            pass
        except OSError as e:
            told[i] = (time.monotonic() - t0, "error %s" % e)
    if time.monotonic() - last_byte >= 1:
        last_byte = time.monotonic()
        for i, s in enumerate(held):
            if i not in told:
                try:
                    s.sendall(b" ")
                except OSError:
                    pass
for i in sorted(told):
    print("client %d at %.1f s: %s" % (i, told[i][0], told[i][1]), flush=True)
print("told %d" % len(told), flush=True)
PY
slow=$!
wait_for "$TMP/slow.out" '^connected 16' 10

start=$(date +%s%N)
"$CHIMECTL" reload --socket "$SOCK" >"$TMP/reload.txt" 2>&1 ||
	fail "reload while 16 slow clients hold the slots: $(cat "$TMP/reload.txt")"
ms=$((($(date +%s%N) - start) / 1000000))
expect_eq "reload answered with 16 slow clients connected" "$(cat "$TMP/reload.txt")" "reloaded: 1 jobs"
if [ "$ms" -lt 2000 ]; then ok "the reload took $ms ms (under 2 s)"; else not_ok "the reload took $ms ms"; fi
"$CHIMECTL" status --socket "$SOCK" >/dev/null || fail "status after the reload"
ok "status answers too"

wait "$slow" || true
cat "$TMP/slow.out"
expect_grep "a slow client is dropped for the newcomer" "$TMP/slow.out" \
	'closed to make room for a new connection'
expect_grep "slow clients are told their request is incomplete at the deadline, not later" \
	"$TMP/slow.out" 'at [4-6]\.[0-9] s: .*incomplete request: no newline within 5000 ms'
expect_grep "every slow client heard back" "$TMP/slow.out" '^told 16$'

# Idle HTTP connections on the metrics port: /healthz still answers.
/usr/bin/python3 - 127.0.0.1 "$PORT" >"$TMP/http.out" 2>&1 <<'PY' || true
import socket, sys, time, urllib.request
host, port = sys.argv[1], int(sys.argv[2])
held = [socket.create_connection((host, port), timeout=2) for _ in range(16)]
t0 = time.monotonic()
body = urllib.request.urlopen("http://%s:%d/healthz" % (host, port), timeout=2).read().decode()
print("healthz %s in %.0f ms" % (body.strip(), (time.monotonic() - t0) * 1000))
for s in held:
    s.close()
PY
expect_grep "/healthz answers with 16 idle connections open" "$TMP/http.out" '^healthz ok in [0-9]+ ms$'
cat "$TMP/http.out"

kill -0 "$CHIMED_PID" || fail "chimed died"
finish
