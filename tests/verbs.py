"""Running the ``xdpq`` command line as a user does, against a veth test bed.

``Cli`` runs the real verbs in subprocesses with the registry moved to a
private run directory and pin root (``XDPQ_RUN_DIR``, ``XDPQ_PIN_DIR``), and
``close()`` stops and removes whatever deployments it recorded; the ``cli``
fixture (conftest) closes it also when a test fails.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from conftest import REPO
from xdpq.net.testbed import DUT, TestBed
from xdpq.runtime.registry import process_start

STFQ = str(REPO / "schedulers/stfq.xdpq")
DRR = str(REPO / "schedulers/drr.xdpq")


class Cli:
    """Runs ``xdpq`` with a private registry; ``close()`` stops and removes whatever
    deployments it recorded."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.run_dir = Path(f"/run/xdpq-test-{tag}")
        self.pin_dir = Path(f"/sys/fs/bpf/xdpq-test-{tag}")
        self.env = {**os.environ, "XDPQ_RUN_DIR": str(self.run_dir),
                    "XDPQ_PIN_DIR": str(self.pin_dir), "PYTHONPATH": str(REPO)}
        self.procs: list[subprocess.Popen[str]] = []

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "xdpq.cli", *args]

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), env=self.env, capture_output=True,
                              text=True, timeout=60, cwd=REPO)

    def ok(self, *args: str) -> str:
        r = self(*args)
        assert r.returncode == 0, f"xdpq {' '.join(args)}: {r.stderr}{r.stdout}"
        return r.stdout

    def popen(self, *args: str) -> subprocess.Popen[str]:
        p = subprocess.Popen(self.argv(*args), env=self.env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=REPO)
        self.procs.append(p)
        return p

    def stats(self, name: str) -> dict:
        return json.loads(self.ok("stats", name, "--json"))

    def records(self) -> list[str]:
        """Everything of the registry on disk: state directories and pins."""
        return [str(p) for root in (self.run_dir, self.pin_dir) if root.exists()
                for p in root.rglob("*")]

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for state in self.run_dir.glob("*/state.json"):
            try:
                pid = json.loads(state.read_text())["pid"]
            except (OSError, ValueError, KeyError):
                continue
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    break
                deadline = time.monotonic() + 10
                while process_start(pid) is not None and time.monotonic() < deadline:
                    time.sleep(0.02)
        for root in (self.pin_dir, self.run_dir):
            if root.exists():
                for d in sorted(root.rglob("*"), key=lambda p: -len(p.parts)):
                    if d.is_dir():
                        d.rmdir()
                    else:
                        d.unlink()
                root.rmdir()


def xdp_attached(bed: TestBed) -> bool:
    out = subprocess.run(["ip", "-n", bed.ns[DUT], "-d", "link", "show"],
                         capture_output=True, text=True).stdout
    return "prog/xdp" in out


def wait_for(cond: Callable[[], bool], timeout_s: float = 20.0,
             seen: Callable[[], object] = lambda: "") -> None:
    """Poll ``cond``; past the timeout, fail with what ``seen`` says was last seen."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting; last seen: {seen()}"
        time.sleep(0.02)


def alive(pid: int) -> bool:
    return process_start(pid) is not None


def refused(r: subprocess.CompletedProcess[str], *words: str) -> str:
    assert r.returncode != 0, r.stdout
    msg = r.stderr
    assert "Traceback" not in msg, msg
    for w in words:
        assert w in msg, f"{w!r} not in: {msg}"
    return msg


def nothing_left(cli: Cli, bed: TestBed | None = None) -> None:
    assert cli.records() == []
    assert not cli.run_dir.exists() and not cli.pin_dir.exists()  # nor their roots
    if bed is not None:
        assert not xdp_attached(bed)


def deploy_args(bed: TestBed, *more: str, file: str = STFQ) -> tuple[str, ...]:
    return ("deploy", file, "--in", "in0", "--out", "out0", "--netns", bed.ns[DUT], *more)
