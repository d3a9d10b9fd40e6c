"""The web dashboard against hostile or odd input: registry data and
requests a production daemon must survive with escaped, bounded output
and clear 4xx answers."""
import http.client as httpclient
import json
import re
import socket

from conftest import http
from gwnodes import (FakeNode, RawNode, closed_address, read_head, register,
                     slow)
from test_web import XSS, service, start, web


def test_apps_links_only_paths_the_proxy_takes(microd, nodes):
    # /assets/... is the dashboard's own (a prefix route), so an app named
    # "assets" is never proxied: a link to /assets/ would be the asset
    # 404. Every link /apps shows must reach the app itself.
    m = start(microd)
    node = FakeNode(lambda h, b: (200, {"Content-Type": "text/plain"},
                                  b"the app"))
    nodes.append(node)
    for short in ("assets", "registry", "shop"):
        register(m, node.service("go.micro.web." + short, protocol=None))
    status, _, body = web(m, "/apps")
    assert status == 200
    region = body.split(b'id="apps-region"', 1)[1].split(b"</main>")[0]
    links = re.findall(rb'href="([^"]*)"', region)
    assert b"/shop/" in links and b"/assets/" not in links
    assert b"assets (not served" in region
    for link in links:
        status, _, got = web(m, link.decode())
        assert (status, got) == (200, b"the app"), link


def test_call_form_for_a_service_gone_is_404(microd):
    # The service page links /call?service=NAME; a service that expired
    # between the two is "not found" to a program too, as on /registry,
    # while the page still offers the services to pick from.
    m = start(microd)
    other, gone = service("go.micro.srv.other"), service("go.micro.srv.gone")
    register(m, other)
    register(m, gone)
    assert web(m, "/call?service=go.micro.srv.gone")[0] == 200
    status, _, _ = http("DELETE", m.url("sidecar", "/registry"),
                        json.dumps(gone).encode(),
                        {"Content-Type": "application/json"})
    assert status == 200
    for path in ("/call?service=go.micro.srv.gone",
                 "/call?service=go.micro.srv.gone&endpoint=Say.Hello",
                 "/call?service=nope"):
        status, h, body = web(m, path)
        assert status == 404, path
        assert h["Content-Type"].startswith("text/html"), path
        assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
        assert b"No such service." in body and b"go.micro.srv.other" in body
    # No service chosen yet is the form itself.
    assert web(m, "/call")[0] == 200
    assert web(m, "/call?service=")[0] == 200


def data_headers_ok(h):
    return (h.get("X-Content-Type-Options") == "nosniff" and
            "frame-ancestors 'none'" in h.get("Content-Security-Policy", "")
            and ("sandbox" in h["Content-Security-Policy"] or
                 h["Content-Type"].startswith("text/html")))


def test_data_and_errors_carry_security_headers(microd):
    # /metrics cannot escape markup (it is Prometheus text) and the JSON
    # and the feed carry registry strings as they are: what a browser
    # might be made to open is never sniffed as HTML, framed, or run.
    m = start(microd)
    register(m, service(XSS, address="127.0.0.1:1"))
    status, _, _ = web(m, "/rpc", {"Content-Type": "application/json"},
                       "POST", json.dumps({"service": XSS, "endpoint":
                                           "Say.Hello", "request": {}})
                       .encode())
    assert status == 503
    status, h, body = web(m, "/metrics")
    assert status == 200 and XSS.encode() in body
    assert data_headers_ok(h), h
    js = {"Accept": "application/json"}
    for path, hdr, want in (
            ("/registry", js, 200),
            ("/registry?service=nope", js, 404),
            ("/registry?service=%zz", None, 400),
            ("/call?service=%zz", None, 400),
            ("/?q=%00", None, 400),
            ("/assets/nope", None, 404),
            ("/assets/layout.html", None, 200),
            ("/assets/app.js", None, 200)):
        status, h, body = web(m, path, hdr)
        assert status == want, path
        assert data_headers_ok(h), (path, h)
    # The feed: only its head is read.
    conn = httpclient.HTTPConnection("127.0.0.1", m.ports["web"], timeout=10)
    try:
        conn.request("GET", "/events")
        r = conn.getresponse()
        assert r.status == 200 and data_headers_ok(dict(r.headers))
    finally:
        conn.close()


