"""Request smuggling through the api and web proxies: framing that
http-parser (built lenient) reads one way and a node, or a proxy in front,
could read another must be refused, not passed on re-framed; the same for
responses from nodes, whose connection is then never pooled. Absolute-form
request targets take their authority for Host. An HTTP/1.0 request's
Upgrade is ignored (RFC 9110 §7.8), by the websocket endpoints and the
proxies alike."""
import json

import pytest

from conftest import http
from gwnodes import FakeNode, RawNode, read_head, register
from test_gateway import raw_exchange


@pytest.fixture
def proxies(microd, nodes):
    """(microd, node): the api (proxy handler) and web roles both proxy
    /echo/ to one recording node."""
    m = microd("[api]\nhandler = proxy\n", workers={"broker": 0})
    node = FakeNode()
    nodes.append(node)
    register(m, node.service("go.micro.api.echo"))
    register(m, node.service("go.micro.web.echo", protocol=None))
    return m, node


def status(m, role, request):
    """The status microd answers request with on role's listener."""
    return int(raw_exchange(m, request, role).split(b" ", 2)[1])


def post(head, body, blank=b"\r\n"):
    return (b"POST /echo/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" +
            head + blank + body)


CHUNKED = b"Transfer-Encoding: chunked\r\n"


@pytest.mark.parametrize("role", ["api", "web"])
def test_chunk_framing_the_parser_lets_through_is_400(proxies, role):
    """Non-strict http-parser skips a bare LF or control byte in a chunk
    extension, and takes any byte for the LF after a chunk-size's CR and
    for the CRLF after chunk data: the proxies passed such a body on
    re-framed, while a peer that ends a line at the LF reads other
    chunks (and the request after them) out of the same bytes."""
    m, node = proxies
    for body in (b"3;x\nXX\r\nabc\r\n0\r\n\r\n",
                 b"3;x=\x01\r\nabc\r\n0\r\n\r\n",
                 b"3\rXabc\r\n0\r\n\r\n",
                 b"3\r\nabcXY0\r\n\r\n",
                 b"3\r\nabc\n0\r\n\r\n",
                 b"3\r\nabc\r\n0\r\nX: y\n\r\n"):
        assert status(m, role, post(CHUNKED, body)) == 400, body
    assert node.requests == []
    # Extensions, blanks before them and trailers are still fine.
    body = b"3 ;a=\"b c\"\r\nabc\r\n2\r\nde\r\n0\r\nX: y\r\n\r\n"
    assert status(m, role, post(CHUNKED, body)) == 200
    assert node.requests[-1][3] == b"abcde"


@pytest.mark.parametrize("role", ["api", "web"])
def test_head_ended_by_cr_and_any_byte_is_400(proxies, role):
    """The parser takes any byte after the CR of the blank line that ends
    the head for its LF: "\\r\\n\\rX" ended the head, X eaten."""
    m, node = proxies
    for head, body in ((b"Content-Length: 3\r\n", b"abc"),
                       (CHUNKED, b"0\r\n\r\n")):
        assert status(m, role, post(head, body, b"\rX")) == 400, head
    assert node.requests == []
    assert status(m, role, post(b"Content-Length: 3\r\n", b"abc")) == 200


@pytest.mark.parametrize("role", ["api", "web"])
def test_chunked_in_two_fields_is_400(proxies, role):
    """Two Transfer-Encoding fields are one list (RFC 9110 5.3): chunked
    twice, refused like "chunked, chunked" in one field; it was decoded
    once and forwarded."""
    m, node = proxies
    assert status(m, role, post(CHUNKED * 2, b"3\r\nabc\r\n0\r\n\r\n")) == 400
    assert node.requests == []


@pytest.mark.parametrize("role", ["api", "web"])
def test_http10_transfer_encoding_is_400(proxies, role):
    """RFC 9112 6.1: a 1.0 message with Transfer-Encoding has faulty
    framing (a 1.0 peer does not know chunked): it was decoded and
    forwarded as a 1.1 chunked request."""
    m, node = proxies
    for head in (CHUNKED, CHUNKED + b"Content-Length: 5\r\n"):
        request = post(head, b"0\r\n\r\n").replace(b"HTTP/1.1", b"HTTP/1.0")
        assert status(m, role, request) == 400, head
    assert node.requests == []


