"""The api gateway end to end: the greeter flow through every handler,
mucp and JSON-RPC nodes, failover, timeouts, error statuses, metadata,
CORS and bad input; nodes that misbehave (a keep-alive connection dropped
after the node read a POST, a node that never reads the body it is sent,
a node registered under a host name microd does not resolve)."""
import http.client as httpclient
import io
import json
import select
import socket
import struct
import threading
import time

import pytest

from conftest import accept_loop, http, pid_alive, wait_for
from gwnodes import (FakeNode, RawNode, c_api, c_srv, closed_address,
                     node_ids, py_srv, register, slow)
from test_microtop import health_by_id

HELLO = {"msg": "Hello John"}


@pytest.fixture
def gw(microd):
    """microd with the roles these tests use: api and sidecar."""
    return lambda extra="": microd(extra, workers={"web": 0, "broker": 0})


def get(m, path, headers=None):
    return http("GET", m.url("api", path), headers=headers)


def rpc(m, payload, headers=None, role="api"):
    if isinstance(payload, dict):
        body = json.dumps(payload).encode()
        headers = dict({"Content-Type": "application/json"},
                       **(headers or {}))
    else:
        body = payload.encode()
    return http("POST", m.url(role, "/rpc"), body, headers)


def error(body):
    e = json.loads(body)
    assert set(e) == {"id", "code", "detail", "status"}, e
    return e


def test_greeter_flow_api_handler(gw, nodes):
    m = gw()
    nodes.append(c_srv(m))      # held before the next start can fail
    nodes.append(c_api(m))
    status, headers, body = get(m, "/greeter/say/hello?name=John")
    assert status == 200, body
    assert json.loads(body) == HELLO
    assert headers["Content-Type"] == "application/json"
    # The API service's own error (no name) comes back with its code.
    status, _, body = get(m, "/greeter/say/hello")
    assert status == 400
    assert error(body)["detail"] == "Name cannot be blank"


def test_rpc_form_and_json(gw, nodes):
    m = gw()
    nodes.append(c_srv(m))
    form = ("service=go.micro.srv.greeter&method=Say.Hello&"
            "request=%7B%22name%22%3A+%22John%22%7D")
    status, headers, body = rpc(m, form, {
        "Content-Type": "application/x-www-form-urlencoded"})
    assert (status, json.loads(body)) == (200, HELLO)
    # A result is data: never a page, whatever type a node gives it.
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Security-Policy"].startswith("sandbox;")
    for req in ({"name": "John"}, '{"name": "John"}'):
        status, _, body = rpc(m, {"service": "go.micro.srv.greeter",
                                  "method": "Say.Hello", "request": req})
        assert (status, json.loads(body)) == (200, HELLO)
    status, _, body = rpc(m, {"Service": "go.micro.srv.greeter",
                              "Endpoint": "Say.Hello",
                              "Request": {"name": "John"}})
    assert (status, json.loads(body)) == (200, HELLO)
    # A field that does not decode is an error, not an absent field (the
    # call used to go out with request {}).
    for form in (form.replace("%7B", "%zz"), form + "&x=%00"):
        status, _, body = rpc(m, form, {
            "Content-Type": "application/x-www-form-urlencoded"})
        assert status == 400, (form, body)
        assert "percent-encoding" in error(body)["detail"]


def test_python_srv(gw, nodes):
    m = gw()
    nodes.append(py_srv(m))
    status, _, body = rpc(m, {"service": "go.micro.srv.greeter",
                              "method": "Say.Hello",
                              "request": {"name": "John"}})
    assert (status, json.loads(body)) == (200, HELLO)


def test_legacy_jsonrpc_node(gw, nodes):
    m = gw()
    nodes.append(c_srv(m, "-j"))
    status, _, body = rpc(m, {"service": "go.micro.srv.greeter",
                              "method": "Say.Hello",
                              "request": {"name": "John"}})
    assert (status, json.loads(body)) == (200, HELLO)
    # A JSON-RPC error (HTTP 200 on the wire) becomes a 500.
    status, _, body = rpc(m, {"service": "go.micro.srv.greeter",
                              "method": "Say.Hello", "request": {}})
    assert status == 500
    assert error(body)["detail"] == "name required"


def test_legacy_jsonrpc_numbers_pass_as_written(gw, nodes):
    """The request goes into params and the result comes out as written:
    doubles keep their digits (0.1, not 0.10000000000000001) and an
    integer beyond int64 (a Go uint64) is no error."""
    numbers = b'{"p":0.1,"e":1.5e3,"u":18446744073709551615}'

    def jsonrpc(h, body):
        call = json.loads(body)
        out = b'{"id":%d,"result":%s,"error":null}' % (
            call["id"], body[body.index(b"[") + 1:body.rindex(b"]")])
        return 200, {"Content-Type": "application/json"}, out
    node = FakeNode(jsonrpc)
    nodes.append(node)
    register(m := gw(), node.service("go.micro.srv.num", protocol=None))
    status, _, body = http("POST", m.url("api", "/rpc"),
                           b'{"service":"go.micro.srv.num","method":"N.M",'
                           b'"request":' + numbers + b'}',
                           {"Content-Type": "application/json"})
    assert (status, body) == (200, numbers)
    assert b'"params":[' + numbers + b']' in node.requests[0][3]


def test_rpc_handler_body_and_query(gw, nodes):
    m = gw("[api]\nhandler = rpc\nnamespace = go.micro.srv\n")
    nodes.append(c_srv(m))
    status, _, body = http("POST", m.url("api", "/greeter/say/hello"),
                           b'{"name":"John"}',
                           {"Content-Type": "application/json"})
    assert (status, json.loads(body)) == (200, HELLO)
    status, _, body = get(m, "/greeter/say/hello?name=John")
    assert (status, json.loads(body)) == (200, HELLO)


def test_sidecar_rpc(gw, nodes):
    m = gw()
    nodes.append(c_srv(m))
    status, _, body = rpc(m, {"service": "go.micro.srv.greeter",
                              "method": "Say.Hello",
                              "request": {"name": "John"}}, role="sidecar")
    assert (status, json.loads(body)) == (200, HELLO)
    status, _, body = http("POST", m.url("sidecar", "/greeter/say/hello"),
                           b'{"name":"John"}',
                           {"Content-Type": "application/json"})
    assert (status, json.loads(body)) == (200, HELLO)


def test_two_nodes_one_killed(gw, nodes):
    m = gw("[api]\nselector = roundrobin\n")
    nodes.append(c_srv(m))      # held before the next start can fail
    nodes.append(c_srv(m))
    a, b = nodes
    call = {"service": "go.micro.srv.greeter", "method": "Say.Hello",
            "request": {"name": "John"}}
    for _ in range(4):
        assert rpc(m, call)[0] == 200
    # Killed without deregistering: still in the registry, refusing.
    a.stop(9)
    for _ in range(20):
        status, _, body = rpc(m, call)
        assert (status, json.loads(body)) == (200, HELLO)


def test_version_filter(gw, nodes):
    m = gw()
    old = FakeNode(lambda h, b: (200, {}, b'"old"'))
    new = FakeNode(lambda h, b: (200, {}, b'"new"'))
    nodes += [old, new]
    register(m, old.service("go.micro.srv.v", version="1.0.0"))
    register(m, new.service("go.micro.srv.v", version="2.0.0"))
    call = {"service": "go.micro.srv.v", "method": "V.Get"}
    for _ in range(6):
        assert rpc(m, dict(call, version="2.0.0"))[2] == b'"new"'
    assert rpc(m, dict(call, version="3.0.0"))[0] == 503
    assert {rpc(m, call)[2] for _ in range(30)} == {b'"old"', b'"new"'}


def test_metadata_reaches_the_service(gw, nodes):
    m = gw()
    node = FakeNode(lambda h, b: (200, {"Content-Type": "application/json"},
                                  b'{"ok":true}'))
    nodes.append(node)
    register(m, node.service("go.micro.srv.echo"))
    status, _, body = rpc(m, {"service": "go.micro.srv.echo",
                              "method": "Echo.Call", "request": {"a": 1}},
                          {"X-User": "alice", "X-Forwarded-For": "10.0.0.1",
                           "Micro-Service": "spoofed",
                           "Content-Language": "de", "Content-MD5": "x"})
    assert (status, json.loads(body)) == (200, {"ok": True})
    method, path, headers, sent = node.requests[-1]
    assert (method, path) == ("POST", "/")
    assert json.loads(sent) == {"a": 1}
    assert headers["X-User"] == "alice"
    assert headers["X-Forwarded-For"] == "10.0.0.1, 127.0.0.1"
    assert headers["Micro-Service"] == "go.micro.srv.echo"
    assert headers["Micro-Endpoint"] == "Echo.Call"
    assert headers["Micro-Method"] == "Echo.Call"
    assert headers["Micro-Id"]
    assert int(headers["Timeout"]) > 0
    # Content-* told of the caller's body, not of the one sent.
    assert "Content-Language" not in headers
    assert "Content-MD5" not in headers


