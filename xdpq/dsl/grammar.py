"""The grammar the parser is made from (``grammar.lark``), the options it is built
with, and whether a module generated from it ahead of time (:mod:`xdpq.dsl.lalr` and
:mod:`xdpq.dsl.lalr_tables`, written by :mod:`xdpq.dsl.lalr_build`) was made from
today's grammar: each generated module begins with the grammar it was made from,
line by line, so that comparing that header with today's is comparing the grammars
themselves (without a digest, whose module takes as long to import as the parse)."""

from __future__ import annotations

from pathlib import Path

GRAMMAR = Path(__file__).with_name("grammar.lark")
GENERATED = Path(__file__).with_name("lalr.py")
TABLES = Path(__file__).with_name("lalr_tables.py")
# As the parser is used: positions on every rule's meta, None for an absent optional.
OPTIONS = {"propagate_positions": True, "maybe_placeholders": True}


def header() -> str:
    """A generated module's first lines: what made it, and from which grammar."""
    lines = GRAMMAR.read_text(encoding="utf-8").split("\n")
    return ("# Generated from grammar.lark by `python -m xdpq.dsl.lalr_build`: do not edit.\n"
            "# Made from this grammar.lark (it is current while the file reads the same):\n"
            + "".join(f"#| {line}\n" if line else "#|\n" for line in lines))


def is_current(module: Path = GENERATED) -> bool:
    """Whether ``module`` exists and was generated from today's grammar."""
    expected = header()
    try:
        with module.open(encoding="utf-8") as f:
            return f.read(len(expected)) == expected
    except FileNotFoundError:
        return False
