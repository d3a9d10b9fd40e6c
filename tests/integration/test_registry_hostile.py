"""The registration paths under hostile input and failing storage, and
stray bytes in the shared segments' headers (a buggy worker scribbling):
what a process took from a header once, at creation, is never read from
it again."""
import json
import signal
import sqlite3
import struct
import subprocess
import time

import pytest

from conftest import MICROTOP, http, pid_alive, signal_pid, wait_for
from test_registry import get_service, post, service, shm_segment


def deep_request(levels):
    """An endpoint request with a member go-micro does not know, nested
    levels deep (arrays)."""
    extra = []
    for _ in range(levels - 1):
        extra = [extra]
    return {"name": "Request", "type": "Request", "extra": extra}


def deep_body(name, levels):
    """Service JSON with deep_request(levels), built as text: Python's own
    json module recurses too deep for 2000 levels."""
    svc = service(name=name)
    svc["endpoints"][0]["request"] = {"name": "Request", "type": "Request",
                                      "extra": "EXTRA"}
    return json.dumps(svc).encode().replace(
        b'"EXTRA"', b"[" * levels + b"]" * levels)


def test_value_member_nested_too_deep_is_400(microd):
    """Members of a request/response other than name, type and values
    are kept as given, but count towards its 16 levels: nested 2000 deep
    they were taken, and the canonical output then held more nesting than
    any parser reads back (`microctl services` failed for every service)."""
    m = microd()
    assert post(m, service(name="go.micro.srv.keep"))[0] == 200
    before = http("GET", m.url("sidecar", "/registry"))[2]
    for levels in (16, 2000):
        status, _, reply = post(m, deep_body("go.micro.srv.deep", levels))
        assert status == 400, (levels, status, reply)
        assert "nested too deep" in json.loads(reply)["detail"]
    assert http("GET", m.url("sidecar", "/registry"))[2] == before
    r = m.ctl("services", check=False)
    assert r.returncode == 0 and "go.micro.srv.keep" in r.stdout, r.stderr
    # What fits is still kept as given.
    assert post(m, deep_body("go.micro.srv.shallow", 15))[0] == 200
    got = json.loads(get_service(m, "go.micro.srv.shallow")[2])
    assert got[0]["endpoints"][0]["request"] == deep_request(15)
    assert m.ctl("services").returncode == 0


def wide(version):
    # Ids of their own: a node registered under another version moves.
    return service(name="go.micro.srv.wide", version=version, nodes=[
        {"id": "%s-n%d" % (version, i), "address": "10.0.0.1:%d" % (i + 1)}
        for i in range(1000)])


def test_name_past_the_shm_node_limit_is_400(microd):
    """A name holds at most 4096 nodes across its versions (shm's record):
    a registration past that is the request's fault, 400 like a version
    past 1024 nodes, not a 500 a client would retry for ever."""
    m = microd()
    for v in range(4):
        assert post(m, wide("v%d" % v))[0] == 200
    before = http("GET", m.url("sidecar", "/registry"))[2]
    status, _, reply = post(m, wide("v4"))
    assert status == 400, (status, reply)
    err = json.loads(reply)
    assert err["code"] == 400 and "more than 4096 nodes" in err["detail"]
    assert http("GET", m.url("sidecar", "/registry"))[2] == before
    # Refreshing what is there still works.
    assert post(m, wide("v3"))[0] == 200


