"""micro-top driven in tmux against a real microd.

Each test runs micro-top from a shell in a private tmux server (-L) and
reads the pane with capture-pane, polling with deadlines.
"""
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time
import urllib.parse
import uuid

import pytest

from conftest import MICROTOP, http, signal_pid, wait_for
from gwnodes import FakeNode, closed_address, register
from test_web_metrics import hold_web_websocket

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None,
                                reason="tmux is not installed")


def service_json(name, version="1.0.0", node="n1", port=9090):
    return json.dumps({
        "name": name, "version": version, "metadata": {"team": "core"},
        "endpoints": [{"name": "Say.Hello",
                       "request": {"name": "Request", "type": "Request"},
                       "response": {"name": "Response",
                                    "type": "Response"}}],
        "nodes": [{"id": "%s-%s" % (name, node),
                   "address": "127.0.0.1:%d" % port,
                   "metadata": {"protocol": "mucp"}}]})


class Tmux:
    """One private tmux server running a shell micro-top is started from."""

    def __init__(self, width=200, height=60):
        self.name = "microtop-%d-%s" % (os.getpid(), uuid.uuid4().hex[:8])
        env = dict(os.environ, PS1="$ ", TERM="xterm-256color")
        env.pop("TMUX", None)
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", "t",
                  "-x", str(width), "-y", str(height), "sh", env=env)

    def tmux(self, *args, env=None):
        return subprocess.run(["tmux", "-L", self.name] + list(args),
                              capture_output=True, text=True, env=env,
                              check=True, timeout=10).stdout

    def keys(self, *keys):
        self.tmux("send-keys", "-t", "t", *keys)

    def type(self, text):
        self.tmux("send-keys", "-t", "t", "-l", text)

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", "t")

    def wait(self, pred, timeout=30.0, what="screen"):
        last = {}

        def check():
            last["s"] = self.screen()
            return last["s"] if pred(last["s"]) else None
        try:
            return wait_for(check, timeout, interval=0.05, what=what)
        except AssertionError as e:
            raise AssertionError("%s\n--- screen ---\n%s" % (
                e, last.get("s", "")))

    def wait_text(self, text, timeout=30.0):
        return self.wait(lambda s: text in s, timeout, what=repr(text))

    def resize(self, width, height):
        self.tmux("resize-window", "-t", "t", "-x", str(width),
                  "-y", str(height))

    def kill(self):
        # What still runs in the pane goes first, by SIGKILL: a SIGHUP'd
        # micro-top under ASan can hang in LeakSanitizer's exit check.
        pane = subprocess.run(
            ["tmux", "-L", self.name, "display-message", "-p", "-t", "t",
             "#{pane_pid}"], capture_output=True, text=True, timeout=10)
        if pane.returncode == 0 and pane.stdout.strip().isdigit():
            subprocess.run(["pkill", "-KILL", "-P", pane.stdout.strip()],
                           capture_output=True, timeout=10)
        subprocess.run(["tmux", "-L", self.name, "kill-server"],
                       capture_output=True, timeout=10)


@pytest.fixture
def tmux():
    made = []

    def make(**kw):
        t = Tmux(**kw)
        made.append(t)
        return t
    yield make
    for t in made:
        t.kill()


def start_top(t, m, *args):
    t.type("%s -s %s %s; echo micro-top-exited-$?" % (
        MICROTOP, m.socket, " ".join(args)))
    t.keys("Enter")


def attached_top(t, m):
    """micro-top started in t on m, showing its workers: t."""
    start_top(t, m)
    t.wait(lambda s: worker_row(s, "api"), what="attached")
    return t


def row(screen, *lead, min_cells=1):
    """The cells of the first line of at least min_cells cells that
    starts with the cells lead."""
    for line in screen.splitlines():
        cells = line.split()
        if (len(cells) >= max(min_cells, len(lead)) and
                cells[:len(lead)] == list(lead)):
            return cells
    return None


def worker_row(screen, role, wid=0):
    """The workers-panel cells of role/wid: ROLE ID PID STATE RESTART..."""
    return row(screen, role, str(wid), min_cells=5)


def test_workers_and_services_appear(microd, tmux):
    m = microd()
    m.ctl("register", "-", input=service_json("go.micro.srv.greeter"))
    t = tmux()
    start_top(t, m)
    screen = t.wait(lambda s: all(worker_row(s, r) for r in
                                  ("api", "web", "sidecar", "broker")) and
                    "go.micro.srv.greeter" in s, what="workers, services")
    for w in m.workers_list():
        cells = worker_row(screen, w["role"], w["id"])
        assert cells is not None and cells[2] == str(w["pid"])
        assert cells[3] == w["state"]
    assert "microd 0.1.0" in screen or "microd " in screen.splitlines()[0]
    assert "registry local connected" in screen

    # A service registered now shows within 2 s (one stats beat + fetch).
    m.ctl("register", "-", input=service_json("go.micro.srv.late"))
    t.wait_text("go.micro.srv.late", timeout=2.0)


