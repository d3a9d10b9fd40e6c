#!/usr/bin/python3
"""go.micro.srv.greeter in Python, standard library only.

Say.Hello {"name":"John"} -> {"msg":"Hello John"} over mucp (POST / with
the raw JSON body and the endpoint in the Micro-Endpoint header). The
service registers itself through a microd sidecar (POST /registry with a
TTL), renews the registration periodically, and deregisters on exit.

usage: srv.py [--listen HOST:PORT] [--sidecar HOST:PORT]
"""
import argparse
import json
import signal
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME = "go.micro.srv.greeter"
TTL = "30s"
RENEW_SECONDS = 10


def say_hello(req):
    name = req.get("name") if isinstance(req, dict) else None
    if not name:
        raise ValueError("name required")
    return {"msg": "Hello " + name}


def health(req):
    return {"status": "ok"}


ENDPOINTS = {"Say.Hello": say_hello, "Debug.Health": health}


def error_json(code, detail):
    status = {400: "Bad Request", 404: "Not Found"}.get(code, "Error")
    return {"id": NAME, "code": code, "detail": detail, "status": status}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as microd's client pools

    def reply(self, code, obj):
        body = json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        fn = ENDPOINTS.get(self.headers.get("Micro-Endpoint", ""))
        if fn is None:
            self.reply(404, error_json(404, "unknown endpoint"))
            return
        try:
            self.reply(200, fn(json.loads(raw or b"{}")))
        except ValueError as e:
            self.reply(400, error_json(400, str(e)))

    def log_message(self, fmt, *args):
        pass


def service(address):
    return {
        "name": NAME, "version": "latest",
        "endpoints": [{"name": "Say.Hello",
                       "request": {"name": "Request", "type": "Request",
                                   "values": [{"name": "name",
                                               "type": "string"}]},
                       "response": {"name": "Response", "type": "Response",
                                    "values": [{"name": "msg",
                                                "type": "string"}]}}],
        "nodes": [{"id": "%s-py-%s" % (NAME, address), "address": address,
                   "metadata": {"protocol": "mucp", "server": "python"}}],
    }


def registry(sidecar, method, svc):
    url = "http://%s/registry" % sidecar
    if method == "POST":
        url += "?ttl=" + TTL
    req = urllib.request.Request(url, data=json.dumps(svc).encode(),
                                 method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        r.read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--sidecar", default="127.0.0.1:8081")
    args = ap.parse_args()
    host, port = args.listen.rsplit(":", 1)
    server = ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True
    address = "%s:%d" % server.server_address[:2]
    print("listening on %s" % address, flush=True)
    svc = service(address)
    stop = threading.Event()

    def renew():
        while not stop.is_set():
            try:
                registry(args.sidecar, "POST", svc)
            except OSError as e:
                print("register: %s" % e, file=sys.stderr, flush=True)
            stop.wait(RENEW_SECONDS)

    def shutdown(signum, frame):
        stop.set()
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    threading.Thread(target=renew, daemon=True).start()
    server.serve_forever()
    try:
        registry(args.sidecar, "DELETE", svc)
    except OSError:
        pass


if __name__ == "__main__":
    main()
