"""Writes the language's parser from ``grammar.lark``: :mod:`xdpq.dsl.lalr_tables`,
which :mod:`xdpq.dsl.lr` parses with, and :mod:`xdpq.dsl.lalr`, which says what is
wrong with a program that does not parse.

Building a Lark parser from the grammar takes longer than the rest of ``xdpq check``
together, so the parser is generated ahead of time, where xdpq is installed: by
``./run`` into the checkout and by setup.py into a wheel::

    python -m xdpq.dsl.lalr_build [DIR]

writes both modules (into DIR, ``xdpq/dsl`` by default) unless the ones there were
made from today's grammar (:mod:`xdpq.dsl.grammar`).

- ``lalr_tables.py``: what Lark's LALR(1) analysis of the grammar makes, as Python
  literals (which load from byte code at once): the parse table, each state's
  terminals in the order Lark's contextual lexer tries them, and how each rule
  builds its tree. :mod:`xdpq.dsl.lr` drives them without importing Lark, whose
  runtime takes longer to import and set up than a check of a program takes.
- ``lalr.py``: Lark's standalone generator's output, the tables with a copy of
  Lark's runtime (under the MPL-2.0, so neither module is committed). It parses a
  program :mod:`xdpq.dsl.lr` refuses, for Lark's account of the mistake.

:mod:`xdpq.dsl.parser` uses each only where it was made from today's grammar; where
they are absent or stale, the parser is built with Lark when it is first needed, as
the generated ones would parse, only slower to start.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from pprint import pformat
from typing import Any

from xdpq.dsl.grammar import GENERATED, GRAMMAR, OPTIONS, TABLES, header, is_current


def generate() -> str:
    """lalr.py's text: the header, then what Lark's standalone generator writes."""
    flags = [f"--{name}" for name, on in OPTIONS.items() if on]
    out = subprocess.run([sys.executable, "-m", "lark.tools.standalone", *flags, str(GRAMMAR)],
                         capture_output=True, text=True, check=True).stdout
    # Lark's Transformer_NonRecursive calls typing.cast, which the standalone output
    # (of Lark 1.3.1) does not import.
    return header() + "from typing import cast\n" + out


def _rule(rule: Any, wrappers: list[Any]) -> tuple[Any, ...]:
    """How a rule's reduction builds its value, read from the wrappers Lark's tree
    builder puts around it (lark.parse_tree_builder): the name it reduces to (for the
    parse table's goto), how many values it takes, the tree's name, whether a single
    child stands for the tree (``?rule``), and which children it keeps: (index, whether
    it is an inlined ``_rule`` whose children are spliced in, how many None
    placeholders come before it), then how many come after; None keeps all."""
    from lark.parse_tree_builder import (
        ChildFilterLALR,
        ChildFilterLALR_NoPlaceholders,
        ExpandSingleChild,
        PropagatePositions,
    )

    expand1, keep, after = False, None, 0
    for w in wrappers:
        if w is ExpandSingleChild:
            expand1 = True
        elif getattr(w, "func", None) is ChildFilterLALR:
            keep, after = tuple(w.args[0]), w.args[1]
        elif getattr(w, "func", None) is ChildFilterLALR_NoPlaceholders:
            keep = tuple((i, inline, 0) for i, inline in w.args[0])
        elif w is not PropagatePositions:  # positions are propagated on every rule
            raise ValueError(f"rule {rule}: a tree builder's step unknown here: {w}")
    name = rule.alias or rule.options.template_source or rule.origin.name
    return (str(rule.origin.name), len(rule.expansion), str(name), expand1, keep, after)


def tables() -> str:
    """lalr_tables.py's text, from the parser Lark builds from the grammar."""
    import lark
    from lark.lexer import PatternStr, UnlessCallback, _regexp_has_newline
    from lark.parsers.lalr_analysis import Shift

    parser = lark.Lark(GRAMMAR.read_text(), parser="lalr", **OPTIONS)
    table = parser.parser.parser.parser.parse_table
    rules = {rule: n for n, (rule, _) in enumerate(parser._parse_tree_builder.rule_builders)}
    states = sorted(table.states)
    assert states == list(range(len(states)))
    actions = tuple(
        {str(sym): (0, arg) if action is Shift else (1, rules[arg])
         for sym, (action, arg) in table.states[state].items()}
        for state in states)
    strings, patterns = {}, {}
    for t in parser.terminals:
        if t.pattern.flags or t.priority != 0:
            raise ValueError(f"terminal {t.name}: flags or a priority, unknown here")
        if isinstance(t.pattern, PatternStr):
            strings[t.name] = t.pattern.value
        else:
            patterns[t.name] = t.pattern.to_regexp()
    # Each state's lexer (Lark's ContextualLexer): its terminals in the order it tries
    # them, and for a name, the keywords of the state it reads as their own terminals.
    lexers: list[tuple[tuple[str, ...], dict[str, dict[str, str]]]] = []
    index: dict[str, int] = {}
    lexer_of = []
    for state in states:
        basic = parser.parser.lexer.lexers[state]
        scanner = basic.scanner  # built on first use, and the keywords' callbacks with it
        keywords = {}
        for name, callback in basic.callback.items():
            assert isinstance(callback, UnlessCallback)
            keywords[name] = {strings[t.name]: t.name for t in callback.scanner.terminals}
        lexer = (tuple(t.name for t in scanner.terminals), keywords)
        if repr(lexer) not in index:
            index[repr(lexer)] = len(lexers)
            lexers.append(lexer)
        lexer_of.append(index[repr(lexer)])
    data = {
        "START": table.start_states["start"],
        "END": table.end_states["start"],
        "STRINGS": strings,
        "PATTERNS": patterns,
        "IGNORE": frozenset(parser.ignore_tokens),
        "NEWLINES": frozenset(t.name for t in parser.terminals
                              if _regexp_has_newline(t.pattern.to_regexp())),
        "LEXERS": tuple(lexers),
        "LEXER_OF": tuple(lexer_of),
        "RULES": tuple(_rule(rule, wrappers)
                       for rule, wrappers in parser._parse_tree_builder.rule_builders),
        "ACTIONS": actions,
    }
    body = "".join(f"\n{name} = {pformat(value, width=100, sort_dicts=False)}\n"
                   for name, value in data.items())
    return header() + f'"""Lark {lark.__version__}\'s analysis of grammar.lark."""\n' + body


def _write(module: Path, text: str) -> None:
    """Written beside it and renamed into place, so that no reader sees half a module."""
    part = module.with_name(f".{module.name}.{os.getpid()}")
    part.write_text(text, encoding="utf-8")
    part.replace(module)


def ensure(directory: Path = GENERATED.parent) -> bool:
    """Generates both modules in ``directory`` unless they are current; whether it
    wrote one."""
    wrote = False
    for name, make in ((GENERATED.name, generate), (TABLES.name, tables)):
        module = directory / name
        if not is_current(module):
            _write(module, make())
            wrote = True
    return wrote


if __name__ == "__main__":
    ensure(Path(sys.argv[1]) if len(sys.argv) > 1 else GENERATED.parent)
