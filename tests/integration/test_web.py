"""The web role: dashboard pages, /registry HTML or JSON, escaping,
/metrics (checked by a strict Prometheus text parser), the /events feed,
and a real headless chromium driven through the DevTools protocol."""
import asyncio
import base64
import http.client as httpclient
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
import math
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request

import pytest

from conftest import SRCDIR, http, wait_for

XSS = "<img src=x onerror=alert(1)>"
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = os.path.join(SRCDIR, "tests", "artifacts")


def service(name, version="1.0.0", address="127.0.0.1:9091", metadata=None,
            endpoint="Say.Hello", node_md=None):
    return {
        "name": name, "version": version, "metadata": metadata or {},
        "endpoints": [{
            "name": endpoint,
            "request": {"name": "Request", "type": "Request", "values": [
                {"name": "name", "type": "string", "values": None},
                {"name": "count", "type": "int64", "values": None}]},
            "response": {"name": "Response", "type": "Response",
                         "values": [{"name": "msg", "type": "string",
                                     "values": None}]},
            "metadata": {}}],
        # Node ids must be a single word (etcd keys, Consul ids).
        "nodes": [{"id": re.sub(r"[^A-Za-z0-9._-]", "_", name) + "-1",
                   "address": address,
                   "metadata": dict({"protocol": "mucp"}, **(node_md or {}))}]}


def register(m, svc, check=True):
    return m.ctl("register", "-", input=json.dumps(svc), check=check)


def deregister(m, svc):
    return m.ctl("deregister", "-", input=json.dumps(svc))


def web(m, path, headers=None, method="GET", body=None):
    return http(method, m.url("web", path), body, headers)


def start(microd):
    # The broker role is not what this file tests.
    return microd(workers={"broker": 0})


# --- /registry, pages, escaping ---------------------------------------

def test_registry_html_or_json(microd):
    m = start(microd)
    register(m, service("go.micro.srv.greeter"))

    status, h, body = web(m, "/registry")
    assert status == 200 and h["Content-Type"].startswith("text/html")
    assert b"go.micro.srv.greeter" in body and b"<table" in body

    for hdr in ({"Accept": "application/json"},
                {"Content-Type": "application/json"}):
        status, h, body = web(m, "/registry", hdr)
        assert status == 200 and h["Content-Type"] == "application/json"
        names = [s["name"] for s in json.loads(body)]
        assert names == ["go.micro.srv.greeter"]

    status, _, body = web(m, "/registry?service=go.micro.srv.greeter",
                          {"Accept": "application/json"})
    got = json.loads(body)
    assert status == 200 and got[0]["nodes"][0]["address"] == \
        "127.0.0.1:9091"

    status, h, body = web(m, "/registry?service=go.micro.srv.greeter")
    assert status == 200 and h["Content-Type"].startswith("text/html")
    for text in (b"Version 1.0.0", b"127.0.0.1:9091", b"Say.Hello",
                 b"<code>count</code> <span class=\"type\">int64</span>"):
        assert text in body

    status, _, body = web(m, "/registry?service=nope",
                          {"Accept": "application/json"})
    assert status == 404 and json.loads(body)["code"] == 404
    status, h, _ = web(m, "/registry?service=nope")
    assert status == 404 and h["Content-Type"].startswith("text/html")
    assert web(m, "/no/such/page")[0] == 404
    # A parameter that does not decode is a 400, not "absent".
    for path in ("/registry?service=%zz", "/?q=%00", "/call?service=%g1"):
        assert web(m, path)[0] == 400, path


def test_pages_render_every_list(microd):
    m = start(microd)
    register(m, service("go.micro.web.dash", address="127.0.0.1:9092"))
    status, _, body = web(m, "/apps")
    assert status == 200 and b'href="/dash/"' in body
    status, _, body = web(m, "/workers")
    assert status == 200
    roles = re.findall(rb'<tr data-key="[0-9]+:[0-9]+"><th scope="row">'
                       rb'([a-z]+)</th>', body)
    assert sorted(set(roles)) == [b"api", b"master", b"registry",
                                  b"sidecar", b"web"]
    status, _, body = web(m, "/call?service=go.micro.web.dash"
                             "&endpoint=Say.Hello")
    assert status == 200
    # The request is prefilled from the endpoint's request fields.
    m_ = re.search(rb'<textarea[^>]*>([^<]*)</textarea>', body)
    tmpl = m_.group(1).replace(b"&quot;", b'"').decode()
    assert json.loads(tmpl) == {"name": "", "count": 0}
    status, h, css = web(m, "/assets/app.css")
    assert status == 200 and h["Content-Type"].startswith("text/css")
    status, _, _ = web(m, "/assets/app.css", {"If-None-Match": h["ETag"]})
    assert status == 304
    # Nothing comes from another origin.
    status, h, body = web(m, "/")
    assert "default-src 'self'" in h["Content-Security-Policy"]
    assert not re.search(rb'(src|href)="(https?:)?//', body)


