"""The broker's NATS backend with a real nats-server (doc/broker.md
"Backends"): two microd instances sharing topics through it, queue groups
across them, unsubscribing after the last subscriber, a NATS restart under
live subscribers, a stalled server, one that closes the connection for
good, one hung at microd's start or later.

A subscription reaches the NATS server asynchronously, after the
websocket upgrade: tests publish numbered probes until every subscriber
has seen one (NATS keeps order per publisher), then the real messages.

NATS is the plugin plugins/broker-nats.so (doc/plugins.md): MICROD_PLUGIN_DIR
points microd at the build tree; the last tests give it a directory
without the plugin, and one holding a stand-in built for another ABI.
"""
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

import pytest
import websockets

from conftest import (BUILDDIR, SRCDIR, accept_loop, free_port, signal_pid,
                      wait_for)
from test_broker import body_of, post, run, ws_url

NATS_SERVER = shutil.which("nats-server")
pytestmark = pytest.mark.skipif(NATS_SERVER is None,
                                reason="nats-server not installed")

PLUGIN_ENV = {"MICROD_PLUGIN_DIR": os.path.join(BUILDDIR, "plugins")}
# tests/unit/plugin_stub.c built as broker-nats.so for ABI + 1 (make check).
WRONG_ABI_DIR = os.path.join(BUILDDIR, "tests", "unit", "plugins-abi")


def broker_abi():
    with open(os.path.join(SRCDIR, "broker", "backend.h")) as f:
        return int(re.search(r"#define BROKER_BACKEND_ABI\s+(\d+)",
                             f.read()).group(1))


@pytest.fixture
def microd(microd):
    """conftest's, loading the NATS plugin from the build tree unless env
    says otherwise."""
    def make(*args, env=None, **kw):
        return microd(*args, env=dict(PLUGIN_ENV, **(env or {})), **kw)
    return make


class Nats:
    """A nats-server on a free loopback port, restartable on that port;
    conf: the text of a configuration file."""

    def __init__(self, tmp, conf=None, port=None):
        self.port = port or free_port()
        self.log = str(tmp / "nats.log")
        self.args = [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port)]
        if conf is not None:
            (tmp / "nats.conf").write_text(conf)
            self.args += ["-c", str(tmp / "nats.conf")]
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            self.args, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
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


def nats_conf(nats):
    return "[broker]\nbackend = nats\naddress = %s\n" % nats.address


def two_hosts(microd, nats):
    return (microd(extra=nats_conf(nats), name="a"),
            microd(extra=nats_conf(nats), name="b"))


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


def connected_once_up(m, n):
    """Publishes refused while n is down, accepted once it is started."""
    assert post(m, "t", b"x")[0] == 503
    n.start()
    wait_for(lambda: post(m, "t", b"x")[0] == 202, timeout=20,
             what="connected once NATS is up (retries back off to 4 s)")


def test_nats_down_at_start_then_up(microd, tmp_path):
    n = Nats(tmp_path)
    m = microd(extra=nats_conf(n))
    try:
        connected_once_up(m, n)
    finally:
        n.stop()


class DeadServer:
    """A loopback port that accepts connections and closes them at once,
    as a server going down behind a TCP proxy does: the time of each
    attempt."""

    def __init__(self, port=0):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.times = []
        accept_loop(self.sock, self.seen)

    def seen(self, conn):
        self.times.append(time.monotonic())
        conn.close()


def test_reconnects_back_off(microd, nats):
    """Once the server is gone, cnats' rounds are paced 250 ms, then
    doubled each round up to 4 s (less up to half, at random): five
    attempts of one process span at least 125 + 250 + 500 + 1000 ms,
    where a fixed 250 ms pause knocked five times within about 1.4 s.
    Two processes connect (the broker and the sidecar worker), so of
    ten attempts one made five. Neither restarts."""
    m = microd(extra=nats_conf(nats), workers={"broker": 1, "sidecar": 1})
    assert post(m, "t", b"x")[0] == 202
    nats.stop()
    dead = DeadServer(nats.port)
    try:
        wait_for(lambda: len(dead.times) >= 10, timeout=30,
                 what="ten reconnect attempts")
        assert dead.times[9] - dead.times[0] >= 1.8
        assert post(m, "t", b"x")[0] == 503
    finally:
        dead.sock.close()
    assert "restarting" not in m.read_log()


