"""The broker role: websockets and HTTP, fan-out, queue groups, several
workers as one broker, slow subscribers, limits, respawn (doc/broker.md).
"""
import asyncio
import base64
import json
import os
import queue
import re
import signal
import socket
import subprocess
import threading

import pytest
import websockets

from conftest import MICROCTL, http, signal_pid, wait_for

SMALL = "[broker]\nmax_message = 1024\n"


def ws_url(m, path):
    return "ws://127.0.0.1:%d%s" % (m.ports["broker"], path)


def run(coro, timeout=30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def post(m, topic, body, ctype="text/plain"):
    return http("POST", m.url("broker", "/pub?topic=" + topic), body,
                {"Content-Type": ctype})


def body_of(frame):
    env = json.loads(frame)
    return env["Header"], base64.b64decode(env["Body"])


async def recv_n(ws, n):
    return [body_of(await ws.recv()) for _ in range(n)]


def stats(m):
    status, _, body = http("GET", m.url("broker", "/stats"))
    assert status == 200
    return json.loads(body)


def test_fanout_over_http_publish(microd):
    m = microd()

    async def go():
        subs = [await websockets.connect(ws_url(m, "/sub?topic=news"))
                for _ in range(3)]
        status, _, _ = post(m, "news", b'{"n":1}', "application/json")
        assert status == 202
        for s in subs:
            header, body = body_of(await s.recv())
            assert body == b'{"n":1}'
            assert header["Content-Type"] == "application/json"
            assert header["Micro-Topic"] == "news"
        for s in subs:
            await s.close()
    run(go())


def test_publish_over_websocket(microd):
    m = microd()

    async def go():
        sub = await websockets.connect(ws_url(m, "/sub?topic=t"))
        pub = await websockets.connect(ws_url(m, "/pub?topic=t"))
        await pub.send("text frame")
        await pub.send(b"\x00\x01binary")
        got = await recv_n(sub, 2)
        assert got[0] == ({"Content-Type": "text/plain",
                           "Micro-Topic": "t"}, b"text frame")
        assert got[1][1] == b"\x00\x01binary"
        assert got[1][0]["Content-Type"] == "application/octet-stream"
        await pub.close()
        await sub.close()
    run(go())


def test_large_messages_span_reads(microd):
    """Frames far larger than one read (16 KiB) arrive whole, in order,
    also when several are sent back to back."""
    m = microd()
    bodies = [os.urandom(n) for n in (16 * 1024 - 3, 16 * 1024 + 1,
                                      300 * 1024, 70 * 1024)]

    async def go():
        sub = await websockets.connect(ws_url(m, "/sub?topic=big"),
                                       max_size=None)
        pub = await websockets.connect(ws_url(m, "/pub?topic=big"))
        for b in bodies:
            await pub.send(b)
        got = await recv_n(sub, len(bodies))
        assert [b for _, b in got] == bodies
        await pub.close()
        await sub.close()
    run(go())


def test_queue_group_exclusive_and_spread(microd):
    m = microd()

    async def go():
        members = [await websockets.connect(
            ws_url(m, "/sub?topic=jobs&queue=workers")) for _ in range(3)]
        plain = await websockets.connect(ws_url(m, "/sub?topic=jobs"))
        for i in range(30):
            assert post(m, "jobs", b"job%d" % i)[0] == 202
        assert len(await recv_n(plain, 30)) == 30
        seen = []
        for s in members:
            mine = []
            while True:
                try:
                    mine.append((await asyncio.wait_for(s.recv(), 0.5)))
                except asyncio.TimeoutError:
                    break
            assert len(mine) == 10     # round robin: an even spread
            seen += [body_of(f)[1] for f in mine]
        assert sorted(seen) == sorted(b"job%d" % i for i in range(30))
    run(go())


def broker_pid_of(m, sock_port):
    """The broker worker pid serving our client port (from ss)."""
    # Both ports: another connection on the host may use ours as its peer's.
    out = subprocess.run(["ss", "-tnpH", "state", "established",
                          "( sport = :%d and dport = :%d )"
                          % (m.ports["broker"], sock_port)],
                         capture_output=True, text=True).stdout
    found = re.search(r"pid=(\d+)", out)
    return int(found.group(1)) if found else None


async def sub_on_each_worker(m, topic, pids):
    """One subscriber per broker worker, found by trial."""
    by_pid, spare = {}, []
    for _ in range(40):
        s = await websockets.connect(ws_url(m, "/sub?topic=" + topic))
        pid = wait_for(lambda: broker_pid_of(
            m, s.transport.get_extra_info("sockname")[1]), 5, what="ss")
        if pid in by_pid:
            spare.append(s)
        else:
            by_pid[pid] = s
        if len(by_pid) == len(pids):
            break
    for s in spare:
        await s.close()
    return by_pid


def test_two_workers_share_topics(microd):
    m = microd(workers={"broker": 2})
    pids = [w["pid"] for w in m.running("broker")]
    assert len(pids) == 2

    async def go():
        by_pid = await sub_on_each_worker(m, "shared", pids)
        assert sorted(by_pid) == sorted(pids), "could not reach both"
        # Publish through each worker's own websocket: both hear both.
        for i in range(10):
            assert post(m, "shared", b"m%d" % i)[0] == 202
        for s in by_pid.values():
            got = [b for _, b in await recv_n(s, 10)]
            assert got == [b"m%d" % i for i in range(10)]
    run(go())


def test_slow_subscriber_dropped_others_unhurt(microd):
    m = microd("[broker]\nqueue_size = 32\n")
    n, size = 600, 16 * 1024

    async def go():
        fast = await websockets.connect(ws_url(m, "/sub?topic=flood"),
                                        max_size=None, max_queue=None)
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(("127.0.0.1", m.ports["broker"]))
        slow.sendall(b"GET /sub?topic=flood HTTP/1.1\r\nHost: x\r\n"
                     b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     b"Sec-WebSocket-Version: 13\r\n\r\n")
        assert b"101" in slow.recv(12)
        pub = await websockets.connect(ws_url(m, "/pub?topic=flood"))
        got = 0
        for i in range(n):
            await pub.send(bytes([i % 256]) * size)
            if i % 20 == 19:        # pace on the fast reader only
                for _ in range(20):
                    _, body = body_of(await fast.recv())
                    assert len(body) == size
                    got += 1
        assert got == n
        wait_for(lambda: stats(m)["dropped_subscribers"] >= 1, 10,
                 what="slow subscriber dropped")
        slow.close()
        await pub.close()
        await fast.close()
    run(go(), 60)


def test_subscriber_chatter_bounded(microd):
    """A subscriber's messages are dropped unpublished, but each could be
    a whole max_message: a hundred idle subscribers holding 1 MiB of
    fragments took the broker worker from 3 MB to 106 MB. A subscriber
    may send 4 KiB in one message; past that, 1009."""
    m = microd()

    async def go():
        sub = await websockets.connect(ws_url(m, "/sub?topic=t"))
        await sub.send("z" * 100)
        await sub.send("z" * 5000)
        await refused_too_big(sub, "a subscriber's 5000 bytes")
    run(go())


async def refused_too_big(ws, what):
    """ws, having sent a message too big, is closed with 1009."""
    try:
        await asyncio.wait_for(ws.recv(), 10)
    except websockets.ConnectionClosed as e:
        assert e.rcvd.code == 1009
    else:
        raise AssertionError("%s taken" % what)


def test_oversized_and_malformed_rejected(microd):
    m = microd(SMALL)
    assert post(m, "t", b"x" * 2000)[0] == 413
    assert post(m, "t", b"x" * 1000)[0] == 202
    assert http("POST", m.url("broker", "/pub"), b"x")[0] == 400
    assert http("POST", m.url("broker", "/pub?topic=a%20b"), b"x")[0] == 400
    assert http("GET", m.url("broker", "/sub?topic=t"))[0] == 400

    async def go():
        pub = await websockets.connect(ws_url(m, "/pub?topic=t"))
        await pub.send("y" * 2000)
        await refused_too_big(pub, "an oversized frame")
    run(go())
    # An unmasked client frame is a protocol error: 1002.
    s = socket.create_connection(("127.0.0.1", m.ports["broker"]))
    s.sendall(b"GET /pub?topic=t HTTP/1.1\r\nHost: x\r\n"
              b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              b"Sec-WebSocket-Version: 13\r\n\r\n\x81\x02hi")
    s.settimeout(5)
    data = b""
    # A close frame (0x88, short length) with code 1002 and a reason.
    while not re.search(rb"\x88[\x02-\x7d]\x03\xea", data):
        chunk = s.recv(4096)
        assert chunk, "closed without a 1002 close frame: %r" % data
        data += chunk
    s.close()


def test_refused_subscriptions_take_no_queue_group(microd):
    m = microd()
    # A topic holds 8 queue groups; refused requests must not claim them.
    for i in range(9):
        status, _, body = http("GET", m.url(
            "broker", "/sub?topic=orders&queue=g%d" % i))
        assert status == 400 and b"go.micro.broker" in body

    async def go():
        async with websockets.connect(
                ws_url(m, "/sub?topic=orders&queue=workers")) as sub:
            assert post(m, "orders", b"o1")[0] == 202
            assert body_of(await sub.recv())[1] == b"o1"
    run(go())


def test_killed_worker_respawned_subscribers_reconnect(microd):
    m = microd()
    old = m.running("broker")[0]["pid"]

    async def first():
        s = await websockets.connect(ws_url(m, "/sub?topic=r"))
        signal_pid(old, signal.SIGKILL)
        try:
            await asyncio.wait_for(s.recv(), 10)
        except websockets.ConnectionClosed:
            return
        raise AssertionError("message from a killed worker")
    run(first())
    wait_for(lambda: [w for w in m.running("broker") if w["pid"] != old],
             10, what="broker respawned")

    async def second():
        s = await websockets.connect(ws_url(m, "/sub?topic=r"))
        assert post(m, "r", b"again")[0] == 202
        assert (await recv_n(s, 1))[0][1] == b"again"
        await s.close()
    run(second())


def sidecar_url(m, query):
    return "ws://127.0.0.1:%d/broker?%s" % (m.ports["sidecar"], query)


def test_sidecar_broker_both_ways(microd):
    m = microd()

    async def go():
        app = await websockets.connect(sidecar_url(m, "topic=side"))
        sub = await websockets.connect(ws_url(m, "/sub?topic=side"))
        # The app's frames are published, whoever listens on the broker.
        await app.send('{"from":"app"}')
        header, body = body_of(await asyncio.wait_for(sub.recv(), 5))
        assert body == b'{"from":"app"}'
        assert header == {"Content-Type": "text/plain",
                          "Micro-Topic": "side"}
        # And the app gets the topic's messages as the envelope.
        assert post(m, "side", b"to-app", "application/x-t")[0] == 202
        while True:
            header, body = body_of(await asyncio.wait_for(app.recv(), 5))
            if body == b"to-app":
                break
            assert body == b'{"from":"app"}'    # its own, echoed first
        assert header["Content-Type"] == "application/x-t"
        await app.close()
        await sub.close()
    run(go())


def test_sidecar_broker_queue_group(microd):
    m = microd()

    async def go():
        apps = [await websockets.connect(sidecar_url(m,
                "topic=work&queue=apps")) for _ in range(2)]
        for i in range(10):
            assert post(m, "work", b"w%d" % i)[0] == 202
        got = []
        for a in apps:
            mine = []
            while True:
                try:
                    mine.append(body_of(await asyncio.wait_for(
                        a.recv(), 0.5))[1])
                except asyncio.TimeoutError:
                    break
            assert len(mine) == 5
            got += mine
        assert sorted(got) == sorted(b"w%d" % i for i in range(10))
    run(go())


class Subscriber:
    """`microctl subscribe` running, its stdout lines read by a thread."""

    def __init__(self, m, *args):
        env = dict(m.env, MICROD_SOCKET=m.socket)
        self.proc = subprocess.Popen([MICROCTL, "subscribe"] + list(args),
                                     stdout=subprocess.PIPE, text=True,
                                     env=env)
        self.lines = queue.Queue()
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def line(self, timeout=5):
        return self.lines.get(timeout=timeout)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(5)


def ctl_settle(m, topic, subs):
    """microctl publish probes until each subscriber printed one."""
    waiting = list(subs)
    for i in range(100):
        m.ctl("publish", topic, "probe%d" % i)
        for s in list(waiting):
            try:
                s.line(0.1)
                waiting.remove(s)
            except queue.Empty:
                pass
        if not waiting:
            return
    raise AssertionError("microctl subscribe never got a message")


def drain(s, quiet=0.5):
    got = []
    while True:
        try:
            got.append(s.line(quiet))
        except queue.Empty:
            return got


def test_microctl_publish_subscribe(microd):
    m = microd()
    plain, env = Subscriber(m, "orders"), Subscriber(m, "orders", "--json")
    try:
        ctl_settle(m, "orders", [plain, env])
        drain(plain, 0.2)
        drain(env, 0.2)
        m.ctl("publish", "orders", '{"id":7}')
        m.ctl("publish", "orders", "-", input="from stdin")
        assert drain(plain) == ['{"id":7}', "from stdin"]
        envs = [json.loads(x) for x in drain(env)]
        assert [base64.b64decode(e["Body"]) for e in envs] == \
            [b'{"id":7}', b"from stdin"]
        assert envs[0]["Header"] == {"Content-Type": "application/json",
                                     "Micro-Topic": "orders"}
        assert envs[1]["Header"]["Content-Type"] == "text/plain"
    finally:
        plain.stop()
        env.stop()
    bad = m.ctl("publish", "no topic", "x", check=False)
    assert bad.returncode != 0 and "topic" in bad.stderr


def test_microctl_subscribe_queue(microd):
    m = microd()
    members = [Subscriber(m, "q", "--queue", "g") for _ in range(2)]
    watcher = Subscriber(m, "q")
    try:
        ctl_settle(m, "q", members + [watcher])
        for s in members:
            drain(s, 0.2)
        for i in range(6):
            m.ctl("publish", "q", "job%d" % i)
        got = [drain(s) for s in members]
        assert sorted(got[0] + got[1]) == ["job%d" % i for i in range(6)]
        assert len(got[0]) == len(got[1]) == 3
    finally:
        for s in members + [watcher]:
            s.stop()


def test_out_of_descriptors_pauses_accepting(microd):
    m = microd()
    pid = m.running("broker")[0]["pid"]
    subprocess.run(["prlimit", "--pid", str(pid), "--nofile=64:64"],
                   check=True)
    upgrade = (b"GET /sub?topic=fd HTTP/1.1\r\nHost: x\r\n"
               b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               b"Sec-WebSocket-Version: 13\r\n\r\n")
    socks = []
    try:
        for _ in range(100):
            s = socket.create_connection(("127.0.0.1", m.ports["broker"]))
            s.sendall(upgrade)
            socks.append(s)
        def accept_lines():
            with open(m.log, errors="replace") as f:
                return f.read().count("http: accept")
        wait_for(accept_lines, what="the worker out of descriptors")
        start = accept_lines()
        # An observation window, not a wait for readiness: a worker that
        # retried at once logged thousands of lines in it.
        threading.Event().wait(2)
        assert accept_lines() - start <= 8
    finally:
        for s in socks:
            s.close()
    # Descriptors free again: the worker accepts again after its pause.
    wait_for(lambda: http("GET", m.url("broker", "/stats"))[0] == 200,
             what="accepting again")
    assert m.running("broker")[0]["pid"] == pid


def test_max_connections_bounds_websockets(microd):
    m = microd("[broker]\nmax_connections = 10\n")
    upgrade = (b"GET /sub?topic=cap HTTP/1.1\r\nHost: x\r\n"
               b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               b"Sec-WebSocket-Version: 13\r\n\r\n")

    def subscribe():
        s = socket.create_connection(("127.0.0.1", m.ports["broker"]))
        s.settimeout(10)
        s.sendall(upgrade)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            assert chunk, "closed: %r" % head
            head += chunk
        return s, head.split(b" ", 2)[1]

    subs = [subscribe() for _ in range(10)]
    try:
        assert all(code == b"101" for _, code in subs)
        extra, code = subscribe()
        extra.close()
        assert code == b"503"
        subs.pop()[0].close()
        wait_for(lambda: subscribe()[1] == b"101",
                 what="a place freed by a closed subscriber")
    finally:
        for s, _ in subs:
            s.close()


def close_code(exc):
    """The code of the close frame the server sent (websockets 10+)."""
    rcvd = getattr(exc, "rcvd", None)
    return rcvd.code if rcvd is not None else exc.code


def test_restart_says_going_away(microd):
    """A worker that drains (restart, reload, stop) closes its websocket
    clients with 1001 after what it queued for them, not a bare TCP close
    (1006 at the client)."""
    m = microd()

    async def go():
        sub = await websockets.connect(ws_url(m, "/sub?topic=bye"))
        side = await websockets.connect(
            "ws://127.0.0.1:%d/broker?topic=bye" % m.ports["sidecar"])
        assert post(m, "bye", b"last")[0] == 202
        for ws in (sub, side):
            assert body_of(await ws.recv())[1] == b"last"
        m.ctl("restart", "broker")
        m.ctl("restart", "sidecar")
        for ws in (sub, side):
            try:
                await ws.recv()
                raise AssertionError("no close")
            except websockets.ConnectionClosed as e:
                assert close_code(e) == 1001, e
    run(go())
    wait_for(lambda: len(m.running("broker")) == 1 and
             len(m.running("sidecar")) == 1, what="both back")


def test_max_message_fits_the_ring(microd):
    """Every message up to max_message is accepted, whatever max_message
    is: the shared ring is sized for the largest record."""
    limit = 1047000     # just under the size that doubles the ring
    m = microd("[broker]\nmax_message = %d\n" % limit)
    body = os.urandom(limit)

    async def go():
        async with websockets.connect(ws_url(m, "/sub?topic=edge"),
                                      max_size=None) as sub:
            status, _, detail = post(m, "edge", body,
                                     "application/octet-stream")
            assert status == 202, detail
            assert body_of(await sub.recv())[1] == body
    run(go())


def raw_upgrade(port, path, rcvbuf=None):
    """A websocket that never reads on its own (with a receive buffer of
    rcvbuf bytes, if given): returns the socket once the 101 has
    arrived."""
    s = socket.socket()
    if rcvbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", port))
    s.settimeout(10)
    s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
              b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              b"Sec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        assert chunk, "closed during the upgrade: %r" % head
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


async def recv_bodies(ws, n, skip=None):
    """Up to n bodies other than skip: fewer if 5 s pass without one."""
    got = []
    while len(got) < n:
        try:
            frame = await asyncio.wait_for(ws.recv(), 5)
        except asyncio.TimeoutError:
            break
        body = body_of(frame)[1]
        if body != skip:
            got.append(body)
    return got


def test_draining_member_leaves_its_queue_group_at_once(microd):
    """A worker told to stop takes its queue members out of their groups
    when it starts closing them: the group's messages go to the members
    that stay, even while a member is slow to answer the close."""
    m = microd()

    async def go():
        async with websockets.connect(
                ws_url(m, "/sub?topic=jobs&queue=w")) as stays:
            # On the sidecar: another process, which is about to drain.
            leaving = raw_upgrade(m.ports["sidecar"],
                                  "/broker?topic=jobs&queue=w")
            m.ctl("restart", "sidecar")
            data = b""
            while not data.startswith(b"\x88"):     # its 1001 close
                chunk = leaving.recv(64)
                assert chunk, "closed without a close frame"
                data += chunk
            # It never answers: the old sidecar waits two seconds for it.
            for i in range(20):
                assert post(m, "jobs", b"j%d" % i)[0] == 202
            assert await recv_bodies(stays, 20) == \
                [b"j%d" % i for i in range(20)]
            leaving.close()
    run(go())


def test_slow_member_leaves_its_queue_group_when_cut(microd):
    """A queue member cut for being slow takes no more of its group's
    messages, even while its close goes unanswered: the members that stay
    get them all."""
    m = microd("[broker]\nqueue_size = 8\n")
    flood = b"f" * (64 * 1024)

    async def go():
        async with websockets.connect(
                ws_url(m, "/sub?topic=jobs&queue=w"), max_size=None,
                max_queue=None) as stays:
            slow = raw_upgrade(m.ports["sidecar"],
                               "/broker?topic=jobs&queue=w")
            slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)

            def publish():
                # Off the loop, so that the member that stays reads.
                for i in range(2000):
                    assert post(m, "jobs", flood)[0] == 202
                    if i % 10 == 9 and stats(m)["dropped_subscribers"]:
                        break
                assert stats(m)["dropped_subscribers"] == 1
                for i in range(20):
                    assert post(m, "jobs", b"j%d" % i)[0] == 202
            await asyncio.to_thread(publish)
            assert await recv_bodies(stays, 20, skip=flood) == \
                [b"j%d" % i for i in range(20)]
            slow.close()
    run(go(), 60)


