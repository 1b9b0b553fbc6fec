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
