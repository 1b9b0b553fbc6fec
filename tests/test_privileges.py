"""Privileges (issue 8, point 5): every verb run as user nobody either works (it
needs no privilege) or says clearly what is missing, with a non-zero exit and
no traceback; a detached deployment's pins and state files are 0600; nothing
listens on a non-loopback address unless asked.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from verbs import Cli, deploy_args

from conftest import REPO
from xdpq.commands.stats import parse_listen
from xdpq.net.receiver import Receiver
from xdpq.net.testbed import TestBed

NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
FIFO = str(REPO / "schedulers/fifo.xdpq")


def as_nobody(cli: Cli, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**cli.env, "HOME": str(home), "XDPQ_CACHE": str(home / "cache")}
    return subprocess.run(
        [*NOBODY, *cli.argv(*args)], env=env, capture_output=True, text=True, timeout=120, cwd=REPO
    )


@pytest.fixture
def home() -> Iterator[Path]:
    """nobody's home and output directory (pytest's own are closed to others)."""
    path = Path(tempfile.mkdtemp(prefix="xdpq-nobody-"))
    path.chmod(0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def test_listen_defaults_to_loopback() -> None:
    assert parse_listen("9464") == ("127.0.0.1", 9464)
    assert parse_listen("0.0.0.0:9464") == ("0.0.0.0", 9464)  # only when asked


def test_verbs_without_privileges_work_as_nobody(home: Path) -> None:
    cli = Cli()
    try:
        assert as_nobody(cli, home, "check", FIFO).returncode == 0
        assert as_nobody(cli, home, "fmt", "--check", FIFO).returncode == 0
        r = as_nobody(cli, home, "compile", FIFO, "-o", str(home / "fifo.o"))
        assert r.returncode == 0, r.stderr
        assert (home / "fifo.o").stat().st_uid == 65534
        # A directory nobody cannot write to: a message, not a PermissionError traceback.
        r = as_nobody(cli, home, "compile", FIFO, "-o", "/root/x/fifo.o")
        assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
        assert "cannot write /root/x/fifo.bpf.c: Permission denied" in r.stderr
    finally:
        cli.close()


def _listening(pid: int) -> set[str]:
    """Local addresses of the listening TCP and bound UDP sockets process ``pid`` holds
    (its sockets' inodes in its netns's tables): another process's, such as another
    suite's on the same host, are not its."""
    fds = Path(f"/proc/{pid}/fd")
    inodes = {os.readlink(fds / fd)[len("socket:["):-1] for fd in os.listdir(fds)
              if os.readlink(fds / fd).startswith("socket:[")}
    out = set()
    for name in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/{pid}/net/{name}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes and (name.startswith("udp") or fields[3] == "0A"):
                out.add(f"{name} {fields[1]}")
    return out


@pytest.fixture
def detached(home: Path) -> Iterator[tuple[Cli, TestBed]]:
    cli = Cli()
    try:
        with TestBed() as bed, Receiver(bed):  # the receiver lets out0 take frames
            yield cli, bed
    finally:
        cli.close()


@pytest.mark.kernel
def test_a_detached_deployment_is_private_and_refuses_nobody(
    detached: tuple[Cli, TestBed], home: Path
) -> None:
    cli, bed = detached
    cli.ok(*deploy_args(bed, "--detach", "--name", "priv"))
    [entry] = json.loads(cli.ok("list", "-j"))
    assert entry["running"], entry
    assert _listening(entry["pid"]) == set()  # the deployment listens nowhere

    files = [p for root in (cli.run_dir, cli.pin_dir) for p in root.rglob("*") if p.is_file()]
    assert any(cli.pin_dir in p.parents for p in files)
    assert any(cli.run_dir in p.parents for p in files)
    modes = {str(p): oct(stat.S_IMODE(p.stat().st_mode)) for p in files}
    assert set(modes.values()) == {"0o600"}, modes
    for d in (cli.run_dir, cli.pin_dir):
        assert not stat.S_IMODE(d.stat().st_mode) & 0o077, d

    for verb in (
        ("doctor",),
        ("stats", "priv"),
        ("set", "priv", "weight[0]=2"),
        ("down", "priv"),
        ("list",),
        deploy_args(bed, "--name", "other"),
    ):
        r = as_nobody(cli, home, *verb)
        msg = r.stderr + r.stdout
        assert "Traceback" not in msg, msg
        assert r.returncode != 0, f"xdpq {' '.join(verb)} as nobody: {msg}"
        assert any(w in msg for w in ("root", "CAP_", "Permission denied")), msg
    assert os.path.exists(cli.run_dir / "priv")  # nobody could not take it down
    assert "nothing left" in cli.ok("down", "priv")


def test_an_unwritable_home_is_one_line_not_a_traceback(home: Path) -> None:
    """setpriv keeps HOME=/root: xdpq's cache and matplotlib's fall back to temporary
    ones, each said in one line; a verb that draws nothing says nothing about either;
    compile --verify says to run as root instead of passing libbpf's memlock text on."""
    cli = Cli()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in cli.env.items() if k not in ("XDPQ_CACHE", "MPLCONFIGDIR",
                                                             "XDG_CONFIG_HOME")}
        return subprocess.run([*NOBODY, *cli.argv(*args)], env={**env, "HOME": "/root"},
                              capture_output=True, text=True, timeout=300, cwd=home)

    r = run("check", FIFO)
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    r = run("compile", FIFO, "-o", str(home / "fifo.o"))
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(
        "xdpq: cannot use /root/.cache/xdpq for xdpq's cache (Permission denied); using /tmp/")
    r = run("sim", str(REPO / "sim/prio.toml"), "--out", str(home / "prio"))
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(
        "xdpq: cannot use /root/.config/matplotlib for matplotlib's cache (Permission denied)")
    assert (home / "prio" / "occupancy.png").is_file()
    r = run("compile", FIFO, "-o", str(home / "fifo.o"), "--verify")
    assert r.returncode == 1 and "Traceback" not in r.stderr and "memlock" not in r.stderr
    assert "xdpq compile: not allowed: xdpq compile --verify loads the object into the " \
           "kernel" in r.stderr and "run it as root" in r.stderr


_INTERRUPTED_IMPORT = """
import sys
class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == sys.argv[1]:
            raise KeyboardInterrupt
sys.meta_path.insert(0, Interrupt())
from xdpq.cli import main
sys.exit(main(["--help"]))
"""


@pytest.mark.parametrize("module", ["xdpq.commands.sim", "xdpq.net.host", "xdpq.dsl.parser"])
def test_ctrl_c_while_the_verbs_are_imported_exits_130_quietly(module: str) -> None:
    """Ctrl-C during start-up landed in an import inside cli.py as a traceback. Here
    it lands in the import of ``module`` (as a real SIGINT would, at that point)."""
    r = subprocess.run([sys.executable, "-c", _INTERRUPTED_IMPORT, module],
                       capture_output=True, text=True, timeout=60, cwd=REPO,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert (r.returncode, r.stdout, r.stderr) == (130, "", "")
