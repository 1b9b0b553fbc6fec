"""Every scheduler in schedulers/, and every example in docs/language.md, pass check."""

from __future__ import annotations

from pathlib import Path

import pytest

from xdpq.dsl import check, parse
from xdpq.dsl.fmt import format

REPO = Path(__file__).resolve().parents[2]
LIBRARY = sorted((REPO / "schedulers").glob("*.xdpq"))


@pytest.mark.parametrize("path", LIBRARY, ids=[p.stem for p in LIBRARY])
def test_library_scheduler_passes_check(path: Path) -> None:
    source = path.read_text()
    program = parse(source, str(path))
    assert program.name == path.stem
    assert source.startswith(f"# {path.stem}: "), "a header comment says what it does"
    check(program, source)


def _examples() -> list[str]:
    doc = (REPO / "docs/language.md").read_text()
    return [block.split("\n", 1)[1] for block in doc.split("```")[1::2]
            if block.startswith("\nscheduler ")]


@pytest.mark.parametrize("example", _examples(), ids=lambda e: e.split()[1])
def test_the_documented_examples_pass_check_without_warnings_in_the_layout(example: str) -> None:
    assert check(parse(example, "docs/language.md"), example).warnings == ()
    if not example.startswith("scheduler stfq "):  # the tour lines its comments up
        assert format(example) == example


def test_the_language_has_an_example_for_each_new_form() -> None:
    names = [e.split()[1] for e in _examples()]
    assert {"stfq", "tiers", "shaped", "borrow", "wf2q", "credit", "levels",
            "edf_fq"} <= set(names)
