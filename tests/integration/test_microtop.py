"""micro-top driven in tmux against a real microd.

Each test runs micro-top from a shell in a private tmux server (-L) and
reads the pane with capture-pane, polling with deadlines.
"""
import json
import os
import shutil
import signal
import subprocess
import time
import uuid

import pytest

from conftest import MICROTOP, wait_for

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

    def wait(self, pred, timeout=10.0, what="screen"):
        last = {}

        def check():
            last["s"] = self.screen()
            return last["s"] if pred(last["s"]) else None
        try:
            return wait_for(check, timeout, interval=0.05, what=what)
        except AssertionError as e:
            raise AssertionError("%s\n--- screen ---\n%s" % (
                e, last.get("s", "")))

    def wait_text(self, text, timeout=10.0):
        return self.wait(lambda s: text in s, timeout, what=repr(text))

    def resize(self, width, height):
        self.tmux("resize-window", "-t", "t", "-x", str(width),
                  "-y", str(height))

    def kill(self):
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


def worker_row(screen, role, wid=0):
    """The workers-panel cells of role/wid: ROLE ID PID STATE RESTART..."""
    for line in screen.splitlines():
        cells = line.split()
        if len(cells) >= 5 and cells[0] == role and cells[1] == str(wid):
            return cells
    return None


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
    os.kill(api["pid"], signal.SIGKILL)

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
    t = tmux()
    start_top(t, m)
    t.wait(lambda s: worker_row(s, "api"), what="attached")
    m.stop()
    screen = t.wait_text("microd is not running")
    assert worker_row(screen, "api") is None
    m.start()
    api = m.running("api")[0]
    t.wait(lambda s: (worker_row(s, "api") or [0, 0, ""])[2] ==
           str(api["pid"]), what="reattached to the new microd")


def test_quit_restores_terminal(microd, tmux):
    m = microd()
    t = tmux()
    start_top(t, m)
    t.wait(lambda s: worker_row(s, "api"), what="attached")
    t.keys("q")
    screen = t.wait_text("micro-top-exited-0")
    # Back on the shell's screen: nothing of the dashboard is left.
    assert "Workers (" not in screen
    assert worker_row(screen, "api") is None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT,
                                 signal.SIGHUP])
def test_signal_restores_terminal(microd, tmux, sig):
    m = microd()
    t = tmux()
    start_top(t, m)
    t.wait(lambda s: worker_row(s, "api"), what="attached")
    pid = int(subprocess.run(["pgrep", "-n", "-f", "^%s -s %s" % (
        MICROTOP, m.socket)], capture_output=True, text=True).stdout)
    os.kill(pid, sig)
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
