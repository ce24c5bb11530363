#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# A stand-in for systemd's notify socket: bind an AF_UNIX datagram socket
# at PATH and print each datagram received as one line (its newline-
# separated fields joined by spaces), flushed at once, until killed.
#
#   notify_listen.py PATH >notify.log &
#   NOTIFY_SOCKET=PATH chimed ...
import os
import socket
import sys


def main():
    if len(sys.argv) != 2:
        print("usage: notify_listen.py PATH", file=sys.stderr)
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
        line = data.decode("utf-8", "replace").strip("\n").replace("\n", " ")
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
