"""microctl against hostile command lines and input, closed descriptors,
lost output and what a daemon or a sidecar sends back."""
import os
import select
import socket
import subprocess
import threading

import pytest

from conftest import MICROCTL, frame, wait_for
from test_microctl import big_service


def test_empty_socket_path_is_a_usage_error():
    """connect(2) to "" names the Linux abstract socket of NUL bytes,
    which any local user may bind: refused before connecting (exit 2),
    where it used to try it ("microd is not running (stale socket )",
    or whoever had bound it)."""
    for argv in (["-s", "", "status"], ["--socket=", "version"],
                 ["workers", "-s", ""]):
        r = subprocess.run([MICROCTL] + argv, capture_output=True,
                           text=True, timeout=20)
        assert r.returncode == 2, (argv, r.stderr)
        assert "microctl: the socket path is empty" in r.stderr
        assert r.stdout == ""


def test_register_input_that_cannot_be_read_says_why(tmp_path):
    r = subprocess.run([MICROCTL, "-s", str(tmp_path / "none.sock"),
                        "register", str(tmp_path)], capture_output=True,
                       text=True, timeout=20)
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == "microctl: %s: Is a directory\n" % tmp_path
    # Standard input closed, not merely empty.
    r = subprocess.run([MICROCTL, "-s", str(tmp_path / "none.sock"),
                        "deregister", "-"], capture_output=True, text=True,
                       timeout=20, stdin=subprocess.DEVNULL,
                       preexec_fn=lambda: os.close(0))
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == "microctl: stdin: Bad file descriptor\n"


def run(argv, **kw):
    kw.setdefault("timeout", 20)
    return subprocess.run([MICROCTL] + argv, stdout=kw.pop(
        "stdout", subprocess.PIPE), stderr=subprocess.PIPE, text=True, **kw)


def test_help_output_lost_is_an_error():
    """-h exited 0 even when the usage could not be written."""
    with open("/dev/full", "w") as full:
        r = run(["-h"], stdout=full)
    assert r.returncode == 1
    assert "microctl: cannot write output" in r.stderr


@pytest.fixture
def m(microd):
    return microd(workers={"web": 0, "api": 0, "sidecar": 0})


def subscriber(m, topic):
    """A subscriber that has received a "ping" (it may get more)."""
    p = subprocess.Popen([MICROCTL, "-s", m.socket, "subscribe", topic],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def pinged():
        m.ctl("publish", topic, "ping")
        return select.select([p.stdout], [], [], 0.2)[0] != []
    wait_for(pinged, 20, interval=0, what="subscribed")
    return p


def lines_until(p, last):
    lines = []
    while not lines or lines[-1] != last:
        lines.append(p.stdout.readline())
    return lines


def test_publish_with_stdin_closed_reads_nothing_from_microd(m):
    """With fd 0 closed the control socket became fd 0, and publish sent
    the daemon's status reply as the message, exiting 0."""
    sub = subscriber(m, "closed")
    try:
        r = run(["-s", m.socket, "publish", "closed", "-"],
                stdin=subprocess.DEVNULL, preexec_fn=lambda: os.close(0))
        assert (r.returncode, r.stdout) == (1, "")
        assert r.stderr == "microctl: stdin: Bad file descriptor\n"
        fd = os.open(m.dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            r = run(["-s", m.socket, "publish", "closed", "-"], stdin=fd)
        finally:
            os.close(fd)
        assert r.stderr == "microctl: stdin: Is a directory\n"
        m.ctl("publish", "closed", "last")
        assert set(lines_until(sub, b"last\n")) <= {b"ping\n", b"last\n"}
    finally:
        sub.kill()
        sub.wait()
        sub.stdout.close()
        sub.stderr.close()


def test_subscribe_with_stdout_closed_prints_nothing_into_the_socket(m):
    """With fd 1 closed, messages went into the control socket (the
    daemon logged "request too large")."""
    p = subprocess.Popen([MICROCTL, "-s", m.socket, "subscribe", "shut"],
                         stdin=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         preexec_fn=lambda: os.close(1))
    try:
        def exited():
            m.ctl("publish", "shut", "hello")
            return p.poll() is not None
        wait_for(exited, 20, interval=0.1, what="subscriber exited")
        assert p.returncode == 1
        assert b"microctl: cannot write output" in p.stderr.read()
        assert "request too large" not in m.read_log()
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
        p.stderr.close()


class FakeMicrod:
    """A control socket that answers the first request with ok and then
    sends the given events on it."""

    def __init__(self, path, events):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(path)
        self.sock.listen(1)
        self.events = events
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        c, _ = self.sock.accept()
        with c:
            c.recv(65536)
            c.sendall(frame({"v": 1, "id": 1, "ok": True, "data": {}}))
            for name, data in self.events:
                c.sendall(frame({"v": 1, "id": 1, "event": name,
                                 "data": data}))

    def close(self):
        self.thread.join(10)
        self.sock.close()


def test_subscribe_notes_are_made_printable(tmp_path):
    """The reason of an interruption reached the terminal raw."""
    path = str(tmp_path / "fake.sock")
    fake = FakeMicrod(path, [
        ("interrupted", {"reason": "gone\x1b]0;title\x07\x1b[2J\rX"}),
        ("subscribed", {})])
    try:
        r = run(["-s", path, "subscribe", "t"])
    finally:
        fake.close()
    assert r.returncode == 1
    assert r.stderr.splitlines()[:2] == [
        "microctl: subscription interrupted, resubscribing: "
        "gone?]0;title??[2J?X", "microctl: subscribed again"]


def test_subscribe_proxy_handshake_takes_the_timeout():
    """--timeout was accepted with --proxy-address but the websocket
    handshake waited the library's 30 s for a silent sidecar."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    try:
        r = run(["--proxy-address", "127.0.0.1:%d" % srv.getsockname()[1],
                 "--timeout", "1s", "subscribe", "t"], timeout=15)
    finally:
        srv.close()
    assert r.returncode == 1
    assert r.stderr == "microctl: broker: request timed out\n"


@pytest.mark.parametrize("args", [("services",), ("service", "big.svc")])
def test_json_output_lost_is_one_line(m, args):
    """JSON larger than stdio's buffer said "cannot print JSON" and then
    "cannot write output": one failure, two lines."""
    m.ctl("register", "-", input=big_service("big.svc", 16 * 1024))
    with open("/dev/full", "w") as full:
        r = run(["-s", m.socket, "--json"] + list(args), stdout=full)
    assert r.returncode == 1
    assert r.stderr.startswith("microctl: cannot write output")
    assert r.stderr.count("\n") == 1
