"""``xdpq check``: exit status, positioned message on stderr, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

GOOD = """scheduler fifo
queue q: fifo(capacity = 1000)
on enqueue { enqueue q }
"""


def xdpq(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "xdpq.cli", *args],
                          capture_output=True, text=True, timeout=60)


def test_a_good_program(tmp_path: Path) -> None:
    f = tmp_path / "fifo.xdpq"
    f.write_text(GOOD)
    res = xdpq("check", str(f))
    assert res.returncode == 0 and res.stdout == f"{f}: ok\n"


def test_a_mistake_is_shown_with_its_position(tmp_path: Path) -> None:
    f = tmp_path / "bad.xdpq"
    f.write_text(GOOD.replace("enqueue q }", "enqueue q rank 10Mbit }"))
    res = xdpq("check", str(f))
    assert res.returncode == 1
    assert res.stderr.startswith(f"{f}:3:29: error: a rank is a time, bytes or a count, not a rate")
    assert "Traceback" not in res.stderr


def test_unreadable_and_binary_files(tmp_path: Path) -> None:
    missing = xdpq("check", str(tmp_path / "absent.xdpq"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    binary = tmp_path / "bin.xdpq"
    binary.write_bytes(b"scheduler \xff\xfe")
    res = xdpq("check", str(binary))
    assert res.returncode == 1 and "not UTF-8" in res.stderr
    assert "Traceback" not in missing.stderr + res.stderr


def test_check_compile_and_fmt_read_a_file_alike(tmp_path: Path) -> None:
    """A carriage return is not a line end: every verb reads the file through
    read_source and reports the same position (compile once counted CRs as lines)."""
    f = tmp_path / "cr.xdpq"
    f.write_bytes(b"scheduler x\n# a\rb\rc\nqueue q: pifo(range = ")
    where = "cr.xdpq:3:23: error: found the end of the program"
    for verb in (["check"], ["compile", "--emit-c"], ["fmt", "--check"]):
        res = xdpq(*verb, str(f))
        assert res.returncode == 1 and where in res.stderr, (verb, res.stderr)
