#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Resident memory of an idle chimed by number of loaded jobs (a benchmark:
# prints numbers, asserts nothing). For each N, chimed starts with N noop
# jobs whose slots are far away (no database), and VmRSS / VmHWM are read
# from /proc/PID/status two seconds after READY=1; bytes per job are the
# growth over the smallest N.
#
#   tests/bench/bench_memory.sh [BUILD_DIR] [N...]     (default N: 10 10000 100000)
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-${CHIME_BUILD_DIR:-$src/build}}" && pwd)
shift || true
counts=("${@:-10 10000 100000}")
read -r -a counts <<<"${counts[*]}"
chimed=${CHIMED:-$build/daemon/chimed}
[ -x "$chimed" ] || { echo "bench_memory: $chimed not built" >&2; exit 1; }

tmp=$(mktemp -d /tmp/chime-bench-memory.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status"; }

printf '%8s %10s %10s %10s %12s %10s\n' jobs "VmRSS kB" "VmHWM kB" "RssAnon kB" "bytes/job" "start ms"
base_n= base_rss=
for n in "${counts[@]}"; do
	python3 "$src/tests/bench/bench_lateness_config.py" "$tmp/conf" "$n" 0
	: >"$tmp/chimed.log"
	t0=$(date +%s%N)
	"$chimed" --config "$tmp/conf/chime.yaml" >"$tmp/chimed.log" 2>&1 &
	pid=$!
	for _ in $(seq 2400); do grep -q ' ready$' "$tmp/chimed.log" && break; sleep 0.025; done
	t1=$(date +%s%N)
	grep -q ' ready$' "$tmp/chimed.log" || { cat "$tmp/chimed.log"; exit 1; }
	sleep 2
	rss=$(kb VmRSS) hwm=$(kb VmHWM) anon=$(kb RssAnon)
	per=-
	if [ -z "$base_n" ]; then
		base_n=$n base_rss=$rss
	else
		per=$(((rss - base_rss) * 1024 / (n - base_n)))
	fi
	printf '%8d %10d %10d %10d %12s %10d\n' "$n" "$rss" "$hwm" "$anon" "$per" \
		$(((t1 - t0) / 1000000))
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=
done
echo "(celery beat idles at 43 MB, per the issue; not installed here)"