def test_killed_worker_shows_new_pid_and_restart(microd, tmux):
    m = microd()
    t = tmux()
    start_top(t, m)
    api = m.running("api")[0]
    t.wait(lambda s: (worker_row(s, "api") or [0, 0, ""])[2] ==
           str(api["pid"]), what="api pid")
    signal_pid(api["pid"], signal.SIGKILL)

    def restarted(s):
        cells = worker_row(s, "api")
        return (cells and cells[2] not in (str(api["pid"]), "-") and
                cells[3] == "running" and cells[4] == "1")
    t.wait(restarted, what="api restarted with a new pid")
    new = m.running("api")[0]
    assert worker_row(t.screen(), "api")[2] == str(new["pid"])


def test_filter_and_detail(microd, tmux):
    m = microd()
    m.ctl("register", "-", input=service_json("go.micro.srv.greeter",
                                              port=9191))
    m.ctl("register", "-", input=service_json("go.micro.srv.other"))
    t = tmux()
    start_top(t, m)
    t.wait(lambda s: "go.micro.srv.greeter" in s and
           "go.micro.srv.other" in s, what="both services")
    t.keys("Tab")
    t.type("/greet")
    t.wait(lambda s: "go.micro.srv.other" not in s and
           "filter: greet" in s, what="filtered list")
    t.keys("Enter")     # keep the filter
    t.keys("Enter")     # detail of the selected (only) service
    screen = t.wait(lambda s: "go.micro.srv.greeter-n1" in s and
                    "127.0.0.1:9191" in s and "Say.Hello" in s,
                    what="detail view")
    assert "protocol=mucp" in screen
    assert "Version 1.0.0" in screen
    t.keys("Escape")
    t.wait(lambda s: "Services (1)" in s and "filter: greet" in s,
           what="back to the panels")
    # Backspace goes back too, whatever byte the terminal sends for it:
    # ^H where its terminfo says DEL did nothing.
    t.keys("Enter")
    t.wait(lambda s: "Say.Hello" in s, what="detail view again")
    t.keys("C-h")
    t.wait(lambda s: "Services (1)" in s and "filter: greet" in s,
           what="back to the panels by backspace")
    # Esc on the filter prompt clears it.
    t.type("/")
    t.keys("Escape")
    t.wait(lambda s: "go.micro.srv.other" in s, what="filter cleared")


def test_resize_stays_readable(microd, tmux):
    m = microd()
    m.ctl("register", "-", input=service_json("go.micro.srv.greeter"))
    t = tmux()
    start_top(t, m)
    t.wait(lambda s: "go.micro.srv.greeter" in s and worker_row(s, "api"))
    for width, height in ((80, 24), (200, 60), (80, 24)):
        t.resize(width, height)

        def readable(s):
            lines = s.splitlines()
            return (len(lines) <= height and
                    all(len(line) <= width for line in lines) and
                    lines[0].startswith("microd ") and
                    "Workers (5)" in s and "Services (1)" in s and
                    worker_row(s, "broker") and
                    "go.micro.srv.greeter" in s and
                    "q quit" in lines[-1])
        t.wait(readable, what="readable at %dx%d" % (width, height))


def test_microd_going_away_and_back(microd, tmux):
    m = microd()
    t = attached_top(tmux(), m)
    m.stop()
    screen = t.wait_text("microd is not running")
    assert worker_row(screen, "api") is None
    m.start()
    api = m.running("api")[0]
    t.wait(lambda s: (worker_row(s, "api") or [0, 0, ""])[2] ==
           str(api["pid"]), what="reattached to the new microd")


def test_quit_restores_terminal(microd, tmux):
    m = microd()
    t = attached_top(tmux(), m)
    t.keys("q")
    screen = t.wait_text("micro-top-exited-0")
    # Back on the shell's screen: nothing of the dashboard is left.
    assert "Workers (" not in screen
    assert worker_row(screen, "api") is None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT,
                                 signal.SIGHUP])
def test_signal_restores_terminal(microd, tmux, sig):
    m = microd()
    t = attached_top(tmux(), m)
    pid = int(subprocess.run(["pgrep", "-n", "-f", "^%s -s %s" % (
        MICROTOP, m.socket)], capture_output=True, text=True).stdout)
    signal_pid(pid, sig)
    screen = t.wait_text("micro-top-exited-")
    assert "Workers (" not in screen


