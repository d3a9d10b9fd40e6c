"""The configuration: the file as -c, environment overrides, and the
man page, the shipped file and microd -t agreeing on every key."""
import os
import re
import socket
import subprocess

from conftest import BUILDDIR, MICROD, SRCDIR, wait_for
from gwnodes import read_head
from test_master import generation_serving

ROLE_SECTIONS = ("api", "web", "sidecar", "broker")


PLUGIN_DIR = os.path.join(BUILDDIR, "plugins")


def check(conf, env=None):
    """microd -t -c conf with env added (plugins from the build): (exit
    status, stderr)."""
    full = dict(os.environ, MICROD_PLUGIN_DIR=PLUGIN_DIR)
    full.update(env or {})
    r = subprocess.run([MICROD, "-t", "-c", str(conf)], capture_output=True,
                       text=True, timeout=20, env=full)
    return r.returncode, r.stderr


def test_check_loads_the_backends_plugins(tmp_path):
    """microd -t said "configuration OK" for a backend whose plugin could
    not load; started, its workers exited at once, and the generation was
    reported serving all the same. -t loads the plugins now, so systemd's
    ExecStartPre= fails the start."""
    conf = tmp_path / "etcd.conf"
    conf.write_text("[registry]\nbackend = etcd\naddress = 127.0.0.1:2379\n"
                    "[broker]\nbackend = nats\n")
    assert check(conf) == (0, "configuration OK\n")
    rc, err = check(conf, {"MICROD_PLUGIN_DIR": str(tmp_path / "none")})
    assert rc == 1
    assert err.startswith("%s: registry backend etcd: " % conf), err
    assert "registry-etcd.so" in err, err
    conf.write_text("[broker]\nbackend = nats\n")
    rc, err = check(conf, {"MICROD_PLUGIN_DIR": str(tmp_path / "none")})
    assert rc == 1 and err.startswith("%s: broker backend nats: " % conf)


def man_keys():
    """{(section, key): default or None} from microd.conf(5)."""
    with open(os.path.join(SRCDIR, "man/microd.conf.5")) as f:
        text = f.read()
    keys, sections = {}, ()
    for line in text.splitlines():
        if line.startswith(".Ss "):
            sections = tuple(re.findall(r"\[(\w+)\]", line))
        elif line.startswith(".It Cm ") and sections:
            m = re.match(r"\.It Cm (.*?)(?: Pq (.*))?$", line)
            for key in m.group(1).split(" , "):
                for sec in sections:
                    keys[(sec, key)] = m.group(2)
    return keys


def shipped_keys():
    """{(section, key): value} from etc/microd.conf, comments stripped."""
    with open(os.path.join(SRCDIR, "etc/microd.conf")) as f:
        text = f.read()
    keys, sec = {}, None
    for line in text.splitlines():
        m = re.match(r"^\[(\w+)\]$", line)
        if m:
            sec = m.group(1)
        m = re.match(r"^#([a-z_]+) =(.*)$", line)
        if m:
            keys[(sec, m.group(1))] = m.group(2).split(" ;")[0].strip()
    return keys


def source_keys():
    """{(section, key)} from conf.c's table; a NULL section is every
    listening role."""
    with open(os.path.join(SRCDIR, "microd/conf.c")) as f:
        text = f.read()
    keys = set()
    for sec, key in re.findall(r'\{ (NULL|"\w+"), "(\w+)", CT_', text):
        for s in ROLE_SECTIONS if sec == "NULL" else (sec.strip('"'),):
            keys.add((s, key))
    return keys


def test_directory_as_config_is_an_error(tmp_path):
    """fopen opens a directory; reading it fails, and that is no empty
    file (a reload would have gone back to every default)."""
    (tmp_path / "link.conf").symlink_to(tmp_path)
    for conf in (tmp_path, tmp_path / "link.conf"):
        rc, err = check(conf)
        assert rc == 1, err
        assert "%s: Is a directory" % conf in err


def test_empty_config_is_valid(tmp_path):
    (tmp_path / "empty.conf").write_text("")
    assert check(tmp_path / "empty.conf") == (0, "configuration OK\n")
    assert check("/dev/null") == (0, "configuration OK\n")


def test_unknown_section_after_a_bom_is_an_error(tmp_path):
    """inih skips a BOM, but the section check saw it first and let an
    unknown section through."""
    conf = tmp_path / "bom.conf"
    conf.write_bytes(b"\xef\xbb\xbf[foo]\n")
    assert check(conf) == (1, "%s:1: unknown section [foo]\n" % conf)
    conf.write_bytes(b"\xef\xbb\xbf[api]\r\nworkers = 2\r\n")
    assert check(conf) == (0, "configuration OK\n")


def test_broker_address_env_sets_only_the_broker_address(tmp_path):
    """MICRO_BROKER_ADDRESS is go-micro's broker address, as
    MICRO_REGISTRY_ADDRESS is the registry's: it set [broker] listen too."""
    conf = tmp_path / "nats.conf"
    conf.write_text("[broker]\nbackend = nats\n")
    rc, err = check(conf, {"MICRO_BROKER_ADDRESS": "nats://127.0.0.1:4222"})
    assert (rc, err) == (0, "configuration OK\n")
    rc, err = check(conf, {"MICRO_BROKER_LISTEN": "nats://127.0.0.1:4222"})
    assert rc == 1 and err.startswith("MICRO_BROKER_LISTEN: [broker] listen")


