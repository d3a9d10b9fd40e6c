"""microctl call / health through microd's /rpc, and the registry
commands through a sidecar with --proxy-address (same output as over the
control socket)."""
import json
import os
import select
import socket
import struct
import subprocess
import time

import pytest

from conftest import MICROCTL, MICROTOP, wait_for
from gwnodes import FakeNode, closed_address, register, slow
from test_master import frame
from test_registry import multiply_stored_service, post, service

NAME = "go.micro.srv.ctltest"
JSON = {"Content-Type": "application/json"}


def answer(h, body):
    """A mucp node: Say.Hello greets, Debug.Health is ok, Guard.Check
    fails with its own error, anything else is unknown."""
    ep = h.headers.get("Micro-Endpoint")
    if ep == "Say.Hello":
        req = json.loads(body or b"{}")
        out = {"msg": "Hello " + req.get("name", "nobody")}
        return 200, JSON, json.dumps(out).encode()
    if ep == "Debug.Health":
        return 200, JSON, b'{"status": "ok"}'
    code, detail = (403, "no") if ep == "Guard.Check" else (
        404, "unknown endpoint")
    return code, JSON, json.dumps({"id": NAME, "code": code,
                                   "detail": detail,
                                   "status": "x"}).encode()


@pytest.fixture
def m(microd):
    return microd(workers={"web": 0, "broker": 0})


@pytest.fixture
def node():
    n = FakeNode(answer)
    yield n
    n.close()


def sidecar(m):
    return "127.0.0.1:%d" % m.ports["sidecar"]


def endpoints(n):
    return [r[2].get("Micro-Endpoint") for r in n.requests]


def test_call(m, node):
    register(m, node.service(NAME))
    r = m.ctl("call", NAME, "Say.Hello", '{"name": "John"}')
    # As the node answered it, byte for byte, plus the newline.
    assert r.stdout == '{"msg": "Hello John"}\n'
    method, path, headers, body = node.requests[-1]
    assert (method, path, headers["Micro-Endpoint"]) == (
        "POST", "/", "Say.Hello")
    assert json.loads(body) == {"name": "John"}
    r = m.ctl("call", NAME, "Say.Hello", "-", input='{"name": "Ann"}')
    assert r.stdout == '{"msg": "Hello Ann"}\n'
    # Without a request: {}.
    assert m.ctl("call", NAME, "Say.Hello").stdout == \
        '{"msg": "Hello nobody"}\n'
    assert json.loads(node.requests[-1][3]) == {}


def test_call_errors(m, node):
    register(m, node.service(NAME))
    r = m.ctl("call", "go.micro.srv.nope", "Say.Hello", check=False)
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == "microctl: service not found (404)\n"
    r = m.ctl("call", NAME, "Guard.Check", "{}", check=False)
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == "microctl: no (403)\n"


@pytest.mark.parametrize("arg", ['{"name":', "[1]", "nope", "-"])
def test_call_bad_json(m, node, arg):
    register(m, node.service(NAME))
    r = m.ctl("call", NAME, "Say.Hello", arg, check=False, input="{")
    assert r.returncode == 2
    assert r.stderr.startswith("microctl: bad JSON request: "), r.stderr
    assert node.requests == []


def test_call_timeout_and_fallback(microd):
    # No api role: call falls back to the sidecar's /rpc.
    m = microd(workers={"api": 0, "web": 0, "broker": 0})
    n = FakeNode(slow(3))
    try:
        register(m, n.service(NAME))
        r = m.ctl("call", "--timeout", "300ms", NAME, "Say.Hello",
                  check=False)
        assert r.returncode == 1
        assert r.stderr == "microctl: request timeout (408)\n"
        assert endpoints(n) == ["Say.Hello"]
    finally:
        n.close()


def test_call_and_health_with_the_api_rpc_off(microd, node):
    """[api] rpc = off maps /rpc like any path (to go.micro.api.rpc):
    call and health went there and said "service not found"; they take
    the sidecar's /rpc instead."""
    m = microd("[api]\nrpc = off\n", workers={"web": 0, "broker": 0})
    register(m, node.service(NAME))
    assert m.ctl("call", NAME, "Say.Hello").stdout == \
        '{"msg": "Hello nobody"}\n'
    assert m.ctl("health", NAME).returncode == 0
    assert endpoints(node) == ["Say.Hello", "Debug.Health"]
    assert m.status()["api_rpc"] is False