SANDBOX = "sandbox; default-src 'none'; frame-ancestors 'none'"


def raw_head(m, request):
    """Send raw bytes to the web listener; the answer's status line and
    headers, as a dict with the status under ":status"."""
    with socket.create_connection(("127.0.0.1", m.ports["web"]),
                                  timeout=10) as s:
        s.sendall(request)
        got = read_head(s)
    lines = got.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    h = dict(line.split(": ", 1) for line in lines[1:])
    h[":status"] = int(lines[0].split()[1])
    return h


def test_own_errors_carry_the_sandbox_policy(microd, nodes):
    """Every error the worker makes up itself (the proxy's, 403, 405, the
    HTTP layer's own) carries the sandbox policy, not only nosniff: its
    detail may echo the request."""
    m = microd(workers={"broker": 0},
               extra="[api]\nrequest_timeout = 1s\n")
    silent = FakeNode(slow(5))
    nodes.append(silent)
    garbage = RawNode(b"not http at all\r\n\r\n")
    nodes.append(garbage)
    register(m, silent.service("go.micro.web.slow", protocol=None))
    register(m, garbage.service("go.micro.web.garbage"))
    register(m, {"name": "go.micro.web.dead", "version": "1", "nodes": [
        {"id": "dead-1", "address": closed_address(), "metadata": {}}]})
    for method, path, headers, want in (
            ("GET", "/nosuchapp/x", None, 404),
            ("GET", "/bad%2Fname/x", None, 400),
            ("GET", "/slow/../x", None, 400),
            ("GET", "/dead/x", None, 503),
            ("GET", "/garbage/x", None, 502),
            ("GET", "/slow/x", None, 504),
            ("POST", "/metrics", None, 405),
            ("DELETE", "/", None, 405),
            ("POST", "/rpc", {"Sec-Fetch-Site": "cross-site"}, 403)):
        status, h, _ = web(m, path, headers, method, b"" if method in (
            "POST", "DELETE") else None)
        assert status == want, (method, path, status)
        assert data_headers_ok(h), (method, path, h)
    for request in (b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 100000 +
                    b"\r\n\r\n"):
        h = raw_head(m, request)
        assert h[":status"] in (400, 431, 501), request[:20]
        assert h.get("Content-Security-Policy") == SANDBOX, h


def test_app_answers_pass_unchanged(microd, nodes):
    # The sandbox is for the worker's own answers only: an app's pages,
    # its own policy and its own errors reach the browser as it sent them.
    m = start(microd)
    policy = "default-src 'self'; script-src 'self'"

    def behaviour(h, body):
        if h.path == "/own-policy":
            return 200, {"Content-Type": "text/html",
                         "Content-Security-Policy": policy}, b"<p>app</p>"
        if h.path == "/missing":
            return 404, {"Content-Type": "text/html"}, b"app 404"
        return 200, {"Content-Type": "text/html"}, b"<p>app</p>"
    node = FakeNode(behaviour)
    nodes.append(node)
    register(m, node.service("go.micro.web.shop", protocol=None))
    status, h, body = web(m, "/shop/")
    assert (status, body) == (200, b"<p>app</p>")
    assert "Content-Security-Policy" not in h, h
    status, h, _ = web(m, "/shop/own-policy")
    assert status == 200 and h["Content-Security-Policy"] == policy
    status, h, body = web(m, "/shop/missing")
    assert (status, body) == (404, b"app 404")
    assert "Content-Security-Policy" not in h, h
