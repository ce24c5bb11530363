#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# An SMTP sink for the tests (Debian's python3-aiosmtpd): every accepted
# message is written to DIR/mail/NNNN.eml, with the envelope prepended as
# X-Envelope-From / X-Envelope-To lines. Loopback only.
#
#   smtp_sink.py --dir DIR [--auth USER:PASSWORD] [--reject-auth]
#                [--starttls CERT KEY] [--port N] [--parent PID]
#
# Writes DIR/port once listening. --auth requires AUTH (PLAIN/LOGIN) with
# these credentials (allowed without TLS, for the tests); --reject-auth
# refuses every login; --starttls offers STARTTLS and requires it before
# MAIL.
import argparse
import os
import socket
import ssl
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

lock = threading.Lock()


class Sink:
    def __init__(self, directory):
        self.dir = os.path.join(directory, "mail")
        os.makedirs(self.dir, exist_ok=True)

    async def handle_DATA(self, server, session, envelope):
        with lock:
            n = len(os.listdir(self.dir)) + 1
            path = os.path.join(self.dir, "%04d.eml" % n)
            with open(path + ".tmp", "wb") as f:
                f.write(b"X-Envelope-From: " + envelope.mail_from.encode() + b"\r\n")
                f.write(b"X-Envelope-To: " + ",".join(envelope.rcpt_tos).encode() + b"\r\n")
                data = envelope.original_content or envelope.content
                f.write(data if isinstance(data, bytes) else data.encode())
            os.replace(path + ".tmp", path)
        return "250 OK"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def watch_parent(pid):
    """Exit once process `pid` is gone (the demo script that started us)."""
    def loop():
        while True:
            time.sleep(1)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:
                pass
    threading.Thread(target=loop, daemon=True).start()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--auth")
    p.add_argument("--reject-auth", action="store_true")
    p.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--parent", type=int, help="exit when this process is gone")
    args = p.parse_args()
    if args.parent:
        watch_parent(args.parent)

    kw = {}
    if args.auth or args.reject_auth:
        user, _, password = (args.auth or "x:y").partition(":")

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (not args.reject_auth and auth_data.login.decode() == user
                  and auth_data.password.decode() == password)
            return AuthResult(success=ok, handled=False)

        kw.update(authenticator=authenticator, auth_required=True, auth_require_tls=False)
    if args.starttls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.starttls[0], args.starttls[1])
        kw.update(tls_context=ctx, require_starttls=True)
    port = args.port or free_port()
    ctl = Controller(Sink(args.dir), hostname="127.0.0.1", port=port, **kw)
    ctl.start()
    with open(os.path.join(args.dir, "port.tmp"), "w") as f:
        f.write("%d\n" % port)
    os.replace(os.path.join(args.dir, "port.tmp"), os.path.join(args.dir, "port"))
    threading.Event().wait()


if __name__ == "__main__":
    main()
