#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# Write a chimed configuration for the daemon benchmarks (lateness, memory,
# reload) on stdout:
#
#   bench_lateness_config.py N_FAR N_TICK [LATENCY_SO OUT_FILE]
#
# N_FAR noop jobs whose slots are far away (minute M, hour H of January 1st,
# spread over the day so the heap holds distinct instants) keep the heap
# loaded; N_TICK jobs every second ("* * * * * *") run latency_plugin.so,
# which appends (nominal, entered) to OUT_FILE; without LATENCY_SO the tick
# jobs are noop jobs. No database: runs are not ledgered, so what is timed
# is the daemon's own path from the timer to plugin run().
import sys


def main():
    if len(sys.argv) not in (3, 5):
        print("usage: bench_lateness_config.py N_FAR N_TICK [LATENCY_SO OUT_FILE]",
              file=sys.stderr)
        return 2
    n_far, n_tick = int(sys.argv[1]), int(sys.argv[2])
    so = sys.argv[3] if len(sys.argv) == 5 else None
    out = sys.argv[4] if len(sys.argv) == 5 else None
    w = sys.stdout.write
    w("timezone: UTC\nnode: bench\ncontrol_socket: \"\"\n")
    w("defaults:\n  overlap: skip\n  misfire: skip\n\njobs:\n")
    for i in range(n_tick):
        w("  tick-%d:\n    schedule: \"* * * * * *\"\n" % i)
        if so is not None:
            w("    plugin_path: %s\n    options: { out: \"%s\" }\n" % (so, out))
        else:
            w("    plugin: noop\n")
    for i in range(n_far):
        w("  far-%d:\n    schedule: \"%d %d 1 1 *\"\n    plugin: noop\n"
          % (i, i % 60, (i // 60) % 24))
    return 0


if __name__ == "__main__":
    sys.exit(main())
