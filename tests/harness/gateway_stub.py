#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# A payment gateway stub for the billing tests: POST /charge (any path)
# with a JSON body and an Idempotency-Key header, answered like a real
# gateway would. Loopback only; optional TLS.
#
#   gateway_stub.py --dir DIR [--token TOKEN] [--cert CERT --key KEY]
#                   [--port N] [--parent PID]
#
# Writes DIR/port once listening, and appends JSON lines to
#   DIR/requests.jsonl  every request: event "received", then "answered"
#                       (status, replayed) once its answer is written
#   DIR/charges.jsonl   one line per charge actually made (a key charged once)
# Behaviour: DIR/control, re-read on every request; one mode per line,
# each new (not replayed) request consumes the first line, the last line
# stays. Modes:
#   200                 charge, answer 200 {"order_id": "gw-N", "status": "succeeded"}
#   402 [MESSAGE]       decline (any 4xx code), {"message": MESSAGE}
#   500 [MESSAGE]       fail before charging (any 5xx), not remembered
#   hang N              sleep N seconds, then charge and answer 200 (the
#                       client has usually given up: the charge is made but
#                       its answer lost, as with a real timeout)
# Idempotency as real gateways do it: a repeated key gets the original
# answer (2xx and 4xx are remembered, also across restarts through
# DIR/results.jsonl) and is not charged again; a key still being processed
# gets 409; the same key with a different body gets 422. A wrong or
# missing bearer token (with --token) gets 401.
import argparse
import hashlib
import http.server
import json
import os
import socketserver
import ssl
import sys
import threading
import time

lock = threading.Lock()
results = {}      # key -> (status, body dict, body hash)
in_flight = set()
counter = [0]
args = None


def append(name, obj):
    with lock:
        with open(os.path.join(args.dir, name), "a") as f:
            f.write(json.dumps(obj, sort_keys=True) + "\n")


def next_mode():
    path = os.path.join(args.dir, "control")
    with lock:
        try:
            with open(path) as f:
                lines = [line.strip() for line in f if line.strip()]
        except FileNotFoundError:
            lines = []
        if not lines:
            return "200"
        mode = lines[0]
        if len(lines) > 1:
            with open(path + ".tmp", "w") as f:
                f.write("\n".join(lines[1:]) + "\n")
            os.replace(path + ".tmp", path)
        return mode


def load_results():
    try:
        with open(os.path.join(args.dir, "results.jsonl")) as f:
            for line in f:
                r = json.loads(line)
                results[r["key"]] = (r["status"], r["body"], r["hash"])
                counter[0] = max(counter[0], r.get("n", 0))
    except FileNotFoundError:
        pass


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        sys.stderr.write("gateway_stub: " + (fmt % a) + "\n")

    def answer(self, status, body, key, replayed, mode):
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass
        append("requests.jsonl", {"event": "answered", "key": key, "status": status,
                                  "replayed": replayed, "mode": mode, "time": time.time()})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        key = self.headers.get("Idempotency-Key")
        auth = self.headers.get("Authorization")
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        append("requests.jsonl", {"event": "received", "path": self.path, "key": key,
                                  "authorization": auth, "body": body, "time": time.time()})
        if args.token is not None and auth != "Bearer " + args.token:
            return self.answer(401, {"message": "bad credentials"}, key, False, "auth")
        if not key or body is None:
            return self.answer(400, {"message": "Idempotency-Key and a JSON body required"},
                               key, False, "bad")
        digest = hashlib.sha256(raw).hexdigest()
        with lock:
            if key in results:
                status, stored, h = results[key]
                if h != digest:
                    status, stored = 422, {"message": "key reused with a different request"}
                replay = True
            elif key in in_flight:
                status, stored, replay = 409, {"message": "request in progress"}, True
            else:
                in_flight.add(key)
                replay = False
        if replay:
            return self.answer(status, stored, key, True, "replay")
        try:
            mode = next_mode()
            word = mode.split(None, 1)
            code = word[0]
            if code == "hang":
                time.sleep(float(word[1]) if len(word) > 1 else 3600)
                code = "200"
            status = int(code)
            if 200 <= status < 300:
                with lock:
                    counter[0] += 1
                    n = counter[0]
                stored = {"order_id": "gw-%d" % n, "status": "succeeded"}
                append("charges.jsonl", {"key": key, "amount": body.get("amount"),
                                         "currency": body.get("currency"),
                                         "card_token": body.get("card_token"),
                                         "order_id": stored["order_id"]})
            else:
                n = 0
                stored = {"message": word[1] if len(word) > 1 else "error %d" % status}
            if status < 500:
                with lock:
                    results[key] = (status, stored, digest)
                append("results.jsonl", {"key": key, "status": status, "body": stored,
                                         "hash": digest, "n": n})
        finally:
            with lock:
                in_flight.discard(key)
        self.answer(status, stored, key, False, mode)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


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
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--token")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--parent", type=int, help="exit when this process is gone")
    args = p.parse_args()
    if args.parent:
        watch_parent(args.parent)
    load_results()
    srv = Server(("127.0.0.1", args.port), Handler)
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(os.path.join(args.dir, "port.tmp"), "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.replace(os.path.join(args.dir, "port.tmp"), os.path.join(args.dir, "port"))
    srv.serve_forever()


if __name__ == "__main__":
    main()
