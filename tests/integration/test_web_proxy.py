"""The web reverse proxy: /NAME/... to a node of go.micro.web.NAME, with
the prefix stripped and X-Micro-Web-Base-Path set; streamed bodies and
websockets both ways (python3-websockets on both ends)."""
import asyncio
import hashlib
import http.client as httpclient
import json
import socket
import threading
import time

import pytest
import websockets

from conftest import http, pid_alive, wait_for
from gwnodes import (FakeNode, RawNode, closed_address, read_head,
                     register)


def shop(microd, nodes, says):
    """microd with a web app go.micro.web.shop answering says."""
    m = microd()
    node = FakeNode(lambda h, b: (200, {"Content-Type": "text/plain"},
                                  says))
    nodes.append(node)
    register(m, node.service("go.micro.web.shop", protocol=None))
    return m, node


def test_http_app_prefix_stripped_base_path_set(microd, nodes):
    m, node = shop(microd, nodes, b"app says hi")
    status, _, body = http("GET", m.url("web", "/shop/cart/items?id=7"))
    assert (status, body) == (200, b"app says hi")
    method, path, headers, _ = node.requests[-1]
    assert (method, path) == ("GET", "/cart/items?id=7")
    assert headers["X-Micro-Web-Base-Path"] == "/shop"
    assert "127.0.0.1" in headers["X-Forwarded-For"]
    status, _, _ = http("GET", m.url("web", "/shop"))
    assert status == 200 and node.requests[-1][1] == "/"
    # The dashboard's own pages are not proxied; unknown apps are 404.
    assert http("GET", m.url("web", "/registry"))[0] == 200
    assert http("GET", m.url("web", "/"))[0] == 200
    assert http("GET", m.url("web", "/nosuchapp/x"))[0] == 404
    assert http("GET", m.url("web", "/bad%2Fname/x"))[0] == 400


def test_dot_segments_never_reach_the_app(microd, nodes):
    # Browsers resolve "." and ".." before sending; a path that still has
    # one (plain, percent-encoded, or split by an encoded slash or a
    # backslash) would climb above /shop/ on the node: refused.
    m, node = shop(microd, nodes, b"ok")
    conn = httpclient.HTTPConnection("127.0.0.1", m.ports["web"],
                                      timeout=10)

    def get(path):
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        return r.status

    for path in ("/shop/../registry", "/shop/..", "/shop/.", "/shop/./x",
                 "/shop/%2e%2e/%2E%2E/etc/passwd", "/shop/.%2e/x",
                 "/shop/a/..%2f..%2fx", "/shop/a%5c..%5cx",
                 "/shop/%2e?q=1", "/registry/../shop/x"):
        assert get(path) == 400, path
    assert node.requests == []
    # Dots inside a name are no dot segments; encoded slashes pass as sent.
    for path in ("/shop/...", "/shop/.well-known/x", "/shop/a..b/c.",
                 "/shop/a%2Fb"):
        assert get(path) == 200, path
        assert node.requests[-1][1] == path[len("/shop"):], path
    conn.close()


def test_large_body_streams_both_ways(microd, nodes):
    # The body is larger than max_body_size: only a streamed proxy passes it.
    m = microd(extra="[web]\nmax_body_size = 1M\n")
    node = FakeNode()     # echoes the request body
    nodes.append(node)
    register(m, node.service("go.micro.web.big", protocol=None))
    payload = bytes(range(256)) * (24 * 1024)     # 6 MiB
    conn = httpclient.HTTPConnection("127.0.0.1", m.ports["web"],
                                      timeout=60)
    conn.request("POST", "/big/upload", body=payload,
                 headers={"Content-Type": "application/octet-stream"})
    r = conn.getresponse()
    got = r.read()
    conn.close()
    assert r.status == 200
    assert len(got) == len(payload)
    assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()
    assert node.requests[-1][1] == "/upload"


