"""The registry: sidecar and microctl paths, persistence, TTL, bad input."""
import json
import os
import random
import signal
import sqlite3
import struct
import threading
import time
import urllib.request
from http.client import HTTPConnection

from conftest import http, pid_alive, signal_pid, wait_for
from gwnodes import node_ids


def service(name="go.micro.srv.greeter", version="1.0.0", nodes=None,
            **extra):
    s = {"name": name, "version": version, "metadata": {"team": "a"},
         "endpoints": [{"name": "Say.Hello",
                        "request": {"name": "Request", "type": "Request",
                                    "values": [{"name": "name",
                                                "type": "string",
                                                "values": None}]},
                        "response": {"name": "Response",
                                     "type": "Response", "values": []},
                        "metadata": {}}],
         "nodes": nodes if nodes is not None else [
             {"id": name + "-1", "address": "127.0.0.1:9091",
              "metadata": {"protocol": "mucp"}}]}
    s.update(extra)
    return s


def post(m, svc, ttl=None, method="POST"):
    url = m.url("sidecar", "/registry")
    if ttl:
        url += "?ttl=" + ttl
    body = svc if isinstance(svc, bytes) else json.dumps(svc).encode()
    return http(method, url, body, {"Content-Type": "application/json"})


def get_service(m, name):
    return http("GET", m.url("sidecar", "/registry?service=" + name))


def ctl_service(m, name):
    r = m.ctl("--json", "service", name, check=False)
    return json.loads(r.stdout) if r.returncode == 0 else None


def test_register_via_sidecar_visible_everywhere(microd):
    m = microd(workers={"api": 2})
    status, _, body = post(m, service())
    assert status == 200, body
    got = ctl_service(m, "go.micro.srv.greeter")
    assert got[0]["name"] == "go.micro.srv.greeter"
    assert got[0]["nodes"][0]["address"] == "127.0.0.1:9091"
    assert got[0]["endpoints"][0]["name"] == "Say.Hello"
    status, _, body = get_service(m, "go.micro.srv.greeter")
    assert status == 200
    assert json.loads(body)[0]["version"] == "1.0.0"
    table = m.ctl("services").stdout
    assert "go.micro.srv.greeter" in table
    detail = m.ctl("service", "go.micro.srv.greeter").stdout
    assert "127.0.0.1:9091" in detail and "Say.Hello" in detail
    # Every api worker process reads the same registry: each one's
    # /healthz reports what it sees in shm.
    seen = {}

    def all_workers_see_it():
        req = urllib.request.Request(m.url("api", "/healthz"),
                                     headers={"Connection": "close"})
        with urllib.request.urlopen(req, timeout=5) as r:
            h = json.loads(r.read())
        seen[h["worker"]] = h["registry"]["services"]
        return set(seen) == {"api/0", "api/1"} and all(
            v >= 1 for v in seen.values())
    wait_for(all_workers_see_it, timeout=20, interval=0,
             what="both api workers reporting the service")


def test_register_versions_and_deregister(microd):
    m = microd()
    assert post(m, service(version="1.0.0"))[0] == 200
    assert post(m, service(version="2.0.0", nodes=[
        {"id": "g-2", "address": "127.0.0.1:9092", "metadata": {}}]))[0] == 200
    versions = sorted(s["version"] for s in ctl_service(
        m, "go.micro.srv.greeter"))
    assert versions == ["1.0.0", "2.0.0"]
    status, _, body = post(m, service(version="2.0.0", nodes=[
        {"id": "g-2", "address": "127.0.0.1:9092"}]), method="DELETE")
    assert status == 200, body
    versions = [s["version"] for s in ctl_service(m, "go.micro.srv.greeter")]
    assert versions == ["1.0.0"]
    assert post(m, service(), method="DELETE")[0] == 200
    status, _, body = get_service(m, "go.micro.srv.greeter")
    assert status == 404
    err = json.loads(body)
    assert err["code"] == 404 and "not found" in err["detail"]
    assert ctl_service(m, "go.micro.srv.greeter") is None


