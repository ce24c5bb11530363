#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# A timestamping stand-in for systemd's notify socket, for the daemon
# benchmarks: bind an AF_UNIX datagram socket at PATH and print each
# datagram as "RECEIVED_MONOTONIC_USEC FIELD FIELD ...", flushed, until
# killed. The receive time is CLOCK_MONOTONIC, the clock of the
# MONOTONIC_USEC= field chimed sends with RELOADING=1.
#
#   bench_reload_listen.py PATH >notify.log &
import os
import socket
import sys
import time


def main():
    if len(sys.argv) != 2:
        print("usage: bench_reload_listen.py PATH", file=sys.stderr)
        return 2
    path = sys.argv[1]
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    while True:
        data = sock.recv(65536)
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        line = data.decode("utf-8", "replace").strip("\n").replace("\n", " ")
        sys.stdout.write("%d %s\n" % (now, line))
        sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
