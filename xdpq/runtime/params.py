"""Scheduler parameters in a loaded (or about to load) object.

The code generator puts parameter ``name`` in global data as ``xq_p_<name>``
(one u64, or an array of them for a table), so they can change while the
scheduler runs: a write is one store the next packet sees.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

from xdpq import ir
from xdpq.bpf import BpfObject
from xdpq.errors import XdpqError
from xdpq.sim.program import resolve_params
from xdpq.units import Kind, UnitError, quantity

STATE_SECTIONS = (".data", ".bss")


def _section_of(obj: BpfObject, var: str) -> str:
    for name in STATE_SECTIONS:
        if var in obj.section(name).vars:
            return name
    raise XdpqError(f"the object has no variable '{var}': was it compiled from this program?")


def write_params(obj: BpfObject, prog: ir.Program,
                 values: Mapping[str, int | list[int]]) -> dict[str, int | list[int]]:
    """Check ``values`` against the program (names, ranges, table sizes) and write them;
    parameters not named keep what they have. Returns what was written."""
    resolved = resolve_params(prog, values)
    written = {name: resolved[name] for name in values}
    for name, value in written.items():
        var = f"xq_p_{name}"
        data = struct.pack(f"={len(value)}Q", *value) if isinstance(value, list) else \
            struct.pack("=Q", value)
        obj.section(_section_of(obj, var)).write(var, data)
    return written


def read_params(obj: BpfObject, prog: ir.Program) -> dict[str, int | list[int]]:
    out: dict[str, int | list[int]] = {}
    for p in prog.params:
        var = f"xq_p_{p.name}"
        raw = obj.section(_section_of(obj, var)).read(var)
        values = list(struct.unpack(f"={len(raw) // 8}Q", raw))
        out[p.name] = values if p.count is not None else values[0]
    return out


# -- parameters on the command line ------------------------------------------------

_UNIT_OF = {Kind.TIME: "ns", Kind.BYTES: "B", Kind.RATE: "bit", Kind.COUNT: "", Kind.BOOL: ""}
_EXAMPLE = {Kind.TIME: "5ms", Kind.BYTES: "1514B", Kind.RATE: "10Mbit", Kind.COUNT: "4",
            Kind.BOOL: "1"}
_KIND_WORD = {Kind.TIME: "a time", Kind.BYTES: "a size", Kind.RATE: "a rate",
              Kind.COUNT: "a plain number", Kind.BOOL: "a truth value"}


_LARGER = {Kind.TIME: ((10**9, "s"), (10**6, "ms"), (10**3, "us")),
           Kind.RATE: ((10**9, "Gbit"), (10**6, "Mbit"), (10**3, "Kbit"))}


def show(p: ir.Param, value: int) -> str:
    """A value of ``p`` as a user writes it: the largest unit that shows it exactly
    (``5ms``, ``10Mbit``; sizes in bytes), which ``quantity`` reads back."""
    for scale, unit in _LARGER.get(p.kind, ()):
        if value and value % scale == 0:
            return f"{value // scale}{unit}"
    return f"{value}{_UNIT_OF[p.kind]}"


def _describe(p: ir.Param) -> str:
    table = f"[{p.count}]" if p.count is not None else ""
    return f"{p.name}{table}: {_KIND_WORD[p.kind]} in {show(p, p.low)}..{show(p, p.high)}"


def _value(p: ir.Param, text: str, assignment: str) -> int:
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


def parse_assignments(prog: ir.Program, texts: list[str],
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


def format_values(prog: ir.Program, values: Mapping[str, int | list[int]]) -> dict[str, str]:
    """Parameter values as a user writes them: ``{"quantum": "1514B", "weight": "1,2,1"}``."""
    known = {p.name: p for p in prog.params}
    out = {}
    for name, v in values.items():
        p = known[name]
        out[name] = ",".join(show(p, x) for x in v) if isinstance(v, list) else show(p, v)
    return out