def test_api_request_shape(gw, nodes):
    """The api handler's api.Request as a service sees it."""
    m = gw()
    rsp = {"statusCode": 201, "body": "made",
           "header": {"Content-Type": {"key": "Content-Type",
                                       "values": ["text/plain"]},
                      "X-A": {"key": "X-A", "values": ["1"]}}}
    node = FakeNode(lambda h, b: (200, {}, json.dumps(rsp).encode()))
    nodes.append(node)
    register(m, node.service("go.micro.api.things"))
    status, headers, body = http("POST", m.url("api", "/things/make?x=1"),
                                 b"a=b", {"Content-Type":
                                          "application/x-www-form-urlencoded",
                                          "X-Test": "t"})
    assert (status, body) == (201, b"made")
    assert headers["Content-Type"] == "text/plain"
    assert headers["X-A"] == "1"
    _, _, h, sent = node.requests[-1]
    assert h["Micro-Endpoint"] == "Things.Make"
    req = json.loads(sent)
    assert req["method"] == "POST"
    assert req["path"] == "/things/make"
    assert req["url"] == "/things/make?x=1"
    assert req["get"] == {"x": {"key": "x", "values": ["1"]}}
    assert req["post"] == {"a": {"key": "a", "values": ["b"]}}
    assert req["header"]["X-Test"] == {"key": "X-Test", "values": ["t"]}
    assert req["header"]["X-Forwarded-For"]["values"] == ["127.0.0.1"]
    # Bytes that are not UTF-8 in a header or the query: U+FFFD, as micro
    # (Go) sends them; the call goes through.
    got = raw_exchange(m, b"GET /things/make?a=%FF HTTP/1.1\r\nHost: x\r\n"
                       b"Cookie: n=caf\xe9\r\nConnection: close\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 201"), got
    req = json.loads(node.requests[-1][3])
    assert req["header"]["Cookie"]["values"] == ["n=caf\ufffd"]
    assert req["get"]["a"]["values"] == ["\ufffd"]


def test_msgpack_both_ways(gw, nodes):
    m = gw("[api]\nhandler = rpc\n")
    seen = {}

    def behaviour(h, body):
        seen["ct"] = h.headers["Content-Type"]
        seen["body"] = body
        # {"n":1} in msgpack
        return 200, {"Content-Type": "application/msgpack"}, b"\x81\xa1n\x01"
    node = FakeNode(behaviour)
    nodes.append(node)
    register(m, node.service("go.micro.api.mp"))
    # A JSON caller gets JSON back from a msgpack-speaking node.
    status, headers, body = http("POST", m.url("api", "/mp/call"),
                                 b'{"a":1}',
                                 {"Content-Type": "application/json"})
    assert status == 200, body
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"n": 1}
    # A msgpack caller's body reaches the mucp node as it is.
    status, headers, body = http("POST", m.url("api", "/mp/call"),
                                 b"\x81\xa1a\x01",
                                 {"Content-Type": "application/msgpack"})
    assert status == 200
    assert seen == {"ct": "application/msgpack", "body": b"\x81\xa1a\x01"}
    assert headers["Content-Type"] == "application/msgpack"
    assert body == b"\x81\xa1n\x01"


def test_error_statuses(gw, nodes):
    m = gw("[api]\nrequest_timeout = 500ms\n")
    slow_node = FakeNode(slow(3))
    nodes.append(slow_node)
    register(m, slow_node.service("go.micro.srv.slow"))
    register(m, {"name": "go.micro.srv.dead", "nodes": [
        {"id": "dead-1", "address": closed_address(),
         "metadata": {"protocol": "mucp"}}]})
    call = {"method": "X.Y", "request": {}}
    status, _, body = rpc(m, dict(call, service="go.micro.srv.nope"))
    assert status == 404
    assert error(body)["detail"] == "service not found"
    status, _, body = rpc(m, dict(call, service="go.micro.srv.dead"))
    assert status == 503, body
    error(body)
    status, _, body = rpc(m, dict(call, service="go.micro.srv.slow"))
    assert status == 504, body
    # The caller's own Timeout header: 408.
    status, _, body = rpc(m, dict(call, service="go.micro.srv.slow"),
                          {"Timeout": "200ms"})
    assert status == 408, body
    # As Go's Duration.String() writes it (it used to be a 400).
    status, _, body = rpc(m, dict(call, service="go.micro.srv.slow"),
                          {"Timeout": "0.2s"})
    assert status == 408, body
    # One past request_timeout cannot lengthen it: microd's deadline, 504.
    status, _, body = rpc(m, dict(call, service="go.micro.srv.slow"),
                          {"Timeout": "2s"})
    assert status == 504, body
    status, _, body = rpc(m, dict(call, service="go.micro.srv.slow"),
                          {"Timeout": "soon"})
    assert status == 400 and error(body)["id"] == "go.micro.rpc"
    # Through the api handler, its own id.
    status, _, body = get(m, "/slow/x", {"Timeout": "soon"})
    assert status == 400 and error(body)["id"] == "go.micro.api", body


def test_service_error_code(gw, nodes):
    m = gw()
    node = FakeNode(lambda h, b: (403, {}, json.dumps(
        {"id": "go.micro.srv.guard", "code": 403, "detail": "no",
         "status": "Forbidden"}).encode()))
    nodes.append(node)
    register(m, node.service("go.micro.srv.guard"))
    status, _, body = rpc(m, {"service": "go.micro.srv.guard",
                              "method": "G.Check", "request": {}})
    assert status == 403
    assert error(body) == {"id": "go.micro.srv.guard", "code": 403,
                           "detail": "no", "status": "Forbidden"}


def test_bad_input_never_calls(gw, nodes):
    m = gw("[api]\nmax_body_size = 1K\nmax_header_size = 2K\n")
    node = FakeNode()
    nodes.append(node)
    register(m, node.service("go.micro.api.greeter"))
    register(m, node.service("go.micro.srv.greeter"))
    for path in ("/greeter/..%2f..%2fetc", "/greeter/say_hi",
                 "/greeter//hello", "/", "/gr%C3%A9eter/x"):
        status, _, body = get(m, path)
        assert status == 400, (path, body)
        error(body)
    assert rpc(m, {"service": "go.micro.srv.greeter",
                   "method": "Say.Hello", "request": "{bad"})[0] == 400
    assert rpc(m, {"service": "bad/name", "method": "A.B"})[0] == 400
    assert rpc(m, {"service": "bad\nname", "method": "A.B"})[0] == 400
    assert rpc(m, {"service": "go.micro.srv.greeter",
                   "method": "A/B"})[0] == 400
    assert rpc(m, {"service": "go.micro.srv.greeter", "method": "A.B",
                   "address": "not-an-address"})[0] == 400
    assert rpc(m, "not json", {"Content-Type": "application/json"})[0] == 400
    # A version or address filter that is not a string is no filter to
    # drop: the call would go to any node.
    for key in ("version", "address"):
        for value in (5, ["x"], {}, True):
            for role in ("api", "sidecar"):
                status, _, body = rpc(m, {"service": "go.micro.srv.greeter",
                                          "method": "A.B", key: value},
                                      role=role)
                assert status == 400, (key, value, role, body)
                assert error(body)["detail"] == \
                    "invalid %s: not a string" % key
    status, headers, body = http("GET", m.url("api", "/rpc"))
    assert (status, headers["Allow"]) == (405, "POST")
    assert error(body)["detail"] == "Method not allowed"
    # The HTTP layer's own refusals carry the error JSON too.
    status, _, body = http("POST", m.url("api", "/greeter/say/hello"),
                           b"x" * 4096)
    assert status == 413
    assert error(body) == {"id": "go.micro.api", "code": 413,
                           "detail": "Request Entity Too Large",
                           "status": "Request Entity Too Large"}
    status, _, body = get(m, "/greeter/say/hello", {"X-Big": "y" * 4096})
    assert status == 431 and error(body)["code"] == 431
    assert node.requests == []


