"""A manual page per verb, generated from the argparse definitions, that mentions every
option of its verb; shell completion from the same definitions (argcomplete)."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from xdpq.cli import VERBS, build_parser
from xdpq.manpages import main, pages, write


def options(verb: str) -> list[str]:
    top = build_parser()
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    return [o for a in sub.choices[verb]._actions
            if a.help != argparse.SUPPRESS and not isinstance(a, argparse._HelpAction)
            for o in a.option_strings]


def test_a_page_per_verb_that_mentions_each_of_its_options() -> None:
    got = pages()
    assert set(got) == {"xdpq.1", *(f"xdpq-{v}.1" for v in VERBS)}
    for verb in VERBS:
        text = got[f"xdpq-{verb}.1"].replace("\\-", "-")
        assert text.startswith(f'.TH XDPQ-{verb.upper()} "1"'), text[:80]
        assert f"xdpq-{verb} - " in text  # NAME: what it does
        for opt in options(verb):
            assert f"\\fB{opt}\\fR" in text, (verb, opt)
        assert "examples:" in text or "example:" in text, verb
    assert all(f"xdpq {v}" in got["xdpq.1"] for v in VERBS)


def test_pages_are_written_once_and_man_reads_them(tmp_path: Path, capsys) -> None:
    assert main([str(tmp_path)]) == 0
    assert f"{len(VERBS) + 1} manual page(s) written" in capsys.readouterr().out
    assert write(tmp_path) == []  # idempotent: nothing changed, nothing written
    if shutil.which("man"):
        r = subprocess.run(["man", "-l", str(tmp_path / "xdpq-deploy.1")], capture_output=True,
                           text=True, env={**os.environ, "MANWIDTH": "100", "MAN_KEEP_FORMATTING":
                                           ""})
        assert r.returncode == 0 and "--netns NS" in r.stdout and "--bql" in r.stdout, r.stderr


@pytest.mark.parametrize(("line", "want"), [
    ("xdpq sw", {"sweep"}),
    ("xdpq sim --n", {"--no-plots"}),
    ("xdpq deploy --bq", {"--bql"}),
    ("xdpq sweep x --met", {"--metric"}),
])
def test_shell_completion(tmp_path: Path, line: str, want: set[str]) -> None:
    out = tmp_path / "completions"
    env = {**os.environ, "PYTHONPATH": str(REPO), "_ARGCOMPLETE": "1",
           "_ARGCOMPLETE_STDOUT_FILENAME": str(out), "COMP_LINE": line,
           "COMP_POINT": str(len(line)), "_ARGCOMPLETE_IFS": "\v"}
    r = subprocess.run([sys.executable, "-m", "xdpq.cli"], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert {w.strip() for w in out.read_text().split("\v")} == want


def test_the_service_unit_points_at_documentation_that_is_installed() -> None:
    unit = (REPO / "examples/xdpq@.service").read_text()
    (line,) = [x for x in unit.splitlines() if x.startswith("Documentation=")]
    links = line.removeprefix("Documentation=").split()
    assert links
    for link in links:
        assert link.startswith("man:"), link  # ./run installs the manual pages
        name, _, section = link.removeprefix("man:").rstrip(")").partition("(")
        assert f"{name}.{section}" in pages(), link
