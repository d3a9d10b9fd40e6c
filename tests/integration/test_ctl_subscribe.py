"""The subscribe stream of the control socket (doc/control-protocol.md,
"The subscribe stream"): microctl subscribe over it, both publish paths,
queue groups, a client that does not read, a broker restart, the broker
role off, bad arguments."""
import asyncio
import base64
import http.client
import json
import os
import queue
import socket
import struct
import subprocess
import threading

import websockets

from conftest import MICROCTL, frame, wait_for
from test_broker import ctl_settle


def unmp(b, i=0):
    """A tiny msgpack decoder for what the master sends: (value, next)."""
    t = b[i]
    fixed = {0xc0: None, 0xc2: False, 0xc3: True}
    if t in fixed:
        return fixed[t], i + 1
    if t < 0x80:
        return t, i + 1
    if t >= 0xe0:
        return t - 0x100, i + 1
    if 0xa0 <= t <= 0xbf:
        return b[i + 1:i + 1 + (t & 31)].decode(), i + 1 + (t & 31)
    if 0x80 <= t <= 0x8f or t in (0xde, 0xdf):
        n, i = ((t & 15, i + 1) if t <= 0x8f else
                (int.from_bytes(b[i + 1:i + (3 if t == 0xde else 5)],
                                "big"), i + (3 if t == 0xde else 5)))
        d = {}
        for _ in range(n):
            k, i = unmp(b, i)
            d[k], i = unmp(b, i)
        return d, i
    if 0x90 <= t <= 0x9f or t in (0xdc, 0xdd):
        n, i = ((t & 15, i + 1) if t <= 0x9f else
                (int.from_bytes(b[i + 1:i + (3 if t == 0xdc else 5)],
                                "big"), i + (3 if t == 0xdc else 5)))
        a = []
        for _ in range(n):
            x, i = unmp(b, i)
            a.append(x)
        return a, i
    sizes = {0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8, 0xd0: 1, 0xd1: 2,
             0xd2: 4, 0xd3: 8}
    if t in sizes:
        w = sizes[t]
        return (int.from_bytes(b[i + 1:i + 1 + w], "big",
                               signed=t >= 0xd0), i + 1 + w)
    lens = {0xd9: (1, str), 0xda: (2, str), 0xdb: (4, str),
            0xc4: (1, bytes), 0xc5: (2, bytes), 0xc6: (4, bytes)}
    w, kind = lens[t]
    n = int.from_bytes(b[i + 1:i + 1 + w], "big")
    raw = b[i + 1 + w:i + 1 + w + n]
    return (raw.decode() if kind is str else bytes(raw)), i + 1 + w + n


class Ctl:
    """A raw control-socket client."""

    def __init__(self, m, rcvbuf=None):
        self.s = socket.socket(socket.AF_UNIX)
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.connect(m.socket)
        self.s.settimeout(20)
        self.buf = b""

    def send(self, id, cmd, args=None):
        d = {"v": 1, "id": id, "cmd": cmd}
        if args is not None:
            d["args"] = args
        self.s.sendall(frame(d))

    def recv(self):
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    msg = unmp(self.buf[4:4 + n])[0]
                    self.buf = self.buf[4 + n:]
                    return msg
            data = self.s.recv(1 << 20)
            assert data, "microd closed the control connection"
            self.buf += data

    def event(self, name):
        """The next message, which must be the event name."""
        msg = self.recv()
        assert msg.get("event") == name, msg
        return msg["data"]

    def subscribe(self, topic, queue=None, id=1):
        args = {"topic": topic}
        if queue is not None:
            args["queue"] = queue
        self.send(id, "subscribe", args)
        reply = self.recv()
        assert reply["ok"], reply
        self.event("subscribed")

    def close(self):
        self.s.close()


class Sub:
    """`microctl subscribe` running, stdout and stderr read by threads."""

    def __init__(self, m, *args):
        env = dict(m.env, MICROD_SOCKET=m.socket)
        self.proc = subprocess.Popen([MICROCTL, "subscribe"] + list(args),
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        self.lines, self.errs = queue.Queue(), []
        threading.Thread(target=self.read, daemon=True).start()
        threading.Thread(target=lambda: self.errs.extend(
            ln.decode() for ln in self.proc.stderr), daemon=True).start()

    def read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip(b"\n"))

    def line(self, timeout=5):
        return self.lines.get(timeout=timeout)

    def drain(self, quiet=0.5):
        got = []
        while True:
            try:
                got.append(self.line(quiet))
            except queue.Empty:
                return got

    def stop(self):
        self.proc.terminate()
        self.proc.wait(5)