def test_apps_links_only_names_the_proxy_serves(microd):
    # /NAME/ takes letters, digits and inner dashes (rpc/route.h): a web
    # app named otherwise is listed, but a link to it would only be a 400.
    m = start(microd)
    for name in ("go.micro.web.Shop-2", "go.micro.web.foo.bar",
                 "go.micro.web.my_app"):
        register(m, service(name))
    status, _, body = web(m, "/apps")
    assert status == 200
    region = body.split(b'id="apps-region"', 1)[1]
    links = re.findall(rb'href="([^"]*)"', region.split(b"</main>")[0])
    assert links == [b"/Shop-2/"]
    assert b"foo.bar (not served" in region
    assert b"my_app (not served" in region
    for link in links:
        assert web(m, link.decode())[0] != 400


def test_markup_in_registry_data_is_text(microd):
    m = start(microd)
    # A service named with markup, and markup in every free-text field.
    register(m, service(XSS))
    register(m, service("go.micro.srv.evil", version=XSS,
                        metadata={"note": XSS}, endpoint=XSS,
                        node_md={"owner": XSS}))
    escaped = b"&lt;img src=x onerror=alert(1)&gt;"
    quoted = urllib.parse.quote(XSS)
    for path in ("/", "/registry?service=go.micro.srv.evil",
                 "/call?service=go.micro.srv.evil",
                 "/registry?service=" + quoted, "/call?service=" + quoted):
        status, _, body = web(m, path)
        assert status == 200, path
        assert XSS.encode() not in body, path
        assert escaped in body, path



def test_filter_ignores_case_like_app_js(microd):
    # app.js filters rows case-insensitively while typing; Enter submits
    # the same query to the server, which must show the same rows.
    m = start(microd)
    register(m, service("go.micro.srv.Greeter"))
    register(m, service("go.micro.srv.other"))
    for q in ("greeter", "GREETER", "Srv.G", "+greeter+", "%20Greeter%09"):
        status, _, body = web(m, "/?q=" + q)
        assert status == 200
        assert b">go.micro.srv.Greeter</a>" in body, q
        assert b">go.micro.srv.other</a>" not in body, q
        assert b"1 of 2 services" in body, q


def test_head_answers_like_get(microd):
    # RFC 9110: a server that answers GET answers HEAD: same status and
    # headers, no body (the connection stays usable after it).
    m = start(microd)
    register(m, service("go.micro.srv.greeter"))
    conn = httpclient.HTTPConnection("127.0.0.1", m.ports["web"], timeout=10)
    try:
        for path in ("/", "/registry", "/registry?service=go.micro.srv."
                     "greeter", "/call", "/apps", "/workers", "/metrics",
                     "/assets/app.js"):
            conn.request("GET", path)
            r = conn.getresponse()
            get_body = r.read()
            assert r.status == 200, path
            conn.request("HEAD", path)
            h = conn.getresponse()
            assert h.status == 200, path
            assert h.read() == b"", path
            assert h.getheader("Content-Type") == r.getheader(
                "Content-Type"), path
            if path.startswith(("/assets/", "/registry")):
                assert int(h.getheader("Content-Length")) == \
                    len(get_body), path
        # The feed would never end; /rpc is POST only: not the home page.
        # A 405 lists what the path takes (RFC 9110 15.5.6).
        for method, path, allow in (
                ("HEAD", "/events", "GET"), ("GET", "/rpc", "POST"),
                ("HEAD", "/rpc", "POST"), ("POST", "/", "GET, HEAD"),
                ("DELETE", "/registry", "GET, HEAD"),
                ("POST", "/assets/app.js", "GET, HEAD"),
                ("PUT", "/healthz", "GET, HEAD")):
            conn.request(method, path)
            r = conn.getresponse()
            r.read()
            assert r.status == 405, (method, path)
            assert r.getheader("Allow") == allow, (method, path)
    finally:
        conn.close()


