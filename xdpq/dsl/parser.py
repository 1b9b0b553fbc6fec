"""Text to syntax tree. Every mistake becomes a positioned SourceError.

A program is read with the tables generated from the grammar at install
(:mod:`xdpq.dsl.lr`); one that does not parse is read again by Lark's parser, whose
errors name terminals (``RPAR``, ``__ANON_3``): here they are turned into what a
person expects to read: the line, a caret under the offending text, what was found
and, in words, what could have come there.
"""

from __future__ import annotations

from functools import cache
from types import ModuleType

from xdpq.dsl import ast
from xdpq.dsl.grammar import GRAMMAR, OPTIONS, TABLES, is_current
from xdpq.dsl.limits import check_name, check_nesting
from xdpq.errors import SourceError, Span, source_lines

# As typing.TYPE_CHECKING, without importing typing on the way to a check (see cli.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


@cache
def _runtime() -> tuple[ModuleType, ModuleType]:
    """Where Lark's parser and its exceptions come from: the module generated from the
    grammar (:mod:`xdpq.dsl.lalr_build`) where it was made from today's grammar, Lark
    itself where it is absent or stale. Both name them alike."""
    if is_current():
        from xdpq.dsl import lalr

        return lalr, lalr
    import lark
    import lark.exceptions

    return lark, lark.exceptions


@cache
def _tables() -> ModuleType | None:
    """The parser driven from the generated tables, where they are today's grammar's."""
    if not is_current(TABLES):
        return None
    from xdpq.dsl import lr

    return lr


# Terminals described in words; string terminals are shown as quoted text.
_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number (with a unit where it has one: 5ms, 10Mbit, 1500B)",
    "QKIND": "a queue kind (fifo, pifo or rbtree)",
    "TYPE": "a type (time, bytes, rate, count or bool)",
    "SIGNED": "'signed'",
    "COMP": "a comparison",
    "ADDOP": "'+' or '-'",
    "MULOP": "'*', '/' or '%'",
    "$END": "the end of the program",
}


@cache
def _lark() -> Any:
    """Lark's parser of grammar.lark: the generated one, or one built from the grammar."""
    rt, _ = _runtime()
    if hasattr(rt, "Lark_StandAlone"):
        return rt.Lark_StandAlone()
    return rt.Lark(GRAMMAR.read_text(), parser="lalr", **OPTIONS)


def _describe(terminal: str) -> str:
    if terminal in _WORDS:
        return _WORDS[terminal]
    try:
        pattern = _lark().get_terminal(terminal).pattern
    except KeyError:
        return terminal.lower()
    return f"'{pattern.value}'" if pattern.type == "str" else terminal.lower()


# Where all of these may come, an expression may: say so instead of listing them.
_EXPR_START = {"NAME", "NUMBER", "LPAR", "MINUS", "TRUE", "FALSE", "NOT"}


def _expected(names: set[str]) -> str:
    phrases = set()
    if {"NAME", "NUMBER", "LPAR"} <= names:
        names = names - _EXPR_START
        phrases.add("an expression")
    words = sorted(phrases | {_describe(n) for n in names}, key=lambda w: (w[0] != "'", w))
    if len(words) > 8:
        words = [*words[:8], "…"]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _found(token: Any) -> str:
    if token.type == "$END":
        return "the end of the program"
    return f"'{token.value}'"


def _syntax_error(err: Any, text: str, filename: str) -> SourceError:
    """Lark's exception for a program it does not parse, as a SourceError."""
    _, errors = _runtime()
    line, col = err.line if err.line > 0 else 1, err.column if err.column > 0 else 1
    match err:
        case errors.UnexpectedToken(token=tok):
            if tok.type == "$END":
                lines = source_lines(text)
                line, col = len(lines), len(lines[-1]) + 1
            width = max(1, len(str(tok.value))) if tok.type != "$END" else 1
            msg = f"found {_found(tok)}, expected {_expected(err.accepts or err.expected)}"
        case errors.UnexpectedCharacters():
            width = 1
            char = text[err.pos_in_stream] if err.pos_in_stream < len(text) else ""
            msg = f"unexpected character {char!r}"
            if err.allowed:
                msg += f", expected {_expected(set(err.allowed))}"
        case errors.UnexpectedEOF():
            lines = source_lines(text)
            line, col, width = len(lines), len(lines[-1]) + 1, 1
            msg = f"the program ends early, expected {_expected(set(err.expected))}"
        case _:
            width, msg = 1, str(err)
    span = Span(filename, line, col, line, col + width)
    return SourceError(msg, span, text)


