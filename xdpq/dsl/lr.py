"""The language's LALR(1) parser, driven from the tables Lark's analysis of the grammar
made at install (:mod:`xdpq.dsl.lalr_tables`, see :mod:`xdpq.dsl.lalr_build`) without
importing Lark, whose runtime takes longer to set up than a program takes to check.

It reads a program as Lark's parser with those options reads it (a test holds the two
to the same trees on every program of the repository and on their truncations): a
contextual lexer (in each state, only the terminals the state accepts, tried in Lark's
order; a name that is a keyword there is that keyword), and trees as Lark's tree
builder makes them (anonymous tokens left out, ``_rule`` spliced into its parent, None
for an absent optional, ``?rule`` replaced by its only child, positions propagated).
It only says whether a program parses: where one does not, :func:`parse` returns None
and Lark's parser says what is wrong (:mod:`xdpq.dsl.parser`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from xdpq.dsl.lalr_tables import (
    ACTIONS,
    END,
    IGNORE,
    LEXER_OF,
    LEXERS,
    NEWLINES,
    PATTERNS,
    RULES,
    START,
    STRINGS,
)

SHIFT = 0
# A rule: the name it reduces to, how many values it takes, its tree's name, whether
# its only child stands for it, which children it keeps (index, spliced, Nones before
# it; None: all) and how many Nones end them.
Rule = tuple[str, int, str, bool, tuple[tuple[int, bool, int], ...] | None, int]
_COMPILED = {name: re.compile(pattern) for name, pattern in PATTERNS.items()}


class Token(str):
    """A terminal as read: its text, its type, where it starts and where it ends (line
    and column from 1, the end exclusive), as Lark's tokens have them."""

    type: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __new__(cls, type_: str, value: str, line: int, column: int, end_line: int,
                end_column: int) -> Token:
        token = super().__new__(cls, value)
        token.type, token.line, token.column = type_, line, column
        token.end_line, token.end_column = end_line, end_column
        return token


class Meta:
    """Where a tree's text is, as Lark's ``propagate_positions`` records it: its own
    span, and the span of all it was reduced from (``container``: with the brackets a
    ``?rule`` dropped), which is what a parent's span starts and ends with."""

    __slots__ = ("column", "container_end", "container_start", "empty", "end_column",
                 "end_line", "line")

    def __init__(self) -> None:
        self.empty = True
        self.line = self.column = self.end_line = self.end_column = 0
        self.container_start: tuple[int, int] | None = None
        self.container_end: tuple[int, int] | None = None


class Tree:
    """A rule's node: its name (the rule's alias where it has one), its children
    (trees, tokens and None) and its positions."""

    __slots__ = ("children", "data", "meta")

    def __init__(self, data: str, children: list[Tree | Token | None]) -> None:
        self.data = data
        self.children = children
        self.meta = Meta()


def _edge(children: Iterable[Tree | Token]) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """Where the first child with a position starts and ends."""
    for c in children:
        if isinstance(c, Token):
            return (c.line, c.column), (c.end_line, c.end_column)
        if not c.meta.empty:
            m = c.meta
            return (m.container_start or (m.line, m.column),
                    m.container_end or (m.end_line, m.end_column))
    return None


def _reduce(rule: Rule, children: list[Tree | Token]) -> Tree | Token | None:
    """The value of a reduction of ``rule`` over ``children`` (Lark's tree builder)."""
    _, _, name, expand1, keep, after = rule
    if keep is None:
        kept = children
    else:
        kept = []
        for i, inline, nones in keep:
            kept += [None] * nones
            if inline:
                kept += children[i].children
            else:
                kept.append(children[i])
        kept += [None] * after
    res = kept[0] if expand1 and len(kept) == 1 else Tree(name, kept)
    if isinstance(res, Tree):
        m = res.meta
        # A tree a ?rule passed up keeps its own span; its container grows.
        if first := _edge(children):
            if not m.line:
                (m.line, m.column), m.empty = first[0], False
            m.container_start = first[0]
        if last := _edge(reversed(children)):
            if not m.end_line:
                (m.end_line, m.end_column), m.empty = last[1], False
            m.container_end = last[1]
    return res


def parse(text: str) -> Tree | None:
    """The tree of ``text``, or None where it is not a program (Lark says why)."""
    states: list[int] = [START]
    values: list[Tree | Token | None] = []
    pos, line, line_start, end = 0, 1, 0, len(text)
    while True:
        # The next token, with the lexer of the state the parser is in.
        token = None
        while token is None and pos < end:
            terminals, keywords = LEXERS[LEXER_OF[states[-1]]]
            for name in terminals:
                if name in STRINGS:
                    value = STRINGS[name]
                    if not text.startswith(value, pos):
                        continue
                elif m := _COMPILED[name].match(text, pos):
                    value = m.group(0)
                else:
                    continue
                break
            else:
                return None
            column = pos - line_start + 1
            if name in NEWLINES and (newlines := value.count("\n")):
                line_start = pos + value.rindex("\n") + 1
                start_line, line = line, line + newlines
            else:
                start_line = line
            pos += len(value)
            if name not in IGNORE:
                name = keywords.get(name, {}).get(value, name)
                token = Token(name, value, start_line, column, line, pos - line_start + 1)
        # Reduce until the token shifts; at the end, until the start rule is reduced.
        kind = token.type if token is not None else "$END"
        while True:
            action = ACTIONS[states[-1]].get(kind)
            if action is None:
                return None
            if action[0] == SHIFT:
                if token is None:
                    return None
                states.append(action[1])
                values.append(token)
                break
            rule = RULES[action[1]]
            size = rule[1]
            children = values[-size:] if size else []
            if size:
                del states[-size:], values[-size:]
            values.append(_reduce(rule, children))
            states.append(ACTIONS[states[-1]][rule[0]][1])
            if token is None and states[-1] == END:
                return values[-1]
