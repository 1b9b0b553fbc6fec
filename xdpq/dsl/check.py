"""Semantic checks: names, kinds and units, hooks, queues, parameter ranges.

Every value has a kind (time, bytes, rate, count, bool) and arithmetic
follows the units: time ± time is time, bytes / rate is time, rate × time is
bytes, X / count is X, X / X is a count, and anything else (adding a time
to a rate) is an error. Arithmetic is unsigned 64-bit: it wraps; x / 0 is 0
and x % 0 is x (BPF's own rule, the same in the simulator).

Still to come: lowering the checked program into the IR.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

from xdpq.dsl import ast
from xdpq.dsl.units import Kind, UnitError, quantity
from xdpq.errors import SourceError, Span

T, B, R, C, BOOL = Kind.TIME, Kind.BYTES, Kind.RATE, Kind.COUNT, Kind.BOOL
# A bare 0 fits any kind where the other side says which (``vtime: time = 0``,
# ``pkt.len > 0``, ``now + 0``); in ``*`` and ``/``, and any other number
# without a unit, it is a count.
ZERO = "zero"
Kindish = Kind | str

# Packet fields usable in expressions, by display-filter name.
FIELDS: dict[str, Kind] = {
    "pkt.len": B, "now": T,
    "ip.dscp": C, "ip.ecn": C, "ip.proto": C, "ip.ttl": C, "ip.version": C,
    "ip6.flow": C, "vlan.id": C,
    "l4.sport": C, "l4.dport": C, "tcp.sport": C, "tcp.dport": C, "tcp.flags": C,
    "udp.sport": C, "udp.dport": C,
}
# Fields that can only key per-flow state (addresses are not numbers).
KEY_ONLY = {"ip.src", "ip.dst", "ip6.src", "ip6.dst"}
# What a dequeue hook can read of the packet it got.
DEQUEUED = {"rank": C, "len": B, "enqueued": T}
QUEUE_ARGS = {"fifo": {"capacity"}, "rbtree": {"capacity"}, "pifo": {"capacity", "range"}}
MAX_PACKETS = 65536
MAX_ARRAY = 4096

_SUM = {(k, k): k for k in (T, B, R, C)}
_PRODUCT = {(C, C): C, (T, C): T, (C, T): T, (B, C): B, (C, B): B, (R, C): R, (C, R): R,
            (R, T): B, (T, R): B}
_QUOTIENT = {(T, C): T, (B, C): B, (R, C): R, (C, C): C, (T, T): C, (B, B): C, (R, R): C,
             (B, R): T, (B, T): R}


def _name(kind: Kindish) -> str:
    return {T: "a time", B: "bytes", R: "a rate", C: "a count", BOOL: "true/false",
            ZERO: "a count"}[kind]


def _fits(kind: Kindish, want: Kind) -> bool:
    return kind is want or (kind == ZERO and want is not BOOL)


@dataclass
class _Scope:
    params: dict[str, ast.Param] = field(default_factory=dict)
    globals_: dict[str, Kind] = field(default_factory=dict)
    flow: dict[str, Kind] = field(default_factory=dict)
    klass: dict[str, Kind] = field(default_factory=dict)
    locals_: dict[str, Kindish] = field(default_factory=dict)
    param_kinds: dict[str, Kind] = field(default_factory=dict)
    queues: dict[str, ast.Queue] = field(default_factory=dict)
    packet: str | None = None  # the dequeue hook's packet name


class _Checker:
    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, message: str, span: Span, hint: str = "") -> SourceError:
        return SourceError(message, span, self.source, hint)

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

    # -- expressions ---------------------------------------------------------------

    def unknown(self, name: str, span: Span, known: Iterable[str]) -> SourceError:
        close = difflib.get_close_matches(name, list(known), n=1)
        return self.error(f"unknown name '{name}'", span,
                          f"did you mean '{close[0]}'?" if close else "")

    def path(self, p: ast.Path, sc: _Scope) -> Kindish:
        dotted = ".".join(p.parts)
        head, *rest = p.parts
        if not rest:
            for table in (sc.locals_, sc.param_kinds, sc.globals_):
                if head in table:
                    return table[head]
            if head == "now":
                return T
            raise self.unknown(head, p.span, [*sc.locals_, *sc.param_kinds, *sc.globals_, "now"])
        if head == sc.packet and len(rest) == 1:
            if rest[0] not in DEQUEUED:
                raise self.error(f"a dequeued packet has no '{rest[0]}'", p.span,
                                 f"it has {', '.join(DEQUEUED)}")
            return DEQUEUED[rest[0]]
        if head in ("flow", "class"):
            table = sc.flow if head == "flow" else sc.klass
            if not table:
                raise self.error(f"'{head}.{rest[0]}' but no per-{head} state is declared", p.span)
            if rest[0] not in table or len(rest) > 1:
                raise self.unknown(dotted, p.span, [f"{head}.{n}" for n in table])
            return table[rest[0]]
        if dotted in KEY_ONLY:
            raise self.error(f"'{dotted}' is an address: it can key per-flow state, not be "
                             "computed with", p.span)
        if dotted in FIELDS:
            if sc.packet is not None:
                raise self.error(f"'{dotted}' in 'on dequeue': packet fields are read on "
                                 f"enqueue; the dequeued packet is '{sc.packet}'", p.span)
            return FIELDS[dotted]
        raise self.unknown(dotted, p.span, FIELDS)

    def expr(self, e: ast.Expr, sc: _Scope) -> Kindish:
        match e:
            case ast.Number():
                value, kind = self.number(e)
                return ZERO if value == 0 and kind is C else kind
            case ast.Bool():
                return BOOL
            case ast.Path():
                return self.path(e, sc)
            case ast.Call(func=func, args=args):
                if func not in ("min", "max"):
                    raise self.error(f"unknown function '{func}'", e.span, "functions: min, max")
                if len(args) < 2:
                    raise self.error(f"{func}() takes two or more values", e.span)
                kinds = [self.expr(a, sc) for a in args]
                real = {k for k in kinds if k != ZERO}
                if len(real) > 1 or BOOL in real:
                    raise self.error(f"{func}() of {' and '.join(_name(k) for k in kinds)}", e.span,
                                     "all its values must be of one kind")
                return real.pop() if real else ZERO
            case ast.Unary(op="not", operand=x):
                if (k := self.expr(x, sc)) is not BOOL:
                    raise self.error(f"'not' of {_name(k)}", e.span, "'not' takes true/false")
                return BOOL
            case ast.Unary(op="-"):
                raise self.error("values are unsigned: there is no negation", e.span,
                                 "subtract from something larger, or compare instead")
            case ast.Binary(op=op, left=left, right=right):
                return self.binary(op, self.expr(left, sc), self.expr(right, sc), e)
        raise self.error("not an expression", e.span)

    def binary(self, op: str, lk: Kindish, rk: Kindish, e: ast.Binary) -> Kindish:
        if ZERO in (lk, rk) and op not in ("and", "or"):
            other = rk if lk == ZERO else lk
            if op in ("*", "/"):
                # A bare 0 is a count here: its kind cannot be told from the other side.
                lk, rk = (C if lk == ZERO else lk), (C if rk == ZERO else rk)
            elif other == ZERO:
                return BOOL if op in ("==", "!=", "<", "<=", ">", ">=") else ZERO
            else:
                lk = rk = other  # + - % and comparisons: the zero takes the other side's kind
        if op in ("and", "or"):
            if lk is not BOOL or rk is not BOOL:
                raise self.error(f"'{op}' of {_name(lk)} and {_name(rk)}", e.span,
                                 f"'{op}' takes true/false on both sides")
            return BOOL
        if op in ("==", "!=", "<", "<=", ">", ">="):
            if lk is not rk:
                raise self.error(f"comparing {_name(lk)} with {_name(rk)}", e.span)
            if lk is BOOL and op not in ("==", "!="):
                raise self.error(f"'{op}' on true/false values", e.span)
            return BOOL
        table = {"+": _SUM, "-": _SUM, "*": _PRODUCT, "/": _QUOTIENT, "%": _SUM}[op]
        if (lk, rk) in table:
            return table[(lk, rk)]
        verb = {"+": "adding", "-": "subtracting", "*": "multiplying", "/": "dividing",
                "%": "taking the remainder of"}[op]
        hint = ""
        if op in "+-" and {lk, rk} == {T, B}:
            hint = "a virtual time counted in bytes (as in fair queueing) should be declared bytes"
        raise self.error(f"{verb} {_name(lk)} and {_name(rk)}", e.span, hint)

    # -- statements ----------------------------------------------------------------

    def block(self, body: tuple[ast.Stmt, ...], sc: _Scope, hook: str) -> bool:
        """Check statements; True when every path ends in enqueue, drop or pass."""
        ended = False
        for stmt in body:
            if ended:
                raise self.error("this statement can never run: the path already ended",
                                 stmt.span)
            ended = self.stmt(stmt, sc, hook)
        return ended

    def stmt(self, s: ast.Stmt, sc: _Scope, hook: str) -> bool:
        match s:
            case ast.Let(name=name, value=value):
                if name in sc.locals_ or name in sc.param_kinds or name in sc.globals_:
                    raise self.error(f"'{name}' is already defined", s.span,
                                     "give the new value another name")
                sc.locals_[name] = self.expr(value, sc)
                return False
            case ast.Assign(target=target, value=value):
                self.assign(target, self.expr(value, sc), sc)
                return False
            case ast.If(cond=cond, then=then, orelse=orelse):
                if (k := self.expr(cond, sc)) is not BOOL:
                    raise self.error(f"the condition is {_name(k)}, not true/false", cond.span,
                                     "compare it: e.g. x > 0")
                saved = dict(sc.locals_)
                a = self.block(then, sc, hook)
                sc.locals_ = dict(saved)
                b = self.block(orelse, sc, hook) if orelse else False
                sc.locals_ = saved
                return a and b
            case ast.Enqueue():
                if hook != "enqueue":
                    raise self.error("'enqueue' in 'on dequeue'", s.span,
                                     "packets are enqueued in 'on enqueue'")
                self.enqueue(s, sc)
                return True
            case ast.Drop() | ast.Pass():
                if isinstance(s, ast.Pass) and hook != "enqueue":
                    raise self.error("'pass' in 'on dequeue': the packet was already taken",
                                     s.span)
                return True
        raise self.error("not a statement", s.span)

    def assign(self, target: ast.Path, kind: Kindish, sc: _Scope) -> None:
        head, *rest = target.parts
        if not rest and head in sc.globals_:
            want = sc.globals_[head]
        elif head in ("flow", "class") and rest:
            want = self.path(target, sc)
        elif not rest and head in sc.param_kinds:
            raise self.error(f"'{head}' is a parameter: it is set at deploy time, not here",
                             target.span, "keep changing values in state")
        elif not rest and head in sc.locals_:
            raise self.error(f"'{head}' was defined with let and cannot change", target.span,
                             "declare it in a state block to change it")
        else:
            raise self.error(f"cannot assign to '{'.'.join(target.parts)}'", target.span,
                             "only state (global, flow., class.) can change")
        if not _fits(kind, want):
            raise self.error(f"'{'.'.join(target.parts)}' holds {_name(want)}, "
                             f"not {_name(kind)}", target.span)

    def enqueue(self, s: ast.Enqueue, sc: _Scope) -> None:
        q = sc.queues.get(s.queue)
        if q is None:
            raise self.unknown(s.queue, s.span, sc.queues)
        if q.count is not None and s.index is None:
            raise self.error(f"'{s.queue}' is an array of queues: say which one",
                             s.span, f"enqueue {s.queue}[i]")
        if q.count is None and s.index is not None:
            raise self.error(f"'{s.queue}' is a single queue, not an array", s.index.span)
        if s.index is not None and not _fits(k := self.expr(s.index, sc), C):
            raise self.error(f"a queue index is a count, not {_name(k)}", s.index.span)
        if s.rank is not None and (k := self.expr(s.rank, sc)) in (BOOL, R):
            raise self.error(f"a rank is a time, bytes or a count, not {_name(k)}", s.rank.span)
        if s.at is not None and not _fits(k := self.expr(s.at, sc), T):
            raise self.error(f"'at' takes a time (when the packet may leave), not {_name(k)}",
                             s.at.span)

    # -- declarations --------------------------------------------------------------

    def program(self, p: ast.Program) -> None:
        sc = _Scope()
        # Parameters, queues and global state share one namespace; per-flow and
        # per-class fields are reached through flow. and class., each its own.
        seen: dict[str, dict[str, Span]] = {"": {}, "flow": {}, "class": {}}

        def declare(name: str, span: Span, space: str = "") -> None:
            if name in seen[space]:
                raise self.error(f"'{name}' is declared twice", span,
                                 f"first declared at {seen[space][name]}")
            seen[space][name] = span

        for prm in p.params:
            declare(prm.name, prm.span)
            sc.param_kinds[prm.name] = self.param(prm)
            sc.params[prm.name] = prm
        for q in p.queues:
            declare(q.name, q.span)
            self.queue(q)
            sc.queues[q.name] = q
        for st in p.states:
            space, table = {ast.GlobalScope: ("", sc.globals_), ast.FlowScope: ("flow", sc.flow),
                            ast.ClassScope: ("class", sc.klass)}[type(st.scope)]
            if isinstance(st.scope, ast.FlowScope):
                for key in st.scope.key:
                    dotted = ".".join(key.parts)
                    if dotted not in FIELDS and dotted not in KEY_ONLY:
                        raise self.unknown(dotted, key.span, [*FIELDS, *KEY_ONLY])
            for f in st.fields:
                declare(f.name, f.span, space)
                kind = Kind(f.type)
                if not _fits(k := self.expr(f.default, _Scope()), kind):
                    raise self.error(f"'{f.name}' holds {_name(kind)}, its initial value is "
                                     f"{_name(k)}", f.default.span)
                table[f.name] = kind
        hooks = {}
        for h in p.hooks:
            if h.event in hooks:
                raise self.error(f"a second 'on {h.event}' hook", h.span,
                                 f"the first is at {hooks[h.event].span}")
            hooks[h.event] = h
        if "enqueue" not in hooks:
            raise self.error("the program has no 'on enqueue' hook", p.span,
                             "add: on enqueue { enqueue <queue> rank <expression> }")
        if not p.queues:
            raise self.error("the program declares no queue", p.span,
                             "add: queue q: fifo(capacity = 1000)")
        for h in hooks.values():
            hook_scope = _Scope(sc.params, sc.globals_, sc.flow, sc.klass, {}, sc.param_kinds,
                                sc.queues, h.packet)
            if not self.block(h.body, hook_scope, h.event) and h.event == "enqueue":
                raise self.error("a path of 'on enqueue' ends without enqueue, drop or pass",
                                 h.span, "every packet needs an outcome")

    def param(self, p: ast.Param) -> Kind:
        value, kind = self.constant(p.default, f"the default of '{p.name}'")
        if p.type is not None and value == 0 and kind is C:
            kind = Kind(p.type)  # a bare 0 fits the declared kind
        if p.type is not None and Kind(p.type) is not kind:
            raise self.error(f"'{p.name}' is declared {p.type}, its default is {_name(kind)}",
                             p.default.span)
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
        return kind

    def queue(self, q: ast.Queue) -> None:
        args = {}
        for a in q.args:
            if a.name not in QUEUE_ARGS[q.kind]:
                raise self.error(f"{q.kind} queues have no '{a.name}'", a.span,
                                 f"{q.kind} takes: {', '.join(sorted(QUEUE_ARGS[q.kind]))}")
            args[a.name] = self.constant(a.value, f"'{a.name}'")
        if q.count is not None:
            n, _ = self.constant(q.count, "the number of queues")
            if not 1 <= n <= MAX_ARRAY:
                raise self.error(f"{n} queues: an array holds 1 to {MAX_ARRAY}", q.count.span)
        cap = args.get("capacity", (1024, C))[0]
        if not 1 <= cap <= MAX_PACKETS:
            raise self.error(f"capacity {cap}: a queue holds 1 to {MAX_PACKETS} packets", q.span)
        if q.kind == "pifo":
            if "range" not in args:
                raise self.error("a pifo needs a range (ranks per window)", q.span,
                                 "e.g. pifo(range = 4096, capacity = 1000)")
            rng = args["range"][0]
            if rng & (rng - 1) or not 64 <= rng <= 65536:
                raise self.error(f"range {rng}: a power of two from 64 to 65536", q.span,
                                 "ranks beyond two windows are dropped; scale ranks down "
                                 "(e.g. rank = t / 16) to fit")


def check(program: ast.Program, source: str) -> None:
    """Raise a SourceError for the first mistake in a parsed program."""
    _Checker(source).program(program)
