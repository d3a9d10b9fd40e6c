"""The sidecar's app health check: registered while the app's URL answers
200, deregistered when it does not, registered again when it recovers."""
import json
import signal
import subprocess
import threading
import time

from conftest import MICROD, http, signal_pid, wait_for
from gwnodes import FakeNode, RawNode, node_ids, register, slow
from test_registry import ctl_service

APP = "go.micro.srv.app"


def app_conf(address, path="/health", interval="200ms"):
    return ("[sidecar]\napp_name = go.micro.srv.app\napp_address = %s\n"
            "healthcheck_url = http://%s%s\nhealthcheck_interval = %s\n"
            % (address, address, path, interval))


def body_never_ends(c):
    """200 at once, then a body of a megabyte that never comes."""
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nok")
    c.recv(1)     # until the sidecar hangs up


def trickled_head(c):
    """A 200 whose head takes longer than the interval, byte by byte."""
    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
        c.sendall(bytes([byte]))
        time.sleep(0.1)


def test_health_check_registers_and_deregisters(microd):
    state = {"status": 200}
    app = FakeNode(lambda h, b: (state["status"], {}, b"ok"))
    try:
        m = microd("[sidecar]\napp_name = go.micro.srv.app\n"
                   "app_address = %s\nhealthcheck_url = http://%s/health\n"
                   "healthcheck_interval = 200ms\n"
                   % (app.address, app.address),
                   workers={"web": 0, "broker": 0, "sidecar": 2})

        def registered():
            return node_ids(m, "go.micro.srv.app")
        ids = wait_for(registered, what="app registered")
        # One registration, however many sidecar workers run.
        assert ids == ["go.micro.srv.app-" + app.address]
        assert all(r[1] == "/health" for r in app.requests)
        state["status"] = 503
        wait_for(lambda: not registered(), what="app deregistered")
        state["status"] = 200
        wait_for(registered, what="app registered again")
        # The registered node is callable through the sidecar.
        status, _, body = http("GET", m.url(
            "sidecar", "/registry?service=go.micro.srv.app"))
        assert status == 200
        node = json.loads(body)[0]["nodes"][0]
        assert node["address"] == app.address
    finally:
        app.close()


def test_health_check_unreachable_app(microd):
    app = FakeNode()
    addr = app.address
    m = microd("[sidecar]\napp_name = go.micro.srv.gone\n"
               "app_address = %s\nhealthcheck_url = http://%s/\n"
               "healthcheck_interval = 200ms\n" % (addr, addr),
               workers={"web": 0, "broker": 0})
    wait_for(lambda: node_ids(m, "go.micro.srv.gone"), what="registered")
    app.close()
    wait_for(lambda: not node_ids(m, "go.micro.srv.gone"),
             what="deregistered once the app is gone")