def test_handshake_failing_at_start_retried_in_process(microd, tmp_path):
    """A first connect that reaches a port which closes at once (a TCP
    proxy with no server behind it) makes cnats give the connection up
    for good. The workers open a new one after each pause instead of
    restarting (which took the sidecar down with them), log it once, and
    connect once a server answers there."""
    dead = DeadServer()
    m = microd(extra="[broker]\nbackend = nats\naddress = "
               "nats://127.0.0.1:%d\n" % dead.port,
               workers={"broker": 1, "sidecar": 1})
    pids = sorted(w["pid"] for w in m.running())
    try:
        wait_for(lambda: len(dead.times) >= 8, timeout=30,
                 what="eight connection attempts")
        assert post(m, "t", b"x")[0] == 503
    finally:
        dead.sock.close()
    log = m.read_log()
    assert "restarting" not in log
    assert 1 <= log.count("no server completed the handshake") <= 2
    n = Nats(tmp_path, port=dead.port)
    n.start()
    try:
        wait_for(lambda: post(m, "t", b"x")[0] == 202, timeout=20,
                 what="connected once NATS answers")
    finally:
        n.stop()
    assert sorted(w["pid"] for w in m.running()) == pids


def test_last_subscriber_leaving_unsubscribes(microd, tmp_path):
    """NATS holds a subscription per topic and per queue group while a
    local subscriber needs it, none once the last one has left."""
    monitor = free_port()
    n = Nats(tmp_path, conf="http_port: %d\n" % monitor)
    n.start()

    def subjects():
        return connz_subjects(monitor)
    try:
        m = microd(extra=nats_conf(n))

        async def go():
            url = ws_url(m, "/sub?topic=jobs&queue=workers")
            members = [await websockets.connect(url) for _ in range(2)]
            plain = await websockets.connect(ws_url(m, "/sub?topic=jobs"))
            await settle(m, "jobs", [plain])
            assert subjects() == ["jobs", "jobs"]
            await members[0].close()
            await plain.close()
            wait_for(lambda: subjects() == ["jobs"],
                     what="the plain subscription gone, the group kept")
            await members[1].close()
            wait_for(lambda: subjects() == [], what="no subscription left")
        run(go())
    finally:
        n.stop()


def test_stalled_server_publishes_refused_not_buffered(microd, nats):
    """A server that stops reading (TCP backpressure) must not make the
    worker buffer every publish: past a bounded backlog, 503."""
    m = microd(extra=nats_conf(nats))
    body = b"x" * (512 * 1024)
    signal_pid(nats.proc.pid, signal.SIGSTOP)
    try:
        answers = [post(m, "big", body) for _ in range(128)]
    finally:
        signal_pid(nats.proc.pid, signal.SIGCONT)
    codes = [a[0] for a in answers]
    assert set(codes) <= {202, 503}
    # 64 MiB offered; the backlog (8 MiB) and the sockets' buffers hold
    # part of it, the rest is refused. The kernel may still grow a socket
    # buffer meanwhile and take a little more: one late 202 is no fault.
    assert codes.count(202) * len(body) < 48 << 20
    assert 503 in codes
    assert b"NATS" in answers[codes.index(503)][2]
    wait_for(lambda: post(m, "big", b"x")[0] == 202,
             what="publishes accepted once NATS reads again")


def test_connection_closed_by_server_restarts_worker(microd, tmp_path):
    """A server -ERR makes cnats close the connection for good (here one
    SUB beyond max_subscriptions): the worker restarts, its subscribers
    are told to come back (1001), and its successor serves."""
    n = Nats(tmp_path, conf="max_subscriptions: 2\n")
    n.start()
    try:
        m = microd(extra=nats_conf(n))
        old = [w["pid"] for w in m.running("broker")]

        async def go():
            subs = [await websockets.connect(ws_url(m, "/sub?topic=t%d" % i))
                    for i in range(3)]
            for s in subs:
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(s.recv(), 10)
                assert closed.value.rcvd.code == 1001

            def restarted():
                pids = [w["pid"] for w in m.running("broker")]
                return (pids and pids != old and
                        post(m, "t0", b"x")[0] == 202)
            wait_for(restarted, what="a new broker worker connected")
            sub = await websockets.connect(ws_url(m, "/sub?topic=t0"))
            await settle(m, "t0", [sub])
            await sub.close()
        run(go())
        log = m.read_log()
        assert "maximum subscriptions exceeded" in log
        assert "exited on signal" not in log
    finally:
        n.stop()


