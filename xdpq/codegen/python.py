"""IR → a Python scheduler class: the simulator's back end, beside ``c.py``.

The IR is compiled once into Python source (one method per hook, locals as
Python locals, the IR's arithmetic rules spelled out inline) and ``exec``-ed;
no tree is walked per packet. The class follows the
``Scheduler`` protocol below and keeps its packets in the reference queues of ``xdpq.queues``,
whose rules are the kernel's. Every step mirrors the C that
``xdpq.codegen.c`` generates from the same IR: the same order of queues,
the same token rules for hierarchies, the same drops.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Mapping
from math import isqrt
from typing import Any, Protocol

from xdpq import ir
from xdpq.dsl import load
from xdpq.fields import FIELDS
from xdpq.ir.layout import layout
from xdpq.ir.outcomes import Claim, Deq, Dequeued
from xdpq.ir.params import resolve_params
from xdpq.packet import ParseStatus, hash_final, hash_word
from xdpq.queues import Enq, Fifo, Pifo, RBTree

M64 = (1 << 64) - 1
_ADDR = struct.Struct("!4I")

DEQ_PY = {"len": "e[2]", "rank": "e[0]", "enqueued": "enqueued",
          "index": "index", "parent_rank": "parent_rank"}


def _div(a: int, b: int) -> int:
    return a // b if b else 0


def _mod(a: int, b: int) -> int:
    return a % b if b else a


_HASHES: dict[tuple[int | bytes, ...], int] = {}


def _hash(values: tuple[int | bytes, ...]) -> int:
    """The hash of fields' values: an address (16 bytes) is its four words, any other
    value its low 32 bits. Remembered, as a flow's packets hash alike."""
    h = _HASHES.get(values)
    if h is None:
        words = [w for v in values for w in (_ADDR.unpack(v) if isinstance(v, bytes) else (v,))]
        h = 0
        for w in words:
            h = hash_word(h, w & 0xFFFFFFFF)
        h = hash_final(h, 4 * len(words))
        if len(_HASHES) >= 1 << 16:
            _HASHES.clear()
        _HASHES[values] = h
    return h


_OUT_OF_WINDOW = Enq.OUT_OF_WINDOW

# A child queue's entry in its parent is the item -1 - its token (``ir.layout``):
# never a packet's item (those are >= 0).


def _schedule_pifo(q: Pifo, token: int, rank: int) -> None:
    """kern/lang.h xdpq_pifo_schedule: a token is never refused."""
    if q.enqueue(rank, -1 - token, 0) is _OUT_OF_WINDOW:
        q.enqueue((q.base + 2 * q.range - 1) & M64, -1 - token, 0)


def _schedule_fifo(q: Fifo, token: int, rank: int) -> None:
    q.enqueue(rank, -1 - token, 0)


def _cheap(e: ir.Expr) -> bool:
    """An expression that costs less to read twice than a call costs."""
    return isinstance(e, ir.Const | ir.Global | ir.FlowVar | ir.Local | ir.Now | ir.DeqField) or (
        isinstance(e, ir.ParamRef) and e.index is None)


def _mentions(node: object, name: str) -> bool:
    """Whether an IR tree reads the dequeued packet's field ``name``."""
    match node:
        case ir.DeqField(name=n):
            return n == name
        case tuple():
            return any(_mentions(n, name) for n in node)
        case _ if hasattr(node, "__dataclass_fields__"):
            return any(_mentions(getattr(node, f), name) for f in node.__dataclass_fields__)
    return False


# Hot constants as plain names: looking up an Enum member costs ten times more.
_RUNTIME = {
    "_CLAIM": Claim.CLAIM, "_OK": Enq.OK, "_CLAMPED": Enq.CLAMPED, "_DEQ_OK": Deq.OK,
    "_LATER": Deq.LATER,
    "_EMPTY": (Deq.EMPTY, -1, 0, 0, 0),
    "_div": _div, "_mod": _mod, "_hash": _hash,
    "_schedule_pifo": _schedule_pifo, "_schedule_fifo": _schedule_fifo, "isqrt": isqrt,
    "_ADDR": _ADDR, "Claim": Claim, "Deq": Deq, "Dequeued": Dequeued, "Enq": Enq,
    "Fifo": Fifo, "Pifo": Pifo, "RBTree": RBTree, "M64": M64, "PARSE_OK": ParseStatus.OK,
}