def test_asset_etag_weak_list_and_star(microd):
    # If-None-Match is a list compared weakly, or "*" (RFC 9110 13.1.2):
    # caches in front of the dashboard send those forms.
    m = start(microd)
    status, h, _ = web(m, "/assets/app.js")
    etag = h["ETag"]
    assert status == 200 and re.match(r'"[^"]+"\Z', etag)
    for inm in (etag, "W/" + etag, '"other", ' + etag,
                'W/"x",W/' + etag, "*"):
        status, h304, body = web(m, "/assets/app.js",
                                 {"If-None-Match": inm})
        assert (status, body) == (304, b""), inm
        assert h304["ETag"] == etag, inm
    for inm in ('"other"', "W/\"other\", \"" + etag[1:-1] + "x\"",
                etag[1:-1], ""):
        assert web(m, "/assets/app.js", {"If-None-Match": inm})[0] == \
            200, inm


class HostileNode(BaseHTTPRequestHandler):
    """A node that answers every call with a page that runs script, and
    serves GET /attack: another site's page with a form aimed at the
    dashboard's /rpc (the dashboard's address in ?target=)."""

    def do_POST(self):
        self.server.calls += 1
        self.rfile.read(int(self.headers["Content-Length"]))
        self.reply("text/html", "<!doctype html><p id=pwned>pwned</p>"
                   "<script>alert('xss from a node')</script>")

    def do_GET(self):
        target = urllib.parse.parse_qs(
            urllib.parse.urlsplit(self.path).query)["target"][0]
        self.reply("text/html", (
            '<!doctype html><form method="post" action="http://%s/rpc">'
            '<input name="service" value="go.micro.srv.hostile">'
            '<input name="method" value="Say.Hello">'
            '<input name="request" value="{}">'
            '<input name="address" value="127.0.0.1:%d"></form>') % (
                target, self.server.server_address[1]))

    def reply(self, ctype, text):
        out = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


@pytest.fixture
def hostile():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), HostileNode)
    srv.calls = 0
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_rpc_refuses_other_sites_and_reply_is_inert(microd, hostile):
    m = start(microd)
    addr = "127.0.0.1:%d" % hostile.server_address[1]
    form = urllib.parse.urlencode({
        "service": "go.micro.srv.hostile", "method": "Say.Hello",
        "request": "{}", "address": addr}).encode()
    urlenc = {"Content-Type": "application/x-www-form-urlencoded"}
    # A browser on another site (Sec-Fetch-Site, or Origin in older ones)
    # may not call anything, at any address, through the dashboard.
    for hdr in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                {"Sec-Fetch-Site": "cross-site"},
                {"Sec-Fetch-Site": "same-site"}):
        status, _, body = web(m, "/rpc", dict(urlenc, **hdr), "POST", form)
        assert status == 403, hdr
        assert json.loads(body)["id"] == "go.micro.web"
    assert hostile.calls == 0
    # The dashboard's own form, and programs (no such headers), may; the
    # node's answer is data: whatever its type, it never runs as a page.
    for hdr in ({"Origin": "http://127.0.0.1:%d" % m.ports["web"]},
                {"Sec-Fetch-Site": "same-origin"}, {}):
        status, h, body = web(m, "/rpc", dict(urlenc, **hdr), "POST", form)
        assert status == 200 and b"pwned" in body, hdr
        assert "sandbox" in h["Content-Security-Policy"].split(";")[0]
        assert h["X-Content-Type-Options"] == "nosniff"
    assert hostile.calls == 3


# --- /metrics ---------------------------------------------------------

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"),
            "summary": ("_sum", "_count")}


def parse_labels(text, where):
    """Parse 'a="x",b="y"' strictly; return a tuple of pairs."""
    labels, i = [], 0
    while i < len(text):
        eq = text.index("=", i)
        name = text[i:eq]
        assert LABEL_NAME.match(name), "%s: bad label %r" % (where, name)
        assert text[eq + 1] == '"', "%s: unquoted label value" % where
        j, value = eq + 2, ""
        while text[j] != '"':
            if text[j] == "\\":
                esc = text[j + 1]
                assert esc in '\\"n', "%s: bad escape \\%s" % (where, esc)
                value += "\n" if esc == "n" else esc
                j += 2
            else:
                value += text[j]
                j += 1
        labels.append((name, value))
        i = j + 1
        if i < len(text):
            assert text[i] == ",", "%s: expected ','" % where
            i += 1
    names = [n for n, _ in labels]
    assert len(names) == len(set(names)), "%s: repeated label" % where
    return tuple(sorted(labels))


