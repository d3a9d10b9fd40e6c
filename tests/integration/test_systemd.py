"""The systemd unit, installation, journald priorities and privilege
drop."""
import json
import os
import pwd
import re
import shutil
import subprocess

import pytest

import conftest
from conftest import (BUILDDIR, JOURNAL_LOG, MICROCTL, MICROD, SRCDIR, http,
                      signal_pid, wait_for)


def make(*targets, **kw):
    """Run make in the build directory (cheap targets only)."""
    r = subprocess.run(["make", "-s", "-C", BUILDDIR] + list(targets),
                       capture_output=True, text=True, timeout=120, **kw)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def config_h(name):
    with open(os.path.join(BUILDDIR, "config.h")) as f:
        m = re.search(r'^#define %s "(.*)"$' % name, f.read(), re.M)
    assert m, "%s not in config.h" % name
    return m.group(1)


def configure_args():
    with open(os.path.join(BUILDDIR, "config.status")) as f:
        m = re.search(r"^ac_cs_config='(.*)'$", f.read(), re.M)
    return m.group(1) if m else ""


def test_unit_passes_systemd_analyze_verify(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze missing: scripts/install-deps.sh "
                    "installs systemd")
    with open(os.path.join(SRCDIR, "contrib/systemd/microd.service.in")) as f:
        unit = f.read()
    unit = unit.replace("@sbindir@/microd", MICROD).replace(
        "@sysconfdir@", str(tmp_path))
    assert "@" not in unit
    (tmp_path / "microd.service").write_text(unit)
    # verify also checks that the Documentation= man pages exist;
    # microd.8 is generated from microd.8.in.
    make("man/microd.8")
    for page, sec in ((os.path.join(BUILDDIR, "man", "microd.8"), "8"),
                      (os.path.join(SRCDIR, "man", "microd.conf.5"), "5")):
        d = tmp_path / "man" / ("man" + sec)
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(page, d)
    env = dict(os.environ, MANPATH=str(tmp_path / "man"))
    r = subprocess.run(["systemd-analyze", "verify",
                        str(tmp_path / "microd.service")],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    for key in ("Type=notify", "ExecReload=", "Restart=on-failure",
                "RuntimeDirectory=", "StateDirectory=",
                "ProtectSystem=strict", "NoNewPrivileges=yes"):
        assert key in unit
    # The environment beats microd.conf: setting MICRO_MICROD_SOCKET or
    # _STATE_DIR here would silently override the admin's socket=/state_dir=.
    assert "MICRO_" not in "".join(
        l for l in unit.splitlines() if l.startswith("Environment"))


def test_default_paths_match_the_unit():
    """microd, microctl, the unit and microd(8) agree on /run and /var for
    any prefix (configure's FHS defaults)."""
    args = configure_args()
    run, state = config_h("RUNSTATEDIR"), config_h("LOCALSTATEDIR")
    if "--runstatedir" not in args:
        assert run == "/run"
    if "--localstatedir" not in args:
        assert state == "/var"
    sock = run + "/microd/microd.sock"
    env = {k: v for k, v in os.environ.items() if k != "MICROD_SOCKET"}
    r = subprocess.run([MICROCTL, "status"], capture_output=True,
                       text=True, env=env, timeout=20)
    if r.returncode != 0:   # no microd on this host: the error names it
        assert sock in r.stderr, r.stderr
    make("contrib/systemd/microd.service", "man/microd.8")
    with open(os.path.join(BUILDDIR, "contrib/systemd/microd.service")) as f:
        unit = f.read()
    conf = config_h("SYSCONFDIR") + "/microd/microd.conf"
    assert "ExecStart=%s -c %s\n" % (
        re.search(r"^ExecStart=(\S+)", unit, re.M).group(1), conf) in unit
    with open(os.path.join(BUILDDIR, "man/microd.8")) as f:
        page = f.read()
    assert "@" not in re.sub(r"\\&@|@@", "", page)
    for path in (conf, sock, state + "/lib/microd/registry.db"):
        assert path in page


def test_install_keeps_an_edited_config(tmp_path):
    """make install installs microd.conf only when absent; make uninstall
    removes it only while unchanged."""
    conf = tmp_path / config_h("SYSCONFDIR").lstrip("/") / "microd/microd.conf"
    dest = "DESTDIR=%s" % tmp_path
    make("install-data-local", dest)
    # The shipped file with configure's directories (test_install.py).
    with open(os.path.join(BUILDDIR, "etc/microd.conf.inst")) as f:
        shipped = f.read()
    assert conf.read_text() == shipped
    conf.write_text(shipped + "[api]\nlisten = 127.0.0.1:9999\n")
    make("install-data-local", dest)
    assert "9999" in conf.read_text()
    make("uninstall-local", dest)
    assert "9999" in conf.read_text()
    conf.write_text(shipped)
    make("uninstall-local", dest)
    assert not conf.exists()


def test_shipped_config_keys_are_all_valid(tmp_path):
    """Every key etc/microd.conf shows, uncommented, passes microd -t."""
    with open(os.path.join(SRCDIR, "etc/microd.conf")) as f:
        text = f.read()
    text = re.sub(r"^#([a-z_]+ =)", r"\1", text, flags=re.M)
    for key in ("username", "password", "token", "tls_ca", "tls_cert",
                "tls_key"):
        assert re.search(r"^%s =" % key, text, re.M), key
    (tmp_path / "microd.conf").write_text(text)
    r = subprocess.run([MICROD, "-t", "-c", str(tmp_path / "microd.conf")],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr


def test_usage():
    r = subprocess.run([MICROD, "-h"], capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 0 and r.stdout.startswith("usage: microd")
    for bad in (["-x"], ["stray"]):
        r = subprocess.run([MICROD] + bad, capture_output=True, text=True,
                           timeout=20)
        assert r.returncode == 2 and "usage: microd" in r.stderr


def test_journald_priority_prefixes(microd):
    m = microd(env={"JOURNAL_STREAM": JOURNAL_LOG})
    lines = [l for l in m.read_log().splitlines() if l.strip()]
    assert lines and all(l.startswith("<") and l[2] == ">" for l in lines)
    assert any(l.startswith("<6>") for l in lines)


def test_journal_stream_of_another_file_gives_no_prefixes(microd):
    """JOURNAL_STREAM inherited by a process whose stderr goes elsewhere
    (a service's wrapper writing a log file): "<6>" prefixes went into
    that file. They go only to the stream the variable names."""
    m = microd(env={"JOURNAL_STREAM": "8:1234"})
    lines = [l for l in m.read_log().splitlines() if l.strip()]
    assert lines and not any(re.match(r"<\d>", l) for l in lines), lines


def open_to_others(m):
    """The dropped workers must reach their state dir: pytest makes its
    temp dirs private to root."""
    d = m.dir
    while str(d) != "/tmp" and d != d.parent:
        os.chmod(d, 0o755)
        d = d.parent


def proc_status(pid, field):
    """The values of field ("Uid", "Groups") in /proc/pid/status."""
    with open("/proc/%d/status" % pid) as f:
        return [l for l in f if l.startswith(field + ":")][0].split()[1:]


def dropped_to_nobody(microd):
    """microd started as root with user = nobody."""
    m = microd(extra="[microd]\nuser = nobody\n", start=False)
    open_to_others(m)
    return m.start()


@pytest.mark.skipif(os.geteuid() != 0, reason="privilege drop needs root")
def test_workers_drop_to_configured_user(microd):
    nobody = pwd.getpwnam("nobody")
    m = dropped_to_nobody(microd)
    for w in m.workers_list():
        uids = proc_status(w["pid"], "Uid")
        assert all(int(u) == nobody.pw_uid for u in uids), w
    assert proc_status(m.proc.pid, "Uid")[0] == "0"
    # The dropped registry worker can still persist to the state dir.
    svc = {"name": "go.micro.srv.priv", "version": "1",
           "nodes": [{"id": "p-1", "address": "127.0.0.1:1"}]}
    status, _, body = http("POST", m.url("sidecar", "/registry"),
                           json.dumps(svc).encode())
    assert status == 200, body
    assert os.stat(m.dir / "state").st_uid == nobody.pw_uid


@pytest.mark.skipif(os.geteuid() != 0, reason="privilege drop needs root")
def test_workers_keep_the_users_groups(microd, tmp_path, monkeypatch):
    """A worker dropped to user kept only its primary group: a TLS key
    readable by the user's group ssl-cert (Debian's layout) was not to
    the worker. It gets the user's groups now, as nginx's workers do.
    microd runs in a private mount namespace whose /etc/group makes
    nobody a member of one more group: the host's is not touched."""
    if shutil.which("unshare") is None:
        pytest.fail("unshare missing (util-linux)")
    group = tmp_path / "group"
    with open("/etc/group") as f:
        group.write_text(f.read() + "microdtest:x:4343:nobody\n")
    wrap = tmp_path / "microd-groups"
    wrap.write_text("#!/bin/sh\nexec unshare -m sh -c 'mount --bind %s "
                    "/etc/group && exec %s \"$@\"' microd \"$@\"\n" %
                    (group, MICROD))
    wrap.chmod(0o755)
    monkeypatch.setattr(conftest, "MICROD", str(wrap))
    m = dropped_to_nobody(microd)
    for w in m.workers_list():
        groups = proc_status(w["pid"], "Groups")
        assert "4343" in groups, (w, groups)


@pytest.mark.skipif(os.geteuid() != 0, reason="privilege drop needs root")
@pytest.mark.parametrize("caps", ["root", "unit"])
def test_user_takes_over_registry_files_root_created(microd, tmp_path,
                                                     monkeypatch, caps):
    """A first run as root (or systemd's StateDirectory= chown) leaves
    registry.db, -wal and -shm owned by root; with user = set the dropped
    registry worker must still open them, not crash-loop. "unit" runs
    microd without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH, as the unit's
    CapabilityBoundingSet= does."""
    if caps == "unit":
        if shutil.which("setpriv") is None:
            pytest.fail("setpriv missing (util-linux)")
        wrap = tmp_path / "microd-unit-caps"
        wrap.write_text("#!/bin/sh\nexec setpriv --bounding-set="
                        "-dac_override,-dac_read_search %s \"$@\"\n" % MICROD)
        wrap.chmod(0o755)
        monkeypatch.setattr(conftest, "MICROD", str(wrap))
    nobody = pwd.getpwnam("nobody")
    m = microd(start=False)
    open_to_others(m)
    m.start()
    svc = {"name": "go.micro.srv.rootmade", "version": "1",
           "nodes": [{"id": "r-1", "address": "127.0.0.1:1"}]}
    status, _, body = http("POST", m.url("sidecar", "/registry?ttl=1h"),
                           json.dumps(svc).encode())
    assert status == 200, body
    # SIGKILL leaves the -wal and -shm files behind, as a crash would.
    m.kill_all()
    state = m.dir / "state"
    files = [state / n for n in ("registry.db", "registry.db-wal",
                                 "registry.db-shm")]
    for f in files:
        assert f.exists() and os.stat(f).st_uid == 0, f
    m.extra = "[microd]\nuser = nobody\n"
    m.write_conf()
    m.start()
    for f in files:
        if f.exists():
            assert os.stat(f).st_uid == nobody.pw_uid, f
    names = {s["name"] for s in m.ctl_json("services")}
    assert "go.micro.srv.rootmade" in names
    reg = [w for w in m.workers_list() if w["role"] == "registry"]
    assert reg and all(w["restarts"] == 0 for w in reg), reg


def test_worker_counters_move(microd):
    m = microd()

    def api_requests():
        return sum(w["requests"] for w in m.workers_list()
                   if w["role"] == "api")
    before = api_requests()
    for _ in range(5):
        assert http("GET", m.url("api", "/healthz"))[0] == 200
    wait_for(lambda: api_requests() >= before + 5, what="counters")
    assert http("GET", m.url("api", "/nope"))[0] == 404


# systemd is not PID 1 here, so the unit runs under a private user-mode
# manager: it checks that the host booted with systemd (/run/systemd/system)
# and, for ProtectHome= and ProtectKernel*=, mounts the inaccessible nodes
# PID 1 makes in /run/systemd/inaccessible. Both are made in a tmpfs over
# /run, in a mount namespace of the manager's own, so the host's /run is
# untouched. The unit's directives are applied as the system manager
# applies them: sandboxing, notify readiness, reload, restart, kill.
SYSTEMD_USER_RUN = """
set -e
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/system
i=/run/systemd/inaccessible
mkdir -p -m 0 $i/dir
mknod -m 0 $i/chr c 0 0
mknod -m 0 $i/blk b 0 0
mkfifo -m 0 $i/fifo
: > $i/reg
chmod 0 $i/reg
exec /lib/systemd/systemd --user
"""


class SystemdUser:
    """A user-mode systemd in its own mount namespace and dirs."""

    def __init__(self, tmp):
        self.runtime = runtime = tmp / "xdg-runtime"
        runtime.mkdir(mode=0o700)
        self.units = tmp / "xdg-config" / "systemd" / "user"
        self.units.mkdir(parents=True)
        self.env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime),
                        XDG_CONFIG_HOME=str(tmp / "xdg-config"),
                        HOME=str(tmp))
        self.log = open(tmp / "systemd-user.log", "wb")
        self.proc = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             SYSTEMD_USER_RUN], env=self.env, stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True)
        private = runtime / "systemd" / "private"

        def up():
            assert self.proc.poll() is None, "user manager exited"
            # not is-system-running: outside the namespace it sees no
            # /run/systemd/system and says "offline"
            return private.exists() and self.ctl(
                "show", "-p", "SystemState", "--value",
                check=False).stdout.strip() in ("running", "degraded")
        try:
            wait_for(up, 30, what="the user-mode systemd running")
        except AssertionError:
            self.close()
            raise

    def ctl(self, *args, check=True):
        r = subprocess.run(["systemctl", "--user", "--no-pager"] +
                           list(args), capture_output=True, text=True,
                           env=self.env, timeout=60)
        if check:
            assert r.returncode == 0, "systemctl %s: %s" % (
                " ".join(args), r.stdout + r.stderr)
        return r

    def show(self, unit, prop):
        return self.ctl("show", unit, "-p", prop, "--value").stdout.strip()

    def close(self):
        self.ctl("exit", check=False)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
        self.log.close()


