"""Bounds on a program's shape, so that every later stage can take what parsing lets through.

Names become C and BTF symbols (the kernel bounds the length of BTF names,
and a scheduler's name is a file name); nesting becomes nested
C, nested Python and recursion in the checker, and the Python compiler
refuses 200 nested parentheses or 100 levels of indentation. Each bound is
far above what a readable program needs, and is reported like any other
mistake: positioned, with a hint.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields, is_dataclass

from xdpq.dsl import ast
from xdpq.errors import SourceError, Span

# As typing.TYPE_CHECKING, without importing typing on the way to a check (see cli.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_NAME = 64
MAX_EXPR_DEPTH = 32  # operators, calls and indexes inside one another
MAX_IF_DEPTH = 64  # ifs inside one another (an 'else if' is inside its 'if')

_EXPRS = (ast.Binary, ast.Unary, ast.Call, ast.Index, ast.Path, ast.Number, ast.Bool)


def check_name(name: str, span: Span, source: str) -> None:
    if len(name) > MAX_NAME:
        raise SourceError(f"a name of {len(name)} characters: at most {MAX_NAME}", span, source)


def _children(node: Any) -> Iterator[Any]:
    for f in fields(node):
        value = getattr(node, f.name)
        for item in value if isinstance(value, tuple) else (value,):
            if is_dataclass(item) and not isinstance(item, Span):
                yield item


def check_nesting(program: ast.Program, source: str) -> None:
    """Raise a SourceError at the first expression or if nested beyond the bounds
    (an explicit stack: a deep program must not exhaust Python's)."""
    stack: list[tuple[Any, int, int]] = [(program, 0, 0)]
    while stack:
        node, exprs, ifs = stack.pop()
        exprs = exprs + 1 if isinstance(node, _EXPRS) else 0
        ifs = ifs + 1 if isinstance(node, ast.If) else ifs
        if exprs > MAX_EXPR_DEPTH:
            raise SourceError(
                f"an expression nested more than {MAX_EXPR_DEPTH} deep",
                node.span,
                source,
                "name parts of it with let",
            )
        if ifs > MAX_IF_DEPTH:
            raise SourceError(
                f"'if' nested more than {MAX_IF_DEPTH} deep",
                node.span,
                source,
                "combine conditions with 'and', or look values up in a parameter table",
            )
        stack.extend((child, exprs, ifs) for child in _children(node))
