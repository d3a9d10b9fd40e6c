"""The master process: workers, respawn, reload, stop, sd_notify, control."""
import errno
import json
import os
import signal
import socket
import sqlite3
import struct
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from http.client import HTTPConnection

import pytest

from conftest import (BUILDDIR, JOURNAL_LOG, MICROCTL, MICROD, ROLES, frame,
                      http, pid_alive, signal_pid, wait_for)
from test_ctl_subscribe import Ctl
from test_registry import post, service
from test_sidecar_health import RESTART_REGISTRY, crash_sidecar0, sidecar0


class HealthLoop:
    """Hammer GET /healthz from a thread; count failures of any kind.
    keepalive: one persistent connection (reopened only when the server
    says Connection: close), as load balancers and clients keep them."""

    def __init__(self, url, keepalive=False):
        self.url, self.ok, self.failures = url, 0, []
        self.keepalive = keepalive
        self.stop_flag = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def get_once(self):
        with urllib.request.urlopen(self.url, timeout=5) as r:
            assert r.status == 200
            r.read()

    def run(self):
        u = urllib.parse.urlsplit(self.url)
        conn = HTTPConnection(u.hostname, u.port, timeout=5)
        last = time.monotonic()
        while not self.stop_flag.is_set():
            try:
                if self.keepalive:
                    conn.request("GET", u.path)
                    r = conn.getresponse()
                    assert r.status == 200
                    r.read()
                else:
                    self.get_once()
                self.ok += 1
            except Exception as e:  # refused, reset, timeout, bad status
                # A draining worker closes a connection idle for its 2 s
                # grace: a stalled client retries, as clients do.
                if not (self.keepalive and time.monotonic() - last > 1.5):
                    self.failures.append(repr(e))
                conn.close()
            last = time.monotonic()
        conn.close()

    def __enter__(self):
        self.t.start()
        wait_for(lambda: self.ok > 0, what="first healthz")
        return self

    def __exit__(self, *a):
        self.stop_flag.set()
        self.t.join(10)


def test_workers_json_lists_configured_workers(microd):
    m = microd(workers={"api": 2, "web": 1, "sidecar": 1, "broker": 0})
    ws = m.workers_list()
    by_role = {}
    for w in ws:
        for key in ("role", "id", "pid", "state", "restarts", "started"):
            assert key in w
        by_role.setdefault(w["role"], []).append(w)
    assert sorted(w["id"] for w in by_role["api"]) == [0, 1]
    assert len(by_role["registry"]) == 1
    assert "broker" not in by_role
    assert all(w["state"] == "running" for w in ws)
    assert all(pid_alive(w["pid"]) for w in ws)
    st = m.status()
    assert set(st["listeners"]) == {"api", "web", "sidecar"}
    assert st["reload_error"] is None


def test_every_listener_answers_healthz(microd):
    m = microd()
    for role in ("api", "web", "sidecar", "broker"):
        status, _, body = http("GET", m.url(role, "/healthz"))
        assert status == 200, role
        assert b"ok" in body


def test_sigkill_worker_respawns_listener_stays_open(microd):
    m = microd(workers={"api": 1})
    old = m.running("api")[0]
    with HealthLoop(m.url("sidecar", "/healthz")) as loop_s, \
            HealthLoop(m.url("api", "/healthz")) as loop:
        killed_ms = time.time() * 1000
        signal_pid(old["pid"], signal.SIGKILL)
        new = wait_for(lambda: [w for w in m.running("api")
                                if w["pid"] != old["pid"]],
                       timeout=5, what="respawned api worker")[0]
        # By the master's clock: the listings that show it take seconds
        # of their own on a busy machine.
        assert new["started_ms"] - killed_ms < 1000
        wait_for(lambda: loop.ok > 20, what="healthz after respawn")
    assert new["restarts"] == old["restarts"] + 1
    assert not pid_alive(old["pid"])
    refused = [f for f in loop.failures if "refused" in f.lower()]
    assert refused == [], loop.failures
    assert loop_s.failures == []


def test_sighup_broken_config_keeps_workers(microd):
    m = microd()
    before = sorted(m.pids())
    m.write_conf(text="[api]\nworkers = lots\n")
    m.signal(signal.SIGHUP)
    st = wait_for(lambda: (lambda s: s if s["reload_error"] else None)(
        m.status()), what="reload error reported")
    assert "workers = lots" in st["reload_error"]
    assert ":2:" in st["reload_error"]
    assert sorted(m.pids()) == before
    assert st["generation"] == 1
    r = m.ctl("reload", check=False)
    assert r.returncode == 1 and "workers = lots" in r.stderr


