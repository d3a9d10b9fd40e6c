"""Request smuggling through the api and web proxies: framing that
http-parser (built lenient) reads one way and a node, or a proxy in front,
could read another must be refused, not passed on re-framed."""
import pytest

from gwnodes import FakeNode, register
from test_gateway import raw_exchange
from test_web_hostile import raw_head


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
    if role == "web":
        return raw_head(m, request)[":status"]
    return int(raw_exchange(m, request).split(b" ", 2)[1])


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