async def recv_until_quiet(ws, quiet=2):
    n = 0
    while True:
        try:
            await asyncio.wait_for(ws.recv(), quiet)
        except asyncio.TimeoutError:
            return n
        n += 1


def test_lapped_reader_counts_every_lost_message(microd):
    """A worker stopped while another publishes more than a ring holds
    (1 MiB with max_message 1024) is lapped: `lost` counts each message
    its subscriber never got, not one per lap."""
    m = microd(SMALL + "queue_size = 100000\n", workers={"broker": 2})
    pids = [w["pid"] for w in m.running("broker")]
    n = 3000

    async def go():
        subs = await sub_on_each_worker(m, "lap", pids)
        assert sorted(subs) == sorted(pids), "could not reach both"
        # The publisher's worker stays live, whichever it is: under load
        # one worker can win every accept, so none is aimed at.
        pub = await websockets.connect(ws_url(m, "/pub?topic=lap"))
        port = pub.transport.get_extra_info("sockname")[1]
        live = wait_for(lambda: broker_pid_of(m, port), 5, what="ss")
        stopped = [p for p in pids if p != live][0]
        await pub.send(b"settle")
        for s in subs.values():
            await s.recv()
        before = stats(m)
        signal_pid(stopped, signal.SIGSTOP)
        try:
            for i in range(n):
                await pub.send(b"%04d" % i + b"y" * 996)
            for i in range(n):     # the live worker keeps up
                await subs[live].recv()
        finally:
            signal_pid(stopped, signal.SIGCONT)
        got = await recv_until_quiet(subs[stopped])
        assert 0 < got < n
        after = stats(m)
        assert after["published"] - before["published"] == n
        assert after["lost"] - before["lost"] == n - got
        for s in list(subs.values()) + [pub]:
            await s.close()
    run(go(), 120)