def test_server_hung_at_start_then_resumes(microd, nats):
    """A server that accepts but does not answer (stopped) when the
    worker starts: cnats gives the connection up for good after its
    connect timeout; the worker opens another and serves once NATS
    answers."""
    signal_pid(nats.proc.pid, signal.SIGSTOP)
    try:
        m = microd(extra=nats_conf(nats), start=False)
        m.start(wait=False)
        wait_for(lambda: "broker: nats: %s unreachable" % nats.address
                 in m.read_log(), what="the first connect timing out")
    finally:
        signal_pid(nats.proc.pid, signal.SIGCONT)
    m.wait_ready(timeout=30)
    wait_for(lambda: post(m, "late", b"x")[0] == 202, timeout=15,
             what="connected once NATS answers")


def test_server_hung_publishes_fail_soon_loop_stays_free(microd, nats):
    """A server that stops answering without closing (hung, partitioned):
    the connection is declared stale within seconds, publishes answer
    503, and cnats' attempts to reconnect to it (each holding the
    connection's lock until its timeout) do not stall the worker."""
    m = microd(extra=nats_conf(nats))
    assert post(m, "t", b"x")[0] == 202
    signal_pid(nats.proc.pid, signal.SIGSTOP)
    try:
        wait_for(lambda: post(m, "t", b"x")[0] == 503, timeout=30,
                 interval=0.2, what="publishes refused")
        # Reconnect attempts on the hung server last ~2 s each.
        slowest, end = 0, time.monotonic() + 3
        while time.monotonic() < end:
            t = time.monotonic()
            assert post(m, "t", b"x")[0] == 503
            slowest = max(slowest, time.monotonic() - t)
        # Below the ~2 s a publish waited for the lock, with room for a
        # busy machine.
        assert slowest < 1.5
    finally:
        signal_pid(nats.proc.pid, signal.SIGCONT)
    wait_for(lambda: post(m, "t", b"x")[0] == 202, timeout=15,
             what="publishes accepted once NATS answers")


def broker_only(microd, extra, plugin_dir):
    """A microd whose broker worker (the one user of the broker here) is
    started with plugin_dir as MICROD_PLUGIN_DIR; not waited for."""
    m = microd(extra=extra, env={"MICROD_PLUGIN_DIR": str(plugin_dir)},
               workers={"api": 0, "web": 0, "sidecar": 0}, start=False)
    return m.start(wait=False)


def assert_broker_fatal(m, why):
    """The broker worker exits with why in the log and is not respawned;
    the master serves on."""
    wait_for(lambda: "fatal error, not respawning" in m.read_log(),
             what="the broker worker giving up")
    log = m.read_log()
    assert why in log
    assert m.proc.poll() is None, log
    assert m.running("broker") == []
    assert m.status()["listeners"]


def test_slow_first_connect_is_not_taken_for_a_hang(microd):
    """The plugin connects before the broker worker is ready, 2 s for each
    listed server that accepts and never answers: with six, the watchdog
    took the worker for one stuck before ready (10 s) and killed it, again
    and again, and microd never served."""
    silent = []
    for _ in range(6):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        silent.append(s)
    try:
        m = broker_only(microd, "[broker]\nbackend = nats\naddress = %s\n" %
                        ",".join("nats://127.0.0.1:%d" % s.getsockname()[1]
                                 for s in silent),
                        os.path.join(BUILDDIR, "plugins"))
        wait_for(lambda: "generation 1 serving" in m.read_log(), 60,
                 what="generation 1 serving")
        assert "not ready after" not in m.read_log(), m.read_log()
    finally:
        for s in silent:
            s.close()