def test_health(m, node):
    dead = closed_address()
    svc = node.service(NAME, node_id="live-1")
    svc["nodes"].append({"id": "dead-1", "address": dead,
                         "metadata": {"protocol": "mucp"}})
    register(m, svc)
    r = m.ctl("health", NAME, check=False)
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["ID", "ADDRESS", "STATUS"]
    rows = {l.split()[0]: l.split(None, 2)[1:] for l in lines[1:]}
    assert rows["live-1"] == [node.address, "ok"]
    assert rows["dead-1"][0] == dead and rows["dead-1"][1] != "ok"
    assert endpoints(node) == ["Debug.Health"]
    r = m.ctl("--json", "health", NAME, check=False)
    assert r.returncode == 1
    got = {h["id"]: h for h in json.loads(r.stdout)}
    assert got["live-1"] == {"id": "live-1", "address": node.address,
                             "ok": True, "error": None}
    assert got["dead-1"]["ok"] is False
    assert got["dead-1"]["error"] == rows["dead-1"][1]
    # Only the live node left: healthy.
    m.ctl("deregister", "-", input=json.dumps(
        {"name": NAME, "version": "1.0.0", "nodes": [{"id": "dead-1"}]}))
    r = m.ctl("health", NAME)
    assert r.stdout.splitlines()[1].split() == ["live-1", node.address,
                                                "ok"]
    r = m.ctl("health", "go.micro.srv.nope", check=False)
    assert (r.returncode, r.stderr) == (1, "microctl: service not found\n")


def test_health_bad_answer(m):
    n = FakeNode(lambda h, b: (200, JSON, b'{"status": "sick"}'))
    try:
        register(m, n.service(NAME, node_id="sick-1"))
        r = m.ctl("health", NAME, check=False)
        assert r.returncode == 1
        assert r.stdout.splitlines()[1].split() == [
            "sick-1", n.address, "status", "sick"]
    finally:
        n.close()


def both(m, *args, input=None):
    """The same command over the control socket and the sidecar."""
    a = m.ctl(*args, check=False, input=input)
    b = m.ctl("--proxy-address", sidecar(m), *args, check=False,
              input=input)
    return a, b


def test_proxy_same_output(m, node, tmp_path):
    register(m, node.service(NAME))
    register(m, {"name": "go.micro.srv.other", "version": "2",
                 "metadata": {"a": "b"},
                 "endpoints": [{"name": "X.Y", "request": {"name": "R"},
                                "response": {"name": "S"}}],
                 "nodes": [{"id": "o-1", "address": "127.0.0.1:1"}]})
    for args in (["services"], ["--json", "services"], ["service", NAME],
                 ["--json", "service", "go.micro.srv.other"],
                 ["service", "go.micro.srv.other"],
                 ["service", "go.micro.srv.nope"],
                 ["call", NAME, "Say.Hello", '{"name": "J"}'],
                 ["call", NAME, "Guard.Check"],
                 ["health", NAME], ["--json", "health", NAME]):
        a, b = both(m, *args)
        assert (a.returncode, a.stdout, a.stderr) == (
            b.returncode, b.stdout, b.stderr), args
        assert a.stdout or a.stderr
    svc = json.dumps({"name": "go.micro.srv.px", "version": "1.0.0",
                      "nodes": [{"id": "px-1",
                                 "address": "127.0.0.1:2"}]})
    path = tmp_path / "px.json"
    path.write_text(svc)
    for json_flag in ([], ["--json"]):
        a, b = both(m, *json_flag, "register", "--ttl", "30s", str(path))
        assert (a.returncode, a.stdout) == (b.returncode, b.stdout) == (
            0, "{}\n" if json_flag else "registered go.micro.srv.px 1.0.0\n")
        a, b = both(m, *json_flag, "deregister", "-", input=svc)
        assert (a.returncode, a.stdout) == (b.returncode, b.stdout) == (
            0, "{}\n" if json_flag else
            "deregistered go.micro.srv.px 1.0.0\n")
    # Through the sidecar alone: registered, then gone.
    px = ["--proxy-address", sidecar(m)]
    m.ctl(*px, "register", "-", input=svc)
    assert "px-1" in m.ctl("service", "go.micro.srv.px").stdout
    m.ctl(*px, "deregister", str(path))
    r = m.ctl(*px, "service", "go.micro.srv.px", check=False)
    assert (r.returncode, r.stderr) == (1, "microctl: service not found\n")
    # The sidecar's own validation error.
    r = m.ctl(*px, "register", "-", input='{"name": "x"}', check=False)
    assert r.returncode == 1 and r.stderr.startswith("microctl: ")


