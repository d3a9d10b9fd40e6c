"""The control socket and the configuration at their limits: who may
connect, how many may, a master that does not accept, more errors than
the reports hold, and a configuration path that is not a file."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile

import pytest

from conftest import MICROCTL, MICROD, MICROTOP, frame

CONTROL_MAX_CONNS = 64          # microd/control.c


@pytest.fixture
def public_dir():
    """A directory anyone may enter (pytest's tmp_path is 0700), holding
    a copy of microctl that anyone may run."""
    d = tempfile.mkdtemp(prefix="microd-ctl-")
    os.chmod(d, 0o755)
    shutil.copy(MICROCTL, os.path.join(d, "microctl"))
    os.chmod(os.path.join(d, "microctl"), 0o755)
    yield d
    shutil.rmtree(d)


def as_nobody(public_dir, sock, groups):
    """microctl version, run as nobody holding exactly groups."""
    return subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534",
         "--groups=" + ",".join(map(str, groups)),
         os.path.join(public_dir, "microctl"), "version"],
        capture_output=True, text=True, timeout=20,
        env=dict(os.environ, MICROD_SOCKET=sock))


def test_groups_of_the_peer_process_decide(microd, public_dir):
    """The group check looked the peer's user up in the group database
    (getgrouplist, 64 groups at most): a process given the socket's group
    at run time (systemd's SupplementaryGroups=, docker --group-add), or
    a member of more than 64 groups, was refused although the kernel had
    let it connect, with no word of why. The groups the peer's process
    holds decide now, and a peer refused is told why."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv(1)")
    m = microd(start=False)
    m.socket = os.path.join(public_dir, "microd.sock")
    m.write_conf()
    m.start()
    os.chown(m.socket, 0, 4242)         # a group no database names
    r = as_nobody(public_dir, m.socket, list(range(5000, 5070)) + [4242])
    assert r.returncode == 0 and "microd" in r.stdout, r.stderr
    os.chmod(m.socket, 0o666)           # past the kernel: ours says no
    r = as_nobody(public_dir, m.socket, [4243])
    assert r.returncode == 1
    assert "not allowed: only root, microd's user and the socket's group " \
        "are served" in r.stderr, r.stderr


def held_connection(path):
    """A control connection the master has accepted (it answered)."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(frame({"v": 1, "id": 1, "cmd": "version"}))
    s.settimeout(10)
    assert s.recv(4096)
    return s


def test_too_many_connections_are_told_so(microd):
    """With every control connection taken (32 micro-tops hold them all:
    two each), microctl and micro-top were closed with no reason given:
    "microd closed the connection". The master now says why first."""
    m = microd(workers={"web": 0, "broker": 0})
    held = [held_connection(m.socket) for _ in range(CONTROL_MAX_CONNS)]
    try:
        r = m.ctl("status", check=False)
        assert r.returncode == 1
        assert "too many control connections open: try again later" in \
            r.stderr, r.stderr
        r = subprocess.run([MICROTOP, "-b", "-s", m.socket],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 1
        assert "too many control connections open" in r.stderr, r.stderr
    finally:
        for s in held:
            s.close()
    assert m.ctl("status").returncode == 0


class Stopped:
    """The master SIGSTOPped with its control socket's backlog full: a
    connect(2) to it would wait."""

    def __init__(self, m):
        self.m, self.held = m, []

    def __enter__(self):
        os.kill(self.m.proc.pid, signal.SIGSTOP)
        while True:
            s = socket.socket(socket.AF_UNIX)
            s.setblocking(False)
            try:
                s.connect(self.m.socket)
            except BlockingIOError:
                s.close()
                return self
            self.held.append(s)

    def __exit__(self, *exc):
        os.kill(self.m.proc.pid, signal.SIGCONT)
        for s in self.held:
            s.close()


def test_second_microd_on_the_socket_of_a_stopped_one_exits(microd):
    """A second microd checks whether the socket is stale with a
    connect(2): with the first master stopped and its backlog full, that
    waited for ever, the second holding its listeners. It exits now,
    saying the socket is in use."""
    a = microd(workers={"web": 0, "broker": 0})
    b = microd(start=False, workers={"web": 0, "broker": 0}, name="b")
    b.socket = a.socket
    b.write_conf()
    with Stopped(a):
        p = subprocess.run([MICROD, "-c", b.conf], capture_output=True,
                           text=True, timeout=30)
    assert p.returncode != 0
    assert "another microd is running on this socket (not accepting " \
        "connections)" in p.stderr, p.stderr


def test_micro_top_gives_up_on_a_master_that_does_not_accept(microd):
    """micro-top's connect(2) to a master that does not accept waited 10 s
    (twice: two connections), keys unread and nothing drawn. It gives up
    after a moment now, and says the master does not accept."""
    m = microd(workers={"web": 0, "broker": 0})
    with Stopped(m):
        # Well within the 10 s the old connect(2) took.
        r = subprocess.run([MICROTOP, "-b", "-s", m.socket],
                           capture_output=True, text=True, timeout=8)
    assert r.returncode == 1
    assert "microd does not accept connections on %s (timed out)" % \
        m.socket in r.stderr, r.stderr


def test_every_error_is_whole_and_the_rest_counted(tmp_path):
    """More errors than microd -t's 4 KiB report holds: the report ended
    with a line cut short (a bare file name), and the errors after it were
    never mentioned. It holds whole lines now, and says how many more."""
    conf = tmp_path / "many.conf"
    lines = ["[api]"] + ["bogus_key_%03d = 1" % i for i in range(300)]
    conf.write_text("\n".join(lines + ["workers = many"]) + "\n")
    r = subprocess.run([MICROD, "-t", "-c", str(conf)], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode != 0
    shown = r.stderr.splitlines()
    assert len(shown) < 301, len(shown)
    for line in shown[:-1]:
        assert line.startswith("%s:" % conf) and \
            "unknown key 'bogus_key_" in line, line
    assert shown[-1] == "... and %d more errors" % (301 - len(shown) + 1)


def test_reload_error_holds_whole_errors(microd):
    """reload_error (1 KiB) was cut in the middle of an error."""
    m = microd(workers={"web": 0, "broker": 0})
    m.write_conf(text="[api]\n" + "".join(
        "bogus_key_%03d = 1\n" % i for i in range(100)))
    r = m.ctl("reload", check=False)
    assert r.returncode == 1
    err = m.status()["reload_error"]
    shown = err.split("; ")
    assert len(shown) < 100 and shown[-1] == "...", err
    for e in shown[:-1]:
        assert e.startswith("%s:" % m.conf) and e.endswith(" in [api]"), e


def test_reload_error_keeps_a_last_error_that_fits(microd):
    """Errors that fit reload_error whole (1020 of its 1024 bytes) lost
    the last one to "...", though nothing came after it."""
    m = microd(workers={"web": 0, "broker": 0})

    def error(key, line):
        return "%s:%d: unknown key '%s' in [api]" % (m.conf, line, key)
    keys, total = [], 0
    while True:
        key, line = "k%02d_" % len(keys), 2 + len(keys)
        more = (2 if keys else 0) + len(error(key, line))
        if total + 2 * more + 4 > 1020:     # no room for one more after
            key += "x" * (1020 - total - more)      # the last: to 1020
            keys.append(key)
            break
        keys.append(key)
        total += more
    m.write_conf(text="[api]\n" + "".join("%s = 1\n" % k for k in keys))
    assert m.ctl("reload", check=False).returncode == 1
    err = m.status()["reload_error"]
    assert err == "; ".join(error(k, 2 + i) for i, k in enumerate(keys))
    assert len(err) == 1020


@pytest.mark.parametrize("kind", ["device", "pipe"])
def test_config_that_never_ends_is_refused(tmp_path, kind):
    """microd -t -c /dev/zero read for ever, and so did a pipe whose
    writer never stops; the master at a reload would have too. At most
    1 MiB is read now. (A pipe stays a configuration: microd -c <(...).)"""
    path, writer = "/dev/zero", None
    if kind == "pipe":
        path = str(tmp_path / "fifo")
        os.mkfifo(path)
        writer = subprocess.Popen(["sh", "-c", "yes '# more' > %s" % path])
    try:
        r = subprocess.run([MICROD, "-t", "-c", path], capture_output=True,
                           text=True, timeout=20)
    finally:
        if writer is not None:
            writer.kill()
            writer.wait()
    assert r.returncode != 0
    assert r.stderr == "%s: larger than 1 MiB: not a configuration file\n" \
        % path, r.stderr
