"""Fixtures that run the real microd in a private temp dir.

Every listener binds port 0; the real ports are read back from
`microctl status --json`. Nothing sleeps to wait: helpers poll with a
deadline (see wait_for).
"""
import json
import os
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

SRCDIR = os.environ.get("MICROD_SRCDIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILDDIR = os.environ.get("MICROD_BUILDDIR") or SRCDIR
MICROD = os.path.join(BUILDDIR, "microd", "microd")
MICROCTL = os.path.join(BUILDDIR, "cli", "microctl")
MICROTOP = os.path.join(BUILDDIR, "tui", "micro-top")

ROLES = ("api", "web", "sidecar", "broker")


def accept_loop(sock, handle):
    """From a thread, call handle(conn) for each connection the
    listening sock accepts, until sock is closed."""
    def loop():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            handle(conn)
    threading.Thread(target=loop, daemon=True).start()


def wait_for(pred, timeout=10.0, interval=0.02, what="condition"):
    """Poll pred() until it returns a truthy value; fail after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return last
        except Exception as e:  # a daemon still starting refuses, etc.
            last = e
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


# The control protocol's frames (doc/control-protocol.md): 4-byte
# big-endian length, then a msgpack map.
def mp(v):
    """A tiny msgpack encoder (str, int >= 0, bool, dict) for raw frames."""
    if isinstance(v, bool):
        return b"\xc3" if v else b"\xc2"
    if isinstance(v, int):
        return b"\xce" + struct.pack(">I", v)
    if isinstance(v, str):
        b = v.encode()
        return b"\xda" + struct.pack(">H", len(b)) + b
    if isinstance(v, dict):
        return (b"\xde" + struct.pack(">H", len(v)) +
                b"".join(mp(k) + mp(x) for k, x in v.items()))
    raise TypeError(v)


def frame(d):
    body = mp(d)
    return struct.pack(">I", len(body)) + body


def signal_pid(pid, sig):
    """os.kill for one process. A pid of 0 or -1 signals a whole process
    group, and a worker waiting to respawn is listed with pid 0: that
    SIGKILLed pytest and the CI run with it."""
    assert pid > 1, "no process to signal: pid %r" % (pid,)
    os.kill(pid, sig)


def pid_alive(pid):
    try:
        signal_pid(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def http(method, url, body=None, headers=None, timeout=10):
    """Return (status, headers, body bytes); HTTP errors are not raised."""
    req = urllib.request.Request(url, data=body, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


# env={"JOURNAL_STREAM": JOURNAL_LOG}: microd's log file is the journal's
# stream, as under systemd.
JOURNAL_LOG = "the log file"


class Microd:
    """One microd with its own dir, socket, state and port-0 listeners."""

    def __init__(self, tmp, extra="", workers=None, env=None, name="m"):
        self.dir = tmp / name
        self.dir.mkdir()
        self.socket = str(self.dir / "microd.sock")
        self.conf = str(self.dir / "microd.conf")
        self.log = str(self.dir / "microd.log")
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.workers = {"api": 1, "web": 1, "sidecar": 1, "broker": 1}
        self.workers.update(workers or {})
        self.extra = extra
        self.proc = None
        self.write_conf()

    def conf_text(self, workers=None, extra=None):
        w = dict(self.workers)
        w.update(workers or {})
        lines = ["[microd]", "socket = %s" % self.socket,
                 "state_dir = %s" % (self.dir / "state"),
                 "log_level = debug", "shutdown_timeout = 5s", ""]
        for role in ROLES:
            lines += ["[%s]" % role, "listen = 127.0.0.1:0",
                      "workers = %d" % w[role], ""]
        text = "\n".join(lines) + "\n" + (self.extra if extra is None
                                           else extra)
        return merge_ini(text)

    def write_conf(self, workers=None, extra=None, text=None):
        with open(self.conf, "w") as f:
            f.write(text if text is not None else
                    self.conf_text(workers, extra))

    def start(self, wait=True, args=()):
        """Start microd (args: more options, "-d"), ready if wait."""
        self.logf = open(self.log, "ab")
        env = self.env
        if env.get("JOURNAL_STREAM") == JOURNAL_LOG:
            # As systemd names the stream it gives: device:inode.
            st = os.fstat(self.logf.fileno())
            env = dict(env, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
        self.proc = subprocess.Popen(
            [MICROD] + list(args) + ["-c", self.conf], stdout=self.logf,
            stderr=subprocess.STDOUT, env=env, start_new_session=True)
        if wait:
            self.wait_ready()
        return self

    def ctl(self, *args, check=True, input=None, timeout=20):
        env = dict(self.env, MICROD_SOCKET=self.socket)
        r = subprocess.run([MICROCTL] + list(args), capture_output=True,
                           text=True, env=env, input=input,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("microctl %s: %d %s" % (
                " ".join(args), r.returncode, r.stderr))
        return r

    def ctl_json(self, *args):
        return json.loads(self.ctl("--json", *args).stdout)

    def status(self):
        return self.ctl_json("status")

    def workers_list(self):
        return self.ctl_json("workers")

    def running(self, role=None):
        return [w for w in self.workers_list()
                if w["state"] == "running" and (role is None
                                                or w["role"] == role)]

    def wait_ready(self, timeout=15):
        want = sum(self.workers.values()) + 1

        def ready():
            assert self.proc.poll() is None, "microd exited: %s" % (
                self.read_log())
            ws = self.workers_list()
            return len([w for w in ws if w["state"] == "running"]) >= want
        wait_for(ready, timeout, what="microd workers running")
        self.ports = {}
        for role, addr in self.status()["listeners"].items():
            self.ports[role] = int(addr.rsplit(":", 1)[1])

    def url(self, role, path="/"):
        return "http://127.0.0.1:%d%s" % (self.ports[role], path)

    def read_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-6000:]
        except FileNotFoundError:
            return ""

    def pids(self):
        return [w["pid"] for w in self.workers_list() if w["pid"]]

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def kill_all(self):
        """SIGKILL the whole process group (the master and its workers)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def merge_ini(text):
    """Merge repeated [section] blocks so extra settings override."""
    sections, order, cur = {}, [], None
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("[") and s.endswith("]"):
            cur = s[1:-1]
            if cur not in sections:
                sections[cur] = {}
                order.append(cur)
            continue
        if not s or s.startswith(("#", ";")) or cur is None:
            continue
        k, v = [x.strip() for x in s.split("=", 1)]
        sections[cur][k] = v
    out = []
    for sec in order:
        out.append("[%s]" % sec)
        out += ["%s = %s" % kv for kv in sections[sec].items()]
        out.append("")
    return "\n".join(out)


@pytest.fixture
def nodes():
    """Fake service nodes a test appends (gwnodes.py), stopped after it."""
    made = []
    yield made
    for n in made:
        n.stop() if hasattr(n, "stop") else n.close()


@pytest.fixture
def microd(tmp_path):
    """A factory: microd(extra_ini, workers={...}, env={...}) -> started."""
    made = []

    def make(extra="", workers=None, env=None, start=True, name=None):
        m = Microd(tmp_path, extra, workers, env,
                   name or "m%d" % len(made))
        made.append(m)
        if start:
            m.start()
        return m
    yield make
    for m in made:
        if m.proc is not None:
            m.stop()
            if m.proc.returncode not in (0, None):
                print(m.read_log())


@pytest.fixture
def clock(tmp_path):
    """(env, shift): microd started with env sees its wall clock (not the
    monotonic one) moved by the milliseconds last given to shift."""
    shim = tmp_path / "clockshim.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(shim),
                    os.path.join(os.path.dirname(__file__), "clockshim.c"),
                    "-ldl"], check=True)
    path = tmp_path / "shift"

    def shift(ms):
        # Atomically: the shim must never read a half-written file.
        (tmp_path / "shift.new").write_text(str(ms))
        os.replace(tmp_path / "shift.new", path)
    shift(0)
    # An ASan build wants its runtime first: the shim is plain C.
    asan = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"),
                                  "verify_asan_link_order=0"]))
    return {"LD_PRELOAD": str(shim), "ASAN_OPTIONS": asan,
            "MICROD_TEST_CLOCK_SHIFT": str(path)}, shift


def register_ctl(m, svc, ttl="60s"):
    """microctl register --ttl, as a go-micro client registers."""
    m.ctl("register", "--ttl", ttl, "-", input=json.dumps(svc))


class Heartbeat:
    """Register svc again and again, as a go-micro client does."""

    def __init__(self, m, svc, ttl):
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(m, svc, ttl),
                                       daemon=True)
        self.thread.start()

    def _run(self, m, svc, ttl):
        while not self.stop.is_set():
            register_ctl(m, svc, ttl)
            self.stop.wait(0.5)

    def close(self):
        self.stop.set()
        self.thread.join()


def free_port():
    """Only for peers that cannot bind port 0 themselves (etcd)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
