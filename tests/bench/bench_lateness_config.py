#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# Write a chimed configuration for the daemon benchmarks (lateness, memory,
# reload): DIR/chime.yaml and DIR/jobs.d/*.yaml (10,000 jobs per drop-in):
#
#   bench_lateness_config.py DIR N_FAR N_TICK [LATENCY_SO OUT_FILE]
#
# N_FAR noop jobs whose slots are far away (minute M, hour H of January 1st,
# spread over the day so the heap holds distinct instants) keep the heap
# loaded; N_TICK jobs every second ("* * * * * *") run latency_plugin.so,
# which appends (nominal, entered) to OUT_FILE; without LATENCY_SO the tick
# jobs are noop jobs. No database: runs are not ledgered, so what is timed
# is the daemon's own path from the timer to plugin run().
import os
import sys

PER_FILE = 10000  # chime.yaml files are limited to 4 MB each: drop-ins


def main():
    if len(sys.argv) not in (4, 6):
        print("usage: bench_lateness_config.py DIR N_FAR N_TICK [LATENCY_SO OUT_FILE]",
              file=sys.stderr)
        return 2
    d = sys.argv[1]
    n_far, n_tick = int(sys.argv[2]), int(sys.argv[3])
    so = sys.argv[4] if len(sys.argv) == 6 else None
    out = sys.argv[5] if len(sys.argv) == 6 else None
    os.makedirs(os.path.join(d, "jobs.d"), exist_ok=True)
    for old in os.listdir(os.path.join(d, "jobs.d")):
        os.unlink(os.path.join(d, "jobs.d", old))
    with open(os.path.join(d, "chime.yaml"), "w") as f:
        w = f.write
        w("timezone: UTC\nnode: bench\ncontrol_socket: \"\"\n")
        w("include: jobs.d/*.yaml\n")
        w("defaults:\n  overlap: skip\n  misfire: skip\n\njobs:\n")
        for i in range(n_tick):
            w("  tick-%d:\n    schedule: \"* * * * * *\"\n" % i)
            if so is not None:
                w("    plugin_path: %s\n    options: { out: \"%s\" }\n" % (so, out))
            else:
                w("    plugin: noop\n")
    for start in range(0, n_far, PER_FILE):
        with open(os.path.join(d, "jobs.d", "far-%06d.yaml" % start), "w") as f:
            f.write("jobs:\n")
            for i in range(start, min(n_far, start + PER_FILE)):
                f.write("  far-%d:\n    schedule: \"%d %d 1 1 *\"\n    plugin: noop\n"
                        % (i, i % 60, (i // 60) % 24))
    return 0


if __name__ == "__main__":
    sys.exit(main())
