"""A STAND-IN for a Consul agent: NOT Consul.

Consul is not packaged for these machines, so the registry plugin is
tested against this small in-process server. It implements only the
endpoints the plugin uses, as Consul's HTTP API documentation describes
them, with Consul's blocking-query semantics (X-Consul-Index, ?index=
&wait=), TTL checks turning critical when not passed in time, and
X-Consul-Token checked when a token is set. Answers are shaped like the
examples in the documentation (only the fields shown there).

Where Consul's documented behaviour matters to a client, it follows it:
service Meta is validated as Consul validates it (400 otherwise); a
re-registration keeps the status of a check it already has; a health
query matches the service name ignoring case, as Consul's does; a service
whose check stays critical past DeregisterCriticalServiceAfter is reaped
(the duration given is honoured as is, with none of Consul's one-minute
minimum or 30 s reaper period, so tests can see it). Services of other
nodes enter through /v1/catalog/register, as in Consul, and carry no
checks; a service ID is unique per node only, so two nodes may list the
same one.

Tests may make it misbehave like a stalled agent: stall_if(method, path)
true leaves that request unanswered until close(); fail_if(method, path)
returning a status answers with it.
"""
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

# Consul's limits on service metadata (agent/structs: validateMetadata).
META_KEY_FORMAT = re.compile(r"[a-zA-Z0-9_-]+")
META_MAX_PAIRS = 64
META_KEY_MAX = 128
META_VALUE_MAX = 512
META_RESERVED_PREFIX = "consul-"


def _duration(s):
    m = re.fullmatch(r"(\d+)(ms|s|m)?", s or "")
    if not m:
        return 300.0
    n = int(m.group(1))
    return {"ms": n / 1000, "m": n * 60}.get(m.group(2), float(n))


def meta_error(meta):
    """Consul's reason for refusing service Meta, or None."""
    if not meta:
        return None
    if len(meta) > META_MAX_PAIRS:
        return "Node metadata cannot contain more than %d key/value pairs" % (
            META_MAX_PAIRS)
    for k, v in meta.items():
        why = None
        if k == "":
            why = "Key cannot be blank"
        elif not META_KEY_FORMAT.fullmatch(k):
            why = "Key contains invalid characters"
        elif len(k) > META_KEY_MAX:
            why = "Key is too long (limit: %d characters)" % META_KEY_MAX
        elif k.startswith(META_RESERVED_PREFIX):
            why = "Key prefix '%s' is reserved for internal use" % (
                META_RESERVED_PREFIX)
        elif len(v) > META_VALUE_MAX:
            why = "Value is too long (limit: %d characters)" % META_VALUE_MAX
        if why:
            return "Couldn't load metadata pair ('%s', '%s'): %s" % (k, v, why)
    return None