def settle(m, topic, subs):
    """Publish probes until every subscriber printed one, then drain."""
    ctl_settle(m, topic, subs)
    for s in subs:
        s.drain(0.2)


def post(m, topic, body, ctype):
    c = http.client.HTTPConnection("127.0.0.1", m.ports["broker"],
                                   timeout=10)
    c.request("POST", "/pub?topic=" + topic, body, {"Content-Type": ctype})
    assert c.getresponse().status == 202
    c.close()


def tcp_sockets(pid):
    """The TCP sockets process pid holds (by inode, from /proc)."""
    mine = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except FileNotFoundError:
            continue
        if link.startswith("socket:["):
            mine.add(link[8:-1])
    tcp = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(name) as f:
            tcp |= {ln.split()[9] for ln in list(f)[1:]}
    return mine & tcp


def test_both_publish_paths_in_order_with_headers(microd):
    m = microd()
    plain, env = Sub(m, "orders"), Sub(m, "orders", "--json")
    ws_url = "ws://127.0.0.1:%d/sub?topic=orders" % m.ports["broker"]

    async def direct():
        async with websockets.connect(ws_url) as ws:
            settle(m, "orders", [plain, env])
            frames = []
            while True:
                try:
                    frames.append(await asyncio.wait_for(ws.recv(), 0.2))
                except asyncio.TimeoutError:
                    break
            m.ctl("publish", "orders", '{"id":7}')
            post(m, "orders", b"\x00raw\xff bytes", "application/x-custom")
            m.ctl("publish", "orders", "-", input="from stdin")
            return [await asyncio.wait_for(ws.recv(), 10)
                    for _ in range(3)]
    try:
        frames = asyncio.run(asyncio.wait_for(direct(), 60))
        assert plain.drain() == [b'{"id":7}', b"\x00raw\xff bytes",
                                 b"from stdin"]
        envs = env.drain()
        # --json prints the broker's envelope byte for byte.
        assert envs == [f.encode() if isinstance(f, str) else f
                        for f in frames]
        e = [json.loads(x) for x in envs]
        assert [base64.b64decode(x["Body"]) for x in e] == \
            [b'{"id":7}', b"\x00raw\xff bytes", b"from stdin"]
        assert e[0]["Header"] == {"Content-Type": "application/json",
                                  "Micro-Topic": "orders"}
        assert e[1]["Header"]["Content-Type"] == "application/x-custom"
        assert e[2]["Header"]["Content-Type"] == "text/plain"
        assert plain.proc.poll() is None and env.proc.poll() is None
        # Over the control socket: microctl holds no connection of its own
        # to the broker.
        assert tcp_sockets(plain.proc.pid) == set()
    finally:
        plain.stop()
        env.stop()


def test_raw_event_shape(microd):
    m = microd()
    c = Ctl(m)
    try:
        c.subscribe("shape")
        post(m, "shape", b"hello", "text/x-hello")
        assert c.event("message") == {
            "topic": "shape", "body": b"hello",
            "header": {"Content-Type": "text/x-hello",
                       "Micro-Topic": "shape"}}
        # Any request ends the stream: its reply comes, no more messages.
        c.send(2, "version")
        assert c.recv()["id"] == 2
        post(m, "shape", b"after", "text/plain")
        c.send(3, "version")
        assert c.recv()["id"] == 3
    finally:
        c.close()


def test_queue_group_splits_between_two(microd):
    m = microd()
    a, b = Ctl(m), Ctl(m)
    try:
        a.subscribe("jobs", "g")
        b.subscribe("jobs", "g")
        for i in range(6):
            post(m, "jobs", b"job%d" % i, "text/plain")
        got = {0: [], 1: []}
        for k, c in enumerate((a, b)):
            c.s.settimeout(1)
            try:
                while True:
                    got[k].append(c.event("message")["body"])
            except socket.timeout:
                pass
        assert sorted(got[0] + got[1]) == [b"job%d" % i for i in range(6)]
        assert len(got[0]) == len(got[1]) == 3
    finally:
        a.close()
        b.close()


