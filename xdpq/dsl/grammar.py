"""The grammar the parser is made from (``grammar.lark``), the options it is built
with, and whether the parser generated from it ahead of time (:mod:`xdpq.dsl.lalr`,
written by :mod:`xdpq.dsl.lalr_build`) was made from today's grammar: the
generated module's first lines record the grammar's SHA-256."""

from __future__ import annotations

import hashlib
from pathlib import Path

GRAMMAR = Path(__file__).with_name("grammar.lark")
GENERATED = Path(__file__).with_name("lalr.py")
# As the parser is used: positions on every rule's meta, None for an absent optional.
OPTIONS = {"propagate_positions": True, "maybe_placeholders": True}


def header() -> str:
    """The generated module's first lines: what made it, and from which grammar."""
    digest = hashlib.sha256(GRAMMAR.read_bytes()).hexdigest()
    return (f"# Generated from grammar.lark by `python -m xdpq.dsl.lalr_build`: do not edit.\n"
            f"# grammar.lark sha256 {digest}\n")


def is_current(module: Path = GENERATED) -> bool:
    """Whether ``module`` exists and was generated from today's grammar."""
    try:
        with module.open() as f:
            return f.readline() + f.readline() == header()
    except FileNotFoundError:
        return False
