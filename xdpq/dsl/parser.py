"""Text to syntax tree. Every mistake becomes a positioned SourceError.

Lark's own errors name terminals (``RPAR``, ``__ANON_3``); here they are
turned into what a person expects to read: the line, a caret under the
offending text, what was found and, in words, what could have come there.
"""

from __future__ import annotations

from functools import cache
from types import ModuleType
from typing import Any

from xdpq.dsl import ast
from xdpq.dsl.grammar import GRAMMAR, OPTIONS, is_current
from xdpq.dsl.limits import check_name, check_nesting
from xdpq.errors import SourceError, Span, source_lines


def _runtime() -> tuple[ModuleType, ModuleType]:
    """Where the parser's classes and its exceptions come from: the module generated from
    the grammar (:mod:`xdpq.dsl.lalr_build`) where it was made from today's grammar, Lark
    itself where it is absent or stale. Both name them alike."""
    if is_current():
        from xdpq.dsl import lalr

        return lalr, lalr
    import lark
    import lark.exceptions

    return lark, lark.exceptions


_RT, _ERR = _runtime()
Token, Tree, Transformer_NonRecursive, v_args = (
    _RT.Token, _RT.Tree, _RT.Transformer_NonRecursive, _RT.v_args)
UnexpectedInput, UnexpectedToken, UnexpectedCharacters, UnexpectedEOF, VisitError = (
    _ERR.UnexpectedInput, _ERR.UnexpectedToken, _ERR.UnexpectedCharacters, _ERR.UnexpectedEOF,
    _ERR.VisitError)

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
    """The parser of grammar.lark: the generated one, or Lark's built from the grammar."""
    if hasattr(_RT, "Lark_StandAlone"):
        return _RT.Lark_StandAlone()
    return _RT.Lark(GRAMMAR.read_text(), parser="lalr", **OPTIONS)


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


def _found(token: Token) -> str:
    if token.type == "$END":
        return "the end of the program"
    return f"'{token.value}'"


def _syntax_error(err: UnexpectedInput, text: str, filename: str) -> SourceError:
    line, col = err.line if err.line > 0 else 1, err.column if err.column > 0 else 1
    match err:
        case UnexpectedToken(token=tok):
            if tok.type == "$END":
                lines = source_lines(text)
                line, col = len(lines), len(lines[-1]) + 1
            width = max(1, len(str(tok.value))) if tok.type != "$END" else 1
            msg = f"found {_found(tok)}, expected {_expected(err.accepts or err.expected)}"
        case UnexpectedCharacters():
            width = 1
            char = text[err.pos_in_stream] if err.pos_in_stream < len(text) else ""
            msg = f"unexpected character {char!r}"
            if err.allowed:
                msg += f", expected {_expected(set(err.allowed))}"
        case UnexpectedEOF():
            lines = source_lines(text)
            line, col, width = len(lines), len(lines[-1]) + 1, 1
            msg = f"the program ends early, expected {_expected(set(err.expected))}"
        case _:
            width, msg = 1, str(err)
    span = Span(filename, line, col, line, col + width)
    return SourceError(msg, span, text)


def _span(filename: str, node: Tree | Token) -> Span:
    if isinstance(node, Token):
        return Span(filename, node.line or 1, node.column or 1,
                    node.end_line or node.line or 1, node.end_column or node.column or 1)
    m = node.meta
    if getattr(m, "empty", True):
        return Span(filename, 1, 1, 1, 1)
    return Span(filename, m.line, m.column, m.end_line, m.end_column)


