#!/usr/bin/python3
"""Registry sync latency (issue 5): an etcd put -> the node published in
microd's shm registry, next to etcd's own put -> watch event latency,
both from the same put, on the same clock (CLOCK_MONOTONIC), in one run.

Usage: bench/sync/run.py [BUILDDIR] [PUTS]   (defaults: _build, 1000)

One single-threaded loop (no GIL hand-offs skewing the clock) sends each
put (etcd's JSON gateway, a fresh loopback connection), then waits on:
- a raw watch stream on the prefix (POST /v3/watch, read as it streams):
  etcd's own latency, put sent -> event received by a client;
- the shm segment itself: the master's memfd, mapped read-only, as every
  worker maps it; the put is visible when the header's `services` count
  (doc/shm-layout.md) grows by one (each put is a new service). Workers
  read the shm on every lookup, with no private cache (rpc/client.c), so
  this is the moment every worker can route it. Polled every 0.25 ms:
  up to that much is added to this column, never to etcd's.
A second, shorter pass measures end to end what a client sees: put sent
-> the api listener's POST /rpc answers 200 from a real HTTP node (404
until then), through whichever of the 2 api workers the kernel picks;
that includes one gateway round trip per poll.
Run by hand, never by the test suite; bench/RESULTS.md keeps the figures.
"""
import base64
import json
import mmap
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

top = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                        os.path.join(top, "_build"))
PUTS = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
RPC_PUTS = max(PUTS // 5, 1)
MICROD = os.path.join(build, "microd", "microd")
MICROCTL = os.path.join(build, "cli", "microctl")
ETCD = shutil.which("etcd") or "/usr/bin/etcd"
PREFIX = b"/micro/registry/"
POLL_S = 0.00025
PUT_TIMEOUT_S = 2.0
SHM_SERVICES_OFF = 256		# doc/shm-layout.md: u64 services


def b64(b):
    return base64.b64encode(b).decode()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait(what, pred, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            v = pred()
            if v:
                return v
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    raise SystemExit("timed out waiting for " + what)


def request(port, method, path, body=b"", timeout=5):
    """One HTTP/1.1 exchange on a fresh connection: (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout) as s:
        s.sendall(b"%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                  b"Content-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (
                      method.encode(), path.encode(), len(body), body))
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), rest


class Etcd:
    def __init__(self, d):
        self.port = free_port()
        peer = free_port()
        self.proc = subprocess.Popen([
            ETCD, "--name", "b", "--data-dir", os.path.join(d, "etcd"),
            "--listen-client-urls", "http://127.0.0.1:%d" % self.port,
            "--advertise-client-urls", "http://127.0.0.1:%d" % self.port,
            "--listen-peer-urls", "http://127.0.0.1:%d" % peer,
            "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % peer,
            "--initial-cluster", "b=http://127.0.0.1:%d" % peer],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait("etcd", lambda: request(self.port, "GET", "/health")[0] == 200)

    def put_conn(self, key, value):
        """Connect, then return (socket, bytes of the put) to send."""
        body = json.dumps({"key": b64(key), "value": b64(value)}).encode()
        s = socket.create_connection(("127.0.0.1", self.port))
        return s, (b"POST /v3/kv/put HTTP/1.1\r\nHost: x\r\n"
                   b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (
                       len(body), body))

    def close(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


class Watch:
    """A raw /v3/watch stream on the prefix; keys seen, in arrival order."""

    def __init__(self, port):
        end = PREFIX[:-1] + bytes([PREFIX[-1] + 1])
        body = json.dumps({"create_request": {
            "key": b64(PREFIX), "range_end": b64(end)}}).encode()
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(b"POST /v3/watch HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        self.raw = b""
        self.data = b""
        self.chunked = None
        wait("watch created", lambda: self.read() or b'"created":true'
             in self.data, 10)

    def read(self):
        got = self.sock.recv(1 << 20)
        if not got:
            raise SystemExit("etcd closed the watch stream")
        self.raw += got
        if self.chunked is None:
            head, sep, rest = self.raw.partition(b"\r\n\r\n")
            if not sep:
                return
            self.chunked = b"chunked" in head.lower()
            self.raw = rest
        if not self.chunked:
            self.data += self.raw
            self.raw = b""
            return
        while True:		# chunks do not align with messages
            size, sep, rest = self.raw.partition(b"\r\n")
            if not sep or len(rest) < int(size, 16) + 2:
                return
            n = int(size, 16)
            self.data += rest[:n]
            self.raw = rest[n + 2:]

    def seen(self, key):
        i = self.data.find(b64(key).encode())
        if i >= 0:
            self.data = self.data[i:]
        return i >= 0


class Microd:
    def __init__(self, d, etcd_port):
        self.sock = os.path.join(d, "s.sock")
        conf = os.path.join(d, "c.conf")
        with open(conf, "w") as f:
            f.write("[microd]\nsocket = %s\nstate_dir = %s/state\n"
                    "log_level = warn\n" % (self.sock, d))
            for role, n in (("api", 2), ("web", 0), ("sidecar", 0),
                            ("broker", 0)):
                f.write("[%s]\nlisten = 127.0.0.1:0\nworkers = %d\n" % (
                    role, n))
            f.write("[registry]\nbackend = etcd\naddress = 127.0.0.1:%d\n"
                    % etcd_port)
        env = dict(os.environ,
                   MICROD_PLUGIN_DIR=os.path.join(build, "plugins"))
        self.proc = subprocess.Popen([MICROD, "-c", conf], env=env,
                                     stderr=open(d + "/microd.log", "w"))
        wait("microd connected to etcd",
             lambda: self.ctl("status")["registry"]["connected"])
        wait("2 api workers", lambda: len([
            w for w in self.ctl("workers")
            if w["role"] == "api" and w["state"] == "running"]) == 2)
        self.api = int(self.ctl("status")["listeners"]["api"].rsplit(
            ":", 1)[1])
        self.shm = self.map_shm()

    def ctl(self, *args):
        out = subprocess.run([MICROCTL, "-s", self.sock, "--json"] +
                             list(args), capture_output=True, text=True,
                             timeout=10)
        if out.returncode != 0:
            raise ValueError("microctl %s: %s" % (args, out.stderr))
        return json.loads(out.stdout)

    def map_shm(self):
        """The master's memfd, read-only: the pages every worker maps."""
        fds = "/proc/%d/fd" % self.proc.pid
        for fd in os.listdir(fds):
            if os.readlink(os.path.join(fds, fd)).startswith(
                    "/memfd:microd-shm"):
                with open(os.path.join(fds, fd), "rb") as f:
                    return mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
        raise SystemExit("no microd-shm memfd in " + fds)

    def services(self):
        return int.from_bytes(self.shm[SHM_SERVICES_OFF:
                                       SHM_SERVICES_OFF + 8], "little")

    def healthz(self):
        return json.loads(request(self.api, "GET", "/healthz")[1])

    def close(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


class Node:
    """The HTTP node every benchmark service points at."""

    def __init__(self):
        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"] or 0))
                # One write: headers and body sent apart would meet
                # Nagle and the gateway's delayed ACK (40 ms).
                self.wfile.write(b"HTTP/1.1 200 OK\r\n"
                                 b"Content-Length: 2\r\n\r\n{}")

            def log_message(self, *a):
                pass
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.address = "127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()


def service(name, address):
    """go-micro's value for one node (as in go-micro's etcd registry)."""
    return json.dumps({"name": name, "version": "1.0.0", "metadata": None,
                       "endpoints": [], "nodes": [{
                           "id": name + "-1", "address": address,
                           "metadata": {"protocol": "mucp"}}]}).encode()


def measure_shm(etcd, watch, m, name, value):
    """(put -> watch event, put -> in shm), seconds."""
    key = PREFIX + name.encode() + b"/" + name.encode() + b"-1"
    want = m.services() + 1
    s, req = etcd.put_conn(key, value)
    t0 = time.monotonic()
    s.sendall(req)
    t_watch = t_shm = None
    rset = [watch.sock, s]
    while t_watch is None or t_shm is None:
        r, _, _ = select.select(rset, [], [], POLL_S)
        now = time.monotonic()
        if t_shm is None and m.services() >= want:
            t_shm = now
        if watch.sock in r:
            watch.read()
        if t_watch is None and watch.seen(key):
            t_watch = now
        if s in r and not s.recv(65536):
            rset.remove(s)	# the put's answer, read to the end
        if now - t0 > PUT_TIMEOUT_S:
            raise SystemExit("%s not seen within %.0f s" % (name,
                                                           PUT_TIMEOUT_S))
    s.close()
    return t_watch - t0, t_shm - t0


def measure_rpc(etcd, m, name, value):
    """put -> the api gateway answers 200, seconds."""
    key = PREFIX + name.encode() + b"/" + name.encode() + b"-1"
    call = json.dumps({"service": name, "endpoint": "B.Call",
                       "request": {}}).encode()
    s, req = etcd.put_conn(key, value)
    t0 = time.monotonic()
    s.sendall(req)
    while request(m.api, "POST", "/rpc", call)[0] != 200:
        if time.monotonic() - t0 > PUT_TIMEOUT_S:
            raise SystemExit(name + " not routable")
    t = time.monotonic() - t0
    s.close()
    return t


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))] * 1000


