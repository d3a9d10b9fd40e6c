"""The etcd registry plugin against a real etcd (Debian's etcd-server).

microd loads plugins/registry-etcd.so; MICROD_PLUGIN_DIR points it at
the build tree.
"""
import base64
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import (BUILDDIR, Heartbeat, accept_loop, http, signal_pid,
                      wait_for)
from conftest import register_ctl as register
from etcdfix import ETCD, ETCDCTL, Etcd, GatewayProxy, TcpCut, service
from gwnodes import FakeNode
from gwnodes import register as sidecar_register
from test_master import generation_serving
from test_store import mounts, read_only  # noqa: F401 (a fixture)

PREFIX = "/micro/registry/"
PLUGIN_ENV = {"MICROD_PLUGIN_DIR": os.path.join(BUILDDIR, "plugins")}

pytestmark = pytest.mark.skipif(not os.path.exists(ETCD),
                                reason="etcd-server is not installed")


@pytest.fixture
def etcd(tmp_path):
    made = []

    def make(n=1, name="etcd"):
        e = Etcd(tmp_path, n, name)
        made.append(e)
        return e
    yield make
    for e in made:
        e.close()


def conf(address, ttl="10s"):
    return "[registry]\nbackend = etcd\naddress = %s\nttl = %s\n" % (
        address, ttl)


def start(microd, address, **kw):
    return microd(extra=conf(address, kw.pop("ttl", "10s")),
                  env=PLUGIN_ENV, workers={"web": 0, "broker": 0}, **kw)


def node_ids(m, name):
    r = m.ctl("--json", "service", name, check=False)
    if r.returncode != 0:
        return set()
    return {n["id"] for v in json.loads(r.stdout) for n in v["nodes"]}


def registry_status(m):
    return m.status()["registry"]


def put(e, svc, **kw):
    e.ctl("put", PREFIX + svc["name"] + "/" + svc["nodes"][0]["id"],
          json.dumps(svc), **kw)


def test_etcdctl_put_visible_then_delete(etcd, microd):
    e = etcd()
    m = start(microd, e.address())
    put(e, service("go.micro.srv.greeter", "greeter-1", 9091))
    t0 = time.monotonic()
    wait_for(lambda: node_ids(m, "go.micro.srv.greeter") == {"greeter-1"},
             1.0, what="etcd put visible within 1 s")
    assert time.monotonic() - t0 < 1.0
    st = registry_status(m)
    assert st["backend"] == "etcd" and st["connected"]
    assert st["revision"] >= e.revision() - 1
    e.ctl("del", PREFIX + "go.micro.srv.greeter/greeter-1")
    wait_for(lambda: node_ids(m, "go.micro.srv.greeter") == set(), 1.0,
             what="etcd delete visible")


def rpc(m, name):
    body = json.dumps({"service": name, "endpoint": "Say.Hello",
                       "request": {"name": "John"}}).encode()
    return http("POST", m.url("api", "/rpc"), body,
                {"Content-Type": "application/json"}, timeout=1)


def rpc_until(m, name, want, what):
    """Call until the gateway answers want, at most 1 s from now."""
    t0 = time.monotonic()
    _, _, body = wait_for(lambda: (r := rpc(m, name))[0] == want and r,
                          1.0, what=what)
    assert time.monotonic() - t0 < 1.0
    return json.loads(body)


def test_etcdctl_put_routable_then_delete_not_found(etcd, microd):
    e = etcd()
    m = start(microd, e.address())
    node = FakeNode(lambda h, b: (200, {"Content-Type": "application/json"},
                                  b'{"msg":"Hello John"}'))
    try:
        name = "go.micro.srv.routed"
        assert rpc(m, name)[0] == 404
        put(e, service(name, "routed-1",
                       int(node.address.rsplit(":", 1)[1])))
        assert rpc_until(m, name, 200, "etcd put routable within 1 s") == {
            "msg": "Hello John"}
        method, path, _, sent = node.requests[-1]
        assert (method, path) == ("POST", "/")
        assert json.loads(sent) == {"name": "John"}
        # The watch message's age when its change reached shm.
        assert registry_status(m)["lag_ms"] < 1000
        e.ctl("del", PREFIX + name + "/routed-1")
        err = rpc_until(m, name, 404, "etcd delete unroutable within 1 s")
        assert err["detail"] == "service not found"
    finally:
        node.close()


def test_old_prefix_and_2016_port_form(etcd, microd):
    e = etcd()
    m = microd(extra=conf(e.address()) + "prefix = /micro-registry\n",
               env=PLUGIN_ENV, workers={"web": 0, "broker": 0})
    old = {"name": "go.micro.srv.old", "version": "0.1",
           "nodes": [{"id": "old-1", "address": "127.0.0.1", "port": 9000}]}
    e.ctl("put", "/micro-registry/go.micro.srv.old/old-1", json.dumps(old))
    wait_for(lambda: node_ids(m, "go.micro.srv.old") == {"old-1"}, 2)
    out = m.ctl_json("service", "go.micro.srv.old")
    assert out[0]["nodes"][0]["address"] == "127.0.0.1:9000"
    # What microd writes there is in that form too, for 2016 clients.
    register(m, service("go.micro.srv.new", "new-1", 7005))
    value, _ = wait_for(
        lambda: e.kvs("/micro-registry/").get(
            "/micro-registry/go.micro.srv.new/new-1"), 2,
        what="key written under the 2016 prefix")
    node = value["nodes"][0]
    assert (node["address"], node["port"]) == ("127.0.0.1", 7005)
    wait_for(lambda: node_ids(m, "go.micro.srv.new") == {"new-1"}, 2)
    out = m.ctl_json("service", "go.micro.srv.new")
    assert out[0]["nodes"][0]["address"] == "127.0.0.1:7005"


