"""microctl logs: the log rings of every process read back over the
control socket (doc/control-protocol.md, "logs"): the backlog, -f,
the level and process filters, --json, bad arguments."""
import json
import os
import queue
import re
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import MICROCTL, MICROD, http, wait_for

LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) "
                  r"(master|(registry|api|web|sidecar|broker)/\d+)"
                  r"\[\d+\] (error|warn|info|debug): ")


@pytest.fixture
def m(microd):
    return microd(workers={"web": 0, "broker": 0})


def lines_of(out):
    return [ln for ln in out.splitlines() if ln]


def logs(m, *args):
    return lines_of(m.ctl("logs", *args).stdout)


def cause_warning(m):
    """The master logs "control: closing connection: request too large"
    at warn for a frame announcing more than a request may hold."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(m.socket)
    s.sendall(struct.pack(">I", 64 * 1024 * 1024))
    s.settimeout(10)
    assert s.recv(1) == b""
    s.close()


def test_backlog_shows_startup_of_several_roles(m):
    out = logs(m, "-n", "50")
    assert all(LINE.match(ln) for ln in out), out
    text = "\n".join(out)
    assert " info: api listening on 127.0.0.1:%d" % m.ports["api"] in text
    assert " info: sidecar listening on" in text
    assert re.search(r"registry/0\[\d+\] info: .*service versions loaded",
                     text)
    # Merged by time across the rings.
    times = [LINE.match(ln).group(1) for ln in out]
    assert times == sorted(times)


def test_lines_count(m):
    assert len(logs(m, "-n", "3")) == 3
    assert logs(m, "-n", "0") == []
    assert len(logs(m)) == min(20, len(logs(m, "-n", "1000")))


def test_follow_shows_new_lines(m):
    env = dict(m.env, MICROD_SOCKET=m.socket)
    p = subprocess.Popen([MICROCTL, "logs", "-f", "-n", "1"],
                         stdout=subprocess.PIPE, text=True, env=env)
    got = queue.Queue()
    threading.Thread(target=lambda: [got.put(ln) for ln in p.stdout],
                     daemon=True).start()
    seen = []

    def saw(what):
        while not got.empty():
            seen.append(got.get())
        return any(what in ln for ln in seen)
    try:
        # The backlog's line: the stream is open.
        wait_for(lambda: saw(""), 10, what="backlog")
        m.ctl("reload")
        wait_for(lambda: saw("info: reloading " + m.conf), 10,
                 what="the reload logged")
        wait_for(lambda: saw("info: generation 2 serving"), 15,
                 what="generation 2 logged")
        wait_for(lambda: saw("") and any(
            re.search(r" api/0\[\d+\] \w+: draining", ln)
            for ln in seen), 15, what="the old api worker draining")
        assert p.poll() is None
    finally:
        p.terminate()
        p.wait(10)
    assert all(LINE.match(ln) for ln in seen), seen


def test_level_filter(m):
    cause_warning(m)
    wait_for(lambda: any("request too large" in ln
                         for ln in logs(m, "-n", "50")), 10,
             what="the warning in the backlog")
    out = logs(m, "-l", "warn", "-n", "50")
    assert out and all(LINE.match(ln).group(4) in ("warn", "error")
                       for ln in out), out
    assert any("master" in ln and "request too large" in ln for ln in out)
    assert logs(m, "--level", "error") == []


def test_json(m):
    out = m.ctl("--json", "logs", "-n", "5").stdout.splitlines()
    assert len(out) == 5
    for ln in out:
        d = json.loads(ln)
        assert set(d) == {"time", "pid", "role", "id", "level", "msg"}
        assert d["role"] in ("master", "registry", "api", "sidecar")
        assert d["level"] in ("error", "warn", "info", "debug")
        assert d["time"] > 1600000000000


def test_role_filter(m):
    reg = logs(m, "-n", "50", "registry")
    assert reg and all(LINE.match(ln).group(2) == "registry/0"
                       for ln in reg), reg
    assert logs(m, "-n", "50", "registry/0") == reg
    assert logs(m, "registry/7") == []
    master = logs(m, "-n", "50", "master")
    assert any("listening on" in ln for ln in master)
    assert all(LINE.match(ln).group(2) == "master" for ln in master)


@pytest.mark.parametrize("args", [
    ["-n", "x"], ["-n", "-1"], ["-n", "1001"], ["-n", ""], ["-l", "loud"],
    ["api/x"], ["/0"], ["api", "web"], ["-n"],
])
def test_bad_args(m, args):
    r = m.ctl("logs", *args, check=False)
    assert r.returncode == 2, r.stderr
    assert "usage:" in r.stderr or "microctl:" in r.stderr


def test_logs_options_elsewhere_and_unknown_role(m):
    for opt in (["-f"], ["-n", "3"], ["-l", "warn"]):
        r = m.ctl("status", *opt, check=False)
        assert r.returncode == 2 and "only for 'logs'" in r.stderr
    for bad in ("nope", "nope/1", "master/0"):
        r = m.ctl("logs", bad, check=False)
        assert r.returncode == 2, bad
        assert "bad process '%s'" % bad in r.stderr


def test_unread_stream_does_not_hold_the_daemon(m):
    """A logs -f client that never reads is skipped, then closed; the
    daemon keeps answering everyone else meanwhile."""
    s = socket.socket(socket.AF_UNIX)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(m.socket)
    body = (b"\x84\xa1v\x01\xa2id\x01\xa3cmd\xa4logs\xa4args"
            b"\x82\xa5lines\xcd\x03\xe8\xa6follow\xc3")
    s.sendall(struct.pack(">I", len(body)) + body)
    for _ in range(3):
        m.ctl("reload")
        assert m.ctl("version").returncode == 0
    wait_for(lambda: m.status()["generation"] >= 4, 20, what="reloads")
    s.close()
    assert os.path.exists(m.socket)


def start_to_unread(microd, kind, **kw):
    """microd with stdout and stderr a pipe or stream socket (journald's
    kind) nobody reads: the reading end is kept open, never read."""
    m = microd(start=False, **kw)
    if kind == "pipe":
        r, w = os.pipe()
    else:
        r, w = socket.socketpair()
        w.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        r, w = r.detach(), w.detach()
    m.proc = subprocess.Popen([MICROD, "-c", m.conf], stdout=w, stderr=w,
                              env=m.env, start_new_session=True)
    os.close(w)
    m.wait_ready()
    return m, r


def drain(fd):
    os.set_blocking(fd, False)
    got = b""
    try:
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                return got
            got += chunk
    except BlockingIOError:
        return got


def bad_request(port):
    """A request every worker answers 400 and logs (at debug)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"BOGUS\r\n\r\n")
    try:
        return s.recv(100)
    finally:
        s.close()