def main():
    d = tempfile.mkdtemp(prefix="microd-bench-sync-")
    etcd = m = None
    try:
        etcd = Etcd(d)
        m = Microd(d, etcd.port)
        watch = Watch(etcd.port)
        node = Node()
        rows = [measure_shm(etcd, watch, m, "bench.sync%05d" % i,
                            service("bench.sync%05d" % i, node.address))
                for i in range(PUTS)]
        rpc = [measure_rpc(etcd, m, "bench.rpc%05d" % i,
                           service("bench.rpc%05d" % i, node.address))
               for i in range(RPC_PUTS)]
        seen = {}
        wait("both api workers' /healthz", lambda: seen.update(
            {h["worker"]: h["registry"]["services"]
             for h in [m.healthz()]}) or len(seen) == 2)
        status = m.ctl("status")["registry"]
        watch_ms = [w for w, _ in rows]
        shm_ms = [s for _, s in rows]
        print("machine: %d cores, load %s" % (os.cpu_count(), open(
            "/proc/loadavg").read().split(" ", 3)[:3]))
        print("| put -> | n | p50 (ms) | p99 (ms) | max (ms) |")
        print("|---|--:|--:|--:|--:|")
        for what, xs in (("etcd watch event (raw client)", watch_ms),
                         ("microd shm published", shm_ms),
                         ("api /rpc answers 200", rpc)):
            print("| %s | %d | %.2f | %.2f | %.2f |" % (
                what, len(xs), pct(xs, 50), pct(xs, 99), max(xs) * 1000))
        print("shm p99 / watch p99: %.2fx; shm p50 / watch p50: %.2fx" % (
            pct(shm_ms, 99) / pct(watch_ms, 99),
            pct(shm_ms, 50) / pct(watch_ms, 50)))
        print("services per api worker (/healthz): %s; sync state: "
              "revision %d, lag_ms %d" % (
                  seen, status["revision"], status["lag_ms"]))
    finally:
        if m is not None:
            m.close()
        if etcd is not None:
            etcd.close()
        shutil.rmtree(d, ignore_errors=True)


main()
