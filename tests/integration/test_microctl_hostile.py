"""microctl against hostile command lines and input."""
import os
import subprocess

from conftest import MICROCTL


def test_empty_socket_path_is_a_usage_error():
    """connect(2) to "" names the Linux abstract socket of NUL bytes,
    which any local user may bind: refused before connecting (exit 2),
    where it used to try it ("microd is not running (stale socket )",
    or whoever had bound it)."""
    for argv in (["-s", "", "status"], ["--socket=", "version"],
                 ["workers", "-s", ""]):
        r = subprocess.run([MICROCTL] + argv, capture_output=True,
                           text=True, timeout=20)
        assert r.returncode == 2, (argv, r.stderr)
        assert "microctl: the socket path is empty" in r.stderr
        assert r.stdout == ""


def test_register_input_that_cannot_be_read_says_why(tmp_path):
    r = subprocess.run([MICROCTL, "-s", str(tmp_path / "none.sock"),
                        "register", str(tmp_path)], capture_output=True,
                       text=True, timeout=20)
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == "microctl: %s: Is a directory\n" % tmp_path
    # Standard input closed, not merely empty.
    r = subprocess.run([MICROCTL, "-s", str(tmp_path / "none.sock"),
                        "deregister", "-"], capture_output=True, text=True,
                       timeout=20, stdin=subprocess.DEVNULL,
                       preexec_fn=lambda: os.close(0))
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == "microctl: stdin: Bad file descriptor\n"
