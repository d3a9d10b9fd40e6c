"""The sidecar's app health check: registered while the app's URL answers
200, deregistered when it does not, registered again when it recovers."""
import json

from conftest import http, wait_for
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