GOOD = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
CHUNKED_RSP = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
# Bad chunk framing, found once the head may have gone on: the answer is
# a 502 or cut (never completed, nor re-framed).
BAD_CHUNKS = {
    "datacrx": CHUNKED_RSP + b"5\r\nhello\rX0\r\n\r\n",
    "sizecrz": CHUNKED_RSP + b"5\rZhello\r\n0\r\n\r\n",
    "extlf": CHUNKED_RSP + b"5;a\nb\r\nhello\r\n0\r\n\r\n",
    "trailerlf": CHUNKED_RSP + b"5\r\nhello\r\n0\r\nX: y\n\r\n",
    "barelf": CHUNKED_RSP.replace(b"\r\n\r\n", b"\r\n\n") + b"5\nhello\n0\n\n",
}
# A bad head: a 502.
BAD_HEADS = {
    "headcrx": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\rXhello",
    "tetwice": CHUNKED_RSP.replace(b"\r\n\r\n", b"\r\nTransfer-Encoding: "
                               b"chunked\r\n\r\n") +
    b"5\r\nhello\r\n0\r\n\r\n",
    "te10": CHUNKED_RSP.replace(b"HTTP/1.1", b"HTTP/1.0").replace(
        b"\r\n\r\n", b"\r\nConnection: keep-alive\r\n\r\n") +
    b"5\r\nhello\r\n0\r\n\r\n",
    "clte": CHUNKED_RSP.replace(b"\r\n\r\n", b"\r\nContent-Length: 5\r\n\r\n") +
    b"5\r\nhello\r\n0\r\n\r\n",
}


class KeepAliveNode(RawNode):
    """Answers a connection's first request with bad bytes and keeps it
    open, answering any further request on it well."""

    def __init__(self, bad):
        self.bad, self.counts = bad, []
        super().__init__(self.keep, threaded=True)

    def keep(self, c):
        count = [1]
        self.counts.append(count)
        c.sendall(self.bad)
        while b"\r\n\r\n" in read_head(c):
            count[0] += 1
            c.sendall(GOOD)

    def conns(self):
        """How many requests each connection carried."""
        return [n for n, in self.counts]

    def services(self, name):
        return [{"name": ns + name, "version": "1", "nodes": [
            {"id": ns + name + "-keep", "address": self.address,
             "metadata": meta}]} for ns, meta in (
                 ("go.micro.api.", {}), ("go.micro.web.", {}),
                 ("go.micro.srv.", {"protocol": "mucp"}))]


def proxied(m, role, name):
    """GET /name/x through role's proxy."""
    return raw_exchange(m, b"GET /%s/x HTTP/1.1\r\nHost: x\r\n"
                        b"Connection: close\r\n\r\n" % name.encode(), role)


def rpc_status(m, name):
    return http("POST", m.url("api", "/rpc"),
                json.dumps({"service": "go.micro.srv." + name,
                            "method": "A.B"}).encode(),
                {"Content-Type": "application/json"})[0]


@pytest.fixture
def bad_nodes(microd, nodes):
    """(microd, {name: node}): each node answers badly as named, behind
    the api proxy, the web proxy and /rpc."""
    m = microd("[api]\nhandler = proxy\n", workers={"broker": 0})
    keep = {}
    for name, answer in dict(BAD_CHUNKS, **BAD_HEADS).items():
        keep[name] = KeepAliveNode(answer)
        nodes.append(keep[name])
        for svc in keep[name].services(name):
            register(m, svc)
    return m, keep


def test_bad_response_framing_is_refused_never_pooled(bad_nodes):
    """http-parser (built lenient) took any byte for the LF after a
    chunk-size's CR or a head's, any two for the CRLF after chunk data
    and skipped a bare LF in an extension or trailer: a node's answer was
    passed on re-framed, and its connection, out of step, pooled for the
    next call. Two Transfer-Encoding fields, or one in HTTP/1.0, were
    decoded as chunked. Each is a bad response now: a 502, or through a
    proxy that sent the head already a cut answer; never pooled."""
    m, keep = bad_nodes
    for name, node in keep.items():
        for role in ("api", "web"):
            for _ in range(2):
                got = proxied(m, role, name)
                if name in BAD_HEADS or not got.startswith(b"HTTP/1.1 200"):
                    assert got.startswith(b"HTTP/1.1 502 "), (name, got)
                assert not got.endswith(b"0\r\n\r\n"), (name, role, got)
                assert not got.endswith(b"hello"), (name, role, got)
        for _ in range(2):
            assert rpc_status(m, name) == 502, name
        assert node.conns() == [1] * 6, name