def test_empty_messages_keep_the_workers_alive(microd):
    """An empty message arrives with an empty body: a POST of no bytes,
    and a websocket message in empty fragments, whose bodies reach the
    ring as NULL (an empty buffer's pullup). Copying from NULL is
    undefined; with --enable-asan it killed the worker that published."""
    m = microd()
    pids = {w["role"]: w["pid"] for w in m.running()}

    async def go():
        sub = await websockets.connect(ws_url(m, "/sub?topic=empty"))
        side = await websockets.connect(
            "ws://127.0.0.1:%d/broker?topic=empty" % m.ports["sidecar"])
        assert post(m, "empty", b"")[0] == 202
        await side.send([b"", b""])
        for ws in (sub, side):
            got = [body_of(await asyncio.wait_for(ws.recv(), 5))
                   for _ in range(2)]
            assert sorted(body for _, body in got) == [b"", b""]
        await sub.close()
        await side.close()
    run(go())
    assert http("GET", m.url("broker", "/stats"))[0] == 200
    assert {w["role"]: w["pid"] for w in m.running()} == pids


def burst_in_one_turn(m, n, body):
    """n POSTs of body that the broker worker completes in one loop turn:
    all but their last byte read while it idles, then the last bytes sent
    while it is stopped, so that one wake-up publishes them all."""
    pid = m.running("broker")[0]["pid"]
    head = (b"POST /pub?topic=burst HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body))
    posts = [socket.create_connection(("127.0.0.1", m.ports["broker"]))
             for _ in range(n)]
    for s in posts:
        s.settimeout(30)
        s.sendall(head + body[:-1])
    wait_for(lambda: unread(m) == 0, 30, what="the bodies read")
    signal_pid(pid, signal.SIGSTOP)
    try:
        for s in posts:
            s.sendall(body[-1:])
    finally:
        signal_pid(pid, signal.SIGCONT)
    for s in posts:
        assert s.recv(12).startswith(b"HTTP/1.1 202")
        s.close()


def burst_received(m, n, body):
    """What a subscriber reading as fast as it can gets of such a burst
    (the burst sent from a thread, so that it reads meanwhile)."""
    async def go():
        sub = await websockets.connect(ws_url(m, "/sub?topic=burst"),
                                       max_size=None, max_queue=None)
        done = asyncio.ensure_future(
            asyncio.to_thread(burst_in_one_turn, m, n, body))
        got = []
        while len(got) < n:
            try:
                got.append(body_of(await asyncio.wait_for(sub.recv(), 10))[1])
            except (asyncio.TimeoutError, websockets.ConnectionClosed):
                break
        await done
        await sub.close()
        return got
    return run(go(), 60)


def test_burst_in_one_turn_reaches_the_publishers_own_subscribers(microd):
    """Publishes that complete in one loop turn of a worker (five POSTs
    of a megabyte, more than its 4 MiB ring holds) overwrote records its
    own reader had not reached: its subscriber lost some though its
    queue (8 MiB) had room. The worker reads its own ring before its
    writes would lap it."""
    m = microd()
    body = os.urandom(1000 * 1000)
    got = burst_received(m, 5, body)
    assert got == [body] * 5, "%d of 5 arrived" % len(got)


def unread(m):
    """Bytes on their way to the broker's listener, or waiting there for
    a worker to read them."""
    port = m.ports["broker"]
    out = subprocess.run(["ss", "-tnH", "state", "established",
                          "( sport = :%d or dport = :%d )" % (port, port)],
                         capture_output=True, text=True, check=True).stdout
    return sum(int(q) for line in out.splitlines()
               for q in line.split()[:2])


def respawned(m, role, old):
    """The worker of role started after those in old were reaped."""
    return wait_for(lambda: [w["pid"] for w in m.running(role)
                             if w["pid"] not in old], 10,
                    what="%s respawned" % role)[0]


async def member_on(m, topic, queue, pid):
    """A member of (topic, queue) on the broker worker pid, by trial."""
    for _ in range(40):
        s = await websockets.connect(ws_url(m, "/sub?topic=%s&queue=%s" %
                                            (topic, queue)))
        port = s.transport.get_extra_info("sockname")[1]
        if wait_for(lambda: broker_pid_of(m, port), 5, what="ss") == pid:
            return s
        await s.close()
    raise AssertionError("no connection reached worker %d" % pid)


@pytest.mark.parametrize("role", ["broker", "sidecar"])
def test_dead_workers_members_get_no_copies_while_it_waits(microd, role):
    """Queue members on two processes; one, a broker worker or the
    sidecar, is SIGKILLed into respawn backoff. Its ring went on
    advertising its member until another process attached: publishers
    chose it for about half of the copies, which vanished (counted
    neither lost nor unrouted). The master frees a reaped worker's ring:
    the member left gets them all."""
    m = microd(workers={"broker": 2} if role == "broker" else None)
    pids = [w["pid"] for w in m.running(role)]
    n = 20

    async def go():
        if role == "broker":
            live = await websockets.connect(
                sidecar_url(m, "topic=jobs&queue=q"))
        else:
            live = await websockets.connect(
                ws_url(m, "/sub?topic=jobs&queue=q"))
        # Quick deaths in a row: the next start waits 0, 100, 200, 400 ms.
        seen, victim = list(pids), pids[0]
        for _ in range(4):
            signal_pid(victim, signal.SIGKILL)
            victim = respawned(m, role, seen)
            seen.append(victim)
        if role == "broker":
            member = await member_on(m, "jobs", "q", victim)
        else:
            member = await websockets.connect(
                sidecar_url(m, "topic=jobs&queue=q"))
        before = stats(m)
        signal_pid(victim, signal.SIGKILL)
        # Reaped; the master waits 800 ms before the next start.
        wait_for(lambda: victim not in [w["pid"] for w in
                                        m.workers_list()], 5, what="reaped")
        for i in range(n):
            assert post(m, "jobs", b"j%d" % i)[0] == 202
        got = await recv_bodies(live, n)
        assert got == [b"j%d" % i for i in range(n)]
        after = stats(m)
        assert after["published"] - before["published"] == n
        await live.close()
        try:
            await member.close()
        except websockets.ConnectionClosed:
            pass
    run(go(), 60)


BURST_CASES = [
    # Bytes: six envelopes of 1 MiB bodies pass the 8 MiB queue.
    pytest.param("", 6, 1 << 20, id="bytes"),
    # Frames: eight pass queue_size.
    pytest.param("[broker]\nqueue_size = 4\n", 8, 1000, id="frames"),
]


@pytest.mark.parametrize("extra,n,size", BURST_CASES)
def test_reader_keeping_up_survives_a_burst_in_one_turn(microd, extra, n,
                                                        size):
    """POSTs that complete in one loop turn of the worker queue more for
    its subscriber than its queue holds, before any write: it was cut
    (1008, "slow") though it reads as fast as it can. The worker writes
    what the socket takes before it calls a subscriber slow."""
    m = microd(extra)
    body = os.urandom(size)
    got = burst_received(m, n, body)
    assert got == [body] * n, "%d of %d arrived" % (len(got), n)
    assert stats(m)["dropped_subscribers"] == 0


def zombie(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().split(")")[-1].split()[0] == "Z"


async def publish_to_a_zombie(m, victim, pub, bodies):
    """pub, on the sidecar, publishes bodies while victim is SIGKILLed and
    left a zombie (the master stopped: it cannot reap it)."""
    signal_pid(m.proc.pid, signal.SIGSTOP)
    try:
        signal_pid(victim, signal.SIGKILL)
        wait_for(lambda: zombie(victim), 10, what="a zombie")
        for body in bodies:
            await pub.send(body)
        # Its own copies back: the sidecar has published every one.
        assert len(await recv_bodies(pub, len(bodies))) == len(bodies)
    finally:
        signal_pid(m.proc.pid, signal.SIGCONT)


def test_copies_chosen_for_a_zombie_are_counted_unrouted(microd):
    """A queue member on the broker worker, another on the sidecar; the
    broker worker is SIGKILLed while the master cannot reap it (stopped),
    and the sidecar publishes: it chose the zombie (still a live owner,
    its members still counted) for about half of the group's copies, which
    vanished, counted nowhere. The master counts them unrouted when it
    frees the reaped worker's ring."""
    m = microd()
    victim = m.running("broker")[0]["pid"]
    n = 20

    async def go():
        doomed = await websockets.connect(ws_url(m, "/sub?topic=jobs&queue=q"))
        live = await websockets.connect(sidecar_url(m, "topic=jobs&queue=q"))
        pub = await websockets.connect(sidecar_url(m, "topic=jobs"))
        # The group's spread is a round robin: one each.
        await pub.send("settle0")
        await pub.send("settle1")
        await recv_bodies(pub, 2)
        assert len(await recv_bodies(doomed, 1)) == 1
        assert len(await recv_bodies(live, 1)) == 1
        before = stats(m)
        await publish_to_a_zombie(m, victim, pub,
                                  ["j%d" % i for i in range(n)])
        respawned(m, "broker", [victim])
        after = wait_for(lambda: stats(m), 10, what="stats")
        unrouted = after["unrouted"] - before["unrouted"]
        assert after["published"] - before["published"] == n
        got = await recv_bodies(live, n - unrouted)
        assert 0 < len(got) < n
        assert len(got) == n - unrouted, (len(got), unrouted)
        assert await recv_until_quiet(live, 0.5) == 0
        for ws in (live, pub):
            await ws.close()
    run(go(), 60)


def test_copies_for_a_lapped_zombie_are_counted_lost_or_unrouted(microd):
    """The queue group's only member is on the broker worker, SIGKILLed
    while the master cannot reap it (stopped); the sidecar publishes
    three rings' worth (1 MiB with max_message 1024) of the group's
    messages, every one chosen for the zombie. When the master frees its
    ring, those still in the ring are unrouted; those overwritten before
    the walk reached them were counted nowhere (1083 of 3000 counted):
    they are lost, as for a lapped reader. Every copy is in one of the
    two."""
    m = microd(SMALL + "queue_size = 100000\n")
    victim = m.running("broker")[0]["pid"]
    n = 3000

    async def go():
        doomed = await websockets.connect(ws_url(m, "/sub?topic=jobs&queue=q"))
        pub = await websockets.connect(sidecar_url(m, "topic=jobs"))
        await pub.send("settle")
        assert len(await recv_bodies(pub, 1)) == 1
        assert len(await recv_bodies(doomed, 1)) == 1
        before = stats(m)
        await publish_to_a_zombie(m, victim, pub,
                                  [b"%04d" % i + b"y" * 896
                                   for i in range(n)])
        # Freed at the reap, before the respawn.
        respawned(m, "broker", [victim])
        after = stats(m)
        unrouted = after["unrouted"] - before["unrouted"]
        lost = after["lost"] - before["lost"]
        assert after["published"] - before["published"] == n
        assert 0 < unrouted < n and 0 < lost < n, (unrouted, lost)
        assert unrouted + lost == n, (unrouted, lost)
        await pub.close()
    run(go(), 120)


TOPICS = 256    # BRING_TOPICS
GROUPS = 8      # BRING_GROUPS, per topic


async def member_gets_one(m, topic, queue):
    """Subscribe as the only member of (topic, queue), see one message
    through the group, close before returning."""
    async with websockets.connect(
            ws_url(m, "/sub?topic=%s&queue=%s" % (topic, queue))) as sub:
        assert post(m, topic, b"for " + topic.encode())[0] == 202
        assert body_of(await sub.recv())[1] == b"for " + topic.encode()


@pytest.mark.parametrize("workers", [1, 2])
def test_topics_with_queue_groups_reused(microd, workers):
    # Two workers: members join and leave the shared table from either.
    m = microd(workers={"broker": workers})

    async def go():
        # More distinct topics than the table holds, one at a time.
        for i in range(TOPICS + 44):
            await member_gets_one(m, "job-%d" % i, "workers")
    run(go(), timeout=120)


def test_queue_names_on_one_topic_reused(microd):
    m = microd()

    async def go():
        for i in range(3 * GROUPS):
            await member_gets_one(m, "tenant", "q%d" % i)
        # The groups that left hold no slot: 8 at once still fit.
        subs = [await websockets.connect(
            ws_url(m, "/sub?topic=tenant&queue=g%d" % i))
            for i in range(GROUPS)]
        assert post(m, "tenant", b"all")[0] == 202
        for s in subs:
            assert body_of(await s.recv())[1] == b"all"
            await s.close()
    run(go(), timeout=60)


def test_killed_worker_gives_back_its_groups(microd):
    m = microd()
    old = m.running("broker")[0]["pid"]

    async def fill():
        subs = [await websockets.connect(
            ws_url(m, "/sub?topic=held-%d&queue=w" % i))
            for i in range(TOPICS)]
        signal_pid(old, signal.SIGKILL)
        for s in subs:
            await s.wait_closed()
    run(fill(), timeout=120)
    wait_for(lambda: [w for w in m.running("broker") if w["pid"] != old],
             10, what="broker respawned")

    async def after():
        for i in range(GROUPS):
            await member_gets_one(m, "after-%d" % i, "w")
    run(after())