def test_bad_env_value_is_reported_once(tmp_path):
    """MICRO_API_HANDLER and MICRO_API_NAMESPACE were aliases of their own
    MICRO_<SECTION>_<KEY> names: read, and reported, twice."""
    (tmp_path / "c.conf").write_text("")
    for var in ("MICRO_API_HANDLER", "MICRO_API_NAMESPACE"):
        value = "nope" if var == "MICRO_API_HANDLER" else "x" * 300
        rc, err = check(tmp_path / "c.conf", {var: value})
        assert rc == 1
        assert err.count("%s: [api] " % var) == 1, err


def test_bad_healthcheck_url_is_an_error_without_app_name(tmp_path):
    """It was checked only with app_name set: -t passed a file whose
    reload would fail once the app got its name."""
    conf = tmp_path / "c.conf"
    conf.write_text("[sidecar]\nhealthcheck_url = garbage\n")
    rc, err = check(conf)
    assert rc == 1
    assert err.startswith("%s: [sidecar] healthcheck_url garbage: " % conf)


def test_v4_mapped_listen_clashes_with_its_ipv4_address(tmp_path):
    """[::ffff:127.0.0.1]:P binds 127.0.0.1:P: -t passed two roles there
    and microd failed to start (EADDRINUSE)."""
    conf = tmp_path / "c.conf"
    conf.write_text("[api]\nlisten = [::ffff:127.0.0.1]:9000\n"
                    "[web]\nlisten = 127.0.0.1:9000\n")
    rc, err = check(conf)
    assert rc == 1 and "share a port" in err, err
    conf.write_text("[api]\nlisten = [::ffff:127.0.0.1]:9000\n"
                    "[web]\nlisten = [::ffff:127.0.0.2]:9000\n")
    assert check(conf) == (0, "configuration OK\n")


def test_reload_keeps_the_environment_of_the_start(microd):
    """A reload reads the file again but the environment microd started
    with: a key set there still wins over the file (microd.conf(5))."""
    m = microd(env={"MICRO_API_WORKERS": "2"})
    assert len(m.running("api")) == 2
    m.write_conf(workers={"api": 3})
    m.ctl("reload")
    wait_for(lambda: generation_serving(m, 2), timeout=20,
             what="generation 2 serving")
    assert len(m.running("api")) == 2


def test_man_page_lists_exactly_the_keys_microd_accepts(tmp_path):
    man, shipped, source = man_keys(), shipped_keys(), source_keys()
    assert set(man) == source
    assert set(shipped) <= source
    # The shipped file shows [api]'s HTTP limits for every role.
    assert {k for k in source if k[0] not in ("web", "sidecar", "broker")
            or k[1] not in ("read_timeout", "idle_timeout",
                            "max_header_size", "max_body_size",
                            "max_connections")} <= set(shipped)
    # Defaults the man page gives in its text rather than in parentheses.
    with open(os.path.join(SRCDIR, "man/microd.conf.5")) as f:
        prose = f.read()
    for (sec, key), value in shipped.items():
        want = man[(sec, key)]
        if want is None and value:
            assert "%s %s" % (sec, value) in prose or value in re.findall(
                r"go\.micro\.\w+", prose), (sec, key, value)
        else:
            assert value == (want or ""), (sec, key, value, want)
    conf = tmp_path / "c.conf"
    for (sec, key), value in man.items():
        value = shipped.get((sec, key), "") if value is None else value
        conf.write_text("[%s]\n%s = %s\n" % (sec, key, value))
        assert check(conf) == (0, "configuration OK\n"), (sec, key)
        conf.write_text("[%s]\n%s_x = 1\n" % (sec, key))
        assert check(conf) == (1, "%s:2: unknown key '%s_x' in [%s]\n" % (
            conf, key, sec))


def head_status(m, role, target, size):
    """The status line answering a GET of target padded with a header to
    a head of size bytes."""
    start = b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nX-Pad: "
    pad = b"a" * (size - len(start) - 4)
    with socket.create_connection(("127.0.0.1", m.ports[role]),
                                  timeout=10) as s:
        s.sendall(start + pad + b"\r\n\r\n")
        return read_head(s).split(b"\r\n")[0]


def test_max_header_size_within_what_the_parser_takes(microd, tmp_path):
    """http-parser refuses a head over 80 KiB and keeps a target's offsets
    in 16 bits: with max_header_size = 1M a 70 KB target lost its
    ?service=x (the whole registry answered), and heads over 80 KiB were
    a 431 whatever the limit said. 64K is the most microd -t takes."""
    m = microd("[sidecar]\nmax_header_size = 64K\n")
    target = b"/registry?" + b"a=1&" * 16370 + b"service=x"
    assert head_status(m, "sidecar", target, 64 * 1024) == (
        b"HTTP/1.1 404 Not Found")
    assert head_status(m, "sidecar", b"/healthz", 64 * 1024 + 1) == (
        b"HTTP/1.1 431 Request Header Fields Too Large")
    conf = tmp_path / "big.conf"
    conf.write_text("[sidecar]\nmax_header_size = 65K\n")
    status, err = check(conf)
    assert status == 1
    assert "max_header_size = 65K: value too large" in err