@pytest.mark.parametrize("cmd", [["status"], ["workers"], ["reload"],
                                 ["stop"], ["restart", "api"]])
def test_proxy_refused(m, cmd):
    pids = m.pids()
    r = m.ctl("--proxy-address", sidecar(m), *cmd, check=False)
    assert r.returncode == 2
    assert "--proxy-address is not supported by '%s'" % cmd[0] in r.stderr
    # Refused before anything reached microd.
    assert m.proc.poll() is None
    assert m.pids() == pids


def test_proxy_unreachable_and_timeout_option(m):
    r = m.ctl("--proxy-address", closed_address(), "services", check=False)
    assert r.returncode == 1
    assert r.stderr.startswith("microctl: GET http://"), r.stderr
    for args in (["--timeout", "5s", "status"],
                 ["--timeout", "5s", "services"],
                 ["--timeout", "0s", "call", NAME, "X.Y"],
                 ["--proxy-address", "nocolon", "services"]):
        assert m.ctl(*args, check=False).returncode == 2, args
    r = m.ctl("--proxy-address", sidecar(m), "--timeout", "5s", "services")
    assert r.stdout.split() == ["NAME", "VERSIONS", "NODES"]


def ctl(m, *args, env=None):
    """microctl with extra environment (a locale)."""
    return subprocess.run([MICROCTL, "-s", m.socket] + list(args),
                          capture_output=True, text=True, timeout=20,
                          env=dict(os.environ, **(env or {})))


def test_control_characters_shown_as_question_marks(m):
    value = "a\u001b]0;T\u0007\nX"
    register(m, {"name": "esc.test", "version": "1.0.0",
                 "metadata": {"k": value},
                 "nodes": [{"id": "n1", "address": "127.0.0.1:9",
                            "metadata": {"k": value}}]})
    out = m.ctl("service", "esc.test").stdout
    assert "\x1b" not in out and "\x07" not in out
    assert "metadata k=a?]0;T??X\n" in out
    assert out.splitlines()[4].split() == ["n1", "127.0.0.1:9",
                                           "k=a?]0;T??X"]
    # --json is the registry's data, unchanged.
    svc = json.loads(m.ctl("--json", "service", "esc.test").stdout)[0]
    assert svc["metadata"]["k"] == value
    assert svc["nodes"][0]["metadata"]["k"] == value


def test_utf8_columns(m):
    for name in ("go.micro.café", "go.micro.cafe"):
        register(m, {"name": name, "version": "1.0.0",
                     "nodes": [{"id": name + "-1",
                                "address": "127.0.0.1:9"}]})
    r = ctl(m, "services", env={"LANG": "C.UTF-8", "LC_ALL": ""})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [l.split()[0] for l in lines] == ["NAME", "go.micro.cafe",
                                             "go.micro.café"]
    assert len({l.index(l.split()[1]) for l in lines}) == 1, lines


def test_option_in_a_cluster_named(m):
    r = m.ctl("--json", "-xj", "status", check=False)
    assert r.returncode == 2
    assert r.stderr.startswith("microctl: unknown option '-x'\n"), r.stderr
    r = m.ctl("status", "--bogus", check=False)
    assert r.returncode == 2
    assert r.stderr.startswith("microctl: unknown option '--bogus'\n")


def test_options_between_alias_words(m):
    register(m, {"name": NAME, "version": "1.0.0",
                 "nodes": [{"id": "a-1", "address": "127.0.0.1:9"}]})
    for args in (["list", "--json", "services"],
                 ["--json", "list", "services"],
                 ["list", "services", "--json"]):
        r = m.ctl(*args)
        assert [s["name"] for s in json.loads(r.stdout)] == [NAME], args
    r = m.ctl("get", "-j", "service", NAME)
    assert json.loads(r.stdout)[0]["nodes"][0]["id"] == "a-1"
    r = m.ctl("list", "--bogus", "services", check=False)
    assert r.returncode == 2 and "usage: microctl" in r.stderr