def test_microctl_register_deregister_and_aliases(microd, tmp_path):
    m = microd()
    f = tmp_path / "svc.json"
    f.write_text(json.dumps(service(name="go.micro.srv.files")))
    m.ctl("register", str(f))
    assert "go.micro.srv.files" in m.ctl("list", "services").stdout
    out = json.loads(m.ctl("--json", "get", "service",
                           "go.micro.srv.files").stdout)
    assert out[0]["nodes"][0]["id"] == "go.micro.srv.files-1"
    all_json = json.loads(m.ctl("--json", "services").stdout)
    assert [s["name"] for s in all_json] == ["go.micro.srv.files"]
    m.ctl("deregister", "-", input=f.read_text())
    assert m.ctl("service", "go.micro.srv.files",
                 check=False).returncode == 1


def test_2016_port_form_and_nulls_accepted(microd):
    m = microd()
    svc = {"name": "go.micro.srv.old", "version": None, "metadata": None,
           "endpoints": None,
           "nodes": [{"id": "old-1", "address": "127.0.0.1", "port": 8000,
                      "metadata": None}]}
    status, _, body = post(m, svc)
    assert status == 200, body
    got = ctl_service(m, "go.micro.srv.old")
    assert got[0]["nodes"][0]["address"] == "127.0.0.1:8000"
    assert got[0]["endpoints"] == [] and got[0]["metadata"] == {}


def test_a_version_past_1024_nodes_by_merging_is_400(microd, tmp_path):
    """Only the registry worker sees that merging would pass the 1024
    nodes of a version: the request's fault, so 400 through the sidecar
    (it was 500) and a refusal through microctl, and nothing changed."""
    m = microd()

    def nodes(first, n):
        return [{"id": "n%d" % i, "address": "10.0.0.1:%d" % (1 + i),
                 "metadata": {}} for i in range(first, first + n)]
    for first in range(0, 1024, 256):
        assert post(m, service(nodes=nodes(first, 256)))[0] == 200
    before = http("GET", m.url("sidecar", "/registry"))[2]
    status, _, reply = post(m, service(nodes=nodes(1024, 1)))
    assert status == 400, reply
    assert "more than 1024 nodes" in json.loads(reply)["detail"]
    one_more = tmp_path / "one.json"
    one_more.write_text(json.dumps(service(nodes=nodes(1025, 1))))
    r = m.ctl("register", str(one_more), check=False)
    assert r.returncode == 1 and "more than 1024 nodes" in r.stderr
    assert http("GET", m.url("sidecar", "/registry"))[2] == before


def test_bad_input_is_400_and_changes_nothing(microd):
    m = microd()
    assert post(m, service(name="go.micro.srv.keep"))[0] == 200
    before = http("GET", m.url("sidecar", "/registry"))[2]
    bad = [
        b"{not json",
        b"[]",
        json.dumps({"version": "1"}).encode(),
        json.dumps(service(name="")).encode(),
        json.dumps(service(nodes=[])).encode(),
        json.dumps(service(nodes=[{"address": "127.0.0.1:1"}])).encode(),
        json.dumps(service(nodes=[{"id": "x", "address": "nowhere"}])).encode(),
        json.dumps(service(nodes=[{"id": "x",
                                   "address": "1.2.3.4:99999"}])).encode(),
        json.dumps(service(metadata={"k": "v" * 70000})).encode(),
        # C1 controls (U+0085 NEL, U+009B CSI) are control characters too.
        json.dumps(service(name="go.micro.srv.a\u0085b")).encode(),
        json.dumps(service(version="1\u009b31m")).encode(),
    ]
    for body in bad:
        status, _, reply = post(m, body)
        assert status == 400, (body[:60], status, reply)
        err = json.loads(reply)
        assert err["code"] == 400 and err["detail"]
    assert post(m, service(), ttl="soon")[0] == 400
    # A value that does not decode must not read as absent (default TTL,
    # or every service for "?service="), and a TTL over a year is bad
    # input, not a registry failure.
    for ttl in ("5s%00junk", "%zz", "8785h"):
        status, _, reply = post(m, service(), ttl=ttl)
        assert status == 400, (ttl, status, reply)
    for query in ("service=%zz", "service=go.micro.srv.keep%00x"):
        status, _, reply = http("GET", m.url("sidecar", "/registry?" + query))
        assert status == 400, (query, status, reply)
    assert http("GET", m.url("sidecar", "/registry"))[2] == before
    assert m.proc.poll() is None


