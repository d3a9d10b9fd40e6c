"""The registry's limits: what shm can never hold is the request's fault
(and a name too big for a smaller segment still loses nodes), a full
segment is said while it is full, and a locked registry.db keeps changes
refused until a write can really be made."""
import json
import sqlite3

from conftest import http, wait_for

SIDECAR_ONLY = {"api": 0, "web": 0, "broker": 0}


def service(name, node="n1", metadata=None):
    return {"name": name, "version": "1.0.0", "metadata": {},
            "endpoints": [],
            "nodes": [{"id": node, "address": "127.0.0.1:9091",
                       "metadata": metadata or {}}]}


def post(m, svc, method="POST"):
    return http(method, m.url("sidecar", "/registry"),
                json.dumps(svc).encode(),
                {"Content-Type": "application/json"})


def nodes_of(m, name):
    status, _, body = http("GET", m.url("sidecar",
                                        "/registry?service=" + name))
    if status != 200:
        return None
    return sorted(n["id"] for v in json.loads(body) for n in v["nodes"])


def test_service_past_the_shm_record_maximum_is_invalid(microd):
    """A service shm could never hold, however empty: 400 naming the
    limit, nothing stored, and no sign of a full segment (it was 500,
    "record larger than the shm maximum", and status said "full")."""
    m = microd(extra="[microd]\nshm_size = 1M\n", workers=SIDECAR_ONLY)
    assert post(m, service("big"))[0] == 200
    status, _, body = post(m, service("big", "n2", {"pad": "x" * 40000}))
    assert status == 400, body
    detail = json.loads(body)["detail"]
    assert "service big would take" in detail, detail
    assert "one service name may take there" in detail, detail
    assert "[microd] shm_size" in detail, detail
    limit = int(detail.split("more than the ")[1].split(" bytes")[0])
    assert 0 < limit < 40000
    assert nodes_of(m, "big") == ["n1"]
    reg = m.status()["registry"]
    assert (reg["full_errors"], reg["full"]) == (0, False)
    assert "registry full" not in m.ctl("status").stdout
    assert "shm:" not in m.read_log()
    # Nothing of it reached the file either.
    m.stop()
    m.start()
    assert nodes_of(m, "big") == ["n1"]


def test_name_too_big_for_a_smaller_segment_still_expires(microd):
    """A name stored under a larger shm_size, past the record maximum
    after it was lowered, is left out of shm at the load. Its expired
    node could not be pruned (refused for its size, each second, logged
    each time), and the expiry pass stopped there: nodes of the names
    after it were served past their TTL. Both expire now, and a
    deregistration from it is taken."""
    m = microd(extra="[microd]\nshm_size = 2M\n", workers=SIDECAR_ONLY)
    pad = {"pad": "x" * 15000}
    for k in range(4):
        ttl = "4s" if k == 3 else "600s"
        status, _, body = http("POST", m.url(
            "sidecar", "/registry?ttl=" + ttl), json.dumps(service(
                "a-big", "n%d" % k, pad)).encode())
        assert status == 200, body
    for node, ttl in (("gone", "4s"), ("stays", "600s")):
        assert http("POST", m.url("sidecar", "/registry?ttl=" + ttl),
                    json.dumps(service("z-small", node)).encode())[0] == 200
    m.stop()
    m.extra = "[microd]\nshm_size = 1M\n"
    m.write_conf()
    m.start()
    assert nodes_of(m, "a-big") is None         # left out of shm
    wait_for(lambda: nodes_of(m, "z-small") == ["stays"], 20,
             what="z-small's node expired")
    wait_for(lambda: "n3" not in stored_nodes(m, "a-big"), 20,
             what="a-big's node expired")
    assert post(m, service("a-big", "n0"), "DELETE")[0] == 200
    assert stored_nodes(m, "a-big") == ["n1", "n2"]
    assert m.read_log().count("would take") <= 1, m.read_log()