@pytest.mark.parametrize("args", [["publish", "bad topic", "x"],
                                  ["subscribe", "bad topic"],
                                  ["subscribe", "--queue", "bad q", "t"]])
def test_bad_topic_is_a_usage_error(m, args):
    r = m.ctl(*args, check=False)
    assert r.returncode == 2, r.stderr
    assert r.stderr == ("microctl: bad topic or queue name "
                        "(1-255 of A-Za-z0-9._:/-)\n")


MIB = 1024 * 1024


def peak_rss(pid):
    """A process's peak resident size so far (VmHWM), in bytes."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM for %d" % pid)


def flood(m, data, seconds=3, conns=60):
    """conns clients each send what they can of data for a few seconds,
    and read nothing. Returns their sockets, still open."""
    socks = []
    for _ in range(conns):
        s = socket.socket(socket.AF_UNIX)
        s.connect(m.socket)
        s.setblocking(False)
        socks.append(s)
    sent = dict.fromkeys(socks, 0)
    deadline = time.monotonic() + seconds
    while sent and time.monotonic() < deadline:
        for s in select.select([], list(sent), [], 0.1)[1]:
            try:
                sent[s] += s.send(data[sent[s]:sent[s] + 65536])
            except BlockingIOError:
                continue
            except ConnectionError:  # closed by microd
                sent[s] = len(data)
            if sent[s] == len(data):
                del sent[s]
    return socks


@pytest.mark.parametrize("what", ["big frames", "unread replies"])
def test_control_clients_cannot_make_the_master_buffer_much(microd, what):
    """Many clients sending most of a 4 MiB frame, or requests whose
    replies they never read: the master holds a bounded total, and
    still answers others."""
    # An ASan build would keep what it frees in quarantine, resident.
    asan = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"),
                                  "quarantine_size_mb=0"]))
    m = microd(workers={"web": 0, "broker": 0}, env={"ASAN_OPTIONS": asan})
    pid, before = m.proc.pid, peak_rss(m.proc.pid)
    if what == "big frames":
        data = struct.pack(">I", 4 * MIB) + b"\0" * (4 * MIB - 65536)
    else:
        data = frame({"v": 1, "id": 1, "cmd": "status"}) * 20000
    socks = flood(m, data)
    try:
        assert m.status()["workers"] >= 3
        grown = peak_rss(pid) - before
        assert grown < 32 * MIB, "master grew by %d MiB" % (grown >> 20)
    finally:
        for s in socks:
            s.close()


def big_service(name, size):
    """A Service whose JSON is size bytes."""
    nodes = [{"id": "%s-%d" % (name, i), "address": "127.0.0.1:%d" % (i + 1),
              "metadata": {"pad": "x" * 200}} for i in range(size // 300)]
    svc = {"name": name, "version": "1.0.0", "nodes": nodes}
    nodes[0]["metadata"]["pad"] += "x" * (size - len(json.dumps(svc)))
    return json.dumps(svc)


def test_control_requests_are_no_larger_than_a_service(m):
    # The largest Service the registry takes still comes in...
    svc = big_service("go.micro.srv.big", 64 * 1024)
    assert len(svc) == 64 * 1024
    m.ctl("register", "-", input=svc)
    assert "go.micro.srv.big-0 " in m.ctl("service",
                                         "go.micro.srv.big").stdout
    # ... and microctl says a larger one is too large before sending it,
    r = m.ctl("register", "-", input=big_service("go.micro.srv.big", 100000),
              check=False)
    assert r.returncode == 1
    assert r.stderr == "microctl: stdin: larger than 65536 bytes\n"
    # but a frame longer than any request closes the connection at
    # once, before its bytes come.
    s = socket.socket(socket.AF_UNIX)
    s.connect(m.socket)
    s.settimeout(5)
    try:
        s.sendall(struct.pack(">I", 256 * 1024) + b"\x84")
        assert s.recv(4096) == b""
    finally:
        s.close()
    assert "request too large" in m.read_log()
    assert m.status()["workers"] >= 3


def payloads(s, count=None):
    """Read frames until count of them came, or microd closed; their
    payloads."""
    data, out = b"", []
    while count is None or len(out) < count:
        n = struct.unpack(">I", data[:4])[0] if len(data) >= 4 else None
        if n is not None and len(data) >= 4 + n:
            out.append(data[4:4 + n])
            data = data[4 + n:]
            continue
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return out


def reply_ids(s):
    """Read replies until microd closes; the id of each, in order."""
    ids = []
    for p in payloads(s):
        i = p.index(b"\xa2id") + 3
        width = {0xcc: 1, 0xcd: 2, 0xce: 4}.get(p[i], 0)
        ids.append(int.from_bytes(p[i + 1:i + 1 + width], "big")
                   if width else p[i])
    return ids


def wakeups(pid):
    """How many times pid went to sleep of its own accord so far: an
    event loop's every wait."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches for %d" % pid)


