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
from xdpq.ir.params import resolve_params

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