def test_register_writes_key_with_lease_clean_stop_deletes(etcd, microd):
    e = etcd()
    m = start(microd, e.address())
    svc = service("go.micro.srv.mine", "mine-1", 7001)
    register(m, svc)
    key = PREFIX + "go.micro.srv.mine/mine-1"
    kv = wait_for(lambda: e.kvs().get(key), 2, what="key written")
    value, lease = kv
    assert lease != 0
    assert value["nodes"][0]["id"] == "mine-1"
    assert value["nodes"][0]["address"] == "127.0.0.1:7001"
    ttl = e.ctl("lease", "timetolive", "%x" % lease)
    assert "remaining" in ttl, ttl
    m.stop()
    assert m.proc.returncode == 0
    assert key not in e.kvs()


def test_ttl_change_moves_the_key_without_deleting_it(etcd, microd):
    """A new TTL puts the key on another lease. The old lease, revoked,
    deletes what is still on it: it is let go only after the put on the
    new one, so the key is never deleted (its create_revision stays) and
    watchers never see the node go."""
    e = etcd()
    m = start(microd, e.address())
    svc = service("go.micro.srv.move", "move-1", 7003)
    key = PREFIX + "go.micro.srv.move/move-1"

    def created():
        out = json.loads(e.ctl("get", key, "-w", "json"))
        return [(int(kv["create_revision"]), int(kv.get("lease", 0)))
                for kv in out.get("kvs", [])]
    register(m, svc, "60s")
    [(born, lease)] = wait_for(created, what="key written")
    for ttl in ("90s", "60s", "90s", "60s", "90s"):
        old = lease
        register(m, svc, ttl)
        [(again, lease)] = wait_for(
            lambda: [c for c in created() if c[1] != old],
            what="key on the %s lease" % ttl)
        assert again == born, "the key was deleted and put again"
        wait_for(lambda: e.ctl("lease", "timetolive", "%x" % old,
                               check=False).find("remaining") < 0,
                 what="old lease revoked")
    assert "deleted in etcd" not in m.read_log()


def watch_lines(e, prefix, rev):
    """etcdctl watch from rev on: its process and the lines so far."""
    w = subprocess.Popen([ETCDCTL, "--endpoints", e.address(), "watch",
                          "--prefix", prefix, "--rev", str(rev)],
                         stdout=subprocess.PIPE, text=True,
                         env=dict(os.environ, ETCDCTL_API="3"))
    lines = []

    def read():
        for line in w.stdout:
            lines.append(line.rstrip("\n"))
    threading.Thread(target=read, daemon=True).start()
    return w, lines


def deleted_while(e, act):
    """Keys an etcd watch of /micro/ saw deleted while act() ran."""
    end = "/micro/end-of-watch"     # outside the registry prefix
    w, lines = watch_lines(e, "/micro/", e.revision() + 1)
    try:
        act()
        e.ctl("put", end, "x")
        wait_for(lambda: end in lines, what="watch caught up")
    finally:
        w.kill()
        w.wait()
    return [k for t, k in zip(lines, lines[1:]) if t == "DELETE"]


def lease_ttl(e, lease):
    out = e.ctl("lease", "timetolive", "%x" % lease, "-w", "json")
    return int(json.loads(out)["granted-ttl"])


def test_ttl_changes_within_a_round_trip_never_delete_the_key(etcd, microd):
    """TTLs changed back to back, faster than etcd answers, through the
    sidecar: a lease the key is leaving is revoked only once a put that
    moved the key off it is stored, never the one the key is on, so
    watchers see no DELETE; the key ends on the last TTL's lease and the
    leases it left are revoked."""
    e = etcd()
    m = start(microd, e.address())
    svc = service("go.micro.srv.burst", "burst-1", 7008)
    key = PREFIX + "go.micro.srv.burst/burst-1"
    sidecar_register(m, svc, "60s")
    wait_for(lambda: key in e.kvs(), what="key written")

    def bursts():
        # A round trip lasts a few ms: gaps of 0 to 3 ms between the
        # changes land them before, inside and after it.
        for burst in range(20):
            for ttl in ("61s", "62s", "63s", "64s"):
                sidecar_register(m, svc, ttl)
                time.sleep(burst % 4 / 1000)
        # The burst's puts land after its requests return: wait until the
        # key sits on a 64s lease and every lease it left is revoked,
        # reading the key's lease afresh each time. Lease IDs compare as
        # numbers: etcdctl lists them zero-padded.
        seen = []

        def settled():
            lease = e.kvs()[key][1]
            seen[:] = [(x, e.ctl("lease", "timetolive", x, "--keys").strip())
                       for x in e.ctl("lease", "list").split()[3:]
                       if int(x, 16) != lease]
            return lease_ttl(e, lease) == 64 and not seen
        try:
            wait_for(settled, 30, 0.1, "the key on a 64s lease, alone")
        except AssertionError:
            raise AssertionError("leases left: %r" % seen)
    assert deleted_while(e, bursts) == [], "the key was deleted"
    assert "deleted in etcd" not in m.read_log()


def test_lease_kept_alive_then_expires_after_sigkill(etcd, microd):
    e = etcd()
    m = start(microd, e.address())
    svc = service("go.micro.srv.ka", "ka-1", 7002)
    key = PREFIX + "go.micro.srv.ka/ka-1"
    # A client heartbeat: the same registration every second, 3 s TTL.
    # The value does not change, so only the keepalives keep the key.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        register(m, svc, "3s")
        time.sleep(1)
        assert key in e.kvs()
    lease = e.kvs()[key][1]
    m.kill_all()
    wait_for(lambda: key not in e.kvs(), 8, 0.2, "key expired with lease")
    assert "expired" in e.ctl("lease", "timetolive", "%x" % lease)


def test_two_microd_on_one_etcd(etcd, microd):
    e = etcd()
    a = start(microd, e.address(), name="a")
    b = start(microd, e.address(), name="b")
    register(a, service("go.micro.srv.one", "one-1", 7003))
    register(b, service("go.micro.srv.two", "two-1", 7004))
    wait_for(lambda: node_ids(b, "go.micro.srv.one") == {"one-1"}, 2)
    wait_for(lambda: node_ids(a, "go.micro.srv.two") == {"two-1"}, 2)
    a.stop()
    wait_for(lambda: node_ids(b, "go.micro.srv.one") == set(), 2,
             what="a's registration gone from b")