@pytest.fixture
def systemd_user(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("a private mount namespace for the manager needs root")
    for tool in ("/lib/systemd/systemd", "/usr/bin/systemctl"):
        if not os.path.exists(tool):
            pytest.fail("%s missing: scripts/install-deps.sh installs "
                        "systemd" % tool)
    sd = SystemdUser(tmp_path)
    yield sd
    sd.close()


def install_unit(sd, m):
    """The shipped unit, run from the build dir on m's config. PrivateTmp=
    hides the real /tmp, where the build, m's dir and the manager's notify
    socket are: they are bound in, the build read-only."""
    with open(os.path.join(SRCDIR, "contrib/systemd/microd.service.in")) as f:
        unit = f.read()
    unit = unit.replace("@sbindir@/microd", MICROD).replace(
        "@sysconfdir@/microd/microd.conf", m.conf)
    assert "@" not in unit
    (sd.units / "microd.service").write_text(unit)
    dropin = sd.units / "microd.service.d"
    dropin.mkdir()
    (dropin / "paths.conf").write_text(
        "[Service]\nBindPaths=%s %s\nBindReadOnlyPaths=%s\n" % (
            m.dir, sd.runtime, os.path.realpath(BUILDDIR)))
    sd.ctl("daemon-reload")


def unit_processes(m):
    """Processes still running on m's config."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if m.conf.encode() in f.read():
                    pids.append(int(pid))
        except OSError:
            pass
    return pids


def test_systemctl_start_reload_restart_stop(systemd_user, microd):
    sd = systemd_user
    m = microd(start=False)
    install_unit(sd, m)
    # Type=notify: start returns once every worker is running.
    sd.ctl("start", "microd")
    assert sd.show("microd", "ActiveState") == "active"
    assert sd.show("microd", "StatusText") == "generation 1 serving"
    ws = m.workers_list()
    assert len(ws) == 5 and all(w["state"] == "running" for w in ws), ws
    main = int(sd.show("microd", "MainPID"))
    assert m.status()["pid"] == main

    m.write_conf(workers={"api": 2})
    sd.ctl("reload", "microd")
    wait_for(lambda: sd.show("microd", "StatusText") ==
             "generation 2 serving", 30, what="generation 2 serving")
    assert len(m.running("api")) == 2
    assert int(sd.show("microd", "MainPID")) == main

    # Restart=on-failure: a killed master comes back (RestartSec=2).
    restarts = int(sd.show("microd", "NRestarts"))
    signal_pid(main, 9)
    wait_for(lambda: sd.show("microd", "ActiveState") == "active" and
             int(sd.show("microd", "MainPID")) not in (0, main), 30,
             what="microd restarted")
    assert int(sd.show("microd", "NRestarts")) == restarts + 1
    wait_for(lambda: sd.show("microd", "StatusText") ==
             "generation 1 serving", 30, what="the new master serving")

    sd.ctl("stop", "microd")
    assert sd.show("microd", "ActiveState") == "inactive"
    assert sd.show("microd", "Result") == "success"
    assert unit_processes(m) == []


@pytest.mark.parametrize("change", [
    {"text": "[api]\nlisten = nowhere\n"},
    {"extra": "[microd]\nshm_size = 32M\n"},
], ids=["bad-config", "needs-a-restart"])
def test_systemctl_reload_fails_when_refused(systemd_user, microd, change):
    """systemctl reload exited 0 on a bad configuration (a deploy saw
    success; the refusal was only in StatusText), and then, with microd -t
    in ExecReload=, on a valid one whose reload the master refuses
    (shm_size needs a restart). It fails now, and the running generation
    stays."""
    sd = systemd_user
    m = microd(start=False)
    install_unit(sd, m)
    sd.ctl("start", "microd")
    m.write_conf(**change)
    r = sd.ctl("reload", "microd", check=False)
    assert r.returncode != 0
    assert sd.show("microd", "ActiveState") == "active"
    assert m.status()["generation"] == 1
    sd.ctl("stop", "microd")
    assert unit_processes(m) == []


def test_systemctl_start_refuses_a_bad_config(systemd_user, microd):
    """ExecStartPre= (microd -t) fails the start before anything runs."""
    sd = systemd_user
    m = microd(start=False)
    install_unit(sd, m)
    m.write_conf(text="[api]\nlisten = nowhere\n")
    r = sd.ctl("start", "microd", check=False)
    assert r.returncode != 0
    assert sd.show("microd", "ActiveState") in ("failed", "activating")
    assert "ExecStartPre" in sd.ctl("status", "microd", check=False).stdout
    assert unit_processes(m) == []
