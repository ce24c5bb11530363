#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# /metrics with no control socket (control_socket: "", as in
# config/demo.yaml): the ledger's view of the jobs comes from the ledger
# service, not from the socket, so a job that keeps succeeding reads as
# not violating its expect:, its last success is published, and only the
# job that never ran reads as violated.
. "$CHIME_SOURCE_DIR/tests/harness/daemon-lib.sh"
. "$CHIME_PG_ENV"

db=t_metrics_nosocket_$$
createdb "$db"
trap 'rc=$?; dropdb --if-exists "$db" >/dev/null 2>&1; (exit $rc); cleanup' EXIT

PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
# metric NAME_WITH_LABELS: its value in a fresh scrape ("" when absent).
metric() {
	curl -s --max-time 5 "$URL/metrics" | /usr/bin/python3 -c '
import sys
for line in sys.stdin:
    if not line.startswith("#") and line.rsplit(" ", 1)[0] == sys.argv[1]:
        print(line.rsplit(" ", 1)[1].strip())
' "$1" || true
}
# wait_metric NAME PYTHON_CONDITION_ON_v SECONDS
wait_metric() {
	local i v=
	for i in $(seq 1 $(($3 * 5))); do
		v=$(metric "$1")
		if [ -n "$v" ] && /usr/bin/python3 -c "import sys; v = float(sys.argv[1]); sys.exit(0 if ($2) else 1)" "$v"; then
			return 0
		fi
		sleep 0.2
	done
	fail "$1 did not reach '$2' within $3 s (last: '$v')"
}

write_config <<EOF
timezone: UTC
control_socket: ""
metrics:
  listen: 127.0.0.1:$PORT
database:
  conninfo: "dbname=$db"
jobs:
  alpha:
    schedule: "* * * * * *"
    plugin: noop
    expect: 10s
  never:
    schedule: "0 0 1 1 *"
    plugin: noop
    expect: 2s
EOF
started=$(date +%s)
start_chimed
wait_for "$NOTIFY_LOG" '^READY=1' 10
ok "chimed ready without a control socket"

wait_metric 'chime_job_last_success_timestamp_seconds{job="alpha"}' "v > 0" 20
ok "alpha's last success is published from the ledger"
wait_metric 'chime_job_expect_violated{job="never"}' "v == 1" 20
ok "a job that never ran reads as violating its expect"
# Past alpha's expect span since the start, with successes all along.
wait_metric 'chime_job_last_success_timestamp_seconds{job="alpha"}' "v > $started + 12" 40
v=$(metric 'chime_job_expect_violated{job="alpha"}')
[ "$v" = 0 ] || fail "alpha reads as violating expect: $v"
ok "alpha, succeeding every second, does not violate its expect of 10 s"

kill -TERM "$CHIMED_PID"
wait_exit 10
[ "$EXIT_CODE" = 0 ] || fail "chimed exited $EXIT_CODE"
ok "chimed stopped cleanly"