def test_etcd_down_5s_keeps_serving_and_converges(etcd, microd):
    e = etcd()
    m = start(microd, e.address())
    put(e, service("go.micro.srv.remote", "r-1", 7005))
    register(m, service("go.micro.srv.local", "l-1", 7006))
    wait_for(lambda: node_ids(m, "go.micro.srv.remote") == {"r-1"}, 2)
    e.stop()
    seen_down = False
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        # No failed lookup while etcd is away.
        assert node_ids(m, "go.micro.srv.remote") == {"r-1"}
        assert node_ids(m, "go.micro.srv.local") == {"l-1"}
        st = registry_status(m)
        seen_down = seen_down or not st["connected"]
        time.sleep(0.1)
    assert seen_down, "sync state never showed the outage"
    # Registered while etcd was away: written once it is back.
    register(m, service("go.micro.srv.during", "d-1", 7007))
    e.start()
    e.wait_healthy()
    wait_for(lambda: registry_status(m)["connected"], 10, what="reconnect")
    wait_for(lambda: PREFIX + "go.micro.srv.during/d-1" in e.kvs(), 5,
             what="registration made during the outage written")
    assert PREFIX + "go.micro.srv.local/l-1" in e.kvs()
    put(e, service("go.micro.srv.after", "a-1", 7008))
    wait_for(lambda: node_ids(m, "go.micro.srv.after") == {"a-1"}, 2)


def test_compaction_relists(etcd, microd):
    e = etcd()
    cut = TcpCut(e.members[0]["client"])
    try:
        m = start(microd, "127.0.0.1:%d" % cut.port)
        put(e, service("go.micro.srv.gone", "g-1", 7009))
        put(e, service("go.micro.srv.kept", "k-1", 7010))
        wait_for(lambda: node_ids(m, "go.micro.srv.gone") == {"g-1"}, 2)
        cut.cut()
        wait_for(lambda: not registry_status(m)["connected"], 5)
        # While microd is away: a delete and a put, then the history of
        # both is compacted, so resuming the watch is impossible.
        e.ctl("del", PREFIX + "go.micro.srv.gone/g-1")
        put(e, service("go.micro.srv.new", "n-1", 7011))
        put(e, service("go.micro.srv.kept", "k-1", 7012))
        e.ctl("compact", str(e.revision()))
        cut.restore()
        wait_for(lambda: node_ids(m, "go.micro.srv.new") == {"n-1"}, 5,
                 what="relist after compaction")
        assert node_ids(m, "go.micro.srv.gone") == set()
        kept = m.ctl_json("service", "go.micro.srv.kept")
        assert kept[0]["nodes"][0]["address"] == "127.0.0.1:7012"
        assert "compacted" in m.read_log()
    finally:
        cut.close()


def test_three_members_one_killed(etcd, microd):
    e = etcd(3)
    m = start(microd, e.address())
    put(e, service("go.micro.srv.c", "c-1", 7013))
    wait_for(lambda: node_ids(m, "go.micro.srv.c") == {"c-1"}, 3)
    # microd talks to the first endpoint: kill that member.
    e.stop(0, signal.SIGKILL)
    # The survivors may still be electing a leader: retry the put.
    wait_for(lambda: put(e, service("go.micro.srv.c2", "c2-1", 7014),
                         member=1) or True, 10, 0.2, "put via member 1")
    wait_for(lambda: node_ids(m, "go.micro.srv.c2") == {"c2-1"}, 10,
             what="sync continued through another member")
    register(m, service("go.micro.srv.c3", "c3-1", 7015))
    wait_for(lambda: PREFIX + "go.micro.srv.c3/c3-1" in kvs_via(e, 1), 10,
             what="registration written through another member")


def test_silent_endpoint_fails_over(etcd, microd):
    """An endpoint that accepts and never answers is given up after the
    request timeout: the next one is used."""
    e = etcd()
    silent = TcpCut(e.members[0]["client"])
    silent.freeze()
    try:
        m = start(microd, "127.0.0.1:%d,%s" % (silent.port, e.address()))
        put(e, service("go.micro.srv.s", "s-1", 7016))
        wait_for(lambda: node_ids(m, "go.micro.srv.s") == {"s-1"}, 20,
                 what="listed through the second endpoint")
        assert registry_status(m)["connected"]
    finally:
        silent.close()


def test_endpoint_frozen_while_watching_fails_over(etcd, microd):
    """A watch on an endpoint gone silent (open connection, no answer)
    is noticed, with or without registrations to keep alive: the plugin
    moves to the next endpoint, sees changes and keeps its lease."""
    e = etcd()
    first = TcpCut(e.members[0]["client"])
    try:
        m = start(microd, "127.0.0.1:%d,%s" % (first.port, e.address()),
                  ttl="5s")
        put(e, service("go.micro.srv.f", "f-1", 7017))
        wait_for(lambda: node_ids(m, "go.micro.srv.f") == {"f-1"}, 5)
        first.freeze()
        put(e, service("go.micro.srv.f", "f-2", 7018))
        wait_for(lambda: node_ids(m, "go.micro.srv.f") == {"f-1", "f-2"},
                 20, what="change seen through the second endpoint")
        mine = service("go.micro.srv.mine", "mine-1", 7019)
        register(m, mine, ttl="4s")
        key = PREFIX + "go.micro.srv.mine/mine-1"
        wait_for(lambda: key in e.kvs(), 10, what="registration written")
        lease = e.kvs()[key][1]
        # Heartbeats as a client sends them: the lease is kept alive past
        # its TTL through the endpoint that answers.
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            register(m, mine, ttl="4s")
            assert key in e.kvs(), "lease lapsed"
            time.sleep(0.5)
        assert e.kvs()[key][1] == lease
        assert "not answering" in m.read_log()
    finally:
        first.close()


def kvs_via(e, member):
    out = e.ctl("get", "--prefix", PREFIX, "--keys-only", member=member)
    return out.split()