def test_names_left_out_of_a_full_segment_stop_no_expiry(microd):
    """Lowered shm_size: names that no longer fit are left out of shm at
    the load. The expiry pass stopped at the first one each second, and
    the names after it kept serving their dead nodes."""
    m = microd(workers=SIDECAR_ONLY)
    pad = {"pad": "x" * 12000}
    for i in range(90):
        assert post(m, service("a%02d" % i, "n", pad))[0] == 200
    # a80, left out, has a node to expire: each pass stopped there.
    for name, node, ttl in (("a80", "gone", "4s"), ("z-small", "gone", "4s"),
                            ("z-small", "stays", "600s")):
        assert http("POST", m.url("sidecar", "/registry?ttl=" + ttl),
                    json.dumps(service(name, node)).encode())[0] == 200
    m.stop()
    m.extra = "[microd]\nshm_size = 1M\n"
    m.write_conf()
    m.start()
    wait_for(lambda: "service a80 not published" in m.read_log(), 10,
             what="a80 left out of shm")
    wait_for(lambda: nodes_of(m, "z-small") == ["stays"], 20,
             what="z-small's node expired")


def stored_nodes(m, name):
    """The node IDs registry.db holds for name."""
    db = sqlite3.connect("file:%s?mode=ro" % (m.dir / "state" /
                                              "registry.db"), uri=True)
    try:
        return sorted(r[0] for r in db.execute(
            "SELECT id FROM node WHERE service = ?", (name,)))
    finally:
        db.close()


def test_status_says_full_only_while_full(microd):
    """full_errors only grows: once deletions made room, status said the
    segment "is full" all the same."""
    m = microd(extra="[microd]\nshm_size = 1M\n", workers=SIDECAR_ONLY)
    assert "registry full" not in m.ctl("status").stdout
    for i in range(5000):
        status, _, body = post(m, service("s%d" % i))
        if status != 200:
            break
    assert status == 500 and b"shm index full" in body, body
    assert "registry full: 1 changes refused, the shm segment is full" in \
        m.ctl("status").stdout
    assert post(m, service("s0"), "DELETE")[0] == 200
    out = m.ctl("status").stdout
    assert "registry full" not in out, out
    assert ("registry was full: 1 changes refused since the start; the "
            "shm segment has room now") in out, out
    reg = m.status()["registry"]
    assert (reg["full_errors"], reg["full"]) == (1, False)


def test_near_full_that_refused_nothing_is_not_full(microd):
    """A segment with no room for a record of the largest size, but that
    refused nothing, was said "full" ("0 changes refused, the shm segment
    is full") while registrations went on succeeding: it is full once it
    refuses one."""
    m = microd(extra="[microd]\nshm_size = 1M\n", workers=SIDECAR_ONLY)
    pad = {"pad": "x" * 2000}
    for i in range(1000):
        status, _, body = post(m, service("s%d" % i, metadata=pad))
        reg = m.status()["registry"]
        if status != 200:
            break
        assert not reg["full"], (i, reg)
    assert status == 500 and b"shm arena full" in body, body
    assert (reg["full_errors"], reg["full"]) == (1, True), reg


def test_locked_database_stays_read_only_until_writable(microd):
    """Another process holds registry.db's write lock: the worker loads
    it read-only and must stay so (503, not logged per request) until a
    write can be made; it said "opened to write again" at its first
    retry, then each change waited 1 s for the lock and failed with 500,
    logged."""
    m = microd(workers=SIDECAR_ONLY)
    assert post(m, service("kept"))[0] == 200
    m.stop()
    db = str(m.dir / "state" / "registry.db")
    lock = sqlite3.connect(db, isolation_level=None)
    try:
        # An expired node: the load deletes it, a write the lock refuses.
        lock.execute("UPDATE node SET expires = 1")
        lock.execute("BEGIN IMMEDIATE")
        logged = len(open(m.log).read())
        m.start()

        def retried():
            # Past a retry, the cause is the write it tried.
            status, _, body = post(m, service("new"))
            return (status, body) if b"BEGIN IMMEDIATE" in body else None
        status, body = wait_for(retried, 20, what="a retry to write")
        assert status == 503, body
        assert b"database is locked" in body, body
        log = open(m.log).read()[logged:]
        assert "opened to write again" not in log, log
        assert "registering new" not in log, log
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    wait_for(lambda: post(m, service("new"))[0] == 200, 20,
             what="the registration once the lock is gone")
    assert "opened to write again" in open(m.log).read()[logged:]
    assert nodes_of(m, "new") == ["n1"]
