"""The tree is lint-clean: ruff runs as part of the suite, so CI enforces it."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def test_ruff_is_clean() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "xdpq", "tests", "bench"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stdout + res.stderr