def gateway_put(e, key, value):
    """A raw put through etcd's v3 JSON gateway: any bytes, NUL included."""
    body = json.dumps({"key": base64.b64encode(key.encode()).decode(),
                       "value": base64.b64encode(value).decode()}).encode()
    status, _, out = http("POST", "http://127.0.0.1:%d/v3/kv/put" %
                          e.members[0]["client"], body,
                          {"Content-Type": "application/json"})
    assert status == 200, out


def test_unusable_key_is_skipped_not_fatal(etcd, microd):
    e = etcd()
    m = start(microd, e.address())
    wait_for(lambda: registry_status(m)["connected"], what="connected")
    # Anyone can write under the prefix; one key used to stop the watch
    # at its revision for ever (and the listing after a restart).
    gateway_put(e, PREFIX + "junk/x", b'{"name":"junk"}\x00garbage')
    put(e, service("go.micro.srv.after", "after-1", 9091))
    wait_for(lambda: node_ids(m, "go.micro.srv.after") == {"after-1"},
             what="the service put after the bad key")
    m.stop()
    m.start()
    put(e, service("go.micro.srv.later", "later-1", 9092))
    wait_for(lambda: node_ids(m, "go.micro.srv.later") == {"later-1"} and
             node_ids(m, "go.micro.srv.after") == {"after-1"},
             what="both services after a restart (list, then watch)")
    assert "key ignored" in m.read_log()


def test_own_key_deleted_elsewhere_is_put_back(etcd, microd):
    e = etcd()
    m = start(microd, e.address())
    register(m, service("go.micro.srv.kept", "kept-1", 7001))
    key = PREFIX + "go.micro.srv.kept/kept-1"
    wait_for(lambda: key in e.kvs(), what="key written")
    # etcdctl (or another host with the same node id) deletes it while
    # it is still registered here: it must come back, on a lease.
    e.ctl("del", key)
    kv = wait_for(lambda: e.kvs().get(key), what="key put back")
    assert kv[1] != 0
    assert node_ids(m, "go.micro.srv.kept") == {"kept-1"}
    assert "putting it back" in m.read_log()
    # Our own deregistration is not undone.
    m.ctl("deregister", "-", input=json.dumps(
        service("go.micro.srv.kept", "kept-1", 7001)))
    wait_for(lambda: key not in e.kvs(), what="key deleted by us")
    wait_for(lambda: node_ids(m, "go.micro.srv.kept") == set(),
             what="node gone here too")
    assert key not in e.kvs()


def test_store_behind_a_seen_revision_is_listed_again(etcd, microd):
    e = etcd()
    m = start(microd, e.address())
    for i in range(5):
        put(e, service("go.micro.srv.old", "old-%d" % i, 9100 + i))
    wait_for(lambda: len(node_ids(m, "go.micro.srv.old")) == 5,
             what="five nodes")
    # The data dir is lost: a new store on the same address, same cluster
    # id, revisions from 1 again. Watching from the old revision would
    # miss its first changes and keep nodes it no longer has.
    e.stop(0, signal.SIGKILL)
    shutil.rmtree(e.members[0]["data"])
    e.start(0)
    e.wait_healthy()
    put(e, service("go.micro.srv.new", "new-1", 9200))
    wait_for(lambda: node_ids(m, "go.micro.srv.new") == {"new-1"} and
             node_ids(m, "go.micro.srv.old") == set(),
             timeout=20, what="the new store's content only")
    assert "listing again" in m.read_log()


def test_listing_is_paged(etcd, microd):
    e = etcd()
    # More than two pages of ETCD_RANGE_PAGE (500), and more in all than
    # one HTTP body may hold (16 MiB): one range could not list it.
    n = 1100
    for i in range(n):
        svc = service("go.micro.srv.p%04d" % i, "p-%d" % i, 9000)
        svc["metadata"] = {"pad": "x" * 16000}
        gateway_put(e, PREFIX + svc["name"] + "/p-%d" % i,
                    json.dumps(svc).encode())
    m = start(microd, e.address())
    wait_for(lambda: registry_status(m)["services"] == n, timeout=30,
             what="every service listed")
    assert "%d keys listed" % n in m.read_log()
    assert node_ids(m, "go.micro.srv.p1099") == {"p-1099"}


def test_large_catch_up_after_an_outage(etcd, microd):
    e = etcd()
    cut = TcpCut(e.members[0]["client"])
    try:
        m = start(microd, "127.0.0.1:%d" % cut.port)
        wait_for(lambda: registry_status(m)["connected"], what="connected")
        cut.cut()
        wait_for(lambda: not registry_status(m)["connected"], 5)
        # While microd is away: 12 legal 1.1 MB values. The watch would
        # send them as one message above its 8 MiB limit, from the same
        # revision every time, and a page of 500 keys of them is above
        # the 16 MiB HTTP limit.
        big = json.dumps(dict(service("go.micro.srv.big", "pad", 1),
                              pad="x" * 1100000)).encode()
        for i in range(12):
            gateway_put(e, PREFIX + "go.micro.srv.big/b-%d" % i, big)
        put(e, service("go.micro.srv.small", "s-1", 9091))
        cut.restore()
        wait_for(lambda: node_ids(m, "go.micro.srv.small") == {"s-1"},
                 timeout=30, what="the catch-up, through a paged listing")
        log = m.read_log()
        assert "listing again" in log and "keys per page" in log
        m.stop()
        m.start()   # a listing from scratch meets the large page at once
        wait_for(lambda: registry_status(m)["connected"] and
                 node_ids(m, "go.micro.srv.small") == {"s-1"}, timeout=30,
                 what="listed after a restart")
    finally:
        cut.close()


def versions(m, name):
    r = m.ctl("--json", "service", name, check=False)
    if r.returncode != 0:
        return {}
    return {v["version"]: {n["id"] for n in v["nodes"]}
            for v in json.loads(r.stdout)}


