"""The master's worker watchdog (microd/watchdog.c): what it must not kill,
and what it must not leave alone."""
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import http, pid_alive, signal_pid, wait_for
from etcdfix import ETCD, Etcd, service as etcd_service
from test_etcd import PLUGIN_ENV, PREFIX, conf as etcd_conf, gateway_put
from test_registry import post, service, store_copies_expiring

# Every COMMIT of the registry database takes SLOW_COMMIT_MS longer: a
# slow disk, without needing 100 000 services to make a long pass.
SLOW_COMMIT_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct sqlite3_stmt sqlite3_stmt;

int
sqlite3_step(sqlite3_stmt *stmt)
{
	static int (*real)(sqlite3_stmt *);
	static const char *(*sql)(sqlite3_stmt *);
	const char *ms = getenv("SLOW_COMMIT_MS"), *text;
	struct timespec ts;

	if (real == NULL) {
		real = (int (*)(sqlite3_stmt *))dlsym(RTLD_NEXT,
		    "sqlite3_step");
		sql = (const char *(*)(sqlite3_stmt *))dlsym(RTLD_NEXT,
		    "sqlite3_sql");
	}
	if (ms != NULL && sql != NULL && (text = sql(stmt)) != NULL &&
	    strcmp(text, "COMMIT") == 0) {
		ts.tv_sec = 0;
		ts.tv_nsec = atol(ms) * 1000000L;
		nanosleep(&ts, NULL);
	}
	return real(stmt);
}
"""

# A worker named STOP_AT_START (prctl PR_SET_NAME, as it starts, long
# before it says ready) stops itself, once STOP_AT_START_FILE exists: as
# a SIGSTOP right after the fork, without racing the start.
STOP_AT_START_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PR_SET_NAME	15

int
prctl(int option, ...)
{
	static int (*real)(int, ...);
	const char *name = getenv("STOP_AT_START");
	const char *file = getenv("STOP_AT_START_FILE");
	unsigned long a[4];
	va_list ap;
	int i;

	va_start(ap, option);
	for (i = 0; i < 4; i++)
		a[i] = va_arg(ap, unsigned long);
	va_end(ap);
	if (real == NULL)
		real = (int (*)(int, ...))dlsym(RTLD_NEXT, "prctl");
	/* unlink: only the first start after the file appeared. */
	if (option == PR_SET_NAME && name != NULL && file != NULL &&
	    strcmp((const char *)a[0], name) == 0 && unlink(file) == 0)
		raise(SIGSTOP);
	return real(option, a[0], a[1], a[2], a[3]);
}
"""

# The first sqlite3_step of a process keeps a CPU busy for SLOW_LOAD_MS:
# the registry worker's load of a large database on a busy host (30 000
# services took 14 s of sqlite reads before the first publish).
SLOW_LOAD_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

typedef struct sqlite3_stmt sqlite3_stmt;

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int
sqlite3_step(sqlite3_stmt *stmt)
{
	static int (*real)(sqlite3_stmt *);
	static int done;
	const char *ms = getenv("SLOW_LOAD_MS");
	long until;

	if (real == NULL)
		real = (int (*)(sqlite3_stmt *))dlsym(RTLD_NEXT,
		    "sqlite3_step");
	if (ms != NULL && !done) {
		done = 1;
		for (until = now_ms() + atol(ms); now_ms() < until; )
			;
	}
	return real(stmt);
}
"""


def registry_worker_lived(m, pid, services, started, what):
    """Wait until the registry holds services, then check the registry
    worker pid was not killed, over more than the watchdog's 10 samples
    (else the test showed nothing)."""
    wait_for(lambda: m.status()["registry"]["services"] == services or
             not pid_alive(pid), 60, interval=0.1, what=what)
    assert "stopped turning its event loop" not in m.read_log()
    assert pid_alive(pid), "the registry worker was killed"
    assert time.monotonic() - started > 11


def preload_env(tmp_path, name, source, **env):
    """Environment that preloads the shim built from the C source into
    microd's processes, with env besides."""
    src = tmp_path / (name + ".c")
    src.write_text(source)
    shim = tmp_path / (name + ".so")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(shim), str(src),
                    "-ldl"], check=True)
    # An ASan build wants its runtime first: the shim is plain C.
    asan = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"),
                                  "verify_asan_link_order=0"]))
    return dict(env, LD_PRELOAD=str(shim), ASAN_OPTIONS=asan)


