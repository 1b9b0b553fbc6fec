"""A program's parameters: values bound to them, checked, read and written as text.

Both executions bind parameters here: the simulator when it makes a
scheduler, the runtime before it loads an object and whenever ``xdpq set``
changes one. Values are integers in their kind's canonical unit (see
``xdpq.units``); a table parameter takes a list.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xdpq import units
from xdpq.errors import XdpqError
from xdpq.ir.nodes import Param, Program
from xdpq.units import EXAMPLE, WORDS, Kind, UnitError, quantity


def resolve_params(prog: Program, given: Mapping[str, int | list[int]]) -> dict[str, Any]:
    """Defaults overridden by ``given``; unknown names and values out of range are errors."""
    known = {p.name: p for p in prog.params}
    for name in given:
        if name not in known:
            raise XdpqError(f"the scheduler '{prog.name}' has no parameter '{name}'"
                            + (f" (it has {', '.join(known)})" if known else ""))
    out: dict[str, Any] = {}
    for p in prog.params:
        value = given.get(p.name, p.default)
        values = value if isinstance(value, list) else [value] * (p.count or 1)
        if p.count is not None and len(values) != p.count:
            raise XdpqError(f"'{p.name}' is a table of {p.count} values, got {len(values)}")
        for v in values:
            if not p.low <= v <= p.high:
                raise XdpqError(f"'{p.name}' = {v} is outside {p.low}..{p.high}")
        out[p.name] = list(values) if p.count is not None else values[0]
    return out


def _range(p: Param) -> str:
    return f"{units.show(p.kind, p.low)}..{units.show(p.kind, p.high)}"


def _describe(p: Param) -> str:
    table = f"[{p.count}]" if p.count is not None else ""
    return f"{p.name}{table}: {WORDS[p.kind]} in {_range(p)}"


def _value(p: Param, text: str, assignment: str) -> int:
    if p.kind == Kind.BOOL and text.lower() in ("true", "false", "on", "off", "yes", "no"):
        return int(text.lower() in ("true", "on", "yes"))
    try:
        q = quantity(text.strip(), want=p.kind)
    except UnitError as exc:
        fix = (exc.hint if exc.hint.startswith("write ") else
               f"{f'({exc.hint}); ' if exc.hint else ''}write e.g. {p.name}={EXAMPLE[p.kind]}")
        raise XdpqError(f"parameter {assignment!r}: {exc}; {fix}") from None
    kind = Kind.COUNT if p.kind == Kind.BOOL else p.kind
    if q.kind != kind:
        raise XdpqError(
            f"parameter {assignment!r}: '{p.name}' is {WORDS[p.kind]}, "
            f"'{text}' is {WORDS[q.kind]}; write e.g. {p.name}={EXAMPLE[p.kind]}")
    if not p.low <= q.value <= p.high:
        raise XdpqError(
            f"parameter {assignment!r}: {units.show(p.kind, q.value)} is outside the range of "
            f"'{p.name}', {_range(p)}; give a value within it")
    return q.value


def parse_assignments(prog: Program, texts: list[str],
                      current: Mapping[str, int | list[int]] | None = None
                      ) -> dict[str, int | list[int]]:
    """``["quantum=3000B", "weight=1,2,1,1,1,1,1,1", "weight[2]=3"]`` → values to write.

    Values carry units, checked against the parameter's kind (a size in bytes, a
    time, a rate, or a plain number); ``name=v`` on a table sets every entry,
    ``name=a,b,...`` all of them in order, ``name[i]=v`` one (the others keep
    ``current``, or the defaults). Unknown names, wrong units, values out of
    range and table sizes are errors that say what to write instead.
    """
    known = {p.name: p for p in prog.params}
    base = dict(current) if current is not None else {
        p.name: [p.default] * p.count if p.count is not None else p.default
        for p in prog.params}
    out: dict[str, int | list[int]] = {}
    for text in texts:
        name, eq, rhs = text.partition("=")
        name = name.strip()
        index: int | None = None
        if "[" in name and name.endswith("]"):
            name, _, idx = name[:-1].partition("[")
            if not idx.strip().isdigit():
                raise XdpqError(f"parameter {text!r}: the index must be a number, "
                                f"e.g. {name}[0]=...")
            index = int(idx)
        if not eq or not name or not rhs.strip():
            raise XdpqError(f"parameter {text!r}: write NAME=VALUE, e.g. "
                            + (f"{prog.params[0].name}={EXAMPLE[prog.params[0].kind]}"
                               if prog.params else "quantum=1514B"))
        p = known.get(name)
        if p is None:
            have = ("; it has: " + ", ".join(_describe(q) for q in prog.params)
                    if prog.params else "; it has no parameters")
            raise XdpqError(f"parameter {text!r}: the scheduler '{prog.name}' has no "
                            f"parameter '{name}'{have}")
        if p.count is None:
            if index is not None or "," in rhs:
                raise XdpqError(f"parameter {text!r}: '{name}' is a single value, not a "
                                f"table; write {name}={EXAMPLE[p.kind]}")
            out[name] = _value(p, rhs, text)
            continue
        table = list(out.get(name, base.get(name, [p.default] * p.count)))  # type: ignore[arg-type]
        if index is not None:
            if not 0 <= index < p.count:
                raise XdpqError(f"parameter {text!r}: '{name}' has entries 0..{p.count - 1}")
            table[index] = _value(p, rhs, text)
        elif "," in rhs:
            items = rhs.split(",")
            if len(items) != p.count:
                raise XdpqError(f"parameter {text!r}: '{name}' is a table of {p.count} "
                                f"values, got {len(items)}; give {p.count}, or one "
                                f"entry as {name}[i]=v")
            table = [_value(p, v, text) for v in items]
        else:
            table = [_value(p, rhs, text)] * p.count
        out[name] = table
    return out


def format_values(prog: Program, values: Mapping[str, int | list[int]]) -> dict[str, str]:
    """Parameter values as a user writes them: ``{"quantum": "1514B", "weight": "1,2,1"}``."""
    known = {p.name: p for p in prog.params}
    out = {}
    for name, v in values.items():
        p = known[name]
        out[name] = ",".join(units.show(p.kind, x) for x in (v if isinstance(v, list) else [v]))
    return out
