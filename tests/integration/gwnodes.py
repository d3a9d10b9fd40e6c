"""Service nodes for the gateway tests: the example greeters run as
processes, and scriptable in-process nodes (FakeNode) that record what
reaches them, answer slowly, or speak JSON-RPC, proxy or websocket."""
import json
import os
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import BUILDDIR, SRCDIR, accept_loop, http, wait_for

GREETER_SRV = os.path.join(BUILDDIR, "examples", "greeter", "greeter-srv")
GREETER_API = os.path.join(BUILDDIR, "examples", "greeter", "greeter-api")
GREETER_PY = os.path.join(SRCDIR, "examples", "greeter", "srv.py")


def register(m, svc, ttl="60s", method="POST"):
    status, _, body = http(method, m.url("sidecar", "/registry?ttl=" + ttl),
                           json.dumps(svc).encode(),
                           {"Content-Type": "application/json"})
    assert status == 200, body


def node_ids(m, name):
    status, _, body = http("GET", m.url("sidecar",
                                        "/registry?service=" + name))
    if status != 200:
        return []
    return [n["id"] for v in json.loads(body) for n in v["nodes"]]


class Process:
    """An example service; its address is read from its first line."""

    def __init__(self, argv):
        if not os.path.exists(argv[0]):
            pytest.fail("%s is not built (make check builds it)" % argv[0])
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("listening on "), line
        self.address = line.split()[-1]

    def stop(self, sig=None):
        if self.proc.poll() is None:
            if sig is None:
                self.proc.terminate()
            else:
                self.proc.send_signal(sig)
            self.proc.wait(timeout=10)


def sidecar(m):
    return "127.0.0.1:%d" % m.ports["sidecar"]


def c_srv(m, *flags):
    return start_greeter(m, [GREETER_SRV, "-s", sidecar(m)] + list(flags),
                         "go.micro.srv.greeter")


def c_api(m):
    return start_greeter(m, [GREETER_API, "-s", sidecar(m)],
                         "go.micro.api.greeter")


def py_srv(m):
    return start_greeter(m, ["/usr/bin/python3", GREETER_PY, "--sidecar",
                             sidecar(m)], "go.micro.srv.greeter")


def start_greeter(m, argv, name):
    p = Process(argv)
    try:
        wait_for(lambda: any(p.address in i for i in node_ids(m, name)),
                 what="%s registered" % name)
    except BaseException:
        p.stop()    # no test holds it yet: it would outlive the run
        raise
    return p


class FakeNode:
    """An HTTP node; behaviour(handler, body) returns (status, headers,
    body) and every request is recorded as (method, path, headers, body)."""

    def __init__(self, behaviour=None):
        self.requests = []
        self.behaviour = behaviour or (lambda h, b: (200, {}, b))
        node = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_one(self):
                n = int(self.headers.get("Content-Length") or 0)
                if self.headers.get("Transfer-Encoding") == "chunked":
                    body = self.read_chunked()
                else:
                    body = self.rfile.read(n)
                node.requests.append((self.command, self.path,
                                      dict(self.headers), body))
                if self.headers.get("Upgrade") == "websocket":
                    return self.echo_upgrade()
                status, headers, out = node.behaviour(self, body)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def read_chunked(self):
                out = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    if size == 0:
                        self.rfile.readline()
                        return out
                    out += self.rfile.read(size)
                    self.rfile.readline()

            def echo_upgrade(self):
                self.send_response(101)
                self.send_header("Upgrade", "websocket")
                self.send_header("Connection", "Upgrade")
                self.end_headers()
                self.wfile.flush()
                while True:
                    data = self.connection.recv(4096)
                    if not data:
                        return
                    self.connection.sendall(data.upper())

            do_GET = do_POST = do_PUT = do_DELETE = handle_one

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = "127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def service(self, name, protocol="mucp", node_id=None, version="1.0.0"):
        meta = {"protocol": protocol} if protocol else {}
        return {"name": name, "version": version,
                "nodes": [{"id": node_id or name + "-" + self.address,
                           "address": self.address, "metadata": meta}]}

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def slow(seconds):
    def behaviour(h, body):
        time.sleep(seconds)
        return 200, {"Content-Type": "application/json"}, b"{}"
    return behaviour


def closed_address():
    """An address where nothing listens (connections are refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    addr = "127.0.0.1:%d" % s.getsockname()[1]
    s.close()
    return addr


def read_head(s):
    """Bytes from s up to the end of a message head, or to the close."""
    got = b""
    while b"\r\n\r\n" not in got:
        data = s.recv(65536)
        if not data:
            break
        got += data
    return got


class RawNode:
    """A node that answers every request with the same raw bytes, then
    closes: for backends that break HTTP (bad status, cut bodies). The
    answer may also be a list of (seconds to wait, bytes) pieces: a node
    that trickles; or answer(conn), writing it. threaded: a thread per
    connection, for answers that take their time."""

    def __init__(self, answer, threaded=False):
        self.answer, self.requests = answer, 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        accept_loop(self.sock, self.serve if not threaded else (
            lambda c: threading.Thread(target=self.serve, args=(c,),
                                       daemon=True).start()))

    def serve(self, c):
        with c:
            head = read_head(c)
            if b"\r\n\r\n" in head:
                self.requests += 1
                self.send(c)

    def send(self, c):
        pieces = self.answer if isinstance(self.answer, list) else [
            (0, self.answer)]
        try:
            if callable(self.answer):
                self.answer(c)
                return
            for wait, data in pieces:
                time.sleep(wait)
                c.sendall(data)
        except OSError:
            pass    # the peer gave up on us: what the test looks at

    def service(self, name):
        return {"name": name, "version": "1",
                "nodes": [{"id": name + "-raw", "address": self.address,
                           "metadata": {}}]}

    def close(self):
        self.sock.close()
