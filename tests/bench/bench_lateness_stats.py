#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# Percentiles of lateness records for the daemon benchmarks.
#
#   bench_lateness_stats.py FILE [SOURCE...]
#
# Each line of FILE is "SOURCE NOMINAL_USEC ENTERED_USEC [...]" (the peer's
# lines) or "NOMINAL_USEC ENTERED_USEC JOB" (latency_plugin.so's lines,
# given the source "chimed"). Prints one row per source: count, p50, p99,
# max lateness in milliseconds (entered - nominal), and min (negative
# would mean a run before its instant).
import sys


def rows(path):
    with open(path) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            if parts[0].lstrip("-").isdigit():
                yield "chimed", int(parts[0]), int(parts[1])
            else:
                yield parts[0], int(parts[1]), int(parts[2])


def pct(sorted_values, p):
    # nearest-rank percentile
    k = max(0, min(len(sorted_values) - 1, -(-len(sorted_values) * p // 100) - 1))
    return sorted_values[int(k)]


def main():
    if len(sys.argv) < 2:
        print("usage: bench_lateness_stats.py FILE [SOURCE...]", file=sys.stderr)
        return 2
    by = {}
    for src, nominal, entered in rows(sys.argv[1]):
        by.setdefault(src, []).append(entered - nominal)
    wanted = sys.argv[2:] or sorted(by)
    print("%-28s %7s %9s %9s %9s %9s" % ("source", "n", "p50 ms", "p99 ms", "max ms", "min ms"))
    for src in wanted:
        v = sorted(by.get(src, []))
        if not v:
            print("%-28s %7d" % (src, 0))
            continue
        print("%-28s %7d %9.3f %9.3f %9.3f %9.3f" % (
            src, len(v), pct(v, 50) / 1000, pct(v, 99) / 1000, v[-1] / 1000, v[0] / 1000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
