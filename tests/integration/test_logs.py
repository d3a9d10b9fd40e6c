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

import pytest

from conftest import MICROCTL, wait_for

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
