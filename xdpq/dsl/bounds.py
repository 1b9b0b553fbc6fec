"""The values an IR expression can take, where they are bounded.

What the checker needs to tell a rank that moves on (a virtual time, a round:
unbounded) from one that picks a level among a few (a DSCP class, 0 or 1: a
priority), which a PIFO whose window moves with its first rank cannot keep
apart. Only what is certain counts: a value from state, time or a queue is
unbounded (None), and so is arithmetic that could wrap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from math import isqrt

from xdpq import ir
from xdpq.fields import FIELDS
from xdpq.units import U64_MAX

Bounds = tuple[int, int] | None  # the lowest and highest value; None: any
WORD32 = (1 << 32) - 1


def _arith(op: str, a: tuple[int, int], b: tuple[int, int]) -> Bounds:
    (lo, hi), (blo, bhi) = a, b
    match op:
        case "+":
            return (lo + blo, hi + bhi) if hi + bhi <= U64_MAX else None
        case "-":
            return (lo - bhi, hi - blo) if lo >= bhi else None
        case "*":
            return (lo * blo, hi * bhi) if hi * bhi <= U64_MAX else None
        case "/":  # x / 0 is 0
            return (0 if blo == 0 else lo // bhi, hi // max(blo, 1))
        case _:  # x % 0 is x
            return (0, hi) if blo == 0 else (0, min(hi, bhi - 1))


def bounds(e: ir.Expr, params: Mapping[str, ir.Param], local: Callable[[str], Bounds]) -> Bounds:
    """The range of ``e``; ``local`` gives a let's."""
    def of(x: ir.Expr) -> Bounds:
        return bounds(x, params, local)

    match e:
        case ir.Const(value=v):
            return v, v
        case ir.ParamRef(name=n):
            return params[n].low, params[n].high
        case ir.Field(name=n):
            return 0, FIELDS[n].high
        case ir.Local(name=n):
            return local(n)
        case ir.Cmp() | ir.Logic() | ir.Not():
            return 0, 1
        case ir.Hash():
            return 0, WORD32
        case ir.Sqrt(operand=x):
            b = of(x)
            return (isqrt(b[0]), isqrt(b[1])) if b else (0, WORD32)
        case ir.Arith(signed=True):
            return None
        case ir.Arith(op=op, left=x, right=y):
            a, b = of(x), of(y)
            if op == "%" and b is not None and b[0] > 0:
                return 0, b[1] - 1 if a is None else min(a[1], b[1] - 1)
            return _arith(op, a, b) if a is not None and b is not None else None
        case ir.MinMax(signed=True):
            return None
        case ir.MinMax(op=op, args=args):
            known = [b for b in map(of, args) if b is not None]
            if op == "min" and known:
                return 0 if len(known) < len(args) else min(b[0] for b in known), \
                    min(b[1] for b in known)
            if op == "max" and len(known) == len(args):
                return max(b[0] for b in known), max(b[1] for b in known)
    return None


def union(a: Bounds, b: Bounds) -> Bounds:
    return None if a is None or b is None else (min(a[0], b[0]), max(a[1], b[1]))