def slow_commit_env(tmp_path, ms):
    """Environment that makes every COMMIT of microd's sqlite ms longer."""
    return preload_env(tmp_path, "slowcommit", SLOW_COMMIT_C,
                       SLOW_COMMIT_MS=str(ms))


def test_mass_expiry_lets_registrations_through(microd, tmp_path):
    """1 400 services expiring together take 14 s to remove here (a commit
    of 10 ms each; 90 000 services take as long on a plain disk). The pass
    goes on in turns of 50 ms: a registration meanwhile is answered while
    the pass goes on (it used to wait for the end), and the registry
    worker, beating between turns, is not taken for hung (it used to be
    killed in the middle)."""
    m = microd(env=slow_commit_env(tmp_path, 10))
    # All of them expire together, a few seconds after the start.
    store_copies_expiring(m, "go.micro.srv.many", 1400, 5000)
    m.start()
    registry = m.running("registry")[0]["pid"]
    assert m.status()["registry"]["services"] == 1401
    wait_for(lambda: m.status()["registry"]["services"] < 1401, 15,
             what="the expiry pass started")
    started = time.monotonic()
    assert post(m, service(name="go.micro.srv.during"), ttl="1h")[0] == 200
    assert m.status()["registry"]["services"] > 100, "answered at the end"
    registry_worker_lived(m, registry, 1, started, "the expiry pass done")
    assert m.running("registry")[0]["pid"] == registry
    assert post(m, service(name="go.micro.srv.after"))[0] == 200


@pytest.mark.skipif(shutil.which("strace") is None,
                    reason="strace is not installed")
def test_hung_worker_killed_unless_traced_until_the_tracer_leaves(microd):
    """A worker whose event loop stops turning (here: stopped) is killed
    after 10 samples without a beat and respawned. One that a debugger
    traces is left alone, which is logged; once the tracer detaches and
    leaves it stopped, it is as stuck as any and killed (it used to be
    left alone for good)."""
    m = microd(workers={"api": 1, "sidecar": 1})
    hung = m.running("api")[0]["pid"]
    traced = m.running("sidecar")[0]["pid"]
    signal_pid(traced, signal.SIGSTOP)
    tracer = subprocess.Popen(["strace", "-qq", "-o", "/dev/null", "-p",
                               str(traced)], stderr=subprocess.PIPE)
    try:
        wait_for(lambda: tracer.poll() is not None or
                 tracer_of(traced) == tracer.pid, 10, what="strace attached")
        if tracer.poll() is not None:   # no ptrace here (Yama, seccomp)
            pytest.skip("strace cannot attach: %s" % tracer.stderr.read())
        signal_pid(hung, signal.SIGSTOP)
        wait_for(lambda: not pid_alive(hung), 40, what="hung worker killed")
        assert "api/0 (pid %d) stopped turning its event loop: killing " \
            "it" % hung in m.read_log()
        wait_for(lambda: [w for w in m.running("api") if w["pid"] != hung],
                 15, what="api respawned")
        wait_for(lambda: "sidecar/0 (pid %d) stopped turning its event "
                 "loop, but it is being traced: left alone" % traced
                 in m.read_log(), 20, what="traced worker spared")
        assert pid_alive(traced)
        tracer.kill()
        tracer.wait()
        # Detached, the worker stays in its group stop: still hung.
        wait_for(lambda: not pid_alive(traced), 20, what="the worker killed")
        wait_for(lambda: [w for w in m.running("sidecar")
                          if w["pid"] != traced], 15,
                 what="sidecar respawned")
    finally:
        if tracer.poll() is None:
            tracer.kill()
            tracer.wait()
        if pid_alive(traced):
            signal_pid(traced, signal.SIGCONT)
    assert http("GET", m.url("sidecar", "/healthz"))[0] == 200


