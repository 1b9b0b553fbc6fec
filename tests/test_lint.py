"""The tree is lint-clean: ruff runs as part of the suite, so CI (.ci/run, the README's
test command) enforces it; and every scheduler program of the repository is in the
layout `xdpq fmt --check` gives."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO, repo_programs


def test_ruff_is_clean() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "xdpq", "tests", "bench"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_every_program_in_the_repository_is_formatted() -> None:
    files = repo_programs()
    assert len(files) >= 11  # the library at least
    res = subprocess.run([sys.executable, "-m", "xdpq.cli", "fmt", "--check", "--diff",
                          *map(str, files)], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout == "" and res.stderr == ""
