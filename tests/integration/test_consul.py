"""The Consul registry plugin against consul_standin (NOT a real Consul:
Consul is not packaged here; see consul_standin.py)."""
import json
import os
import time
import zlib

import pytest

from conftest import BUILDDIR, wait_for
from consul_standin import Standin

PLUGIN_ENV = {"MICROD_PLUGIN_DIR": os.path.join(BUILDDIR, "plugins")}


def tag(c, text):
    """go-micro's encoding: c-hex(zlib(text))."""
    return "%s-%s" % (c, zlib.compress(text.encode()).hex())


def gomicro_registration(name, sid, port, version="1.0.0", ttl=None):
    """What go-micro's consul registry sends to the agent."""
    body = {"ID": sid, "Name": name, "Address": "127.0.0.1", "Port": port,
            "Tags": [tag("t", json.dumps({"protocol": "mucp"})),
                     tag("e", json.dumps({"name": "Say.Hello",
                                          "metadata": {}})),
                     tag("v", version)]}
    if ttl:
        body["Check"] = {"TTL": ttl, "DeregisterCriticalServiceAfter": "1m"}
    return body


@pytest.fixture
def consul():
    made = []

    def make(token=None):
        s = Standin(token)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


def start(microd, s, token=""):
    extra = "[registry]\nbackend = consul\naddress = 127.0.0.1:%d\n" % (
        s.port)
    if token:
        extra += "token = %s\n" % token
    return microd(extra=extra, env=PLUGIN_ENV,
                  workers={"web": 0, "broker": 0})


def node_ids(m, name):
    r = m.ctl("--json", "service", name, check=False)
    if r.returncode != 0:
        return set()
    return {n["id"] for v in json.loads(r.stdout) for n in v["nodes"]}


def test_gomicro_registration_visible_then_gone(consul, microd):
    s = consul()
    m = start(microd, s)
    s.register(gomicro_registration("go.micro.srv.greeter", "g-1", 9091))
    wait_for(lambda: node_ids(m, "go.micro.srv.greeter") == {"g-1"}, 2)
    svc = m.ctl_json("service", "go.micro.srv.greeter")[0]
    assert svc["version"] == "1.0.0"
    assert svc["endpoints"][0]["name"] == "Say.Hello"
    assert svc["nodes"][0]["address"] == "127.0.0.1:9091"
    assert svc["nodes"][0]["metadata"]["protocol"] == "mucp"
    st = m.status()["registry"]
    assert st["backend"] == "consul" and st["connected"]
    assert st["revision"] >= 1
    s.deregister("g-1")
    wait_for(lambda: node_ids(m, "go.micro.srv.greeter") == set(), 2)
    # blocking queries were used: index and wait on the health loop
    assert any("index=" in p and "wait=" in p for _, p in s.requests)


def test_critical_node_dropped(consul, microd):
    s = consul()
    m = start(microd, s)
    s.register(gomicro_registration("go.micro.srv.c", "c-1", 9092,
                                    ttl="1s"))
    s.register(gomicro_registration("go.micro.srv.c", "c-2", 9093))
    wait_for(lambda: node_ids(m, "go.micro.srv.c") == {"c-2"}, 2)
    s.pass_check("service:c-1")
    wait_for(lambda: node_ids(m, "go.micro.srv.c") == {"c-1", "c-2"}, 2)
    # not passed again: critical after 1 s, dropped
    wait_for(lambda: node_ids(m, "go.micro.srv.c") == {"c-2"}, 4)


def test_register_passes_ttl_and_clean_stop_deregisters(consul, microd):
    s = consul()
    m = start(microd, s)
    svc = {"name": "go.micro.srv.mine", "version": "2.1",
           "endpoints": [{"name": "Mine.Do"}],
           "nodes": [{"id": "mine-1", "address": "127.0.0.1:7001",
                      "metadata": {"protocol": "mucp"}}]}
    m.ctl("register", "--ttl", "2s", "-", input=json.dumps(svc))
    reg = wait_for(lambda: s.services.get("mine-1"), 2)
    assert reg["Name"] == "go.micro.srv.mine"
    assert reg["Port"] == 7001 and reg["Address"] == "127.0.0.1"
    assert reg["Check"]["CheckID"] == "service:mine-1"
    tags = {t[:2]: t for t in reg["Tags"]}
    assert zlib.decompress(bytes.fromhex(tags["v-"][2:])) == b"2.1"
    assert json.loads(zlib.decompress(bytes.fromhex(tags["e-"][2:])))[
        "name"] == "Mine.Do"
    # re-registered like a client heartbeat: the check stays passing
    # past its 2 s TTL only because the plugin passes it
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        m.ctl("register", "--ttl", "2s", "-", input=json.dumps(svc))
        time.sleep(0.5)
    assert s.checks["service:mine-1"][0] == "passing"
    m.stop()
    assert m.proc.returncode == 0
    assert "mine-1" not in s.services


def test_token(consul, microd):
    s = consul(token="s3cret")
    m = start(microd, s, token="s3cret")
    s.register(gomicro_registration("go.micro.srv.t", "t-1", 9094))
    wait_for(lambda: node_ids(m, "go.micro.srv.t") == {"t-1"}, 2)


def test_wrong_token_not_connected(consul, microd):
    s = consul(token="s3cret")
    m = start(microd, s, token="wrong")
    wait_for(lambda: m.status()["registry"]["last_error"], 3)
    assert not m.status()["registry"]["connected"]
    assert "403" in m.status()["registry"]["last_error"]