def test_ttl_expires_without_refresh(microd):
    m = microd()
    t0 = time.monotonic()
    assert post(m, service(name="go.micro.srv.brief"), ttl="2s")[0] == 200
    assert ctl_service(m, "go.micro.srv.brief") is not None
    wait_for(lambda: ctl_service(m, "go.micro.srv.brief") is None,
             timeout=10, interval=0.1, what="expiry")
    assert time.monotonic() - t0 <= 4.5


def test_reregister_refreshes_ttl(microd):
    m = microd()
    svc = service(name="go.micro.srv.fresh")
    assert post(m, svc, ttl="2s")[0] == 200
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        assert post(m, svc, ttl="2s")[0] == 200
        assert ctl_service(m, "go.micro.srv.fresh") is not None
        time.sleep(0.5)
    wait_for(lambda: ctl_service(m, "go.micro.srv.fresh") is None,
             timeout=10, interval=0.1, what="expiry after refreshes stop")


def test_registry_survives_sigkill_of_everything(microd):
    m = microd()
    for i in range(20):
        assert post(m, service(name="go.micro.srv.s%d" % i))[0] == 200
    pids = m.pids() + [m.proc.pid]
    m.kill_all()
    wait_for(lambda: not any(pid_alive(p) for p in pids), what="all dead")
    m.start()
    names = {s["name"] for s in m.ctl_json("services")}
    assert names == {"go.micro.srv.s%d" % i for i in range(20)}


def test_registry_worker_sigkill_keeps_data_and_reads(microd):
    m = microd()
    assert post(m, service(name="go.micro.srv.a"))[0] == 200
    reg = [w for w in m.workers_list() if w["role"] == "registry"][0]
    signal_pid(reg["pid"], signal.SIGKILL)
    # Reads never depend on the writer being alive.
    assert ctl_service(m, "go.micro.srv.a") is not None
    wait_for(lambda: [w for w in m.running("registry")
                      if w["pid"] != reg["pid"]], what="new registry")
    assert post(m, service(name="go.micro.srv.b"))[0] == 200
    names = {s["name"] for s in m.ctl_json("services")}
    assert names == {"go.micro.srv.a", "go.micro.srv.b"}


def test_registry_worker_down_answers_503(microd):
    """A write while the registry worker is down (killed, waiting out its
    restart backoff) is refused as retryable: 503 from the sidecar and
    code "unavailable" on the control socket, never 500."""
    m = microd()
    statuses = []
    for _ in range(8):
        reg = m.running("registry")[0]
        signal_pid(reg["pid"], signal.SIGKILL)
        status, _, body = post(m, service(name="go.micro.srv.down"))
        statuses.append(status)
        if status == 503:
            err = json.loads(body)
            assert err["code"] == 503, err
            assert "registry worker" in err["detail"], err
            break
        wait_for(lambda: [w for w in m.running("registry")
                          if w["pid"] != reg["pid"]], what="new registry")
    assert statuses[-1] == 503, statuses
    assert set(statuses) <= {200, 503}, statuses
    wait_for(lambda: m.running("registry"), what="registry back")
    wait_for(lambda: post(m, service(name="go.micro.srv.up"))[0] == 200,
             what="registration accepted again")


def multiply_stored_service(db, name, copies):
    """copies more services like name in a stopped microd's database."""
    con = sqlite3.connect(db)
    numbers = ("(WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
               "FROM c WHERE i < %d) SELECT i FROM c) n" % copies)
    con.execute("INSERT INTO version SELECT service || '-' || n.i, version, "
                "metadata, endpoints FROM version, %s WHERE service = ?"
                % numbers, (name,))
    con.execute("INSERT INTO node SELECT service || '-' || n.i, version, "
                "seq, id || '-' || n.i, address, metadata, expires, remote "
                "FROM node, %s WHERE service = ?" % numbers, (name,))
    con.commit()
    con.close()