def test_value_replaces_what_its_key_held(etcd, microd):
    """A key is one node of one service: a new value replaces the old one
    wherever it was, and a value that is not that node removes it."""
    e = etcd()
    m = start(microd, e.address())
    key = PREFIX + "go.micro.srv.k/k-1"
    put(e, service("go.micro.srv.k", "k-1", 9091, version="1.0.0"))
    wait_for(lambda: versions(m, "go.micro.srv.k") == {"1.0.0": {"k-1"}},
             what="k-1 in 1.0.0")
    # The node moved to another version: not in both.
    put(e, service("go.micro.srv.k", "k-1", 9091, version="2.0.0"))
    wait_for(lambda: versions(m, "go.micro.srv.k") == {"2.0.0": {"k-1"}},
             what="k-1 in 2.0.0 only")
    # Garbage under the key: the node it held is gone.
    gateway_put(e, key, b"not json")
    wait_for(lambda: versions(m, "go.micro.srv.k") == {},
             what="k-1 gone after garbage")
    # A value naming another service or node: no ghost anywhere.
    put(e, service("go.micro.srv.k", "k-1", 9091))
    wait_for(lambda: versions(m, "go.micro.srv.k") == {"1.0.0": {"k-1"}},
             what="k-1 back")
    e.ctl("put", key, json.dumps(service("go.micro.srv.ghost", "g-1", 9092)))
    wait_for(lambda: versions(m, "go.micro.srv.k") == {},
             what="k-1 gone after a value for another service")
    assert versions(m, "go.micro.srv.ghost") == {}
    assert key + ": value is not the node its key names" in m.read_log()
    # The node, but too large: refused for that, and said so (it was
    # called "not the node its key names").
    put(e, service("go.micro.srv.k", "k-1", 9091))
    wait_for(lambda: versions(m, "go.micro.srv.k") == {"1.0.0": {"k-1"}},
             what="k-1 back again")
    big = service("go.micro.srv.k", "k-1", 9091)
    big["nodes"][0]["metadata"] = {"pad": "x" * 70000}
    gateway_put(e, key, json.dumps(big).encode())
    wait_for(lambda: versions(m, "go.micro.srv.k") == {},
             what="k-1 gone after a value too large")
    log = m.read_log()
    assert "larger than 65536 bytes" in log
    assert key + ": value refused (the line before says why)" in log


def test_token_forgotten_by_an_etcd_restart_is_renewed(etcd, microd):
    """etcd keeps simple tokens in memory: after it restarts, the watch
    is refused with "invalid auth token" (in the stream, under HTTP
    200). The token must be dropped and a new one asked for, or the
    plugin retries the dead one for ever."""
    e = etcd()
    root = ("--user", "root:rootpw")
    e.ctl("user", "add", "root:rootpw")
    e.ctl("user", "grant-role", "root", "root")
    e.ctl("auth", "enable")
    m = microd(extra=conf(e.address()) +
               "username = root\npassword = rootpw\n", env=PLUGIN_ENV,
               workers={"web": 0, "broker": 0})
    register(m, service("go.micro.srv.mine", "mine-1", 7001))
    key = PREFIX + "go.micro.srv.mine/mine-1"
    wait_for(lambda: key in e.ctl(*root, "get", key),
             what="registration written")
    e.stop()
    wait_for(lambda: not registry_status(m)["connected"], 10,
             what="outage seen")
    e.start()
    wait_for(lambda: e.run(*root, "endpoint", "health").returncode == 0,
             20, 0.1, "etcd back")
    wait_for(lambda: registry_status(m)["connected"], 20,
             what="connected again")
    svc = service("go.micro.srv.after", "after-1", 7002)
    e.ctl(*root, "put", PREFIX + "go.micro.srv.after/after-1",
          json.dumps(svc))
    wait_for(lambda: node_ids(m, "go.micro.srv.after") == {"after-1"},
             what="a put after the restart seen")
    assert key in e.ctl(*root, "get", key)


def test_deregistered_while_away_is_deleted_once_back(etcd, microd):
    """A node deregistered while etcd is unreachable must leave the
    store once it is back: its lease, shared with the host's other
    nodes of that TTL, is kept alive, so nothing else would ever delete
    the key, and every other host would keep routing to it."""
    e = etcd()
    cut = TcpCut(e.members[0]["client"])
    try:
        m = start(microd, "127.0.0.1:%d" % cut.port)
        other = start(microd, e.address(), name="other")
        gone = service("go.micro.srv.pair", "gone-1", 7101)
        stay = service("go.micro.srv.pair", "stay-1", 7102)
        register(m, gone)
        register(m, stay)
        key = PREFIX + "go.micro.srv.pair/gone-1"
        wait_for(lambda: node_ids(other, "go.micro.srv.pair") ==
                 {"gone-1", "stay-1"}, what="both nodes seen by the other")
        cut.cut()
        wait_for(lambda: not registry_status(m)["connected"], 10,
                 what="outage seen")
        m.ctl("deregister", "-", input=json.dumps(gone))
        cut.restore()
        wait_for(lambda: registry_status(m)["connected"], 20,
                 what="connected again")
        wait_for(lambda: key not in e.kvs(), 10,
                 what="the key deregistered while away deleted")
        wait_for(lambda: node_ids(other, "go.micro.srv.pair") ==
                 {"stay-1"}, what="the other host sees it gone")
        assert PREFIX + "go.micro.srv.pair/stay-1" in e.kvs()
    finally:
        cut.close()


