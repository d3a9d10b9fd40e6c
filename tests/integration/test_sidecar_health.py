"""The sidecar's app health check: registered while the app's URL answers
200, deregistered when it does not, registered again when it recovers."""
import json
import subprocess

from conftest import MICROD, http, wait_for
from gwnodes import FakeNode, node_ids


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
