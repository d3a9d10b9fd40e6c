"""The registry's sqlite file under hostile conditions: deleted, replaced,
a damaged -wal, a full disk, a file it may not write. A registration
acknowledged survives a restart, or the client gets an error; every
failure is logged with the file and the cause."""
import os
import sqlite3
import subprocess
import time

import pytest

from conftest import wait_for
from test_registry import ctl_service, get_service, post, service

NAMES = ["go.micro.srv.s%d" % i for i in range(3)]


def register_all(m, names):
    for name in names:
        status, _, body = post(m, service(name=name))
        assert status == 200, body


def stored_names(m):
    return {s["name"] for s in m.ctl_json("services")}


def restart_after_sigkill(m):
    """SIGKILL microd and its workers, then start it again: only what the
    file on disk holds comes back."""
    m.kill_all()
    m.start()


@pytest.mark.parametrize("files", [("registry.db",),
                                   ("registry.db", "registry.db-wal",
                                    "registry.db-shm")])
def test_database_deleted_while_running_is_written_anew(microd, files):
    """registry.db (alone, or with its -wal and -shm) deleted under a
    running microd: registrations were acknowledged and written to the
    deleted file, and a restart found none of them, nor any from before.
    The next write now copies the registry to a new file first."""
    m = microd()
    register_all(m, NAMES[:2])
    state = m.dir / "state"
    for f in files:
        os.unlink(state / f)
    register_all(m, NAMES[2:])
    restart_after_sigkill(m)
    assert stored_names(m) == set(NAMES)
    assert ("%s was deleted or replaced while in use: the registry is "
            "written to a new file there" % (state / "registry.db")
            ) in m.read_log()


@pytest.mark.parametrize("then", ["heartbeat", "stop"])
def test_database_deleted_while_idle_is_written_anew(microd, then):
    """Deleted with no registration after it: the heartbeat writes the
    file anew within a second, and so does a stop."""
    m = microd()
    register_all(m, NAMES)
    db = m.dir / "state" / "registry.db"
    for f in ("registry.db", "registry.db-wal", "registry.db-shm"):
        os.unlink(m.dir / "state" / f)
    if then == "heartbeat":
        wait_for(db.exists, what="registry.db written anew")
        m.kill_all()
    else:
        m.stop()
    m.start()
    assert stored_names(m) == set(NAMES)


def test_database_replaced_while_running_is_kept_aside(microd):
    """Another registry file moved over registry.db under a running
    microd: the registry kept writing to the old one, so a restart read
    the other file with the old one's -wal replayed over it. Now the
    other file is kept aside as it came, alone, and the registry written
    anew in its place."""
    m = microd()
    register_all(m, NAMES[:2])
    state = m.dir / "state"
    other = microd()
    register_all(other, ["go.micro.srv.other"])
    other.stop()        # its registry.db alone holds it all
    os.rename(other.dir / "state" / "registry.db", state / "registry.db")
    register_all(m, NAMES[2:])
    restart_after_sigkill(m)
    assert stored_names(m) == set(NAMES)
    kept = [p for p in state.iterdir()
            if p.name.startswith("registry.db.replaced-")]
    assert len(kept) == 1, kept
    assert "what was there is kept as %s" % kept[0] in m.read_log()
    con = sqlite3.connect(str(kept[0]))
    assert con.execute("SELECT service FROM node").fetchall() == [
        ("go.micro.srv.other",)]
    con.close()