def test_unread_client_loses_messages_not_memory(microd):
    """The master buffers a bounded amount for a client that does not
    read; what it drops is reported as one lost event when it reads."""
    m = microd()
    c = Ctl(m, rcvbuf=4096)
    n, size = 800, 4096
    try:
        c.subscribe("flood")
        pub = http.client.HTTPConnection("127.0.0.1", m.ports["broker"],
                                         timeout=10)
        for i in range(n):
            pub.request("POST", "/pub?topic=flood",
                        b"%06d" % i + b"x" * (size - 6),
                        {"Content-Type": "text/plain"})
            r = pub.getresponse()
            r.read()
            assert r.status == 202
        pub.close()
        # The broker delivered them all to the master.
        wait_for(lambda: json.loads(urlget(m, "/stats"))["delivered"] >= n,
                 10, what="delivered to the master")
        seqs, lost = [], 0
        c.s.settimeout(3)
        try:
            while len(seqs) + lost < n:
                msg = c.recv()
                if msg["event"] == "lost":
                    lost += msg["data"]["messages"]
                else:
                    seqs.append(int(msg["data"]["body"][:6]))
        except socket.timeout:
            pass
        assert lost > 0
        assert len(seqs) + lost == n
        assert seqs == sorted(seqs)
        # Bounded: 256 KiB queued in the master, plus the socket buffers.
        assert len(seqs) * size < 4 * 1024 * 1024
    finally:
        c.close()


def urlget(m, path):
    c = http.client.HTTPConnection("127.0.0.1", m.ports["broker"],
                                   timeout=10)
    c.request("GET", path)
    body = c.getresponse().read()
    c.close()
    return body


def test_broker_restart_interrupts_then_resumes(microd):
    m = microd()
    s = Sub(m, "live")
    try:
        settle(m, "live", [s])
        old = [w["pid"] for w in m.running("broker")]
        m.ctl("restart", "broker")
        wait_for(lambda: [w["pid"] for w in m.running("broker")] not in
                 ([], old), 20, what="a new broker worker")
        got = []

        def resumed():
            m.ctl("publish", "live", "after")
            try:
                got.append(s.line(0.2))
            except queue.Empty:
                pass
            return got
        wait_for(resumed, 20, what="messages after the restart")
        assert got[0] == b"after"
        assert s.proc.poll() is None
        wait_for(lambda: any("interrupted" in e for e in s.errs), 5,
                 what="the interruption said")
        assert any("going away" in e for e in s.errs), s.errs
    finally:
        s.stop()


def test_broker_role_off(microd):
    m = microd(workers={"broker": 0})
    r = m.ctl("subscribe", "t", check=False, timeout=10)
    assert r.returncode == 1
    assert "broker role is off" in r.stderr and r.stdout == ""


def test_bad_arguments(microd):
    m = microd(workers={"web": 0, "api": 0})
    for args in (["subscribe"], ["subscribe", "bad topic"],
                 ["subscribe", "t", "--queue", "bad queue"],
                 ["subscribe", "a", "b"]):
        r = m.ctl(*args, check=False, timeout=10)
        assert r.returncode == 2, (args, r.stderr)
    c = Ctl(m)
    try:
        for i, args in enumerate(({}, {"topic": "a b"}, {"topic": 7},
                                  {"topic": "t", "queue": ""},
                                  {"topic": "x" * 256})):
            c.send(i + 1, "subscribe", args)
            reply = c.recv()
            assert not reply["ok"] and reply["code"] == "invalid", reply
            assert "topic" in reply["error"]
    finally:
        c.close()


def test_proxy_address_uses_the_sidecar(microd):
    m = microd()
    s = Sub(m, "--proxy-address", "127.0.0.1:%d" % m.ports["sidecar"],
            "side")
    try:
        settle(m, "side", [s])
        post(m, "side", b"via the sidecar", "text/plain")
        assert s.drain() == [b"via the sidecar"]
        assert len(tcp_sockets(s.proc.pid)) == 1
    finally:
        s.stop()