class _ToAst(Transformer_NonRecursive):
    """Lark tree to dataclasses; spans come from each rule's meta. Without
    recursion: how deep a program nests is checked on the result."""

    def __init__(self, filename: str, text: str) -> None:
        super().__init__()
        self.f = filename
        self.text = text

    def NAME(self, tok: Token) -> Token:
        check_name(str(tok), _span(self.f, tok), self.text)
        return tok

    def _s(self, meta: object) -> Span:
        m = meta
        if getattr(m, "empty", True):
            return Span(self.f, 1, 1, 1, 1)
        return Span(self.f, m.line, m.column, m.end_line, m.end_column)  # type: ignore[attr-defined]

    # expressions
    @v_args(meta=True)
    def number(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.Number(str(c[0]), _span(self.f, c[0]))

    @v_args(meta=True)
    def true(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.Bool(True, self._s(meta))

    @v_args(meta=True)
    def false(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.Bool(False, self._s(meta))

    @v_args(meta=True)
    def path(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.Path(tuple(str(t) for t in c), self._s(meta))

    @v_args(meta=True)
    def indexed(self, meta, c):  # type: ignore[no-untyped-def]
        name, *indices, attr = c
        return ast.Index(str(name), tuple(indices), str(attr) if attr is not None else None,
                         self._s(meta))

    @v_args(meta=True)
    def call(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.Call(str(c[0]), tuple(a for a in c[1:] if a is not None), self._s(meta))

    @v_args(meta=True)
    def neg(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.Unary("-", c[0], self._s(meta))

    @v_args(meta=True)
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

    @v_args(meta=True)
    def sum(self, meta, c):  # type: ignore[no-untyped-def]
        return self._chain(meta, c)

    @v_args(meta=True)
    def product(self, meta, c):  # type: ignore[no-untyped-def]
        return self._chain(meta, c)

    @v_args(meta=True)
    def compare(self, meta, c):  # type: ignore[no-untyped-def]
        return self._chain(meta, c)

    @v_args(meta=True)
    def or_expr(self, meta, c):  # type: ignore[no-untyped-def]
        return self._chain(meta, c, "or")

    @v_args(meta=True)
    def and_expr(self, meta, c):  # type: ignore[no-untyped-def]
        return self._chain(meta, c, "and")

    # statements
    @v_args(meta=True)
    def block(self, meta, c):  # type: ignore[no-untyped-def]
        return tuple(c)

    @v_args(meta=True)
    def let(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.Let(str(c[0]), c[1], self._s(meta))

    @v_args(meta=True)
    def assign(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.Assign(c[0], c[1], self._s(meta))

    @v_args(meta=True)
    def if_stmt(self, meta, c):  # type: ignore[no-untyped-def]
        orelse = c[2] if len(c) > 2 and c[2] is not None else ()
        if isinstance(orelse, ast.If):
            orelse = (orelse,)
        return ast.If(c[0], c[1], orelse, self._s(meta))

    @v_args(meta=True)
    def target(self, meta, c):  # type: ignore[no-untyped-def]
        return (str(c[0]), tuple(c[1:]))

    @v_args(meta=True)
    def enqueue(self, meta, c):  # type: ignore[no-untyped-def]
        (queue, indices), rank, at = c
        return ast.Enqueue(queue, indices, rank, at, self._s(meta))

    @v_args(meta=True)
    def drop(self, meta, c):  # type: ignore[no-untyped-def]
        extra = ast.Path((str(c[1]),), _span(self.f, c[1])) if c[1] is not None else None
        return ast.Drop(str(c[0]), extra, self._s(meta))

    @v_args(meta=True)
    def mark(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.Mark(str(c[0]), str(c[1]), self._s(meta))

    @v_args(meta=True)
    def pass_stmt(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.Pass(self._s(meta))

    # declarations
    @v_args(meta=True)
    def param(self, meta, c):  # type: ignore[no-untyped-def]
        name, count, typ, default, low, high = c
        return ast.Param(str(name), count, str(typ) if typ else None, default, low, high,
                         self._s(meta))

    @v_args(meta=True)
    def arg(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.QueueArg(str(c[0]), c[1], self._s(meta))

    @v_args(meta=True)
    def queue(self, meta, c):  # type: ignore[no-untyped-def]
        name, *rest, of = c
        kind = next(i for i, x in enumerate(rest) if isinstance(x, Token) and x.type == "QKIND")
        return ast.Queue(str(name), tuple(rest[:kind]), str(rest[kind]),
                         tuple(a for a in rest[kind + 1:] if a), of or (), self._s(meta))

    def children(self, c):  # type: ignore[no-untyped-def]
        return tuple(str(n) for n in c)

    def indices(self, c):  # type: ignore[no-untyped-def]
        return tuple(str(n) for n in c if n is not None)

    @v_args(meta=True)
    def field(self, meta, c):  # type: ignore[no-untyped-def]
        name, signed, typ, default = c
        return ast.Field(str(name), str(typ), signed is not None, default, self._s(meta))

    @v_args(meta=True)
    def global_scope(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.GlobalScope(self._s(meta))

    @v_args(meta=True)
    def flow_scope(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.FlowScope(tuple(p for p in c if p is not None), self._s(meta))

    @v_args(meta=True)
    def queue_scope(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.QueueScope(str(c[0]), self._s(meta))

    @v_args(meta=True)
    def state(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.State(c[0], tuple(c[1:]), self._s(meta))

    @v_args(meta=True)
    def on_enqueue(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.Hook("enqueue", None, None, c[0], self._s(meta))

    @v_args(meta=True)
    def on_dequeue(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.Hook("dequeue", (str(c[0]),), None, c[1], self._s(meta))

    @v_args(meta=True)
    def on_ready(self, meta, c):  # type: ignore[no-untyped-def]
        return ast.Hook("ready", c[1] or (), str(c[0]), c[2], self._s(meta))

    @v_args(meta=True)
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
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as err:
        raise _syntax_error(err, text, filename) from None
    except RecursionError:
        raise SourceError("the program nests too deeply", Span(filename, 1, 1, 1, 2), text,
                          hint="split deep expressions with let") from None
    try:
        program = _ToAst(filename, text).transform(tree)
    except VisitError as err:
        if isinstance(err.orig_exc, SourceError):
            raise err.orig_exc from None
        raise
    check_nesting(program, text)
    return program