def proc_state(pid):
    """The state letter in /proc/PID/stat (T: stopped)."""
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def test_worker_stuck_before_ready_killed_and_respawned(microd, tmp_path):
    """A worker that stops before it says ready (here: as it starts, after
    api/0 was killed) is killed 30 samples after its fork, which is
    logged, and respawned. It used to stay `starting` for ever, its role
    down, with nothing logged (a reload never finished, READY=1 never
    came)."""
    trigger = tmp_path / "stop-next-api"
    m = microd(workers={"web": 0, "broker": 0},
               env=preload_env(tmp_path, "stopatstart", STOP_AT_START_C,
                               STOP_AT_START="microd-api",
                               STOP_AT_START_FILE=str(trigger)))
    old = m.running("api")[0]["pid"]
    trigger.touch()
    signal_pid(old, signal.SIGKILL)

    def stopped_successor():
        return [w["pid"] for w in m.workers_list() if w["role"] == "api"
                and w["state"] == "starting" and w["pid"] not in (0, old)
                and proc_state(w["pid"]) == "T"]
    stuck = wait_for(stopped_successor, 15, what="the successor stopped")[0]
    assert not trigger.exists()
    wait_for(lambda: "api/0: pid %d not ready after" % stuck in m.read_log(),
             70, what="the stuck worker killed")
    wait_for(lambda: not pid_alive(stuck), 15, what="the stuck worker gone")
    wait_for(lambda: [w for w in m.running("api") if w["pid"] != stuck],
             15, what="api respawned")
    assert http("GET", m.url("api", "/healthz"))[0] == 200


def test_registry_worker_with_a_long_load_is_not_killed(microd, tmp_path):
    """The registry worker loads the database before it says ready, and a
    large one on a busy host takes longer than the watchdog's 10 samples
    (here: 12 s in sqlite, before the first publish). It uses CPU all
    along, so it is taken for loading, not stuck: killed, it would load
    again and be killed again."""
    m = microd(env=preload_env(tmp_path, "slowload", SLOW_LOAD_C,
                               SLOW_LOAD_MS="12000"),
               workers={"web": 0, "broker": 0}, start=False)
    started = time.monotonic()
    m.start(wait=False)
    registry = wait_for(lambda: [w["pid"] for w in m.workers_list()
                                 if w["role"] == "registry" and w["pid"]],
                        15, what="the registry worker forked")[0]
    wait_for(lambda: m.running("registry") or not pid_alive(registry), 60,
             interval=0.1, what="the registry worker ready")
    assert "registry/0: pid %d not ready" % registry not in m.read_log()
    assert m.running("registry")[0]["pid"] == registry
    assert time.monotonic() - started > 11
    m.wait_ready()


def tracer_of(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("TracerPid:"):
                return int(line.split()[1])
    return 0


@pytest.mark.skipif(not os.path.exists(ETCD),
                    reason="etcd-server is not installed")
def test_registry_worker_applying_a_long_listing_is_not_killed(
        microd, tmp_path):
    """A page of the etcd listing (500 keys) is applied in one callback
    of the registry worker: 12 s at 25 ms a commit (a slow disk). It
    publishes all along, so the watchdog takes it for working, not hung
    (killed, it would list again on restart and be killed again)."""
    e = Etcd(tmp_path)
    try:
        for i in range(500):
            gateway_put(e, PREFIX + "go.micro.srv.l%03d/l-%d" % (i, i),
                        json.dumps(etcd_service("go.micro.srv.l%03d" % i,
                                                "l-%d" % i, 9000)).encode())
        env = dict(slow_commit_env(tmp_path, 25), **PLUGIN_ENV)
        m = microd(extra=etcd_conf(e.address()), env=env,
                   workers={"web": 0, "broker": 0})
        registry = m.running("registry")[0]["pid"]
        registry_worker_lived(m, registry, 500, time.monotonic(),
                              "the listing applied")
    finally:
        e.close()