def store_copies_expiring(m, name, copies, after_ms, spread_ms=1):
    """Register name here, stop m, and store copies more like it whose
    node deadlines are after_ms from now plus a random part below
    spread_ms (the default 1: all at once)."""
    assert post(m, service(name=name), ttl="1h")[0] == 200
    m.stop()
    db = str(m.dir / "state" / "registry.db")
    multiply_stored_service(db, name, copies)
    con = sqlite3.connect(db)
    con.execute("UPDATE node SET expires = ? + abs(random()) % ?",
                (int(time.time() * 1000) + after_ms, spread_ms))
    con.commit()
    con.close()


def test_restart_answers_from_a_large_store_at_once(microd):
    """The other workers start once the registry worker has loaded the
    database into shm: the first answer after a restart is the stored
    service, never a 404 for what is stored (it used to be for a while)."""
    m = microd()
    assert post(m, service(name="go.micro.srv.big"), ttl="1h")[0] == 200
    m.stop()
    multiply_stored_service(str(m.dir / "state" / "registry.db"),
                            "go.micro.srv.big", 20000)
    m.start(wait=False)
    port = wait_for(lambda: int(m.status()["listeners"]["sidecar"]
                                .rsplit(":", 1)[1]), 30, what="listeners")
    # The connection waits in the listen queue until a sidecar serves it.
    status, _, body = http("GET", "http://127.0.0.1:%d/registry?service="
                           "go.micro.srv.big-20000" % port, timeout=60)
    assert status == 200, body
    assert json.loads(body)[0]["nodes"][0]["id"].endswith("-20000")
    m.wait_ready()


def test_corrupt_database_moved_aside(microd):
    m = microd(start=False)
    state = m.dir / "state"
    state.mkdir()
    (state / "registry.db").write_bytes(b"this is not sqlite" * 100)
    m.start()
    assert post(m, service(name="go.micro.srv.after"))[0] == 200
    assert ctl_service(m, "go.micro.srv.after") is not None
    assert any(p.name.startswith("registry.db.corrupt")
               for p in state.iterdir())
    assert "corrupt" in m.read_log().lower()


def test_wall_clock_step_back_keeps_no_dead_node(microd, clock):
    """TTL deadlines run on the monotonic clock: after the wall clock
    steps back an hour (NTP at boot), a 2 s node still goes within its TTL
    (it used to stay an hour), and one stepped forward expires nothing
    early."""
    env, shift = clock
    m = microd(env=env)
    assert post(m, service(name="go.micro.srv.long"), ttl="60s")[0] == 200
    assert post(m, service(name="go.micro.srv.short"), ttl="2s")[0] == 200
    shift(-3600 * 1000)
    wait_for(lambda: get_service(m, "go.micro.srv.short")[0] == 404, 10,
             what="the 2 s node gone after a step back")
    shift(120 * 1000)
    assert post(m, service(name="go.micro.srv.other"), ttl="2s")[0] == 200
    wait_for(lambda: get_service(m, "go.micro.srv.other")[0] == 404, 10,
             what="the next expiry pass")
    assert get_service(m, "go.micro.srv.long")[0] == 200


HOUR_MS = 3600 * 1000


def stored_left_ms(m, name, shift_ms):
    """What the file says the node of name has left, on microd's clock."""
    con = sqlite3.connect(str(m.dir / "state" / "registry.db"))
    try:
        (expires,), = con.execute("SELECT expires FROM node WHERE "
                                  "service = ?", (name,)).fetchall()
    finally:
        con.close()
    return expires - (time.time() * 1000 + shift_ms)


def test_forward_jump_keeps_stored_ttl(microd, clock):
    """Two hours forward while a 1 h node is registered: the file's
    deadline moves with the clock, so a restart keeps the node (it used
    to drop it, its stored deadline an hour in the past). One registered
    just after the jump is stored right too, whether the worker noticed
    the jump yet or not."""
    env, shift = clock
    m = microd(env=env)
    assert post(m, service(name="go.micro.srv.before"), ttl="1h")[0] == 200
    shift(2 * HOUR_MS)
    assert post(m, service(name="go.micro.srv.after"), ttl="1h")[0] == 200

    def both_an_hour_ahead():
        return all(HOUR_MS - 60000 < stored_left_ms(m, name, 2 * HOUR_MS)
                   <= HOUR_MS for name in ("go.micro.srv.before",
                                           "go.micro.srv.after"))
    wait_for(both_an_hour_ahead, 10,
             what="the stored deadlines an hour ahead of the new clock")
    assert "wall clock moved 7" in m.read_log()
    assert both_an_hour_ahead()
    m.stop()
    m.start()
    assert "2 service versions loaded, 0 expired nodes dropped" in \
        m.read_log()
    assert get_service(m, "go.micro.srv.before")[0] == 200


