"""What the two Python greeter services (srv.py, api.py) share, as
greeter.c is for the C pair: a keep-alive HTTP listener, error JSON,
self-registration through a microd sidecar (POST /registry?ttl=...,
renewed every RENEW_SECONDS; DELETE on SIGTERM/SIGINT) and calls through
the sidecar's POST /rpc. Standard library only."""
import argparse
import http.client
import json
import signal
import socket
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TTL = "30s"
RENEW_SECONDS = 10
CONNECT_TIMEOUT = 5     # microd's HTTP client defaults, as the C services
CALL_TIMEOUT = 30

# The texts microd's http_status_text gives the codes these services use.
STATUS = {400: "Bad Request", 404: "Not Found",
          500: "Internal Server Error", 502: "Bad Gateway"}


def error_json(id, code, detail):
    return {"id": id, "code": code, "detail": detail,
            "status": STATUS.get(code, "Unknown")}


def dumps(obj):
    """Compact JSON as UTF-8, as jansson's json_dumps(JSON_COMPACT)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def _no_constant(name):
    raise ValueError("not JSON: " + name)


def loads(raw):
    """The body as JSON; ValueError for what jansson refuses too (empty
    bodies, NaN/Infinity, invalid UTF-8, lone surrogates)."""
    v = json.loads(raw, parse_constant=_no_constant)
    dumps(v)    # UnicodeEncodeError (a ValueError) on a lone surrogate
    return v


class Handler(BaseHTTPRequestHandler):
    """Subclasses define do_POST; self.server.sidecar is the sidecar."""
    protocol_version = "HTTP/1.1"  # keep-alive, as microd's client pools

    def body(self):
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def reply(self, code, obj):
        body = dumps(obj)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def reply_error(self, code, id, detail):
        self.reply(code, error_json(id, code, detail))

    def log_message(self, fmt, *args):
        pass


class CallError(Exception):
    """The sidecar could not be asked; the text is microd's HTTP
    client's (http_client_strerror) for the same failure."""


def call(sidecar, service, method, request):
    """POST /rpc on the sidecar: (HTTP status, reply body bytes)."""
    host, port = sidecar.rsplit(":", 1)
    conn = http.client.HTTPConnection(host.strip("[]"), int(port),
                                      timeout=CONNECT_TIMEOUT)
    try:
        try:
            conn.connect()
        except ConnectionRefusedError:
            raise CallError("connection refused")
        except socket.timeout:
            raise CallError("connect timed out")
        except OSError:
            raise CallError("cannot connect")
        conn.sock.settimeout(CALL_TIMEOUT)
        try:
            conn.request("POST", "/rpc", dumps({"service": service,
                                                "method": method,
                                                "request": request}),
                         {"Content-Type": "application/json"})
            r = conn.getresponse()
            return r.status, r.read()
        except socket.timeout:
            raise CallError("request timed out")
        except (ConnectionError, http.client.RemoteDisconnected):
            raise CallError("connection lost before the response")
        except (OSError, http.client.HTTPException):
            raise CallError("bad response")
    finally:
        conn.close()


def registry(sidecar, method, svc):
    url = "http://%s/registry" % sidecar
    if method == "POST":
        url += "?ttl=" + TTL
    req = urllib.request.Request(url, data=json.dumps(svc).encode(),
                                 method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        r.read()


def serve(handler, service):
    """A service's whole life (greeter_serve in C): listen on --listen
    (the real address is printed), answer with handler, register what
    service(address) describes and keep it registered, run until
    SIGTERM/SIGINT, then deregister."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--sidecar", default="127.0.0.1:8081")
    args = ap.parse_args()
    host, port = args.listen.rsplit(":", 1)
    server = ThreadingHTTPServer((host, int(port)), handler)
    server.daemon_threads = True
    server.sidecar = args.sidecar
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