def test_good_chunked_response_still_passes(microd, nodes):
    """Extensions, blanks before them and trailers are fine, through the
    proxies and /rpc, and the connection is pooled."""
    m = microd("[api]\nhandler = proxy\n", workers={"broker": 0})
    good = CHUNKED_RSP + b"2 ;a=\"b c\"\r\nok\r\n0\r\nX: y\r\n\r\n"
    node = KeepAliveNode(good)
    nodes.append(node)
    for svc in node.services("good"):
        register(m, svc)
    for role in ("api", "web"):
        got = proxied(m, role, "good")
        assert got.startswith(b"HTTP/1.1 200 ") and got.endswith(
            b"2\r\nok\r\n0\r\n\r\n"), got
    assert rpc_status(m, "good") == 200
    assert rpc_status(m, "good") == 200
    assert max(node.conns()) > 1, node.conns()    # pooled


def absolute(target, host=b"Host: x\r\n", version=b"1.1"):
    return (b"GET " + target + b" HTTP/" + version + b"\r\n" + host +
            b"Connection: close\r\n\r\n")


@pytest.mark.parametrize("role", ["api", "web"])
def test_absolute_form_authority_replaces_host(proxies, role):
    """RFC 9112 3.2.2: the host of an absolute-form target is the
    request's, whatever Host says, and a proxy forwards it as Host (the
    node saw the Host field while microd routed on the target)."""
    m, node = proxies
    prefix = b"/echo" if role == "api" else b""
    for target, host in ((b"http://other.example/echo/x?q=1",
                          "other.example"),
                         (b"http://[::1]:8080/echo/x?q=1", "[::1]:8080"),
                         (b"HTTPS://other.example:99/echo/x?q=1",
                          "other.example:99")):
        got = raw_exchange(m, absolute(target), role)
        assert got.startswith(b"HTTP/1.1 200"), got
        method, path, h, _ = node.requests[-1]
        assert (method, path.encode(), h["Host"]) == (
            "GET", prefix + b"/x?q=1", host), target
    # A 1.0 request needs no Host: the target's is sent.
    got = raw_exchange(m, absolute(b"http://a.example/echo/y", b"", b"1.0"),
                       role)
    assert got.split(b" ", 2)[1] == b"200", got
    assert node.requests[-1][2]["Host"] == "a.example"


@pytest.mark.parametrize("role", ["api", "web", "sidecar"])
def test_absolute_form_host_checks(proxies, role):
    """The Host field is checked as for any target (a 1.1 request
    without one, or with two, is a 400), and the target's authority is
    held to Host's rules: userinfo (RFC 9110 4.2.4) is a 400 as Host: u@h
    is; it was accepted."""
    m, node = proxies
    path = b"/registry" if role == "sidecar" else b"/echo/x"
    seen = len(node.requests)
    for target, host in ((b"http://u@other.example", b"Host: x\r\n"),
                         (b"http://u:p@other.example", b"Host: x\r\n"),
                         (b"http://other.example", b""),
                         (b"http://other.example", b"Host: x\r\nHost: y\r\n"),
                         (b"http://other.example", b"Host: u@x\r\n")):
        request = absolute(target + path, host)
        assert status(m, role, request) == 400, request
    assert len(node.requests) == seen
    assert status(m, role, absolute(b"http://other.example" + path)) == 200


UPGRADE_10 = ("GET %s HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\n"
              "Connection: Upgrade\r\n"
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              "Sec-WebSocket-Version: 13\r\n\r\n")


def upgrade_10(m, role, path):
    """The status line answering an HTTP/1.0 websocket upgrade of path."""
    return raw_exchange(m, (UPGRADE_10 % path).encode(),
                        role).split(b"\r\n")[0]


@pytest.mark.parametrize("role,path", [("sidecar", "/broker?topic=t"),
                                       ("broker", "/sub?topic=t"),
                                       ("broker", "/pub?topic=t")])
def test_http10_upgrade_is_not_a_websocket(microd, role, path):
    """It was answered 101, and the connection became a websocket."""
    m = microd()
    assert upgrade_10(m, role, path) == b"HTTP/1.0 400 Bad Request"


def test_http10_upgrade_not_proxied(microd, nodes):
    """The proxy sent the node an HTTP/1.1 upgrade and passed its 101 back
    to the 1.0 client; now the node gets a plain GET."""
    m = microd()
    node = FakeNode()
    nodes.append(node)
    register(m, node.service("go.micro.web.chat", protocol=None))
    assert upgrade_10(m, "web", "/chat/") == b"HTTP/1.0 200 OK"
    assert "Upgrade" not in node.requests[-1][2]