def wakeups_during(pid, seconds):
    before = wakeups(pid)
    time.sleep(seconds)     # a measuring window, not a wait for an event
    return wakeups(pid) - before


def stats_stream(m):
    """A control connection with a stats stream open, its first event
    read."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(15)
    s.connect(m.socket)
    s.sendall(frame({"v": 1, "id": 1, "cmd": "stats"}))
    assert len(payloads(s, 1)) == 1
    return s


def test_stats_beat_stops_with_the_last_stream(microd):
    """The master's 1 s stats timer, started by the first stats stream,
    kept waking it every second for good once every stream had gone. It
    stops with the last one (the master wakes as often as before any
    stream: its own 1 s watchdog), runs on while one is left, and starts
    again with the next."""
    m = microd(workers={"web": 0, "sidecar": 0, "broker": 0})
    window = 6
    idle = wakeups_during(m.proc.pid, window)
    first, second = stats_stream(m), stats_stream(m)
    first.close()
    assert len(payloads(second, 2)) == 2, "no beat for the stream left"
    second.close()
    m.status()      # served after the close was seen: the stream is gone
    after = wakeups_during(m.proc.pid, window)
    # A beat left running adds one wakeup a second, 6 in the window.
    assert after <= idle + window // 2, (idle, after)
    again = stats_stream(m)
    try:
        assert len(payloads(again, 2)) == 2, "no beat for a new stream"
    finally:
        again.close()


def test_half_closed_client_gets_every_reply(m):
    """A client that sends its requests and shuts down its side (as
    socat does at the end of its input) still reads every answer, even
    more than its socket holds and one relayed to the registry."""
    svc = json.dumps({"name": "go.micro.srv.half", "version": "1",
                      "nodes": [{"id": "h-1", "address": "127.0.0.1:1"}]})
    reqs = [frame({"v": 1, "id": i, "cmd": "status"}) for i in range(300)]
    reqs.append(frame({"v": 1, "id": 300, "cmd": "register",
                       "args": {"json": svc}}))
    reqs.append(frame({"v": 1, "id": 301, "cmd": "version"}))
    s = socket.socket(socket.AF_UNIX)
    s.connect(m.socket)
    s.settimeout(20)
    try:
        s.sendall(b"".join(reqs))
        s.shutdown(socket.SHUT_WR)
        assert reply_ids(s) == list(range(302))
    finally:
        s.close()
    assert "h-1" in m.ctl("service", "go.micro.srv.half").stdout


def test_first_request_sent_byte_by_byte_too_slowly_is_closed(m):
    """A request trickling in a byte at a time must still be whole within
    10 s of connecting, or a few such clients hold every place."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(m.socket)
    s.settimeout(0.5)
    start = time.monotonic()
    closed = False
    try:
        for b in struct.pack(">I", 100) + b"\x84" * 100:
            s.send(bytes([b]))
            try:
                closed = s.recv(1) == b""
            except socket.timeout:  # the pace of the trickle
                pass
            if closed or time.monotonic() - start > 25:
                break
    except (BrokenPipeError, ConnectionError):
        closed = True
    finally:
        s.close()
    assert closed, "still open after %.1f s" % (time.monotonic() - start)
    assert 10 <= time.monotonic() - start < 20
    assert "sent no request in time" in m.read_log()