class Check:
    def __init__(self, ttl, deregister_after):
        self.status = "critical"        # Consul's initial TTL check status
        self.ttl = ttl
        self.deadline = 0
        self.critical_since = time.monotonic()
        self.deregister_after = deregister_after

    def critical(self):
        self.status = "critical"
        self.critical_since = time.monotonic()

    def reapable(self, now):
        return (self.status == "critical" and self.deregister_after and
                now - self.critical_since > self.deregister_after)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # Many clients connect at once (one blocking query per service name):
    # a listen backlog of 5 would drop their SYNs.
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        # A client that hung up mid-answer is no error of ours.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Standin:
    def __init__(self, token=None):
        self.token = token
        self.index = 1
        self.epoch = 0          # bumped when the index is forgotten
        self.services = {}      # id -> registration body
        self.external = {}      # (node, id) -> (node address, body)
        self.checks = {}        # "service:<id>" -> Check
        self.cond = threading.Condition()
        self.requests = []      # (method, path) seen
        self.conns = 0          # connections open now
        self.max_conns = 0      # and at most
        self.closed = threading.Event()
        self.stall_if = lambda method, path: False
        self.fail_if = lambda method, path: None
        self.server = Server(("127.0.0.1", 0), self._handler())
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()
        threading.Thread(target=self._reaper, daemon=True).start()

    def close(self):
        self.closed.set()
        self.server.shutdown()
        self.server.server_close()

    def _bump(self):
        self.index += 1
        self.cond.notify_all()

    def forget_index(self):
        """As after a restart with lost state: the index goes backwards."""
        with self.cond:
            self.index = 1
            self.epoch += 1
            self._bump()

    def _reaper(self):
        while not self.closed.wait(0.05):
            with self.cond:
                now = time.monotonic()
                for c in self.checks.values():
                    if c.status == "passing" and now > c.deadline:
                        c.critical()
                        self._bump()
                for cid in [cid for cid, c in self.checks.items()
                            if c.reapable(now)]:
                    self._deregister(cid[len("service:"):])

    def register(self, body):
        """Returns None, or Consul's reason for a 400."""
        why = meta_error(body.get("Meta"))
        if why:
            return "Invalid Service Meta: " + why
        with self.cond:
            sid = body.get("ID") or body["Name"]
            self.services[sid] = body
            self._register_check(sid, body.get("Check") or {})
            self._bump()
        return None

    def _register_check(self, sid, check):
        if not check.get("TTL"):
            return
        cid = check.get("CheckID") or "service:" + sid
        ttl = _duration(check["TTL"])
        after = check.get("DeregisterCriticalServiceAfter")
        after = _duration(after) if after else None
        old = self.checks.get(cid)
        if old is None:
            self.checks[cid] = Check(ttl, after)
        else:           # Consul keeps the status it has
            old.ttl, old.deregister_after = ttl, after

    def _deregister(self, sid):
        if self.services.pop(sid, None) is None:
            return False
        self.checks.pop("service:" + sid, None)
        self._bump()
        return True

    def deregister(self, sid):
        with self.cond:
            return self._deregister(sid)

    def pass_check(self, cid):
        with self.cond:
            c = self.checks.get(cid)
            if c is None:
                return False
            c.deadline = time.monotonic() + c.ttl
            if c.status != "passing":
                c.status = "passing"
                self._bump()
            return True

    def check_status(self, cid):
        with self.cond:
            c = self.checks.get(cid)
            return c.status if c else None

    def catalog_register(self, body):
        """/v1/catalog/register: a service of another node."""
        svc = dict(body["Service"])
        svc["Name"] = svc.pop("Service")
        with self.cond:
            self.external[body["Node"], svc.get("ID") or svc["Name"]] = (
                body["Address"], svc)
            self._bump()

    def _listed(self):
        """(node, node address, service id, body, checks) of each service."""
        for sid, s in self.services.items():
            checks = [{"Node": "standin", "CheckID": "serfHealth",
                       "Name": "Serf Health Status", "Status": "passing"}]
            c = self.checks.get("service:" + sid)
            if c is not None:
                checks.append({"Node": "standin", "CheckID": "service:" + sid,
                               "Status": c.status, "ServiceID": sid})
            yield "standin", "127.0.0.1", sid, s, checks
        for (node, sid), (address, s) in self.external.items():
            yield node, address, sid, s, []

    def catalog(self):
        out = {"consul": []}
        for _, _, _, s, _ in self._listed():
            out.setdefault(s["Name"], [])
            out[s["Name"]] = sorted(set(out[s["Name"]]) | set(
                s.get("Tags") or []))
        return out

    def health(self, name):
        out = []
        for node, address, sid, s, checks in self._listed():
            # Consul matches the name ignoring case (only the catalog's
            # list tells "Redis" from "redis": hashicorp/consul#5707)
            if s["Name"].lower() != name.lower():
                continue
            out.append({
                "Node": {"ID": "40e4a748-2192-161a-0510-9bf59fe950b5",
                         "Node": node, "Address": address,
                         "Datacenter": "dc1"},
                "Service": {"ID": sid, "Service": s["Name"],
                            "Tags": s.get("Tags") or [],
                            "Address": s.get("Address", ""),
                            "Meta": s.get("Meta"),
                            "Port": s.get("Port", 0)},
                "Checks": checks})
        return out

    def query(self, path, index, wait):
        """A GET's (status, answer, index), after blocking if asked to."""
        with self.cond:
            epoch = self.epoch
            # Blocking query: hold until the index moves past ours.
            if index > 0:
                self.cond.wait_for(lambda: self.index > index or
                                   self.epoch != epoch, timeout=wait)
            if path == "/v1/catalog/services":
                return 200, self.catalog(), self.index
            m = re.fullmatch(r"/v1/health/service/(.+)", path)
            if m:
                return 200, self.health(unquote(m.group(1))), self.index
            return 404, None, self.index

    def put(self, path, body):
        """A PUT's (status, answer)."""
        if path == "/v1/agent/service/register":
            why = self.register(json.loads(body))
            return (400, why) if why else (200, None)
        if path == "/v1/catalog/register":
            self.catalog_register(json.loads(body))
            return 200, True
        m = re.fullmatch(r"/v1/agent/service/deregister/(.+)", path)
        if m:
            return (200 if self.deregister(unquote(m.group(1))) else 404,
                    None)
        m = re.fullmatch(r"/v1/agent/check/pass/(.+)", path)
        if m:
            if self.pass_check(unquote(m.group(1))):
                return 200, None
            return 500, ('CheckID "%s" does not have associated TTL'
                         % m.group(1))
        return 404, None

    def _handler(standin):
        class H(BaseHTTPRequestHandler):
            # Consul's agent (Go's net/http) keeps connections open.
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def setup(self):
                super().setup()
                with standin.cond:
                    standin.conns += 1
                    standin.max_conns = max(standin.max_conns,
                                            standin.conns)

            def finish(self):
                with standin.cond:
                    standin.conns -= 1
                super().finish()

            # Called without the lock: a slow reader stalls only itself.
            def _send(self, code, obj=None, index=None):
                data = b"" if obj is None else json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Consul-Index", str(
                    standin.index if index is None else index))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _misbehave(self, method):
                if standin.stall_if(method, self.path):
                    standin.closed.wait()
                    self.close_connection = True
                    return True
                code = standin.fail_if(method, self.path)
                if code:
                    self._send(code, "stand-in told to fail")
                    return True
                return False

            def _authorized(self):
                if standin.token is None:
                    return True
                return self.headers.get("X-Consul-Token") == standin.token

            def do_PUT(self):
                u = urlparse(self.path)
                standin.requests.append(("PUT", u.path))
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                if self._misbehave("PUT"):
                    return
                if not self._authorized():
                    return self._send(403, "ACL not found")
                self._send(*standin.put(u.path, body))

            def do_GET(self):
                u = urlparse(self.path)
                standin.requests.append(("GET", self.path))
                if self._misbehave("GET"):
                    return
                if not self._authorized():
                    return self._send(403, "ACL not found")
                q = parse_qs(u.query)
                index = int(q.get("index", ["0"])[0])
                wait = min(_duration(q.get("wait", ["5m"])[0]), 600)
                self._send(*standin.query(u.path, index, wait))
        return H
