"""Syntax errors: file, line, column, the source line, a caret, what was found
and what was expected — exactly. No Python traceback for any input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xdpq.dsl import parse
from xdpq.errors import SourceError

GOLDEN = [
    ("scheduler x\nqueue q: heap()",
     "t.xdpq:2:10: error: found 'heap', expected a queue kind (fifo, pifo or rbtree)\n"
     "queue q: heap()\n"
     "         ^^^^"),
    ("scheduler x\non enqueue {\n  let a =\n}",
     "t.xdpq:4:1: error: found '}', expected an expression\n"
     "}\n"
     "^"),
    ("scheduler x\non enqueue { enqueue q rank 1 +",
     "t.xdpq:2:32: error: found the end of the program, expected an expression\n"
     "on enqueue { enqueue q rank 1 +\n"
     "                               ^"),
    ("scheduler\n",
     "t.xdpq:1:10: error: found the end of the program, expected a name\n"
     "scheduler\n"
     "         ^"),
    ("scheduler x\nparam w: speed = 5",
     "t.xdpq:2:10: error: found 'speed', expected a type (time, bytes, rate, count or bool)\n"
     "param w: speed = 5\n"
     "         ^^^^^"),
    ("scheduler x\nstate per host(ip.src) { n: count = 0 }",
     "t.xdpq:2:15: error: found '(', expected '{'\n"
     "state per host(ip.src) { n: count = 0 }\n"
     "              ^"),
    ("scheduler x\non dequeue { pass }",
     "t.xdpq:2:12: error: found '{', expected '('\n"
     "on dequeue { pass }\n"
     "           ^"),
    ("scheduler x\non enqueue { if a { pass } else pass }",
     "t.xdpq:2:33: error: found 'pass', expected 'if' or '{'\n"
     "on enqueue { if a { pass } else pass }\n"
     "                                ^^^^"),
    ("queue q: fifo()",
     "t.xdpq:1:1: error: found 'queue', expected 'scheduler'\n"
     "queue q: fifo()\n"
     "^^^^^"),
    ("scheduler x\non enqueue { drop \"late\" }",
     "t.xdpq:2:19: error: unexpected character '\"', expected a name\n"
     "on enqueue { drop \"late\" }\n"
     "                  ^"),
    ("scheduler x\non dequeue(p) { mark ce codel }",
     "t.xdpq:2:31: error: found '}', expected 'else'\n"
     "on dequeue(p) { mark ce codel }\n"
     "                              ^"),
    ("scheduler x\nparam a = 1 in 1...5",
     "t.xdpq:2:19: error: found '.', expected an expression\n"
     "param a = 1 in 1...5\n"
     "                  ^"),
    ("scheduler x\x00",
     "t.xdpq:1:12: error: a NUL byte in the program\n"
     "scheduler x \n"
     "           ^"),
]


@pytest.mark.parametrize(("source", "message"), GOLDEN)
def test_golden_syntax_error(source: str, message: str) -> None:
    with pytest.raises(SourceError) as err:
        parse(source, "t.xdpq")
    assert str(err.value) == message


@settings(max_examples=2000, deadline=None)
@given(st.text(max_size=80))
def test_any_text_parses_or_gets_a_positioned_error(text: str) -> None:
    try:
        parse("scheduler x\n" + text, "t.xdpq")
    except SourceError as err:
        assert err.span.line >= 1 and err.span.column >= 1
        assert str(err).startswith(f"t.xdpq:{err.span.line}:{err.span.column}: error: ")