def test_idle_connection_is_closed_but_a_stream_stays(m):
    """A connection that sent one request has 30 s for the next: 64 such
    idle clients used to lock microctl out for good. One with a stream
    open only reads, and stays: it still gets stats events after."""
    idle = socket.socket(socket.AF_UNIX)
    idle.connect(m.socket)
    stream = socket.socket(socket.AF_UNIX)
    stream.connect(m.socket)
    try:
        idle.sendall(frame({"v": 1, "id": 1, "cmd": "version"}))
        idle.settimeout(10)
        assert payloads(idle, 1)
        stream.sendall(frame({"v": 1, "id": 1, "cmd": "stats"}))
        start = time.monotonic()
        frames, data, closed_at = 0, b"", None
        while time.monotonic() - start < 60:
            ready, _, _ = select.select([idle, stream], [], [], 1)
            if idle in ready and closed_at is None:
                assert idle.recv(1) == b""
                closed_at = time.monotonic()
                frames = 0
            if stream in ready:
                chunk = stream.recv(65536)
                assert chunk, "the stream was closed"
                data += chunk
                while len(data) >= 4 and len(data) >= 4 + struct.unpack(
                        ">I", data[:4])[0]:
                    data = data[4 + struct.unpack(">I", data[:4])[0]:]
                    frames += 1
            if closed_at is not None and frames >= 2:
                break
        assert closed_at is not None, "the idle connection is still open"
        assert 28 <= closed_at - start < 45
        assert frames >= 2, "no stats event since the idle one closed"
        assert "sent no request for a while" in m.read_log()
    finally:
        idle.close()
        stream.close()


@pytest.mark.parametrize("req,error", [
    ({"cmd": "restart", "args": {"role": 5}}, b"restart needs a role"),
    ({"cmd": "restart", "args": {"role": "api", "id": "x"}},
     b"bad worker id"),
    ({"cmd": "restart", "args": {"role": "api", "pid": "x"}},
     b"bad worker pid"),
    ({"cmd": "restart", "args": {"role": "api", "pid": 0}},
     b"bad worker pid"),
    # A pid names the process meant (micro-top's): init is no worker.
    ({"cmd": "restart", "args": {"role": "api", "id": 0, "pid": 1}},
     b"worker is not running"),
    ({"cmd": "service", "args": {"name": 7}}, b"service needs a name"),
    ({"cmd": "register", "args": {"json": 7}}, b'needs a "json" string'),
    ({"cmd": "register", "args": {"json": "{}", "ttl_ms": "x"}},
     b"ttl_ms must be a number"),
    ({"cmd": "deregister", "args": {}}, b'needs a "json" string'),
    ({"cmd": "nope"}, b"unknown command"),
    ({"ok": True}, b"not a request"),
])
def test_wrong_types_get_an_error_and_the_connection_goes_on(m, req, error):
    s = socket.socket(socket.AF_UNIX)
    s.connect(m.socket)
    s.settimeout(10)
    try:
        s.sendall(frame(dict({"v": 1, "id": 1}, **req)) +
                  frame({"v": 1, "id": 2, "cmd": "version"}))
        bad, good = payloads(s, 2)
    finally:
        s.close()
    assert b"\xa2ok\xc2" in bad and error in bad, bad
    assert b"\xa2id\x02\xa2ok\xc3" in good, good


def test_refused_connections_do_not_flood_the_log(m):
    """Past the 64 places, a client connecting in a loop is refused each
    time, but logged at most once a second, with how many: all 500 are
    counted."""
    held = []
    try:
        for i in range(64):
            s = socket.socket(socket.AF_UNIX)
            s.connect(m.socket)
            s.settimeout(10)
            held.append(s)
        # All 64 taken: a request on the last one is answered.
        held[-1].sendall(frame({"v": 1, "id": 1, "cmd": "version"}))
        assert payloads(held[-1], 1)
        start = time.monotonic()
        for _ in range(500):
            s = socket.socket(socket.AF_UNIX)
            s.connect(m.socket)
            s.settimeout(10)
            # Refused: one error reply, then closed at once.
            refusal = payloads(s)
            assert len(refusal) == 1 and b"too many" in refusal[0], refusal
            s.close()
    finally:
        for s in held:
            s.close()

    def refusals():
        return [l for l in m.read_log().splitlines() if "control: refus" in l]

    def counted():
        return sum(int(l.split("refused ")[1].split()[0]) for l in refusals())
    wait_for(lambda: counted() == 500, 10, what="every refusal counted")
    lines = refusals()
    # A line a second while they go on, however long a busy machine
    # takes to make them: 500 lines if each were logged.
    assert 1 <= len(lines) <= 2 + time.monotonic() - start, lines[:5]
    assert "(latest: too many)" in lines[0]


