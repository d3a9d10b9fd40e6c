"""Per-service request statistics: calls through the api's /rpc show up
in the web's /metrics (counters and a consistent histogram) and in
micro-top's services panel."""
import json
import re
import subprocess
import threading

import pytest

from conftest import MICROTOP, http, wait_for
from gwnodes import FakeNode, closed_address, register

SERVICE = "go.micro.srv.stats"
CALLS = 20
FAILING = 6     # calls the node answers with a 500


@pytest.fixture
def node():
    def behaviour(handler, body):
        if b"fail" in body:
            return (500, {"Content-Type": "application/json"}, json.dumps({
                "id": SERVICE, "code": 500, "detail": "asked to fail",
                "status": "Internal Server Error"}).encode())
        return 200, {"Content-Type": "application/json"}, b'{"ok":true}'
    n = FakeNode(behaviour)
    yield n
    n.server.shutdown()


def call(m, service, fail=False):
    body = json.dumps({"service": service, "method": "Stats.Call",
                       "request": {"fail": True} if fail else {}}).encode()
    status, _, _ = http("POST", m.url("api", "/rpc"), body,
                        {"Content-Type": "application/json"})
    return status


def metrics(m):
    status, headers, body = http("GET", m.url("web", "/metrics"))
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return body.decode()


def samples(text, name, service):
    """{label string without service: value} of name's samples for service."""
    out = {}
    pat = re.compile(r'^%s\{service="%s"(?:,(.*))?\} (\S+)$' % (
        re.escape(name), re.escape(service)))
    for line in text.splitlines():
        mt = pat.match(line)
        if mt:
            out[mt.group(1) or ""] = float(mt.group(2))
    return out


def test_metrics_count_calls(microd, node):
    m = microd(workers={"broker": 0})
    register(m, node.service(SERVICE))
    for i in range(CALLS):
        assert call(m, SERVICE, fail=i < FAILING) == (500 if i < FAILING
                                                      else 200)
    # A name nobody registered is no service: not counted, not even when
    # called at an address (any client could fill the table).
    assert call(m, "go.micro.srv.nobody") == 404
    body = json.dumps({"service": "go.micro.srv.junk", "method": "A.B",
                       "request": {}, "address": closed_address()}).encode()
    status, _, _ = http("POST", m.url("api", "/rpc"), body,
                        {"Content-Type": "application/json"})
    assert status >= 500

    text = metrics(m)
    assert "# TYPE microd_service_requests_total counter" in text
    assert "# TYPE microd_service_request_duration_seconds histogram" in text
    assert samples(text, "microd_service_requests_total", SERVICE) == {
        "": CALLS}
    assert samples(text, "microd_service_errors_total", SERVICE) == {
        "": FAILING}
    assert "go.micro.srv.nobody" not in text
    assert "go.micro.srv.junk" not in text

    base = "microd_service_request_duration_seconds"
    buckets = samples(text, base + "_bucket", SERVICE)
    les = [k[len('le="'):-1] for k in buckets]
    assert les[-1] == "+Inf" and len(les) == 13
    bounds = [float(le) for le in les[:-1]]
    assert bounds == sorted(bounds) and bounds[0] == 0.001
    counts = list(buckets.values())
    assert counts == sorted(counts), "cumulative buckets must not decrease"
    assert counts[-1] == CALLS
    assert samples(text, base + "_count", SERVICE) == {"": CALLS}
    total = samples(text, base + "_sum", SERVICE)[""]
    assert 0 < total < CALLS * 5.0


def service_row(text, name):
    for line in text.splitlines():
        cells = line.split()
        if cells and cells[0] == name:
            return cells
    return None


def test_microtop_shows_rate_and_p99(microd, node):
    m = microd(workers={"broker": 0, "web": 0})
    register(m, node.service(SERVICE))
    stop = threading.Event()
    made = []

    def traffic():
        # Bounded: stops with micro-top, or after 2000 calls.
        while not stop.is_set() and len(made) < 2000:
            made.append(call(m, SERVICE))
    t = threading.Thread(target=traffic, daemon=True)
    t.start()
    try:
        wait_for(lambda: len(made) > 0, what="first call")
        r = subprocess.run([MICROTOP, "-b", "-s", m.socket],
                           capture_output=True, text=True, timeout=20)
    finally:
        stop.set()
        t.join(10)
    assert r.returncode == 0, r.stderr
    assert set(made) == {200}
    row = service_row(r.stdout, SERVICE)
    assert row is not None, r.stdout
    # name, versions, nodes, req/s, p99, from the stats stream's
    # "services": -b waits for two samples with the service rows.
    rate, p99 = row[-2], row[-1]
    assert re.match(r"^[0-9.]+(us|ms|s)$", p99), row
    assert float(re.match(r"[0-9.]+", rate).group()) > 0, row


def test_metrics_count_proxied(microd, node):
    m = microd(workers={"broker": 0})
    web = "go.micro.web.statsweb"
    register(m, node.service(web, protocol=None))
    for i in range(4):
        body = b"fail" if i == 0 else b"ok"
        status, _, _ = http("POST", m.url("web", "/statsweb/x"), body)
        assert status == (500 if i == 0 else 200)
    text = metrics(m)
    assert samples(text, "microd_service_requests_total", web) == {"": 4}
    assert samples(text, "microd_service_errors_total", web) == {"": 1}
    assert samples(text, "microd_service_request_duration_seconds_count",
                   web) == {"": 4}
