"""The systemd unit, journald priorities and privilege drop."""
import json
import os
import pwd
import shutil
import subprocess

import pytest

from conftest import BUILDDIR, MICROD, SRCDIR, http, wait_for


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
    # verify also checks that the Documentation= man pages exist.
    for page, sec in (("microd.8", "8"), ("microd.conf.5", "5")):
        d = tmp_path / "man" / ("man" + sec)
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.join(SRCDIR, "man", page), d)
    env = dict(os.environ, MANPATH=str(tmp_path / "man"))
    r = subprocess.run(["systemd-analyze", "verify",
                        str(tmp_path / "microd.service")],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    for key in ("Type=notify", "ExecReload=", "Restart=on-failure",
                "RuntimeDirectory=", "StateDirectory=",
                "ProtectSystem=strict", "NoNewPrivileges=yes"):
        assert key in unit


def test_journald_priority_prefixes(microd):
    m = microd(env={"JOURNAL_STREAM": "8:1234"})
    lines = [l for l in m.read_log().splitlines() if l.strip()]
    assert lines and all(l.startswith("<") and l[2] == ">" for l in lines)
    assert any(l.startswith("<6>") for l in lines)


@pytest.mark.skipif(os.geteuid() != 0, reason="privilege drop needs root")
def test_workers_drop_to_configured_user(microd):
    nobody = pwd.getpwnam("nobody")
    m = microd(extra="[microd]\nuser = nobody\n", start=False)
    # The dropped workers must reach their state dir: pytest makes its
    # temp dirs private to root.
    d = m.dir
    while str(d) != "/tmp" and d != d.parent:
        os.chmod(d, 0o755)
        d = d.parent
    m.start()
    for w in m.workers_list():
        with open("/proc/%d/status" % w["pid"]) as f:
            uids = [l for l in f if l.startswith("Uid:")][0].split()[1:]
        assert all(int(u) == nobody.pw_uid for u in uids), w
    with open("/proc/%d/status" % m.proc.pid) as f:
        assert [l for l in f if l.startswith("Uid:")][0].split()[1] == "0"
    # The dropped registry worker can still persist to the state dir.
    svc = {"name": "go.micro.srv.priv", "version": "1",
           "nodes": [{"id": "p-1", "address": "127.0.0.1:1"}]}
    status, _, body = http("POST", m.url("sidecar", "/registry"),
                           json.dumps(svc).encode())
    assert status == 200, body
    assert os.stat(m.dir / "state").st_uid == nobody.pw_uid


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