def test_clean_stop_with_etcd_stalled_is_bounded(etcd, microd):
    """A clean stop revokes this host's leases, bounded in time: with
    etcd stalled (SIGSTOP: connections accepted, nothing answered) and a
    lease per TTL, waiting a second for each lease in turn kept the
    worker until the master killed it at shutdown_timeout (5 s)."""
    e = etcd()
    m = start(microd, e.address())
    keys = []
    for i in range(8):
        svc = service("go.micro.srv.ttl%d" % i, "t-%d" % i, 7200 + i)
        register(m, svc, "%ds" % (61 + i))
        keys.append(PREFIX + svc["name"] + "/t-%d" % i)
    wait_for(lambda: all(k in e.kvs() for k in keys), what="keys written")
    proc = e.members[0]["proc"]
    proc.send_signal(signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        m.stop()
        took = time.monotonic() - t0
    finally:
        proc.send_signal(signal.SIGCONT)
    assert m.proc.returncode == 0
    assert took < 4, "clean stop took %.1f s" % took
    assert "did not stop in time" not in m.read_log()
    assert "8 leases not revoked" in m.read_log()


# A lease ticks at a third of its TTL: a retry that waits for the tick
# comes 20 s later, one on its own timer within a few seconds.
RETRY_TTL = "60s"
SOON = 6


def log_text(m):
    with open(m.log, errors="replace") as f:
        return f.read()


def proxied(etcd, microd):
    e = etcd()
    p = GatewayProxy(e.members[0]["client"])
    m = start(microd, "127.0.0.1:%d" % p.port)
    wait_for(lambda: m.status()["registry"]["connected"], 10,
             what="connected through the proxy")
    return e, p, m


def fail_three(p, m, path):
    """Fail path until three requests for it were refused; the watch stays
    up all along."""
    p.set_fail(path)
    wait_for(lambda: p.count(path) >= 3, SOON, 0.05,
             what="three %s refused, retried on a timer" % path)
    p.set_fail()
    assert m.status()["registry"]["connected"]


def test_failed_delete_retried_while_connected(etcd, microd):
    """A delete etcd refuses, the watch still up, is tried again soon:
    the node's lease is shared with a node that stays, so nothing else
    removes its key, and every other host keeps routing to a dead node.
    The failures are one warning naming the key, and one line when the
    writes are stored again."""
    e, p, m = proxied(etcd, microd)
    try:
        gone = service("go.micro.srv.pair", "gone-1", 7101)
        stay = service("go.micro.srv.pair", "stay-1", 7102)
        register(m, gone, RETRY_TTL)
        register(m, stay, RETRY_TTL)
        key = PREFIX + "go.micro.srv.pair/gone-1"
        wait_for(lambda: key in e.kvs(), what="key written")
        p.set_fail("/v3/kv/deleterange")
        m.ctl("deregister", "-", input=json.dumps(gone))
        fail_three(p, m, "/v3/kv/deleterange")
        wait_for(lambda: key not in e.kvs(), SOON,
                 what="the delete retried once etcd takes it")
        assert PREFIX + "go.micro.srv.pair/stay-1" in e.kvs()
        log = log_text(m)
        assert log.count("HTTP 503: injected failure") == 1, log
        assert "delete %s: HTTP 503" % key in log
        wait_for(lambda: "stored again" in log_text(m), SOON,
                 what="the end of the failures logged")
    finally:
        p.close()


def test_failed_put_retried_while_connected(etcd, microd):
    """A registration whose put etcd refuses is written soon after etcd
    takes puts again, not at the lease's next keepalive."""
    e, p, m = proxied(etcd, microd)
    try:
        p.set_fail("/v3/kv/put")
        register(m, service("go.micro.srv.late", "late-1", 7103),
                 RETRY_TTL)
        fail_three(p, m, "/v3/kv/put")
        key = PREFIX + "go.micro.srv.late/late-1"
        wait_for(lambda: key in e.kvs(), SOON, what="the put retried")
        assert "put %s: HTTP 503" % key in log_text(m)
    finally:
        p.close()


def test_failed_lease_grant_retried_while_connected(etcd, microd):
    """A lease grant etcd refuses is asked again soon: the registration
    waiting for it is written, not a third of its TTL later."""
    e, p, m = proxied(etcd, microd)
    try:
        p.set_fail("/v3/lease/grant")
        register(m, service("go.micro.srv.lg", "lg-1", 7104), RETRY_TTL)
        fail_three(p, m, "/v3/lease/grant")
        key = PREFIX + "go.micro.srv.lg/lg-1"
        wait_for(lambda: key in e.kvs(), SOON, what="the grant retried")
        assert "lease grant (60s TTL): HTTP 503" in log_text(m)
    finally:
        p.close()


def test_failed_keepalive_retried_before_the_lease_expires(etcd, microd):
    """Keepalives etcd refuses three times in a row are tried again soon:
    on the ticks alone (every 1 s for a 3 s TTL) the third refusal came
    as the lease ran out, and the key went from every host."""
    e, p, m = proxied(etcd, microd)
    beat = Heartbeat(m, service("go.micro.srv.ka", "ka-1", 7105), "3s")
    try:
        key = PREFIX + "go.micro.srv.ka/ka-1"
        wait_for(lambda: key in e.kvs(), what="key written")
        lease = e.kvs()[key][1]
        fail_three(p, m, "/v3/lease/keepalive")
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            assert e.kvs().get(key, (None, 0))[1] == lease, "lease lapsed"
            time.sleep(0.1)
        assert "lease %x keepalive: HTTP 503" % lease in log_text(m)
    finally:
        beat.close()
        p.close()


def test_put_on_a_revoked_lease_grants_another_at_once(etcd, microd):
    """Someone revokes our lease (etcdctl lease revoke): its keys go, the
    plugin puts them back, and etcd refuses the put, "lease not found".
    Another lease is granted then, not at the old one's next tick."""
    e = etcd()
    m = start(microd, e.address())
    key = PREFIX + "go.micro.srv.rv/rv-1"
    register(m, service("go.micro.srv.rv", "rv-1", 7106), RETRY_TTL)
    lease = wait_for(lambda: e.kvs().get(key), what="key written")[1]
    e.ctl("lease", "revoke", "%x" % lease)
    kv = wait_for(lambda: e.kvs().get(key), SOON, what="key put back")
    assert kv[1] not in (0, lease)
    assert node_ids(m, "go.micro.srv.rv") == {"rv-1"}


def test_hostile_key_logged_printable(etcd, microd):
    """A key written by anyone (here with a newline and an escape) is
    logged with its control characters shown as '?', cut: it cannot
    forge a line of microd's log."""
    e = etcd()
    m = start(microd, e.address())
    wait_for(lambda: m.status()["registry"]["connected"], what="connected")
    forged = "\n[forged] warn: x\x1b[2J" + "y" * 600
    gateway_put(e, PREFIX + "junk" + forged, b'{"name":"junk"}\x00z')
    wait_for(lambda: "key ignored" in log_text(m), what="key logged")
    log = log_text(m)
    assert "\n[forged]" not in log and "\x1b" not in log
    assert "junk?[forged] warn: x?[2J" in log
    assert "y" * 600 not in log


def test_etcd_relist_while_read_only_keeps_its_nodes(etcd, microd, mounts):
    """Only expiries go on while read-only: the backend's updates are
    refused, so its relist must not sweep the nodes it still has."""
    e = etcd()
    svc = service("go.micro.srv.remote", "remote-1", 9091)
    put(e, svc)
    m = start(microd, e.address())
    wait_for(lambda: node_ids(m, svc["name"]) == {"remote-1"},
             what="the etcd node")
    m.kill_all()
    read_only(mounts, m.dir / "state" / "registry.db")
    m.start()
    wait_for(lambda: m.read_log().count("1 keys listed") == 2,
             what="the relist")
    assert node_ids(m, svc["name"]) == {"remote-1"}
    # Said once, at the load: not again for each update refused.
    assert m.read_log().count("Read-only file system") == 1, m.read_log()


def start_info(microd, extra):
    return microd(extra="[microd]\nlog_level = info\n" + extra,
                  env=PLUGIN_ENV, workers={"web": 0, "broker": 0})


def test_wrong_password_is_logged_at_info(etcd, microd):
    """A refused password (or a missing CA file, etcd down at the start)
    before the first watch was logged at debug only, every 2 s; at the
    default level the log never said why nothing was registered. The
    first failure of a run is a warning now, the retries are not."""
    e = etcd()
    e.ctl("user", "add", "root:rootpw")
    e.ctl("auth", "enable")
    p = GatewayProxy(e.members[0]["client"])
    try:
        m = start_info(microd, conf("127.0.0.1:%d" % p.port) +
                       "username = root\npassword = wrong\n")
        wait_for(lambda: "authentication failed" in m.read_log(), 10,
                 what="the refused password in the log")
        wait_for(lambda: len(p.upstreams) >= 3, 15, what="retries")
        assert m.read_log().count("authentication failed") == 1
    finally:
        p.close()


def tls_listener(tmp_path):
    """A TLS server that only does handshakes, with a self-signed
    certificate. libcurl loads a CA file once the server's certificate
    is to be checked: before a plain HTTP etcd, the handshake's own
    failure came first (now and then), and the test with it."""
    key, cert = str(tmp_path / "key.pem"), str(tmp_path / "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "1",
                    "-subj", "/CN=127.0.0.1"], check=True,
                   capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)

    def handshake(conn):
        try:
            ctx.wrap_socket(conn, server_side=True).close()
        except (OSError, ssl.SSLError):
            conn.close()
    accept_loop(sock, handshake)
    return sock


