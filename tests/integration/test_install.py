"""Installation and plugin loading (doc/plugins.md "Loading")."""
import os
import subprocess

from conftest import SRCDIR, wait_for
from test_systemd import config_h, make

# Only the registry worker: it loads the registry plugin at its start.
NO_ROLES = {"api": 0, "web": 0, "sidecar": 0, "broker": 0}


def plugin_needing_missing_lib(d):
    """d/registry-etcd.so, a plugin linked with d/libgone.so, which is
    then removed (as an uninstalled libnats would be)."""
    (d / "gone.c").write_text("int gone(void) { return 1; }\n")
    (d / "p.c").write_text("int gone(void);\n"
                           "int f(void) { return gone(); }\n")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(d / "libgone.so"),
                    str(d / "gone.c")], check=True)
    subprocess.run(["cc", "-shared", "-fPIC", "-o",
                    str(d / "registry-etcd.so"), str(d / "p.c"),
                    "-L%s" % d, "-lgone", "-Wl,-rpath,%s" % d], check=True)
    (d / "libgone.so").unlink()


def test_plugin_missing_library_names_the_plugin(microd, tmp_path):
    """dlopen's error names only the library it did not find: the line
    names the plugin being loaded as well."""
    d = tmp_path / "plugins"
    d.mkdir()
    plugin_needing_missing_lib(d)
    m = microd(extra="[registry]\nbackend = etcd\naddress = 127.0.0.1:1\n",
               env={"MICROD_PLUGIN_DIR": str(d)}, workers=NO_ROLES,
               start=False).start(wait=False)
    wait_for(lambda: "fatal error, not respawning" in m.read_log(),
             what="the registry worker giving up")
    assert ("registry backend etcd: %s/registry-etcd.so: libgone.so: "
            "cannot open shared object file" % d) in m.read_log()
    assert m.proc.poll() is None, m.read_log()


def configured(tmp_path, *args):
    """A build directory of its own configured with args (nothing built)."""
    build = tmp_path / "build"
    build.mkdir()
    subprocess.run([os.path.join(SRCDIR, "configure"), "--quiet"] +
                   list(args), cwd=build, check=True, timeout=300)
    return build


def test_installed_config_shows_configured_dirs(tmp_path):
    """The socket and state_dir the installed microd.conf shows as the
    defaults are those of --runstatedir and --localstatedir, as in
    microd(8) and the daemon; make uninstall still knows it unedited."""
    p = tmp_path / "p"
    build = configured(tmp_path, "--prefix=%s" % p,
                       "--runstatedir=%s/run" % p,
                       "--localstatedir=%s/var" % p)
    dest = "DESTDIR=%s" % (tmp_path / "stage")
    subprocess.run(["make", "-s", "install-data-local", dest], cwd=build,
                   check=True, timeout=120)
    conf = tmp_path / "stage" / str(p).lstrip("/") / "etc/microd/microd.conf"
    text = conf.read_text()
    assert "#socket = %s/run/microd/microd.sock\n" % p in text
    assert "#state_dir = %s/var/lib/microd\n" % p in text
    subprocess.run(["make", "-s", "uninstall-local", dest], cwd=build,
                   check=True, timeout=120)
    assert not conf.exists()


def test_install_exec_installs_the_plugins(tmp_path):
    """The plugins are machine code: make install-exec installs them
    with the binaries, make install-data (shared between machines)
    does not."""
    plugins = ("registry-etcd.so", "registry-consul.so", "broker-nats.so")
    for target, want in (("install-exec", True), ("install-data", False)):
        stage = tmp_path / target
        make(target, "DESTDIR=%s" % stage)
        d = stage / config_h("PKGLIBDIR").lstrip("/")
        for p in plugins:
            assert (d / p).exists() == want, (target, p)


def test_without_systemd_unit_dir_installs_no_unit(tmp_path):
    """--without-systemdsystemunitdir installs no unit (it went to a
    directory named "no"), and the rest as ever."""
    p = tmp_path / "p"
    build = configured(tmp_path, "--prefix=%s" % p,
                       "--without-systemdsystemunitdir")
    stage = tmp_path / "stage"
    subprocess.run(["make", "-s", "install-data", "DESTDIR=%s" % stage],
                   cwd=build, check=True, timeout=300)
    units = [u for u in tmp_path.rglob("microd.service")
             if build not in u.parents]
    assert units == []
    assert (stage / str(p).lstrip("/") / "share/man/man8/microd.8").exists()