def test_backward_jump_keeps_stored_ttl(microd, clock):
    """Two hours back while an 8 s node is registered: after a restart
    the node still goes within its TTL (it used to stay two hours)."""
    env, shift = clock
    m = microd(env=env)
    name = "go.micro.srv.short"
    assert post(m, service(name=name), ttl="8s")[0] == 200
    shift(-2 * HOUR_MS)
    wait_for(lambda: 0 < stored_left_ms(m, name, -2 * HOUR_MS) <= 8000, 5,
             what="the stored deadline at most 8 s ahead of the new clock")
    m.stop()
    m.start()
    wait_for(lambda: get_service(m, name)[0] == 404, 20,
             what="the 8 s node gone after the restart")


def shm_segment(master_pid):
    """The path that opens the master's registry segment (its memfd)."""
    fds = "/proc/%d/fd" % master_pid
    for fd in os.listdir(fds):
        path = os.path.join(fds, fd)
        if os.readlink(path).startswith("/memfd:microd-shm"):
            return path
    raise AssertionError("no microd-shm segment among the master's fds")


def shm_read_epochs(master_pid):
    """{pid: epoch} of the shm slots, read from the master's segment as
    doc/shm-layout.md draws it: header nslots u32 @24, slot_size u32 @28,
    slots_off u64 @32; slot epoch u64 @0 (0: not in a read), pid i32 @8."""
    with open(shm_segment(master_pid), "rb") as f:
        head = f.read(64)
        assert head[:8] == b"MICROSHM", head[:8]
        nslots, size = struct.unpack_from("<II", head, 24)
        f.seek(struct.unpack_from("<Q", head, 32)[0])
        slots = f.read(nslots * size)
    pairs = (struct.unpack_from("<Qi", slots, i * size)
             for i in range(nslots))
    return {pid: epoch for epoch, pid in pairs if pid}


def test_stray_bytes_in_a_record_reload_it_from_the_database(microd):
    """A live record's header overwritten behind the writer's back: the
    next registry worker empties the cache and loads registry.db into it,
    once, instead of failing to start again and again. Record layout as
    doc/shm-layout.md draws it: magic "MREC" @8, name @48; arena_off u64
    @64 in the header, records 64-byte aligned in the arena."""
    m = microd()
    name = "go.micro.srv.stray"
    assert post(m, service(name=name, metadata={"mark": "A"}))[0] == 200
    with open(shm_segment(m.proc.pid), "r+b") as f:
        data = f.read()
        rec = data.index(name.encode() + b"\0") - 48
        arena_off = struct.unpack_from("<Q", data, 64)[0]
        assert (rec - arena_off) % 64 == 0 and data[rec + 8:rec + 12] == \
            b"MREC", data[rec:rec + 64]
        f.seek(rec + 8)
        f.write(b"XXXX")
    reg = m.running("registry")[0]
    signal_pid(reg["pid"], signal.SIGKILL)
    wait_for(lambda: [w for w in m.running("registry")
                      if w["pid"] != reg["pid"]], what="new registry")
    wait_for(lambda: get_service(m, name)[0] == 200, what="the stored copy")
    assert json.loads(get_service(m, name)[2])[0]["metadata"] == {"mark": "A"}
    log = m.read_log()
    assert log.count("shm arena record corrupt: the registry cache "
                     "is emptied and reloaded") == 1, log
    assert post(m, service(name="go.micro.srv.after"))[0] == 200
    names = {s["name"] for s in m.ctl_json("services")}
    assert names == {name, "go.micro.srv.after"}
    assert [w["restarts"] for w in m.running("registry")] == [1]
    assert m.status()["registry"]["resets"] == 1
    metrics = http("GET", m.url("web", "/metrics"))[2].decode()
    assert "\nmicrod_registry_resets_total 1\n" in metrics, metrics