def test_missing_ca_file_is_logged_at_info(microd, tmp_path):
    sock = tls_listener(tmp_path)
    try:
        m = start_info(microd, conf("127.0.0.1:%d" % sock.getsockname()[1])
                       + "tls_ca = %s/missing.pem\n" % tmp_path)
        wait_for(lambda: "missing.pem" in m.read_log(), 10,
                 what="the CA file's error in the log")
    finally:
        sock.close()


def test_credentials_set_before_auth_is_enabled(etcd, microd):
    """etcd's own clients go on without a token while auth is not enabled
    (412 "authentication is not enabled"), so credentials can be rolled
    out before "etcdctl auth enable". microd retried the authentication
    for good and never connected."""
    e = etcd()
    e.ctl("user", "add", "root:rootpw")
    e.ctl("role", "add", "root")
    e.ctl("user", "grant-role", "root", "root")
    m = microd(extra=conf(e.address()) +
               "username = root\npassword = rootpw\n",
               env=PLUGIN_ENV, workers={"web": 0, "broker": 0})
    register(m, service("go.micro.srv.early", "e-1", 7001))
    wait_for(lambda: PREFIX + "go.micro.srv.early/e-1" in e.kvs(), 10,
             what="written while auth is not enabled")
    e.ctl("auth", "enable")
    register(m, service("go.micro.srv.late", "l-1", 7002))
    wait_for(lambda: PREFIX + "go.micro.srv.late/l-1" in
             e.ctl("--user", "root:rootpw", "get", "--prefix",
                   "--keys-only", PREFIX).split(), 15,
             what="written once auth is enabled")
    # Each run of failed writes ends with one line, not two.
    log = m.read_log()
    assert log.count("writes stored again") <= log.count(": retrying"), log


def test_own_key_put_without_lease_is_put_back(etcd, microd):
    """One of this host's keys put by hand on no lease was never put
    right: other hosts routed to the hand-put address, and the key
    outlived microd's stop (a node nobody removes)."""
    e = etcd()
    m = start(microd, e.address())
    key = PREFIX + "go.micro.srv.own/o-1"
    register(m, service("go.micro.srv.own", "o-1", 7001))
    wait_for(lambda: key in e.kvs(), 5)
    put(e, service("go.micro.srv.own", "o-1", 7999))
    wait_for(lambda: e.kvs()[key][1] != 0, 5,
             what="our value back on a lease")
    assert e.kvs()[key][0]["nodes"][0]["address"] == "127.0.0.1:7001"
    m.stop()
    wait_for(lambda: key not in e.kvs(), 5, what="key gone with the stop")