class PacketFields(Protocol):
    len: int
    dscp: int
    flow_hash: int
    ip_ver: int


class Scheduler(Protocol):
    def classify(self, pkt: PacketFields, now: int) -> Claim: ...
    def enqueue(self, pkt: PacketFields, item: int, now: int) -> Enq: ...

    def admit(self, pkt: PacketFields, item: int, now: int) -> Claim | Enq:
        """``classify`` and, when it claims, ``enqueue``, in one call (what the
        simulator's loop calls): the claim when it does not, else the outcome."""
        ...
    def dequeue(self, now: int) -> Dequeued: ...

    # Drops by the program's own reasons: name -> [packets, bytes]; and which items
    # ``admit`` and ``step`` dropped, in order, with the reason.
    reasons: dict[str, list[int]]
    dropped: list[tuple[int, str]]
    # The parameters it was made with (by name, as resolve_params gives them), and
    # the program it was generated from.
    params: dict[str, Any]
    program: ir.Program

    def step(self, now: int) -> tuple[Deq, int, int, int, int]:
        """``dequeue`` as a plain tuple of Dequeued's fields (what the simulator's
        loop calls: it makes no object per packet); ``dequeue`` wraps it."""
        ...


class _Emitter:
    def __init__(self, prog: ir.Program) -> None:
        self.p = prog
        self.out: list[str] = []
        self.hook = "enqueue"
        self.admitting = False  # in admit(), an enqueue statement enqueues at once
        self.flow_index = {v.name: i for i, v in enumerate(prog.flow_vars)}
        self.qstate_index = {q.name: {v.name: i for i, v in enumerate(q.state)}
                             for q in prog.queues}
        self.lay = layout(prog)
        self.leaf_ids = self.lay.leaf_ids
        self.ready_array = ""  # in on ready: the array whose queue it places
        # The enqueue time is kept only for a dequeue hook that reads it.
        self.timed = prog.dequeue is not None and _mentions(prog.dequeue.body, "enqueued")

    def line(self, text: str, depth: int) -> None:
        self.out.append("    " * depth + text)

    def size(self, name: str) -> int:
        return self.p.queue(name).count or 1

    def nonzero(self, e: ir.Expr) -> bool:
        """A divisor that is never 0: a constant, or a parameter whose range excludes 0."""
        match e:
            case ir.Const(value=v):
                return v != 0
            case ir.ParamRef(name=n):
                return next(p.low for p in self.p.params if p.name == n) > 0
        return False

    def at_index(self, idx: ir.Expr, n: int) -> str:
        return f"({self.expr(idx)}) % {n}"

    # -- expressions ---------------------------------------------------------------

    def expr(self, e: ir.Expr) -> str:
        match e:
            case ir.Const(value=v):
                return str(v)
            case ir.ParamRef(name=n, index=None):
                return f"self.p_{n}"
            case ir.ParamRef(name=n, index=idx):
                count = next(p.count for p in self.p.params if p.name == n) or 1
                return f"self.p_{n}[{self.at_index(idx, count)}]"
            case ir.Global(name=n):
                return f"self.g_{n}"
            case ir.FlowVar(name=n):
                return f"f[{self.flow_index[n]}]"
            case ir.QState(array=a, index=idx, name=n):
                return f"self.s_{a}[{self.at_index(idx, self.size(a))}][{self.qstate_index[a][n]}]"
            case ir.Attr(queue=q, index=idx, name=attr):
                ref = f"self.q_{q}" if idx is None else \
                    f"self.q_{q}[{self.at_index(idx, self.size(q))}]"
                # head: the first entry's size (a temporary name no program can use)
                head = f"(_h[2] if (_h := {ref}.first()) is not None else 0)"
                return {"head": head, "packets": f"len({ref})",
                        "bytes": f"{ref}.bytes"}[attr]
            case ir.Field(name=n):
                return FIELDS[n].py
            case ir.Now():
                return "now"
            case ir.DeqField(name=n):
                return DEQ_PY[n]
            case ir.Local(name=n):
                return f"l_{n}"
            case ir.Hash(fields=fields):
                words = ", ".join(FIELDS[f].py for f in fields)
                return f"_hash(({words},))"
            case ir.Arith(op="/" | "%" as op, left=a, right=b) if self.nonzero(b):
                return f"({self.expr(a)} {'//' if op == '/' else '%'} {self.expr(b)})"
            case ir.Arith(op="/", left=a, right=b):
                return f"_div({self.expr(a)}, {self.expr(b)})"
            case ir.Arith(op="%", left=a, right=b):
                return f"_mod({self.expr(a)}, {self.expr(b)})"
            case ir.Arith(op=op, left=a, right=b):
                return f"(({self.expr(a)} {op} {self.expr(b)}) & M64)"
            case ir.Cmp() | ir.Logic() | ir.Not():
                return f"(1 if {self.cond(e)} else 0)"
            case ir.Sqrt(operand=a):
                return f"isqrt({self.expr(a)})"
            case ir.MinMax(op=op, args=(x, y)) if _cheap(x) and _cheap(y):
                a, b = self.expr(x), self.expr(y)  # no call to the builtin
                return f"({a} if {a} {'>=' if op == 'max' else '<='} {b} else {b})"
            case ir.MinMax(op=op, args=args):
                return f"{op}({', '.join(self.expr(a) for a in args)})"
        raise AssertionError(f"no Python for {e!r}")

    def cond(self, e: ir.Expr) -> str:
        match e:
            case ir.Cmp(op=op, left=a, right=b):
                return f"({self.expr(a)} {op} {self.expr(b)})"
            case ir.Logic(op=op, left=a, right=b):
                return f"({self.cond(a)} {op} {self.cond(b)})"
            case ir.Not(operand=a):
                return f"(not {self.cond(a)})"
        return f"({self.expr(e)} != 0)"

    # -- statements ----------------------------------------------------------------

    def block(self, body: tuple[ir.Stmt, ...], d: int) -> None:
        if not body:
            self.line("pass", d)
        for s in body:
            self.stmt(s, d)

    def stmt(self, s: ir.Stmt, d: int) -> None:
        match s:
            case ir.Let(name=n, value=v):
                self.line(f"l_{n} = {self.expr(v)}", d)
            case ir.Store(target=t, value=v):
                self.line(f"{self.expr(t)} = {self.expr(v)}", d)
            case ir.If(cond=c, then=then, orelse=orelse):
                self.line(f"if {self.cond(c)}:", d)
                self.block(then, d + 1)
                if orelse:
                    self.line("else:", d)
                    self.block(orelse, d + 1)
            case ir.Enqueue() if self.hook == "ready":
                kind = self.p.queue(s.queue).kind
                base = self.lay.token_base[self.ready_array]
                token = f"i + {base}" if base else "i"
                self.line(f"_schedule_{kind}(self.q_{s.queue}, {token}, {self.expr(s.rank)})", d)
                self.line("return", d)
            case ir.Enqueue(queue=q, index=idx, rank=rank, at=at):
                index = self.at_index(idx, self.size(q)) if idx is not None else "0"
                at_py = self.expr(at) if at is not None else "0"
                if self.admitting:
                    self.line(f"index, rank, at = {index}, {self.expr(rank)}, {at_py}", d)
                    self.insertion(self.p.queue(q), d)
                else:
                    self.line(f"self.pending = ({self.leaf_ids[q]}, {index}, {self.expr(rank)}, "
                              f"{at_py})", d)
                    self.line("return _CLAIM", d)
            case ir.Drop(reason=r):
                size = "pkt.len" if self.hook == "enqueue" else "e[2]"
                self.line(f"c = self.reasons[{r!r}]", d)
                self.line(f"c[0] += 1; c[1] += {size}", d)
                if self.hook != "enqueue" or self.admitting:  # classify() has no item
                    item = "item" if self.hook == "enqueue" else "e[1]"
                    self.line(f"self.dropped.append(({item}, {r!r}))", d)
                self.line("return Claim.ADMISSION" if self.hook == "enqueue"
                          else "return (Deq.DROP, e[1], e[0], e[2], 0)", d)
            case ir.Pass():
                self.line("return Claim.UNCLAIMED", d)

    # -- the class -----------------------------------------------------------------

    def program(self) -> str:
        self.line("class Scheduler:", 0)
        self.init()
        self.classify(admitting=False)
        self.enqueue()
        self.classify(admitting=True)
        for array, hook in self.p.ready.items():
            self.ready(array, hook)
        self.on_dequeue()
        self.dequeue()
        return "\n".join(self.out) + "\n"

    def init(self) -> None:
        p = self.p
        self.line("def __init__(self, params):", 1)
        self.line("self.params = params", 2)
        for prm in p.params:
            value = f"params[{prm.name!r}]"
            self.line(f"self.p_{prm.name} = {value}", 2)
        for v in p.globals:
            self.line(f"self.g_{v.name} = {v.init}", 2)
        self.line("self.flows = {}", 2)
        self.line(f"self.flow_init = {[v.init for v in p.flow_vars]!r}", 2)
        for q in p.queues:
            make = {"fifo": f"Fifo({q.capacity})", "pifo": f"Pifo({q.capacity}, {q.range})",
                    "rbtree": f"RBTree({q.capacity})"}[q.kind]
            if q.count is None:
                self.line(f"self.q_{q.name} = {make}", 2)
            else:
                self.line(f"self.q_{q.name} = [{make} for _ in range({q.count})]", 2)
            if q.state:
                inits = [v.init for v in q.state]
                self.line(f"self.s_{q.name} = [{inits!r} for _ in range({q.count})]", 2)
            if q.parent is not None:
                self.line(f"self.tok_{q.name} = [False] * {q.count}", 2)
        self.line("self.enq_time = {}", 2)
        self.line("self.at = {}", 2)
        self.line("self.pending = (0, 0, 0, 0)", 2)
        self.line(f"self.reasons = {{r: [0, 0] for r in {list(p.reasons)!r}}}", 2)
        self.line("self.dropped = []", 2)

    def classify(self, admitting: bool) -> None:
        """``classify``, which leaves the queue and rank for ``enqueue``; or, admitting,
        ``admit``, which enqueues at once (classify and enqueue in one call, for the
        simulator's loop)."""
        p = self.p
        self.admitting = admitting
        self.line("def admit(self, pkt, item, now):" if admitting
                  else "def classify(self, pkt, now):", 1)
        self.line("if pkt.status != PARSE_OK:", 2)
        self.line("return Claim.MALFORMED", 3)
        self.line("if not pkt.ip_ver:", 2)
        self.line("return Claim.UNCLAIMED", 3)
        if p.flow_vars:
            # Addresses as their 16 bytes: as exact a key as their four words, and cheaper.
            words = ", ".join(FIELDS[f].py if FIELDS[f].address
                              else f"{FIELDS[f].py} & 0xFFFFFFFF" for f in p.flow_key)
            self.line(f"key = ({words},)", 2)
            self.line("f = self.flows.get(key)", 2)
            self.line("if f is None:", 2)
            self.line("f = self.flows[key] = list(self.flow_init)", 3)
        self.hook = "enqueue"
        self.block(p.enqueue.body, 2)

    def enqueue(self) -> None:
        p = self.p
        self.line("def enqueue(self, pkt, item, now):", 1)
        self.line("queue, index, rank, at = self.pending", 2)
        for q in p.queues:
            if q.name not in self.leaf_ids:
                continue
            self.line(f"if queue == {self.leaf_ids[q.name]}:", 2)
            self.insertion(q, 3)
        self.line("return Enq.BAD_SLOT", 2)

    def insertion(self, q: ir.Queue, d: int) -> None:
        """Item into leaf queue ``q`` at ``index``, ``rank`` and ``at``; returns the outcome."""
        ref = f"self.q_{q.name}" + ("[index]" if q.count is not None else "")
        self.line(f"res = {ref}.enqueue(rank, item, pkt.len)", d)
        stored = [*(["self.enq_time[item] = now"] if self.timed else []),
                  *(["self.at[item] = at"] if self.p.uses_at else [])]
        if stored or q.parent is not None:
            self.line("if res is _OK or res is _CLAMPED:", d)
            for text in stored:
                self.line(text, d + 1)
            if q.parent is not None:
                self.line(f"if not self.tok_{q.name}[index]:", d + 1)
                self.line(f"self.tok_{q.name}[index] = True", d + 2)
                self.line(f"self.ready_{q.name}(index, now)", d + 2)
        self.line("return res", d)

    def ready(self, array: str, hook: ir.Hook) -> None:
        self.ready_array = array
        self.line(f"def ready_{array}(self, i, now):", 1)
        self.line(f"l_{hook.name} = i", 2)
        self.hook = "ready"
        self.block(hook.body, 2)
        self.line(f"def requeue_{array}(self, i, now):", 1)
        self.line(f"if len(self.q_{array}[i]):", 2)
        self.line(f"self.ready_{array}(i, now)", 3)
        self.line("else:", 2)
        self.line(f"self.tok_{array}[i] = False", 3)

    def on_dequeue(self) -> None:
        """A method for the queues under a parent, which requeue after it."""
        if any(q.children is not None for q in self.lay.serve):
            self.line("def on_dequeue(self, now, e, index, parent_rank):", 1)
            self.leave(2, "index", "parent_rank")

    def leave(self, d: int, index: str, parent_rank: str) -> None:
        """The dequeue hook on entry ``e``; it returns the outcome."""
        if self.timed:
            self.line("enqueued = self.enq_time.pop(e[1])", d)
        if self.p.uses_at:
            self.line("del self.at[e[1]]", d)
        hook = self.p.dequeue
        if hook is not None:
            for name, value in (("index", index), ("parent_rank", parent_rank)):
                if value != name and _mentions(hook.body, name):
                    self.line(f"{name} = {value}", d)
            self.hook = "dequeue"
            self.block(hook.body, d)
        self.line("return (_DEQ_OK, e[1], e[0], e[2], 0)", d)

    def dequeue(self) -> None:
        """Top-level queues in declaration order, as xdpq_sched_dequeue."""
        p = self.p
        self.line("def step(self, now):", 1)
        if p.uses_at:
            self.line("later = M64", 2)
        for q in self.lay.serve:
            ref = f"self.q_{q.name}"
            if q.children is None:
                if p.uses_at:
                    self.line(f"e = {ref}.first()", 2)
                    self.line("if e is not None:", 2)
                    self.line("at = self.at[e[1]]", 3)
                    self.line("if at <= now:", 3)
                    self.line(f"e = {ref}.pop()", 4)
                    self.leave(4, "0", "0")
                    self.line("later = min(later, at)", 3)
                else:
                    self.line(f"e = {ref}.pop()", 2)
                    self.line("if e is not None:", 2)
                    self.leave(3, "0", "0")
                continue
            child = p.queue(q.children)
            self.line(f"t = {ref}.pop()", 2)
            self.line("if t is not None:", 2)
            base = self.lay.token_base[child.name]
            self.line(f"i = (-1 - t[1]{f' - {base}' if base else ''}) % {child.count}", 3)
            self.line(f"e = self.q_{child.name}[i].pop()", 3)
            self.line("if e is not None:", 3)
            self.line("res = self.on_dequeue(now, e, i, t[0])", 4)
            self.line(f"self.requeue_{child.name}(i, now)", 4)
            self.line("return res", 4)
            self.line(f"self.requeue_{child.name}(i, now)", 3)
        if p.uses_at:
            self.line("if later != M64:", 2)
            self.line("return (_LATER, -1, 0, 0, later)", 3)
        self.line("return _EMPTY", 2)
        self.line("def dequeue(self, now):", 1)
        self.line("return Dequeued(*self.step(now))", 2)


def python_source(prog: ir.Program) -> str:
    """The Python class a program compiles to (for reading and debugging)."""
    return _Emitter(prog).program()


def scheduler_factory(prog: ir.Program) -> Callable[..., Any]:
    """Compile once; the returned callable makes fresh schedulers:
    ``make(params)`` with parameter overrides by name."""
    namespace = dict(_RUNTIME)
    exec(compile(python_source(prog), f"<xdpq {prog.name}>", "exec"), namespace)
    cls = namespace["Scheduler"]
    cls.program = prog  # what the fast simulator (xdpq.sim.fast) compiles

    def make(params: Mapping[str, int | list[int]] | None = None) -> Any:
        return cls(resolve_params(prog, params or {}))

    return make


def load_scheduler(path: str | os.PathLike[str],
                   params: Mapping[str, int | list[int]] | None = None) -> Any:
    """A simulator scheduler from a ``.xdpq`` file."""
    return scheduler_factory(load(path))(params)