def test_services_of_a_large_host_fit_one_answer(microd):
    """11 000 services: the services answer (about 4.3 MB) is one frame,
    so microctl and micro-top list them all (they used to get "larger than
    a control frame", and micro-top -b never printed)."""
    m = microd()
    assert post(m, service(name="go.micro.srv.big"), ttl="1h")[0] == 200
    m.stop()
    multiply_stored_service(str(m.dir / "state" / "registry.db"),
                            "go.micro.srv.big", 11000)
    m.start()
    names = {s["name"] for s in m.ctl_json("services")}
    assert len(names) == 11001 and "go.micro.srv.big-11000" in names
    r = subprocess.run([MICROTOP, "-b", "-s", m.socket], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "go.micro.srv.big-11000" in r.stdout


@pytest.mark.parametrize("args", [("status",), ("--json", "workers"),
                                  ("services",)])
def test_output_lost_is_an_error(m, args):
    with open("/dev/full", "w") as full:
        r = subprocess.run([MICROCTL, "-s", m.socket] + list(args),
                           stdout=full, stderr=subprocess.PIPE, text=True,
                           timeout=20)
    assert r.returncode == 1
    assert "microctl: cannot write output" in r.stderr


def test_subscribe_ends_when_nobody_reads(microd):
    """With SIGPIPE ignored (inherited from Python), a subscriber whose
    reader has gone exits 1 at the next message instead of running on."""
    m = microd(workers={"web": 0, "api": 0})
    p = subprocess.Popen([MICROCTL, "-s", m.socket, "subscribe", "gone"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         restore_signals=False)
    try:
        p.stdout.close()

        def exited():
            m.ctl("publish", "gone", "hello")
            return p.poll() is not None
        wait_for(exited, 20, interval=0.1, what="subscriber exited")
        assert p.returncode == 1
        assert b"cannot write output" in p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
        p.stderr.close()


def lost_output(args, m):
    with open("/dev/full", "w") as full:
        return subprocess.run([MICROCTL, "-s", m.socket] + args,
                              stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=30)


def test_lost_output_says_why(microd):
    """stdio drops what a failed write held and keeps only a flag: with
    nothing left for the last fflush to fail on, microctl said "write
    error" instead of the errno of the write that failed."""
    m = microd()
    for i in range(60):     # over stdio's 4 KiB buffer as JSON
        assert post(m, service(name="go.micro.srv.lost%02d" % i))[0] == 200
    wait_for(lambda: len(m.ctl_json("services")) == 60, what="services")
    for args in (["--json", "services"], ["logs"], ["services"]):
        r = lost_output(args, m)
        assert (r.returncode, r.stderr) == (
            1, "microctl: cannot write output: No space left on device\n"), \
            args


def hung_up_output(cmd):
    """Run cmd writing to a terminal whose other side is gone (EIO)."""
    master, slave = os.openpty()
    os.close(master)
    try:
        return subprocess.run(cmd, stdout=slave, stderr=subprocess.PIPE,
                              text=True, timeout=30)
    finally:
        os.close(slave)


def test_hung_up_terminal_says_why(microd):
    """On a terminal each line is flushed as it is printed: the last
    fflush never had anything left to fail with, and both tools said
    "write error" for every output lost there."""
    m = microd()
    for cmd, name in (([MICROCTL, "-s", m.socket, "workers"], "microctl"),
                      ([MICROTOP, "-b", "-s", m.socket], "micro-top")):
        r = hung_up_output(cmd)
        assert (r.returncode, r.stderr) == (
            1, "%s: cannot write output: Input/output error\n" % name)


def test_status_says_the_registry_is_full(microd):
    """A full shm segment refuses registrations: microctl status and
    micro-top's header say so (only --json and /metrics did)."""
    m = microd(extra="[microd]\nshm_size = 1M\n")
    assert "registry full" not in m.ctl("status").stdout
    big = {"pad": "x" * 8000}
    for i in range(1000):
        status, _, body = post(m, service(name="go.micro.srv.big-%d" % i,
                                          metadata=big))
        if status != 200:
            break
    assert b"shm arena full" in body, body
    refused = m.status()["registry"]["full_errors"]
    assert refused > 0
    said = "registry full: %d changes refused, the shm segment is full" % (
        refused)
    assert said in m.ctl("status").stdout
    top = subprocess.run([MICROTOP, "-b", "-s", m.socket],
                         capture_output=True, text=True, timeout=20)
    assert top.returncode == 0 and said in top.stdout, top.stdout
