"""The Consul registry plugin against consul_standin (NOT a real Consul:
Consul is not packaged here; see consul_standin.py)."""
import json
import os
import re
import socket
import threading
import time
import zlib

import pytest

from conftest import (BUILDDIR, JOURNAL_LOG, Heartbeat, http, register_ctl,
                      wait_for)
from consul_standin import Standin
from test_master import generation_serving
from test_registry import store_copies_expiring

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


def start(microd, s, token="", env=None):
    extra = "[registry]\nbackend = consul\naddress = 127.0.0.1:%d\n" % (
        s.port)
    if token:
        extra += "token = %s\n" % token
    return microd(extra=extra, env=dict(PLUGIN_ENV, **(env or {})),
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
    assert s.check_status("service:mine-1") == "passing"
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


def untag(t):
    """A go-micro tag's text: "c-" hex(zlib) or the old plain "c="."""
    if t[1] == "=":
        return t[2:]
    return zlib.decompress(bytes.fromhex(t[2:])).decode()


def put(s, path, body):
    return http("PUT", "http://127.0.0.1:%d%s" % (s.port, path),
                json.dumps(body).encode())


# -- the stand-in keeps to Consul's documented behaviour ------------------

@pytest.mark.parametrize("meta", [
    {"app.kubernetes.io/name": "x"}, {"consul-x": "1"}, {"k" * 129: "v"},
    {"k": "v" * 513}, {"k%d" % i: "v" for i in range(65)}])
def test_standin_refuses_meta_as_consul(consul, meta):
    s = consul()
    st, _, body = put(s, "/v1/agent/service/register",
                      {"ID": "a", "Name": "a", "Meta": meta})
    assert st == 400 and b"Invalid Service Meta" in body
    assert "a" not in s.services
    st, _, _ = put(s, "/v1/agent/service/register",
                   {"ID": "a", "Name": "a", "Meta": {"ok_key-1": "v"}})
    assert st == 200


def test_standin_reaps_after_deregister_critical(consul):
    s = consul()
    s.register(gomicro_registration("r", "r-1", 1, ttl="1s"))
    s.services["r-1"]["Check"]["DeregisterCriticalServiceAfter"] = "1s"
    s.register(s.services["r-1"])
    wait_for(lambda: "r-1" not in s.services, 4, what="reaped")
    assert "service:r-1" not in s.checks


def test_standin_reregistration_keeps_check_status(consul):
    s = consul()
    body = gomicro_registration("k", "k-1", 1, ttl="30s")
    s.register(body)
    assert s.pass_check("service:k-1")
    s.register(body)
    assert s.check_status("service:k-1") == "passing"


def test_standin_backlog(consul):
    assert consul().server.request_queue_size >= 1024


def test_standin_slow_reader_stalls_only_itself(consul):
    s = consul()
    for i in range(40):     # one answer of some 20 MB
        s.register({"ID": "big-%d" % i, "Name": "big", "Port": 1,
                    "Tags": ["x" * 500000]})
    slow = socket.create_connection(("127.0.0.1", s.port))
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.sendall(b"GET /v1/health/service/big HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        slow.recv(1)        # its writer is now blocked on a full socket
        st, _, _ = http("GET", "http://127.0.0.1:%d/v1/catalog/services"
                        % s.port, timeout=3)
        assert st == 200
    finally:
        slow.close()


# -- the plugin -------------------------------------------------------------

def test_gomicro_metadata_tags_merged(consul, microd):
    """go-micro's encodeMetadata writes one t- tag per key."""
    s = consul()
    m = start(microd, s)
    body = gomicro_registration("go.micro.srv.md", "g-1", 9100)
    body["Tags"] += [tag("t", json.dumps({"transport": "http"})),
                     tag("t", json.dumps({"broker": "http"}))]
    s.register(body)
    wait_for(lambda: node_ids(m, "go.micro.srv.md") == {"g-1"}, 3)
    md = m.ctl_json("service", "go.micro.srv.md")[0]["nodes"][0]["metadata"]
    assert md == {"protocol": "mucp", "transport": "http", "broker": "http"}


def test_foreign_and_old_tags(consul, microd):
    """A tag that does not decode is skipped, not its node; the old plain
    "=" forms are read as go-micro reads them."""
    s = consul()
    m = start(microd, s)
    s.register({"ID": "shop-1", "Name": "shop", "Address": "127.0.0.1",
                "Port": 9200, "Tags": ["e-commerce", "v-2", "t-zz"]})
    s.register({"ID": "old-1", "Name": "go.micro.srv.old",
                "Address": "127.0.0.1", "Port": 9201,
                "Tags": ["v=1.2.0", 't={"protocol":"mucp"}',
                         'e={"name":"Old.Call"}']})
    wait_for(lambda: node_ids(m, "shop") == {"shop-1"}, 3)
    wait_for(lambda: node_ids(m, "go.micro.srv.old") == {"old-1"}, 3)
    old = m.ctl_json("service", "go.micro.srv.old")[0]
    assert old["version"] == "1.2.0"
    assert [e["name"] for e in old["endpoints"]] == ["Old.Call"]
    assert old["nodes"][0]["metadata"] == {"protocol": "mucp"}


def test_register_no_meta_and_deregister_ttl(consul, microd):
    """Metadata Consul would refuse as Meta travels in the t- tag only,
    and DeregisterCriticalServiceAfter is go-micro's TTL + 5 s."""
    s = consul()
    m = start(microd, s)
    md = {"app.kubernetes.io/name": "x", "protocol": "mucp"}
    svc = {"name": "go.micro.srv.meta", "version": "1",
           "nodes": [{"id": "meta-1", "address": "127.0.0.1:7001",
                      "metadata": md}]}
    register_ctl(m, svc, "5m")
    reg = wait_for(lambda: s.services.get("meta-1"), 3)
    assert "Meta" not in reg
    ts = [json.loads(untag(t)) for t in reg["Tags"] if t.startswith("t-")]
    assert {k: v for t in ts for k, v in t.items()} == md
    assert reg["Check"]["DeregisterCriticalServiceAfter"] == "305000ms"


def test_node_id_with_url_characters(consul, microd):
    """Node ids are data in the agent's URLs: '#', '?' and '%' are
    escaped, so each node's own TTL check is passed and it is seen."""
    s = consul()
    m = start(microd, s)
    ids = {"pct-%41", "hash#1", "query?x=1"}
    for i, nid in enumerate(sorted(ids)):
        register_ctl(m, {"name": "go.micro.srv.odd%d" % i, "version": "1",
                         "nodes": [{"id": nid,
                                    "address": "127.0.0.1:7001"}]}, "30s")
    wait_for(lambda: all(s.check_status("service:" + nid) == "passing"
                         for nid in ids), 5, what="checks passed")
    assert set(s.services) == ids
    m.stop()
    assert s.services == {}


def test_health_names_differing_in_case_kept_apart(consul, microd):
    """Consul answers /v1/health/service/<name> for every name equal
    ignoring case; each node belongs to the name it registered."""
    s = consul()
    m = start(microd, s)
    s.register(gomicro_registration("go.micro.srv.Case", "upper-1", 9101))
    s.register(gomicro_registration("go.micro.srv.case", "lower-1", 9102))
    wait_for(lambda: node_ids(m, "go.micro.srv.Case") == {"upper-1"} and
             node_ids(m, "go.micro.srv.case") == {"lower-1"}, 3,
             what="each name with its own node")
    s.deregister("lower-1")
    wait_for(lambda: node_ids(m, "go.micro.srv.case") == set(), 3)
    assert node_ids(m, "go.micro.srv.Case") == {"upper-1"}


def test_hung_catalog_query_times_out(consul, microd):
    """An agent that stops answering: disconnected within the request
    timeout, connected again once it answers."""
    s = consul()
    m = start(microd, s)
    for i in range(3):
        s.register(gomicro_registration("go.micro.srv.h", "h-%d" % i, 1))
    blocking = "/v1/catalog/services?index=%d&" % s.index
    wait_for(lambda: any(p.startswith(blocking) for _, p in s.requests), 3)
    s.stall_if = lambda method, path: (
        path.startswith("/v1/catalog/services") and "index=" not in path)
    s.forget_index()        # backwards: the loop starts a plain query
    wait_for(lambda: not m.status()["registry"]["connected"], 12,
             what="disconnected")
    assert m.status()["registry"]["last_error"]
    s.stall_if = lambda method, path: False
    wait_for(lambda: m.status()["registry"]["connected"], 12,
             what="connected again")


def test_hung_ttl_pass_retried(consul, microd):
    """One TTL pass never answered does not stop the later ones."""
    s = consul()
    m = start(microd, s)
    stalled = []

    def stall_once(method, path):
        if method == "PUT" and "/check/pass/" in path and not stalled:
            stalled.append(len(s.requests))
            return True
        return False
    svc = {"name": "go.micro.srv.hp", "version": "1",
           "nodes": [{"id": "hp-1", "address": "127.0.0.1:7002"}]}
    beat = Heartbeat(m, svc, "4s")
    try:
        wait_for(lambda: s.check_status("service:hp-1") == "passing", 3)
        s.stall_if = stall_once
        wait_for(lambda: stalled, 4, what="a pass stalled")

        def passed_again():
            later = s.requests[stalled[0]:]
            return (any("/check/pass/" in p for _, p in later) and
                    s.check_status("service:hp-1") == "passing")
        wait_for(passed_again, 15, what="passes after the stalled one")
    finally:
        beat.close()


CONSUL_CONNS_MAX = 64       # plugins/consul.h


def conns_to(port):
    """Connections open to port, as the kernel lists them: established
    sockets whose far end it is (microd's ends; the stand-in's have it as
    their own port), so a close counts at once, however late the stand-in's
    handler thread notices it."""
    seen = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                cols = line.split()
                if cols[3] == "01" and \
                        int(cols[2].rsplit(":", 1)[1], 16) == port:
                    seen.add((cols[1], cols[2]))
    return seen


class ConnPeak:
    """The most connections to port open at one instant, sampled every
    5 ms. One reading of the tables is no instant: it takes milliseconds
    once the suite has left thousands of sockets in TIME_WAIT, and a
    socket closed early in it and one opened late both show. A socket in
    two readings in a row was open from the end of the first to the start
    of the second, so the sockets in both were all open together at the
    end of the first: that count never exceeds the true one."""

    def __init__(self, port):
        self.port, self.peak, self.done = port, 0, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        last = set()
        while not self.done.wait(0.005):
            now = conns_to(self.port)
            self.peak = max(self.peak, len(now & last))
            last = now

    def stop(self):
        self.done.set()
        self.thread.join()
        return self.peak


def test_many_services_bounded_connections(consul, microd):
    """Hundreds of service names share a few connections to the agent,
    also when a reconnection restarts every watch."""
    s = consul()
    n = 300
    for i in range(n):
        s.register({"ID": "n%d" % i, "Name": "svc%d" % i, "Port": 1000 + i,
                    "Address": "127.0.0.1"})
    peak = ConnPeak(s.port)
    m = start(microd, s)
    wait_for(lambda: m.status()["registry"]["services"] >= n, 20,
             what="every service listed")
    s.fail_if = lambda method, path: (
        500 if path.startswith("/v1/catalog/services") else None)
    s.register({"ID": "wake", "Name": "wake", "Port": 1})
    wait_for(lambda: not m.status()["registry"]["connected"], 20)
    s.fail_if = lambda method, path: None
    wait_for(lambda: m.status()["registry"]["connected"], 20)
    s.deregister("n%d" % (n - 1))
    wait_for(lambda: node_ids(m, "svc%d" % (n - 1)) == set(), 20,
             what="a change seen through the shared connections")
    most = peak.stop()
    assert 0 < most <= CONSUL_CONNS_MAX, most


def test_stop_with_silent_agent_is_bounded(consul, microd):
    """Deregistrations at stop run together under one deadline."""
    s = consul()
    m = start(microd, s)
    n = 20
    svc = {"name": "go.micro.srv.many", "version": "1",
           "nodes": [{"id": "k-%d" % i, "address": "127.0.0.1:%d" % (
               7100 + i)} for i in range(n)]}
    register_ctl(m, svc, "60s")
    wait_for(lambda: all(s.check_status("service:k-%d" % i) == "passing"
                         for i in range(n)), 5)
    s.stall_if = lambda method, path: "/service/deregister/" in path
    t0 = time.monotonic()
    m.stop()
    took = time.monotonic() - t0
    assert m.proc.returncode == 0
    # One 2 s deadline for all (one after another: 1 s each, 20 s).
    assert took < 8, "stop took %.1f s" % took
    assert "not deregistered" in m.read_log()


def test_reload_restarting_the_registry_worker_deregisters_nothing(
        consul, microd):
    """A reload that changes [registry] ttl starts a new registry worker
    for the same agent: the old one deregistered this host's services as
    at a stop, and the new one registered them again, gone meanwhile for
    every other host. It hands them over now."""
    s = consul()
    m = start(microd, s)
    svc = {"name": "go.micro.srv.kept", "version": "1",
           "nodes": [{"id": "kept-1", "address": "127.0.0.1:7001"}]}
    register_ctl(m, svc, "60s")
    wait_for(lambda: s.check_status("service:kept-1") == "passing", 5)
    seen = len(s.requests)
    m.write_conf(extra="[registry]\nbackend = consul\naddress = "
                 "127.0.0.1:%d\nttl = 11s\n" % s.port)
    m.ctl("reload")
    wait_for(lambda: generation_serving(m, 2), 20,
             what="generation 2 serving")
    wait_for(lambda: ("PUT", "/v1/agent/service/register") in [
        (meth, p.split("?")[0]) for meth, p in s.requests[seen:]], 20,
        what="the new worker's registration")
    assert [p for _, p in s.requests[seen:]
            if "/deregister/" in p] == []
    assert s.check_status("service:kept-1") == "passing"


def log_text(m):
    with open(m.log, errors="replace") as f:
        return f.read()


def health_gets(s, name):
    return [p for meth, p in s.requests
            if meth == "GET" and p.startswith("/v1/health/service/" + name)]


def test_failing_health_query_logged_once(consul, microd):
    """A name whose health query keeps failing is one warning (and one
    line when it answers again), not one per retry."""
    s = consul()
    m = start(microd, s)
    name = "go.micro.srv.flaky"
    s.fail_if = lambda method, path: (
        500 if path.startswith("/v1/health/service/" + name) else None)
    s.register(gomicro_registration(name, "f-1", 9300))
    wait_for(lambda: len(health_gets(s, name)) >= 5, 20,
             what="five failed health queries")
    assert log_text(m).count("health %s: HTTP 500" % name) == 1
    s.fail_if = lambda method, path: None
    wait_for(lambda: node_ids(m, name) == {"f-1"}, 10)
    assert log_text(m).count("health %s: answered again" % name) == 1


def test_refused_name_does_not_hold_relist(consul, microd):
    """A node deleted from Consul while microd was down leaves once the
    relisting ends, even when one name in the catalog is one the agent
    refuses to answer for (".." is a dot segment in any URL)."""
    s = consul()
    m = start(microd, s)
    s.register(gomicro_registration("go.micro.srv.gone", "gone-1", 9301))
    s.register(gomicro_registration("go.micro.srv.stay", "stay-1", 9302))
    wait_for(lambda: node_ids(m, "go.micro.srv.gone") == {"gone-1"}, 5)
    wait_for(lambda: node_ids(m, "go.micro.srv.stay") == {"stay-1"}, 5)
    m.stop()
    s.deregister("gone-1")
    s.register({"ID": "dots", "Name": "..", "Address": "127.0.0.1",
                "Port": 9303})
    m.start()
    wait_for(lambda: m.status()["registry"]["connected"], 10)
    wait_for(lambda: node_ids(m, "go.micro.srv.gone") == set(), 15,
             what="the deleted node pruned")
    assert node_ids(m, "go.micro.srv.stay") == {"stay-1"}


def passing_node(m, s, short, port):
    """Node <short>-1 of this host, registered again and again with a 2 s
    TTL (the Heartbeat to close), once its check passes."""
    svc = {"name": "go.micro.srv." + short, "version": "1",
           "nodes": [{"id": short + "-1",
                      "address": "127.0.0.1:%d" % port}]}
    beat = Heartbeat(m, svc, "2s")
    wait_for(lambda: s.check_status("service:%s-1" % short) == "passing",
             5, what="check passing")
    return beat


def stays_passing(s, check, until):
    while time.monotonic() < until:
        assert s.check_status(check) == "passing"
        time.sleep(0.01)


def test_failed_ttl_pass_retried_before_ttl_runs_out(consul, microd):
    """A pass the agent refuses once (429: rate limited) is tried again
    soon, not a whole tick later: the check never turns critical."""
    s = consul()
    m = start(microd, s)
    beat = passing_node(m, s, "rl", 7010)
    try:
        refused = []
        lock = threading.Lock()

        def refuse_two(method, path):
            with lock:
                if "/check/pass/" in path and len(refused) < 2:
                    refused.append(time.monotonic())
                    return 429
            return None
        s.fail_if = refuse_two
        wait_for(lambda: len(refused) == 2, 10, what="two passes refused")
        # the last good pass is at most 1 s (TTL/2) before the first
        # refusal: watch past its 2 s TTL
        stays_passing(s, "service:rl-1", refused[0] + 3)
    finally:
        beat.close()
    assert log_text(m).count("node rl-1: HTTP 429") == 1


def test_leaderless_catalog_keeps_ttl_passing_and_stop_deregisters(
        consul, microd):
    """Without a cluster leader Consul answers catalog reads 500 "No
    cluster leader", while the agent's own endpoints (check pass,
    deregister) still work: this host's checks stay passing, and a stop
    still deregisters its nodes."""
    s = consul()
    m = start(microd, s)
    beat = passing_node(m, s, "nl", 7011)
    try:
        s.fail_if = lambda method, path: (
            500 if path.startswith("/v1/catalog/") else None)
        wait_for(lambda: not m.status()["registry"]["connected"], 20,
                 what="catalog failing")
        stays_passing(s, "service:nl-1", time.monotonic() + 3)  # > TTL
    finally:
        beat.close()
    m.stop()
    assert m.proc.returncode == 0
    assert "nl-1" not in s.services


def test_nodes_expiring_during_load_do_not_crash_the_backend(microd,
                                                             consul):
    """Nodes whose deadline falls while a large store loads expire in the
    first expiry pass. That pass ran before the backend was open and
    handed the backend's del a NULL state: the registry worker died on
    SIGSEGV (and again at each restart while such nodes were left)."""
    m = start(microd, consul())
    # About one deadline a millisecond over the next 20 s: some fall
    # between the load's start and the first expiry pass.
    store_copies_expiring(m, "go.micro.srv.soon", 20000, 300, 20000)
    m.start(wait=False)
    # The first expiry pass comes before the registry worker says ready.
    wait_for(lambda: m.running("registry"), timeout=120,
             what="registry worker ready")
    with open(m.log, errors="replace") as f:
        assert " exited on signal" not in f.read()
    assert m.running("registry")[0]["restarts"] == 0


def test_sync_lag_ignores_a_wall_clock_jump(consul, microd, clock):
    """A backend change right after the wall clock jumped an hour ahead
    reaches shm at once: the lag microctl status shows says so (it used
    to say an hour, libevent's cached time being on the old clock)."""
    env, shift = clock
    s = consul()
    m = start(microd, s, env=env)
    shift(3600 * 1000)
    # The plugin publishes its sync state with its catalog answers, which
    # come before the health answers that carry the change: the second
    # service's catalog answer shows the first one's lag.
    for name in ("go.micro.srv.lag", "go.micro.srv.next"):
        s.register(gomicro_registration(name, name + "-1", 9091))
        wait_for(lambda: node_ids(m, name) == {name + "-1"}, 5,
                 what="the consul node in shm")
    assert m.status()["registry"]["lag_ms"] < 1000


HEALTH = "/v1/health/service/"
RELIST_TRIES = 3    # plugins/consul-watch.c CONSUL_RELIST_TRIES
REQUEST_S = 5       # plugins/consul.h CONSUL_REQUEST_MS


def health_of(path, *names):
    """path is a health query for one of names (not merely a prefix)."""
    return any(path.split("?")[0] == HEALTH + n for n in names)


def test_failing_names_do_not_hold_relist(consul, microd):
    """A node deleted from Consul while microd was down leaves once the
    relisting ends, even when one name's health query keeps answering
    500 and another's never answers: each is given a few tries, then the
    relist goes on without it; both are retried until they answer."""
    s = consul()
    m = start(microd, s)
    names = {"gone": "go.micro.srv.gone", "stay": "go.micro.srv.stay",
             "err": "go.micro.srv.err", "hung": "go.micro.srv.hung"}
    for port, (short, name) in enumerate(sorted(names.items()), 9400):
        s.register(gomicro_registration(name, short + "-1", port))
    for short, name in names.items():
        wait_for(lambda: node_ids(m, name) == {short + "-1"}, 5)
    m.stop()
    s.deregister("gone-1")
    s.fail_if = lambda method, path: (
        500 if health_of(path, names["err"]) else None)
    s.stall_if = lambda method, path: health_of(path, names["hung"])
    m.start()
    wait_for(lambda: m.status()["registry"]["connected"], 10)
    # the hung name's tries time out one after another
    wait_for(lambda: node_ids(m, names["gone"]) == set(),
             RELIST_TRIES * (REQUEST_S + 2) + 10,
             what="the deleted node pruned")
    assert node_ids(m, names["stay"]) == {"stay-1"}
    # not answered since microd started: nothing of theirs to keep, and
    # what the state file said of them goes with the relist
    assert node_ids(m, names["err"]) == set()
    assert node_ids(m, names["hung"]) == set()
    s.fail_if = lambda method, path: None
    s.stall_if = lambda method, path: False
    wait_for(lambda: node_ids(m, names["err"]) == {"err-1"}, 10)
    wait_for(lambda: node_ids(m, names["hung"]) == {"hung-1"},
             REQUEST_S + 10)


def test_failing_name_keeps_its_nodes_through_relist(consul, microd):
    """After a reconnection, a name whose health query fails keeps the
    nodes it listed last, while the relist ends without it: a name
    refused meanwhile counts as listing nothing and its node goes."""
    s = consul()
    m = start(microd, s)
    keep, refused = "go.micro.srv.keep", "go.micro.srv.refused"
    s.register(gomicro_registration(keep, "keep-1", 9410))
    s.register(gomicro_registration(refused, "refused-1", 9411))
    wait_for(lambda: node_ids(m, keep) == {"keep-1"}, 5)
    wait_for(lambda: node_ids(m, refused) == {"refused-1"}, 5)

    def failing(method, path):
        if health_of(path, keep):
            return 500
        return 404 if health_of(path, refused) else None
    s.fail_if = lambda method, path: (
        500 if path.startswith("/v1/catalog/") else failing(method, path))
    s.register({"ID": "wake", "Name": "wake", "Port": 1})
    wait_for(lambda: not m.status()["registry"]["connected"], 10)
    s.fail_if = failing
    wait_for(lambda: m.status()["registry"]["connected"], 10)
    wait_for(lambda: node_ids(m, refused) == set(), 10,
             what="the relist ended")
    assert node_ids(m, keep) == {"keep-1"}
    s.fail_if = lambda method, path: None
    s.deregister("keep-1")
    s.register(gomicro_registration(keep, "keep-2", 9412))
    wait_for(lambda: node_ids(m, keep) == {"keep-2"}, 10,
             what="the name followed again once it answers")


# A line as microd writes it to stderr under systemd (JOURNAL_STREAM).
JOURNAL_LINE = re.compile(rb"^<[0-7]>microd\[\d+\]: ")


def test_peer_bytes_cannot_forge_a_journal_line(consul, microd):
    """A name from Consul's catalog is logged when its health query
    fails. Its LF would end the line and its "<0>" make journald take
    the rest for an emergency; its ESC would reach a terminal."""
    s = consul()
    m = start(microd, s, env={"JOURNAL_STREAM": JOURNAL_LOG})
    name = "evil\n<0>forged\x1b]0;title\x07\x1b[2J\x7f\u009b31m"
    s.fail_if = lambda method, path: (
        500 if "forged" in path or "%0A" in path else None)
    s.register(gomicro_registration(name, "e-1", 9400))

    def logged():
        with open(m.log, "rb") as f:
            return [ln for ln in f.read().split(b"\n") if b"evil" in ln]
    got = wait_for(logged, 20, what="the failing health query logged")
    ring = [json.loads(ln)["msg"] for ln in m.ctl(
        "--json", "logs", "-n", "1000", "registry").stdout.splitlines()]
    assert any("evil" in msg for msg in ring), ring
    assert not any(c in msg for msg in ring for c in "\n\x1b\x07\x7f\x9b")
    m.stop()
    with open(m.log, "rb") as f:
        lines = f.read().split(b"\n")[:-1]
    assert all(JOURNAL_LINE.match(ln) for ln in lines), [
        ln for ln in lines if not JOURNAL_LINE.match(ln)]
    assert not any(c in b"".join(lines) for c in (
        b"\x1b", b"\x07", b"\x7f", b"\xc2\x9b")), got


@pytest.mark.parametrize("bad", [
    {"Port": 0},                        # port-less, common in Consul
    {"Address": "10.0.0.9:8080"},       # an address with a port in it
    {"ID": "bad 1"},                    # an id the core refuses
], ids=["no-port", "address-with-port", "id-with-blank"])
def test_bad_entry_leaves_out_only_itself(consul, microd, bad):
    """The core takes a version whole or not at all: an entry it would
    refuse is left out alone, logged once naming the service and the
    node, and the other nodes of its version stay served."""
    s = consul()
    m = start(microd, s)
    name = "go.micro.srv.bad"
    for i in (1, 2):
        s.register(gomicro_registration(name, "g-%d" % i, 9500 + i))
    wait_for(lambda: node_ids(m, name) == {"g-1", "g-2"}, 5,
             what="two good nodes")
    body = dict(gomicro_registration(name, "bad-1", 9509), **bad)
    s.register(body)
    s.register(gomicro_registration(name, "g-3", 9503))
    wait_for(lambda: node_ids(m, name) == {"g-1", "g-2", "g-3"}, 10,
             what="the good nodes served")
    line = "health %s: node %s left out: " % (name, body["ID"])
    assert log_text(m).count(line) == 1
    s.register(gomicro_registration(name, "g-4", 9504))
    wait_for(lambda: node_ids(m, name) == {"g-1", "g-2", "g-3", "g-4"}, 10,
             what="the next answer")
    assert log_text(m).count(line) == 1



def test_id_listed_twice_leaves_out_only_the_second(consul, microd):
    """A service ID is unique per Consul node only (one registered
    without an ID takes its name on every node): a second entry of the
    same ID is left out, not the version with it."""
    s = consul()
    m = start(microd, s)
    name = "go.micro.srv.twice"
    for i in (1, 2):
        s.register(gomicro_registration(name, "t-%d" % i, 9510 + i))
    wait_for(lambda: node_ids(m, name) == {"t-1", "t-2"}, 5)
    other = gomicro_registration(name, "t-1", 9519)
    other["Service"] = other.pop("Name")
    st, _, _ = put(s, "/v1/catalog/register", {
        "Node": "other", "Address": "127.0.0.2", "Service": other})
    assert st == 200
    s.register(gomicro_registration(name, "t-3", 9513))
    wait_for(lambda: node_ids(m, name) == {"t-1", "t-2", "t-3"}, 10,
             what="the version served")
    assert log_text(m).count(
        "health %s: node t-1 left out: its ID is listed twice" % name) == 1
    nodes = m.ctl_json("service", name)[0]["nodes"]
    assert {n["address"] for n in nodes} == {
        "127.0.0.1:9511", "127.0.0.1:9512", "127.0.0.1:9513"}


def mine(short, port):
    """A Service JSON of one node of this host, <short>-1."""
    return {"name": "go.micro.srv." + short, "version": "1",
            "nodes": [{"id": short + "-1",
                       "address": "127.0.0.1:%d" % port}]}


def deregistrations_fail(s, how):
    """From now on the agent answers every deregistration with a 500
    (how="refused") or not at all (how="stalled": the plugin's request
    times out). Returns the times it did."""
    failed = []
    lock = threading.Lock()

    def match(method, path):
        with lock:
            if "/deregister/" not in path:
                return False
            failed.append(time.monotonic())
            return True
    if how == "refused":
        s.fail_if = lambda method, path: 500 if match(method, path) else None
    else:
        s.stall_if = match
    return failed


def test_failed_deregister_retried(consul, microd):
    """A deregistration the agent fails (a 500, a restart) is tried again:
    left registered and passing, the node would be routed to by every
    host for the rest of its TTL."""
    s = consul()
    m = start(microd, s)
    svc = mine("dr", 7600)
    register_ctl(m, svc, "20s")
    wait_for(lambda: s.check_status("service:dr-1") == "passing", 5)
    failed = deregistrations_fail(s, "refused")
    m.ctl("deregister", "-", input=json.dumps(svc))
    wait_for(lambda: len(failed) >= 3, 10, what="three refusals")
    s.fail_if = lambda method, path: None
    wait_for(lambda: "dr-1" not in s.services, 10, what="deregistered")
    log = log_text(m)
    assert log.count("node dr-1: deregister: HTTP 500") == 1, log
    assert log.count("node dr-1: deregistered") == 1, log


def last_register(s):
    return max(i for i, r in enumerate(s.requests)
               if r == ("PUT", "/v1/agent/service/register"))


@pytest.mark.parametrize("how", ["refused", "stalled"])
def test_register_cancels_a_pending_deregister(consul, microd, how):
    """Registered again while its deregistration is being retried, or is
    still out, the node stays: no deregistration follows the new
    registration."""
    s = consul()
    m = start(microd, s)
    svc = mine("back", 7601)
    register_ctl(m, svc, "20s")
    wait_for(lambda: s.check_status("service:back-1") == "passing", 5)
    failed = deregistrations_fail(s, how)
    m.ctl("deregister", "-", input=json.dumps(svc))
    wait_for(lambda: len(failed) >= (2 if how == "refused" else 1), 10,
             what="deregistration failing")
    seen = len(s.requests)
    register_ctl(m, svc, "20s")
    # a deregistration still out is waited for (5 s at most), then the
    # node registered again and its check passed
    wait_for(lambda: any(p.startswith("/v1/agent/check/pass/")
                         for _, p in s.requests[seen:]), 15,
             what="registered and passed again")
    s.fail_if = lambda method, path: None
    s.stall_if = lambda method, path: False
    # past the longest retry delay (2 s): nothing deregisters it
    until = time.monotonic() + 3
    while time.monotonic() < until:
        assert "back-1" in s.services
        time.sleep(0.05)
    assert [p for _, p in s.requests[last_register(s):]
            if "/deregister/" in p] == []
    assert s.check_status("service:back-1") == "passing"
