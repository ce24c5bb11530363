#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# /metrics and /healthz of a running chimed on a loopback port, against a
# PostgreSQL cluster of its own (so it can be stopped): the Prometheus text
# parsed and its names checked, a run counter rising between scrapes,
# /healthz 200, then 503 naming the database once PostgreSQL is halted,
# then 200 again after it is back; a flood of held-open connections and
# scrapes leaves the daemon running its jobs and answering.
. "$CHIME_SOURCE_DIR/tests/harness/daemon-lib.sh"

chmod 755 "$TMP" # the cluster runs as postgres when we are root
PGDIR=$TMP/pg
"$CHIME_SOURCE_DIR/tests/harness/pgcluster.sh" start "$PGDIR" >/dev/null
trap 'rc=$?; "$CHIME_SOURCE_DIR/tests/harness/pgcluster.sh" stop "$PGDIR" >/dev/null 2>&1; set +e; (exit $rc); cleanup' EXIT
. "$PGDIR/env"

PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
expect_eq() { [ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"; ok "$3"; }
http_code() { curl -s -o "$TMP/body" -w '%{http_code}' --max-time 5 "$URL$1" || true; }
wait_health() { # wait_health CODE SECONDS
	wait_eq "$2" "$1" http_code /healthz 2>/dev/null ||
		fail "/healthz did not answer $1 within $2 s (last: $(cat "$TMP/body"))"
}
# metric NAME_WITH_LABELS: its value in a fresh scrape.
metric() {
	curl -s --max-time 5 "$URL/metrics" | /usr/bin/python3 -c '
import sys
want = sys.argv[1]
for line in sys.stdin:
    if line.startswith("#"):
        continue
    name, value = line.rsplit(" ", 1)
    if name == want:
        print(value.strip())
' "$1"
}

write_config <<EOF
timezone: UTC
shutdown_timeout: 5s
control_socket: $TMP/control.sock
metrics:
  listen: 127.0.0.1:$PORT
database:
  conninfo: "host=$PGHOST port=$PGPORT dbname=postgres"
jobs:
  alpha:
    schedule: "* * * * * *"
    plugin: noop
    expect: 1h
EOF
start_chimed
wait_for "$NOTIFY_LOG" '^READY=1' 10
ok "chimed ready"

wait_health 200 10
expect_eq "$(cat "$TMP/body")" ok "/healthz 200 ok"

curl -s --max-time 5 "$URL/metrics" >"$TMP/metrics.txt"
/usr/bin/python3 - "$TMP/metrics.txt" <<'PY' || fail "metrics format"
import re, sys
names, types = set(), {}
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (-?[0-9.e+-]+|\+Inf|NaN)$')
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line.startswith("# TYPE "):
        _, _, n, t = line.split(" ")
        types[n] = t
        continue
    if line.startswith("#") or not line:
        continue
    m = sample.match(line)
    assert m, "not a Prometheus sample line: %r" % line
    names.add(m.group(1))
for n, t in [("chime_runs_total", "counter"), ("chime_run_duration_seconds", "histogram"),
             ("chime_run_lateness_seconds", "histogram"),
             ("chime_job_last_success_timestamp_seconds", "gauge"),
             ("chime_job_expect_violated", "gauge"), ("chime_database_up", "gauge"),
             ("chime_jobs", "gauge"), ("chime_runs_in_flight", "gauge"), ("chime_build_info", "gauge")]:
    assert types.get(n) == t, "%s: type %r" % (n, types.get(n))
for n in ["chime_runs_total", "chime_run_duration_seconds_bucket", "chime_run_duration_seconds_count",
          "chime_run_lateness_seconds_sum", "chime_database_up", "chime_jobs", "chime_runs_in_flight",
          "chime_build_info", "chime_job_expect_violated"]:
    assert n in names, "no sample of " + n
print("ok - /metrics parses as Prometheus text with every metric")
PY
expect_eq "$(metric chime_jobs)" 1 "chime_jobs"
expect_eq "$(metric chime_database_up)" 1 "chime_database_up 1"
expect_eq "$(metric 'chime_job_expect_violated{job="alpha"}')" 0 "expect not violated"
alpha_runs() { metric 'chime_runs_total{job="alpha",status="succeeded"}'; }
runs_rose() { [ "$(alpha_runs)" -ge $(($1 + 2)) ]; } # FROM: two more runs counted
has_last_success() { [ -n "$(metric 'chime_job_last_success_timestamp_seconds{job="alpha"}')" ]; }
a=$(alpha_runs)
wait_until 5 runs_rose "$a" || fail "chime_runs_total for alpha went from $a to $(alpha_runs) in 5 s"
ok "chime_runs_total rises ($a -> $(alpha_runs))"
wait_until 15 has_last_success || true # checked below
last=$(metric 'chime_job_last_success_timestamp_seconds{job="alpha"}')
now=$(date +%s)
/usr/bin/python3 -c "import sys; sys.exit(0 if abs($now - $last) < 30 else 1)" ||
	fail "last success $last is not near now $now"
ok "chime_job_last_success_timestamp_seconds is recent"
expect_eq "$(http_code /nope)" 404 "unknown path: 404"

# A flood: connections held open past the limits, and scrapes in parallel.
/usr/bin/python3 - 127.0.0.1 "$PORT" <<'PY' || fail "flood"
import socket, sys, threading, urllib.request
host, port = sys.argv[1], int(sys.argv[2])
held = []
for _ in range(100):
    try:
        s = socket.create_connection((host, port), timeout=2)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never finished
        held.append(s)
    except OSError:
        pass
def scrape():
    for _ in range(20):
        try:
            urllib.request.urlopen("http://%s:%d/metrics" % (host, port), timeout=2).read()
        except OSError:
            pass
threads = [threading.Thread(target=scrape) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
for s in held:
    s.close()
print("ok - flood of %d held connections and 160 scrapes sent" % len(held))
PY
kill -0 "$CHIMED_PID" || fail "chimed died under the flood"
a=$(alpha_runs)
wait_until 5 runs_rose "$a" || fail "after the flood alpha went from $a to $(alpha_runs) in 5 s"
ok "after the flood the daemon runs its jobs and answers scrapes"

# PostgreSQL down: 503 naming the database; back: 200.
"$CHIME_SOURCE_DIR/tests/harness/pgcluster.sh" halt "$PGDIR" >/dev/null
wait_health 503 20
grep -q '^database down' "$TMP/body" || fail "503 body: $(cat "$TMP/body")"
ok "/healthz 503 with PostgreSQL stopped: $(cat "$TMP/body")"
expect_eq "$(metric chime_database_up)" 0 "chime_database_up 0"
"$CHIME_SOURCE_DIR/tests/harness/pgcluster.sh" resume "$PGDIR" >/dev/null
wait_health 200 70
ok "/healthz 200 again once PostgreSQL is back"

kill -TERM "$CHIMED_PID"
wait_exit 10
expect_eq "$EXIT_CODE" 0 "chimed stops cleanly"
