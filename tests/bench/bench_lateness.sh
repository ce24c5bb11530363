#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Lateness of run start against the slot's nominal instant, chimed against
# its peers, on the same machine at the same time (a benchmark: it prints
# numbers and asserts nothing).
#
# chimed runs with 10,000 jobs loaded: 9,990 noop jobs whose slots are far
# away and TICKS (10) jobs every second ("* * * * * *") running
# latency_plugin.so, which writes CLOCK_REALTIME at entry to run() next to
# chime_run_nominal_usec(). No database (no ledger round trip): this is the
# daemon's own path, timerfd wake -> schedule pop -> runner dispatch ->
# worker thread -> run(). A notify socket is bound, as under systemd, so
# the STATUS= updates that go with each dispatch are paid for. While it
# runs, bench_lateness_peer aims a libuv uv_timer and a clock_nanosleep
# (TIMER_ABSTIME) thread at the same whole seconds, and a second copy half
# a second off (uncontended by chimed's runs).
#
#   tests/bench/bench_lateness.sh [BUILD_DIR] [SECONDS]
#
# Environment: TICKS (10), FAR (9990), KEEP=1 keeps the temp dir.
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-${CHIME_BUILD_DIR:-$src/build}}" && pwd)
seconds=${2:-30}
ticks=${TICKS:-10}
far=${FAR:-9990}
chimed=${CHIMED:-$build/daemon/chimed}
peer=$build/tests/bench_lateness_peer
so=$build/tests/bench/latency_plugin.so
for f in "$chimed" "$peer" "$so"; do
	[ -e "$f" ] || { echo "bench_lateness: $f not built (cmake -DCHIME_BENCH=ON)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/chime-bench-lateness.XXXXXX)
chimed_pid= listener_pid=
cleanup() {
	[ -n "$chimed_pid" ] && kill "$chimed_pid" 2>/dev/null && wait "$chimed_pid" 2>/dev/null
	[ -n "$listener_pid" ] && kill "$listener_pid" 2>/dev/null
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

python3 "$src/tests/bench/bench_lateness_config.py" "$tmp/conf" "$far" "$ticks" "$so" \
	"$tmp/chimed.rec"
python3 "$src/tests/bench/bench_reload_listen.py" "$tmp/notify.sock" >"$tmp/notify.log" &
listener_pid=$!
for _ in $(seq 100); do [ -S "$tmp/notify.sock" ] && break; sleep 0.05; done

NOTIFY_SOCKET=$tmp/notify.sock "$chimed" --config "$tmp/conf/chime.yaml" >"$tmp/chimed.log" 2>&1 &
chimed_pid=$!
for _ in $(seq 600); do grep -q 'READY=1' "$tmp/notify.log" && break; sleep 0.05; done
grep -q 'READY=1' "$tmp/notify.log" || { cat "$tmp/chimed.log"; echo "chimed not ready" >&2; exit 1; }
sleep 1.5 # settle: the first slots after start are not measured
: >"$tmp/chimed.rec"

# The peers at the same whole seconds as chimed's slots, and a second
# copy half a second off, where nothing else wakes (uncontended).
"$peer" "$seconds" 500000 | sed -e 's/^uv /uv+0.5s /' -e 's/^sleep /sleep+0.5s /' >"$tmp/peer2.rec" &
"$peer" "$seconds" 0 >"$tmp/peer.rec"
wait $!
cat "$tmp/peer2.rec" >>"$tmp/peer.rec"
sleep 0.5
kill "$chimed_pid"
wait "$chimed_pid" 2>/dev/null || true
chimed_pid=

echo "lateness of run start against the nominal instant, ${seconds} s, $((far + ticks)) jobs" \
	"loaded, $ticks due every second; $(nproc) CPUs, load average" \
	"$(cut -d' ' -f1-3 /proc/loadavg)"
cat "$tmp/chimed.rec" >>"$tmp/peer.rec"
echo "chimed: timerfd wake to plugin run(); uv: uv_timer callback; sleep: clock_nanosleep return;"
echo "+0.5s: the same peers aimed half a second off chimed's slots"
python3 "$src/tests/bench/bench_lateness_stats.py" "$tmp/peer.rec" chimed uv sleep uv+0.5s sleep+0.5s
echo
echo "chimed by position in the second's batch (job tick-K is dispatched K-th):"
python3 - "$tmp/chimed.rec" <<'EOF'
import sys
by = {}
for line in open(sys.argv[1]):
    nominal, entered, job = line.split()
    by.setdefault(job, []).append(int(entered) - int(nominal))
print("%-10s %5s %9s %9s %9s" % ("job", "n", "p50 ms", "p99 ms", "max ms"))
for job in sorted(by, key=lambda j: int(j.rsplit("-", 1)[1])):
    v = sorted(by[job])
    k = max(0, -(-len(v) * 99 // 100) - 1)
    print("%-10s %5d %9.3f %9.3f %9.3f" % (job, len(v), v[len(v) // 2] / 1000, v[k] / 1000,
                                          v[-1] / 1000))
EOF