def _span(filename: str, tok: Any) -> Span:
    """Where a token is (of either parser)."""
    return Span(filename, tok.line or 1, tok.column or 1,
                tok.end_line or tok.line or 1, tok.end_column or tok.column or 1)


class _ToAst:
    """Syntax tree (of either parser) to dataclasses; spans come from each rule's meta.
    Each rule has a method of its name, given its node's positions and its children's
    values (trees made values, tokens, None for an absent optional)."""

    def __init__(self, filename: str, text: str) -> None:
        self.f = filename
        self.text = text

    def transform(self, tree: Any) -> ast.Program:
        """Bottom up, without recursion: how deep a program nests is checked on the
        result."""
        order, todo = [], [tree]
        while todo:
            node = todo.pop()
            order.append(node)
            if node is not None and not isinstance(node, str):
                todo += node.children
        values: list[Any] = []
        for node in reversed(order):
            if node is None or isinstance(node, str):  # a token is a str
                values.append(self.NAME(node) if getattr(node, "type", None) == "NAME" else node)
            else:
                first = len(values) - len(node.children)
                args = values[first:]
                del values[first:]
                values.append(getattr(self, node.data)(node.meta, args))
        (program,) = values
        return program

    def NAME(self, tok: Any) -> Any:
        check_name(str(tok), _span(self.f, tok), self.text)
        return tok

    def _s(self, meta: object) -> Span:
        m = meta
        if getattr(m, "empty", True):
            return Span(self.f, 1, 1, 1, 1)
        return Span(self.f, m.line, m.column, m.end_line, m.end_column)  # type: ignore[attr-defined]

    # expressions
    def number(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.Number(str(c[0]), _span(self.f, c[0]))

    def true(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.Bool(True, self._s(meta))

    def false(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.Bool(False, self._s(meta))

    def path(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.Path(tuple(str(t) for t in c), self._s(meta))

    def indexed(self, meta, c):  # type: ignore[no-untyped-def]
        name, *indices, attr = c
        return ast.Index(str(name), tuple(indices), str(attr) if attr is not None else None,
                         self._s(meta))

    def call(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.Call(str(c[0]), tuple(a for a in c[1:] if a is not None), self._s(meta))

    def neg(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.Unary("-", c[0], self._s(meta))

    def not_(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.Unary("not", c[0], self._s(meta))

    def _chain(self, meta, c, op=None):  # type: ignore[no-untyped-def]
        left, i = c[0], 1
        while i < len(c):
            if op is None:
                sym, right, i = str(c[i]), c[i + 1], i + 2
            else:
                sym, right, i = op, c[i], i + 1
            span = Span(self.f, left.span.line, left.span.column,
                        right.span.end_line, right.span.end_column)
            left = ast.Binary(sym, left, right, span)
        return left

    def sum(self, meta, c):  # type: ignore[no-untyped-def]
        return self._chain(meta, c)

    def product(self, meta, c):  # type: ignore[no-untyped-def]
        return self._chain(meta, c)

    def compare(self, meta, c):  # type: ignore[no-untyped-def]
        return self._chain(meta, c)

    def or_expr(self, meta, c):  # type: ignore[no-untyped-def]
        return self._chain(meta, c, "or")

    def and_expr(self, meta, c):  # type: ignore[no-untyped-def]
        return self._chain(meta, c, "and")

    # statements
    def block(self, meta, c):  # type: ignore[no-untyped-def]
        return tuple(c)

    def let(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.Let(str(c[0]), c[1], self._s(meta))

    def assign(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.Assign(c[0], c[1], self._s(meta))

    def if_stmt(self, meta, c):  # type: ignore[no-untyped-def]
        orelse = c[2] if len(c) > 2 and c[2] is not None else ()
        if isinstance(orelse, ast.If):
            orelse = (orelse,)
        return ast.If(c[0], c[1], orelse, self._s(meta))

    def target(self, meta, c):  # type: ignore[no-untyped-def]
        return (str(c[0]), tuple(c[1:]))

    def enqueue(self, meta, c):  # type: ignore[no-untyped-def]
        (queue, indices), rank, at = c
        return ast.Enqueue(queue, indices, rank, at, self._s(meta))

    def drop(self, meta, c):  # type: ignore[no-untyped-def]
        extra = ast.Path((str(c[1]),), _span(self.f, c[1])) if c[1] is not None else None
        return ast.Drop(str(c[0]), extra, self._s(meta))

    def mark(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.Mark(str(c[0]), str(c[1]), self._s(meta))

    def pass_stmt(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.Pass(self._s(meta))

    # declarations
    def param(self, meta, c):  # type: ignore[no-untyped-def]
        name, count, typ, default, low, high = c
        return ast.Param(str(name), count, str(typ) if typ else None, default, low, high,
                         self._s(meta))

    def arg(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.QueueArg(str(c[0]), c[1], self._s(meta))

    def queue(self, meta, c):  # type: ignore[no-untyped-def]
        name, *rest, of = c
        kind = next(i for i, x in enumerate(rest) if isinstance(x, str) and x.type == "QKIND")
        return ast.Queue(str(name), tuple(rest[:kind]), str(rest[kind]),
                         tuple(a for a in rest[kind + 1:] if a), of or (), self._s(meta))

    def children(self, meta, c):  # type: ignore[no-untyped-def]
        return tuple(str(n) for n in c)

    def indices(self, meta, c):  # type: ignore[no-untyped-def]
        return tuple(str(n) for n in c if n is not None)

    def field(self, meta, c):  # type: ignore[no-untyped-def]
        name, signed, typ, default = c
        return ast.Field(str(name), str(typ), signed is not None, default, self._s(meta))

    def global_scope(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.GlobalScope(self._s(meta))

    def flow_scope(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.FlowScope(tuple(p for p in c if p is not None), self._s(meta))

    def queue_scope(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.QueueScope(str(c[0]), self._s(meta))

    def state(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.State(c[0], tuple(c[1:]), self._s(meta))

    def on_enqueue(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.Hook("enqueue", None, None, c[0], self._s(meta))

    def on_dequeue(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.Hook("dequeue", (str(c[0]),), None, c[1], self._s(meta))

    def on_ready(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.Hook("ready", c[1] or (), str(c[0]), c[2], self._s(meta))

    def start(self, meta, c):  # type: ignore[no-untyped-def]
        name, *decls = c
        pick = lambda t: tuple(d for d in decls if isinstance(d, t))  # noqa: E731
        return ast.Program(str(name), pick(ast.Param), pick(ast.Queue), pick(ast.State),
                           pick(ast.Hook), self._s(meta))


def parse(text: str, filename: str = "<program>") -> ast.Program:
    """Parse a scheduler program; raises SourceError for any mistake in it."""
    if "\0" in text:
        pos = text.index("\0")
        line = text.count("\n", 0, pos) + 1
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        raise SourceError("a NUL byte in the program", Span(filename, line, col, line, col + 1),
                          text.replace("\0", " "))
    program = _ToAst(filename, text).transform(_tree(text, filename))
    check_nesting(program, text)
    return program


def _tree(text: str, filename: str) -> Any:
    """The syntax tree: from the generated tables where they are current; otherwise, or
    where the text is not a program, from Lark's parser, whose account of the mistake
    becomes the SourceError."""
    tables = _tables()
    if tables is not None and (tree := tables.parse(text)) is not None:
        return tree
    _, errors = _runtime()
    try:
        return _lark().parse(text)
    except errors.UnexpectedInput as err:
        raise _syntax_error(err, text, filename) from None
    except RecursionError:
        raise SourceError("the program nests too deeply", Span(filename, 1, 1, 1, 2), text,
                          hint="split deep expressions with let") from None