class EchoApp:
    """A websocket app: greets, then echoes every message upper-cased."""

    def __init__(self):
        self.paths = []
        self.ended = []     # paths of the websockets closed
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        threading.Thread(target=self.run, args=(ready,), daemon=True).start()
        assert ready.wait(10)

    async def handler(self, ws, path):
        self.paths.append(path)
        try:
            await ws.send("hello from the app")
            async for msg in ws:
                await ws.send(msg.upper() if isinstance(msg, str)
                              else msg[::-1])
        finally:
            self.ended.append(path)

    def run(self, ready):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            websockets.serve(self.handler, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    def close(self):
        async def stop():
            self.server.close()
            await self.server.wait_closed()
        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture
def chat(microd):
    """microd(extra) with go.micro.web.chat, an EchoApp: (microd, app)."""
    apps = []

    def make(extra=""):
        m = microd(extra=extra)
        apps.append(EchoApp())
        register(m, {"name": "go.micro.web.chat", "version": "1",
                     "nodes": [{"id": "chat-1", "address": "127.0.0.1:%d"
                                % apps[-1].port}]})
        return m, apps[-1]
    yield make
    for app in apps:
        app.close()


def chat_url(m, path):
    return "ws://127.0.0.1:%d/chat%s" % (m.ports["web"], path)


def test_websocket_app_both_ways(chat):
    m, app = chat()

    async def talk():
        async with websockets.connect(chat_url(m, "/room/1"),
                                      max_size=2 ** 22) as ws:
            first = await asyncio.wait_for(ws.recv(), 10)
            await ws.send("ping one")
            a = await asyncio.wait_for(ws.recv(), 10)
            big = bytes(range(256)) * 4096          # 1 MiB binary
            await ws.send(big)
            b = await asyncio.wait_for(ws.recv(), 10)
            return first, a, b == big[::-1]
    first, a, big_ok = asyncio.run(talk())
    assert first == "hello from the app"
    assert a == "PING ONE"
    assert big_ok
    assert app.paths == ["/room/1"]


def test_websocket_idle_closed_both_ways(chat):
    # idle_timeout bounds a websocket with no byte either way: microd
    # closes the browser's side and the app's. One that talks every 0.3 s
    # outlives it many times over.
    m, app = chat("[web]\nidle_timeout = 1s\n")

    async def talk():
        async with websockets.connect(chat_url(m, "/silent"),
                                      ping_interval=None) as silent, \
                websockets.connect(chat_url(m, "/chatty"),
                                   ping_interval=None) as chatty:
            for ws in (silent, chatty):
                await asyncio.wait_for(ws.recv(), 10)
            clock = asyncio.get_running_loop().time
            start, closed_after = clock(), None
            while not app.ended or clock() - start < 4:
                assert clock() - start < 20, "silent websocket still open"
                await chatty.send("tick")
                assert await asyncio.wait_for(chatty.recv(), 5) == "TICK"
                await asyncio.sleep(0.3)    # the pace of the chat
                if closed_after is None and silent.closed:
                    closed_after = clock() - start
            assert app.ended == ["/silent"]
            assert silent.closed and closed_after >= 0.8, closed_after
            await chatty.send("still here")
            assert await asyncio.wait_for(chatty.recv(), 5) == "STILL HERE"
    asyncio.run(talk())


def test_websocket_app_outlives_a_reload(chat):
    # The old web worker keeps its websockets while it drains; the new
    # generation takes the new ones. Closing the last lets the old exit.
    m, app = chat()
    old = m.running("web")[0]["pid"]

    async def talk():
        async with websockets.connect(chat_url(m, "/room/1"),
                                      ping_interval=None) as ws:
            await asyncio.wait_for(ws.recv(), 10)
            m.ctl("reload")
            wait_for(lambda: [w for w in m.running("web")
                              if w["pid"] != old], what="a new web worker")
            clock = asyncio.get_running_loop().time
            start = clock()
            while clock() - start < 1.5:
                await ws.send("tick")
                assert await asyncio.wait_for(ws.recv(), 5) == "TICK"
                assert pid_alive(old)
                await asyncio.sleep(0.1)    # the pace of the chat
            async with websockets.connect(chat_url(m, "/room/2"),
                                          ping_interval=None) as fresh:
                await asyncio.wait_for(fresh.recv(), 10)
                await fresh.send("new")
                assert await asyncio.wait_for(fresh.recv(), 5) == "NEW"
            assert http("GET", m.url("web", "/"))[0] == 200
            await ws.send("still here")
            assert await asyncio.wait_for(ws.recv(), 5) == "STILL HERE"
    asyncio.run(talk())
    wait_for(lambda: not pid_alive(old), what="the drained worker's exit")
    wait_for(lambda: sorted(app.ended) == ["/room/1", "/room/2"],
             what="both closed at the app")


def upgrade_status(m):
    """An upgrade to the chat app: (status, body), the connection closed."""
    c = httpclient.HTTPConnection("127.0.0.1", m.ports["web"], timeout=10)
    c.request("GET", "/chat/third", headers={
        "Upgrade": "websocket", "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13"})
    r = c.getresponse()
    got = (r.status, r.read() if r.status != 101 else b"")
    c.close()
    return got


def test_websockets_bounded_by_max_connections(chat):
    m, app = chat("[web]\nmax_connections = 2\n")

    async def talk():
        async with websockets.connect(chat_url(m, "/one"),
                                      ping_interval=None) as one, \
                websockets.connect(chat_url(m, "/two"),
                                   ping_interval=None) as two:
            for ws in (one, two):
                await asyncio.wait_for(ws.recv(), 10)
            status, body = upgrade_status(m)
            assert status == 503, (status, body)
            assert json.loads(body) == {
                "id": "go.micro.web", "code": 503,
                "detail": "too many websocket connections",
                "status": "Service Unavailable"}
            assert app.paths == ["/one", "/two"]
            await one.close()
            wait_for(lambda: upgrade_status(m)[0] == 101, what="room again")
            await two.send("two")
            assert await asyncio.wait_for(two.recv(), 5) == "TWO"
    asyncio.run(talk())


def web_post(m, path, body):
    conn = httpclient.HTTPConnection("127.0.0.1", m.ports["web"],
                                      timeout=30)
    conn.request("POST", path, body=body,
                 headers={"Content-Type": "application/octet-stream"})
    r = conn.getresponse()
    got = (r.status, r.read())
    conn.close()
    return got


def test_small_post_refused_by_a_node_goes_to_another(microd, nodes):
    # A form posted to a web app whose first node picked is down: the
    # node refused the connection, so the POST never ran and goes to
    # another node, as on the api's proxy (its small body is buffered).
    m = microd()
    live = FakeNode()     # echoes the request body
    nodes.append(live)
    register(m, {"name": "go.micro.web.form", "version": "1", "nodes": [
        {"id": "down-%d" % i, "address": closed_address(), "metadata": {}}
        for i in range(2)] + [
        {"id": "up", "address": live.address, "metadata": {}}]})
    for i in range(8):
        body = b"field=%d" % i
        assert web_post(m, "/form/submit", body) == (200, body), i
    assert [r[1] for r in live.requests] == ["/submit"] * 8


def chunked_post(m, path, body):
    """POST body chunked, as fetch() or a Go client streams an upload."""
    conn = httpclient.HTTPConnection("127.0.0.1", m.ports["web"],
                                      timeout=30)
    conn.request("POST", path, body=iter([body[:1000], body[1000:]]),
                 encode_chunked=True,
                 headers={"Transfer-Encoding": "chunked"})
    r = conn.getresponse()
    got = (r.status, r.read())
    conn.close()
    return got


@pytest.mark.parametrize("post", [web_post, chunked_post])
def test_streamed_post_refused_by_a_node_goes_to_another(microd, nodes,
                                                         post):
    """The same for a body that streams (over 64 KiB, or chunked): it got
    502 "connection refused" whenever a down node was picked first,
    though nothing had reached it. The body waits until the node is up,
    so a node that refused took none of it."""
    m = microd()
    live = FakeNode()     # echoes the request body
    nodes.append(live)
    register(m, {"name": "go.micro.web.up", "version": "1", "nodes": [
        {"id": "down-%d" % i, "address": closed_address(), "metadata": {}}
        for i in range(2)] + [
        {"id": "up", "address": live.address, "metadata": {}}]})
    for i in range(8):
        body = (b"%d" % i) * 100000
        assert post(m, "/up/file", body) == (200, body), i


def test_streamed_post_to_down_nodes_only_is_503(microd, nodes):
    """No node up: 503 "no node answering", as for a buffered body, not
    the 502 of an answer lost once the request was sent."""
    m = microd()
    register(m, {"name": "go.micro.web.down", "version": "1", "nodes": [
        {"id": "down", "address": closed_address(), "metadata": {}}]})
    status, body = web_post(m, "/down/file", b"x" * 100000)
    assert status == 503, body
    assert json.loads(body)["detail"] == \
        "no node answering: connection refused", body


def test_upgrade_with_a_body_is_refused(microd, nodes):
    """An upgrade request with a body got no answer at all: the node
    switched protocols, and the client's connection was closed, the
    request not even counted. It is a 400 now, no node asked."""
    m = microd()
    node = RawNode(b"HTTP/1.1 101 Switching Protocols\r\n"
                   b"Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
    nodes.append(node)
    register(m, node.service("go.micro.web.ws"))
    s = socket.create_connection(("127.0.0.1", m.ports["web"]), timeout=10)
    s.sendall(b"GET /ws/x HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nContent-Length: 5\r\n\r\nhel")
    assert read_head(s).startswith(b"HTTP/1.1 400 "), "no answer"
    s.close()


def test_body_over_max_body_size_still_streams(microd, nodes):
    # max_body_size bounds what the dashboard buffers, not a web app's
    # bodies: one over it is streamed to the node, not refused (413).
    m = microd(extra="[web]\nmax_body_size = 1K\n")
    node = FakeNode()
    nodes.append(node)
    register(m, node.service("go.micro.web.up", protocol=None))
    body = b"x" * 3000
    assert web_post(m, "/up/file", body) == (200, body)
    assert web_post(m, "/up/file", b"y" * 500) == (200, b"y" * 500)


def endless_events(c):
    """A web app's event stream that never ends."""
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n")
    while True:
        c.sendall(b"6\r\ndata:\n\r\n")
        time.sleep(0.1)


def reading_endless_events(microd, nodes, shutdown_timeout):
    """(microd, a client socket that has read the head of an app's
    endless event stream, proxied by the web)."""
    m = microd(extra="[microd]\nshutdown_timeout = %s\n" % shutdown_timeout)
    node = RawNode(endless_events, threaded=True)
    nodes.append(node)
    register(m, node.service("go.micro.web.feed"))
    s = socket.create_connection(("127.0.0.1", m.ports["web"]), timeout=10)
    s.sendall(b"GET /feed/events HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_head(s).startswith(b"HTTP/1.1 200")
    return m, s


def test_endless_stream_cut_at_shutdown_timeout(microd, nodes):
    # A proxied answer that never ends (an app's event stream) is cut just
    # before shutdown_timeout, like a websocket: the worker exits by
    # itself, the master kills nothing.
    m, s = reading_endless_events(microd, nodes, "5s")

    def read_to_the_end():      # as a browser would, then close
        while s.recv(65536):
            pass
        s.close()
    reader = threading.Thread(target=read_to_the_end, daemon=True)
    reader.start()
    m.stop()
    reader.join(10)
    assert m.proc.returncode == 0 and not reader.is_alive()
    log = m.read_log()
    assert "cutting 1 request still in flight" in log, log
    assert "did not stop in time" not in log, log


def test_cut_stream_to_a_client_that_never_closes(microd, nodes):
    """The stream cut at the drain deadline closes at once, not after
    a lingering wait of 2 s for a client that neither reads on nor
    closes: that wait ran past shutdown_timeout, and the master killed
    the worker."""
    m, s = reading_endless_events(microd, nodes, "2s")
    try:
        m.stop()
        assert m.proc.returncode == 0
        log = m.read_log()
        assert "cutting 1 request still in flight" in log, log
        assert "did not stop in time" not in log, log
    finally:
        s.close()