@pytest.mark.parametrize("change", ["ttl", "endpoint"])
def test_reload_restarting_the_registry_worker_deletes_no_key(etcd,
                                                             microd, change):
    """A reload that changes [registry] ttl (or log_level, credentials)
    starts a new registry worker for the same store. The old one revoked
    its leases as at a stop: every other host saw this host's nodes
    vanish until the new one announced them again. It hands them over
    now: no DELETE, and the key ends on the new worker's lease. An
    endpoint added to the address list is the same store too (it was
    taken for another one)."""
    e = etcd()
    m = start(microd, e.address())
    key = PREFIX + "go.micro.srv.kept/k-1"
    register(m, service("go.micro.srv.kept", "k-1", 7001))
    wait_for(lambda: key in e.kvs(), what="key written")
    lease = e.kvs()[key][1]

    def reload():
        m.write_conf(extra=conf(e.address(), "11s") if change == "ttl" else
                     conf(e.address() + ",127.0.0.1:1"))
        m.ctl("reload")
        wait_for(lambda: generation_serving(m, 2), 20,
                 what="generation 2 serving")
        wait_for(lambda: e.kvs()[key][1] not in (0, lease), 20,
                 what="the key on the new worker's lease")
    assert deleted_while(e, reload) == [], "the key was deleted"
    assert "handing this host's registrations in etcd over" in \
        m.read_log()


def test_stop_during_a_handover_says_the_keys_stay(etcd, microd):
    """A stop before the new registry worker has taken over: nobody
    revokes this host's leases, which run out by themselves as after a
    crash. The log says so (it said nothing)."""
    e = etcd()
    m = start(microd, e.address(), ttl="30s")
    register(m, service("go.micro.srv.kept", "k-1", 7001))
    [reg] = [w["pid"] for w in m.workers_list()
             if w["role"] == "registry" and w["pid"]]
    signal_pid(reg, signal.SIGSTOP)     # the old one: slow to leave
    try:
        m.write_conf(extra=conf(e.address(), "31s"))
        m.ctl("reload")
        m.signal(signal.SIGTERM)
        wait_for(lambda: "stopping while a new registry worker takes "
                 "over: this host's registrations stay in etcd until their "
                 "TTL runs out" in m.read_log(), what="the warning")
    finally:
        signal_pid(reg, signal.SIGCONT)
    assert m.proc.wait(timeout=20) == 0


def test_node_registered_under_another_version_moves(etcd, microd):
    """A node id is one key whatever its version. Registered again under
    another version, the node stayed in the old one too, and when that
    copy expired or was deregistered its delete took the key the new
    version still used: other hosts lost the node."""
    e = etcd()
    a = start(microd, e.address(), name="a")
    b = start(microd, e.address(), name="b")
    name = "go.micro.srv.up"
    key = PREFIX + name + "/up-1"
    old = service(name, "up-1", 7500, version="1.0.0")
    old["nodes"].append(service(name, "short-1", 7501)["nodes"][0])
    register(a, old, "2s")
    register(a, service(name, "up-1", 7500, version="2.0.0"), "60s")
    assert versions(a, name) == {"1.0.0": {"short-1"}, "2.0.0": {"up-1"}}
    # short-1 runs out with the TTL the old copy of up-1 had.
    wait_for(lambda: versions(b, name) == {"2.0.0": {"up-1"}}, 10,
             what="the old version expired on b, up-1 in 2.0.0")
    assert e.kvs()[key][0]["version"] == "2.0.0"
    # Deregistered under the version it left: nothing of it to delete.
    register(a, service(name, "short-2", 7502), "60s")
    gone = service(name, "up-1", 7500, version="1.0.0")
    gone["nodes"].append(service(name, "short-2", 7502)["nodes"][0])
    a.ctl("deregister", "-", input=json.dumps(gone))
    wait_for(lambda: PREFIX + name + "/short-2" not in e.kvs(),
             what="short-2 deleted")
    assert key in e.kvs()
    assert versions(a, name) == versions(b, name) == {"2.0.0": {"up-1"}}


def test_store_leaves_nodes_registered_here_alone(etcd, microd):
    """Another owner's value for one of this host's keys (a put on its
    own lease) replaced this host's node, and the metadata of its
    version, with the store's."""
    e = etcd()
    m = start(microd, e.address())
    name = "go.micro.srv.own"
    mine = service(name, "own-1", 7400)
    mine["metadata"] = {"owner": "team-a"}
    register(m, mine, "30s")
    wait_for(lambda: PREFIX + name + "/own-1" in e.kvs(),
             what="key written")
    lease = e.ctl("lease", "grant", "60").split()[1]
    theirs = service(name, "own-1", 7401)
    theirs["metadata"] = {"owner": "team-b"}
    e.ctl("put", "--lease", lease, PREFIX + name + "/own-1",
          json.dumps(theirs))
    # A node of theirs in the same version, after it: once it is here,
    # so is the value before it.
    other = service(name, "other-1", 7402)
    other["metadata"] = {"owner": "team-b"}
    put(e, other)
    wait_for(lambda: versions(m, name) == {"1.0.0": {"own-1", "other-1"}},
             what="other-1 learned")
    [v] = m.ctl_json("service", name)
    addrs = {n["id"]: n["address"] for n in v["nodes"]}
    assert addrs == {"own-1": "127.0.0.1:7400", "other-1": "127.0.0.1:7402"}
    assert v["metadata"] == {"owner": "team-a"}


def test_value_refused_for_its_size_removes_the_node(etcd, microd):
    """A key's new value the registry refuses for its size (the name's
    shm record would pass its maximum) left the key's old node served,
    at its old address, until the next relist."""
    e = etcd()
    m = microd(extra="[microd]\nshm_size = 1M\n" + conf(e.address()),
               env=PLUGIN_ENV, workers={"web": 0, "broker": 0})
    name = "go.micro.srv.big"
    big = {"k%d" % i: "x" * 200 for i in range(30)}
    for i in range(3):
        s = service(name, "big-%d" % i, 9200 + i)
        s["nodes"][0]["metadata"] = big
        put(e, s)
    put(e, service(name, "mover", 9300))
    want = {"big-0", "big-1", "big-2", "mover"}
    wait_for(lambda: node_ids(m, name) == want, what="all four learned")
    s = service(name, "mover", 9301)
    s["nodes"][0]["metadata"] = dict(big, more="y" * 9000)
    put(e, s)
    wait_for(lambda: node_ids(m, name) == want - {"mover"},
             what="mover gone with its refused value")
    log = m.read_log()
    assert "service %s would take" % name in log
    assert PREFIX + name + "/mover: value refused" in log
