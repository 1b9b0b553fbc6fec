"""A program's parameters: values bound to them, checked, read and written as text.

Both executions bind parameters here: the simulator when it makes a
scheduler, the runtime before it loads an object and whenever ``xdpq set``
changes one. Values are integers in their kind's canonical unit (see
``xdpq.units``); a table parameter takes a list.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xdpq.errors import XdpqError
from xdpq.ir.nodes import Param, Program
from xdpq.units import Kind, UnitError, quantity


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



_UNIT_OF = {Kind.TIME: "ns", Kind.BYTES: "B", Kind.RATE: "bit", Kind.COUNT: "", Kind.BOOL: ""}
_EXAMPLE = {Kind.TIME: "5ms", Kind.BYTES: "1514B", Kind.RATE: "10Mbit", Kind.COUNT: "4",
            Kind.BOOL: "1"}
_KIND_WORD = {Kind.TIME: "a time", Kind.BYTES: "a size", Kind.RATE: "a rate",
              Kind.COUNT: "a plain number", Kind.BOOL: "a truth value"}


_LARGER = {Kind.TIME: ((10**9, "s"), (10**6, "ms"), (10**3, "us")),
           Kind.RATE: ((10**9, "Gbit"), (10**6, "Mbit"), (10**3, "Kbit"))}


def show(p: Param, value: int) -> str:
    """A value of ``p`` as a user writes it: the largest unit that shows it exactly
    (``5ms``, ``10Mbit``; sizes in bytes), which ``quantity`` reads back."""
    return show_quantity(p.kind, value)


def show_quantity(kind: Kind, value: int) -> str:
    """A value of ``kind`` in the largest unit that shows it exactly."""
    for scale, unit in _LARGER.get(kind, ()):
        if value and value % scale == 0:
            return f"{value // scale}{unit}"
    return f"{value}{_UNIT_OF[kind]}"


def _describe(p: Param) -> str:
    table = f"[{p.count}]" if p.count is not None else ""
    return f"{p.name}{table}: {_KIND_WORD[p.kind]} in {show(p, p.low)}..{show(p, p.high)}"


def _value(p: Param, text: str, assignment: str) -> int:
    if p.kind == Kind.BOOL and text.lower() in ("true", "false", "on", "off", "yes", "no"):
        return int(text.lower() in ("true", "on", "yes"))
    try:
        q = quantity(text.strip())
    except UnitError as exc:
        hint = f" ({exc.hint})" if exc.hint else ""
        raise XdpqError(f"parameter {assignment!r}: {exc}{hint}; "
                        f"write e.g. {p.name}={_EXAMPLE[p.kind]}") from None
    kind = Kind.COUNT if p.kind == Kind.BOOL else p.kind
    if q.kind != kind:
        raise XdpqError(
            f"parameter {assignment!r}: '{p.name}' is {_KIND_WORD[p.kind]}, "
            f"'{text}' is {_KIND_WORD[q.kind]}; write e.g. {p.name}={_EXAMPLE[p.kind]}")
    if not p.low <= q.value <= p.high:
        raise XdpqError(
            f"parameter {assignment!r}: {show(p, q.value)} is outside the range of "
            f"'{p.name}', {show(p, p.low)}..{show(p, p.high)}; give a value within it")
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
                            + (f"{prog.params[0].name}={_EXAMPLE[prog.params[0].kind]}"
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
                                f"table; write {name}={_EXAMPLE[p.kind]}")
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
        out[name] = ",".join(show(p, x) for x in v) if isinstance(v, list) else show(p, v)
    return out