def test_dash_s_reload_says_whether_the_reload_was_taken(microd):
    """microd -s reload (the unit's ExecReload=): `microd -t` passed a
    configuration whose reload is refused (shm_size needs a restart), so
    systemctl reload said success. It asks the master at the socket the
    configuration names, and fails with the master's reason."""
    m = microd()
    r = subprocess.run([MICROD, "-s", "reload", "-c", m.conf],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert m.status()["generation"] == 2
    m.write_conf(extra="[microd]\nshm_size = 32M\n")
    r = subprocess.run([MICROD, "-s", "reload", "-c", m.conf],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "microd: reload: [microd] shm_size cannot change on reload" in \
        r.stderr, r.stderr
    assert m.status()["generation"] == 2
    # A backend whose plugin does not load, as microd -t checks.
    m.write_conf(extra="[registry]\nbackend = etcd\naddress = 127.0.0.1:1\n")
    r = subprocess.run([MICROD, "-s", "reload", "-c", m.conf],
                       capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, MICROD_PLUGIN_DIR=m.dir))
    assert r.returncode == 1 and "registry-etcd.so" in r.stderr, r.stderr
    assert m.status()["generation"] == 2
    m.write_conf()
    m.stop()
    r = subprocess.run([MICROD, "-s", "reload", "-c", m.conf],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and m.socket in r.stderr, r.stderr
    assert "if microd.conf's socket changed, restart microd" in r.stderr
    for bad in (["-s", "stop"], ["-s", "reload", "-t"]):
        r = subprocess.run([MICROD, "-c", m.conf] + bad, capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 2 and "usage: microd" in r.stderr


def test_reload_errors_are_one_line(microd):
    """Several errors: reload_error (status, microctl's stderr) joined
    them with newlines, which microctl shows as '?': "not a number?..."
    read as a question."""
    m = microd()
    m.write_conf(text="[api]\nworkers = lots\nbogus = 1\n")
    r = m.ctl("reload", check=False)
    assert r.returncode == 1
    err = m.status()["reload_error"]
    assert "\n" not in err and "?" not in r.stderr, (err, r.stderr)
    assert "workers = lots: not a number; " in err, err
    assert ":3: unknown key 'bogus' in [api]" in err, err
    assert err in r.stderr


def test_sighup_more_api_workers_without_failed_requests(microd):
    m = microd(workers={"api": 1})
    old_pids = set(m.pids())
    with HealthLoop(m.url("api", "/healthz")) as loop:
        m.write_conf(workers={"api": 3})
        m.signal(signal.SIGHUP)
        wait_for(lambda: len(m.running("api")) == 3 and all(
            w["generation"] == 2 for w in m.running("api")),
            timeout=15, what="three generation-2 api workers")
        wait_for(lambda: all(not pid_alive(p) for p in old_pids
                             if p not in m.pids()),
                 timeout=15, what="old generation gone")
        n = loop.ok
        wait_for(lambda: loop.ok > n + 20, what="healthz after reload")
    assert loop.failures == []
    st = m.status()
    assert st["generation"] == 2 and st["reload_error"] is None
    api = [w for w in m.workers_list() if w["role"] == "api"]
    assert len(api) == 3


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGQUIT])
def test_stop_signal_exits_zero_and_leaves_nothing(microd, sig):
    """SIGQUIT (^\\, or nginx's graceful stop) killed the master with its
    default action: workers cut off undrained, the socket left behind."""
    m = microd(workers={"api": 2})
    pids = m.pids()
    m.signal(sig)
    assert m.proc.wait(timeout=20) == 0
    wait_for(lambda: not any(pid_alive(p) for p in pids), timeout=5,
             what="workers gone")
    assert not os.path.exists(m.socket)
    assert "exited on signal" not in m.read_log()


def test_second_microd_on_the_same_state_dir_exits(microd):
    """Two microds on one state_dir (each with its own socket and ports)
    both started, and their registry workers wrote one registry.db: a
    registration of one was lost when the other stored its copy. The
    second one exits now, naming the first; once that one stops, the
    state_dir is free again, however it stopped."""
    a = microd(workers={"web": 0, "broker": 0})
    b = microd(start=False, workers={"web": 0, "broker": 0}, name="b")
    b.write_conf(text=b.conf_text().replace(str(b.dir / "state"),
                                            str(a.dir / "state")))
    p = subprocess.run([MICROD, "-c", b.conf], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 1
    assert "state_dir %s is in use by microd pid %d" % (
        a.dir / "state", a.proc.pid) in p.stderr, p.stderr
    assert a.status()["generation"] == 1
    pids = a.pids()
    a.signal(signal.SIGKILL)
    a.proc.wait(timeout=10)
    # Its workers hold the lock as long as they live (draining, they
    # may still write): b starts once they are gone.
    wait_for(lambda: not any(pid_alive(p) for p in pids), timeout=20,
             what="a's workers gone")
    b.start()
    assert b.status()["generation"] == 1


def test_state_dir_held_by_workers_of_a_dead_master(microd):
    """A worker that outlives its killed master (stopped, so it never saw
    the master go) keeps the state_dir's lock: the next microd named the
    dead master's pid as the one using it."""
    a = microd(workers={"web": 0, "broker": 0, "sidecar": 0})
    api = a.running("api")[0]["pid"]
    signal_pid(api, signal.SIGSTOP)
    try:
        a.signal(signal.SIGKILL)
        a.proc.wait(timeout=10)
        p = subprocess.run([MICROD, "-c", a.conf], capture_output=True,
                           text=True, timeout=30)
        assert p.returncode == 1
        assert "in use by workers of microd pid %d, which is gone " \
            "(fuser -v %s)" % (a.proc.pid, a.dir / "state") in p.stderr, \
            p.stderr
    finally:
        signal_pid(api, signal.SIGKILL)


def test_signals_to_the_process_group_reach_the_master_alone(microd):
    """A hangup (or `systemctl kill -s HUP`, `pkill -HUP microd`) reaches
    every process: each worker died of it while the master reloaded. The
    master alone acts, for SIGQUIT too."""
    m = microd()
    os.killpg(m.proc.pid, signal.SIGHUP)
    wait_for(lambda: generation_serving(m, 2), timeout=20,
             what="generation 2 serving")
    wait_for(lambda: all(w["generation"] == 2 for w in m.workers_list()),
             timeout=20, what="generation 1 drained")
    os.killpg(m.proc.pid, signal.SIGQUIT)
    assert m.proc.wait(timeout=20) == 0
    assert "exited on signal" not in m.read_log(), m.read_log()


def test_ready_sent_on_notify_socket(microd, tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(20)
    m = microd(env={"NOTIFY_SOCKET": path}, start=False)
    m.start(wait=False)
    got = []
    while not any(b"READY=1" in g for g in got):
        got.append(sock.recv(4096))
    m.wait_ready()
    m.signal(signal.SIGTERM)
    while not any(b"STOPPING=1" in g for g in got):
        got.append(sock.recv(4096))
    assert m.proc.wait(timeout=20) == 0
    sock.close()


def test_notify_failure_is_a_warning(microd, tmp_path):
    """systemd would kill a microd whose READY=1 never arrived after
    TimeoutStartSec: the log must say why, and once, not per watchdog
    ping."""
    path = str(tmp_path / "no-such-dir" / "notify.sock")
    m = microd(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "20000",
                    "JOURNAL_STREAM": JOURNAL_LOG})
    # the watchdog pings every 10 ms: let many fail
    wait_for(lambda: m.read_log().count("sd_notify WATCHDOG=1") >= 5,
             what="watchdog pings failing")
    warned = [l for l in m.read_log().splitlines()
              if l.startswith("<4>") and "sd_notify" in l]
    # READY=1 or, on a slow start, a watchdog ping before it
    assert len(warned) == 1, warned
    assert "No such file or directory" in warned[0]


def test_microctl_dead_socket(tmp_path):
    sock = str(tmp_path / "none.sock")
    r = subprocess.run([MICROCTL, "-s", sock, "status"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1
    assert "not running" in r.stderr and sock in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(sock)
    stale.close()
    r = subprocess.run([MICROCTL, "-s", sock, "workers"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "not running" in r.stderr


def test_microctl_usage_errors(tmp_path):
    r = subprocess.run([MICROCTL, "frobnicate"], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 2 and "usage" in r.stderr.lower()


def test_garbage_on_control_socket_closes_only_that_connection(microd):
    m = microd()
    for junk in (b"\xff\xff\xff\xff" + b"x" * 64,
                 b"\x00\x00\x00\x05hello",
                 struct.pack(">I", 3) + b"\x93\x01\x02"):
        s = socket.socket(socket.AF_UNIX)
        s.connect(m.socket)
        s.sendall(junk)
        s.settimeout(10)
        assert s.recv(4096) == b""  # closed by the daemon
        s.close()
    assert m.status()["workers"] >= 5
    assert m.proc.poll() is None


def test_other_protocol_version_gets_an_error(microd):
    m = microd()
    # {"v": 99, "id": 7, "cmd": "status"} in msgpack
    payload = (b"\x83\xa1v\x63\xa2id\x07\xa3cmd\xa6status")
    s = socket.socket(socket.AF_UNIX)
    s.connect(m.socket)
    s.sendall(struct.pack(">I", len(payload)) + payload)
    s.settimeout(10)
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    assert b"not supported" in data
    s.close()
    assert m.proc.poll() is None


def test_restart_role_gives_new_pids(microd):
    m = microd(workers={"api": 2})
    old = {w["pid"] for w in m.running("api")}
    r = m.ctl("restart", "api")
    assert r.returncode == 0
    wait_for(lambda: len(m.running("api")) == 2 and not (
        {w["pid"] for w in m.running("api")} & old), what="new api pids")
    for bad in ("nosuchrole", "nosuchrole/1", "master"):
        r = m.ctl("restart", bad, check=False)
        assert r.returncode == 2, bad
        assert "bad worker '%s'" % bad in r.stderr


def test_config_check_mode(tmp_path):
    good = tmp_path / "good.conf"
    good.write_text("[api]\nlisten = 127.0.0.1:0\n")
    r = subprocess.run([MICROD, "-t", "-c", str(good)], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 0
    bad = tmp_path / "bad.conf"
    bad.write_text("[api]\nlisten = 127.0.0.1:0\nbogus = 1\n")
    r = subprocess.run([MICROD, "-t", "-c", str(bad)], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 1
    assert "%s:3: unknown key 'bogus'" % bad in r.stderr


def test_replies_come_in_request_order(microd):
    m = microd()
    svc = json.dumps({"name": "go.micro.srv.order", "version": "1",
                      "nodes": [{"id": "o-1", "address": "127.0.0.1:1"}]})
    s = socket.socket(socket.AF_UNIX)
    s.connect(m.socket)
    # A relayed request, then one the master answers at once.
    s.sendall(frame({"v": 1, "id": 1, "cmd": "register",
                     "args": {"json": svc}}) +
              frame({"v": 1, "id": 2, "cmd": "version"}))
    s.settimeout(10)
    data = b""
    ids = []
    while len(ids) < 2:
        data += s.recv(65536)
        while len(data) >= 4:
            n = struct.unpack(">I", data[:4])[0]
            if len(data) < 4 + n:
                break
            payload, data = data[4:4 + n], data[4 + n:]
            # "id" is packed as a positive fixint or uint: find it.
            i = payload.index(b"\xa2id") + 3
            ids.append(payload[i] if payload[i] < 0x80 else
                       int.from_bytes(payload[i + 1:i + 5], "big"))
    s.close()
    assert ids == [1, 2]
    assert m.ctl("service", "go.micro.srv.order").returncode == 0


def test_many_short_clients_do_not_lock_out_the_socket(microd):
    m = microd()
    for _ in range(100):
        s = socket.socket(socket.AF_UNIX)
        s.connect(m.socket)
        try:
            s.sendall(frame({"v": 2, "id": 1, "cmd": "status"}))
        except (BrokenPipeError, ConnectionResetError):
            pass    # refused: 64 of them were still open
        s.close()
    st = wait_for(lambda: m.status(), what="status after 100 clients")
    assert st["workers"] >= 5


def test_reload_with_new_registry_config_completes(microd):
    m = microd()
    svc = {"name": "go.micro.srv.kept", "version": "1",
           "nodes": [{"id": "k-1", "address": "127.0.0.1:1"}]}
    status, _, _ = http("POST", m.url("sidecar", "/registry?ttl=0s"),
                        json.dumps(svc).encode())
    assert status == 200
    reg = [w for w in m.workers_list() if w["role"] == "registry"][0]
    m.write_conf(extra=m.extra + "\n[registry]\nttl = 42s\n")
    m.ctl("reload")
    wait_for(lambda: m.status()["generation"] == 2 and [
        w for w in m.running("registry") if w["pid"] != reg["pid"]
        and w["generation"] == 2], timeout=20, what="new registry running")
    assert all(w["generation"] == 2 for w in m.workers_list())
    names = {s["name"] for s in m.ctl_json("services")}
    assert "go.micro.srv.kept" in names
    svc["name"] = "go.micro.srv.after"
    assert http("POST", m.url("sidecar", "/registry"),
                json.dumps(svc).encode())[0] == 200
    # Unchanged registry settings: the writer is carried over.
    reg2 = m.running("registry")[0]
    m.ctl("reload")
    wait_for(lambda: m.status()["generation"] == 3, what="generation 3")
    wait_for(lambda: all(w["generation"] == 3 for w in m.workers_list()),
             what="old generation drained")
    assert m.running("registry")[0]["pid"] == reg2["pid"]


def test_restart_out_of_range_worker_id_restarts_nothing(microd):
    m = microd(workers={"api": 2})
    old = {w["pid"] for w in m.running("api")}
    # Once truncated to int: 2^31 became "every worker", 2^32-1 became -1.
    for spec in ("api/2147483648", "api/4294967295", "api/2"):
        r = m.ctl("restart", spec, check=False)
        assert r.returncode == 1, (spec, r.stdout)
    # A worker asked to restart drains at once: it would not be running.
    assert {w["pid"] for w in m.running("api")} == old


def test_socket_path_that_is_not_a_socket_is_left_alone(microd):
    m = microd(start=False)
    with open(m.socket, "w") as f:
        f.write("precious\n")
    m.start(wait=False)
    assert m.proc.wait(timeout=20) != 0
    with open(m.socket) as f:
        assert f.read() == "precious\n"
    assert "not a socket" in m.read_log()


def test_started_with_stdio_closed(microd):
    """Started with descriptors 0-2 closed, the first the master opened
    took their numbers: its log lines went into whatever that was. They
    are /dev/null now, in the master and in its workers."""
    m = microd(start=False, workers={"web": 0, "sidecar": 0, "broker": 0})
    m.proc = subprocess.Popen(
        ["sh", "-c", 'exec "$0" -c "$1" <&- >&- 2>&-', MICROD, m.conf],
        env=m.env, start_new_session=True)
    m.wait_ready()
    for pid in [m.proc.pid] + [w["pid"] for w in m.running()]:
        assert [os.readlink("/proc/%d/fd/%d" % (pid, fd))
                for fd in range(3)] == ["/dev/null"] * 3, pid


def test_idle_control_connections_are_closed(microd):
    m = microd()
    idle = []
    for _ in range(64):      # every place the control socket has
        s = socket.socket(socket.AF_UNIX)
        s.connect(m.socket)
        idle.append(s)
    try:
        st = wait_for(lambda: m.status(), timeout=30,
                      what="status while 64 connections sit idle")
        assert st["workers"] >= 5
        for s in idle:
            s.settimeout(10)
            assert s.recv(1) == b""  # closed by microd
        assert "sent no request in time" in m.read_log()
    finally:
        for s in idle:
            s.close()


def test_worker_restarted_before_a_reload_ends_with_its_generation(microd):
    m = microd(workers={"api": 1})
    stuck = m.running("api")[0]["pid"]
    signal_pid(stuck, signal.SIGSTOP)   # as if draining a long request
    try:
        m.ctl("restart", "api")
        m.ctl("reload")
        wait_for(lambda: m.status()["generation"] == 2 and
                 any(w["generation"] == 2 for w in m.running("api")),
                 what="generation 2 serving")
    finally:
        signal_pid(stuck, signal.SIGCONT)
    wait_for(lambda: not pid_alive(stuck), what="stuck worker gone")

    def settled():
        api = [w for w in m.workers_list() if w["role"] == "api"]
        return len(api) == 1 and api[0]["generation"] == 2 and \
            api[0]["state"] == "running" and api[0]["pid"] != stuck
    # Until the master reaps it the old worker is listed (draining); once
    # reaped it is gone, where it used to come back in generation 1.
    wait_for(settled, what="only generation 2's api worker")


def test_reloads_in_a_row_settle_on_the_last(microd):
    """SIGHUPs faster than a generation gets ready: each one supersedes
    the generation that never served, so they cannot pile up until the
    broker rings (and shm slots) run out and leave sidecar and broker
    workers stopped for good."""
    m = microd()
    registry = m.running("registry")[0]["pid"]
    for _ in range(40):
        signal_pid(m.proc.pid, signal.SIGHUP)
        time.sleep(0.01)    # the pace of the burst, not a readiness wait

    def settled():
        ws = m.workers_list()
        gens = {w["generation"] for w in ws}
        return len(gens) == 1 and all(w["state"] == "running" for w in ws) \
            and len(ws) == 5 and m.status()["generation"] in gens
    wait_for(settled, timeout=30, what="one generation, every worker up")
    # The registry worker's configuration never changed: carried over.
    assert m.running("registry")[0]["pid"] == registry
    for role in ("api", "web", "sidecar", "broker"):
        assert http("GET", m.url(role, "/healthz"))[0] == 200


def test_a_relayed_request_the_registry_worker_leaves_unanswered_fails(
        microd, tmp_path):
    """A register relayed to a stopped registry worker is failed after the
    relay's 5 s, with a retryable error, before the watchdog's ~10 s kill;
    the registry worker, let go, still applies it, and its late reply is
    dropped."""
    from test_registry import post, service
    m = microd(workers={"sidecar": 1})
    registry = m.running("registry")[0]["pid"]
    svc_file = tmp_path / "svc.json"
    svc_file.write_text(json.dumps(service("relay.ctl")))
    signal_pid(registry, signal.SIGSTOP)
    try:
        ctl = subprocess.Popen(
            [MICROCTL, "register", str(svc_file)], text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=dict(m.env, MICROD_SOCKET=m.socket))
        status, _, body = post(m, service("relay.http"))
        _, err = ctl.communicate(timeout=30)
    finally:
        signal_pid(registry, signal.SIGCONT)
    assert status == 503
    assert "did not answer in time" in json.loads(body)["detail"]
    assert ctl.returncode == 1
    assert "did not answer in time" in err
    assert "registry worker did not answer request" in m.read_log()
    wait_for(lambda: m.status()["registry"]["services"] == 2, 20,
             what="both registrations applied late")
    wait_for(lambda: m.read_log().count("came after it was failed") == 2,
             10, what="the late replies dropped")
    assert pid_alive(registry)


def test_each_listener_answers_its_own_errors_under_its_id(microd):
    """A listener's own 404 and 405 carry its role's error id, as its
    handlers' errors do (the broker and sidecar answered as go.micro.api)."""
    m = microd()
    for role in ("web", "sidecar", "broker"):
        want = "go.micro." + role
        status, _, body = http("GET", m.url(role, "/no/such/thing"))
        assert status == 404 and json.loads(body)["id"] == want, body
        status, _, body = http("PUT", m.url(role, "/healthz"), b"")
        assert status == 405 and json.loads(body)["id"] == want, body


def test_worker_of_a_superseded_generation_is_not_respawned(microd):
    """An old-generation worker that dies while its successor generation
    is starting stays dead: it came back in the old generation, running
    the new configuration (here: an api worker on no listener at all)."""
    m = microd(workers={"api": 1})
    old = m.running("api")[0]["pid"]
    registry = m.running("registry")[0]["pid"]
    signal_pid(registry, signal.SIGSTOP)   # generation 2 waits for its exit
    try:
        m.write_conf(workers={"api": 0},
                     extra=m.extra + "\n[registry]\nttl = 42s\n")
        m.ctl("reload")
        signal_pid(old, signal.SIGKILL)
        wait_for(lambda: "api/0: pid %d exited on signal 9" % old in
                 m.read_log(), what="the killed api worker reaped")
        assert [w for w in m.workers_list() if w["role"] == "api"] == []
        assert "api" not in m.status()["listeners"]
    finally:
        signal_pid(registry, signal.SIGCONT)
    wait_for(lambda: all(w["generation"] == 2 and w["state"] == "running"
                         for w in m.workers_list()), timeout=20,
             what="generation 2 serving")


def take_descriptors(m, limit, fill):
    """Idle control connections (appended to fill) until the master holds
    limit descriptors: one at a time, each once the last was accepted, so
    that a descriptor the master holds for a moment does not make the
    count miss."""
    fddir = "/proc/%d/fd" % m.proc.pid

    def nfds():
        return len(os.listdir(fddir))
    while nfds() < limit:
        before = nfds()
        s = socket.socket(socket.AF_UNIX)
        s.connect(m.socket)
        fill.append(s)
        assert len(fill) <= limit, "descriptors never all taken"
        deadline = time.monotonic() + 2     # accepted: the count moves
        while nfds() == before and time.monotonic() < deadline:
            time.sleep(0.01)


def test_respawn_retried_soon_after_descriptors_run_out(microd):
    """A worker that cannot be started for want of descriptors is tried
    again with the quick-exit backoff, not only 30 s later."""
    import resource
    m = microd(workers={"api": 1})
    old = m.running("api")[0]["pid"]
    fddir = "/proc/%d/fd" % m.proc.pid

    def nfds():
        return len(os.listdir(fddir))
    limit = max(int(f) for f in os.listdir(fddir)) + 4
    resource.prlimit(m.proc.pid, resource.RLIMIT_NOFILE, (limit, limit))
    fill = []
    try:
        # Take every free descriptor with idle control connections, so
        # that the api channel's one leaves too few for a socketpair.
        take_descriptors(m, limit, fill)
        signal_pid(old, signal.SIGKILL)
        wait_for(lambda: "api/0: socketpair: Too many open files" in
                 m.read_log(), what="the respawn failing")
    finally:
        for s in fill:
            s.close()
    wait_for(lambda: nfds() < limit - 2, what="descriptors given back")
    wait_for(lambda: [w for w in m.running("api") if w["pid"] != old],
             timeout=10, what="api worker respawned")


def test_refused_reload_status_is_one_notify_line(microd, tmp_path):
    """sd_notify reads the datagram line by line: a refusal listing two
    errors sent the second as a bogus assignment of its own."""
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(20)
    m = microd(env={"NOTIFY_SOCKET": path})
    while b"READY=1" not in sock.recv(4096):
        pass
    m.write_conf(text="[api]\nworkers = lots\nbogus = 1\n")
    assert m.ctl("reload", check=False).returncode == 1
    msg = sock.recv(4096)
    while not msg.startswith(b"STATUS=reload refused"):
        msg = sock.recv(4096)
    assert b"\n" not in msg and b"workers = lots" in msg, msg
    assert "unknown key 'bogus'" in m.status()["reload_error"]
    sock.close()


def test_reload_cannot_switch_the_broker_backend(microd):
    """The broker's plugin is loaded before the fork: a reload that
    switched builtin to nats was taken, then the new broker and sidecar
    workers exited 2 ("takes effect at microd's next start") and stayed
    down. It is refused, as the other fixed settings are."""
    m = microd()
    before = {w["pid"] for w in m.running("broker") + m.running("sidecar")}
    m.write_conf(extra="[broker]\nbackend = nats\n")
    r = m.ctl("reload", check=False)
    assert r.returncode == 1, r.stdout
    assert "[broker] backend cannot change on reload" in r.stderr
    assert m.status()["generation"] == 1
    assert {w["pid"] for w in m.running("broker") + m.running("sidecar")} \
        == before


def test_reloads_under_keepalive_load_fail_nothing(microd):
    """Clients on persistent connections through repeated reloads: an
    old worker answers each one's next request with Connection: close
    instead of closing the connection under it (which the client would
    see as a reset or a request answered by nothing)."""
    m = microd(workers={"api": 2})
    loops = [HealthLoop(m.url("api", "/healthz"), keepalive=True)
             for _ in range(4)]
    for loop in loops:
        loop.__enter__()
    try:
        for gen in range(2, 8):
            m.signal(signal.SIGHUP)
            wait_for(lambda: m.status()["generation"] == gen and all(
                w["generation"] == gen for w in m.workers_list()
                if w["role"] == "api"), timeout=20,
                what="generation %d alone" % gen)
        n = sum(loop.ok for loop in loops)
        wait_for(lambda: sum(loop.ok for loop in loops) > n + 40,
                 what="requests after the last reload")
    finally:
        for loop in loops:
            loop.__exit__()
    assert [f for loop in loops for f in loop.failures] == []


def test_control_socket_out_of_descriptors_pauses_not_spins(microd):
    """With every descriptor of the master taken, a control connection
    waiting to be accepted made accept(2) fail at once, forever: the
    master spun, logging millions of lines. It pauses accepting instead,
    and takes the connection once descriptors are back."""
    import resource
    m = microd(workers={"api": 1})
    fddir = "/proc/%d/fd" % m.proc.pid
    limit = max(int(f) for f in os.listdir(fddir)) + 4
    soft, hard = resource.prlimit(m.proc.pid, resource.RLIMIT_NOFILE,
                                  (limit, resource.prlimit(
                                      m.proc.pid, resource.RLIMIT_NOFILE)[1]))
    fill = []
    try:
        take_descriptors(m, limit, fill)
        late = socket.socket(socket.AF_UNIX)
        late.connect(m.socket)      # queued: the master cannot accept it
        wait_for(lambda: m.read_log().count(
            "control: accept: Too many open files; not accepting") >= 2,
            what="accepting paused, twice")
        assert m.read_log().count("accept") < 50
    finally:
        for s in fill:
            s.close()
    resource.prlimit(m.proc.pid, resource.RLIMIT_NOFILE, (soft, hard))
    assert m.status()["generation"] == 1
    late.close()


def test_sigterm_while_workers_start_drains_them(microd):
    """SIGTERM right after SIGHUP reaches workers of the new generation
    while they start: each drains and exits 0 once it handles signals,
    none dies on the signal (logged as a crash)."""
    for _ in range(3):
        m = microd(workers={"api": 2, "web": 1, "sidecar": 1, "broker": 1})
        m.signal(signal.SIGHUP)
        m.signal(signal.SIGTERM)
        assert m.proc.wait(timeout=30) == 0
        assert "exited on signal" not in m.read_log()


def fifo_reader_open(m):
    """Whether microd holds the configuration FIFO open for reading."""
    assert m.proc.poll() is None, "microd exited: %s" % m.read_log()
    try:
        return os.open(m.conf, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as e:
        if e.errno == errno.ENXIO:	# no reader yet
            return None
        raise


def feed_fifo(m, text, before_write=None):
    """Wait until microd opens its FIFO configuration, then write text;
    before_write() runs while microd is blocked reading it."""
    fd = wait_for(lambda: fifo_reader_open(m), timeout=15,
                  what="microd reading its configuration")
    try:
        if before_write is not None:
            before_write()
        os.set_blocking(fd, True)
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def generation_serving(m, gen):
    assert m.proc.poll() is None, "microd exited: %s" % m.proc.returncode
    ws = [w for w in m.workers_list() if w["pid"]]
    return (m.status()["generation"] == gen and ws and
            all(w["generation"] == gen and w["state"] == "running"
                for w in ws))


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM])
def test_signal_while_starting_waits_for_the_loop(microd, sig):
    """A SIGHUP (a reload asked by a log rotator or a deploy tool) or a
    SIGTERM that reaches the master while it reads its configuration,
    before its handlers exist, must not kill it with the default action:
    it is acted upon once the loop runs."""
    m = microd(start=False)
    text = m.conf_text()
    os.unlink(m.conf)
    os.mkfifo(m.conf)
    m.start(wait=False)
    feed_fifo(m, text, lambda: m.signal(sig))
    if sig == signal.SIGTERM:
        assert m.proc.wait(timeout=30) == 0, m.read_log()
        assert not os.path.exists(m.socket)
        return
    # The reload reads the file again (not the first read's tail).
    wait_for(lambda: "reloading" in m.read_log(), timeout=15,
             what="the held SIGHUP's reload")
    feed_fifo(m, text)
    wait_for(lambda: generation_serving(m, 2), timeout=20,
             what="generation 2 serving")


def test_sigusr_is_ignored(microd):
    """SIGUSR1 (a log rotation hook copied from nginx) or SIGUSR2 killed
    the master with the default action: no stop, the socket left behind,
    the workers orphaned. microd has no log file to reopen: ignored."""
    m = microd()
    pids = [w["pid"] for w in m.workers_list()]
    for sig in (signal.SIGUSR1, signal.SIGUSR2):
        m.signal(sig)
        signal_pid(pids[0], sig)
    assert m.status()["generation"] == 1
    assert [w["pid"] for w in m.workers_list()] == pids
    assert http("GET", m.url("api", "/healthz"))[0] == 200
    m.stop()
    assert m.proc.returncode == 0


def test_debug_flag_survives_a_reload(microd):
    """-d logs at debug level whatever the configuration says: a reload
    must not fall back to the file's log_level."""
    m = microd(extra="[microd]\nlog_level = warn\n", start=False)
    m.start(args=("-d",))
    assert "(generation 1)" in m.read_log()
    m.signal(signal.SIGHUP)
    wait_for(lambda: generation_serving(m, 2), timeout=20,
             what="generation 2 serving")
    assert "started pid" in m.read_log().split("reloading", 1)[1]


def test_unknown_user_is_a_configuration_error(microd):
    """microd -t must refuse a [microd] user that does not exist, as the
    start would (it used to say OK, and the start then failed after
    creating the control socket, leaving it behind)."""
    m = microd(extra="[microd]\nuser = no-such-user-microd\n", start=False)
    r = subprocess.run([MICROD, "-t", "-c", m.conf], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 1
    assert "user no-such-user-microd" in r.stderr
    m.start(wait=False)
    assert m.proc.wait(timeout=10) == 1
    assert not os.path.exists(m.socket)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_reload_keeps_a_listener_however_its_address_is_spelled(microd,
                                                                  host):
    """A listen that names the address the socket is already bound to (its
    port 0 pinned to the port it got, or another spelling of the host) is
    that socket: the reload keeps it instead of binding the address twice
    (EADDRINUSE, reload refused)."""
    m = microd()
    port = m.ports["api"]
    m.write_conf(extra="[api]\nlisten = %s:%d\n" % (host, port))
    m.ctl("reload")
    wait_for(lambda: generation_serving(m, 2), timeout=20,
             what="generation 2 serving")
    st = m.status()
    assert st["reload_error"] is None
    assert st["listeners"]["api"] == "127.0.0.1:%d" % port


def test_reload_widening_a_listener_says_it_needs_a_restart(microd):
    """127.0.0.1:P to 0.0.0.0:P: the master's own socket holds the port,
    and handing it over would close it. The reload is refused, saying so
    (it said only "Address already in use"), and the old socket serves."""
    m = microd()
    port = m.ports["api"]
    m.write_conf(extra="[api]\nlisten = 0.0.0.0:%d\n" % port)
    r = m.ctl("reload", check=False)
    assert r.returncode == 1
    want = ("[api] listen 0.0.0.0:%d: its port is held by [api] listen "
            "127.0.0.1:%d; another address on that port needs a restart"
            % (port, port))
    assert want in r.stderr, r.stderr
    assert m.status()["reload_error"] == want
    assert http("GET", m.url("api", "/healthz"))[0] == 200
    # Another address on that port, held by another program: not ours.
    other = socket.socket()
    try:
        other.bind(("127.0.0.2", port))
        other.listen(1)
        m.write_conf(extra="[api]\nlisten = 127.0.0.2:%d\n" % port)
        r = m.ctl("reload", check=False)
        assert r.returncode == 1
        assert r.stderr.strip() == ("microctl: [api] listen 127.0.0.2:%d: "
                                    "Address already in use" % port)
    finally:
        other.close()


def test_old_worker_dying_while_the_registry_worker_restarts_is_replaced(
        microd):
    """A reload that restarts the registry worker (a changed [registry]
    setting) holds the new generation's workers until the new registry
    worker has loaded. An old worker that died meanwhile was not replaced,
    and the new ones did not start either: its listener had nobody
    accepting until the old registry worker left (up to shutdown_timeout)
    and the new one loaded. The waiting workers of its role start at
    once instead."""
    slow_exit = "[microd]\nshutdown_timeout = 60s\n"
    m = microd(slow_exit, workers={"api": 1, "web": 0, "sidecar": 0,
                                   "broker": 0})
    reg = [w["pid"] for w in m.workers_list() if w["role"] == "registry"]
    api = m.running("api")[0]["pid"]
    # The old registry worker slow to leave: a long commit, a big load.
    signal_pid(reg[0], signal.SIGSTOP)
    try:
        m.write_conf(extra=slow_exit + "[registry]\nttl = 42s\n")
        m.signal(signal.SIGHUP)
        wait_for(lambda: [w for w in m.workers_list()
                          if w["role"] == "api" and w["generation"] == 2],
                 what="generation 2 started")
        signal_pid(api, signal.SIGKILL)
        # Well before the 10 s after which workers start without a load.
        wait_for(lambda: http("GET", m.url("api", "/healthz"),
                              timeout=1)[0] == 200,
                 timeout=5, what="an api worker, the old registry worker "
                 "still there")
    finally:
        signal_pid(reg[0], signal.SIGCONT)


def test_reload_while_the_new_registry_worker_waits(microd):
    """A second reload while the first one's registry worker still waits
    for the old one to exit: the waiting one was never spawned and has no
    configuration, which the handover check read (the master died with
    SIGSEGV)."""
    m = microd("[registry]\nttl = 30s\n")
    [reg] = [w["pid"] for w in m.workers_list()
             if w["role"] == "registry" and w["pid"]]
    signal_pid(reg, signal.SIGSTOP)     # the old one: slow to leave
    try:
        m.write_conf(extra="[registry]\nttl = 31s\n")
        m.ctl("reload")
        wait_for(lambda: any(w["role"] == "registry" and
                             w["state"] == "waiting"
                             for w in m.workers_list()),
                 what="new registry worker waiting")
        r = m.ctl("reload", check=False)
        assert m.proc.poll() is None, "master died: %r" % m.proc.poll()
        assert r.returncode == 0, r.stderr
        assert m.status()["generation"] == 3
    finally:
        signal_pid(reg, signal.SIGCONT)


def test_reload_during_the_first_load_waits_for_it(microd):
    """A reload asked while the registry worker still loads the database
    (held up here by another process's write lock) starts its readers once
    the load is done, as the first generation's: they used to start at
    once on an empty segment and answer "not found" for what is stored."""
    m = microd()
    assert post(m, service(name="go.micro.srv.stored"), ttl="1h")[0] == 200
    m.stop()
    db = sqlite3.connect(str(m.dir / "state" / "registry.db"),
                         isolation_level=None, timeout=1)
    db.execute("BEGIN IMMEDIATE")
    try:
        m.start(wait=False)
        wait_for(lambda: m.workers_list(), what="the control socket")
        m.signal(signal.SIGHUP)

        def readers_of_2():
            return [w for w in m.workers_list()
                    if w["generation"] == 2 and w["role"] != "registry"]
        ws = wait_for(readers_of_2, timeout=8, what="generation 2")
        assert {w["state"] for w in ws} == {"waiting"}, ws
    finally:
        db.rollback()
        db.close()
    wait_for(lambda: generation_serving(m, 2), timeout=30,
             what="generation 2 serving")
    assert "go.micro.srv.stored" in m.ctl("service",
                                          "go.micro.srv.stored").stdout


def trickle_until_closed(s, data, deadline):
    """Send data a byte every 2 s: True once microd closes s, False if
    it has not by deadline."""
    s.settimeout(2)
    for b in data:
        try:
            s.sendall(bytes([b]))
            if s.recv(64) == b"":
                return True
        except socket.timeout:
            pass
        except (BrokenPipeError, ConnectionResetError):
            return True
        if time.monotonic() > deadline:
            return False
    return False


def test_a_request_trickled_after_the_first_is_cut_after_30s(microd):
    # The read timeout starts over at each byte: without a bound on the
    # whole request, one trickled a byte at a time held a place for ever.
    m = microd()
    c = Ctl(m)
    c.send(1, "version")
    assert c.recv()["ok"]
    start = time.monotonic()
    slow = frame({"v": 1, "id": 2, "cmd": "version", "args": {
        "pad": "x" * 64}})
    assert trickle_until_closed(c.s, slow[:-1], start + 50)
    assert time.monotonic() - start < 40
    wait_for(lambda: "sent no request for a while" in m.read_log(),
             what="the close logged")


def test_a_name_holding_a_nul_is_not_its_head(microd):
    # "api\0x" was read as "api" and "go.micro.srv.x\0junk" as the
    # service go.micro.srv.x.
    m = microd(workers={"api": 1})
    svc = {"name": "go.micro.srv.x", "version": "1",
           "nodes": [{"id": "x-1", "address": "127.0.0.1:1"}]}
    c = Ctl(m)
    c.send(1, "register", {"json": json.dumps(svc)})
    assert c.recv()["ok"]
    pid = m.running("api")[0]["pid"]
    for args in ({"role": "api\0x"}, {"role": "api\0x", "id": 0}):
        c.send(2, "restart", args)
        r = c.recv()
        assert not r["ok"] and "needs a role" in r["error"], r
    c.send(3, "service", {"name": "go.micro.srv.x\0junk"})
    r = c.recv()
    assert not r["ok"], r
    for args in ({"level": "warn\0x"}, {"role": "master\0x"}):
        c.send(4, "logs", args)
        r = c.recv()
        assert not r["ok"] and r["code"] == "invalid", r
    c.send(5, "service", {"name": "go.micro.srv.x"})
    assert c.recv()["ok"]
    assert m.running("api")[0]["pid"] == pid


def gone_within(pid, seconds):
    deadline = time.monotonic() + seconds
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not pid_alive(pid)


def test_restarting_a_draining_worker_again_keeps_its_kill_deadline(microd):
    # Each restart drained the worker again and pushed its SIGKILL back by
    # shutdown_timeout (5 s here): a hung worker restarted every few
    # seconds was never killed, and the watchdog spares a draining one.
    m = microd()
    pid = m.running("sidecar")[0]["pid"]
    signal_pid(pid, signal.SIGSTOP)
    start = time.monotonic()
    for _ in range(6):          # a restart every 2 s
        m.ctl("restart", "sidecar")
        if gone_within(pid, 2):
            break
    assert not pid_alive(pid)
    assert time.monotonic() - start < 9
    wait_for(lambda: m.running("sidecar"), what="sidecar back")


def test_stop_with_no_worker_running_still_answers(microd):
    # With every worker waiting out a backoff, stop ends the loop in the
    # turn that queued its reply: the reply was freed unsent, and
    # microctl stop failed ("microd closed the connection").
    m = microd(workers={r: 0 for r in ROLES})

    def long_backoff():
        w = m.workers_list()[0]
        if w["pid"]:
            signal_pid(w["pid"], signal.SIGKILL)
        return w["pid"] == 0 and w["restarts"] >= 8     # 6.4 s
    wait_for(long_backoff, timeout=30, what="registry in a long backoff")
    r = m.ctl("stop", check=False)
    assert r.returncode == 0, r.stderr
    assert m.proc.wait(10) == 0


def test_restart_of_a_worker_waiting_to_start_says_so(microd):
    """A reload that changes the registry settings starts a registry
    worker that waits for the old one to exit, and holds the other new
    workers until it is up. Restarting one of them replied "restarted 1
    worker(s)" and did nothing: now it says what it waits for."""
    m = microd(workers={"web": 0, "broker": 0})
    registry = m.running("registry")[0]["pid"]
    signal_pid(registry, signal.SIGSTOP)   # the old writer does not exit yet
    try:
        # Long enough that the old writer is not killed meanwhile.
        m.write_conf(extra=RESTART_REGISTRY +
                     "[microd]\nshutdown_timeout = 60s\n")
        m.ctl("reload")
        for spec, why in (("registry/0", "registry worker it replaces"),
                          ("registry", "registry worker it replaces"),
                          ("api/0", "registry worker's load")):
            r = m.ctl("restart", spec, check=False)
            assert r.returncode == 1, (spec, r.stdout)
            assert "not restarted: it waits for the " + why in r.stderr, \
                (spec, r.stderr)
    finally:
        signal_pid(registry, signal.SIGCONT)
    wait_for(lambda: len(m.workers_list()) == 3 and all(
        w["generation"] == 2 and w["state"] == "running"
        for w in m.workers_list()), timeout=20, what="generation 2 alone")


def test_restart_of_a_worker_waiting_to_respawn_starts_it_now(microd):
    """A crash-looping worker asked to restart starts at once, its
    backoff forgotten: what a restart means (this one worked already;
    kept beside the waiting case above)."""
    m = microd(workers={"web": 0, "broker": 0})
    crash_sidecar0(m)
    assert "restarted 1 worker(s)" in m.ctl("restart", "sidecar/0").stdout
    w = sidecar0(m)
    assert w["pid"] != 0 and w["state"] in ("starting", "running"), w


def metrics_generations(m, role):
    _, _, body = http("GET", m.url("web", "/metrics"))
    return {line.split('generation="')[1].split('"')[0]
            for line in body.decode().splitlines()
            if 'role="%s"' % role in line and "generation=" in line}


def test_carried_over_registry_worker_has_the_new_generation_in_shm(microd):
    """A reload that keeps the registry settings carries its worker over:
    `microctl workers` said generation 2, /metrics (read from its shm
    slot) said 1."""
    m = microd()
    registry = m.running("registry")[0]["pid"]
    m.ctl("reload")
    wait_for(lambda: len(m.workers_list()) == 5 and all(
        w["generation"] == 2 and w["state"] == "running"
        for w in m.workers_list()), timeout=20, what="generation 2 alone")
    assert m.running("registry")[0]["pid"] == registry
    assert metrics_generations(m, "registry") == {"2"}
    assert metrics_generations(m, "api") == {"2"}


def role_of(m, port):
    """Which role answers on port: each listener's 404 names its role."""
    _, _, body = http("GET", "http://127.0.0.1:%d/no/such/path" % port)
    return body


def test_reload_swapping_two_listen_addresses_keeps_both_sockets(microd):
    """api and web trade addresses: the master bound the new ones while
    it still held the old ones (EADDRINUSE, reload refused). Each socket
    is now kept for the role that wants its address; no request is
    refused meanwhile, and each role answers on its new address after."""
    m = microd(workers={"sidecar": 0, "broker": 0})
    api, web = m.ports["api"], m.ports["web"]
    api_body, web_body = role_of(m, api), role_of(m, web)
    assert api_body != web_body
    with HealthLoop(m.url("api", "/healthz")) as on_api, \
            HealthLoop(m.url("web", "/healthz")) as on_web:
        m.write_conf(extra="[api]\nlisten = 127.0.0.1:%d\n"
                     "[web]\nlisten = 127.0.0.1:%d\n" % (web, api))
        r = m.ctl("reload", check=False)
        assert r.returncode == 0, r.stderr
        wait_for(lambda: generation_serving(m, 2), timeout=20,
                 what="generation 2 serving")
        wait_for(lambda: all(w["generation"] == 2
                             for w in m.workers_list()), timeout=20,
                 what="generation 1 drained")
        n, k = on_api.ok, on_web.ok
        wait_for(lambda: on_api.ok > n + 20 and on_web.ok > k + 20,
                 what="healthz after the swap")
    assert on_api.failures == [] and on_web.failures == []
    st = m.status()
    assert st["reload_error"] is None
    assert st["listeners"]["api"] == "127.0.0.1:%d" % web
    assert st["listeners"]["web"] == "127.0.0.1:%d" % api
    assert role_of(m, web) == api_body
    assert role_of(m, api) == web_body


def test_reload_moving_a_role_to_the_port_another_got_from_port_0(microd):
    """api takes the port web got from its port 0, web still asks for
    any port: it gets another, as a restart with this file would. Web
    kept its socket as its own first, and api's bind was refused."""
    m = microd(workers={"sidecar": 0, "broker": 0})
    web = m.ports["web"]
    api_body, web_body = role_of(m, m.ports["api"]), role_of(m, web)
    m.write_conf(extra="[api]\nlisten = 127.0.0.1:%d\n" % web)
    r = m.ctl("reload", check=False)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: generation_serving(m, 2), timeout=20,
             what="generation 2 serving")
    wait_for(lambda: all(w["generation"] == 2 for w in m.workers_list()),
             timeout=20, what="generation 1 drained")
    listeners = m.status()["listeners"]
    assert listeners["api"] == "127.0.0.1:%d" % web
    new_web = int(listeners["web"].rsplit(":", 1)[1])
    assert new_web not in (0, web)
    assert role_of(m, web) == api_body
    assert role_of(m, new_web) == web_body


def test_reload_giving_a_dropped_role_s_address_to_another(microd):
    """api goes (no workers), web moves to api's address: it takes the
    socket api leaves, where binding it again was refused."""
    m = microd(workers={"sidecar": 0, "broker": 0})
    api = m.ports["api"]
    web_body = role_of(m, m.ports["web"])
    with HealthLoop(m.url("api", "/healthz")) as loop:
        m.write_conf(workers={"api": 0},
                     extra="[web]\nlisten = 127.0.0.1:%d\n" % api)
        r = m.ctl("reload", check=False)
        assert r.returncode == 0, r.stderr
        wait_for(lambda: sorted(w["role"] for w in m.workers_list()) ==
                 ["registry", "web"] and generation_serving(m, 2),
                 timeout=20, what="generation 2 alone")
        n = loop.ok
        wait_for(lambda: loop.ok > n + 20, what="healthz after the reload")
    assert loop.failures == []
    assert m.status()["listeners"] == {"web": "127.0.0.1:%d" % api}
    assert role_of(m, api) == web_body


def test_refused_swap_keeps_each_socket_with_its_role(microd):
    """A swap refused by a later bind error (the sidecar's address is
    taken) closes only the sockets it opened: the reused ones stay the
    master's, each with the role it had."""
    m = microd(workers={"broker": 0})
    api, web = m.ports["api"], m.ports["web"]
    api_body, web_body = role_of(m, api), role_of(m, web)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        m.write_conf(extra="[api]\nlisten = 127.0.0.1:%d\n"
                     "[web]\nlisten = 127.0.0.1:%d\n"
                     "[sidecar]\nlisten = 127.0.0.1:%d\n" % (
                         web, api, taken.getsockname()[1]))
        r = m.ctl("reload", check=False)
    finally:
        taken.close()
    assert r.returncode == 1 and "[sidecar] listen" in r.stderr, r.stderr
    st = m.status()
    assert st["generation"] == 1
    assert st["listeners"]["api"] == "127.0.0.1:%d" % api
    assert st["listeners"]["web"] == "127.0.0.1:%d" % web
    # New workers get the master's sockets: still open, still each role's.
    m.ctl("restart", "api")
    m.ctl("restart", "web")
    wait_for(lambda: len(m.running()) == 4, timeout=20,
             what="restarted workers running")
    assert role_of(m, api) == api_body and role_of(m, web) == web_body


def registry_without_its_plugin(microd, plugins):
    """A microd whose etcd registry plugin is not in plugins (an empty
    directory): its registry worker exits 2. Not waited for."""
    plugins.mkdir()
    m = microd(extra="[registry]\nbackend = etcd\naddress = 127.0.0.1:1\n",
               env={"MICROD_PLUGIN_DIR": str(plugins)},
               workers={"web": 0, "sidecar": 0, "broker": 0}, start=False)
    return m.start(wait=False)


def test_fatal_registry_worker_holds_the_others_no_longer(microd, tmp_path):
    """The other workers wait for the registry worker's load: one that
    exits 2 never loads, and they waited the whole 10 s for it."""
    m = registry_without_its_plugin(microd, tmp_path / "plugins")
    wait_for(lambda: m.running("api"), timeout=30, what="the api running")
    log = m.read_log()
    assert "registry/0: fatal error, not respawning" in log
    assert "registry worker not ready after" not in log, log
    # Serving, but not whole: it said "generation 1 serving" as if all
    # was well (and so did systemd's status).
    wait_for(lambda: "serving" in m.read_log(), what="serving")
    assert "generation 1 serving without 1 worker stopped after a fatal " \
        "error (microctl workers)" in m.read_log(), m.read_log()


def test_reload_retries_a_registry_worker_stopped_by_a_fatal_exit(microd,
                                                                   tmp_path):
    """The registry worker exits 2 (its backend plugin is not installed)
    and is not respawned. A reload is the way to retry once the cause is
    fixed, though the settings are the same: the other roles got a fresh
    worker, the registry's stopped one was carried over, stopped."""
    plugins = tmp_path / "plugins"
    m = registry_without_its_plugin(microd, plugins)
    wait_for(lambda: "registry/0: fatal error, not respawning" in
             m.read_log(), what="the registry worker giving up")
    os.symlink(os.path.join(BUILDDIR, "plugins", "registry-etcd.so"),
               str(plugins / "registry-etcd.so"))
    m.ctl("reload")
    wait_for(lambda: [w for w in m.running("registry")
                      if w["generation"] == 2], timeout=20,
             what="a registry worker of generation 2 running")
    wait_for(lambda: [w["state"] for w in m.workers_list()
                      if w["role"] == "registry"] == ["running"],
             timeout=20, what="the stopped registry worker gone")


def registry_worker(m):
    return [w for w in m.workers_list() if w["role"] == "registry"][-1]


def test_reload_starts_a_registry_worker_waiting_out_a_backoff(microd):
    """A registry worker in a long backoff starts at once on a reload, as
    the other roles' workers do; carried over, it waited out its delay."""
    m = microd(workers={"web": 0, "sidecar": 0, "broker": 0})

    def long_backoff():
        w = registry_worker(m)
        if w["pid"]:
            signal_pid(w["pid"], signal.SIGKILL)
        return w["pid"] == 0 and w["restarts"] >= 8     # 6.4 s
    wait_for(long_backoff, timeout=30, what="registry in a long backoff")
    m.ctl("reload")
    # Carried over, it stayed in its backoff; replaced, it starts now.
    w = registry_worker(m)
    assert w["generation"] == 2 and w["state"] not in (
        "backoff", "crashloop"), w
    wait_for(lambda: [w for w in m.running("registry")
                      if w["generation"] == 2], timeout=20,
             what="a registry worker of generation 2 running")
