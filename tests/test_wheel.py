"""A wheel of xdpq, installed (not editable) into a fresh virtual environment, runs
the README's commands from a directory outside the checkout.

The wheel is built as ``pip wheel .`` builds it, from a copy of the checkout's
files (those git tracks or would track), so that building leaves nothing behind
in the checkout; without build isolation, so that nothing is downloaded (the
test extra brings a setuptools that builds wheels). The fresh environment sees
the running one's site-packages through a ``.pth`` file, for the dependencies:
``pip install --no-index`` of the wheel fails if one is missing there. The
commands run with neither ``PYTHONPATH`` nor ``XDPQ_KERN_DIR`` and a fresh
build cache, so the installed package compiles its BPF objects and its
transmit loop from what the wheel carries (:mod:`xdpq.resources`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import REPO
from xdpq.dsl.grammar import header

pytestmark = pytest.mark.kernel  # doctor, compile --verify and demo load programs

TIMEOUT = 600  # seconds: only so that a hang ends; no command comes near it


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    cwd: Path  # outside the checkout
    env: dict[str, str]

    def xdpq(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(str(self.venv / "bin" / "xdpq"), *args)

    def python(self, code: str) -> str:
        return self.run(str(self.venv / "bin" / "python"), "-c", code).stdout.strip()

    def library(self) -> Path:
        return Path(self.python("from xdpq.resources import schedulers_dir\n"
                                "print(schedulers_dir())"))

    def run(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(cmd, cwd=self.cwd, env=self.env, capture_output=True, text=True,
                             timeout=TIMEOUT)
        assert res.returncode == 0, f"{' '.join(cmd)}:\n{res.stdout}\n{res.stderr}"
        return res


def _checkout_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    return [f for f in out.split("\0") if f and (REPO / f).is_file()]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    tmp = tmp_path_factory.mktemp("wheel")
    src, dist, venv, cwd = tmp / "src", tmp / "dist", tmp / "venv", tmp / "run"
    for f in _checkout_files():
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / f, src / f)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", ".", "--no-deps", "--no-build-isolation", "--no-index",
                    "-w", str(dist)], cwd=src, check=True, capture_output=True, timeout=TIMEOUT)
    (wheel,) = dist.glob("xdpq-*.whl")

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    fresh = subprocess.run([venv / "bin" / "python", "-c",
                            "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                           capture_output=True, text=True, check=True).stdout.strip()
    ours = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    Path(fresh, "project-deps.pth").write_text("".join(f"{p}\n" for p in sorted(ours)))
    subprocess.run([*pip, "--python", str(venv / "bin" / "python"), "install", "--no-index",
                    str(wheel)], check=True, capture_output=True, timeout=TIMEOUT)

    cwd.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "XDPQ_KERN_DIR")}
    env["XDPQ_CACHE"] = str(tmp / "cache")
    return Installed(wheel, venv, cwd, env)


def test_the_wheel_carries_the_package_its_runtime_and_its_library(installed: Installed):
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    files = _checkout_files()
    package = {f for f in files if f.startswith("xdpq/")}
    assert package <= names, f"not in the wheel: {sorted(package - names)}"
    for tree, pattern in (("kern", "*.h"), ("schedulers", "*.xdpq")):
        want = {f"xdpq/{p.relative_to(REPO)}" for p in (REPO / tree).glob(pattern)}
        assert want and want == {n for n in names if Path(n).match(f"xdpq/{tree}/{pattern}")}
    # The tests' and the benchmarks' own BPF programs stay in the checkout.
    assert not {n for n in names if n.startswith(("xdpq/kern/test/", "xdpq/kern/bench/"))}
    # The parser generated from the grammar, which git does not track, is built into it.
    for generated in ("xdpq/dsl/lalr.py", "xdpq/dsl/lalr_tables.py"):
        assert generated not in files
        made_from = zipfile.ZipFile(installed.wheel).read(generated).decode()
        assert made_from.startswith(header())


def test_the_installed_package_reads_nothing_from_the_checkout(installed: Installed):
    paths = installed.python(
        "import json, xdpq, xdpq.resources as r, xdpq.runtime.transmitter as t\n"
        "print(json.dumps([xdpq.__file__, str(r.kern_dir()), str(r.schedulers_dir()),"
        " str(t._SOURCE)]))"
    )
    site = installed.venv.resolve()
    for path in json.loads(paths):
        assert Path(path).resolve().is_relative_to(site), path


def test_doctor(installed: Installed):
    out = installed.xdpq("doctor").stdout
    assert "ready: this machine can run the xdpq datapath" in out
    assert "bpf_timer in XDP" in out  # a probe compiled from the wheel's kern/probes


def test_check_and_compile_verify_a_library_scheduler(installed: Installed):
    stfq = installed.library() / "stfq.xdpq"
    assert installed.xdpq("check", str(stfq)).stdout.strip() == f"{stfq}: ok"
    # with the wheel's generated parsers, not one Lark builds when xdpq starts
    assert installed.python("import xdpq.dsl.parser as p; "
                            "print(p._tables().__name__, p._runtime()[0].__name__)") == (
        "xdpq.dsl.lr xdpq.dsl.lalr")
    out = installed.xdpq("compile", str(stfq), "-o", "stfq.o", "--verify").stdout
    assert "loaded by the verifier" in out
    assert (installed.cwd / "stfq.o").read_bytes()[:4] == b"\x7fELF"


def test_sim_a_scenario_with_the_installed_library(installed: Installed):
    work = installed.cwd / "scenario"
    (work / "sim").mkdir(parents=True)
    (work / "schedulers").mkdir()
    shutil.copy(REPO / "sim" / "stfq.toml", work / "sim")
    shutil.copy(installed.library() / "stfq.xdpq", work / "schedulers")
    installed.xdpq("sim", str(work / "sim" / "stfq.toml"), "--out", str(work / "out"))
    summary = json.loads((work / "out" / "summary.json").read_text())
    assert summary["scenario"]["scheduler"] == str(work / "schedulers" / "stfq.xdpq")
    assert summary["delivered"] > 0
    # The fast simulator builds from the wheel's headers (kern/ and its userspace shim).
    fast = installed.xdpq("sim", str(work / "sim" / "stfq.toml"), "--out", str(work / "fast"),
                          "--fast", "--no-plots")
    assert "fast simulator" not in fast.stderr
    for name in ("summary.json", "records.csv"):
        assert (work / "fast" / name).read_bytes() == (work / "out" / name).read_bytes()


def test_demo_builds_the_transmit_loop_receiver_and_generator_from_the_wheel(
    installed: Installed,
):
    installed.xdpq("demo", "--out", str(installed.cwd / "demo"))
    assert json.loads((installed.cwd / "demo" / "demo.json").read_text())["kernel"]["delivered"]
    built = {p.name.split("-")[0] for p in (Path(installed.env["XDPQ_CACHE"]) / "lib").iterdir()}
    assert "txloop" in built
