"""The parser generated from grammar.lark (xdpq/dsl/lalr.py, Lark's standalone tool's
output, generated where xdpq is installed and never committed) is the parser Lark
builds from the grammar when xdpq starts: it parses every program of the repository
into the same tree (rules, tokens, positions) and rejects each of their truncations
(eight apiece) with the same error. Where the generated module is stale,
xdpq.dsl.parser builds Lark's instead and reports every mistake in the same words."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import lark
import pytest

from conftest import repo_programs
from xdpq.dsl import grammar, parser
from xdpq.errors import SourceError


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _texts() -> Iterator[tuple[Path, int | None, str]]:
    """Every program of the repository, whole (cut None) and cut in eight places."""
    programs = repo_programs()
    assert len(programs) >= 11  # the library at least
    for path in programs:
        text = path.read_text()
        yield path, None, text
        for cut in range(0, len(text), len(text) // 8):
            yield path, cut, text[:cut]


def test_a_module_is_current_only_if_made_from_todays_grammar(
        generated_parser: Path, tmp_path: Path) -> None:
    assert grammar.is_current(generated_parser)
    assert not grammar.is_current(tmp_path / "absent.py")
    stale = tmp_path / "stale.py"
    first, digest, rest = generated_parser.read_text().split("\n", 2)
    stale.write_text(f"{first}\n{digest[:-1]}{'0' if digest[-1] != '0' else '1'}\n{rest}")
    assert not grammar.is_current(stale)


def _shape(node: Any) -> Any:
    """A tree as plain data: rule, positions and children; a token as its type, text
    and positions."""
    if isinstance(node, str):  # a Token
        return (node.type, str(node), node.line, node.column, node.end_line, node.end_column)
    if node is None:
        return None
    m = node.meta
    where = None if getattr(m, "empty", True) else (m.line, m.column, m.end_line, m.end_column)
    return (str(node.data), where, [_shape(c) for c in node.children])


def _outcome(parse: Any, errors: type[Exception], text: str) -> Any:
    try:
        return _shape(parse(text))
    except errors as err:
        expected = getattr(err, "accepts", None) or getattr(err, "expected", None)
        return (type(err).__name__, err.line, err.column, sorted(expected or ()))


def test_the_generated_parser_reads_every_program_as_lark_does(generated_parser: Path) -> None:
    module = _load("generated_lalr", generated_parser)
    generated = module.Lark_StandAlone()
    built = lark.Lark(grammar.GRAMMAR.read_text(), parser="lalr", **grammar.OPTIONS)
    for path, cut, text in _texts():
        mine = _outcome(generated.parse, module.UnexpectedInput, text)
        assert mine == _outcome(built.parse, lark.exceptions.UnexpectedInput, text), (path, cut)
        if cut is None:
            assert mine[0] == "start", path


def _result(parse: Any, text: str) -> Any:
    try:
        return parse(text)
    except SourceError as err:
        return (str(err), err.span)


def test_a_stale_generated_parser_is_left_for_lark_which_reports_alike(
        monkeypatch: pytest.MonkeyPatch, generated_parser: Path) -> None:
    current = _load("current_parser", Path(parser.__file__))
    assert current.Token.__module__ == "xdpq.dsl.lalr"
    # Imported afresh where the generated module's digest is not the grammar's, as it
    # is once grammar.lark changes.
    monkeypatch.setattr(grammar, "header", lambda: "# another grammar\n")
    assert generated_parser.exists() and not grammar.is_current()
    stale = _load("stale_parser", Path(parser.__file__))
    assert stale.Token is lark.Token
    refused = 0
    for path, cut, text in _texts():
        mine = _result(current.parse, text)
        assert mine == _result(stale.parse, text), (path, cut)
        refused += isinstance(mine, tuple)
    assert refused >= 11  # the truncations at least
