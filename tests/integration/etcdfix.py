"""Real etcd members for the registry plugin tests (Debian's etcd-server).

Each member gets free loopback ports (etcd cannot bind port 0) and a
private data dir. `TcpCut` is a loopback TCP forwarder a test can cut and
restore, to take etcd away from microd without stopping etcd itself, or
freeze: connections stay open and nothing gets through, as behind a
stalled member or a network that drops packets. `GatewayProxy` stands
between microd and etcd's JSON gateway and answers chosen request paths
with an error of its own, passing everything else (the watch included)
through.
"""
import base64
import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import threading

from conftest import free_port, wait_for

ETCD = shutil.which("etcd") or "/usr/bin/etcd"
ETCDCTL = shutil.which("etcdctl") or "/usr/bin/etcdctl"


class Etcd:
    """One etcd cluster of n members started on loopback."""

    def __init__(self, tmp, n=1, name="etcd"):
        self.dir = tmp / name
        self.members = []
        for i in range(n):
            self.members.append({"name": "%s%d" % (name, i),
                                 "client": free_port(), "peer": free_port(),
                                 "data": str(self.dir / ("d%d" % i)),
                                 "proc": None})
        self.cluster = ",".join("%s=http://127.0.0.1:%d" % (m["name"],
                                                          m["peer"])
                                for m in self.members)
        # No caller holds the cluster until it is healthy: members started
        # for a cluster that never is (a port taken since free_port) would
        # outlive the test.
        try:
            for i in range(n):
                self.start(i)
            self.wait_healthy()
        except BaseException:
            self.close()
            raise

    def start(self, i=0):
        m = self.members[i]
        os.makedirs(m["data"], exist_ok=True)
        log = open(m["data"] + ".log", "ab")
        m["proc"] = subprocess.Popen([
            ETCD, "--name", m["name"], "--data-dir", m["data"],
            "--listen-client-urls", "http://127.0.0.1:%d" % m["client"],
            "--advertise-client-urls", "http://127.0.0.1:%d" % m["client"],
            "--listen-peer-urls", "http://127.0.0.1:%d" % m["peer"],
            "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % m["peer"],
            "--initial-cluster", self.cluster,
            "--initial-cluster-state", "new",
            "--heartbeat-interval", "50", "--election-timeout", "500"],
            stdout=log, stderr=subprocess.STDOUT)

    def stop(self, i=0, sig=signal.SIGTERM):
        p = self.members[i]["proc"]
        if p is not None and p.poll() is None:
            p.send_signal(sig)
            p.wait(timeout=20)

    def close(self):
        for i in range(len(self.members)):
            self.stop(i, signal.SIGKILL)

    def address(self, only=None):
        ms = self.members if only is None else [self.members[i]
                                                for i in only]
        return ",".join("127.0.0.1:%d" % m["client"] for m in ms)

    def run(self, *args, member=None):
        eps = self.address(None if member is None else [member])
        return subprocess.run([ETCDCTL, "--endpoints", eps,
                            "--command-timeout", "3s"] + list(args),
                           capture_output=True, text=True, timeout=20,
                           env=dict(os.environ, ETCDCTL_API="3"))

    def ctl(self, *args, member=None, check=True):
        r = self.run(*args, member=member)
        if check and r.returncode != 0:
            raise AssertionError("etcdctl %s: %s" % (args, r.stderr))
        return r.stdout

    def wait_healthy(self, member=None):
        wait_for(lambda: self.run("endpoint", "health",
                                  member=member).returncode == 0,
                 20, 0.1, "etcd healthy")

    def kvs(self, prefix="/micro/registry/"):
        """{key: (value dict, lease)} under prefix."""
        out = json.loads(self.ctl("get", "--prefix", prefix, "-w", "json"))
        res = {}
        for kv in out.get("kvs", []):
            res[base64.b64decode(kv["key"]).decode()] = (
                json.loads(base64.b64decode(kv["value"])),
                int(kv.get("lease", 0)))
        return res

    def revision(self):
        out = json.loads(self.ctl("get", "/", "-w", "json"))
        return int(out["header"]["revision"])


def service(name, node_id, port, version="1.0.0"):
    """A go-micro Service JSON as go-micro's etcd registry writes it."""
    return {"name": name, "version": version, "metadata": None,
            "endpoints": [{"name": "Say.Hello",
                           "request": {"name": "Request", "type": "Request",
                                       "values": None},
                           "response": {"name": "Response",
                                        "type": "Response", "values": None},
                           "metadata": {}}],
            "nodes": [{"id": node_id, "address": "127.0.0.1:%d" % port,
                       "metadata": {"protocol": "mucp", "transport": "http",
                                    "server": "mucp"}}]}


class TcpCut:
    """A loopback TCP forwarder to target; cut() drops and refuses."""

    def __init__(self, target_port):
        self.target = target_port
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.open = True
        self.frozen = False
        self.conns = []
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            if not self.open:
                c.close()
                continue
            if self.frozen:     # accepted, never answered
                with self.lock:
                    self.conns.append(c)
                continue
            try:
                u = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self.pipe, args=(a, b),
                                 daemon=True).start()

    def pipe(self, a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                if not self.frozen:
                    b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        self.open = False
        with self.lock:
            for s in self.conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.conns = []

    def freeze(self):
        """Keep every connection open, pass nothing, answer no one."""
        self.frozen = True

    def restore(self):
        self.open = True
        self.frozen = False

    def close(self):
        self.cut()
        self.lsock.close()


class GatewayProxy:
    """An HTTP proxy to one etcd member; paths in fail get a 503."""

    def __init__(self, target_port):
        self.target = target_port
        self.fail = set()
        self.failed = []            # the paths answered with an error
        self.upstreams = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if proxy.failing(self.path):
                    self.reply_error()
                else:
                    self.forward(body)

            def reply_error(self):
                out = json.dumps({"error": "injected", "code": 14,
                                  "message": "injected failure"}).encode()
                self.send_response(503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def forward(self, body):
                up = http.client.HTTPConnection("127.0.0.1", proxy.target)
                with proxy.lock:
                    proxy.upstreams.append(up)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() in ("content-type", "authorization")}
                try:
                    up.request("POST", self.path, body, headers)
                    resp = up.getresponse()
                    self.send_response(resp.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    # chunk by chunk: a watch streams for ever
                    while (data := resp.read1(65536)):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                except (OSError, ValueError, http.client.HTTPException):
                    self.close_connection = True   # ended by close()
                finally:
                    up.close()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def failing(self, path):
        with self.lock:
            if path not in self.fail:
                return False
            self.failed.append(path)
            return True

    def count(self, path):
        with self.lock:
            return self.failed.count(path)

    def set_fail(self, *paths):
        with self.lock:
            self.fail = set(paths)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        with self.lock:
            ups, self.upstreams = self.upstreams, []
        for up in ups:    # a shutdown wakes a thread reading a watch
            if up.sock is not None:
                try:
                    up.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
