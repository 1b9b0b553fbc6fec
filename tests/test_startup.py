"""What the quick verbs import when they start (issue 14: ``--version`` and ``check``
start in about the time of ``python -c pass``; bench/startup.py times them). Counted
as modules, not milliseconds: ``--version`` imports nothing of xdpq but the command
line, not even argparse; ``check`` neither Lark nor the module generated from Lark's
runtime (it parses with the tables generated where xdpq is installed,
:mod:`xdpq.dsl.lalr_tables`: the test generates them as ./run does), nor shell
completion."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO

# Imports nothing itself that the verbs might (json, say): it prints the verb's exit
# status, then the modules, one a line, after what the verb printed.
_MODULES = """
import sys
from xdpq.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:  # argparse's --version
    code = exc.code
print("--", code, *sorted(sys.modules), sep="\\n")
"""


def _start(*args: str) -> tuple[int, str, set[str], str]:
    env = {k: v for k, v in os.environ.items() if k != "_ARGCOMPLETE"}
    r = subprocess.run([sys.executable, "-c", _MODULES, *args], capture_output=True, text=True,
                       timeout=60, cwd=REPO, env={**env, "PYTHONPATH": str(REPO)}, check=True)
    out, _, tail = r.stdout.rpartition("--\n")
    code, *modules = tail.splitlines()
    return int(code), out, set(modules), r.stderr


def test_version_imports_the_command_line_alone() -> None:
    code, out, modules, _ = _start("--version")
    assert (code, out) == (0, "xdpq 0.1.0\n")
    assert {m for m in modules if m.startswith("xdpq")} == {"xdpq", "xdpq.cli"}
    assert not {"argparse", "typing", "signal", "argcomplete", "json", "dataclasses"} & modules


def test_check_imports_neither_lark_nor_completion(generated_parser: Path) -> None:
    code, out, modules, _ = _start("check", str(REPO / "schedulers" / "stfq.xdpq"))
    assert code == 0 and out.endswith(": ok\n")
    assert {"xdpq.dsl.lr", "xdpq.dsl.lalr_tables"} <= modules
    assert "xdpq.dsl.lalr" not in modules
    assert not {m for m in modules if m.split(".")[0] in ("lark", "argcomplete")}
    assert not {"typing", "hashlib"} & modules


def test_a_mistake_is_told_by_lark(generated_parser: Path, tmp_path: Path) -> None:
    """A program that does not parse is read again by Lark's parser, which says why."""
    bad = tmp_path / "bad.xdpq"
    bad.write_text("scheduler bad\nqueue q: fifo(\n")
    code, out, modules, err = _start("check", str(bad))
    assert code == 1 and out == ""
    assert err == (f"{bad}:2:15: error: found the end of the program, expected ')' or a name\n"
                   "queue q: fifo(\n              ^\n")
    assert {"xdpq.dsl.lr", "xdpq.dsl.lalr"} <= modules


def test_a_verbs_help_imports_none_of_its_work() -> None:
    """``sim --help`` builds the verb's options, not the simulator."""
    code, out, modules, _ = _start("sim", "--help")
    assert code == 0 and "xdpq sim sim/stfq.toml --out /tmp/stfq" in out
    assert not {m for m in modules if m.startswith(("xdpq.sim", "xdpq.codegen", "xdpq.dsl"))}
    assert "typing" not in modules
