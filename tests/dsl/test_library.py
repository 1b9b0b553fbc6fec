"""Every scheduler in schedulers/, and the example in docs/language.md, pass check."""

from __future__ import annotations

from pathlib import Path

import pytest

from xdpq.dsl import check, parse

REPO = Path(__file__).resolve().parents[2]
LIBRARY = sorted((REPO / "schedulers").glob("*.xdpq"))


@pytest.mark.parametrize("path", LIBRARY, ids=[p.stem for p in LIBRARY])
def test_library_scheduler_passes_check(path: Path) -> None:
    source = path.read_text()
    program = parse(source, str(path))
    assert program.name == path.stem
    assert source.startswith(f"# {path.stem}: "), "a header comment says what it does"
    check(program, source)


def test_the_documented_example_passes_check() -> None:
    doc = (REPO / "docs/language.md").read_text()
    start = doc.index("```\nscheduler ") + 4
    example = doc[start : doc.index("```", start)]
    check(parse(example, "docs/language.md"), example)