def parse_value(text, where):
    if text in ("NaN", "+Inf", "-Inf"):
        return float(text.replace("Inf", "inf"))
    assert re.match(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\Z", text), \
        "%s: bad value %r" % (where, text)
    return float(text)


def parse_prometheus(text):
    """A strict parser of the text exposition format 0.0.4.

    Returns {family: {"type", "help", "samples": {(name, labels): value}}}.
    """
    assert text.endswith("\n"), "exposition must end with a newline"
    families, current, done = {}, None, set()

    def family_of(name):
        for fam, f in families.items():
            if name == fam or any(name == fam + s
                                  for s in SUFFIXES.get(f["type"], ())):
                return fam
        return None

    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = "line %d" % n
        assert line.strip() == line and line, "%s: blank or padded" % where
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            kind, name, rest = line[2:6], *line[7:].split(" ", 1)
            assert METRIC_NAME.match(name), "%s: bad name" % where
            f = families.setdefault(name, {"type": None, "help": None,
                                           "samples": {}})
            assert name not in done, "%s: %s split up" % (where, name)
            if current is not None and current != name:
                done.add(current)
            current = name
            if kind == "HELP":
                assert f["help"] is None, "%s: second HELP" % where
                f["help"] = rest
            else:
                assert f["type"] is None, "%s: second TYPE" % where
                assert not f["samples"], "%s: TYPE after samples" % where
                assert rest in TYPES, "%s: bad type %r" % (where, rest)
                f["type"] = rest
            continue
        assert not line.startswith("#") or line.startswith("# "), where
        if line.startswith("#"):
            continue
        m = re.match(r"([^{ ]+)(?:\{(.*)\})? (\S+)(?: (-?[0-9]+))?\Z", line)
        assert m, "%s: bad sample %r" % (where, line)
        name, labels = m.group(1), parse_labels(m.group(2) or "", where)
        assert METRIC_NAME.match(name), "%s: bad name" % where
        fam = family_of(name)
        assert fam is not None, "%s: %s has no TYPE" % (where, name)
        assert fam not in done, "%s: %s split up" % (where, fam)
        if current != fam:
            done.add(current)
            current = fam
        samples = families[fam]["samples"]
        assert (name, labels) not in samples, "%s: duplicate" % where
        samples[(name, labels)] = parse_value(m.group(3), where)
    for fam, f in families.items():
        assert f["type"] is not None and f["help"], fam
        assert fam.startswith("microd_"), fam
        if f["type"] == "counter":
            assert fam.endswith("_total"), fam
            assert all(v >= 0 and not math.isnan(v)
                       for v in f["samples"].values()), fam
    return families


def scrape(m):
    status, h, body = web(m, "/metrics")
    assert status == 200
    assert h["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse_prometheus(body.decode())


def sample(fams, name, **labels):
    want = tuple(sorted(labels.items()))
    for (n, lab), v in fams[name]["samples"].items():
        if n == name and all(p in lab for p in want):
            return v
    raise KeyError((name, labels))


def test_parser_rejects_bad_exposition():
    good = "# HELP microd_x_total x.\n# TYPE microd_x_total counter\n" \
           "microd_x_total{a=\"1\"} 3\n"
    parse_prometheus(good)
    for bad in (good[:-1], good + "microd_x_total{a=\"1\"} 4\n",
                good.replace("counter", "countr"),
                good.replace("{a=\"1\"}", "{a=1}"),
                good.replace(" 3\n", " three\n"),
                "microd_y 1\n",
                good + "# HELP microd_y y.\n# TYPE microd_y gauge\n"
                "microd_y 1\nmicrod_x_total{a=\"2\"} 1\n"):
        with pytest.raises(AssertionError):
            parse_prometheus(bad)


def test_metrics_parse_and_move(microd):
    m = start(microd)
    fams = scrape(m)
    for name in ("microd_worker_requests_total", "microd_worker_errors_total",
                 "microd_worker_received_bytes_total",
                 "microd_worker_sent_bytes_total",
                 "microd_worker_connections", "microd_worker_restarts_total",
                 "microd_registry_services", "microd_registry_nodes",
                 "microd_registry_backend_connected",
                 "microd_registry_backend_revision",
                 "microd_registry_sync_lag_seconds"):
        assert name in fams, name
    assert fams["microd_registry_sync_lag_seconds"]["type"] == "gauge"
    before_web = sample(fams, "microd_worker_requests_total", role="web")
    before_api = sample(fams, "microd_worker_requests_total", role="api")
    sent = sample(fams, "microd_worker_sent_bytes_total", role="web")
    services = sample(fams, "microd_registry_services")

    for _ in range(5):
        assert http("GET", m.url("api", "/healthz"))[0] == 200
    register(m, service("go.micro.srv.counted"))

    def moved():
        f = scrape(m)
        return (sample(f, "microd_worker_requests_total", role="api")
                >= before_api + 5 and
                sample(f, "microd_registry_services") == services + 1) and f
    fams = wait_for(moved, what="counters moving")
    # Every scrape so far was a request to the web worker.
    assert sample(fams, "microd_worker_requests_total", role="web") \
        > before_web
    assert sample(fams, "microd_worker_sent_bytes_total", role="web") > sent
    assert sample(fams, "microd_registry_nodes") >= 1


def test_metrics_broker_counters_move(microd):
    m = microd()
    fams = scrape(m)
    for name in ("microd_broker_messages_published_total",
                 "microd_broker_messages_delivered_total",
                 "microd_broker_subscribers_dropped_total",
                 "microd_broker_messages_lost_total"):
        assert fams[name]["type"] == "counter", name
    before = sample(fams, "microd_broker_messages_published_total")
    for _ in range(3):
        status, _, _ = http("POST", m.url("broker", "/pub?topic=metrics"),
                            b"hello")
        assert status == 202
    wait_for(lambda: sample(scrape(m),
                            "microd_broker_messages_published_total")
             == before + 3, what="published counter")


# --- /events ----------------------------------------------------------

class Events:
    """Read server-sent events from the web worker on a raw socket."""

    def __init__(self, m):
        self.sock = socket.create_connection(("127.0.0.1", m.ports["web"]),
                                             timeout=10)
        self.sock.sendall(b"GET /events HTTP/1.0\r\nHost: x\r\n\r\n")
        self.buf = b""
        head = self._until(b"\r\n\r\n")
        assert head.split(b"\r\n")[0].split()[1] == b"200", head
        assert b"text/event-stream" in head

    def _until(self, sep):
        while sep not in self.buf:
            data = self.sock.recv(65536)
            assert data, "feed closed"
            self.buf += data
        part, self.buf = self.buf.split(sep, 1)
        return part

    def next(self):
        while True:
            block = self._until(b"\n\n").decode()
            fields = dict(l.split(": ", 1) for l in block.split("\n")
                          if ": " in l)
            if fields.get("event") == "snapshot":
                return json.loads(fields["data"])

    def close(self):
        self.sock.close()


def test_events_feed_pushes_changes(microd):
    m = start(microd)
    ev = Events(m)
    try:
        snap = ev.next()
        assert snap["version"] == 1
        assert {w["role"] for w in snap["workers"]} >= {"api", "web"}
        assert all(s["name"] != "go.micro.srv.live" for s in
                   snap["services"])
        t0 = time.monotonic()
        register(m, service("go.micro.srv.live", version="2.0.0"))
        while True:
            snap = ev.next()
            found = [s for s in snap["services"]
                     if s["name"] == "go.micro.srv.live"]
            if found:
                break
            assert time.monotonic() - t0 < 2.0, "not pushed within 2 s"
        assert found[0] == {"name": "go.micro.srv.live",
                            "versions": ["2.0.0"], "nodes": 1}
        # An open feed must not hold up a graceful stop (SIGKILL after
        # shutdown_timeout = 5 s): the worker ends its streams.
        t0 = time.monotonic()
        m.stop()
        assert m.proc.returncode == 0
        assert time.monotonic() - t0 < 4.0
        assert re.search(r"web/0: pid [0-9]+ exited\n", m.read_log())
    finally:
        ev.close()


# --- a real browser ---------------------------------------------------

class Greeter(BaseHTTPRequestHandler):
    """A minimal mucp node: POST / with the raw JSON request."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        assert self.headers["Micro-Endpoint"] == "Say.Hello"
        out = json.dumps({"msg": "Hello " + json.loads(body)["name"]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out.encode())

    def log_message(self, *args):
        pass


class Browser:
    """Headless chromium over the DevTools protocol (flat sessions)."""

    def __init__(self, profile):
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--user-data-dir=" + profile,
             "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = os.path.join(profile, "DevToolsActivePort")
        try:
            lines = wait_for(lambda: self._port_lines(port_file),
                             timeout=30, what="chromium DevToolsActivePort")
        except BaseException:
            self.proc.kill()  # no fixture teardown will run for it
            self.proc.wait()
            raise
        self.ws_url = "ws://127.0.0.1:%s%s" % (lines[0], lines[1])
        self.next_id = 0
        self.waiting = {}
        self.events = []
        self.dialogs = []

    @staticmethod
    def _port_lines(path):
        """Port and path, once chromium has written both (it writes the
        file in steps: an early read may see it empty or half done)."""
        try:
            with open(path) as f:
                lines = f.read().split("\n")
        except FileNotFoundError:
            return None
        return lines[:2] if len(lines) >= 2 and lines[0] and lines[1] \
            else None

    async def open(self):
        import websockets
        self.ws = await websockets.connect(self.ws_url, max_size=None)
        self.reader = asyncio.ensure_future(self._read())
        target = await self.send("Target.createTarget", url="about:blank")
        self.session = (await self.send(
            "Target.attachToTarget", targetId=target["targetId"],
            flatten=True))["sessionId"]
        for domain in ("Page.enable", "Runtime.enable"):
            await self.page(domain)

    async def _read(self):
        async for raw in self.ws:
            msg = json.loads(raw)
            if "id" in msg:
                self.waiting.pop(msg["id"]).set_result(msg)
                continue
            self.events.append(msg)
            if msg["method"] == "Page.javascriptDialogOpening":
                self.dialogs.append(msg["params"]["message"])
                asyncio.ensure_future(self.page(
                    "Page.handleJavaScriptDialog", accept=True))

    async def send(self, method, session=None, **params):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        fut = asyncio.get_event_loop().create_future()
        self.waiting[self.next_id] = fut
        await self.ws.send(json.dumps(msg))
        reply = await asyncio.wait_for(fut, 30)
        assert "error" not in reply, (method, reply["error"])
        return reply["result"]

    async def page(self, method, **params):
        return await self.send(method, self.session, **params)

    async def eval(self, expr):
        r = await self.page("Runtime.evaluate", expression=expr,
                            returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in r, r["exceptionDetails"]
        return r["result"].get("value")

    async def goto(self, url):
        self.events.clear()
        await self.page("Page.navigate", url=url)
        await self.until("document.readyState === 'complete'")

    async def until(self, expr, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            value = await self.eval(expr)
            if value:
                return value
            assert time.monotonic() < deadline, "timed out: " + expr
            await asyncio.sleep(0.05)

    async def screenshot(self, dirs, name):
        data = base64.b64decode((await self.page(
            "Page.captureScreenshot", format="png",
            captureBeyondViewport=True))["data"])
        for d in dirs:
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, name + ".png"), "wb") as f:
                f.write(data)

    async def close(self):
        await self.ws.close()
        self.reader.cancel()

    def kill(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def browser(tmp_path):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("chromium is not installed (scripts/install-deps.sh)")
    profile = tempfile.mkdtemp(prefix="chromium-", dir=str(tmp_path))
    b = Browser(profile)
    yield b
    b.kill()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def greeter():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Greeter)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield "127.0.0.1:%d" % srv.server_address[1]
    srv.shutdown()
    srv.server_close()


TEXT_OF_ROWS = ("Array.from(document.querySelectorAll('#services tbody tr'))"
                ".map(r => r.textContent).join('\\n')")


def test_browser_dashboard(microd, browser, greeter, tmp_path):
    m = start(microd)
    register(m, service("go.micro.srv.greeter", address=greeter))
    shots = [str(tmp_path / "screenshots"), ARTIFACTS]

    async def run():
        await browser.open()
        await browser.page("Emulation.setDeviceMetricsOverride", width=1100,
                           height=800, deviceScaleFactor=1, mobile=False)
        await browser.goto(m.url("web", "/"))
        assert "go.micro.srv.greeter" in await browser.eval(TEXT_OF_ROWS)
        # Live: another service appears without a reload.
        await browser.eval("window.notReloaded = true")
        await browser.until("document.getElementById('live').dataset.state"
                            " === 'live'")
        register(m, service("go.micro.srv.second", version=XSS,
                            metadata={"x": XSS}, node_md={"y": XSS}))
        register(m, service(XSS))      # a service *named* with markup
        await browser.until(TEXT_OF_ROWS + ".includes('go.micro.srv.second')",
                            timeout=2.5)
        assert await browser.eval("window.notReloaded === true")
        # Markup in registry data is text: no img element, no alert.
        assert XSS in await browser.eval(TEXT_OF_ROWS)
        assert await browser.eval("document.images.length") == 0
        await browser.screenshot(shots, "services")
        # Removed: gone without a reload.
        deregister(m, service("go.micro.srv.second", version=XSS))
        await browser.until("!" + TEXT_OF_ROWS +
                            ".includes('go.micro.srv.second')", timeout=2.5)

        await browser.goto(m.url("web", "/registry?service=" +
                                 urllib.parse.quote(XSS)))
        assert XSS in await browser.eval("document.body.innerText")
        assert await browser.eval("document.images.length") == 0
        await browser.screenshot(shots, "service-markup")

        await browser.goto(m.url("web", "/registry?service=go.micro.srv."
                                 "greeter"))
        assert "Say.Hello" in await browser.eval("document.body.innerText")
        await browser.screenshot(shots, "service")

        await browser.goto(m.url("web", "/workers"))
        await browser.until("Array.from(document.querySelectorAll("
                            "'[data-field=rate]')).some(c => /^[0-9.]+$/"
                            ".test(c.textContent))")
        await browser.screenshot(shots, "workers")

        register(m, service("go.micro.web.dash", address=greeter))
        await browser.goto(m.url("web", "/apps"))
        assert await browser.eval("document.querySelector('#apps a')"
                                  ".getAttribute('href')") == "/dash/"
        await browser.screenshot(shots, "apps")

        # The call form calls the greeter through /rpc.
        await browser.goto(m.url("web", "/call?service=go.micro.srv.greeter"))
        await browser.eval("""(() => {
            const t = document.getElementById('request');
            const v = JSON.parse(t.value);
            v.name = 'John';
            t.value = JSON.stringify(v);
            document.querySelector('#call button').click();
        })()""")
        await browser.until("document.getElementById('response')"
                            ".textContent.includes('Hello John')")
        assert (await browser.eval("document.getElementById('status')"
                                   ".textContent")).startswith("200")
        assert "ms" in await browser.eval("document.getElementById('latency')"
                                          ".textContent")
        await browser.screenshot(shots, "call")
        assert browser.dialogs == []
        await browser.close()

    asyncio.run(run())
    for name in ("services", "service", "workers", "apps", "call"):
        assert os.path.getsize(str(tmp_path / "screenshots" /
                                   (name + ".png"))) > 1000


# The layout's width, the page's width, how wide its content is, and the
# widest elements reaching past the page's right edge outside a box that
# scrolls on its own (wide tables do, by design).
SIDEWAYS = """(() => {
    const page = document.documentElement;
    const past = [];
    for (const e of document.querySelectorAll('body *')) {
        const r = e.getBoundingClientRect();
        const right = Math.ceil(r.left + Math.max(r.width, e.scrollWidth));
        if (right > page.clientWidth && !e.closest('.scroll'))
            past.push([right, e.tagName + '.' + e.className]);
    }
    past.reverse().sort((a, b) => b[0] - a[0]);   // innermost first
    return [window.innerWidth, page.clientWidth, page.scrollWidth,
            past.slice(0, 3)];
})()"""


def test_browser_narrow_screen_never_scrolls_sideways(microd, browser,
                                                      tmp_path):
    # doc/web.md: a 360 px screen has no horizontal page scroll, on every
    # page, whatever the registry holds. An unbroken word wider than the
    # screen (an ordinary endpoint name in monospace, a build hash for a
    # version, a long metadata key, field name or type, a web app's name)
    # has to wrap. mobile=False keeps the layout 360 px wide: with
    # mobile=True chromium widens the layout to fit the content, and the
    # page never scrolls however wide it is.
    m = start(microd)
    word = "organization" * 7
    svc = service("go.micro.srv.accounts", version="1.0.0+" + "0a1b" * 16,
                  metadata={"key_" + word: "v"},
                  endpoint="Accounts.ListOrganizationMemberships",
                  node_md={"node_" + word: "v"})
    svc["endpoints"][0]["request"]["values"].append(
        {"name": "field_" + word, "type": "map[string]" + word,
         "values": None})
    svc["endpoints"][0]["metadata"] = {"endpoint_" + word: "v"}
    register(m, svc)
    register(m, service("go.micro.web.portal" + word))
    pages = {"services": "/",
             "service": "/registry?service=go.micro.srv.accounts",
             "call": "/call?service=go.micro.srv.accounts",
             "call-none": "/call", "apps": "/apps", "workers": "/workers",
             "not-found": "/registry?service=go.micro.srv.none"}
    shots = [str(tmp_path / "screenshots"), ARTIFACTS]

    async def run():
        await browser.open()
        await browser.page("Emulation.setDeviceMetricsOverride", width=360,
                           height=740, deviceScaleFactor=1, mobile=False)
        wide = []
        for name, path in pages.items():
            await browser.goto(m.url("web", path))
            inner, client, scroll, past = await browser.eval(SIDEWAYS)
            assert inner == 360, (path, inner)
            if scroll > client:
                wide.append((path, "%d px wide in %d px" % (scroll, client),
                             past))
            await browser.screenshot(shots, name + "-narrow")
        assert not wide, wide
        assert browser.dialogs == []
        await browser.close()

    asyncio.run(run())


def test_browser_rpc_replies_never_run(microd, browser, hostile):
    # A node answering with a scripted page, reached through POST /rpc in a
    # real browser: from another site's form (refused), and from the
    # dashboard's own call form posted without JavaScript (shown inert).
    m = start(microd)
    web_addr = "127.0.0.1:%d" % m.ports["web"]
    register(m, service("go.micro.srv.hostile", address="127.0.0.1:%d" %
                        hostile.server_address[1]))

    async def posted(submit):
        await browser.eval(submit)
        deadline = time.monotonic() + 10
        while True:     # the page is navigating: evaluate until it is back
            try:
                if await browser.eval("location.pathname === '/rpc' && "
                                      "document.readyState === 'complete'"):
                    return await browser.eval("document.body.innerText")
            except AssertionError:
                pass
            assert time.monotonic() < deadline, "no reply page"
            await asyncio.sleep(0.05)

    async def run():
        await browser.open()
        await browser.goto("http://127.0.0.1:%d/attack?target=%s" % (
            hostile.server_address[1], web_addr))
        text = await posted("document.forms[0].submit()")
        assert "cross-origin call refused" in text
        assert hostile.calls == 0
        await browser.goto(m.url("web", "/call?service=go.micro.srv.hostile"))
        text = await posted("document.getElementById('call').submit()")
        assert "pwned" in text and hostile.calls == 1
        assert browser.dialogs == []
        await browser.close()

    asyncio.run(run())


def test_filter_typed_and_submitted_agree(microd, browser):
    # The services filter runs twice: app.js hides rows while the operator
    # types, and Enter asks the server (?q=). The two must keep the same
    # rows, also for names and queries beyond ASCII, which JavaScript's
    # toLowerCase() and trim() know and the server's strcasestr() does not.
    m = start(microd)
    for name in ("go.micro.srv.\u00c9lan", "go.micro.srv.kilo",
                 "go.micro.srv.other"):
        register(m, service(name))
    typed = ("(q => { const i = document.querySelector('#q'); i.value = q;"
             " i.dispatchEvent(new Event('input')); return Array.from("
             "document.querySelectorAll('#services tbody tr:not([hidden])'"
             ")).map(r => r.dataset.name).sort(); })")

    async def run():
        await browser.open()
        await browser.goto(m.url("web", "/"))
        for q in ("\u00e9lan", "\u00c9LAN", "\u212a", "\u00a0kilo",
                  "KILO", " \u00c9lan\t"):
            shown = await browser.eval(typed + "(%s)" % json.dumps(q))
            _, _, body = web(m, "/?q=" + urllib.parse.quote(q))
            served = sorted(x.decode() for x in re.findall(
                rb'<tr data-name="([^"]*)"', body))
            assert shown == served, (q, shown, served)
        await browser.close()
    asyncio.run(run())