def test_bad_app_settings_refused_by_the_config_check(tmp_path):
    """Refused by microd -t (and so at start and on reload), where they
    used to pass and then stop the sidecar worker for good."""
    bad = {
        "https": "app_address = 127.0.0.1:9\n"
                 "healthcheck_url = https://127.0.0.1:9/\n",
        "dns": "app_address = 127.0.0.1:9\n"
               "healthcheck_url = http://app.example:9/health\n",
        "address": "app_address = nope\n",
        "interval": "app_address = 127.0.0.1:9\nhealthcheck_interval = 0\n",
    }
    for name, extra in bad.items():
        conf = tmp_path / (name + ".conf")
        conf.write_text("[sidecar]\napp_name = go.micro.srv.app\n" + extra)
        r = subprocess.run([MICROD, "-t", "-c", str(conf)],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 1, (name, r.stderr)
        assert "[sidecar]" in r.stderr, (name, r.stderr)
    bad_name = tmp_path / "name.conf"
    bad_name.write_text("[sidecar]\napp_name = a/b\n"
                        "app_address = 127.0.0.1:9\n")
    r = subprocess.run([MICROD, "-t", "-c", str(bad_name)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "app_name" in r.stderr, r.stderr
    good = tmp_path / "good.conf"
    good.write_text("[sidecar]\napp_name = go.micro.srv.app\n"
                    "app_address = 127.0.0.1:9\n"
                    "healthcheck_url = http://localhost:9/health?x=1\n")
    r = subprocess.run([MICROD, "-t", "-c", str(good)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr


def test_respawned_worker_deregisters_an_unhealthy_app(microd):
    """A sidecar worker starts not knowing what the registry holds: a
    worker before it (or a microd before it) may have registered the app.
    Its first unhealthy check deregisters it rather than leave it to the
    TTL (three intervals: 90 s here), and the log says why."""
    state = {"status": 200}
    app = FakeNode(lambda h, b: (state["status"], {}, b"ok"))
    try:
        m = microd(app_conf(app.address, interval="30s"),
                   workers={"web": 0, "broker": 0})
        wait_for(lambda: node_ids(m, "go.micro.srv.app"), what="registered")
        state["status"] = 503
        signal_pid(m.running("sidecar")[0]["pid"], signal.SIGKILL)
        wait_for(lambda: not node_ids(m, "go.micro.srv.app"), timeout=20,
                 what="deregistered by the respawned worker")
        wait_for(lambda: "sidecar app go.micro.srv.app unhealthy (HTTP 503): "
                 "deregistering" in m.read_log(), what="the reason logged")
    finally:
        app.close()


def test_unreachable_app_logged_from_the_first_check(microd):
    m = microd(app_conf("127.0.0.1:1", path="/"),
               workers={"web": 0, "broker": 0})
    wait_for(lambda: "sidecar app go.micro.srv.app unhealthy (connection "
             "refused): deregistering" in m.read_log(),
             what="the app's state logged")
    assert not node_ids(m, "go.micro.srv.app")


def test_health_check_takes_the_status_not_the_body(microd):
    """go-micro's sidecar looks at the status only: a 200 whose body is
    large or slow (a page, a stream) is healthy, and is not buffered."""
    app = RawNode(body_never_ends, threaded=True)
    try:
        m = microd(app_conf(app.address), workers={"web": 0, "broker": 0})
        wait_for(lambda: node_ids(m, "go.micro.srv.app"), what="registered")
        checks = app.requests
        wait_for(lambda: app.requests >= checks + 3, what="more checks")
        assert node_ids(m, "go.micro.srv.app")
        assert "unhealthy" not in m.read_log()
    finally:
        app.close()


def test_health_check_bounded_by_the_interval(microd):
    """The status line must come within the interval, however the bytes
    trickle (a streamed request's timeout bounds each silence only)."""
    mode = {"answer": body_never_ends}
    app = RawNode(lambda c: mode["answer"](c), threaded=True)
    try:
        m = microd(app_conf(app.address, interval="300ms"),
                   workers={"web": 0, "broker": 0})
        wait_for(lambda: node_ids(m, "go.micro.srv.app"), what="registered")
        mode["answer"] = trickled_head
        wait_for(lambda: not node_ids(m, "go.micro.srv.app"),
                 what="deregistered")
        assert ("unhealthy (no answer within healthcheck_interval)"
                in m.read_log())
    finally:
        app.close()


def reload_to(m, extra, generation):
    """Reload with another [sidecar] section; wait for the old generation
    to be gone."""
    m.write_conf(extra=extra)
    m.ctl("reload")
    wait_for(lambda: m.status()["generation"] == generation and all(
        w["generation"] == generation for w in m.workers_list()),
        timeout=20, what="generation %d alone" % generation)


def test_reload_to_another_address_deregisters_the_old_node(microd):
    """A reload that moves the app deregisters its old node at once: the
    new generation does not know it, and its TTL (three intervals: 3 min
    here) would have the gateway route to it meanwhile. A reload that
    keeps the app keeps its node."""
    old, new = FakeNode(), FakeNode()
    try:
        m = microd(app_conf(old.address, interval="60s"),
                   workers={"web": 0, "broker": 0})
        wait_for(lambda: node_ids(m, "go.micro.srv.app"), what="registered")
        reload_to(m, app_conf(old.address, path="/ping", interval="60s"), 2)
        assert node_ids(m, "go.micro.srv.app") == [
            "go.micro.srv.app-" + old.address]
        assert "no longer in the configuration" not in m.read_log()
        reload_to(m, app_conf(new.address, interval="60s"), 3)
        wait_for(lambda: node_ids(m, "go.micro.srv.app") == [
            "go.micro.srv.app-" + new.address],
            what="old node gone, new one registered")
        assert ("sidecar app go.micro.srv.app is no longer in the "
                "configuration: deregistering" in m.read_log())
    finally:
        old.close()
        new.close()


def test_reload_without_the_app_deregisters_it(microd):
    app = FakeNode()
    try:
        m = microd(app_conf(app.address, interval="60s"),
                   workers={"web": 0, "broker": 0})
        wait_for(lambda: node_ids(m, "go.micro.srv.app"), what="registered")
        m.write_conf(extra="")
        m.ctl("reload")
        wait_for(lambda: not node_ids(m, "go.micro.srv.app"),
                 what="app deregistered")
    finally:
        app.close()


def test_app_moved_while_the_registry_worker_restarts(microd):
    """The same reload restarts the registry worker, which refuses
    requests meanwhile: the old node's deregistration is retried until
    the new one takes it rather than be lost."""
    old, new = FakeNode(), FakeNode()
    try:
        m = microd(app_conf(old.address, interval="60s"),
                   workers={"web": 0, "broker": 0})
        wait_for(lambda: node_ids(m, "go.micro.srv.app"), what="registered")
        m.write_conf(extra=app_conf(new.address, interval="60s") +
                     "\n[registry]\nttl = 42s\n")
        m.ctl("reload")
        wait_for(lambda: "go.micro.srv.app-" + old.address not in node_ids(
            m, "go.micro.srv.app"), timeout=20, what="old node gone")
    finally:
        old.close()
        new.close()


def holds(pred, seconds, what):
    """pred() stays true for the whole of seconds (polled)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert pred(), what
        time.sleep(0.02)


def hold_old_worker(m, nodes):
    """An RPC in flight through the sidecar for 1.5 s: a reload then
    leaves the old generation's sidecar worker draining that long."""
    node = FakeNode(slow(1.5))
    nodes.append(node)
    register(m, node.service("go.micro.srv.slow"))
    t = threading.Thread(target=http, args=(
        "POST", m.url("sidecar", "/slow/call"), b"{}",
        {"Content-Type": "application/json"}), daemon=True)
    t.start()
    wait_for(lambda: node.requests, what="the RPC at the node")
    return t


def test_reload_with_a_longer_interval_keeps_the_app(microd, nodes):
    """A reload that keeps the app hands its check over to the new
    generation. The old worker used to go on checking while it drained,
    renewing the node with its own TTL (three old intervals) after the
    new worker's first registration: the node then expired and stayed
    away until the new worker's next check, an interval later."""
    app = FakeNode()
    nodes.append(app)
    m = microd(app_conf(app.address, interval="100ms"),
               workers={"web": 0, "broker": 0})
    wait_for(lambda: node_ids(m, APP), what="registered")
    t = hold_old_worker(m, nodes)
    reload_to(m, app_conf(app.address, path="/new", interval="30s"), 2)
    t.join(10)
    holds(lambda: node_ids(m, APP) == ["%s-%s" % (APP, app.address)], 1.5,
          "the app stays registered after the reload")


def test_reload_to_a_failing_url_is_not_undone_by_the_old_worker(
        microd, nodes):
    """The new configuration checks another URL, which fails: the node
    goes, and the old generation's draining worker, checking the old
    URL, must not register it again meanwhile."""
    app = FakeNode(lambda h, b: (503 if h.path == "/sick" else 200, {},
                                 b"x"))
    nodes.append(app)
    m = microd(app_conf(app.address, interval="100ms"),
               workers={"web": 0, "broker": 0})
    wait_for(lambda: node_ids(m, APP), what="registered")
    hold_old_worker(m, nodes)
    m.write_conf(extra=app_conf(app.address, path="/sick",
                                interval="100ms"))
    m.ctl("reload")
    wait_for(lambda: not node_ids(m, APP),
             what="deregistered by the new worker")
    again = []

    def old_gone():
        again.extend(node_ids(m, APP))
        return all(w["generation"] == 2 for w in m.workers_list())
    wait_for(old_gone, timeout=20, what="the old worker gone")
    assert not again, "registered again by the old worker"


HEAD_200 = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


def test_stuck_sidecar_lets_the_app_expire_in_three_intervals(microd):
    """A sidecar that stops checking (stuck, killed with no successor)
    leaves the node to its TTL: three intervals, not the registry's
    default."""
    app = FakeNode()
    try:
        m = microd(app_conf(app.address, interval="1s"),
                   workers={"web": 0, "broker": 0})
        wait_for(lambda: ctl_service(m, APP), what="registered")
        pid = m.running("sidecar")[0]["pid"]
        signal_pid(pid, signal.SIGSTOP)
        try:
            # microctl reads the registry through the master: the stopped
            # sidecar cannot answer GET /registry.
            wait_for(lambda: ctl_service(m, APP) is None, timeout=6,
                     what="expired with its TTL (3 s)")
        finally:
            signal_pid(pid, signal.SIGCONT)
    finally:
        app.close()


def test_health_check_wire_oddities(microd):
    """Interim 1xx answers are skipped; a head cut short, or not HTTP,
    is unhealthy; an HTTP/1.0 200 is healthy."""
    answer = {"bytes": HEAD_200}
    app = RawNode(lambda c: c.sendall(answer["bytes"]), threaded=True)
    try:
        m = microd(app_conf(app.address, interval="100ms"),
                   workers={"web": 0, "broker": 0})
        for data, healthy in (
                (b"HTTP/1.1 100 Continue\r\n\r\n" + HEAD_200, True),
                (b"HTTP/1.1 200 OK\r\nContent-Le", False),
                (b"HTTP/1.0 200 OK\r\n\r\nok", True),
                (b"ok\n", False)):
            answer["bytes"] = data
            wait_for(lambda: bool(node_ids(m, APP)) == healthy,
                     what="%r: healthy %s" % (data[:30], healthy))
    finally:
        app.close()


# A reload that moves the app while sidecar/0 waits to be respawned: no
# worker of the old generation runs to deregister the old node, so the
# master does.

def app_node_ids(m):
    """Read through the master: sidecar/0 may be the only sidecar, down."""
    svcs = ctl_service(m, APP) or []
    return sorted(n["id"] for s in svcs for n in s["nodes"])


def sidecar0(m):
    return [w for w in m.workers_list()
            if w["role"] == "sidecar" and w["id"] == 0][0]


def crash_sidecar0(m, kills=8):
    """Kill sidecar/0 as soon as it runs, until its respawn waits (the
    delay doubles with each quick failure: 6.4 s after eight). The caller
    acts within that wait: after six it was 1.6 s, which a stalled test
    can miss, and then acts on sidecar/0 running again."""
    def respawned(old):
        # One listing: three could see "running" for the old pid, then
        # pid 0 once it was reaped, and kill pid 0.
        w = sidecar0(m)
        return w["state"] == "running" and w["pid"] != old and w
    pid = None
    for _ in range(kills):
        pid = wait_for(lambda: respawned(pid), timeout=20,
                       what="sidecar/0 respawned")["pid"]
        signal_pid(pid, signal.SIGKILL)
    wait_for(lambda: sidecar0(m)["state"] in ("backoff", "crashloop"),
             what="sidecar/0 waiting to respawn")


def app_waiting_to_respawn(microd, address, registered_within=10):
    """microd checking the app at address every 60 s, registered, and its
    sidecar/0 crashed until its respawn waits."""
    m = microd(app_conf(address, interval="60s"),
               workers={"web": 0, "broker": 0})
    wait_for(lambda: app_node_ids(m), timeout=registered_within,
             what="registered")
    crash_sidecar0(m)
    return m


def reload_app(m, address, extra="", **conf):
    m.write_conf(extra=app_conf(address, interval="60s", **conf) + extra)
    m.ctl("reload")


RESTART_REGISTRY = "\n[registry]\nttl = 42s\n"


def test_app_moved_while_sidecar0_waits_to_respawn(microd):
    old, new = FakeNode(), FakeNode()
    try:
        m = app_waiting_to_respawn(microd, old.address)
        reload_app(m, new.address)
        wait_for(lambda: app_node_ids(m) == [APP + "-" + new.address],
                 timeout=5, what="old node gone, new one registered")
    finally:
        old.close()
        new.close()


def test_app_kept_while_sidecar0_waits_to_respawn(microd):
    """The new worker's first check takes a second: a wrong deregistration
    would show as a gap before it."""
    app = FakeNode(slow(1))
    try:
        m = app_waiting_to_respawn(microd, app.address, 15)
        reload_app(m, app.address, path="/ping")
        holds(lambda: app_node_ids(m) == [APP + "-" + app.address], 2,
              "the app stays registered")
    finally:
        app.close()


def test_app_moved_while_sidecar0_waits_and_the_registry_restarts(microd):
    """The same reload restarts the registry worker, which refuses
    requests meanwhile: the master retries the old node's deregistration
    until the new registry worker takes it."""
    old, new = FakeNode(), FakeNode()
    try:
        m = app_waiting_to_respawn(microd, old.address)
        reload_app(m, new.address, RESTART_REGISTRY)
        wait_for(lambda: APP + "-" + old.address not in app_node_ids(m),
                 timeout=10, what="old node gone")
    finally:
        old.close()
        new.close()


def test_app_moved_back_before_its_deregistration_applied(microd):
    """A reload moves the app while the registry worker restarts, the
    next brings it back before the retry: that deregistration is dropped,
    or it would remove the node the new generation registers."""
    app, other = FakeNode(), FakeNode()
    try:
        m = app_waiting_to_respawn(microd, app.address)
        reload_app(m, other.address, RESTART_REGISTRY)
        reload_app(m, app.address, RESTART_REGISTRY)
        holds(lambda: APP + "-" + app.address in app_node_ids(m), 3,
              "the app stays registered")
    finally:
        app.close()
        other.close()


def sidecar0_new(m):
    """sidecar/0 of the newest generation."""
    return max((w for w in m.workers_list()
                if w["role"] == "sidecar" and w["id"] == 0),
               key=lambda w: w["generation"])


def test_moved_app_registered_once_the_new_registry_worker_is_up(microd):
    """The reload moves the app and restarts the registry worker. The new
    sidecar/0 checked the app at once, while no registry worker ran: its
    registration was refused, and the next check came an interval (60 s)
    later. The new generation now waits for the new registry worker."""
    old, new = FakeNode(), FakeNode()
    try:
        m = microd(app_conf(old.address, interval="60s"),
                   workers={"web": 0, "broker": 0})
        wait_for(lambda: app_node_ids(m), what="registered")
        registry = m.running("registry")[0]["pid"]
        # The old writer exits when let go, so the new one is not up
        # before the new sidecar/0 checks, however fast it drains.
        signal_pid(registry, signal.SIGSTOP)
        try:
            reload_app(m, new.address, RESTART_REGISTRY)
            wait_for(lambda: sidecar0_new(m)["state"] == "waiting" or
                     m.read_log().count("healthy: registering") == 2,
                     what="the new sidecar/0 held or checking")
        finally:
            signal_pid(registry, signal.SIGCONT)
        wait_for(lambda: app_node_ids(m) == [APP + "-" + new.address],
                 timeout=15, what="the new node alone registered")
    finally:
        old.close()
        new.close()