@pytest.mark.parametrize("kind", ["pipe", "socket"])
def test_unread_stderr_does_not_stop_the_daemon(microd, kind):
    """Lines fill the pipe (64 KiB) or the socket's buffers; the worker
    that logs the next one must not block in write(2): it keeps serving,
    its lines still reach the log ring, and once stderr is read again
    the next line written there says how many were dropped."""
    m, r = start_to_unread(microd, kind, workers={"web": 0, "broker": 0})
    try:
        for _ in range(1500):
            assert bad_request(m.ports["api"]).startswith(b"HTTP/1.1 400")
        assert http("GET", m.url("api", "/healthz"))[0] == 200
        out = m.ctl("logs", "-n", "1", "api").stdout
        assert "400 Bad Request" in out, out
        drain(r)
        bad_request(m.ports["api"])
        got = wait_for(lambda: drain(r), 10, what="a line on stderr")
        assert re.match(rb"microd\[\d+\]: api/0: \d+ lines dropped: "
                        rb"stderr was full\n", got), got
    finally:
        m.kill_all()
        os.close(r)


def ws_subscribe(port):
    """A websocket subscriber held open (its connection returned)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /sub?topic=t HTTP/1.1\r\nHost: x\r\nUpgrade: websocket"
              b"\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    assert s.recv(100).startswith(b"HTTP/1.1 101")
    return s


def refused(s):
    """One more subscriber on keep-alive connection s, refused with 503
    (and a warning) while the listener's max_connections are open."""
    s.sendall(b"GET /sub?topic=t HTTP/1.1\r\nHost: x\r\n\r\n")
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    head, _, body = buf.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503"), head
    size = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    while len(body) < size:
        body += s.recv(4096)


def test_refusal_flood_is_rate_limited(microd):
    """Every refused subscriber logs a warning: 2000 of them are 20
    lines at once then one a second, on disk and in the log ring, and
    the lines say how many like them were left out."""
    m = microd(extra="[broker]\nmax_connections = 1\n"
               "[microd]\nlog_level = info\n", workers={"web": 0})
    held = ws_subscribe(m.ports["broker"])
    s = socket.create_connection(("127.0.0.1", m.ports["broker"]),
                                 timeout=10)
    t0 = time.monotonic()
    for _ in range(2000):
        refused(s)
    total = [2000]

    def warned():
        with open(m.log) as f:
            lines = [ln for ln in f if "refusing a websocket" in ln]
        return len(lines), sum(
            int(x.group(1)) for x in (re.search(
                r"\((\d+) similar lines left out\)", ln) for ln in lines)
            if x)

    def all_told():
        """One more refused; True once every one is a line or counted
        in one (the one just refused took a token)."""
        refused(s)
        total[0] += 1
        return sum(warned()) == total[0]
    wait_for(all_told, 10, 0.1, what="every refusal told")
    lines, left_out = warned()
    assert left_out > 0
    assert lines <= 20 + time.monotonic() - t0 + 1
    ring = m.ctl("logs", "-n", "1000", "broker").stdout
    assert ring.count("refusing a websocket") == lines
    s.close()
    held.close()


def follow(m, *args):
    """microctl logs -f ARGS, and a function returning what it printed
    so far."""
    env = dict(m.env, MICROD_SOCKET=m.socket)
    p = subprocess.Popen([MICROCTL, "logs", "-f", "-n", "1"] + list(args),
                         stdout=subprocess.PIPE, text=True, env=env)
    got = queue.Queue()
    threading.Thread(target=lambda: [got.put(ln) for ln in p.stdout],
                     daemon=True).start()
    seen = []

    def lines():
        while not got.empty():
            seen.append(got.get())
        return seen
    wait_for(lines, 10, what="the backlog")
    return p, lines


def test_lost_lines_of_processes_filtered_out_not_reported(microd):
    """api/0 logs faster than the rings are polled and laps its ring:
    a stream of the master's lines lost none of them, one of api's did."""
    m = microd(workers={"web": 0, "broker": 0})
    bad_request(m.ports["api"])     # a line of api's for the backlog
    master, master_lines = follow(m, "master")
    api, api_lines = follow(m, "api")

    def lapped():
        for _ in range(1000):
            assert bad_request(m.ports["api"]).startswith(b"HTTP/1.1 400")
        return any("lines lost" in ln for ln in api_lines())
    try:
        wait_for(lapped, 60, what="api's stream losing lines")
        cause_warning(m)
        wait_for(lambda: any("request too large" in ln
                             for ln in master_lines()), 10,
                 what="the master's warning after the flood")
        assert not any("lines lost" in ln for ln in master_lines())
    finally:
        for p in (master, api):
            p.terminate()
            p.wait(10)