def keep_busy(url, stop):
    """Ask url again and again on one keep-alive connection until stop."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    while not stop.is_set():
        conn = HTTPConnection(host, int(port), timeout=60)
        try:
            while not stop.is_set():
                conn.request("GET", "/" + url.split("/", 3)[3])
                conn.getresponse().read()
        except OSError:
            pass
        finally:
            conn.close()


def stop_inside_a_read(m, pid, busy_url):
    """SIGSTOP pid while it is inside a registry read, keeping it busy with
    requests for busy_url that read the whole registry. Returns the epoch
    the read holds."""
    stop = threading.Event()
    clients = [threading.Thread(target=keep_busy, args=(busy_url, stop))
               for _ in range(3)]
    for c in clients:
        c.start()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            signal_pid(pid, signal.SIGSTOP)
            epoch = shm_read_epochs(m.proc.pid).get(pid, 0)
            if epoch:
                return epoch
            signal_pid(pid, signal.SIGCONT)
            time.sleep(random.uniform(0.001, 0.005))   # let it run a while
        raise AssertionError("never caught pid %d inside a read" % pid)
    finally:
        stop.set()


def test_worker_stuck_in_a_read_is_killed_and_updates_resume(microd):
    """A worker that stays inside a registry read (here: stopped) makes
    the writer refuse the updates that need the memory it may still see.
    Its loop does not turn either: the master's watchdog kills it, which
    releases the read; the registry takes updates again."""
    m = microd(extra="[microd]\nshm_size = 1M\n")
    assert post(m, service(name="go.micro.srv.many"), ttl="1h")[0] == 200
    m.stop()
    multiply_stored_service(str(m.dir / "state" / "registry.db"),
                            "go.micro.srv.many", 400)
    m.start()
    # Most of the arena live: replacing these needs reclaimed memory
    # within some 30 puts, well inside the watchdog's 10 s.
    big = {"pad": "x" * 8000}

    def put_big(i):
        return post(m, service(name="go.micro.srv.many-%d" % (i % 50 + 1),
                               metadata=big), ttl="1h")
    for i in range(50):
        assert put_big(i)[0] == 200
    web = m.running("web")[0]["pid"]
    # /apps reads every service's name and shows none of these.
    stop_inside_a_read(m, web, m.url("web", "/apps"))
    try:
        for i in range(1000):
            status, _, body = put_big(i)
            if status != 200:
                break
        assert status != 200 and b"did not leave" in body, \
            "the stopped reader never blocked an update"
        assert m.status()["registry"]["wait_errors"] > 0
        wait_for(lambda: not pid_alive(web), 20, what="stuck worker killed")
    finally:
        if pid_alive(web):
            signal_pid(web, signal.SIGCONT)
    assert "web/0 (pid %d) stopped turning its event loop: killing it" % \
        web in m.read_log()
    wait_for(lambda: m.running("web"), 15, what="web restarted")
    new = service(name="go.micro.srv.after", metadata=big)
    wait_for(lambda: post(m, new, ttl="1h")[0] == 200, 15,
             what="updates accepted again")
    assert json.loads(get_service(m, "go.micro.srv.after")[2])[0][
        "metadata"] == big


def test_sidecar_head_and_allow(microd):
    """HEAD wherever GET answers, but not on the websocket route; a 405
    lists what the path takes (RFC 9110 9.1, 15.5.6)."""
    m = microd()
    assert post(m, service())[0] == 200
    conn = HTTPConnection("127.0.0.1", m.ports["sidecar"], timeout=10)
    try:
        for method, path, status, allow in (
                ("HEAD", "/registry", 200, None),
                ("HEAD", "/broker?topic=t", 405, "GET"),
                ("PUT", "/registry", 405, "GET, HEAD, POST, DELETE"),
                ("HEAD", "/healthz", 200, None)):
            conn.request(method, path)
            r = conn.getresponse()
            body = r.read()
            assert method != "HEAD" or body == b"", (method, path)
            assert r.status == status, (method, path)
            assert r.getheader("Allow") == allow, (method, path)
    finally:
        conn.close()


def stop_and_edit_store(m, sql, args=()):
    """Run one statement on a stopped microd's database."""
    m.stop()
    con = sqlite3.connect(str(m.dir / "state" / "registry.db"))
    assert con.execute(sql, args).rowcount == 1
    con.commit()
    con.close()