def test_rpc_off(gw, nodes):
    m = gw("[api]\nrpc = off\n")
    status, _, body = rpc(m, {"service": "go.micro.srv.greeter",
                              "method": "Say.Hello"})
    # /rpc is now an ordinary path: go.micro.api.rpc, not registered.
    assert status == 404
    assert error(body)["detail"] == "service not found"


def test_cors(gw, nodes):
    m = gw("[api]\ncors = http://a.example, http://b.example\n")
    origin = {"Origin": "http://b.example"}
    status, headers, _ = http("OPTIONS", m.url("api", "/greeter/say/hello"),
                              headers=dict(origin, **{
                                  "Access-Control-Request-Method": "POST"}))
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == "http://b.example"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    status, headers, _ = rpc(m, {"service": "go.micro.srv.x",
                                 "method": "A.B"}, origin)
    assert headers["Access-Control-Allow-Origin"] == "http://b.example"
    status, headers, _ = rpc(m, {"service": "go.micro.srv.x",
                                 "method": "A.B"},
                             {"Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in headers


def test_cors_answer_is_the_gateways_alone(gw, nodes):
    """A service's own Access-Control-* headers give way to the gateway's:
    two Access-Control-Allow-Origin values make browsers refuse."""
    acao = {"Access-Control-Allow-Origin": "*"}
    api_rsp = json.dumps({"statusCode": 200, "body": "hi", "header": {
        "Access-Control-Allow-Origin": {
            "key": "Access-Control-Allow-Origin", "values": ["*"]}}})
    for handler, service, answer in (
            ("proxy", "go.micro.api.plain", (200, acao, b"hi")),
            ("api", "go.micro.api.plain", (200, {
                "Content-Type": "application/json"}, api_rsp.encode()))):
        m = gw("[api]\nhandler = %s\ncors = *\n" % handler)
        node = FakeNode(lambda h, b, answer=answer: answer)
        nodes.append(node)
        register(m, node.service(service, protocol=None
                                 if handler == "proxy" else "mucp"))
        got = raw_exchange(m, b"GET /plain/x HTTP/1.1\r\nHost: x\r\n"
                           b"Origin: http://a.example\r\n"
                           b"Connection: close\r\n\r\n")
        assert got.startswith(b"HTTP/1.1 200"), got
        lines = [line for line in got.split(b"\r\n")
                 if line.lower().startswith(b"access-control-allow-origin:")]
        assert lines == [b"Access-Control-Allow-Origin: http://a.example"], \
            (handler, got)
        m.stop()


def test_api_response_hop_headers_dropped(gw, nodes):
    """An api.Response's headers of one connection (Trailer announcing
    trailers that never come, TE, Proxy-Authenticate) are the HTTP
    layer's, as Connection and Transfer-Encoding were: they passed."""
    hop = ("Trailer", "TE", "Proxy-Authenticate", "Keep-Alive")
    header = {k: {"key": k, "values": ["x"]} for k in hop + ("X-Kept",)}
    api_rsp = json.dumps({"statusCode": 200, "body": "hi",
                          "header": header}).encode()
    m = gw("[api]\nhandler = api\n")
    node = FakeNode(lambda h, b: (200, {"Content-Type": "application/json"},
                                  api_rsp))
    nodes.append(node)
    register(m, node.service("go.micro.api.plain"))
    got = raw_exchange(m, b"GET /plain/x HTTP/1.1\r\nHost: x\r\n"
                       b"Connection: close\r\n\r\n")
    head = got.split(b"\r\n\r\n", 1)[0].decode().lower()
    assert got.startswith(b"HTTP/1.1 200") and "\r\nx-kept: x" in head, got
    for name in hop:
        assert "\r\n%s:" % name.lower() not in head, (name, got)


def test_cors_answers_vary_on_origin(gw):
    """Whether the gateway answers CORS depends on Origin, so every answer
    says so: else a cache hands an answer without CORS headers (no
    Origin, or one not allowed) to an allowed origin, or the reverse."""
    m = gw("[api]\ncors = http://a.example\n")
    for origin in (None, "http://evil.example", "http://a.example"):
        _, headers, _ = get(m, "/greeter/say/hello",
                            {"Origin": origin} if origin else {})
        assert "Origin" in headers.get("Vary", ""), (origin, headers)


def test_cors_off_by_default(gw):
    m = gw()
    _, headers, _ = get(m, "/greeter/say/hello", {"Origin": "http://a"})
    assert "Access-Control-Allow-Origin" not in headers


def test_proxy_handler(gw, nodes):
    m = gw("[api]\nhandler = proxy\n")
    node = FakeNode(lambda h, b: (200, {"Content-Type": "text/plain",
                                        "X-Back": "1"},
                                  b"%s %s %d" % (h.command.encode(),
                                                 h.path.encode(), len(b))))
    nodes.append(node)
    register(m, node.service("go.micro.api.web", protocol=None))
    status, headers, body = get(m, "/web/some/page.html?q=1")
    assert (status, body) == (200, b"GET /web/some/page.html?q=1 0")
    assert headers["X-Back"] == "1"
    big = b"z" * (3 * 1024 * 1024)
    status, _, body = http("POST", m.url("api", "/web/upload"), big)
    assert (status, body) == (200, b"POST /web/upload %d" % len(big))
    _, _, h, _ = node.requests[-1]
    assert h["X-Forwarded-For"] == "127.0.0.1"
    assert get(m, "/nope/x")[0] == 404
    assert get(m, "/a--b/x")[0] == 400
    assert node.requests and len(node.requests) == 2


def ws_upgrade(m):
    """A websocket through the api proxy to go.micro.api.ws, once the 101
    is in (the node echoes upper-cased)."""
    s = socket.create_connection(("127.0.0.1", m.ports["api"]), timeout=5)
    s.sendall(b"GET /ws/chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Key: a2V5\r\n"
              b"Sec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def ws_echo(s, data):
    s.sendall(data)
    got = b""
    while len(got) < len(data):
        more = s.recv(4096)
        assert more, "closed"
        got += more
    assert got == data.upper()


def proxy_ws_node(gw, nodes, extra=""):
    m = gw("[api]\nhandler = proxy\n" + extra)
    node = FakeNode()
    nodes.append(node)
    register(m, node.service("go.micro.api.ws", protocol=None))
    return m


def test_proxy_websocket_upgrade(gw, nodes):
    s = ws_upgrade(proxy_ws_node(gw, nodes))
    ws_echo(s, b"hello through")
    s.close()


def test_proxy_websocket_idle_closed(gw, nodes):
    # idle_timeout bounds a websocket with no byte either way; one that
    # talks every 0.3 s outlives it many times over.
    m = proxy_ws_node(gw, nodes, "idle_timeout = 1s\n")
    silent, chatty = ws_upgrade(m), ws_upgrade(m)
    start = time.monotonic()
    closed_after = None
    while closed_after is None or time.monotonic() - start < 4:
        assert time.monotonic() - start < 20, "silent websocket still open"
        ws_echo(chatty, b"tick")
        time.sleep(0.3)     # the pace of the chat, not a wait
        if closed_after is None and select.select([silent], [], [], 0)[0]:
            assert silent.recv(4096) == b""
            closed_after = time.monotonic() - start
    assert closed_after >= 0.8, closed_after
    ws_echo(chatty, b"still here")
    silent.close()
    chatty.close()


def test_proxy_websocket_unread_closed(gw, nodes):
    # The client reads nothing of what the node keeps sending: once the
    # proxy holds its share, nothing moves, and idle_timeout ends it
    # rather than leave it stuck.
    cut = threading.Event()

    def flood(c):
        c.sendall(b"HTTP/1.1 101 Switching Protocols\r\n"
                  b"Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        try:
            while True:
                c.sendall(b"x" * 65536)
        except OSError:
            cut.set()
    node = RawNode(flood, threaded=True)
    nodes.append(node)
    m = gw("[api]\nhandler = proxy\nidle_timeout = 1s\n")
    register(m, node.service("go.micro.api.ws"))
    s = ws_upgrade(m)
    assert cut.wait(20), "the node still sends into a stuck websocket"
    s.close()


def ws_try_upgrade(m):
    """An upgrade through the api proxy: (socket, None) once the 101 is
    in, or (None, (status, body)) for any other answer."""
    s = socket.create_connection(("127.0.0.1", m.ports["api"]), timeout=5)
    s.sendall(b"GET /ws/chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Key: a2V5\r\n"
              b"Sec-WebSocket-Version: 13\r\n\r\n")
    got = b""
    while b"\r\n\r\n" not in got:
        more = s.recv(4096)
        assert more, got
        got += more
    head, body = got.split(b"\r\n\r\n", 1)
    if head.startswith(b"HTTP/1.1 101"):
        return s, None
    length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
              if line.lower().startswith(b"content-length:")][0]
    while len(body) < length:
        body += s.recv(4096)
    s.close()
    return None, (int(head.split()[1]), body)


def api_pid_draining(m, pid):
    return [w for w in m.workers_list()
            if w["pid"] == pid and w["state"] == "draining"]


def restart_api_under(m, s):
    """microctl restart api with the websocket s open: the old worker's
    pid, when the restart was asked and when it was answered (the drain
    began in between)."""
    old = m.running("api")[0]["pid"]
    asked = time.monotonic()
    m.ctl("restart", "api")
    answered = time.monotonic()
    ws_echo(s, b"right after the restart")
    return old, asked, answered


def test_proxy_websocket_outlives_a_restart(gw, nodes):
    # A draining worker keeps its websockets (they left its HTTP
    # connections) until they end, while the new one takes the new ones.
    m = proxy_ws_node(gw, nodes)
    s = ws_upgrade(m)
    old, _, _ = restart_api_under(m, s)
    wait_for(lambda: [w for w in m.running("api") if w["pid"] != old],
             what="a new api worker")
    start = time.monotonic()
    while time.monotonic() - start < 1.5:
        ws_echo(s, b"still talking")
        assert pid_alive(old) and api_pid_draining(m, old)
        time.sleep(0.1)     # the pace of the chat, not a wait
    assert get(m, "/ws/x")[0] == 200
    fresh = ws_upgrade(m)
    ws_echo(fresh, b"on the new worker")
    ws_echo(s, b"and the old one")
    s.close()
    wait_for(lambda: not pid_alive(old), what="the drained worker's exit")
    ws_echo(fresh, b"the new one stays")
    fresh.close()


def test_proxy_websocket_closed_at_shutdown_timeout(gw, nodes):
    # A websocket that does not end is closed just before shutdown_timeout
    # (by the worker, which then exits: the master kills nothing).
    m = proxy_ws_node(gw, nodes, "[microd]\nshutdown_timeout = 2s\n")
    s = ws_upgrade(m)
    old, asked, answered = restart_api_under(m, s)
    s.settimeout(10)
    assert s.recv(4096) == b""
    closed = time.monotonic()
    # Timed from the drain's start, not from the listings around it
    # (seconds on a busy machine).
    assert closed - asked >= 1.0 and closed - answered < 2.5, (
        closed - asked, closed - answered)
    wait_for(lambda: not pid_alive(old), what="the drained worker's exit")
    s.close()
    log = m.read_log()
    assert "closing 1 websocket still open" in log, log
    assert "did not stop in time" not in log, log


def test_calls_in_flight_answered_at_shutdown_timeout(microd, nodes):
    # request_timeout longer than shutdown_timeout: the calls still running
    # when a reload drains their workers (api, sidecar, web) are answered
    # 503 just before it, by each worker, which then exits by itself.
    m = microd("[microd]\nshutdown_timeout = 2s\n"
               "[api]\nrequest_timeout = 60s\n", workers={"broker": 0})
    node = FakeNode(slow(30))
    nodes.append(node)
    for name in ("go.micro.srv.slow", "go.micro.api.slow"):
        register(m, node.service(name))
    call = {"service": "go.micro.srv.slow", "method": "X.Y", "request": {}}
    calls = {
        "api": [lambda: rpc(m, call), lambda: get(m, "/slow/x")],
        "sidecar": [lambda: rpc(m, call, role="sidecar"),
                    lambda: http("POST", m.url("sidecar", "/slow/x"), b"{}",
                                 {"Content-Type": "application/json"})],
        "web": [lambda: rpc(m, call, role="web")],
    }
    old = [m.running(role)[0]["pid"] for role in calls]
    answers = []

    def run(call):
        try:
            answers.append(call())
        except OSError as e:    # the connection dropped: no answer
            answers.append((repr(e), {}, b""))
    threads = [threading.Thread(target=run, args=(c,))
               for role in calls for c in calls[role]]
    for t in threads:
        t.start()
    wait_for(lambda: len(node.requests) == len(threads),
             what="every call at the node")
    m.ctl("reload")
    for t in threads:
        t.join(timeout=20)
    assert len(answers) == len(threads), answers
    for status, _, body in answers:
        assert status == 503, (status, body)
        assert error(body) == {"id": "go.micro.client", "code": 503,
                               "detail": "server going away",
                               "status": "Service Unavailable"}
    wait_for(lambda: not any(pid_alive(p) for p in old),
             what="the drained workers' exit")
    log = m.read_log()
    for role, n in (("api", "2 calls"), ("sidecar", "2 calls"),
                    ("web", "1 call")):
        assert "%s/0: gateway: shutdown_timeout: cutting %s still" % (
            role, n) in log, log
    assert "did not stop in time" not in log, log


def test_proxy_websockets_bounded_by_max_connections(gw, nodes):
    m = proxy_ws_node(gw, nodes, "max_connections = 2\n")
    first, second = ws_upgrade(m), ws_upgrade(m)
    asked = len(nodes[0].requests)
    refused, (status, body) = ws_try_upgrade(m)
    assert refused is None and status == 503
    assert error(body) == {"id": "go.micro.api", "code": 503,
                           "detail": "too many websocket connections",
                           "status": "Service Unavailable"}
    assert len(nodes[0].requests) == asked
    ws_echo(first, b"the two open still talk")
    first.close()
    third = wait_for(lambda: ws_try_upgrade(m)[0], what="room again")
    ws_echo(third, b"in the place of the first")
    ws_echo(second, b"next to it")
    third.close()
    second.close()


def raw_exchange(m, request, role="api"):
    """Send raw bytes to role's listener; everything until it closes."""
    s = socket.create_connection(("127.0.0.1", m.ports[role]), timeout=10)
    s.sendall(request)
    got = b""
    while True:
        data = s.recv(65536)
        if not data:
            break
        got += data
    s.close()
    return got


def test_proxy_bad_backends(gw, nodes):
    m = gw("[api]\nhandler = proxy\n")
    api = m.running("api")[0]["pid"]
    answers = {
        "zero": b"HTTP/1.1 000 Zero\r\nContent-Length: 2\r\n\r\nok",
        "cut": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
        "cutchunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                    b"\r\na\r\n0123456789\r\n",
        "spacename": b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok",
        "nocontent": b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
        "gzipped": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked"
                   b"\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    }
    for name, answer in answers.items():
        node = RawNode(answer)
        nodes.append(node)
        register(m, node.service("go.micro.api." + name))
    # Not a status: 502, and the worker lives (it used to exit).
    status, _, body = get(m, "/zero/x")
    assert status == 502 and error(body)["code"] == 502
    assert get(m, "/spacename/x")[0] == 502
    # Dechunked, a gzip transfer coding would reach the client undeclared.
    assert get(m, "/gzipped/x")[0] == 502
    # A 204 never carries Content-Length (RFC 9110 8.6), whatever the node
    # said.
    got = raw_exchange(m, b"GET /nocontent/x HTTP/1.1\r\nHost: x\r\n"
                       b"Connection: close\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 204 "), got
    assert b"content-length" not in got.lower(), got
    # A cut answer reaches the client cut and closes the connection:
    # never completed, never followed by the next response.
    for name in ("cut", "cutchunk"):
        got = raw_exchange(m, b"GET /%s/a HTTP/1.1\r\nHost: x\r\n\r\n"
                           b"GET /%s/b HTTP/1.1\r\nHost: x\r\n\r\n" % (
                               name.encode(), name.encode()))
        assert got.count(b"HTTP/1.1") == 1, got
        assert got.endswith(b"0123456789") or \
            got.endswith(b"0123456789\r\n"), got
    assert m.running("api")[0]["pid"] == api


def test_proxy_bad_request_body_answered_before_the_reply(gw, nodes):
    """A streamed body that turns out malformed after the proxy took the
    request (a bad chunk size, a doubled chunked coding) is answered 400
    while no reply has started: it used to be a close without a word."""
    m = gw("[api]\nhandler = proxy\n")
    node = FakeNode()
    nodes.append(node)
    register(m, node.service("go.micro.api.echo"))
    for coding, body in ((b"chunked", b"zz\r\nab\r\n"),
                         (b"chunked, chunked", b"2\r\nab\r\n0\r\n\r\n")):
        got = raw_exchange(m, b"POST /echo/x HTTP/1.1\r\nHost: x\r\n"
                           b"Transfer-Encoding: " + coding + b"\r\n\r\n" +
                           body)
        assert got.startswith(b"HTTP/1.1 400 "), (coding, got)
    assert http("POST", m.url("api", "/echo/x"), b"fine")[0] == 200


def test_proxy_streamed_body_gone_quiet_is_408(gw, nodes):
    """A streamed body that stops for read_timeout is answered 408 while
    the node has not answered (it was a close without a word)."""
    m = gw("[api]\nhandler = proxy\nread_timeout = 1s\n")
    node = RawNode([(5, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")])
    nodes.append(node)
    register(m, node.service("go.micro.api.echo"))
    got = raw_exchange(m, b"POST /echo/x HTTP/1.1\r\nHost: x\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n")
    assert got.startswith(b"HTTP/1.1 408 "), got


def test_proxy_body_stalled_past_request_timeout_is_408(gw, nodes):
    """A streamed body that stops for request_timeout (shorter than
    read_timeout) leaves the node waiting for it: the client's fault, a
    408 (it was a 504, as if the node were slow). A node silent after the
    whole body is still a 504."""
    m = gw("[api]\nhandler = proxy\nrequest_timeout = 1s\n"
           "read_timeout = 30s\n")
    node = RawNode([(5, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")])
    nodes.append(node)
    register(m, node.service("go.micro.api.echo"))
    t0 = time.monotonic()
    got = raw_exchange(m, b"POST /echo/x HTTP/1.1\r\nHost: x\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\n5\r\nab")
    assert got.startswith(b"HTTP/1.1 408 "), got
    assert b"request body not received in time" in got
    assert time.monotonic() - t0 < 10
    got = raw_exchange(m, b"POST /echo/x HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Length: 2\r\nConnection: close\r\n\r\nab")
    assert got.startswith(b"HTTP/1.1 504 "), got


def test_proxy_304_with_a_length_has_no_body(gw, nodes):
    """A 304 (or 204) carries no body whatever its Content-Length says: the
    proxy used to wait for 5 bytes that never came, then cut the client's
    connection ("bad response mid-response")."""
    m = gw("[api]\nhandler = proxy\nrequest_timeout = 5s\n")
    node = RawNode(b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n"
                   b"Content-Length: 5\r\n\r\n", threaded=True)
    nodes.append(node)
    register(m, node.service("go.micro.api.cached"))
    conn = httpclient.HTTPConnection("127.0.0.1", m.ports["api"], timeout=10)
    try:
        for _ in range(2):  # the same client connection, kept alive
            t0 = time.monotonic()
            conn.request("GET", "/cached/x")
            r = conn.getresponse()
            assert (r.status, r.read()) == (304, b"")
            assert r.getheader("ETag") == '"v1"'
            assert time.monotonic() - t0 < 3
    finally:
        conn.close()
    assert "mid-response" not in m.read_log()


def test_proxy_refuses_dot_segments(gw, nodes):
    """/echo/../x means /x, not a path of echo: never proxied to echo
    (the web proxy refuses the same, rpc/route.c)."""
    m = gw("[api]\nhandler = proxy\n")
    node = FakeNode()
    nodes.append(node)
    register(m, node.service("go.micro.api.echo"))
    for path in (b"/echo/../x", b"/echo/%2e%2e/x", b"/echo/./x"):
        got = raw_exchange(m, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n"
                           b"Connection: close\r\n\r\n")
        assert got.startswith(b"HTTP/1.1 400 "), (path, got)
        assert b"dot segment in path" in got
    assert node.requests == []
    assert get(m, "/echo/a..b")[0] == 200


def test_proxy_retries_only_what_cannot_run_twice(gw, nodes):
    """A node that drops the connection after reading a request may have
    run it: a POST is not sent again to another node, a GET is, to as
    many nodes as an RPC call tries (3); a refused POST never reached
    its node and is."""
    m = gw("[api]\nhandler = proxy\n")
    drops = [RawNode(b"") for _ in range(5)]
    nodes.extend(drops)
    for i, node in enumerate(drops):
        svc = node.service("go.micro.api.drop")
        svc["nodes"][0]["id"] += str(i)
        register(m, svc)
    wait_for(lambda: len(node_ids(m, "go.micro.api.drop")) == 5,
             what="five nodes registered")
    status, _, body = http("POST", m.url("api", "/drop/pay"), b"once")
    assert status == 502, body
    assert sum(n.requests for n in drops) == 1
    status, _, body = get(m, "/drop/x")
    assert status == 503, body
    assert error(body)["detail"] == \
        "no node answering: connection lost before the response"
    assert sum(n.requests for n in drops) == 1 + 3
    live = FakeNode()
    nodes.append(live)
    register(m, live.service("go.micro.api.half", protocol=None))
    register(m, {"name": "go.micro.api.half", "version": "1.0.0", "nodes": [
        {"id": "half-dead", "address": closed_address(), "metadata": {}}]})
    wait_for(lambda: len(node_ids(m, "go.micro.api.half")) == 2,
             what="two nodes registered")
    for _ in range(6):
        assert http("POST", m.url("api", "/half/x"), b"p")[0] == 200


def test_proxy_streams_as_long_as_bytes_move(gw, nodes):
    """request_timeout bounds each silence of a streaming node, not the
    whole download; a node silent longer than that is cut off."""
    m = gw("[api]\nhandler = proxy\nrequest_timeout = 1s\n")
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    trickle = RawNode([(0, head)] + [(0.4, b"2\r\nok\r\n")] * 6 +
                      [(0, b"0\r\n\r\n")])
    silent = RawNode([(0, head), (0, b"2\r\nok\r\n"), (3, b"0\r\n\r\n")])
    nodes.extend([trickle, silent])
    register(m, trickle.service("go.micro.api.trickle"))
    register(m, silent.service("go.micro.api.silent"))
    t0 = time.monotonic()
    status, _, body = get(m, "/trickle/x")
    assert (status, body) == (200, b"ok" * 6)
    assert time.monotonic() - t0 > 2.0     # longer than request_timeout
    got = raw_exchange(m, b"GET /silent/x HTTP/1.1\r\nHost: x\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 200"), got
    assert got.endswith(b"2\r\nok\r\n"), got    # cut: no last chunk


def proxy_to_echo(gw, nodes):
    """microd with the proxy handler, and a recording node at /echo/."""
    m = gw("[api]\nhandler = proxy\n")
    node = FakeNode()
    nodes.append(node)
    register(m, node.service("go.micro.api.echo", protocol=None))
    return m, node


def test_header_names_must_be_tokens(gw, nodes):
    m, node = proxy_to_echo(gw, nodes)
    # "Name :" framed the body for the parser but not for lookups: 400.
    got = raw_exchange(m, b"POST /echo/x HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Length : 3\r\n\r\nabc")
    assert got.startswith(b"HTTP/1.1 400"), got
    assert node.requests == []


def test_connection_cannot_drop_forwarded_for(gw, nodes):
    m, node = proxy_to_echo(gw, nodes)
    # Raw: urllib would replace the Connection header with its own.
    got = raw_exchange(m, b"GET /echo/x HTTP/1.1\r\nHost: app.example\r\n"
                       b"Connection: close, X-Forwarded-For, Host, "
                       b"X-Secret\r\nX-Secret: s\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 200"), got
    _, _, h, _ = node.requests[-1]
    assert h["X-Forwarded-For"] == "127.0.0.1"
    assert h["Host"] == "app.example"


def test_absolute_form_reaches_the_node_in_origin_form(gw, nodes):
    m, node = proxy_to_echo(gw, nodes)
    # The target's host is the request's (RFC 9112 3.2.2): it goes as
    # Host, the target in origin-form (test_http_smuggle.py has more).
    got = raw_exchange(m, b"GET http://other.example/echo/x?q=1 HTTP/1.1"
                       b"\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 200"), got
    method, path, h, _ = node.requests[-1]
    assert (method, path, h["Host"]) == ("GET", "/echo/x?q=1",
                                         "other.example")


def test_every_forwarded_for_line_is_kept(gw, nodes):
    m, node = proxy_to_echo(gw, nodes)
    # A front proxy adds its own line after the client's: both stay, in
    # order, with this hop's peer last.
    got = raw_exchange(m, b"GET /echo/x HTTP/1.1\r\nHost: x\r\n"
                       b"X-Forwarded-For: 6.6.6.6\r\n"
                       b"X-Forwarded-For: 10.1.2.3\r\n"
                       b"Connection: close\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 200"), got
    _, _, h, _ = node.requests[-1]
    assert h["X-Forwarded-For"] == "6.6.6.6, 10.1.2.3, 127.0.0.1"
    assert "X-Secret" not in h


def test_slow_client_is_cut_off(gw, nodes):
    m = gw("[api]\nread_timeout = 300ms\n")
    node = FakeNode()
    nodes.append(node)
    register(m, node.service("go.micro.api.greeter"))
    got = raw_exchange(m, b"GET /greeter/say/hello HTTP/1.1\r\nHost: x\r\n")
    assert got == b"" or got.startswith(b"HTTP/1.1 408"), got
    assert node.requests == []


def test_error_status_is_gos_status_text(gw, nodes):
    """A service error's "status" is Go's http.StatusText of its code, as
    go-micro writes it: codes outside a short table were "Unknown"."""
    m = gw()
    texts = {402: "Payment Required", 412: "Precondition Failed",
             418: "I'm a teapot", 423: "Locked",
             451: "Unavailable For Legal Reasons",
             507: "Insufficient Storage"}
    for code, text in texts.items():
        node = FakeNode(lambda h, b, code=code: (code, {}, json.dumps(
            {"id": "go.micro.srv.e", "code": code, "detail": "no",
             "status": text}).encode()))
        nodes.append(node)
        register(m, node.service("go.micro.srv.e%d" % code))
        status, _, body = http(
            "POST", m.url("api", "/rpc"),
            json.dumps({"service": "go.micro.srv.e%d" % code,
                        "method": "E.Call"}).encode(),
            {"Content-Type": "application/json"})
        assert status == code
        assert json.loads(body) == {"id": "go.micro.srv.e", "code": code,
                                    "detail": "no", "status": text}


def test_strings_holding_nul_travel(gw, nodes):
    """JSON strings may hold "\\u0000" (Go's encoding/json writes a NUL byte
    so): the gateway writes them into an api.Request, and used to refuse
    them everywhere else: an api.Response body (502), a /rpc request
    (400), a JSON-RPC result (502), a reply to a msgpack caller (502)."""
    m = gw()

    def api_echo(h, body):
        return 200, {"Content-Type": "application/json"}, json.dumps(
            {"statusCode": 200, "body": json.loads(body)["body"],
             "header": {"X-Nul": {"key": "X-Nul", "values": ["a\0b"]},
                        "X-Ok": {"key": "X-Ok", "values": ["1"]}}}).encode()
    api = FakeNode(api_echo)
    echo = FakeNode(lambda h, b: (200, {"Content-Type": "application/json"},
                                  b))

    def jsonrpc(h, body):
        call = json.loads(body)
        return 200, {"Content-Type": "application/json"}, json.dumps(
            {"id": call["id"], "result": call["params"][0],
             "error": None}).encode()
    legacy = FakeNode(jsonrpc)
    nodes += [api, echo, legacy]
    register(m, api.service("go.micro.api.echo"))
    register(m, echo.service("go.micro.srv.echo"))
    register(m, legacy.service("go.micro.srv.legacy", protocol=None))
    status, headers, body = http("POST", m.url("api", "/echo/call"),
                                 b"a\0b", {"Content-Type": "text/plain"})
    assert (status, body) == (200, b"a\0b")
    # A header value a NUL would cut short is dropped, not cut.
    assert "X-Nul" not in headers and headers["X-Ok"] == "1"
    request = b'{"s":"a\\u0000b"}'
    for service, accept, want in (
            ("go.micro.srv.echo", "application/json", request),
            ("go.micro.srv.legacy", "application/json", None),
            ("go.micro.srv.echo", "application/msgpack",
             b"\x81\xa1s\xa3a\0b")):
        status, _, body = http(
            "POST", m.url("api", "/rpc"),
            b'{"service":"%s","method":"E.Call","request":%s}' % (
                service.encode(), request),
            {"Content-Type": "application/json", "Accept": accept})
        assert status == 200, (service, body)
        if want is None:
            assert json.loads(body) == {"s": "a\0b"}
        else:
            assert body == want
    # A service error whose detail holds one is still its error (its id
    # and code), the detail cut there: it used to be the raw text.
    echo.behaviour = lambda h, b: (409, {}, json.dumps(
        {"id": "go.micro.srv.echo", "code": 409, "detail": "dup\0x",
         "status": "Conflict"}).encode())
    status, _, body = http(
        "POST", m.url("api", "/rpc"),
        b'{"service":"go.micro.srv.echo","method":"E.Call"}',
        {"Content-Type": "application/json"})
    assert (status, json.loads(body)) == (409, {
        "id": "go.micro.srv.echo", "code": 409, "detail": "dup",
        "status": "Conflict"})
    # A service or method holding a NUL names nothing: refused, never
    # cut short to the name before it.
    status, _, body = http(
        "POST", m.url("api", "/rpc"),
        b'{"service":"go.micro.srv.echo\\u0000x","method":"E.Call"}',
        {"Content-Type": "application/json"})
    assert status == 400, body
    assert json.loads(body)["detail"] == "invalid service"


def test_raw_query_byte_not_utf8(gw, nodes):
    """A query byte that is not UTF-8, sent raw rather than %-encoded, is
    U+FFFD in the api.Request's url as in its "get", as micro (Go) sends
    it: the url used to make it a 400 "request line is not UTF-8"."""
    m = gw()
    node = FakeNode(lambda h, b: (200, {}, b'{"statusCode":200,"body":"ok"}'))
    nodes.append(node)
    register(m, node.service("go.micro.api.things"))
    got = raw_exchange(m, b"GET /things/make?a=caf\xe9 HTTP/1.1\r\n"
                       b"Host: x\r\nConnection: close\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 200 "), got
    assert got.endswith(b"\r\n\r\nok"), got
    req = json.loads(node.requests[-1][3])
    assert req["url"] == "/things/make?a=caf\ufffd"
    assert req["get"]["a"]["values"] == ["caf\ufffd"]


def rpc_call(m, service, method="A.B"):
    return http("POST", m.url("api", "/rpc"),
                json.dumps({"service": service, "method": method}).encode(),
                {"Content-Type": "application/json"})


def one_node(name, node_id, address):
    return {"name": name, "version": "1", "nodes": [
        {"id": node_id, "address": address,
         "metadata": {"protocol": "mucp"}}]}


def test_rpc_call_lost_after_sending_is_not_run_twice(gw, nodes):
    """An RPC call is a POST: a node that drops the connection after
    reading it may have run it, so it is not sent to another node."""
    m = gw()
    drops = [RawNode(b"") for _ in range(3)]
    nodes.extend(drops)
    for i, n in enumerate(drops):
        register(m, one_node("go.micro.srv.drop", "drop-%d" % i, n.address))
    wait_for(lambda: len(node_ids(m, "go.micro.srv.drop")) == 3,
             what="three nodes registered")
    status, _, body = rpc_call(m, "go.micro.srv.drop")
    assert status == 502, body
    assert sum(n.requests for n in drops) == 1
    # A refused call never reached its node: it moves on.
    live = FakeNode(lambda h, b: (200, {}, b"{}"))
    nodes.append(live)
    register(m, one_node("go.micro.srv.half", "half-dead", closed_address()))
    register(m, one_node("go.micro.srv.half", "half-live", live.address))
    wait_for(lambda: len(node_ids(m, "go.micro.srv.half")) == 2,
             what="two nodes registered")
    for _ in range(6):
        assert rpc_call(m, "go.micro.srv.half")[0] == 200


def test_an_answer_ends_an_ejection(gw, nodes):
    """A node tried while ejected (every node was) that answers is
    forgiven at once: it takes its share again, and shows as not
    ejected, not only once the ejection runs out."""
    m = gw("[api]\nselector = roundrobin\n")
    svc = "go.micro.srv.back"
    register(m, one_node(svc, "back", closed_address()))
    wait_for(lambda: node_ids(m, svc) == ["back"], what="node registered")
    for _ in range(3):     # three failures in a row eject it for 10 s
        assert rpc_call(m, svc)[0] == 503
    back = FakeNode(lambda h, b: (200, {}, b'"back"'))
    other = FakeNode(lambda h, b: (200, {}, b'"other"'))
    nodes += [back, other]
    register(m, one_node(svc, "back", back.address))
    wait_for(lambda: rpc_call(m, svc)[2] == b'"back"',
             what="the ejected node tried as the only one")
    assert health_by_id(m, svc)["back"]["ejected"] is False
    register(m, one_node(svc, "other", other.address))
    wait_for(lambda: len(node_ids(m, svc)) == 2, what="two nodes")
    got = [rpc_call(m, svc)[2] for _ in range(10)]
    assert got.count(b'"back"') == 5, got


def test_cors_any_origin_is_not_the_null_origin(gw):
    """Origin "null" is what sandboxed frames, data: and file: pages
    send: any page can send it, so "*" (answered with credentials) does
    not allow it; listed by name, it is."""
    preflight = {"Access-Control-Request-Method": "POST"}
    for cors, allowed in (("*", False), ("http://a.example, null", True)):
        m = gw("[api]\ncors = %s\n" % cors)
        for method, headers in (("GET", {}), ("OPTIONS", preflight)):
            _, got, _ = http(method, m.url("api", "/greeter/say/hello"),
                             headers=dict(headers, Origin="null"))
            assert "Origin" in got.get("Vary", ""), got
            assert (got.get("Access-Control-Allow-Origin") == "null") == \
                allowed, (cors, method, got)
        _, got, _ = http("GET", m.url("api", "/greeter/say/hello"),
                         headers={"Origin": "http://a.example"})
        assert got["Access-Control-Allow-Origin"] == "http://a.example"
        m.stop()


def test_a_node_moved_is_not_held_ejected(gw, nodes):
    """An ejection judged a node's address: the same id registered at
    another address is a node to try, not one to skip for 10 s."""
    m = gw("[api]\nselector = roundrobin\n")
    svc = "go.micro.srv.moved"
    other = FakeNode(lambda h, b: (200, {}, b'"other"'))
    moved = FakeNode(lambda h, b: (200, {}, b'"moved"'))
    nodes += [other, moved]
    register(m, one_node(svc, "moved", closed_address()))
    register(m, one_node(svc, "other", other.address))
    wait_for(lambda: len(node_ids(m, svc)) == 2, what="two nodes")
    # Round-robin: at least three calls try the dead address first.
    for _ in range(6):
        assert rpc_call(m, svc)[2] == b'"other"'
    register(m, one_node(svc, "moved", moved.address))
    wait_for(lambda: len(node_ids(m, svc)) == 2, what="two nodes")
    got = [rpc_call(m, svc)[2] for _ in range(10)]
    assert got.count(b'"moved"') == 5, got


@pytest.mark.parametrize("policy", ["roundrobin", "leastconn"])
def test_version_calls_interleaved_still_rotate(gw, nodes, policy):
    """Calls for one version interleaved with calls for any spread over
    the nodes (a cursor shared by both, taken modulo each one's node
    count, sent every version call to the same node)."""
    m = gw("[api]\nselector = %s\n" % policy)
    svc = "go.micro.srv.mixed"
    fakes = [FakeNode(lambda h, b, i=i: (200, {}, b'"%d"' % i))
             for i in range(3)]
    nodes += fakes
    for i, n in enumerate(fakes):
        register(m, dict(one_node(svc, "n%d" % i, n.address),
                         version="1" if i < 2 else "2"))
    wait_for(lambda: len(node_ids(m, svc)) == 3, what="three nodes")
    v1, anyv = [], []
    for _ in range(12):
        v1.append(http("POST", m.url("api", "/rpc"), json.dumps(
            {"service": svc, "method": "A.B", "version": "1"}).encode(),
            {"Content-Type": "application/json"})[2])
        anyv.append(rpc_call(m, svc)[2])
    got = v1 + anyv
    assert 5 <= v1.count(b'"0"') <= 7, v1
    counts = [got.count(b'"%d"' % i) for i in range(3)]
    assert min(counts) >= 6, counts


JSON_CT = {"Content-Type": "application/json"}
# The edges of int64 and uint64, as JSON and as msgpack would write them.
WIDE = [-2 ** 63, -1, 2 ** 63 - 1, 2 ** 63, 2 ** 64 - 1]
WIDE_JSON = b"[" + b",".join(b"%d" % i for i in WIDE) + b"]"
WIDE_MSGPACK = (b"\x95\xd3" + struct.pack(">q", -2 ** 63) + b"\xff" +
                b"".join(b"\xcf" + struct.pack(">Q", i) for i in WIDE[2:]))


def echo_node(m, name, protocol="mucp"):
    """A node answering each request with its body, in its content type;
    a JSON-RPC one (protocol None) with its params[0] as result."""
    def mucp(h, body):
        return 200, {"Content-Type": h.headers["Content-Type"]}, body

    def jsonrpc(h, body):
        call = json.loads(body)
        return 200, JSON_CT, b'{"id":%d,"result":%s,"error":null}' % (
            call["id"], body[body.index(b"[") + 1:body.rindex(b"]")])
    node = FakeNode(mucp if protocol else jsonrpc)
    register(m, node.service(name, protocol=protocol))
    return node


def call(m, path, body, ct, accept):
    return http("POST", m.url("api", path), body,
                {"Content-Type": ct, "Accept": accept})


def test_integers_of_int64_and_uint64_cross_exactly(gw, nodes):
    """Integers above INT64_MAX (a Go uint64) were refused both ways (502:
    'an integer beyond int64 has no msgpack form here', 'integer too large
    for JSON'): each integer in [INT64_MIN, UINT64_MAX] crosses exactly."""
    m = gw("[api]\nhandler = rpc\n")
    nodes += [echo_node(m, "go.micro.api.echo"),
              echo_node(m, "go.micro.api.legacy", protocol=None)]
    # A JSON reply to a msgpack caller.
    status, headers, body = call(m, "/echo/call", WIDE_JSON,
                                 "application/json", "application/msgpack")
    assert (status, body) == (200, WIDE_MSGPACK), body
    assert headers["Content-Type"] == "application/msgpack"
    # A msgpack reply to a JSON caller.
    status, headers, body = call(m, "/echo/call", WIDE_MSGPACK,
                                 "application/msgpack", "application/json")
    assert (status, body) == (200, WIDE_JSON), body
    assert headers["Content-Type"] == "application/json"
    # Both: a msgpack caller of a JSON-RPC node.
    status, _, body = call(m, "/legacy/call", WIDE_MSGPACK,
                           "application/msgpack", "application/msgpack")
    assert (status, body) == (200, WIDE_MSGPACK), body
    assert b'"params":[' + WIDE_JSON + b"]" in nodes[1].requests[0][3]


def test_integers_beyond_uint64_become_doubles(gw, nodes):
    """Beyond [INT64_MIN, UINT64_MAX] an integer is the nearest double, as
    Go's encoding/json reads it; a number beyond a double is refused."""
    m = gw("[api]\nhandler = rpc\n")
    nodes.append(echo_node(m, "go.micro.api.echo"))
    status, _, body = call(m, "/echo/call",
                           b'{"a":[18446744073709551616,-9223372036854775809,'
                           b'100000000000000000000,1]}',
                           "application/json", "application/msgpack")
    assert status == 200, body
    assert body == (b"\x81\xa1a\x94" + b"".join(
        b"\xcb" + struct.pack(">d", d) for d in (2.0 ** 64, -2.0 ** 63,
                                                 1e20)) + b"\x01")
    for text, detail in (
            (b"[1e400]", "a number beyond the range of a double"),
            (b'{"k":1,"k":18446744073709551616}',
             "a key given twice beside an integer beyond int64")):
        status, _, body = call(m, "/echo/call", text, "application/json",
                               "application/msgpack")
        assert status == 502, body
        assert json.loads(body)["detail"] == (
            "cannot read the reply of go.micro.api.echo: " + detail)


def drops_second_request(node):
    """A behaviour for node: the second request it reads is dropped,
    connection and all, before any answer (a node that crashed)."""
    def behaviour(h, body):
        if len(node.requests) == 2:
            h.connection.shutdown(socket.SHUT_RDWR)
            h.wfile = io.BytesIO()      # the answer goes nowhere
        return 200, {"Content-Type": "application/json"}, b"{}"
    return behaviour


def dropping_node(nodes):
    node = FakeNode()
    node.behaviour = drops_second_request(node)
    nodes.append(node)
    return node


def test_post_lost_on_a_reused_connection_is_not_sent_again(gw, nodes):
    """The second call goes out on the connection the first left pooled;
    the node reads it and drops the connection. It may have run it: a
    POST is not replayed on a fresh connection (it was, so the node ran
    it twice), a GET is."""
    m = gw("[api]\nhandler = proxy\n")
    call, post, fetch = (dropping_node(nodes) for _ in range(3))
    register(m, one_node("go.micro.srv.charge", "charge", call.address))
    register(m, post.service("go.micro.api.pay", protocol=None))
    register(m, fetch.service("go.micro.api.look", protocol=None))
    assert rpc_call(m, "go.micro.srv.charge")[0] == 200
    status, _, body = rpc_call(m, "go.micro.srv.charge")
    assert status == 502, body
    assert error(body)["detail"].endswith("connection lost before the "
                                          "response"), body
    assert len(call.requests) == 2
    for want in (200, 502):
        assert http("POST", m.url("api", "/pay/x"), b"once")[0] == want
    assert len(post.requests) == 2
    for _ in range(2):
        assert get(m, "/look/x")[0] == 200
    assert len(fetch.requests) == 3


def test_node_not_taking_the_body_is_504(gw, nodes):
    """A node that accepts and never reads: the proxy stops reading the
    client's body (back-pressure) until request_timeout passes. The node
    was slow (504), not the client (408). 16 MiB fills any socket
    buffers; a body that fitted would be all sent, a 504 too."""
    m = gw("[api]\nhandler = proxy\nrequest_timeout = 1s\n")
    sink = socket.socket()
    sink.bind(("127.0.0.1", 0))
    sink.listen(4)
    held = []
    accept_loop(sink, held.append)
    address = "127.0.0.1:%d" % sink.getsockname()[1]
    register(m, one_node("go.micro.api.sink", "sink", address))
    size = 16 << 20
    c = socket.create_connection(("127.0.0.1", m.ports["api"]), timeout=30)

    def send():
        try:
            c.sendall(b"POST /sink/up HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: %d\r\n\r\n" % size + b"x" * size)
        except OSError:
            pass    # cut once answered: what the test looks at
    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        got = c.recv(4096)
    finally:
        c.shutdown(socket.SHUT_RDWR)
        sender.join(30)
        c.close()
        sink.close()
        for s in held:
            s.close()
    assert got.startswith(b"HTTP/1.1 504 "), got
    assert b"request timeout" in got


NAMED = "nosuchhost.example:9000"


def test_node_under_a_host_name_is_unreachable(gw, nodes):
    """microd resolves no host names: such a node fails like one that
    refuses, is counted as tried and ejected, and is logged at debug,
    not warned about on every call: at info, its ejection is one line."""
    m = gw("[microd]\nlog_level = info\n[api]\nselector = roundrobin\n")
    svc = "go.micro.srv.named"
    register(m, one_node(svc, "named", NAMED))
    wait_for(lambda: node_ids(m, svc) == ["named"], what="node registered")
    for role in ("sidecar", "api", "api", "api"):
        status, _, body = http("POST", m.url(role, "/rpc"), json.dumps(
            {"service": svc, "method": "A.B"}).encode(),
            {"Content-Type": "application/json"})
        assert status == 503, body
        assert error(body)["detail"] == \
            "no node answering: host is not a numeric address", body
    # Three failures in a row (the api's) eject it, as a refusing node.
    assert health_by_id(m, svc)["named"]["ejected"] is True
    live = FakeNode(lambda h, b: (200, {}, b'"live"'))
    nodes.append(live)
    register(m, one_node(svc, "live", live.address))
    wait_for(lambda: len(node_ids(m, svc)) == 2, what="two nodes")
    for _ in range(4):
        assert rpc_call(m, svc)[2] == b'"live"'
    ejected = [line for line in m.read_log().splitlines()
               if "nosuchhost" in line]
    assert len(ejected) == 1, ejected
    assert ("%s: node named at %s ejected for 10 s after 3 failures in a "
            "row" % (svc, NAMED)) in ejected[0]


def test_proxied_node_under_a_host_name_is_unreachable(gw, nodes):
    m = gw("[microd]\nlog_level = info\n[api]\nhandler = proxy\n")
    register(m, one_node("go.micro.api.named", "named", NAMED))
    for _ in range(3):
        status, _, body = get(m, "/named/x")
        assert status == 503, body
        assert error(body)["detail"] == \
            "no node answering: host is not a numeric address", body
    assert health_by_id(m, "go.micro.api.named")["named"]["ejected"] is True
    ejected = [line for line in m.read_log().splitlines()
               if "nosuchhost" in line]
    assert len(ejected) == 1 and "ejected for 10 s" in ejected[0], ejected


def test_a_callers_own_timeout_ejects_no_node(gw, nodes):
    """A Timeout header shorter than request_timeout is the caller's own
    deadline: its 408s say nothing of the node, which stays a candidate
    (three ejected it for every other caller). One at least as long is
    microd's deadline: the node had all microd gives, 504, and three such
    eject it."""
    m = gw("[microd]\nlog_level = info\n[api]\nrequest_timeout = 300ms\n")
    svc = "go.micro.srv.late"
    late = FakeNode(slow(3))
    nodes.append(late)
    register(m, one_node(svc, "late", late.address))
    wait_for(lambda: node_ids(m, svc) == ["late"], what="node registered")
    call = {"service": svc, "method": "A.B"}
    for _ in range(3):
        status, _, body = rpc(m, call, {"Timeout": "50ms"})
        assert status == 408, body
    assert health_by_id(m, svc)["late"]["ejected"] is False
    assert "ejected" not in m.read_log()
    for _ in range(3):
        status, _, body = rpc(m, call, {"Timeout": "300ms"})
        assert status == 504, body
    assert health_by_id(m, svc)["late"]["ejected"] is True


def test_proxy_client_stalling_its_body_ejects_no_node(gw, nodes):
    """A client that stops sending its streamed body is answered 408, its
    own fault: the node that waited for the body is not held against it."""
    m = gw("[microd]\nlog_level = info\n[api]\nhandler = proxy\n"
           "request_timeout = 300ms\nread_timeout = 30s\n")
    node = RawNode([(5, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")],
                   threaded=True)
    nodes.append(node)
    register(m, node.service("go.micro.api.up"))
    for _ in range(3):
        got = raw_exchange(m, b"POST /up/x HTTP/1.1\r\nHost: x\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n1\r\na\r\n")
        assert got.startswith(b"HTTP/1.1 408 "), got
    assert health_by_id(m, "go.micro.api.up")["go.micro.api.up-raw"][
        "ejected"] is False
    assert "ejected" not in m.read_log()


def test_rpc_to_an_address_tracks_only_registered_nodes(gw, nodes):
    """/rpc may name any address: one that no node of the service has
    gets no selector state (an entry each, kept for minutes, grew the
    worker without bound), so its refusals eject nothing. The address
    of a registered node is that node, judged as any call to it."""
    m = gw("[microd]\nlog_level = info\n")
    svc = "go.micro.srv.addr"
    live = FakeNode(lambda h, b: (200, {}, b'"live"'))
    nodes.append(live)
    dead = closed_address()
    register(m, one_node(svc, "live", live.address))
    register(m, one_node(svc, "dead", dead))
    wait_for(lambda: len(node_ids(m, svc)) == 2, what="two nodes")
    stranger = closed_address()
    while stranger == dead:
        stranger = closed_address()
    call = {"service": svc, "method": "A.B"}
    for _ in range(3):
        status, _, body = rpc(m, dict(call, address=stranger))
        assert status == 503, body
    assert "ejected" not in m.read_log()
    assert rpc(m, dict(call, address=live.address))[2] == b'"live"'
    for _ in range(3):
        assert rpc(m, dict(call, address=dead))[0] == 503
    assert health_by_id(m, svc)["dead"]["ejected"] is True
    ejected = [line for line in m.read_log().splitlines()
               if "ejected" in line]
    assert len(ejected) == 1, ejected
    assert "node dead at %s" % dead in ejected[0], ejected
