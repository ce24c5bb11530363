#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Reload time of chimed with 10,000 jobs, and whether a reload misses a
# slot (a benchmark: prints numbers; the "missed" column is the check).
#
# chimed runs with 9,990 far-away noop jobs and TICKS (10) jobs every
# second running latency_plugin.so, on a notify socket bound by
# bench_reload_listen.py (which timestamps each datagram on
# CLOCK_MONOTONIC). RELOADS (10) SIGHUPs are sent 1.3 s apart (so they land
# at different phases of the second); before each one a new job is added
# to a drop-in, so every reload parses, checks and swaps the whole file
# and arms one job. Reload time is READY=1 received minus the
# MONOTONIC_USEC= that chimed sent with RELOADING=1. Afterwards each tick
# job's recorded nominal slots must be consecutive seconds with none
# missing and none twice across the whole run.
#
#   tests/bench/bench_reload.sh [BUILD_DIR]
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-${CHIME_BUILD_DIR:-$src/build}}" && pwd)
ticks=${TICKS:-10}
far=${FAR:-9990}
reloads=${RELOADS:-10}
chimed=${CHIMED:-$build/daemon/chimed}
so=$build/tests/bench/latency_plugin.so
for f in "$chimed" "$so"; do
	[ -e "$f" ] || { echo "bench_reload: $f not built (cmake -DCHIME_BENCH=ON)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/chime-bench-reload.XXXXXX)
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
sleep 2.2

echo "jobs:" >"$tmp/conf/jobs.d/added.yaml"
for i in $(seq "$reloads"); do
	printf '  added-%d:\n    schedule: "0 0 1 1 *"\n    plugin: noop\n' "$i" \
		>>"$tmp/conf/jobs.d/added.yaml"
	kill -HUP "$chimed_pid"
	sleep 1.3
done
sleep 1.5
kill "$chimed_pid"
wait "$chimed_pid" 2>/dev/null || true
chimed_pid=

echo "reload of $((far + ticks)) jobs (+1 added each time), $reloads SIGHUPs;" \
	"$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$tmp/notify.log" "$tmp/chimed.rec" "$tmp/chimed.log" <<'EOF'
import re
import sys

times, start = [], None
for line in open(sys.argv[1]):
    recv, _, msg = line.rstrip("\n").partition(" ")
    fields = msg.split(" ")
    if "RELOADING=1" in fields:
        m = re.search(r"MONOTONIC_USEC=(\d+)", msg)
        start = int(m.group(1))
    elif "READY=1" in fields and start is not None:
        times.append(int(recv) - start)
        start = None
times.sort()
if times:
    print("RELOADING=1 -> READY=1: n %d, min %.1f ms, median %.1f ms, max %.1f ms" % (
        len(times), times[0] / 1000, times[len(times) // 2] / 1000, times[-1] / 1000))
else:
    print("no reload seen")

by = {}
for line in open(sys.argv[2]):
    nominal, entered, job = line.split()
    by.setdefault(job, []).append(int(nominal))
missed = doubled = 0
for job, slots in by.items():
    slots.sort()
    doubled += len(slots) - len(set(slots))
    u = sorted(set(slots))
    missed += sum((b - a) // 1000000 - 1 for a, b in zip(u, u[1:]))
span = max(max(v) for v in by.values()) - min(min(v) for v in by.values())
print("per-second jobs: %d, slots run %d over %.0f s, missed %d, run twice %d" % (
    len(by), sum(len(v) for v in by.values()), span / 1e6, missed, doubled))
reloaded = sum(1 for line in open(sys.argv[3]) if "reloaded:" in line)
print("reloads logged as done: %d" % reloaded)
EOF