def test_plugin_missing_broker_worker_fails(microd, tmp_path):
    """backend = nats without broker-nats.so where plugins are looked
    for: the broker worker fails at once with the path and dlopen's
    reason, as the registry worker does for a missing registry plugin."""
    empty = tmp_path / "no-plugins"
    empty.mkdir()
    m = broker_only(microd, "[broker]\nbackend = nats\n", empty)
    assert_broker_fatal(m, "broker backend nats: %s/broker-nats.so: "
                        "cannot open shared object file" % empty)


def test_reload_loads_a_plugin_installed_since(microd, nats, tmp_path):
    """The master loads the broker plugin before it forks: one missing at
    start kept its error for good, and a reload after installing it
    failed the new broker worker again with the old reason."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    m = broker_only(microd, nats_conf(nats), plugins)
    assert_broker_fatal(m, "cannot open shared object file")
    os.symlink(os.path.join(BUILDDIR, "plugins", "broker-nats.so"),
               str(plugins / "broker-nats.so"))
    m.ctl("reload")
    m.wait_ready()      # the broker worker of the reload running
    wait_for(lambda: post(m, "t", b"x")[0] == 202, timeout=15,
             what="publishes through NATS after the reload")


def test_plugin_other_abi_refused(microd):
    """A broker-nats.so built for another ABI is refused before anything
    of it runs (its open would say "a stub")."""
    assert os.path.exists(os.path.join(WRONG_ABI_DIR, "broker-nats.so")), \
        "the stand-in plugin is built by make check"
    m = broker_only(microd, "[broker]\nbackend = nats\n", WRONG_ABI_DIR)
    abi = broker_abi()
    assert_broker_fatal(m, "%s/broker-nats.so is not binary compatible "
                        "(ABI %d, microd speaks %d)"
                        % (WRONG_ABI_DIR, abi + 1, abi))
    assert "a stub" not in m.read_log()


# struct broker_backend as another header had it, under today's ABI
# number: one without its last two calls (read past its end), and one
# with a call after them (the calls misread).
SHORT_PLUGIN = """
#include "broker/backend.h"
struct older_broker_backend {
	uint32_t	 abi;
	const char	*name;
	int	 (*prepare)(const char **);
	void	*(*open)(const void *, const char **);
	void	 (*close)(void *);
	int	 (*publish)(void *, const char *, const void *, size_t,
		    const char **);
};
static void *
stand_in_open(const void *host, const char **cause)
{
	*cause = "a stand-in";
	return 0;
}
__attribute__((visibility("default")))
const struct older_broker_backend microd_broker_backend = {
	ABI, "nats", 0, stand_in_open, 0, 0
};
"""
LONG_PLUGIN = """
#include "broker/backend.h"
static void *
stand_in_open(const struct broker_host *host, const char **cause)
{
	*cause = "a stand-in";
	return 0;
}
static int
stand_in_publish(void *s, const char *t, const void *d, size_t n,
    const char **cause)
{
	return -1;
}
static struct broker_backend_sub *
stand_in_subscribe(void *s, const char *t, const char *q,
    broker_backend_deliver_cb cb, void *arg, const char **cause)
{
	return 0;
}
static void
stand_in_unsubscribe(void *s, struct broker_backend_sub *sub)
{
}
__attribute__((visibility("default")))
const struct {
	struct broker_backend	 be;
	void			(*newer)(void *);
} microd_broker_backend = { {
	.abi = ABI, .name = "nats", .open = stand_in_open,
	.publish = stand_in_publish, .subscribe = stand_in_subscribe,
	.unsubscribe = stand_in_unsubscribe,
} };
"""


# Prints the stand-in's size, then the one microd expects.
SIZES = """
#include <stdio.h>
#include "plugin.c"
int
main(void)
{
	printf("%zu %zu\\n", sizeof(microd_broker_backend),
	    sizeof(struct broker_backend));
	return 0;
}
"""


def build_plugin(tmp_path, source):
    """source built as tmp_path/plugins/broker-nats.so for today's ABI:
    (its directory, its struct's size, the size microd expects)."""
    dirs = tmp_path / "plugins"
    dirs.mkdir()
    (tmp_path / "plugin.c").write_text(source)
    (tmp_path / "sizes.c").write_text(SIZES)
    cc = ["cc", "-DABI=%d" % broker_abi(), "-I", SRCDIR]
    subprocess.run(cc + ["-shared", "-fPIC", "-fvisibility=hidden", "-o",
                         str(dirs / "broker-nats.so"),
                         str(tmp_path / "plugin.c")], check=True)
    subprocess.run(cc + ["-o", str(tmp_path / "sizes"),
                         str(tmp_path / "sizes.c")], check=True)
    have, want = subprocess.run([str(tmp_path / "sizes")], check=True,
                                capture_output=True).stdout.split()
    assert have != want
    return dirs, int(have), int(want)


@pytest.mark.parametrize("source", [SHORT_PLUGIN, LONG_PLUGIN],
                         ids=["older-header", "newer-header"])
def test_plugin_of_another_size_refused(microd, tmp_path, source):
    """A broker-nats.so claiming today's ABI with a struct of another size
    (built from another header, the ABI number not bumped) is refused
    with its path and both sizes, before anything of it runs. The loader
    checked the ABI number only: the shorter struct was read past its
    end, the longer one's open ran."""
    dirs, have, want = build_plugin(tmp_path, source)
    m = broker_only(microd, "[broker]\nbackend = nats\n", dirs)
    assert_broker_fatal(m, "%s/broker-nats.so is not binary compatible "
                        "(its microd_broker_backend is %d bytes, microd "
                        "expects %d)" % (dirs, have, want))
    assert "a stand-in" not in m.read_log()


def test_builtin_needs_no_plugin(microd, tmp_path):
    """backend = builtin loads nothing: an empty plugin directory does."""
    empty = tmp_path / "no-plugins"
    empty.mkdir()
    m = microd(env={"MICROD_PLUGIN_DIR": str(empty)},
               workers={"api": 0, "web": 0, "sidecar": 0})
    assert post(m, "t", b"x")[0] == 202
    assert "broker backend" not in m.read_log()


def connz_subjects(monitor):
    """Every subscription the server holds, by subject."""
    url = "http://127.0.0.1:%d/connz?subs=1" % monitor
    conns = json.loads(urllib.request.urlopen(url, timeout=5).read())
    return sorted(s for c in conns["connections"]
                  for s in c.get("subscriptions_list", []))


def test_credentials_not_logged(microd, tmp_path):
    """user:password@ in the address authenticates, but neither "unreachable"
    nor "connected to" shows it in the log."""
    n = Nats(tmp_path, conf="authorization { user: alice, "
             "password: s3cretpw }\n")
    m = microd(extra="[broker]\nbackend = nats\naddress = "
               "nats://alice:s3cretpw@127.0.0.1:%d\n" % n.port)
    try:
        connected_once_up(m, n)
    finally:
        n.stop()
    log = m.read_log()
    assert "nats://127.0.0.1:%d unreachable" % n.port in log
    assert "connected to nats://127.0.0.1:%d" % n.port in log
    assert "s3cretpw" not in log


def test_credentials_refused_logged_with_the_reason(microd, tmp_path):
    """A server refusing microd's credentials is not just "unreachable":
    the log says why, once, and publishes answer 503."""
    n = Nats(tmp_path, conf="authorization { user: alice, "
             "password: s3cretpw }\n")
    n.start()
    try:
        m = microd(extra="[broker]\nbackend = nats\naddress = "
                   "nats://alice:wr0ngpw@127.0.0.1:%d\n" % n.port,
                   workers={"sidecar": 0})
        assert post(m, "t", b"x")[0] == 503
        wait_for(lambda: "no server completed the handshake"
                 in m.read_log(), what="the connection given up")
    finally:
        n.stop()
    log = m.read_log()
    assert ("nats://127.0.0.1:%d unreachable (Authorization Violation)"
            % n.port in log)
    assert "wr0ngpw" not in log


def test_subscribers_come_and_go_while_server_hung(microd, tmp_path):
    """While a hung server is being reconnected to (cnats holding the
    connection's lock through each ~2 s attempt), websockets subscribing
    and leaving do not stall the worker; once NATS answers, those still
    there are subscribed and those gone are not."""
    monitor = free_port()
    n = Nats(tmp_path, conf="http_port: %d\n" % monitor)
    n.start()

    async def go():
        # In the try below: a failure from here on must still stop n.
        m = microd(extra=nats_conf(n))
        assert post(m, "t", b"x")[0] == 202
        signal_pid(n.proc.pid, signal.SIGSTOP)
        wait_for(lambda: post(m, "t", b"x")[0] == 503, timeout=30,
                 interval=0.2, what="publishes refused")
        kept = await websockets.connect(ws_url(m, "/sub?topic=kept"))
        slowest, end, i = 0, time.monotonic() + 5, 0
        while time.monotonic() < end:
            t = time.monotonic()
            ws = await websockets.connect(ws_url(m, "/sub?topic=gone%d" % i))
            assert post(m, "t", b"x")[0] == 503
            await ws.close()
            assert post(m, "t", b"x")[0] == 503
            slowest = max(slowest, time.monotonic() - t)
            i += 1
        signal_pid(n.proc.pid, signal.SIGCONT)
        # An attempt holds the lock for ~2 s: well below, on a busy box.
        assert slowest < 1.5
        wait_for(lambda: post(m, "t", b"x")[0] == 202, timeout=15,
                 what="publishes accepted once NATS answers")
        await settle(m, "kept", [kept])
        wait_for(lambda: connz_subjects(monitor) == ["kept"],
                 what="the subscriptions of those gone dropped")
        await kept.close()
    try:
        run(go(), timeout=60)
    finally:
        signal_pid(n.proc.pid, signal.SIGCONT)
        n.stop()


def start_with_nats_hung(microd, nats):
    """microd started while nats (SIGSTOPped) accepts and never answers:
    its broker worker's first connection waits for the handshake."""
    m = microd(extra=nats_conf(nats), workers={"sidecar": 0}, start=False)
    m.start(wait=False)
    m.wait_ready(timeout=30)
    return m


def test_subscriber_kept_while_no_server_completes_handshake(microd, nats):
    """A server hung when the worker starts: its connection is replaced
    after each failed handshake, and a subscriber that came meanwhile
    is carried to the next one (the worker restarted, closing it with
    1001), then gets messages once NATS answers."""
    signal_pid(nats.proc.pid, signal.SIGSTOP)
    try:
        m = start_with_nats_hung(microd, nats)

        async def go():
            sub = await websockets.connect(ws_url(m, "/sub?topic=early"))
            wait_for(lambda: "no server completed the handshake"
                     in m.read_log(), timeout=30,
                     what="the first connection given up")
            with pytest.raises(asyncio.TimeoutError):
                await next_body(sub, 1)
            signal_pid(nats.proc.pid, signal.SIGCONT)
            wait_for(lambda: post(m, "early", b"x")[0] == 202, timeout=20,
                     what="connected once NATS answers")
            await settle(m, "early", [sub])
            await sub.close()
        run(go(), timeout=90)
    finally:
        signal_pid(nats.proc.pid, signal.SIGCONT)
    assert "restarting" not in m.read_log()


def test_hung_at_start_new_connections_do_not_stall(microd, nats):
    """A server hung when the worker starts: each new connection's first
    attempt (~2 s on it) is not made on the worker's loop."""
    signal_pid(nats.proc.pid, signal.SIGSTOP)
    try:
        m = start_with_nats_hung(microd, nats)
        wait_for(lambda: "no server completed the handshake"
                 in m.read_log(), timeout=30,
                 what="the first connection given up")
        slowest, end = 0, time.monotonic() + 8
        while time.monotonic() < end:
            t = time.monotonic()
            assert post(m, "t", b"x")[0] == 503
            slowest = max(slowest, time.monotonic() - t)
        assert slowest < 1.5    # a first attempt on the loop: ~2 s
    finally:
        signal_pid(nats.proc.pid, signal.SIGCONT)
    wait_for(lambda: post(m, "t", b"x")[0] == 202, timeout=20,
             what="connected once NATS answers")
