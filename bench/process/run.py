#!/usr/bin/python3
"""Process-model figures (DESIGN.md §9): time from SIGKILL of a worker to
its replacement saying it serves (its "ready", seen through the control
socket, so the figure includes a microctl round trip of a few ms), and the memory of the master + 5 workers holding
1 000 services. Usage: bench/process/run.py [BUILDDIR] (default _build).

Run by hand, never by the test suite. Prints a table; bench/RESULTS.md
keeps the figures.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

top = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                        os.path.join(top, "_build"))
MICROD = os.path.join(build, "microd", "microd")
MICROCTL = os.path.join(build, "cli", "microctl")
API_WORKERS = 8		# one kill each: a second quick kill would back off


def ctl(sock, *args):
    out = subprocess.run([MICROCTL, "-s", sock, "--json"] + list(args),
                         capture_output=True, text=True, timeout=10)
    return json.loads(out.stdout) if out.returncode == 0 else None


def wait(pred, timeout=15):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.002)
    raise SystemExit("timed out waiting for %s" % pred.__name__)


def respawn_ms(sock, wid):
    """SIGKILL api/wid; time until its replacement says it serves."""
    def api(ws):
        return [w for w in ws if w["role"] == "api" and w["id"] == wid][0]
    old = api(ctl(sock, "workers"))["pid"]
    t0 = time.monotonic()
    os.kill(old, signal.SIGKILL)

    def serving():
        w = api(ctl(sock, "workers"))
        return w["pid"] not in (0, old) and w["state"] == "running"
    wait(serving)
    return (time.monotonic() - t0) * 1000


def memory_kb(pids):
    rss = pss = 0
    for pid in pids:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                k, v = line.split(":", 1)
                if k == "Rss":
                    rss += int(v.split()[0])
                elif k == "Pss":
                    pss += int(v.split()[0])
    return rss, pss


def register(port, i):
    svc = {"name": "bench.svc%04d" % i, "version": "1.0.0",
           "endpoints": [{"name": "Svc.Call", "request": {}, "response": {}}],
           "nodes": [{"id": "n%d-%d" % (i, j),
                      "address": "127.0.0.1:%d" % (10000 + j),
                      "metadata": {"protocol": "mucp"}} for j in range(3)]}
    req = urllib.request.Request(
        "http://127.0.0.1:%d/registry?ttl=0s" % port,
        data=json.dumps(svc).encode(), method="POST")
    urllib.request.urlopen(req, timeout=10).read()


def main():
    d = tempfile.mkdtemp(prefix="microd-bench-")
    sock = os.path.join(d, "s.sock")
    conf = os.path.join(d, "c.conf")
    with open(conf, "w") as f:
        f.write("[microd]\nsocket = %s\nstate_dir = %s/state\n" % (sock, d))
        for role in ("api", "web", "sidecar", "broker"):
            f.write("[%s]\nlisten = 127.0.0.1:0\n" % role)
        f.write("[api]\nworkers = %d\n" % API_WORKERS)
    p = subprocess.Popen([MICROD, "-c", conf], stderr=subprocess.DEVNULL)
    try:
        wait(lambda: (ctl(sock, "workers") or []) and all(
            w["state"] == "running" for w in ctl(sock, "workers")) and len(
            ctl(sock, "workers")) == 4 + API_WORKERS)
        ports = {r: int(a.rsplit(":", 1)[1])
                 for r, a in ctl(sock, "status")["listeners"].items()}
        times = sorted(respawn_ms(sock, i) for i in range(API_WORKERS))
        for i in range(1000):
            register(ports["sidecar"], i)
        # The figure is for the default set: master + one worker per role.
        pids = [p.pid] + [w["pid"] for w in ctl(sock, "workers")
                          if w["role"] != "api" or w["id"] == 0]
        rss, pss = memory_kb(pids)
        print("| figure | value | target |")
        print("|---|---|---|")
        print("| SIGKILL an api worker -> its replacement serving, median "
              "of %d | %.1f ms | <= 100 ms |" % (API_WORKERS,
                                                 times[API_WORKERS // 2]))
        print("| same, worst | %.1f ms | |" % times[-1])
        print("| master + 5 workers, 1 000 services: RSS (shm counted in "
              "each process) | %.1f MB | <= 25 MB |" % (rss / 1024))
        print("| same, PSS (shared pages split between processes) | "
              "%.1f MB | |" % (pss / 1024))
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)


main()
