"""A STAND-IN for a Consul agent: NOT Consul.

Consul is not packaged for these machines, so the registry plugin is
tested against this small in-process server. It implements only the
endpoints the plugin uses, as Consul's HTTP API documentation describes
them, with Consul's blocking-query semantics (X-Consul-Index, ?index=
&wait=), TTL checks turning critical when not passed in time, and
X-Consul-Token checked when a token is set. Answers are shaped like the
examples in the documentation (only the fields shown there).
"""
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse


def _duration(s):
    m = re.fullmatch(r"(\d+)(ms|s|m)?", s or "")
    if not m:
        return 300.0
    n = int(m.group(1))
    return {"ms": n / 1000, "m": n * 60}.get(m.group(2), float(n))


class Standin:
    def __init__(self, token=None):
        self.token = token
        self.index = 1
        self.services = {}      # id -> registration body
        self.checks = {}        # "service:<id>" -> [status, ttl s, deadline]
        self.cond = threading.Condition()
        self.requests = []      # (method, path) seen
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()
        threading.Thread(target=self._reaper, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def _bump(self):
        self.index += 1
        self.cond.notify_all()

    def _reaper(self):
        while True:
            time.sleep(0.05)
            with self.cond:
                now = time.monotonic()
                for c in self.checks.values():
                    if c[0] == "passing" and now > c[2]:
                        c[0] = "critical"
                        self._bump()

    def register(self, body):
        with self.cond:
            sid = body.get("ID") or body["Name"]
            self.services[sid] = body
            check = body.get("Check") or {}
            if check.get("TTL"):
                ttl = _duration(check["TTL"])
                self.checks[check.get("CheckID") or "service:" + sid] = [
                    "critical", ttl, 0]
            self._bump()

    def deregister(self, sid):
        with self.cond:
            if self.services.pop(sid, None) is None:
                return False
            self.checks.pop("service:" + sid, None)
            self._bump()
            return True

    def pass_check(self, cid):
        with self.cond:
            c = self.checks.get(cid)
            if c is None:
                return False
            c[2] = time.monotonic() + c[1]
            if c[0] != "passing":
                c[0] = "passing"
                self._bump()
            return True

    def catalog(self):
        out = {"consul": []}
        for s in self.services.values():
            out.setdefault(s["Name"], [])
            out[s["Name"]] = sorted(set(out[s["Name"]]) | set(
                s.get("Tags") or []))
        return out

    def health(self, name):
        out = []
        for sid, s in self.services.items():
            if s["Name"] != name:
                continue
            checks = [{"Node": "standin", "CheckID": "serfHealth",
                       "Name": "Serf Health Status", "Status": "passing"}]
            c = self.checks.get("service:" + sid)
            if c is not None:
                checks.append({"Node": "standin", "CheckID": "service:" + sid,
                               "Status": c[0], "ServiceID": sid})
            out.append({
                "Node": {"ID": "40e4a748-2192-161a-0510-9bf59fe950b5",
                         "Node": "standin", "Address": "127.0.0.1",
                         "Datacenter": "dc1"},
                "Service": {"ID": sid, "Service": name,
                            "Tags": s.get("Tags") or [],
                            "Address": s.get("Address", ""),
                            "Meta": s.get("Meta"),
                            "Port": s.get("Port", 0)},
                "Checks": checks})
        return out

    def _handler(standin):
        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code, obj=None):
                data = b"" if obj is None else json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Consul-Index", str(standin.index))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self):
                if standin.token is None:
                    return True
                return self.headers.get("X-Consul-Token") == standin.token

            def do_PUT(self):
                u = urlparse(self.path)
                standin.requests.append(("PUT", u.path))
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                if not self._authorized():
                    return self._send(403, "ACL not found")
                if u.path == "/v1/agent/service/register":
                    standin.register(json.loads(body))
                    return self._send(200)
                m = re.fullmatch(r"/v1/agent/service/deregister/(.+)", u.path)
                if m:
                    return self._send(200 if standin.deregister(
                        unquote(m.group(1))) else 404)
                m = re.fullmatch(r"/v1/agent/check/pass/(.+)", u.path)
                if m:
                    ok = standin.pass_check(unquote(m.group(1)))
                    return self._send(200) if ok else self._send(
                        500, 'CheckID "%s" does not have associated TTL'
                        % m.group(1))
                self._send(404)

            def do_GET(self):
                u = urlparse(self.path)
                standin.requests.append(("GET", self.path))
                if not self._authorized():
                    return self._send(403, "ACL not found")
                q = parse_qs(u.query)
                index = int(q.get("index", ["0"])[0])
                wait = min(_duration(q.get("wait", ["5m"])[0]), 600)
                with standin.cond:
                    # Blocking query: hold until the index moves past ours.
                    if index > 0:
                        standin.cond.wait_for(
                            lambda: standin.index > index, timeout=wait)
                    if u.path == "/v1/catalog/services":
                        return self._send(200, standin.catalog())
                    m = re.fullmatch(r"/v1/health/service/(.+)", u.path)
                    if m:
                        return self._send(200, standin.health(
                            unquote(m.group(1))))
                self._send(404)
        return H