def test_batch_snapshot(microd):
    m = microd()
    m.ctl("register", "-", input=service_json("go.micro.srv.greeter"))
    r = subprocess.run([MICROTOP, "-b", "-s", m.socket], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    for w in m.workers_list():
        cells = worker_row(r.stdout, w["role"], w["id"])
        assert cells is not None and cells[2] == str(w["pid"])
    assert "go.micro.srv.greeter" in r.stdout
    assert "\x1b" not in r.stdout   # plain text, no terminal codes


def test_batch_output_lost_is_an_error(microd):
    m = microd()
    with open("/dev/full", "w") as full:
        r = subprocess.run([MICROTOP, "-b", "-s", m.socket], stdout=full,
                           stderr=subprocess.PIPE, text=True, timeout=30)
    assert r.returncode == 1
    assert "micro-top: cannot write output" in r.stderr


FOOTER = ("q quit  ? help  Tab panel  / filter  s sort  Enter detail  "
          "r reload  K restart")


def test_short_terminal_keeps_header_and_footer_apart(microd, tmux):
    """Two lines: the header's first and the footer, which the header's
    second (longer) line does not show through."""
    m = microd()
    t = attached_top(tmux(), m)
    t.resize(200, 2)
    t.wait(lambda s: s.rstrip("\n").splitlines() == [
        s.splitlines()[0], FOOTER] and s.startswith("microd "),
        what="header line and footer")
    t.resize(200, 1)
    t.wait(lambda s: s.rstrip("\n").splitlines() == [FOOTER],
           what="footer only")


def test_batch_without_microd(tmp_path):
    sock = str(tmp_path / "none.sock")
    r = subprocess.run([MICROTOP, "-b", "-s", sock], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 1
    assert "microd is not running" in r.stderr and sock in r.stderr
    assert r.stdout == ""


def test_restart_and_reload_ask_first(microd, tmux):
    m = microd()
    t = tmux()
    start_top(t, m)
    api = m.running("api")[0]
    t.wait(lambda s: worker_row(s, "api"), what="attached")
    # api sorts first and is selected; "n" declines.
    t.type("K")
    t.wait_text("Restart worker api/0 (pid %d)? [y/N]" % api["pid"])
    t.type("n")
    t.wait_text("cancelled")
    assert m.running("api")[0]["pid"] == api["pid"]
    t.type("K")
    t.wait_text("[y/N]")
    t.type("y")
    t.wait_text("restarted 1 worker")
    wait_for(lambda: [w for w in m.running("api")
                      if w["pid"] != api["pid"]], what="api restarted")
    gen = m.status()["generation"]
    t.type("r")
    t.wait_text("Reload microd's configuration? [y/N]")
    t.type("y")
    t.wait_text("reloaded: generation %d" % (gen + 1))


def test_question_on_a_narrow_terminal_keeps_its_choice(microd, tmux):
    """On 20-30 columns a question was cut before its "[y/N]": who
    cannot see the choice does not know what a key does. The question
    is cut instead."""
    m = microd()
    t = attached_top(tmux(width=80, height=24), m)
    t.resize(26, 12)
    t.type("r")
    screen = t.wait(lambda s: s.splitlines() and
                    s.splitlines()[-1].rstrip().endswith("[y/N]"),
                    what="the choice on the bottom line")
    question = "Reload microd's configuration?"
    assert screen.splitlines()[-1].rstrip() == question[:26 - 7] + " [y/N]"
    t.type("n")
    t.wait_text("cancelled")


def mp_unpack(b, i=0):
    """Decode the msgpack value at b[i:]: (value, next index)."""
    t = b[i]
    i += 1
    sized = {0xc4: 1, 0xd9: 1, 0xc5: 2, 0xda: 2, 0xdc: 2, 0xde: 2,
             0xc6: 4, 0xdb: 4, 0xdd: 4, 0xdf: 4}
    ints = {0xcc: ">B", 0xcd: ">H", 0xce: ">I", 0xcf: ">Q",
            0xd0: ">b", 0xd1: ">h", 0xd2: ">i", 0xd3: ">q",
            0xca: ">f", 0xcb: ">d"}
    if t < 0x80 or t >= 0xe0:
        return (t if t < 0x80 else t - 0x100), i
    if t in (0xc0, 0xc2, 0xc3):
        return {0xc0: None, 0xc2: False, 0xc3: True}[t], i
    if t in ints:
        n = struct.calcsize(ints[t])
        return struct.unpack(ints[t], b[i:i + n])[0], i + n
    if 0xa0 <= t < 0xc0 or t in (0xc4, 0xc5, 0xc6, 0xd9, 0xda, 0xdb):
        n = t - 0xa0 if t < 0xc0 else int.from_bytes(b[i:i + sized[t]],
                                                      "big")
        i += 0 if t < 0xc0 else sized[t]
        raw = b[i:i + n]
        return (raw if t in (0xc4, 0xc5, 0xc6) else raw.decode()), i + n
    if t < 0xa0 or t in (0xdc, 0xdd, 0xde, 0xdf):
        n = t & 0x0f if t < 0xa0 else int.from_bytes(b[i:i + sized[t]],
                                                      "big")
        i += 0 if t < 0xa0 else sized[t]
        items = []
        for _ in range(n * (2 if t < 0x90 or t >= 0xde else 1)):
            v, i = mp_unpack(b, i)
            items.append(v)
        if t < 0x90 or t >= 0xde:
            return dict(zip(items[::2], items[1::2])), i
        return items, i
    raise ValueError("msgpack type 0x%02x" % t)


def ctl_service(m, name):
    """The master's `service` reply data, with the keys microctl drops."""
    def s(text):
        raw = text.encode()
        return bytes([0xd9, len(raw)]) + raw
    req = (b"\x84" + s("v") + b"\x01" + s("id") + b"\x01" +
           s("cmd") + s("service") + s("args") + b"\x81" + s("name") +
           s(name))
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(m.socket)
        sock.sendall(struct.pack(">I", len(req)) + req)
        data = b""
        while len(data) < 4 or len(data) < 4 + struct.unpack(
                ">I", data[:4])[0]:
            chunk = sock.recv(65536)
            assert chunk, "microd closed the control connection"
            data += chunk
    reply, _ = mp_unpack(data, 4)
    assert reply["ok"], reply
    return reply["data"]


def health_by_id(m, name):
    return {h["id"]: h for h in ctl_service(m, name)["health"]}


HEALTH = "go.micro.srv.health"


@pytest.fixture
def two_nodes(microd):
    """A service with a node that answers and one that refuses."""
    m = microd(workers={"broker": 0})
    live = FakeNode(lambda h, b: (200, {"Content-Type": "application/json"},
                                  b'{"ok":true}'))
    svc = live.service(HEALTH, node_id="live-1")
    svc["nodes"].append({"id": "dead-1", "address": closed_address(),
                         "metadata": {"protocol": "mucp"}})
    register(m, svc)
    yield m
    live.close()


def rpc_call(m):
    body = json.dumps({"service": HEALTH, "method": "Health.Call",
                       "request": {}}).encode()
    status, _, out = http("POST", m.url("api", "/rpc"), body,
                          {"Content-Type": "application/json"})
    assert status == 200, out


def dead_ejected(m):
    """One more call through the gateway; True once dead-1 is ejected."""
    rpc_call(m)
    return health_by_id(m, HEALTH)["dead-1"]["ejected"]


def test_ctl_reports_node_health(two_nodes):
    m = two_nodes
    before = int(time.time() * 1000)
    h = health_by_id(m, HEALTH)
    assert h["live-1"] == {"id": "live-1", "last_seen": None,
                           "ejected": False}
    assert h["dead-1"]["ejected"] is False
    wait_for(lambda: dead_ejected(m), timeout=30, what="dead-1 ejected")
    h = health_by_id(m, HEALTH)
    assert h["dead-1"]["last_seen"] is None
    assert h["live-1"]["ejected"] is False
    assert before <= h["live-1"]["last_seen"] <= time.time() * 1000 + 1000
    # The registry's JSON beside it stays go-micro's, as the sidecar has it.
    _, _, body = http("GET", m.url("sidecar", "/registry?service=" + HEALTH))
    assert json.loads(ctl_service(m, HEALTH)["json"]) == json.loads(body)
    assert "ejected" not in m.ctl("--json", "service", HEALTH).stdout


def test_top_shows_healthy_and_ejected(two_nodes, tmux):
    m = two_nodes
    t = tmux()
    start_top(t, m)
    t.wait(lambda s: (row(s, HEALTH) or [0, 0, ""])[2] == "2/2",
           what="both nodes healthy")
    # Calls go on while waiting: an ejection lapses after 10 s.
    t.wait(lambda s: dead_ejected(m) and
           (row(s, HEALTH) or [0, 0, ""])[2] == "1/2",
           timeout=30, what="1/2 healthy")
    t.keys("Tab")
    t.type("/health")
    t.keys("Enter")
    t.keys("Enter")

    def detail(s):
        dead, live = row(s, "dead-1"), row(s, "live-1")
        if dead and live and dead[3] != "yes":
            dead_ejected(m)
        return (dead and live and dead[2:4] == ["-", "yes"] and
                re.fullmatch(r"\d+s", live[2]) and live[3] == "no")
    t.wait(detail, timeout=30, what="detail: dead-1 ejected, live-1 seen")


def test_batch_shows_healthy(two_nodes):
    m = two_nodes
    wait_for(lambda: dead_ejected(m), timeout=30, what="dead-1 ejected")
    r = subprocess.run([MICROTOP, "-b", "-s", m.socket], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert row(r.stdout, HEALTH)[2] == "1/2"


def test_restart_asks_about_one_worker(microd, tmux):
    m = microd(workers={"api": 2})
    t = tmux()
    start_top(t, m)
    api1 = [w for w in m.running("api") if w["id"] == 1][0]
    t.wait(lambda s: (worker_row(s, "api", 1) or [0, 0, ""])[2] ==
           str(api1["pid"]), what="api/1")
    t.type("j")     # from api/0, the first row, to api/1
    t.type("K")
    t.wait_text("Restart worker api/1 (pid %d)? [y/N]" % api1["pid"])
    # While the question is up, a reload takes api/1 away.
    m.write_conf(workers={"api": 1})
    m.ctl("reload")
    t.wait(lambda s: worker_row(s, "api", 1) is None and
           "[y/N]" in s, timeout=20, what="api/1 gone, still asking")
    wait_for(lambda: len(m.running()) == 5, what="workers settled")
    before = {(w["role"], w["id"]): (w["pid"], w["restarts"])
              for w in m.workers_list()}
    t.type("y")
    screen = t.wait_text("api/1 (pid %d) is gone: nothing restarted" %
                         api1["pid"])
    assert "restarted 1 worker" not in screen
    after = {(w["role"], w["id"]): (w["pid"], w["restarts"])
             for w in m.workers_list()}
    assert after == before


@pytest.fixture
def web_draining(microd, tmux):
    """web/0 restarted while its old process drains a proxied websocket,
    micro-top showing both: (m, t, old pid, new pid)."""
    m = microd(extra="[microd]\nshutdown_timeout = 60s\n")
    node = FakeNode()
    ws = hold_web_websocket(m, node)
    try:
        old = m.running("web")[0]["pid"]
        m.ctl("restart", "web")
        wait_for(lambda: m.running("web") and
                 m.running("web")[0]["pid"] != old, what="new web worker")
        new = m.running("web")[0]["pid"]
        t = attached_top(tmux(), m)
        t.wait(lambda s: {c[2] for c in rows(s, "web", "0")} ==
               {str(old), str(new)}, what="both web/0 rows")
        yield m, t, old, new
    finally:
        ws.close()
        node.close()


def rows(screen, *lead):
    """The cells of every panel line that starts with the cells lead."""
    return [line.split() for line in screen.splitlines()
            if line.split()[:len(lead)] == list(lead) and
            len(line.split()) >= 5]


def select_worker(t, role, pid):
    """Move the selection down to the row of that pid: K says which
    process the selection is on, and is declined."""
    for _ in range(12):
        t.type("K")
        screen = t.wait(lambda s: "[y/N]" in s, what="the question")
        if "Restart worker %s (pid %d)?" % (role, pid) in screen:
            return
        t.type("n")
        t.wait(lambda s: "[y/N]" not in s, what="declined")
        t.type("j")
    raise AssertionError("no row selected for %s pid %d" % (role, pid))


def uptime(screen):
    found = re.search(r"  up (\S+)  ", screen)
    return found and found.group(1)


def test_selection_stays_on_the_process(web_draining):
    # web/0 has two rows; the selection must not jump from one to the
    # other when the stats come (it did: rows were told by role and id).
    m, t, old, new = web_draining
    for pid in (new, old):
        select_worker(t, "web/0", pid)
        t.type("n")
        for _ in range(2):
            up = uptime(t.screen())
            t.wait(lambda s: uptime(s) not in (up, None),
                   what="the next stats")
        t.type("K")
        t.wait_text("Restart worker web/0 (pid %d)? [y/N]" % pid)
        t.type("n")
        t.wait(lambda s: "[y/N]" not in s, what="declined")
        t.type("g")


def test_restart_of_a_draining_worker_is_refused(web_draining):
    # K on the draining row restarted the running web/0 instead.
    m, t, old, new = web_draining
    select_worker(t, "web/0", old)
    t.type("y")
    t.wait_text("restart failed: worker is draining")
    web = {w["pid"]: (w["state"], w["restarts"]) for w in m.workers_list()
           if w["role"] == "web"}
    assert web == {old: ("draining", 0), new: ("running", 1)}


def long_service(name, node):
    return json.dumps({"name": name, "version": "1.0.0",
                       "nodes": [{"id": node,
                                  "address": "127.0.0.1:9090"}]})


def test_long_names_kept_whole(microd, tmux):
    # 200 bytes each, alike in their first 199.
    base = "go.micro.srv." + "x" * 186
    m = microd()
    m.ctl("register", "-", input=long_service(base + "a", "node-a"))
    m.ctl("register", "-", input=long_service(base + "b", "node-b"))
    r = subprocess.run([MICROTOP, "-b", "-s", m.socket], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert len([l for l in r.stdout.splitlines()
                if l.startswith(base[:60])]) == 2, r.stdout
    t = tmux()
    start_top(t, m)
    t.wait_text("Services (2)")
    t.keys("Tab")
    t.keys("End")
    t.keys("Enter")
    screen = t.wait(lambda s: "node-b" in s or "not registered" in s,
                    what="detail of the second service")
    assert "node-b" in screen and "node-a" not in screen


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_batch_stops_on_signal(microd, sig):
    m = microd()
    p = subprocess.Popen([MICROTOP, "-b", "-s", m.socket],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)

    def caught():
        # The handler is in place once the signal's bit is in SigCgt.
        with open("/proc/%d/status" % p.pid) as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return int(line.split()[1], 16) & (1 << (sig - 1))
    try:
        wait_for(caught, what="micro-top's signal handlers")
        p.send_signal(sig)
        out, err = p.communicate(timeout=5)
    finally:
        p.kill()
        p.wait()
    assert (p.returncode, out, err) == (1, "", "micro-top: interrupted\n")


def test_interactive_needs_a_terminal(microd):
    m = microd()
    r = subprocess.run([MICROTOP, "-s", m.socket], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=10,
                       env=dict(os.environ, TERM="xterm-256color"))
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == ("micro-top: standard input is not a terminal "
                        "(-b prints a snapshot without one)\n")


def test_help_and_usage():
    r = subprocess.run([MICROTOP, "-h"], capture_output=True, text=True,
                       timeout=10)
    assert (r.returncode, r.stdout, r.stderr) == (
        0, "usage: micro-top [-bhV] [-s socket]\n", "")
    r = subprocess.run([MICROTOP, "-x"], capture_output=True, text=True,
                       timeout=10)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.endswith("usage: micro-top [-bhV] [-s socket]\n")
    # "" would name an abstract socket, as microctl refuses it.
    r = subprocess.run([MICROTOP, "-b", "-s", ""], capture_output=True,
                       text=True, timeout=10)
    assert (r.returncode, r.stdout, r.stderr) == (
        2, "", "micro-top: the socket path is empty\n")


def test_control_characters_not_drawn(microd, tmux):
    m = microd()
    m.ctl("register", "-", input=json.dumps({
        "name": "esc.test", "version": "1.0.0",
        "metadata": {"k": "a\u001b]0;T\u0007\nX"},
        "nodes": [{"id": "n1", "address": "127.0.0.1:9",
                   "metadata": {"k": "b\u001b[2J\rY"}}]}))
    t = tmux()
    start_top(t, m)
    t.wait_text("esc.test")
    t.keys("Tab")
    t.keys("Enter")
    # Each control character is one '?', on the line it belongs to.
    screen = t.wait(lambda s: "metadata: k=a?]0;T??X" in s and
                    "k=b?[2J?Y" in s, what="metadata with ? for controls")
    assert "T\u0007" not in screen


def test_utf8_names(microd, tmux):
    m = microd()
    for name in ("go.micro.café", "go.micro.cafe"):
        m.ctl("register", "-", input=service_json(name))
    t = tmux()
    t.type("LANG=C.UTF-8 %s -s %s; echo micro-top-exited-$?" % (
        MICROTOP, m.socket))
    t.keys("Enter")
    t.wait(lambda s: "go.micro.café" in s and "go.micro.cafe" in s,
           what="the UTF-8 name intact")
    # Columns are counted in characters shown, not bytes.
    r = subprocess.run([MICROTOP, "-b", "-s", m.socket], capture_output=True,
                       text=True, timeout=20,
                       env=dict(os.environ, LANG="C.UTF-8", LC_ALL=""))
    assert r.returncode == 0, r.stderr
    rows = [l for l in r.stdout.splitlines() if l.startswith("go.micro.caf")]
    assert len(rows) == 2 and rows[0].index("1.0.0") == \
        rows[1].index("1.0.0"), rows


def lines_of(screen, prefix):
    return [l for l in screen.splitlines() if l.startswith(prefix)]


def test_lang_c_keeps_columns_of_non_ascii_names(microd, tmux):
    """In the C locale ncurses would draw each byte above 0x7f as "~C":
    a CJK name pushed its row's columns out of line."""
    m = microd()
    names = ("go.micro.plain", "go.micro.café",
             "go.micro.\u65e5\u672c\u8a9e\u30b5\u30fc\u30d3\u30b9")
    for name in names:
        m.ctl("register", "-", input=service_json(name))
    t = tmux(width=80, height=24)
    t.type("LANG=C LC_ALL=C %s -s %s; echo micro-top-exited-$?" % (
        MICROTOP, m.socket))
    t.keys("Enter")

    def aligned(s):
        rows = lines_of(s, "go.micro.")
        return (len(rows) == 3 and all(len(r) <= 80 for r in rows) and
                len({r.find("1.0.0") for r in rows}) == 1 and
                all(r.rstrip().endswith("-") for r in rows))
    screen = t.wait(aligned, what="three service rows in line")
    assert "~" not in "".join(lines_of(screen, "go.micro."))
    t.keys("q")
    t.wait_text("micro-top-exited-0")


def test_three_rows_keep_the_bottom_line_clean(microd, tmux):
    """With no row between the header and the bottom line, the workers'
    title was drawn on the bottom line and showed through a message."""
    m = microd()
    t = tmux(width=80, height=3)
    start_top(t, m)
    t.wait(lambda s: s.startswith("microd "), what="attached")
    t.type("r")
    t.wait_text("[y/N]")
    t.type("n")
    t.wait(lambda s: len(s.splitlines()) >= 3 and
           s.splitlines()[2].rstrip() == "cancelled",
           what="'cancelled' alone on the bottom line")


def test_answer_after_microd_went_away_says_so(microd, tmux):
    """y to a question asked while attached, answered after microd left:
    nothing can be sent, and the bottom line must say so."""
    m = microd()
    t = attached_top(tmux(), m)
    t.type("r")
    t.wait_text("Reload microd's configuration? [y/N]")
    m.stop()
    t.wait_text("microd is not running", timeout=20)
    t.type("y")
    t.wait(lambda s: s.rstrip("\n").splitlines()[-1] ==
           "not attached to microd", what="'not attached' on the bottom")


def register_many(m, n):
    url = m.url("sidecar", "/registry")
    for i in range(n):
        svc = json.loads(service_json("svc.%04d" % i, node="n%d" % i))
        status, _, body = http("POST", url, json.dumps(svc).encode(),
                               {"Content-Type": "application/json"})
        assert status == 200, body


def test_page_keys_move_a_page(microd, tmux):
    """PgDn and PgUp move by the rows the panel shows, not ten rows."""
    m = microd()
    register_many(m, 1000)
    t = tmux(width=100, height=40)
    start_top(t, m)
    screen = t.wait(lambda s: "Services (1000)" in s and
                    lines_of(s, "svc.0000"), timeout=30,
                    what="a thousand services")
    shown = len(lines_of(screen, "svc."))
    assert shown > 10, screen
    t.keys("Tab")
    t.keys("NPage")
    # The selection moved a page down: the first row scrolled away.
    t.wait(lambda s: lines_of(s, "svc.%04d" % shown) and
           not lines_of(s, "svc.0000"), what="one page down")
    t.keys("PPage")
    t.wait(lambda s: lines_of(s, "svc.0000") and
           not lines_of(s, "svc.%04d" % shown), what="back up a page")
    t.type("G")
    t.wait(lambda s: lines_of(s, "svc.0999"), what="the end")


def test_home_and_end_scroll_the_detail(microd, tmux):
    """Home and End move to the ends of the detail as g and G do (they
    did nothing there)."""
    m = microd()
    svc = json.loads(service_json("go.micro.srv.many"))
    svc["nodes"] = [{"id": "many-%02d" % i, "address": "127.0.0.1:%d" %
                     (9000 + i)} for i in range(60)]
    m.ctl("register", "-", input=json.dumps(svc))
    t = tmux(width=100, height=20)
    start_top(t, m)
    t.wait_text("Services (1)")
    t.keys("Tab")
    t.keys("Enter")
    t.wait(lambda s: "many-00" in s and "many-59" not in s, what="detail")
    t.keys("End")
    t.wait(lambda s: "many-59" in s and "many-00" not in s, what="its end")
    t.keys("Home")
    t.wait(lambda s: "many-00" in s and "many-59" not in s, what="its top")


def test_batch_with_stdout_closed_fails(microd):
    """A closed stdout was reused by the control connection: the snapshot
    went into microd's socket and -b exited 0."""
    m = microd()
    r = subprocess.run(["sh", "-c", 'exec "$0" -b -s "$1" >&-', MICROTOP,
                        m.socket], stderr=subprocess.PIPE, text=True,
                       timeout=30)
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("micro-top: cannot write output:"), r.stderr
    assert "request too large" not in m.read_log()


def cursor_x(t):
    return int(t.tmux("display-message", "-p", "-t", "t", "#{cursor_x}"))


def bottom(screen):
    return screen.rstrip("\n").splitlines()[-1]


def top_services(screen):
    return sorted(line.split()[0] for line in screen.splitlines()
                  if line.startswith("go.micro.srv."))


def web_services(m, q):
    status, _, body = http("GET", m.url("web", "/?q=" +
                                        urllib.parse.quote(q)))
    assert status == 200
    return sorted(x.decode() for x in re.findall(rb'<tr data-name="([^"]*)"',
                                                 body))


def test_filter_takes_utf8_and_matches_like_the_web(microd, tmux):
    """The prompt dropped every byte above 0x7f, so "élan" filtered by
    "lan"; backspace took a byte; blanks were not trimmed as the web's
    ?q= trims them."""
    m = microd()
    names = ("go.micro.srv.\u00e9lan", "go.micro.srv.\u00c9lan",
             "go.micro.srv.kilo", "go.micro.srv.other")
    for name in names:
        m.ctl("register", "-", input=service_json(name))
    t = tmux()
    t.type("LANG=C.UTF-8 %s -s %s; echo micro-top-exited-$?" % (
        MICROTOP, m.socket))
    t.keys("Enter")
    t.wait(lambda s: "Services (4)" in s, what="the four services")
    t.keys("Tab")
    t.type("/")
    for q in ("\u00e9lan", "\u00c9LAN", "\u212a", " kilo ", "KILO",
              "\u00e9"):
        t.type(q)
        served = web_services(m, q)
        t.wait(lambda s: bottom(s) == "filter Services: " + q.rstrip() and
               top_services(s) == served,
               what="the web's rows %r for %r" % (served, q))
        # The cursor follows what was typed, in columns.
        assert cursor_x(t) == len("filter Services: " + q), q
        # One backspace per character empties the prompt again.
        for _ in q:
            t.keys("BSpace")
        t.wait(lambda s: top_services(s) == sorted(names) and
               "filter:" not in s, what="filter %r erased" % q)
    t.type("caf\u00e9")
    t.wait(lambda s: bottom(s) == "filter Services: caf\u00e9",
           what="caf\u00e9 typed")
    t.keys("BSpace")
    t.wait(lambda s: bottom(s) == "filter Services: caf",
           what="only the last character erased")


def test_alt_key_runs_nothing(microd, tmux):
    """Alt+key comes as Esc and the key: in the filter prompt, Esc left
    the prompt and the key then ran as a command, so Alt-q quit."""
    m = microd()
    t = attached_top(tmux(), m)
    t.type("/ap")
    t.wait(lambda s: bottom(s) == "filter Workers: ap", what="filter typed")
    t.keys("M-q")
    t.type("i")
    t.wait(lambda s: bottom(s) == "filter Workers: api",
           what="still filtering after Alt-q")
    t.keys("Enter")
    t.keys("M-q")
    t.type("/")
    t.wait(lambda s: bottom(s) == "filter Workers: api",
           what="micro-top still running after Alt-q, its filter kept")


def test_enter_on_an_empty_panel_says_so(microd, tmux):
    """Enter with the services panel focused but no row shown told the
    operator to Tab to the panel they were on."""
    m = microd()
    t = attached_top(tmux(), m)
    t.keys("Tab")
    t.type("/nothing-matches")
    t.keys("Enter", "Enter")
    t.wait(lambda s: "no service shown" in bottom(s),
           what="the empty panel named")


def test_tiny_terminal_shows_a_hint_then_redraws(microd, tmux):
    """Narrower than 20 columns the dashboard was cut to pieces ('microd
    0.1', 'registry l', 'q quit  ?' on 10x3): the longest hint that fits
    instead, never the bottom right cell (ncurses cannot draw it on one
    row, so 1x1 shows nothing), and the dashboard again once wide enough."""
    m = microd()
    t = attached_top(tmux(width=80, height=24), m)
    for width, height, hint in ((10, 3, "too small"),
                                (19, 2, "terminal too small"),
                                (19, 1, "terminal too small"),
                                (5, 5, "small"), (1, 5, "!"),
                                (1, 1, ""), (2, 1, "!")):
        t.resize(width, height)
        t.wait(lambda s: s.strip() == hint and
               len(s.splitlines()) <= height and
               all(len(line) <= width for line in s.splitlines()),
               what="%r alone at %dx%d" % (hint, width, height))
    t.resize(80, 24)
    screen = t.wait(lambda s: worker_row(s, "api") and
                    s.splitlines()[-1] == FOOTER, what="the dashboard back")
    assert "micro-top-exited" not in screen