def test_damaged_wal_is_kept_aside_and_logged(microd):
    """A -wal whose header is garbage: sqlite drops the changes in it as
    if it were empty, and writes over it; microd said nothing and the
    registrations in it were gone without a trace. It is moved aside
    now, with a line naming it, and the file goes on without it."""
    m = microd()
    register_all(m, NAMES)
    m.kill_all()
    state = m.dir / "state"
    garbage = b"garbage!" * 4096
    (state / "registry.db-wal").write_bytes(garbage)
    m.start()
    kept = [p for p in state.iterdir()
            if p.name.startswith("registry.db.corrupt-")]
    assert len(kept) == 1 and kept[0].name.endswith("-wal"), kept
    assert kept[0].read_bytes() == garbage
    assert ("%s has a damaged header: the changes in it are lost; moved "
            "aside as %s" % (state / "registry.db-wal", kept[0])
            ) in m.read_log()
    register_all(m, ["go.micro.srv.after"])
    assert get_service(m, "go.micro.srv.after")[0] == 200


@pytest.fixture
def mounts():
    """mount(args, target): run mount(8), unmounted after the test; the
    test is skipped if it cannot mount (not root, no CAP_SYS_ADMIN)."""
    made = []

    def mount(*args):
        r = subprocess.run(["mount"] + list(args[:-1]) + [str(args[-1])],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip("cannot mount: %s" % r.stderr.strip())
        made.append(str(args[-1]))
    yield mount
    for target in reversed(made):
        subprocess.run(["umount", "-l", target], capture_output=True)


def read_only(mounts, path):
    mounts("--bind", path, path)
    mounts("-o", "remount,bind,ro", path)


def registry_failing(m, why):
    """The registry worker cannot start (writes answered 503), and says
    why in the log."""
    m.start(wait=False)
    wait_for(lambda: why in m.read_log(), 20, what=why)
    # The other workers start without it after 10 s.
    wait_for(lambda: m.running("sidecar"), 30, what="the sidecar")
    m.ports = {role: int(addr.rsplit(":", 1)[1])
               for role, addr in m.status()["listeners"].items()}
    status, _, body = post(m, service(name="go.micro.srv.refused"))
    assert status == 503, body


@pytest.mark.parametrize("case", ["directory", "registry.db",
                                  "registry.db-wal"])
def test_unwritable_database_names_the_cause(microd, mounts, case):
    """registry.db a directory, or it or its -wal on a read-only mount:
    the log said "unable to open database file" or "attempt to write a
    readonly database", not which file or why; it does now. Once the
    cause is gone the registry worker starts again with the registry."""
    m = microd()
    register_all(m, NAMES)
    state = m.dir / "state"
    db = state / "registry.db"
    if case == "directory":
        m.stop()
        os.rename(db, m.dir / "saved.db")
        db.mkdir()
        registry_failing(m, "%s: open: unable to open database file "
                         "(Is a directory)" % db)
        db.rmdir()
        os.rename(m.dir / "saved.db", db)
    else:
        m.kill_all()        # the -wal stays, with the registrations
        read_only(mounts, state / case)
        registry_failing(m, "%s: cannot write to %s: Read-only file "
                         "system" % (db, state / case))
        subprocess.run(["umount", str(state / case)], check=True)
    wait_for(lambda: post(m, service(name="go.micro.srv.back"))[0] == 200,
             40, what="registrations accepted again")
    assert stored_names(m) == set(NAMES) | {"go.micro.srv.back"}


def test_read_only_state_dir_without_a_database_names_the_cause(microd,
                                                                mounts):
    """No registry.db yet and state_dir read-only: sqlite, refused the
    file to write, tried it read-only and said "unable to open database
    file (No such file or directory)", not why it could not be made."""
    m = microd(start=False)
    state = m.dir / "state"
    state.mkdir()
    read_only(mounts, state)
    db = state / "registry.db"
    registry_failing(m, "cannot create %s: Read-only file system" % db)
    assert "No such file or directory" not in m.read_log()


def on_a_small_disk(microd, mounts):
    """microd started with its state_dir on a 256 KiB tmpfs: (it, the
    state_dir)."""
    m = microd(start=False)
    state = m.dir / "state"
    state.mkdir()
    mounts("-t", "tmpfs", "-o", "size=256k", "tmpfs", state)
    m.start()
    return m, state


def fill(path):
    """Write path until the disk is full."""
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass


def test_deleted_database_on_a_full_disk_refuses_registrations(microd,
                                                               mounts):
    """registry.db deleted while the disk is full: it cannot be written
    anew, so a registration is refused (500, with the reason), not
    acknowledged and lost at the next restart. Once there is room again
    the file is written anew, with what was registered before."""
    m, state = on_a_small_disk(microd, mounts)
    register_all(m, NAMES)
    os.unlink(state / "registry.db")
    fill(state / "fill")
    status, _, body = post(m, service(name="go.micro.srv.full"))
    assert status == 500, body
    assert b"was deleted or replaced while in use and cannot be written " \
        b"anew" in body, body
    os.unlink(state / "fill")
    wait_for((state / "registry.db").exists, what="registry.db anew")
    restart_after_sigkill(m)
    assert stored_names(m) == set(NAMES)


@pytest.mark.parametrize("target,stop", [
    ("registry.db", "kill"), ("registry.db-wal", "kill"), ("state", "kill"),
    ("state", "stop")])
def test_read_only_database_is_served_and_writes_refused(microd, mounts,
                                                         target, stop):
    """registry.db, its -wal or the state directory read-only at start:
    the registry worker failed, and the other workers started 10 s later
    with an empty registry although the file held it. Now the file is
    read, lookups answer at once, a registration is refused naming the
    file and the cause (logged once, not per request), and once the
    file can be written again registrations are accepted and kept.
    Stopped cleanly, no -wal is left, and sqlite reads the file in a
    read-only directory only through a URI: the path of this one holds
    what a URI must escape."""
    m = microd(name="m%41?x" if stop == "stop" else None)
    register_all(m, NAMES)
    state = m.dir / "state"
    db = state / "registry.db"
    if stop == "kill":
        m.kill_all()    # the -wal stays, with the registrations
    else:
        m.stop()        # no -wal nor -shm
    path = state if target == "state" else state / target
    read_only(mounts, path)
    m.start()
    assert stored_names(m) == set(NAMES)
    assert get_service(m, NAMES[0])[0] == 200
    for _ in range(3):
        status, _, body = post(m, service(name="go.micro.srv.refused"))
        assert status == 503, body
        assert (("%s: cannot write to %s: Read-only file system" % (
            db, state / target if target != "state" else db)).encode()
            in body), body
    assert get_service(m, "go.micro.srv.refused")[0] == 404
    with open(m.log) as f:
        assert f.read().count("Read-only file system") == 1, m.read_log()
    # Writable again in place: microd holds the state directory (its
    # lock), so the bind mount cannot be taken away from under it.
    subprocess.run(["mount", "-o", "remount,bind,rw", str(path)],
                   check=True)
    wait_for(lambda: post(m, service(name="go.micro.srv.back"))[0] == 200,
             20, what="registrations accepted again")
    assert "%s opened to write again" % db in m.read_log()
    restart_after_sigkill(m)
    assert stored_names(m) == set(NAMES) | {"go.micro.srv.back"}


def test_store_error_at_run_time_names_the_file(microd, mounts):
    """A write that fails while running (a full disk) was answered and
    logged as "registry database: COMMIT: database or disk is full",
    without the file; both name it now."""
    m, state = on_a_small_disk(microd, mounts)
    fill(state / "fill")
    status, _, body = post(m, service(name="go.micro.srv.full"))
    assert status == 500, body
    assert ("%s: " % (state / "registry.db")).encode() in body, body
    assert b"database or disk is full" in body, body
    wait_for(lambda: "registering go.micro.srv.full: registry database: "
             "%s: " % (state / "registry.db") in m.read_log(),
             what="the failure in the log, naming the file")


def test_full_disk_at_start(microd, mounts):
    """registry.db on a full disk at start, holding a node expired
    meanwhile, which the load deletes from it: the registry worker
    failed, and the other workers started 10 s later with an empty
    registry. Now the registry is served, writes are refused naming the
    file, and once there is room they are kept again."""
    m, state = on_a_small_disk(microd, mounts)
    register_all(m, NAMES)
    assert post(m, service(name="go.micro.srv.brief"), ttl="1s")[0] == 200
    expired = time.time() + 1.5
    m.kill_all()
    fill(state / "fill")
    wait_for(lambda: time.time() > expired, what="the node expired")
    m.start()
    assert stored_names(m) == set(NAMES)
    status, _, body = post(m, service(name="go.micro.srv.full"))
    assert status in (500, 503), body
    assert ("%s: " % (state / "registry.db")).encode() in body, body
    assert b"database or disk is full" in body, body
    os.unlink(state / "fill")
    wait_for(lambda: post(m, service(name="go.micro.srv.back"))[0] == 200,
             20, what="registrations accepted again")
    restart_after_sigkill(m)
    assert stored_names(m) == set(NAMES) | {"go.micro.srv.back"}


BRIEF = "go.micro.srv.brief"


def file_names(db):
    """The service names the file holds, read as it is on disk."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        return {r[0] for r in
                con.execute("SELECT DISTINCT service FROM node")}
    finally:
        con.close()


def expired_while_read_only(microd, mounts):
    """microd serving a read-only registry.db that holds NAMES and BRIEF,
    whose 4 s TTL is seen to run out, on time."""
    m = microd()
    register_all(m, NAMES)
    t0 = time.monotonic()
    assert post(m, service(name=BRIEF), ttl="4s")[0] == 200
    m.kill_all()        # the -wal stays, with the registrations
    db = m.dir / "state" / "registry.db"
    read_only(mounts, db)
    m.start()
    assert "loaded read-only" in m.read_log()
    wait_for(lambda: ctl_service(m, BRIEF) is None, timeout=20,
             interval=0.1, what="the expiry, while read-only")
    assert time.monotonic() - t0 <= 4 + 2.5
    assert stored_names(m) == set(NAMES)
    assert file_names(db) == set(NAMES) | {BRIEF}
    return m, db


def test_expiry_while_read_only_is_stored_once_writable(microd, mounts):
    """registry.db read-only: a node whose TTL ran out stayed in shm, and
    was served, until the expiry could be stored. It goes on time now,
    the file still holding it, and once the file can be written it no
    longer does either. A deregistration is still refused meanwhile: the
    client must know it was not stored."""
    m, db = expired_while_read_only(microd, mounts)
    status, _, body = post(m, service(name=NAMES[0]), method="DELETE")
    assert status == 503, body
    assert ctl_service(m, NAMES[0]) is not None
    subprocess.run(["umount", str(db)], check=True)
    wait_for(lambda: BRIEF not in file_names(db), 20,
             what="the expiry stored once writable")
    assert file_names(db) == stored_names(m) == set(NAMES)
    restart_after_sigkill(m)
    assert stored_names(m) == set(NAMES)


def test_expiry_while_read_only_is_dropped_by_a_restart(microd, mounts):
    """Restarted while still read-only, the file keeps the node's
    deadline: it is not loaded again."""
    m, db = expired_while_read_only(microd, mounts)
    restart_after_sigkill(m)
    assert stored_names(m) == set(NAMES)
    assert file_names(db) == set(NAMES) | {BRIEF}


def test_refresh_while_read_only_keeps_a_live_node(microd, mounts):
    """A service that registers again each interval, while registry.db is
    read-only: its refreshes were refused (503) and its node expired,
    though alive. A registration that changes nothing but deadlines is
    taken in memory; the file keeps the node."""
    live = "go.micro.srv.live"
    m = microd()
    assert post(m, service(name=live), ttl="4s")[0] == 200
    m.kill_all()
    db = m.dir / "state" / "registry.db"
    read_only(mounts, db)
    m.start()
    assert "loaded read-only" in m.read_log()
    end = time.monotonic() + 9
    while time.monotonic() < end:
        assert post(m, service(name=live), ttl="4s")[0] == 200
        assert ctl_service(m, live) is not None
        time.sleep(1)   # its register interval, not a wait for microd
    # A change is still refused: the file must hold what is acknowledged.
    status, _, body = post(m, service(name=live, nodes=[
        {"id": "other", "address": "127.0.0.1:2"}]))
    assert status == 503, body
    assert file_names(db) == {live}


@pytest.mark.parametrize("first", [None, "60s"])
def test_refresh_bringing_a_deadline_forward_refused_while_read_only(
        microd, mounts, first):
    """A registration while read-only that brings a node's deadline
    forward (none to 2 s, 60 s to 2 s) was taken as a refresh: the node
    expired in memory, and a restart still read-only loaded it again from
    the file's later deadline, a dead node served. It is a change: it is
    refused, and the node stays as the file has it."""
    name = "go.micro.srv.short"
    m = microd()
    assert post(m, service(name=name), ttl=first)[0] == 200
    m.kill_all()
    read_only(mounts, m.dir / "state" / "registry.db")
    m.start()
    assert "loaded read-only" in m.read_log()
    assert post(m, service(name=name), ttl=first)[0] == 200
    status, _, body = post(m, service(name=name), ttl="2s")
    assert status == 503, body
    assert ctl_service(m, name) is not None



def test_expiry_on_a_full_disk_goes_on_and_is_stored_later(microd, mounts):
    """A node whose TTL ran out while the disk was full stayed served, and
    the failure was logged once a second, for as long as the disk stayed
    full. Now the node goes at once, as while the file is read only, the
    failure is said once, and the expiry is stored when there is room:
    a restart then does not bring the node back. A refresh (a service
    registering again) goes on too, as while read only, rather than be
    refused and let a live node expire."""
    m, state = on_a_small_disk(microd, mounts)
    register_all(m, NAMES)
    t0 = time.monotonic()
    assert post(m, service(name=BRIEF), ttl="1s")[0] == 200
    fill(state / "fill")
    status, _, body = post(m, service(name=NAMES[0]))      # a refresh
    assert status == 200, body
    wait_for(lambda: ctl_service(m, BRIEF) is None, timeout=20,
             interval=0.1, what="the expiry, on a full disk")
    assert time.monotonic() - t0 <= 1 + 2.5
    said = "database or disk is full; expiries and refreshes go on in memory"
    wait_for(lambda: said in m.read_log(), what="the failure said")
    time.sleep(3)       # three heartbeats: three more lines before
    assert m.read_log().count("disk is full") == 1, m.read_log()
    assert BRIEF in file_names(state / "registry.db")
    os.unlink(state / "fill")
    wait_for(lambda: BRIEF not in file_names(state / "registry.db"),
             what="the expiry stored")
    assert "the changes kept in memory are stored" in m.read_log()
    restart_after_sigkill(m)
    assert stored_names(m) == set(NAMES)


def test_clock_step_on_a_full_disk_is_said_once(microd, mounts, clock):
    """A wall clock step the file could not take (a full disk) was
    logged once a second, with each try, until there was room."""
    env, shift = clock
    m = microd(env=env, start=False)
    state = m.dir / "state"
    state.mkdir()
    mounts("-t", "tmpfs", "-o", "size=256k", "tmpfs", state)
    m.start()
    register_all(m, NAMES)
    fill(state / "fill")
    shift(2 * 3600 * 1000)
    said = "stored deadlines not moved"
    wait_for(lambda: said in m.read_log(), what="the step not stored")
    time.sleep(3)       # three heartbeats: three more lines before
    assert m.read_log().count(said) == 1, m.read_log()
    os.unlink(state / "fill")
    wait_for(lambda: "stored deadlines moved with it" in m.read_log(),
             what="the step stored once there is room")
