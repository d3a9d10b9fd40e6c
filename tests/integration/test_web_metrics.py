"""The web role's /metrics and /events under hostile service names,
worker restarts and reloads; the feed's format and its clients."""
import json
import signal
import socket
import threading
import time

from conftest import http, signal_pid, wait_for
from gwnodes import register as gw_register
from test_broker import raw_upgrade
from test_svcstats import call, node  # noqa: F401 (a fixture)
from test_web import (Events, parse_prometheus, register, sample, scrape,
                      service, start, web)

# What a service name may hold (no '/', '\\' or control characters): quotes,
# label syntax, a line separator, and one too long for svcstats, shortened.
HOSTILE = ["go.micro.srv.q\"uote\"", "\"", "\"\"", "# HELP",
           "go.micro.srv.\u00e9t\u00e9\u2028\u00a0\U0001F600",
           "go.micro.srv.sp and }{ ,=\" x\"} 1", "\u00e9" * 120]


def worker_pid(m, role):
    return [w["pid"] for w in m.running(role)][0]


def test_hostile_names_as_labels(microd, node):
    m = microd(workers={"broker": 0})
    for name in HOSTILE:
        svc = node.service(name)
        svc["nodes"][0]["id"] = "n%d" % HOSTILE.index(name)
        gw_register(m, svc)
        assert call(m, name) == 200, name
    _, h, body = web(m, "/metrics")
    assert h["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    fams = parse_prometheus(body.decode("utf-8"))
    got = {dict(lab)["service"]: v for (n, lab), v in
           fams["microd_service_requests_total"]["samples"].items()}
    for name in HOSTILE[:-1]:
        assert got[name] == 1, name
    # Cut on a character boundary: the body decoded as UTF-8.
    assert [v for k, v in got.items()
            if k.startswith("\u00e9" * 50) and "~" in k] == [1]
    hist = fams["microd_service_request_duration_seconds"]["samples"]
    for svc in got:
        lab = (("service", svc),)
        inf = hist[("microd_service_request_duration_seconds_bucket",
                    tuple(sorted(lab + (("le", "+Inf"),))))]
        assert inf == hist[("microd_service_request_duration_seconds_count",
                            lab)] == got[svc]


def test_worker_restart_keeps_series_unique_and_sums(microd, node):
    m = microd(workers={"broker": 0, "api": 2})
    gw_register(m, node.service("go.micro.srv.kept"))
    for _ in range(4):
        assert call(m, "go.micro.srv.kept") == 200
    before = scrape(m)
    svc = sample(before, "microd_service_requests_total",
                 service="go.micro.srv.kept")
    assert svc == 4
    for role in ("api", "sidecar"):
        old = worker_pid(m, role)
        signal_pid(old, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while True:
            fams = scrape(m)
            assert sample(fams, "microd_service_requests_total",
                          service="go.micro.srv.kept") >= svc
            ws = [w for w in m.running(role) if w["pid"] != old]
            if len(ws) == len(m.running(role)) and \
                    len(ws) == m.workers[role]:
                break
            assert time.monotonic() < deadline, "no respawn"
    restarts = scrape(m)["microd_worker_restarts_total"]["samples"]
    assert sum(restarts.values()) >= 2


def hold_web_websocket(m, node):
    """A websocket through the web worker to the app wsapp, whose node
    (a FakeNode) echoes it: the client's socket, open until closed."""
    gw_register(m, node.service("go.micro.web.wsapp"))
    return raw_upgrade(m.ports["web"], "/wsapp/")


def web_states(m):
    return sorted(w["state"] for w in m.workers_list() if w["role"] == "web")


def test_restart_while_draining_keeps_one_series_per_worker(microd, node):
    """`microctl restart web` while the old web worker drains a proxied
    websocket: both processes are web/0 of generation 1, and /metrics
    shows one series for them (two samples of a series are invalid),
    their counters summed, the successor's restart count."""
    m = microd(workers={"broker": 0},
               extra="[microd]\nshutdown_timeout = 60s\n")
    ws = hold_web_websocket(m, node)
    try:
        before = scrape(m)
        m.ctl("restart", "web")
        wait_for(lambda: web_states(m) == ["draining", "running"],
                 what="the old web worker draining beside the new one")
        fams = scrape(m)    # the strict parser refuses a duplicate
        for name in ("microd_worker_requests_total",
                     "microd_worker_connections",
                     "microd_worker_restarts_total"):
            web_series = [lab for (n, lab) in fams[name]["samples"]
                          if ("role", "web") in lab]
            assert web_series == [(("generation", "1"), ("role", "web"),
                                   ("worker", "0"))], (name, web_series)
        # The old process's requests (the scrape before) are in the sum.
        assert sample(fams, "microd_worker_requests_total", role="web") > \
            sample(before, "microd_worker_requests_total", role="web")
        assert sample(fams, "microd_worker_restarts_total", role="web") == 1
    finally:
        ws.close()


class Feed(Events):
    """An Events reader on a thread: every snapshot with its arrival."""

    def __init__(self, m):
        super().__init__(m)
        self.got = []
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            while True:
                self.got.append((time.monotonic(), self.next()))
        except (AssertionError, OSError) as e:
            self.error = e


def test_feed_not_starved_by_new_clients(microd):
    """Clients connecting now and then must not hold back the pushes of
    the ones already listening (counters every second, changes at once)."""
    m = start(microd)
    feed = Feed(m)
    try:
        wait_for(lambda: feed.got, what="first snapshot")
        t0 = time.monotonic()
        register(m, service("go.micro.srv.starved"))
        seen = None
        while time.monotonic() - t0 < 4.0:
            other = Events(m)
            other.next()
            other.close()
            time.sleep(0.2)  # pace the reconnects, not a wait for state
            if seen is None and any(
                    s["name"] == "go.micro.srv.starved"
                    for _, snap in feed.got for s in snap["services"]):
                seen = time.monotonic() - t0
        late = [t for t, _ in feed.got if t > t0]
        assert len(late) >= 3, "%d pushes in 4 s" % len(late)
        assert seen is not None and seen < 2.0, "change not pushed"
    finally:
        feed.close()


def test_feed_format_with_hostile_names_and_reconnect(microd):
    m = start(microd)
    for name in HOSTILE:
        register(m, service(name))
    wait_for(lambda: sample(scrape(m), "microd_registry_services")
             >= len(HOSTILE), what="services registered")
    socks = []
    try:
        for headers in ("", "Last-Event-ID: 7\r\n"):
            s = socket.create_connection(("127.0.0.1", m.ports["web"]),
                                         timeout=10)
            socks.append(s)
            s.sendall(b"GET /events HTTP/1.0\r\nHost: x\r\n%s\r\n"
                      % headers.encode())
            buf = b""
            while buf.count(b"\n\n") < 4:
                data = s.recv(65536)
                assert data, "feed closed"
                buf += data
            _, body = buf.split(b"\r\n\r\n", 1)
            assert body.startswith(b"retry: 2000\n\n")
            blocks = body.decode("utf-8").split("\n\n")[1:3]
            for block in blocks:
                lines = block.split("\n")
                assert lines[0] == "event: snapshot", block[:80]
                assert len(lines) == 2 and lines[1].startswith("data: ")
                snap = json.loads(lines[1][len("data: "):])
                assert set(HOSTILE) <= {x["name"] for x in snap["services"]}
    finally:
        for s in socks:
            s.close()


def test_feed_many_clients(microd):
    m = start(microd)
    feeds = [Events(m) for _ in range(40)]
    try:
        gens = [f.next()["generation"] for f in feeds]
        register(m, service("go.micro.srv.many"))
        for f in feeds:
            while not any(s["name"] == "go.micro.srv.many"
                          for s in f.next()["services"]):
                pass
        assert web(m, "/metrics")[0] == 200
        assert len(set(gens)) == 1
    finally:
        for f in feeds:
            f.close()


def test_reload_keeps_series_unique_and_sums(microd, node):
    m = microd(workers={"broker": 0})
    gw_register(m, node.service("go.micro.srv.reloaded"))
    for _ in range(3):
        assert call(m, "go.micro.srv.reloaded") == 200
    old = {w["pid"] for w in m.running()}
    m.signal(signal.SIGHUP)
    deadline = time.monotonic() + 20
    while True:
        fams = scrape(m)
        assert sample(fams, "microd_service_requests_total",
                      service="go.micro.srv.reloaded") == 3
        if not old & {w["pid"] for w in m.running("api")}:
            break
        assert time.monotonic() < deadline, "no reload"
    for _ in range(2):
        assert call(m, "go.micro.srv.reloaded") == 200
    assert sample(scrape(m), "microd_service_requests_total",
                  service="go.micro.srv.reloaded") == 5


# Sums over processes, or kept in shm: a restart must not take them back.
MONOTONIC = ("microd_registry_updates_total", "microd_registry_puts_total",
             "microd_registry_deletes_total",
             "microd_broker_messages_published_total",
             "microd_broker_messages_delivered_total")


def test_summed_counters_survive_restarts(microd):
    m = microd()
    register(m, service("go.micro.srv.sum"))
    for _ in range(3):
        status, _, _ = http("POST", m.url("broker", "/pub?topic=sum"), b"x")
        assert status == 202
    before = scrape(m)
    for role in ("broker", "sidecar", "registry"):
        old = worker_pid(m, role)
        signal_pid(old, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while True:
            fams = scrape(m)
            for name in MONOTONIC:
                assert sample(fams, name) >= sample(before, name), \
                    (role, name, sample(fams, name), sample(before, name))
            if [w for w in m.running(role) if w["pid"] != old]:
                break
            assert time.monotonic() < deadline, "no respawn"
    fams = scrape(m)
    for name in MONOTONIC:
        assert sample(fams, name) >= sample(before, name), name
