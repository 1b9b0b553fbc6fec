"""The parsers generated from grammar.lark where xdpq is installed (never committed) are
the parser Lark builds from the grammar when xdpq starts: xdpq/dsl/lalr.py (Lark's
standalone tool's output) parses every program of the repository into the same tree
(rules, tokens, positions) and rejects each of their truncations (eight apiece) with
the same error; xdpq.dsl.lr, driven by the tables of xdpq/dsl/lalr_tables.py, makes
the same trees and refuses the same texts, truncations and mutations too. Where the
generated modules are stale, xdpq.dsl.parser builds Lark's instead and reports every
mistake in the same words."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import lark
import pytest

from conftest import repo_programs
from xdpq.dsl import grammar, lalr_build, parser
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
    tables = generated_parser.with_name(grammar.TABLES.name)
    assert grammar.is_current(generated_parser) and grammar.is_current(tables)
    assert not grammar.is_current(tmp_path / "absent.py")
    for module in (generated_parser, tables):
        text = module.read_text()
        assert text.startswith(grammar.header())
        stale = tmp_path / module.name
        stale.write_text(text.replace("#| start:", "#| start :", 1))
        assert not grammar.is_current(stale)
    assert not lalr_build.ensure(generated_parser.parent)  # both current: neither written


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


def _mutations(text: str) -> Iterator[str]:
    """A program cut in 40 places, and at each cut a token left out, doubled, or put
    where the lexer of another state would read it otherwise (a keyword as a name)."""
    for cut in range(0, len(text), max(1, len(text) // 40)):
        head, tail = text[:cut], text[cut:]
        yield head
        yield head + tail[1:]
        yield head + tail[:1] + tail
        yield head + " queue " + tail
        yield head + " rate " + tail


def test_the_tables_driver_reads_and_refuses_what_lark_does(generated_parser: Path) -> None:
    from xdpq.dsl import lr

    built = lark.Lark(grammar.GRAMMAR.read_text(), parser="lalr", **grammar.OPTIONS)
    refused = 0
    for path in repo_programs():
        for text in (path.read_text(), *_mutations(path.read_text())):
            want = _outcome(built.parse, lark.exceptions.UnexpectedInput, text)
            tree = lr.parse(text)
            if tree is None:
                refused += 1
                assert want[0] == "UnexpectedToken" or want[0] == "UnexpectedCharacters", path
            else:
                assert _shape(tree) == want, (path, text)
    assert refused > 100


def _result(parse: Any, text: str) -> Any:
    try:
        return parse(text)
    except SourceError as err:
        return (str(err), err.span)


def test_a_stale_generated_parser_is_left_for_lark_which_reports_alike(
        monkeypatch: pytest.MonkeyPatch, generated_parser: Path) -> None:
    current = _load("current_parser", Path(parser.__file__))
    tables = current._tables()
    assert tables is not None and tables.__name__ == "xdpq.dsl.lr"
    assert current._runtime()[0].__name__ == "xdpq.dsl.lalr"
    # Imported afresh where the generated modules' grammar is not today's, as it is
    # once grammar.lark changes.
    monkeypatch.setattr(grammar, "header", lambda: "# another grammar\n")
    assert generated_parser.exists() and not grammar.is_current()
    assert not grammar.is_current(grammar.TABLES)
    stale = _load("stale_parser", Path(parser.__file__))
    assert stale._tables() is None and stale._runtime()[0] is lark
    refused = 0
    for path, cut, text in _texts():
        mine = _result(current.parse, text)
        assert mine == _result(stale.parse, text), (path, cut)
        refused += isinstance(mine, tuple)
    assert refused >= 11  # the truncations at least
