"""The greeter example's Python API service (examples/greeter/api.py):
the flow through the api gateway in every C/Python mix, byte for byte
what the C api.c answers, and deregistration on SIGTERM."""
import json
import os
import signal

import pytest

from conftest import SRCDIR, http, wait_for
from gwnodes import (Process, c_api, c_srv, closed_address, node_ids,
                     py_srv, sidecar, start_greeter)
from test_gateway import error, get, gw  # noqa: F401 (fixtures)

GREETER_PY_API = os.path.join(SRCDIR, "examples", "greeter", "api.py")
API = "go.micro.api.greeter"


def py_api(m):
    return start_greeter(m, ["/usr/bin/python3", GREETER_PY_API,
                             "--sidecar", sidecar(m)], API)


@pytest.mark.parametrize("srv,api", [(py_srv, py_api), (c_srv, py_api),
                                     (py_srv, c_api)],
                         ids=["py-py", "c-py", "py-c"])
def test_greeter_flow(gw, nodes, srv, api):
    m = gw()
    nodes.append(srv(m))        # held before the next start can fail
    nodes.append(api(m))
    status, headers, body = get(m, "/greeter/say/hello?name=John")
    assert (status, body) == (200, b'{"msg":"Hello John"}')
    assert headers["Content-Type"] == "application/json"
    status, _, body = get(m, "/greeter/say/hello")
    assert status == 400
    assert error(body)["detail"] == "Name cannot be blank"


def call(node, body, endpoint="Say.Hello"):
    headers = {"Content-Type": "application/json"}
    if endpoint is not None:
        headers["Micro-Endpoint"] = endpoint
    status, headers, out = http("POST", "http://%s/" % node.address, body,
                                headers)
    return status, headers["Content-Type"], out


JOHN = b'{"get":{"name":{"key":"name","values":["John"]}}}'
CASES = [(JOHN, "Say.Hello"), (JOHN, "Say.Nope"), (JOHN, None),
         (b"", "Say.Hello"), (b"nope", "Say.Hello"), (b"NaN", "Say.Hello"),
         (b"{}", "Say.Hello"), (b"[1]", "Say.Hello"),
         (b'{"get":{"name":{"values":[5]}}}', "Say.Hello"),
         (b'{"get":{"name":{"values":[""]}}}', "Say.Hello"),
         (b'{"get":{"name":{"values":["\\ud800"]}}}', "Say.Hello"),
         ('{"get":{"name":{"values":["Jos\u00e9 \\"/\\u0001"]}}}'.encode(),
          "Say.Hello")]


def test_same_answers_as_c(gw, nodes):
    """Called as the gateway calls them, both API services answer the
    same bytes: good input, bad input, srv down, sidecar down."""
    m = gw()
    # Each held before the next start can fail.
    for start in (py_srv, c_api, py_api):
        nodes.append(start(m))
    srv, capi, papi = nodes

    def same(cases):
        for body, endpoint in cases:
            want = call(capi, body, endpoint)
            assert call(papi, body, endpoint) == want, (body, endpoint)

    assert call(papi, JOHN)[2] == json.dumps(
        {"statusCode": 200, "header": {"Content-Type": {
            "key": "Content-Type", "values": ["application/json"]}},
         "body": '{"msg":"Hello John"}'}, separators=(",", ":")).encode()
    same(CASES)
    srv.stop()
    wait_for(lambda: node_ids(m, "go.micro.srv.greeter") == [],
             what="srv deregistered")
    assert json.loads(call(papi, JOHN)[2])["statusCode"] == 404
    same(CASES[:2])
    # No sidecar where they were told: 502 with the HTTP client's words.
    down = closed_address()
    nodes += [Process([capi.proc.args[0], "-s", down]),
              Process(["/usr/bin/python3", GREETER_PY_API, "--sidecar",
                       down])]
    capi, papi = nodes[-2:]
    same(CASES[:1])
    assert error(call(papi, JOHN)[2])["detail"] == "connection refused"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT],
                         ids=["TERM", "INT"])
def test_deregistered_on_signal(gw, nodes, sig):
    m = gw()
    api = py_api(m)
    nodes.append(api)           # held before the next start can fail
    nodes.append(c_srv(m))
    assert get(m, "/greeter/say/hello?name=John")[0] == 200
    api.stop(sig)
    assert api.proc.returncode == 0
    wait_for(lambda: node_ids(m, API) == [], what="api deregistered")
    status, _, body = wait_for(
        lambda: (lambda r: r[0] == 404 and r)(
            get(m, "/greeter/say/hello?name=John")), what="gateway 404")
    assert error(body)["detail"] == "service not found"