def test_failed_registration_is_logged(microd):
    """A registration or deregistration the database refuses (here a
    lock another process holds) answers 500 and says so in the log; it
    used to leave no trace in the daemon's log at all."""
    m = microd()
    two = service(name="go.micro.srv.locked", nodes=[
        {"id": "a", "address": "127.0.0.1:1"},
        {"id": "b", "address": "127.0.0.1:2"}])
    assert post(m, two)[0] == 200
    before = get_service(m, "go.micro.srv.locked")[2]
    con = sqlite3.connect(str(m.dir / "state" / "registry.db"),
                          isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        status, _, reply = post(m, service(name="go.micro.srv.new"))
        assert status == 500, (status, reply)
        assert "database is locked" in json.loads(reply)["detail"]
        status, _, reply = post(m, service(name="go.micro.srv.locked",
                                           nodes=[{"id": "a"}]),
                                method="DELETE")
        assert status == 500, (status, reply)
    finally:
        con.execute("ROLLBACK")
        con.close()
    db = m.dir / "state" / "registry.db"
    wait_for(lambda: "registering go.micro.srv.new: registry database: "
             "%s: BEGIN IMMEDIATE: database is locked" % db in m.read_log()
             and "deregistering go.micro.srv.locked: registry database: "
             "%s: BEGIN IMMEDIATE: database is locked" % db in m.read_log(),
             what="the failures in the log, naming the file")
    assert get_service(m, "go.micro.srv.locked")[2] == before
    assert get_service(m, "go.micro.srv.new")[0] == 404


def test_dot_segment_names_and_ids_are_400(microd):
    """Service names and node ids are path segments in the Consul agent's
    URLs (libcurl removes "." and "..": such a node was never deregistered,
    a service ".." never watched) and in go-micro's etcd keys: refused."""
    m = microd()
    assert post(m, service(name="go.micro.srv.keep"))[0] == 200
    before = http("GET", m.url("sidecar", "/registry"))[2]
    for bad in (service(name=".."), service(name="."),
                service(nodes=[{"id": "..", "address": "127.0.0.1:1"}]),
                service(nodes=[{"id": ".", "address": "127.0.0.1:1"}])):
        status, _, reply = post(m, bad)
        assert status == 400, (bad["name"], status, reply)
        assert '"." or ".."' in json.loads(reply)["detail"], reply
    assert http("GET", m.url("sidecar", "/registry"))[2] == before
    # Dots are fine anywhere else.
    assert post(m, service(name="...", nodes=[
        {"id": "..1", "address": "127.0.0.1:1"}]))[0] == 200


def shared_segments(pid):
    """{magic: address} of pid's shared anonymous mappings (svcstats,
    node health, log rings: doc/shm-layout.md), by their first 8 bytes."""
    found = {}
    with open("/proc/%d/maps" % pid) as maps, \
            open("/proc/%d/mem" % pid, "rb") as mem:
        for line in maps:
            f = line.split()
            if f[1] != "rw-s" or "/dev/zero" not in line:
                continue
            start = int(f[0].split("-")[0], 16)
            mem.seek(start)
            found[mem.read(8)] = start
    return found


def test_scribbled_registry_geometry_is_not_trusted(microd):
    """max_record (u64 @88) and arena_size (u64 @72) overwritten in the
    registry segment's header: puts are still admitted by the writer's
    own copy of the geometry (they were all refused, "record larger than
    the shm maximum", by every writer restarted after it too), and
    /metrics still reports the arena's real size."""
    m = microd()
    with open(shm_segment(m.proc.pid), "r+b") as f:
        head = f.read(96)
        arena_size, = struct.unpack_from("<Q", head, 72)
        f.seek(72)
        f.write(struct.pack("<Q", 1 << 40))
        f.seek(88)
        f.write(struct.pack("<Q", 0))
    status, _, body = post(m, service(name="go.micro.srv.after"))
    assert status == 200, body
    reg = m.running("registry")[0]
    signal_pid(reg["pid"], signal.SIGKILL)
    wait_for(lambda: [w for w in m.running("registry")
                      if w["pid"] != reg["pid"]], what="new registry")
    status, _, body = post(m, service(name="go.micro.srv.restarted"))
    assert status == 200, body
    assert get_service(m, "go.micro.srv.after")[0] == 200
    assert m.status()["registry"]["full_errors"] == 0
    metrics = http("GET", m.url("web", "/metrics"))[2].decode()
    assert "\nmicrod_shm_arena_bytes %d\n" % arena_size in metrics, metrics


@pytest.mark.parametrize("magic", [b"MICROSVC", b"MICRONOD", b"MICROLOG"])
def test_scribbled_slot_count_does_not_bring_the_master_down(microd, magic):
    """nslots (u32 @12) overwritten in the header of the service
    statistics, node health or log ring segment: the master (micro-top's
    stats stream, a service's node health, the logs stream) and the web
    worker (/metrics) keep to the slots they were made with. The master
    used to read past its mapping or, for the logs, die allocating."""
    m = microd()
    assert post(m, service(name="go.micro.srv.nodes"))[0] == 200
    segs = shared_segments(m.proc.pid)
    with open("/proc/%d/mem" % m.proc.pid, "r+b") as mem:
        mem.seek(segs[magic] + 12)
        mem.write(struct.pack("<I", 0xffffffff))
    r = m.ctl("logs", "-n", "5", check=False)
    assert r.returncode == 0 and r.stdout, r.stderr
    detail = m.ctl("service", "go.micro.srv.nodes").stdout
    assert "127.0.0.1:9091" in detail
    r = subprocess.run([MICROTOP, "-b", "-s", m.socket],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert "go.micro.srv.nodes" in r.stdout
    assert http("GET", m.url("web", "/metrics"))[0] == 200
    assert m.proc.poll() is None and all(pid_alive(p) for p in m.pids())


def test_scribbled_index_active_does_not_crash_the_writer(microd):
    """index_active (u64 @144) overwritten with its low bit kept: readers
    look at that bit alone, and so does the writer now when it counts the
    buckets of the index it inserts into (it indexed an array of two with
    the whole word: a registry worker killed by SIGSEGV, or its private
    state overwritten)."""
    m = microd()
    assert post(m, service(name="go.micro.srv.first"))[0] == 200
    with open(shm_segment(m.proc.pid), "r+b") as f:
        f.seek(144)
        active, = struct.unpack("<Q", f.read(8))
        f.seek(144)
        f.write(struct.pack("<Q", active | 1 << 45))
    for i in range(20):
        status, _, body = post(m, service(name="go.micro.srv.new-%d" % i))
        assert status == 200, body
    names = {s["name"] for s in m.ctl_json("services")}
    assert len(names) == 21, names
    assert [w["restarts"] for w in m.running("registry")] == [0]
    assert json.loads(get_service(m, "go.micro.srv.first")[2])[0][
        "name"] == "go.micro.srv.first"


LAP_NAMES = ["go.micro.srv.lap-%d" % i for i in range(8)]


def shm_header(m):
    """(arena_off, arena_size, max_record, head, tail) of m's segment, as
    doc/shm-layout.md draws it: arena_off u64 @64, arena_size u64 @72,
    max_record u64 @88, head u64 @168, tail u64 @176 (a record's magic
    u32 @8 and size u32 @16)."""
    with open(shm_segment(m.proc.pid), "rb") as f:
        h = f.read(184)
    return (struct.unpack_from("<QQ", h, 64) + struct.unpack_from("<Q", h, 88)
            + struct.unpack_from("<QQ", h, 168))


def lap_service(name, blob, i):
    return service(name=name, metadata={"blob": blob, "i": str(i)})


def lap_puts(m):
    """Enough registrations of LAP_NAMES, each near a quarter of the largest
    record, to lap the arena twice: the cleaner steps over everything."""
    _, arena_size, max_record, _, _ = shm_header(m)
    blob = "x" * (max_record // 4)
    return [lap_service(LAP_NAMES[i % len(LAP_NAMES)], blob, i)
            for i in range(2 * arena_size // (max_record // 4) + 8)]


def scribble(m, off, fmt, value):
    with open(shm_segment(m.proc.pid), "r+b") as f:
        f.seek(off)
        f.write(struct.pack(fmt, value))


def test_scribbled_tail_does_not_stop_registrations(microd):
    """tail moved 64 bytes forward, into a record: the writer went on from
    its header's tail, spun at 100% CPU, and registrations failed with 503
    for ~10 s until the watchdog killed it. It keeps its own tail now:
    every registration succeeds and the header is right again after."""
    m = microd(extra="[microd]\nshm_size = 1M\n")
    puts = lap_puts(m)
    assert post(m, puts[0])[0] == 200
    tail = shm_header(m)[4]
    scribble(m, 176, "<Q", tail + 64)
    for i, svc in enumerate(puts):
        status, _, body = post(m, svc)
        assert status == 200, (i, body)
    _, arena_size, _, head, tail = shm_header(m)
    assert tail % 64 == 0 and head - tail <= arena_size, (head, tail)
    assert [w["restarts"] for w in m.running("registry")] == [0]
    for name in LAP_NAMES:
        assert get_service(m, name)[0] == 200


def test_corrupt_record_at_the_cleaner_restarts_the_writer(microd):
    """The record at tail, which the cleaner steps over next, given size 0:
    the writer stepped by 0 for ever (100% CPU, 503s until the watchdog
    killed it 10 s later). It checks each record it steps over now, and
    exits at once; its successor empties the cache and reloads it from
    the database, so registrations resume within moments."""
    m = microd(extra="[microd]\nshm_size = 1M\n")
    puts = lap_puts(m)
    assert post(m, puts[0])[0] == 200
    arena_off, arena_size, _, _, tail = shm_header(m)
    rec = arena_off + tail % arena_size
    with open(shm_segment(m.proc.pid), "rb") as f:
        f.seek(rec + 8)
        assert f.read(4) == b"MREC"
    scribble(m, rec + 16, "<I", 0)
    failed = []

    def accepted(svc):
        start = time.monotonic()
        status, _, body = post(m, svc)
        if status != 200:
            failed.append((start, time.monotonic(), status, body))
        return status == 200
    for i, svc in enumerate(puts):
        wait_for(lambda: accepted(svc), 30, what="registration %d" % i)
    assert {f[2] for f in failed} == {503}, failed
    assert failed, "the writer never met the corrupt record"
    # not the watchdog's 10 s
    assert failed[-1][1] - failed[0][0] < 8, failed
    wait_for(lambda: [w["restarts"] for w in m.running("registry")] == [1],
             what="one registry restart")
    log = m.read_log()
    assert "shm: arena record at %d corrupt" % tail in log, log
    assert "the registry cache is emptied and reloaded" in log, log
    for name in LAP_NAMES:
        assert get_service(m, name)[0] == 200