def test_stored_version_that_does_not_validate_is_left_out(microd):
    """A node row sqlite reads but that is not UTF-8 text does not validate:
    its version is left out with a logged line and the others load. (Such
    a row used to be left out without a word, then later made the whole
    file move aside, every other service with it.) The file loses the row
    only once a copy of it as it was is kept."""
    m = microd()
    assert post(m, service(name="go.micro.srv.pair", nodes=[
        {"id": "pair-1", "address": "127.0.0.1:9091"},
        {"id": "pair-2", "address": "127.0.0.1:9092"}]), ttl="1h")[0] == 200
    assert post(m, service(name="go.micro.srv.kept"), ttl="1h")[0] == 200
    stop_and_edit_store(m, "UPDATE node SET id = CAST(X'70FF31' AS TEXT) "
                        "WHERE id = 'pair-1'")
    m.start()
    assert get_service(m, "go.micro.srv.pair")[0] == 404
    assert get_service(m, "go.micro.srv.kept")[0] == 200
    log = m.read_log()
    assert ('stored service go.micro.srv.pair version "1.0.0" does not '
            'validate, left out: a node row is not valid') in log
    state = m.dir / "state"
    assert not any(p.name.startswith("registry.db.corrupt")
                   for p in state.iterdir())
    copies = [p for p in state.iterdir()
              if p.name.startswith("registry.db.rejected-")]
    assert len(copies) == 1 and f"kept as {copies[0]}" in log
    con = sqlite3.connect(str(copies[0]))
    assert con.execute("SELECT count(*) FROM node WHERE service = ?",
                       ("go.micro.srv.pair",)).fetchone() == (2,)
    con.close()
    m.stop()
    con = sqlite3.connect(str(state / "registry.db"))
    assert con.execute("SELECT DISTINCT service FROM node").fetchall() == [
        ("go.micro.srv.kept",)]
    con.close()


def test_nodes_learned_from_a_former_backend_go_with_local(microd):
    """Nodes a store taught the file (remote = 1) before the backend was
    switched to local have no TTL and no store left to relist them: the
    local backend sweeps them at start (they used to stay for ever)."""
    m = microd()
    assert post(m, service(name="go.micro.srv.learned"), ttl="0")[0] == 200
    assert post(m, service(name="go.micro.srv.mine"), ttl="0")[0] == 200
    stop_and_edit_store(m, "UPDATE node SET remote = 1 WHERE service = ?",
                        ("go.micro.srv.learned",))
    m.start()
    assert get_service(m, "go.micro.srv.learned")[0] == 404
    assert get_service(m, "go.micro.srv.mine")[0] == 200
    m.stop()
    con = sqlite3.connect(str(m.dir / "state" / "registry.db"))
    assert con.execute("SELECT count(*) FROM node").fetchone() == (1,)
    con.close()


def test_concurrent_post_and_delete_of_one_service(microd):
    """Registrations and deregistrations of one service racing from
    several clients and sidecar workers all succeed, and what the workers
    read is what the store holds (the registry worker restarted from it
    answers the same)."""
    m = microd(workers={"web": 0, "broker": 0, "sidecar": 2})
    name = "go.micro.srv.raced"
    failed = []

    def client(k):
        for i in range(20):
            nodes = [{"id": "n-%d" % j, "address": "127.0.0.1:%d" % (
                1000 + j)} for j in range((k + i) % 6, (k + i) % 6 + 3)]
            status, _, body = post(m, service(name=name, nodes=nodes),
                                   ttl="1h", method=("POST", "DELETE")[
                                       (k + i) % 2])
            if status != 200:
                failed.append((status, body))
    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failed
    before = sorted(node_ids(m, name))
    signal_pid(m.running("registry")[0]["pid"], signal.SIGKILL)
    wait_for(lambda: post(m, service(name="go.micro.srv.after"),
                          ttl="1h")[0] == 200, timeout=20,
             what="the registry worker back")
    assert sorted(node_ids(m, name)) == before
