"""Semantic checks: names, kinds and units, hooks, queues, parameter ranges.

Every value has a kind (time, bytes, rate, count, bool) and arithmetic
follows the units: time ± time is time, bytes / rate is time, rate × time is
bytes, X / count is X, X / X is a count, and anything else (adding a time
to a rate) is an error. Arithmetic is unsigned 64-bit: it wraps; x / 0 is 0
and x % 0 is x (BPF's own rule, the same in the simulator).

Checking and lowering are one pass: what the checker learns about kinds is
what lowering needs to make unit conversions explicit, so ``check`` returns
the program's IR (``xdpq.ir``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from math import prod

from xdpq import ir
from xdpq.dsl import ast
from xdpq.dsl.bounds import Bounds, bounds, union
from xdpq.errors import SourceError, SourceWarning, Span
from xdpq.fields import FIELDS as PACKET_FIELDS
from xdpq.ir.layout import MAX_DEPTH, MAX_TOKENS
from xdpq.units import U64_MAX, Kind, UnitError, quantity

T, B, R, C, BOOL = Kind.TIME, Kind.BYTES, Kind.RATE, Kind.COUNT, Kind.BOOL
# A bare 0 fits any kind where the other side says which (``vtime: time = 0``,
# ``pkt.len > 0``, ``now + 0``); in ``*`` and ``/``, and any other number
# without a unit, it is a count.
ZERO = "zero"


@dataclass(frozen=True, slots=True)
class Signed:
    """A kind whose values may be below 0 (two's complement in the same 64 bits):
    state declared ``signed``, a negation, and arithmetic with one of them."""

    kind: Kind


Kindish = Kind | str | Signed


def _base(kind: Kindish) -> Kindish:
    return kind.kind if isinstance(kind, Signed) else kind


def _with_sign(kind: Kindish, signed: bool) -> Kindish:
    return Signed(kind) if signed and isinstance(kind, Kind) else kind

# What a program reads by a dotted name: the packet's fields (xdpq.fields) and now.
FIELDS: dict[str, Kind] = {**{n: f.kind for n, f in PACKET_FIELDS.items() if not f.address},
                           "now": T}
# Fields that can only key per-flow state (addresses are not numbers).
KEY_ONLY = {n for n, f in PACKET_FIELDS.items() if f.address}
# What every hook reads by a bare name: the clock, and the link rate (ir.LinkRate).
READINGS: dict[str, tuple[ir.Expr, Kind]] = {"now": (ir.Now(), T),
                                             "link_rate": (ir.LinkRate(), R)}
# What a dequeue hook can read of the packet it got.
DEQUEUED = {"rank": C, "len": B, "enqueued": T, "ecn": C}
MAX_PACKETS = 65536
MAX_ARRAY = 4096

_SUM = {(k, k): k for k in (T, B, R, C)}
_PRODUCT = {(C, C): C, (T, C): T, (C, T): T, (B, C): B, (C, B): B, (R, C): R, (C, R): R,
            (R, T): B, (T, R): B}
_QUOTIENT = {(T, C): T, (B, C): B, (R, C): R, (C, C): C, (T, T): C, (B, B): C, (R, R): C,
             (B, R): T, (B, T): R}


def _name(kind: Kindish) -> str:
    if isinstance(kind, Signed):
        return {T: "a signed time", B: "signed bytes", R: "a signed rate",
                C: "a signed count"}[kind.kind]
    return {T: "a time", B: "bytes", R: "a rate", C: "a count", BOOL: "true/false",
            ZERO: "a count"}[kind]


def _fits(kind: Kindish, want: Kindish) -> bool:
    """Whether a value of ``kind`` may go where ``want`` is wanted: a signed place takes
    its kind signed or not, an unsigned one only unsigned values (one that may be below
    0 would turn huge)."""
    if isinstance(want, Signed):
        return _base(kind) is want.kind or kind == ZERO
    return kind is want or (kind == ZERO and want is not BOOL)


# What a dequeue hook can read of a packet that left a queue under a parent.
DEQUEUED_CHILD = {"index": C, "parent_rank": C}
# ... and of each queue on its way: p.tenants.rank, p.flows.index.
DEQUEUED_PATH = {"rank": C, "index": C}
# What a program can read of a queue: q.packets, flows[i].head, ...
QUEUE_ATTRS = {"head": B, "packets": C, "bytes": B, "capacity": C}
# (An rbtree's entries enter its tree only with a node allocated outside the lock:
# moving them there as a virtual clock advances, under it, cannot be done.)
QUEUE_ARGS = {"fifo": {"capacity", "clock", "full"}, "rbtree": {"capacity", "full"},
              "pifo": {"capacity", "range", "clock", "base", "full"}}
# What a full queue does with an arrival (``full = …``): refuse it (the default), or
# push out its worst packet for an arrival that ranks better (docs/queues.md).
FULL = ("drop", "pushout")
# Bucket storage of one PIFO declaration, an array counted whole (8 bytes each): 8 MiB,
MAX_PIFO_BUCKETS = 1 << 20
# ... and of all PIFOs of a program together (16 MiB): one global section holds them.
MAX_PIFO_STORAGE = 1 << 21
# rbtree declarations of a program, an array counted once: each is one bpf_rb_root in
# the lock's global section, and the kernel keeps at most 11 special fields in one map
# value (BTF_FIELDS_MAX): the lock and 10 roots. Past it the kernel quietly drops the
# section's BTF, and the verifier finds no bpf_spin_lock.
MAX_RBTREES = 10
S_PER_BYTE_BIT = 8_000_000_000  # bytes * 8e9 / (bit/s) = ns


@dataclass
class _Scope:
    params: dict[str, ast.Param] = field(default_factory=dict)
    globals_: dict[str, Kind] = field(default_factory=dict)
    flow: dict[str, Kind] = field(default_factory=dict)
    qstate: dict[str, dict[str, Kind]] = field(default_factory=dict)  # array -> its fields
    locals_: dict[str, Kindish] = field(default_factory=dict)
    param_kinds: dict[str, Kind] = field(default_factory=dict)
    tables: dict[str, int] = field(default_factory=dict)  # parameter tables and their sizes
    queues: dict[str, ast.Queue] = field(default_factory=dict)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # known once checked
    capacities: dict[str, int] = field(default_factory=dict)
    parents: dict[str, str] = field(default_factory=dict)  # a queue -> its parent
    clocks: dict[str, str] = field(default_factory=dict)  # a queue -> its virtual clock
    hook: str = "enqueue"
    packet: str | None = None  # the dequeue hook's packet name
    ready: str | None = None  # the ready hook's queue
    hierarchical: bool = False
    lets: list[str] = field(default_factory=list)  # every let of the hook, in order
    reasons: dict[str, None] = field(default_factory=dict)
    marks: dict[str, None] = field(default_factory=dict)
    uses_at: bool = False
    flow_on_dequeue: bool = False

    def hook_scope(self, hook: str, packet: str | None, ready: str | None) -> _Scope:
        """The scope of one hook: the program's names, and locals of its own."""
        return replace(self, locals_={}, hook=hook, packet=packet, ready=ready, lets=[],
                       uses_at=False, flow_on_dequeue=False)

    def children(self, name: str) -> list[str]:
        return [c for c, p in self.parents.items() if p == name]


Lowered = tuple[ir.Expr, Kindish]


class _Checker:
    def __init__(self, source: str) -> None:
        self.source = source
        self.warnings: list[SourceWarning] = []

    def error(self, message: str, span: Span, hint: str = "") -> SourceError:
        return SourceError(message, span, self.source, hint)

    def warn(self, message: str, span: Span, hint: str = "") -> None:
        self.warnings.append(SourceWarning(message, span, self.source, hint))

    # -- constants -----------------------------------------------------------------

    def number(self, n: ast.Number) -> tuple[int, Kind]:
        try:
            q = quantity(n.text)
        except UnitError as exc:
            raise self.error(str(exc), n.span, exc.hint) from None
        return q.value, q.kind

    def constant(self, e: ast.Expr, what: str) -> tuple[int, Kind]:
        match e:
            case ast.Number():
                return self.number(e)
            case ast.Unary(op="-"):
                raise self.error(f"{what} cannot be negative: values are unsigned", e.span)
            case _:
                raise self.error(f"{what} must be a number", e.span)

    def count(self, e: ast.Expr, what: str, limit: int) -> int:
        n, _ = self.constant(e, what)
        if not 1 <= n <= limit:
            raise self.error(f"{what}: {n}, but it must be 1 to {limit}", e.span)
        return n

    # -- expressions ---------------------------------------------------------------

    def unknown(self, name: str, span: Span, known: Iterable[str]) -> SourceError:
        import difflib  # only for a mistake: not on every check's start

        close = difflib.get_close_matches(name, list(known), n=1)
        return self.error(f"unknown name '{name}'", span,
                          f"did you mean '{close[0]}'?" if close else "")

    def path(self, p: ast.Path, sc: _Scope) -> Lowered:
        dotted = ".".join(p.parts)
        head, *rest = p.parts
        if not rest:
            if head in sc.locals_:
                return ir.Local(head), sc.locals_[head]
            if head in sc.param_kinds:
                if head in sc.tables:
                    raise self.error(f"'{head}' is a table of {sc.tables[head]} values: say "
                                     "which one", p.span, f"{head}[i]")
                return ir.ParamRef(head, None), sc.param_kinds[head]
            if head in sc.globals_:
                return ir.Global(head), sc.globals_[head]
            if head in READINGS:
                return READINGS[head]
            raise self.unknown(head, p.span, [*sc.locals_, *sc.param_kinds, *sc.globals_,
                                              *READINGS])
        if head == sc.packet and len(rest) == 1:
            fields = {**DEQUEUED, **(DEQUEUED_CHILD if sc.hierarchical else {})}
            if rest[0] not in fields:
                raise self.error(f"a dequeued packet has no '{rest[0]}'", p.span,
                                 f"it has {', '.join(fields)}")
            return ir.DeqField(rest[0]), fields[rest[0]]
        if head == sc.packet and len(rest) == 2 and rest[0] in sc.queues:
            if rest[1] not in DEQUEUED_PATH:
                raise self.error(f"'{dotted}': of a queue on its way a dequeued packet has "
                                 "rank and index", p.span, f"{head}.{rest[0]}.rank")
            return ir.PathField(rest[0], rest[1]), DEQUEUED_PATH[rest[1]]
        if head == "flow":
            if not sc.flow:
                raise self.error(f"'{head}.{rest[0]}' but no per-flow state is declared", p.span)
            if rest[0] not in sc.flow or len(rest) > 1:
                raise self.unknown(dotted, p.span, [f"{head}.{n}" for n in sc.flow])
            if sc.hook == "ready":
                raise self.error(f"'{dotted}' in 'on ready': a ready hook places a queue, and "
                                 "per-flow state belongs to a packet", p.span,
                                 "keep what the hook needs in per-queue state")
            sc.flow_on_dequeue |= sc.hook == "dequeue"
            return ir.FlowVar(rest[0]), sc.flow[rest[0]]
        if head in sc.queues and len(rest) == 1:
            q = sc.queues[head]
            if rest[0] not in QUEUE_ATTRS:
                raise self.error(f"a queue has no '{rest[0]}'", p.span,
                                 f"it has {', '.join(QUEUE_ATTRS)}")
            if q.dims:
                raise self.error(f"'{head}' is an array of queues: say which one", p.span,
                                 f"{head}{_which(len(q.dims))}.{rest[0]}")
            return self.attr(head, (), rest[0], p.span, sc)
        if dotted in KEY_ONLY:
            raise self.error(f"'{dotted}' is an address: it can key per-flow state, not be "
                             "computed with", p.span)
        if dotted in FIELDS:
            if sc.hook != "enqueue":
                what = f"the dequeued packet is '{sc.packet}'" if sc.packet else \
                    "this hook has no packet"
                raise self.error(f"'{dotted}' in 'on {sc.hook}': packet fields are read on "
                                 f"enqueue; {what}", p.span)
            return ir.Field(dotted), FIELDS[dotted]
        raise self.unknown(dotted, p.span, FIELDS)

    def index(self, e: ast.Index, sc: _Scope) -> Lowered:
        if e.name in sc.tables:
            if e.attr is not None:
                raise self.error(f"'{e.name}' is a parameter table: its values have no "
                                 f"'{e.attr}'", e.span)
            if len(e.indices) > 1:
                raise self.error(f"'{e.name}' is a table of {sc.tables[e.name]} values: one "
                                 "index", e.indices[1].span, f"{e.name}[i]")
            return ir.ParamRef(e.name, self.index_expr(e.indices[0], sc)), \
                sc.param_kinds[e.name]
        q = sc.queues.get(e.name)
        if q is None or not q.dims:
            what = "a single queue" if q else "a parameter table or an array of queues"
            if q is None and e.name not in sc.param_kinds:
                raise self.unknown(e.name, e.span, [*sc.tables, *sc.queues])
            raise self.error(f"'{e.name}' is not {what}" if q is None else
                             f"'{e.name}' is {what}, not an array", e.span)
        idx = self.indices(e.name, e.indices, e.span, sc)
        if e.attr is None:
            raise self.error(f"'{e.name}[…]' is a queue: say what of it", e.span,
                             f"{', '.join(QUEUE_ATTRS)} or a field of 'state per {e.name}'")
        fields = sc.qstate.get(e.name, {})
        if e.attr in fields:
            return ir.QState(e.name, idx, e.attr), fields[e.attr]
        if e.attr in QUEUE_ATTRS:
            return self.attr(e.name, idx, e.attr, e.span, sc)
        raise self.unknown(f"{e.name}[…].{e.attr}", e.span,
                           [f"{e.name}[…].{n}" for n in (*fields, *QUEUE_ATTRS)])

    def indices(self, name: str, given: tuple[ast.Expr, ...], span: Span,
                sc: _Scope) -> tuple[ir.Expr, ...]:
        """One index per dimension of queue array ``name``."""
        dims = len(sc.shapes[name])
        if len(given) != dims:
            at = given[dims].span if len(given) > dims else span
            raise self.error(f"'{name}' has {dims} dimension{'s' * (dims > 1)}: "
                             f"{len(given)} ind{'ices' if len(given) > 1 else 'ex'} given", at,
                             f"{name}{_which(dims)}")
        return tuple(self.index_expr(i, sc) for i in given)

    def attr(self, queue: str, idx: tuple[ir.Expr, ...], name: str, span: Span,
             sc: _Scope) -> Lowered:
        if name == "capacity":  # fixed when the queue is declared
            return ir.Const(sc.capacities[queue]), C
        if name == "head" and sc.children(queue):
            raise self.error(f"'{queue}' schedules queues: only a queue of packets has a head "
                             "packet", span, "read the head of a queue under it")
        return ir.Attr(queue, idx, name), QUEUE_ATTRS[name]

    def index_expr(self, e: ast.Expr, sc: _Scope) -> ir.Expr:
        value, kind = self.expr(e, sc)
        if not _fits(kind, C):
            raise self.error(f"an index is a count, not {_name(kind)}", e.span)
        return value

    def expr(self, e: ast.Expr, sc: _Scope) -> Lowered:
        match e:
            case ast.Number():
                value, kind = self.number(e)
                return ir.Const(value), (ZERO if value == 0 and kind is C else kind)
            case ast.Bool(value=value):
                return ir.Const(int(value)), BOOL
            case ast.Path():
                return self.path(e, sc)
            case ast.Index():
                return self.index(e, sc)
            case ast.Call(func="hash", args=args):
                return self.hash(e, args, sc), C
            case ast.Call(func="sqrt", args=args):
                if len(args) != 1:
                    raise self.error("sqrt() takes one value", e.span)
                value, k = self.expr(args[0], sc)
                if not _fits(k, C):
                    raise self.error(f"sqrt() of {_name(k)}: it takes a count", e.span,
                                     "divide by a unit first, e.g. sqrt(x / 1us)")
                return ir.Sqrt(value), C
            case ast.Call(func=func, args=args):
                if func not in ("min", "max"):
                    raise self.error(f"unknown function '{func}'", e.span,
                                     "functions: min, max, sqrt, hash")
                if len(args) < 2:
                    raise self.error(f"{func}() takes two or more values", e.span)
                lowered = [self.expr(a, sc) for a in args]
                kinds = [k for _, k in lowered]
                real = {_base(k) for k in kinds if k != ZERO}
                if len(real) > 1 or BOOL in real:
                    raise self.error(f"{func}() of {' and '.join(_name(k) for k in kinds)}", e.span,
                                     "all its values must be of one kind")
                signed = any(isinstance(k, Signed) for k in kinds)
                # max() of a signed and an unsigned value is never below 0: it is unsigned.
                result = signed and (func == "min" or all(isinstance(k, Signed) for k in kinds))
                kind = real.pop() if real else ZERO
                return ir.MinMax(func, tuple(v for v, _ in lowered), signed), \
                    _with_sign(kind, result)
            case ast.Unary(op="not", operand=x):
                value, k = self.expr(x, sc)
                if k is not BOOL:
                    raise self.error(f"'not' of {_name(k)}", e.span, "'not' takes true/false")
                return ir.Not(value), BOOL
            case ast.Unary(op="-", operand=x):
                value, k = self.expr(x, sc)
                if k is BOOL:
                    raise self.error("'-' of true/false", e.span)
                kind = _with_sign(C if k == ZERO else _base(k), True)
                if isinstance(value, ir.Const):
                    return ir.Const(-value.value & U64_MAX), (ZERO if not value.value else kind)
                return ir.Arith("-", ir.Const(0), value), kind
            case ast.Binary(op=op, left=left, right=right):
                return self.binary(op, self.expr(left, sc), self.expr(right, sc), e)
        raise self.error("not an expression", e.span)

    def hash(self, e: ast.Call, args: tuple[ast.Expr, ...], sc: _Scope) -> ir.Expr:
        if not args:
            raise self.error("hash() takes one or more packet fields", e.span,
                             "e.g. hash(ip.src, ip.dst, l4.sport, l4.dport, ip.proto)")
        names = []
        for a in args:
            dotted = ".".join(a.parts) if isinstance(a, ast.Path) else ""
            if (dotted not in FIELDS and dotted not in KEY_ONLY) or dotted == "now":
                raise self.error("hash() takes packet fields", a.span,
                                 "e.g. hash(ip.src, ip.dst, l4.sport, l4.dport, ip.proto)")
            if sc.hook != "enqueue":
                raise self.error(f"hash() in 'on {sc.hook}': packet fields are read on enqueue",
                                 a.span)
            names.append(dotted)
        return ir.Hash(tuple(names))

    def binary(self, op: str, left: Lowered, right: Lowered, e: ast.Binary) -> Lowered:
        (lv, lk), (rv, rk) = left, right
        self.sign_trap(op, left, right, e)
        if ZERO in (lk, rk) and op not in ("and", "or"):
            other = rk if lk == ZERO else lk
            if op in ("*", "/"):
                # A bare 0 is a count here: its kind cannot be told from the other side.
                lk, rk = (C if lk == ZERO else lk), (C if rk == ZERO else rk)
            elif other == ZERO:
                if op in ("==", "!=", "<", "<=", ">", ">="):
                    return ir.Cmp(op, lv, rv), BOOL
                return ir.Arith(op, lv, rv), ZERO
            else:
                lk = rk = other  # + - % and comparisons: the zero takes the other side's kind
        if op in ("and", "or"):
            if lk is not BOOL or rk is not BOOL:
                raise self.error(f"'{op}' of {_name(lk)} and {_name(rk)}", e.span,
                                 f"'{op}' takes true/false on both sides")
            return ir.Logic(op, lv, rv), BOOL
        signed = isinstance(lk, Signed) or isinstance(rk, Signed)
        if op in ("==", "!=", "<", "<=", ">", ">="):
            if _base(lk) is not _base(rk):
                raise self.error(f"comparing {_name(lk)} with {_name(rk)}", e.span)
            if lk is BOOL and op not in ("==", "!="):
                raise self.error(f"'{op}' on true/false values", e.span)
            return ir.Cmp(op, lv, rv, signed and op not in ("==", "!=")), BOOL
        table = {"+": _SUM, "-": _SUM, "*": _PRODUCT, "/": _QUOTIENT, "%": _SUM}[op]
        lk, rk = _base(lk), _base(rk)
        if (lk, rk) in table:
            return _lower_arith(op, lv, lk, rv, rk, signed), _with_sign(table[(lk, rk)], signed)
        verb = {"+": "adding", "-": "subtracting", "*": "multiplying", "/": "dividing",
                "%": "taking the remainder of"}[op]
        hint = ""
        if op in "+-" and {lk, rk} == {T, B}:
            hint = "a virtual time counted in bytes (as in fair queueing) should be declared bytes"
        raise self.error(f"{verb} {_name(lk)} and {_name(rk)}", e.span, hint)

    def sign_trap(self, op: str, left: Lowered, right: Lowered, e: ast.Binary) -> None:
        """``credit < 0`` on an unsigned value is always false (and ``>= 0`` always
        true): say so, for the program means something else."""
        (lv, lk), (rv, rk) = left, right
        if rv == ir.Const(0) and isinstance(lk, Kind) and lk is not BOOL:
            always = {"<": "false", ">=": "true"}.get(op)
        elif lv == ir.Const(0) and isinstance(rk, Kind) and rk is not BOOL:
            always = {">": "false", "<=": "true"}.get(op)
        else:
            return
        if always is not None:
            kind = lk if isinstance(lk, Kind) else rk
            self.warn(f"this is always {always}: {_name(kind)} is never below 0", e.span,
                      "declare what may go below 0 signed: credit: signed bytes = 0")

    # -- statements ----------------------------------------------------------------

    def block(self, body: tuple[ast.Stmt, ...], sc: _Scope) -> tuple[tuple[ir.Stmt, ...], bool]:
        """Lower statements; also say whether every path ends in an outcome."""
        out: list[ir.Stmt] = []
        ended = False
        for stmt in body:
            if ended:
                raise self.error("this statement can never run: the path already ended",
                                 stmt.span)
            lowered, ended = self.stmt(stmt, sc)
            out.append(lowered)
        return tuple(out), ended

    def stmt(self, s: ast.Stmt, sc: _Scope) -> tuple[ir.Stmt, bool]:
        match s:
            case ast.Let(name=name, value=value):
                if name in sc.locals_ or name in sc.param_kinds or name in sc.globals_ \
                        or name == sc.packet:
                    raise self.error(f"'{name}' is already defined", s.span,
                                     "give the new value another name")
                lowered, sc.locals_[name] = self.expr(value, sc)
                if name not in sc.lets:
                    sc.lets.append(name)
                return ir.Let(name, lowered, s.span), False
            case ast.Assign(target=target, value=value):
                lowered, kind = self.expr(value, sc)
                return ir.Store(self.assign(target, kind, sc), lowered, s.span), False
            case ast.If(cond=cond, then=then, orelse=orelse):
                c, k = self.expr(cond, sc)
                if k is not BOOL:
                    raise self.error(f"the condition is {_name(k)}, not true/false", cond.span,
                                     "compare it: e.g. x > 0")
                saved = dict(sc.locals_)
                then_ir, a = self.block(then, sc)
                sc.locals_ = dict(saved)
                else_ir, b = self.block(orelse, sc) if orelse else ((), False)
                sc.locals_ = saved
                return ir.If(c, then_ir, else_ir, s.span), a and b
            case ast.Enqueue():
                if sc.hook == "dequeue":
                    raise self.error("'enqueue' in 'on dequeue'", s.span,
                                     "packets are enqueued in 'on enqueue'")
                return self.enqueue(s, sc), True
            case ast.Drop(reason=reason, extra=extra):
                if extra is not None:
                    raise self.error(f"'drop' takes one reason, not '{reason} "
                                     f"{extra.parts[0]}'", extra.span,
                                     f"drop {reason}, or name the reason {reason}_"
                                     f"{extra.parts[0]}")
                if sc.hook == "ready":
                    raise self.error("'drop' in 'on ready': a ready queue must get a place in "
                                     "its parent", s.span, "enqueue it with a rank")
                sc.reasons[reason] = None
                return ir.Drop(reason, s.span), True
            case ast.Mark(reason=reason, otherwise=otherwise):
                if sc.hook != "dequeue":
                    raise self.error(f"'mark' in 'on {sc.hook}': packets are marked as they "
                                     "leave", s.span, "mark in 'on dequeue'")
                sc.marks[reason] = None
                sc.reasons[otherwise] = None
                return ir.Mark(reason, otherwise, s.span), True
            case ast.Pass():
                if sc.hook != "enqueue":
                    raise self.error(f"'pass' in 'on {sc.hook}': the packet was already taken",
                                     s.span)
                return ir.Pass(s.span), True
        raise self.error("not a statement", s.span)

    def assign(self, target: ast.Path | ast.Index, kind: Kindish,
               sc: _Scope) -> ir.Global | ir.FlowVar | ir.QState:
        dotted = ".".join(target.parts) if isinstance(target, ast.Path) else \
            f"{target.name}[…].{target.attr}"
        if isinstance(target, ast.Index):
            lowered, want = self.index(target, sc)
            if not isinstance(lowered, ir.QState):
                raise self.error(f"cannot assign to '{dotted}'", target.span,
                                 "only state (global, flow., per-queue) can change")
        else:
            head, *rest = target.parts
            if not rest and head in sc.globals_:
                lowered, want = ir.Global(head), sc.globals_[head]
            elif head == "flow" and rest:
                lowered, want = self.path(target, sc)
            elif not rest and head in sc.param_kinds:
                raise self.error(f"'{head}' is a parameter: it is set at deploy time, not here",
                                 target.span, "keep changing values in state")
            elif not rest and head in sc.locals_:
                raise self.error(f"'{head}' was defined with let and cannot change",
                                 target.span, "declare it in a state block to change it")
            else:
                raise self.error(f"cannot assign to '{dotted}'", target.span,
                                 "only state (global, flow., per-queue) can change")
        if not _fits(kind, want):
            hint = f"it may be below 0: max(x, 0) is never below 0, or declare '{dotted}' " \
                "signed" if isinstance(kind, Signed) and _base(kind) is want else ""
            raise self.error(f"'{dotted}' holds {_name(want)}, not {_name(kind)}", target.span,
                             hint)
        return lowered  # type: ignore[return-value]

    def enqueue(self, s: ast.Enqueue, sc: _Scope) -> ir.Enqueue:
        q = sc.queues.get(s.queue)
        if q is None:
            raise self.unknown(s.queue, s.span, sc.queues)
        if sc.hook == "ready":
            return self.schedule(s, q, sc)
        children = sc.children(q.name)
        if children:
            first = sc.queues[children[0]]
            raise self.error(f"'{s.queue}' schedules the queues of "
                             f"{', '.join(repr(c) for c in children)}: packets go into those",
                             s.span, f"enqueue {first.name}{_which(len(first.dims))}")
        if q.dims and not s.indices:
            raise self.error(f"'{s.queue}' is an array of queues: say which one",
                             s.span, f"enqueue {s.queue}{_which(len(q.dims))}")
        if not q.dims and s.indices:
            raise self.error(f"'{s.queue}' is a single queue, not an array", s.indices[0].span)
        index = self.indices(q.name, s.indices, s.span, sc) if q.dims else ()
        return ir.Enqueue(s.queue, index, self.rank(s, sc), self.at(s, q.name, sc), s.span)

    def rank(self, s: ast.Enqueue, sc: _Scope) -> ir.Expr:
        if s.rank is None:
            return ir.Const(0)
        rank, k = self.expr(s.rank, sc)
        if isinstance(k, Signed):
            raise self.error(f"a rank is never below 0, and this is {_name(k)}", s.rank.span,
                             "max(x, 0) is never below 0")
        if k in (BOOL, R):
            raise self.error(f"a rank is a time, bytes or a count, not {_name(k)}", s.rank.span)
        return rank

    def at(self, s: ast.Enqueue, queue: str, sc: _Scope) -> ir.Expr | None:
        """An eligibility time on the clock of ``queue``: real time, or its virtual clock."""
        if s.at is None:
            return None
        at, k = self.expr(s.at, sc)
        clock = sc.clocks.get(queue)
        want = sc.globals_[clock] if clock is not None else T
        if not _fits(k, want):
            what = f"{_name(want)} on the clock '{clock}' of '{queue}'" if clock else \
                "a time (when the packet may leave)" if sc.hook != "ready" else \
                "a time (when the queue may be served)"
            raise self.error(f"'at' takes {what}, not {_name(k)}", s.at.span)
        sc.uses_at = True
        return at

    def schedule(self, s: ast.Enqueue, q: ast.Queue, sc: _Scope) -> ir.Enqueue:
        """``enqueue parent rank r [at t]`` in ``on ready``: the ready queue into its parent."""
        parent = sc.parents[sc.ready or ""]
        if q.name != parent:
            raise self.error(f"'on ready {sc.ready}' places a queue of '{sc.ready}' into its "
                             f"parent '{parent}', not into '{s.queue}'", s.span,
                             f"enqueue {parent} rank …")
        if s.indices:
            which = f"the queue of '{parent}' that schedules it is implied" if q.dims else \
                f"'{s.queue}' is a single queue, not an array"
            raise self.error(which, s.indices[0].span, f"enqueue {parent} rank …")
        return ir.Enqueue(s.queue, (), self.rank(s, sc), self.at(s, parent, sc), s.span)

    # -- declarations --------------------------------------------------------------

    def program(self, p: ast.Program) -> ir.Program:
        sc = _Scope()
        # Parameters, queues and global state share one namespace; per-flow and
        # per-queue fields are reached through flow. and q[i]., each its own.
        seen: dict[str, dict[str, Span]] = {"": {}, "flow": {}}

        def declare(name: str, span: Span, space: str = "") -> None:
            table = seen.setdefault(space, {})
            if name in table:
                raise self.error(f"'{name}' is declared twice", span,
                                 f"first declared at {table[name]}")
            table[name] = span

        params = []
        for prm in p.params:
            declare(prm.name, prm.span)
            params.append(self.param(prm))
            sc.param_kinds[prm.name] = params[-1].kind
            sc.params[prm.name] = prm
            if params[-1].count is not None:
                sc.tables[prm.name] = params[-1].count
        for q in p.queues:
            declare(q.name, q.span)
            sc.queues[q.name] = q
        decls = {q.name: self.queue(q) for q in p.queues}
        sc.shapes.update((name, d.shape) for name, d in decls.items())
        self.tree(p.queues, sc)
        sc.capacities.update(self.capacities(p.queues, decls, sc))
        self.pifo_storage(p.queues, decls)
        self.rbtree_roots(p.queues)
        sc.hierarchical = bool(sc.parents)
        globals_: list[ir.Var] = []
        flow_vars: list[ir.Var] = []
        qstate: dict[str, list[ir.Var]] = {}
        flow_key: tuple[str, ...] = ()
        for st in p.states:
            match st.scope:
                case ast.GlobalScope():
                    space, kinds, out = "", sc.globals_, globals_
                case ast.FlowScope(key=key):
                    if flow_key:
                        raise self.error("a second per-flow state", st.span,
                                         "declare all per-flow fields in one block")
                    flow_key = self.flow_key(key, st.span)
                    space, kinds, out = "flow", sc.flow, flow_vars
                case ast.QueueScope(queue=name):
                    q = sc.queues.get(name)
                    if q is None:
                        raise self.unknown(name, st.scope.span, sc.queues)
                    if not q.dims:
                        raise self.error(f"'state per {name}': '{name}' is a single queue",
                                         st.scope.span, "per-queue state is for arrays of "
                                         "queues; use global state for one queue")
                    space, kinds, out = f"queue {name}", sc.qstate.setdefault(name, {}), \
                        qstate.setdefault(name, [])
            for f in st.fields:
                declare(f.name, f.span, space)
                if space.startswith("queue") and f.name in QUEUE_ATTRS:
                    raise self.error(f"'{f.name}' is what a queue holds: name the field "
                                     "otherwise", f.span)
                kind: Kindish = Kind(f.type)
                if f.signed and kind is BOOL:
                    raise self.error(f"'{f.name}': true/false has no sign", f.span)
                kind = _with_sign(kind, f.signed)
                init, k = self.expr(f.default, _Scope())
                if not _fits(k, kind) or not isinstance(init, ir.Const):
                    raise self.error(f"'{f.name}' holds {_name(kind)}, its initial value is "
                                     f"{_name(k)}", f.default.span)
                kinds[f.name] = kind
                out.append(ir.Var(f.name, _base(kind), init.value, f.signed))  # type: ignore[arg-type]
        for q in p.queues:
            if decls[q.name].clock is not None:
                sc.clocks[q.name] = self.clock(decls[q.name].clock, sc)  # type: ignore[arg-type]
        hooks: dict[tuple[str, str | None], ast.Hook] = {}
        for h in p.hooks:
            key = (h.event, h.queue)
            if key in hooks:
                what = f"ready {h.queue}" if h.queue else h.event
                raise self.error(f"a second 'on {what}' hook", h.span,
                                 f"the first is at {hooks[key].span}")
            hooks[key] = h
        if ("enqueue", None) not in hooks:
            raise self.error("the program has no 'on enqueue' hook", p.span,
                             "add: on enqueue { enqueue <queue> rank <expression> }")
        if not p.queues:
            raise self.error("the program declares no queue", p.span,
                             "add: queue q: fifo(capacity = 1000)")
        lowered: dict[tuple[str, str | None], ir.Hook] = {}
        for key, h in hooks.items():
            lowered[key] = self.hook(h, sc)
        for q in p.queues:
            if q.dims and q.name not in sc.parents:
                raise self.error(f"'{q.name}' is an array of queues, and nothing chooses "
                                 "among them", q.span,
                                 f"add a parent: queue root: fifo() of {q.name}")
        ready = {}
        for q in p.queues:
            if q.name not in sc.parents:
                continue
            hook = lowered.get(("ready", q.name))
            if hook is None:  # round robin, or arrival order in a PIFO
                body = (ir.Enqueue(sc.parents[q.name], (), ir.Const(0), None, q.span),)
                hook = ir.Hook(tuple(f"i{k}" for k in range(len(q.dims))), body, (), q.span)
            ready[q.name] = hook
        self.pushouts(p.queues, decls, lowered[("enqueue", None)])
        self.pifo_windows(p.queues, decls, lowered, sc, {prm.name: prm for prm in params})
        queues = tuple(
            ir.Queue(name=q.name, kind=q.kind, shape=decls[q.name].shape,
                     capacity=sc.capacities[q.name], range=decls[q.name].range,
                     parent=sc.parents.get(q.name), children=tuple(q.of),
                     state=tuple(qstate.get(q.name, ())), clock=sc.clocks.get(q.name),
                     base=decls[q.name].base, pushout=decls[q.name].pushout)
            for q in p.queues)
        return ir.Program(name=p.name, params=tuple(params), queues=queues,
                          globals=tuple(globals_), flow_key=flow_key, flow_vars=tuple(flow_vars),
                          enqueue=lowered[("enqueue", None)],
                          dequeue=lowered.get(("dequeue", None)), ready=ready,
                          reasons=tuple(sc.reasons), marks=tuple(sc.marks),
                          uses_at=sc.uses_at, source=p.span.file,
                          flow_on_dequeue=sc.flow_on_dequeue, warnings=tuple(self.warnings))

    def hook(self, h: ast.Hook, sc: _Scope) -> ir.Hook:
        if h.event == "ready":
            q = sc.queues.get(h.queue or "")
            if q is None:
                raise self.unknown(h.queue or "", h.span, sc.queues)
            if q.name not in sc.parents:
                raise self.error(f"'on ready {q.name}': no queue schedules '{q.name}'", h.span,
                                 f"declare its parent: queue root: pifo(range = 64) of {q.name}")
            if len(h.params) != len(q.dims):
                names = ", ".join(f"i{k}" for k in range(len(q.dims)))
                raise self.error(f"'on ready {q.name}' names {len(h.params)} ind"
                                 f"{'ex' if len(h.params) == 1 else 'ices'}, and '{q.name}' has "
                                 f"{len(q.dims)} dimension{'s' * (len(q.dims) != 1)}", h.span,
                                 f"on ready {q.name}({names})" if names else
                                 f"on ready {q.name} {{ … }}")
        hs = sc.hook_scope(h.event, h.params[0] if h.event == "dequeue" else None, h.queue)
        for name in h.params if h.event == "ready" else ():
            if name in hs.locals_ or name in sc.param_kinds or name in sc.globals_:
                raise self.error(f"'{name}' is already defined", h.span,
                                 "give the index another name")
            hs.locals_[name] = C
        body, ended = self.block(h.body, hs)
        sc.uses_at |= hs.uses_at
        sc.flow_on_dequeue |= hs.flow_on_dequeue
        if not ended and h.event == "enqueue":
            raise self.error("a path of 'on enqueue' ends without enqueue, drop or pass",
                             h.span, "every packet needs an outcome")
        if not ended and h.event == "ready":
            raise self.error(f"a path of 'on ready {h.queue}' ends without placing the queue "
                             "in its parent", h.span, "end every path with: enqueue <parent> "
                             "rank <expression>")
        return ir.Hook(h.params, body, tuple(hs.lets), h.span)

    def flow_key(self, key: tuple[ast.Path, ...], span: Span) -> tuple[str, ...]:
        if not key:
            raise self.error("per-flow state needs the fields that make a flow", span,
                             "e.g. per flow(ip.src, ip.dst, l4.sport, l4.dport, ip.proto)")
        names = []
        for k in key:
            dotted = ".".join(k.parts)
            if (dotted not in FIELDS and dotted not in KEY_ONLY) or dotted == "now":
                raise self.unknown(dotted, k.span, [*FIELDS, *KEY_ONLY])
            names.append(dotted)
        return tuple(names)

    def param(self, p: ast.Param) -> ir.Param:
        value, kind = self.constant(p.default, f"the default of '{p.name}'")
        if p.type is not None and value == 0 and kind is C:
            kind = Kind(p.type)  # a bare 0 fits the declared kind
        if p.type is not None and Kind(p.type) is not kind:
            raise self.error(f"'{p.name}' is declared {p.type}, its default is {_name(kind)}",
                             p.default.span)
        low, high = 0, U64_MAX
        if p.low is not None and p.high is not None:
            low, lk = self.constant(p.low, "a range bound")
            high, hk = self.constant(p.high, "a range bound")
            if lk is not kind or hk is not kind:
                raise self.error(f"the range of '{p.name}' must be {_name(kind)} like its "
                                 "default", p.low.span)
            if low > high:
                raise self.error(f"the range {p.low.text}..{p.high.text} is empty", p.low.span)
            if not low <= value <= high:
                raise self.error(f"the default {p.default.text} is outside "
                                 f"{p.low.text}..{p.high.text}", p.default.span)
        count = None
        if p.count is not None:
            count = self.count(p.count, f"the size of table '{p.name}'", MAX_ARRAY)
        return ir.Param(name=p.name, kind=kind, count=count, default=value, low=low, high=high)

    def queue(self, q: ast.Queue) -> _Decl:
        """Check a queue declaration by itself: its shape, arguments and range."""
        args = {}
        clock = None
        pushout = False
        for a in q.args:
            if a.name not in QUEUE_ARGS[q.kind]:
                raise self.error(f"{q.kind} queues have no '{a.name}'", a.span,
                                 f"{q.kind} takes: {', '.join(sorted(QUEUE_ARGS[q.kind]))}")
            if a.name == "clock":
                clock = a
                continue
            if a.name == "full":
                pushout = self.full(q, a)
                continue
            args[a.name] = self.constant(a.value, f"'{a.name}'")
        shape = []
        for d in q.dims:
            n, _ = self.constant(d, "the number of queues")
            if not 1 <= n <= MAX_ARRAY:
                raise self.error(f"{n} queues: an array holds 1 to {MAX_ARRAY}", d.span)
            shape.append(n)
        count = prod(shape)
        if count > MAX_ARRAY:
            raise self.error(f"{_dims(tuple(shape))} is {count} queues: an array holds 1 to "
                             f"{MAX_ARRAY}", q.span)
        cap = args["capacity"][0] if "capacity" in args else None
        if cap is not None and not 1 <= cap <= MAX_PACKETS:
            raise self.error(f"capacity {cap}: a queue holds 1 to {MAX_PACKETS} packets", q.span)
        rng = 0
        if q.kind == "pifo":
            if "range" not in args:
                raise self.error("a pifo needs a range (ranks per window)", q.span,
                                 "e.g. pifo(range = 4096, capacity = 1000)")
            rng = args["range"][0]
            if rng & (rng - 1) or not 64 <= rng <= 65536:
                raise self.error(f"range {rng}: a power of two from 64 to 65536", q.span,
                                 "ranks beyond two windows are dropped; scale ranks down "
                                 "(e.g. rank = t / 16) to fit")
            if 2 * rng * count > MAX_PIFO_BUCKETS:
                raise self.error(f"{count} pifos of range {rng} need {2 * rng * count} "
                                 "buckets", q.span,
                                 f"at most {MAX_PIFO_BUCKETS}: use a smaller range")
        base = args["base"][0] if "base" in args else None
        return _Decl(tuple(shape), cap, rng, clock, base, pushout)

    def full(self, q: ast.Queue, arg: ast.QueueArg) -> bool:
        """``full = drop`` or ``full = pushout``: whether the queue pushes out."""
        name = ".".join(arg.value.parts) if isinstance(arg.value, ast.Path) else ""
        if name not in FULL:
            raise self.error("a full queue either drops the arrival or pushes out its worst "
                             "packet", arg.value.span, "full = drop (the default) or "
                             "full = pushout")
        if name == "drop":
            return False
        if q.kind == "fifo":
            raise self.error("full = pushout: a fifo keeps arrival order, so it has no worst "
                             "packet to push out", arg.span,
                             "push-out needs ranks: a pifo or an rbtree")
        if q.of:
            raise self.error(f"full = pushout: the entries of '{q.name}' are the queues "
                             "under it, not packets", arg.span,
                             "give push-out to the queues that hold the packets")
        return True

    def pushouts(self, queues: tuple[ast.Queue, ...], decls: dict[str, _Decl],
                 enqueue: ir.Hook) -> None:
        """Push-out chooses among the packets a queue holds in rank order: none of its
        packets may wait for an eligibility time beside it."""
        def walk(body: tuple[ir.Stmt, ...]) -> None:
            for s in body:
                match s:
                    case ir.If(then=then, orelse=orelse):
                        walk(then)
                        walk(orelse)
                    case ir.Enqueue(queue=q, at=at, span=span) if at is not None \
                            and decls[q].pushout:
                        raise self.error(f"'{q}' pushes out (full = pushout), and this packet "
                                         "would wait for its time beside it", span,
                                         "push-out picks among the packets in rank order: "
                                         "leave 'at' out, or the push-out")

        for q in queues:
            d = decls[q.name]
            if d.pushout and d.clock is not None:
                raise self.error(f"'{q.name}' pushes out (full = pushout) and has a clock, on "
                                 "which its packets wait beside it", d.clock.span,
                                 "push-out picks among the packets in rank order: leave "
                                 "one of them out")
        walk(enqueue.body)

    def clock(self, arg: ast.QueueArg, sc: _Scope) -> str:
        """``clock = v``: a global of the program, on which eligibility counts."""
        name = ".".join(arg.value.parts) if isinstance(arg.value, ast.Path) else ""
        if name not in sc.globals_ or sc.globals_[name] in (R, BOOL):
            raise self.error("a clock is a global of the program (a time, bytes or a count)",
                             arg.value.span, "state global { vtime: bytes = 0 } and "
                             "clock = vtime")
        return name

    def tree(self, queues: tuple[ast.Queue, ...], sc: _Scope) -> None:
        """Parents and children: one parent each, no cycle, shapes that fit, the depth."""
        for q in queues:
            for name in q.of:
                child = sc.queues.get(name)
                if child is None:
                    raise self.unknown(name, q.span, sc.queues)
                if child is q:
                    raise self.error(f"'{q.name}' cannot schedule itself", q.span)
                if q.kind == "rbtree":
                    raise self.error("an rbtree cannot be a parent", q.span,
                                     "a parent is a fifo (round robin) or a pifo (by rank): "
                                     "tokens move under the lock, where no rbtree node can be "
                                     "allocated")
                if name in sc.parents:
                    first = sc.queues[sc.parents[name]]
                    again = "is named twice" if first is q else \
                        f"already has the parent '{first.name}'"
                    raise self.error(f"'{name}' {again}", q.span,
                                     f"a queue has one parent ('{first.name}', at {first.span})")
                sc.parents[name] = q.name
        for q in queues:
            up, level = sc.parents.get(q.name), 1
            while up is not None and up != q.name and level <= len(queues):
                up, level = sc.parents.get(up), level + 1
            if up == q.name:
                raise self.error(f"'{q.name}' is under itself: its parents go round in a circle",
                                 q.span, "a tree has a top, a queue that nothing schedules")
            if level > MAX_DEPTH:
                raise self.error(f"'{q.name}' is level {level} of its tree: a tree has at most "
                                 f"{MAX_DEPTH} levels", q.span)
            parent = sc.parents.get(q.name)
            if parent is None:
                continue
            mine, theirs = sc.shapes[q.name], sc.shapes[parent]
            if mine != theirs and mine[:-1] != theirs:
                raise self.error(f"'{q.name}{_dims(mine)}' under '{parent}{_dims(theirs)}': "
                                 f"under each queue of '{parent}' go one queue or an array",
                                 q.span, f"queue {q.name}{_dims(theirs)}: … or queue "
                                 f"{q.name}{_dims(theirs)}[n]: …")
        total = 0
        for q in queues:
            for name in q.of:
                total += prod(sc.shapes[name])
                if total > MAX_TOKENS:
                    raise self.error(f"'{q.name}' brings the queues under parents to {total}",
                                     q.span, f"a program has at most {MAX_TOKENS} queues under "
                                     "parents: use smaller arrays")

    def capacities(self, queues: tuple[ast.Queue, ...], decls: dict[str, _Decl],
                   sc: _Scope) -> dict[str, int]:
        """A queue's capacity: as declared, else 1024 packets; a parent's holds all the
        queues under it (one entry each)."""
        out = {}
        for q in queues:
            under = sum(sc.shapes[c][-1] if len(sc.shapes[c]) > len(sc.shapes[q.name]) else 1
                        for c in q.of)
            cap = decls[q.name].capacity
            if cap is None:
                cap = under or 1024
            if cap < under:
                raise self.error(f"capacity {cap}: '{q.name}' must hold all {under} queues under "
                                 "it", q.span, "leave the capacity out")
            out[q.name] = cap
        return out

    def pifo_windows(self, queues: tuple[ast.Queue, ...], decls: dict[str, _Decl],
                     hooks: dict[tuple[str, str | None], ir.Hook], sc: _Scope,
                     params: dict[str, ir.Param]) -> None:
        """Warn of a pifo whose window moves while its ranks pick a level among a few
        spread wider than its two windows (a DSCP class times a large step): the
        window starts at the first rank the empty pifo takes and moves down only while
        its entries stay within two windows, so a rank further below waits behind the
        lowest. (Levels within two windows keep their order: docs/queues.md.)"""
        ranks: dict[str, Bounds] = {}

        def walk(body: tuple[ir.Stmt, ...], lets: dict[str, Bounds]) -> None:
            for s in body:
                match s:
                    case ir.Let(name=n, value=v):
                        b = bounds(v, params, lambda x: lets.get(x))
                        lets[n] = union(lets[n], b) if n in lets else b
                    case ir.If(then=then, orelse=orelse):
                        walk(then, lets)
                        walk(orelse, lets)
                    case ir.Enqueue(queue=q, rank=r):
                        b = bounds(r, params, lambda x: lets.get(x))
                        ranks[q] = union(ranks[q], b) if q in ranks else b

        for (event, queue), hook in hooks.items():
            lets: dict[str, Bounds] = {}
            if event == "ready" and queue is not None:
                lets.update((i, (0, n - 1)) for i, n in zip(hook.params, sc.shapes[queue],
                                                             strict=True))
            if event != "dequeue":
                walk(hook.body, lets)
        for q in queues:
            b, d = ranks.get(q.name), decls[q.name]
            if q.kind != "pifo" or d.base is not None or b is None or b[1] - b[0] < 2 * d.range:
                continue
            rng = min(max(d.range, 1 << max(6, (b[1] - b[0]).bit_length() - 1)), 65536)
            self.warn(f"the ranks of '{q.name}' lie in {b[0]}..{b[1]}, wider than its two "
                      "windows, and its window moves: it starts at the first rank the empty "
                      "pifo holds, so a rank more than two windows below the highest it holds "
                      "waits behind the lowest (strict priority is lost)", q.span,
                      f"fix its window: pifo(range = {rng}, base = {b[0]})")

    def pifo_storage(self, queues: tuple[ast.Queue, ...], decls: dict[str, _Decl]) -> None:
        total = 0
        for q in queues:
            total += 2 * decls[q.name].range * prod(decls[q.name].shape)
            if total > MAX_PIFO_STORAGE:
                raise self.error(f"the pifos up to '{q.name}' need {total} buckets", q.span,
                                 f"a program's pifos have at most {MAX_PIFO_STORAGE}: use "
                                 "smaller ranges")

    def rbtree_roots(self, queues: tuple[ast.Queue, ...]) -> None:
        rbtrees = [q for q in queues if q.kind == "rbtree"]
        if len(rbtrees) > MAX_RBTREES:
            q = rbtrees[MAX_RBTREES]
            raise self.error(f"'{q.name}' is rbtree declaration {MAX_RBTREES + 1}: a program "
                             f"has at most {MAX_RBTREES}", q.span,
                             "each is one kernel rbtree (an array too, whatever its size): "
                             "make the rbtrees one array, e.g. queue t[16]: rbtree()")


@dataclass(frozen=True, slots=True)
class _Decl:
    """What a queue declaration says by itself."""

    shape: tuple[int, ...]
    capacity: int | None  # as declared
    range: int
    clock: ast.QueueArg | None
    base: int | None
    pushout: bool  # full = pushout


def _dims(shape: tuple[int, ...]) -> str:
    return "".join(f"[{n}]" for n in shape)


def _which(dims: int) -> str:
    """``[i]``, ``[i][j]``, …: how to say which queue of an array of that many dimensions."""
    return "".join(f"[{c}]" for c in "ijklmnop"[:dims])


def _lower_arith(op: str, lv: ir.Expr, lk: Kindish, rv: ir.Expr, rk: Kindish,
                 signed: bool) -> ir.Expr:
    """Arithmetic with the unit conversions made explicit (canonical units)."""
    if op == "*" and {lk, rk} == {R, T}:  # bit/s × ns = bytes × 8e9
        return ir.Arith("/", ir.Arith("*", lv, rv), ir.Const(S_PER_BYTE_BIT), signed)
    if op == "/" and lk is B and rk in (R, T):  # bytes / (bit/s) = ns × 8e9, and back
        return ir.Arith("/", ir.Arith("*", lv, ir.Const(S_PER_BYTE_BIT)), rv, signed)
    return ir.Arith(op, lv, rv, signed and op in "/%")


def check(program: ast.Program, source: str) -> ir.Program:
    """The program's IR; raises a SourceError for the first mistake in it."""
    return _Checker(source).program(program)
