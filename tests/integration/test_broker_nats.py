"""The broker's NATS backend with a real nats-server (doc/broker.md
"Backends"): two microd instances sharing topics through it, queue groups
across them, and a NATS restart under live subscribers.

A subscription reaches the NATS server asynchronously, after the
websocket upgrade: tests publish numbered probes until every subscriber
has seen one (NATS keeps order per publisher), then the real messages.
"""
import asyncio
import shutil
import socket
import subprocess

import pytest
import websockets

from conftest import free_port, wait_for
from test_broker import body_of, post, run, ws_url

NATS_SERVER = shutil.which("nats-server")
pytestmark = pytest.mark.skipif(NATS_SERVER is None,
                                reason="nats-server not installed")


class Nats:
    """A nats-server on a free loopback port, restartable on that port."""

    def __init__(self, tmp):
        self.port = free_port()
        self.log = str(tmp / "nats.log")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port)],
            stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        wait_for(self.accepting, what="nats-server listening")

    def accepting(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.2).close()
            return True
        except OSError:
            return False

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    @property
    def address(self):
        return "nats://127.0.0.1:%d" % self.port


@pytest.fixture
def nats(tmp_path):
    n = Nats(tmp_path)
    n.start()
    yield n
    n.stop()


def two_hosts(microd, nats):
    extra = "[broker]\nbackend = nats\naddress = %s\n" % nats.address
    return (microd(extra=extra, name="a"), microd(extra=extra, name="b"))


async def next_body(ws, timeout=5):
    return body_of(await asyncio.wait_for(ws.recv(), timeout))[1]


async def settle(m, topic, watchers):
    """Publish probes on m until every watcher has received one."""
    waiting = set(watchers)
    for i in range(200):
        assert post(m, topic, b"probe%d" % i)[0] == 202
        for w in list(waiting):
            try:
                if (await next_body(w, 0.05)).startswith(b"probe"):
                    waiting.discard(w)
            except asyncio.TimeoutError:
                pass
        if not waiting:
            return
    raise AssertionError("subscriptions never reached NATS")


async def real_bodies(ws, quiet=0.5):
    """Every non-probe body until the socket is quiet for `quiet` s."""
    got = []
    while True:
        try:
            body = await next_body(ws, quiet)
        except asyncio.TimeoutError:
            return got
        if not body.startswith(b"probe"):
            got.append(body)


def test_fanout_across_two_hosts(microd, nats):
    a, b = two_hosts(microd, nats)

    async def go():
        subs = [await websockets.connect(ws_url(m, "/sub?topic=news"))
                for m in (a, a, b, b)]
        await settle(a, "news", subs)
        for i in range(20):
            assert post(a if i % 2 else b, "news", b"n%d" % i)[0] == 202
        want = sorted(b"n%d" % i for i in range(20))
        for s in subs:
            # Each subscriber once, whichever host published it.
            assert sorted(await real_bodies(s)) == want
            await s.close()
    run(go())


def test_queue_group_across_two_hosts_exactly_once(microd, nats):
    a, b = two_hosts(microd, nats)

    async def go():
        url = "/sub?topic=jobs&queue=workers"
        members = [await websockets.connect(ws_url(m, url))
                   for m in (a, a, b, b)]
        # Subscribed after the members on the same connection to NATS:
        # once these see a probe, so would the group.
        plain = [await websockets.connect(ws_url(m, "/sub?topic=jobs"))
                 for m in (a, b)]
        await settle(a, "jobs", plain)
        for s in members:
            await real_bodies(s, 0.2)       # probes the group took
        for i in range(40):
            assert post(a if i % 2 else b, "jobs", b"job%d" % i)[0] == 202
        per = [await real_bodies(s) for s in members]
        seen = sorted(x for got in per for x in got)
        assert seen == sorted(b"job%d" % i for i in range(40))
        # NATS spreads over the two hosts, each host over its members.
        assert len(per[0]) + len(per[1]) > 0
        assert len(per[2]) + len(per[3]) > 0
        for s in members + plain:
            await s.close()
    run(go())


def test_nats_restart_publish_fails_then_subscriptions_resume(microd, nats):
    a, b = two_hosts(microd, nats)

    async def go():
        sub = await websockets.connect(ws_url(b, "/sub?topic=ev"))
        await settle(a, "ev", [sub])
        nats.stop()

        # While NATS is down: a clear 503, never a silent 202.
        def refused():
            status, _, body = post(a, "ev", b"lost")
            return status == 503 and b"NATS" in body
        wait_for(refused, what="POST /pub answering 503")
        pub = await websockets.connect(ws_url(a, "/pub?topic=ev"))
        await pub.send("lost too")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(pub.recv(), 5)
        assert closed.value.rcvd.code == 1013

        nats.start()
        wait_for(lambda: post(a, "ev", b"probe-back")[0] == 202,
                 what="publishes accepted again")
        # The same websocket, never resubscribed: cnats did it for us.
        for i in range(100):
            assert post(a, "ev", b"after%d" % i)[0] == 202
            try:
                body = await next_body(sub, 0.1)
            except asyncio.TimeoutError:
                continue
            if body.startswith(b"after"):
                break
        else:
            raise AssertionError("subscriber never heard from NATS again")
        assert b"lost" not in await real_bodies(sub, 0.3)
        await sub.close()
    run(go(), timeout=60)



def test_topic_that_is_no_nats_subject_refused(microd, nats):
    a, _ = two_hosts(microd, nats)
    status, _, body = post(a, "a..b", b"x")
    assert status == 500 and b"NATS subject" in body

    async def go():
        with pytest.raises(websockets.InvalidStatusCode) as refused:
            await websockets.connect(ws_url(a, "/sub?topic=.a"))
        assert refused.value.status_code == 503
    run(go())


def test_nats_down_at_start_then_up(microd, tmp_path):
    n = Nats(tmp_path)
    m = microd(extra="[broker]\nbackend = nats\naddress = %s\n" % n.address)
    try:
        assert post(m, "late", b"x")[0] == 503
        n.start()
        wait_for(lambda: post(m, "late", b"x")[0] == 202,
                 what="connected once NATS is up")
    finally:
        n.stop()
