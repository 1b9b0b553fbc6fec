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
from xdpq.queues.base import STORED, Enq
from xdpq.queues.tree import NodeSpec, Tree

M64 = (1 << 64) - 1
_ADDR = struct.Struct("!4I")

DEQ_PY = {"len": "e[2]", "rank": "e[0]", "enqueued": "enqueued", "ecn": "ecn",
          "index": "index", "parent_rank": "parent_rank"}


def _div(a: int, b: int) -> int:
    return a // b if b else 0


def _mod(a: int, b: int) -> int:
    return a % b if b else a


def _s(v: int) -> int:
    """A 64-bit value as two's complement."""
    return v - (1 << 64) if v >> 63 else v


def _sdiv(a: int, b: int) -> int:
    """kern/lang.h xdpq_sdiv: rounded towards 0; x / 0 is 0."""
    if not b:
        return 0
    q = abs(_s(a)) // abs(_s(b))
    return (-q if (_s(a) < 0) != (_s(b) < 0) else q) & M64


def _smod(a: int, b: int) -> int:
    return (a - _sdiv(a, b) * b) & M64 if b else a


def _smin(*args: int) -> int:
    return min(args, key=_s)


def _smax(*args: int) -> int:
    return max(args, key=_s)


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


def _cheap(e: ir.Expr) -> bool:
    """An expression that costs less to read twice than a call costs."""
    cheap = ir.Const | ir.Global | ir.FlowVar | ir.Local | ir.Now | ir.LinkRate | ir.DeqField
    return isinstance(e, cheap) or (
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


def keeps_ecn(prog: ir.Program) -> bool:
    """Whether a program's dequeue reads the dequeued packet's ECN field or marks it
    (mark ce): then the scheduler keeps each packet's ECN field."""
    return bool(prog.marks) or (prog.dequeue is not None and _mentions(prog.dequeue.body, "ecn"))


# Hot constants as plain names: looking up an Enum member costs ten times more.
_RUNTIME = {
    "_CLAIM": Claim.CLAIM, "_STORED": STORED, "_DEQ_OK": Deq.OK,
    "_LATER": Deq.LATER,
    "_EMPTY": (Deq.EMPTY, -1, 0, 0, 0),
    "_div": _div, "_mod": _mod, "_hash": _hash, "_s": _s, "_sdiv": _sdiv, "_smod": _smod,
    "_smin": _smin, "_smax": _smax,
    "isqrt": isqrt, "_ADDR": _ADDR, "Claim": Claim, "Deq": Deq, "Dequeued": Dequeued,
    "Enq": Enq, "NodeSpec": NodeSpec, "Tree": Tree, "M64": M64, "PARSE_OK": ParseStatus.OK,
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
    # ``admit`` and ``step`` dropped, in order, with the reason. ECN marks likewise.
    reasons: dict[str, list[int]]
    dropped: list[tuple[int, str]]
    marks: dict[str, list[int]]
    marked: list[tuple[int, str]]
    # The parameters it was made with (by name, as resolve_params gives them), and
    # the program it was generated from.
    params: dict[str, Any]
    program: ir.Program
    # Its queues (``evicted``: the packet the last PUSHOUT outcome dropped).
    tree: Tree
    # What the program reads as link_rate (ir.LinkRate): the simulation's shaper rate,
    # which it sets before a run; 0, no rate, until then.
    link_rate: int

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
        self.clocks = sorted({q.clock for q in prog.queues if q.clock is not None})
        # The enqueue time is kept only for a dequeue hook that reads it.
        self.timed = prog.dequeue is not None and _mentions(prog.dequeue.body, "enqueued")
        # The ECN field likewise, for a dequeue hook that reads it or marks.
        self.ecn_kept = keeps_ecn(prog)

    def line(self, text: str, depth: int) -> None:
        self.out.append("    " * depth + text)

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

    def flat(self, name: str, index: tuple[ir.Expr, ...]) -> str:
        """The row-major position of ``index`` in array ``name``, each index bounded."""
        shape = self.p.queue(name).shape
        acc = ""
        for size, i in zip(shape, index, strict=True):
            bounded = self.at_index(i, size)
            acc = f"({acc}) * {size} + {bounded}" if acc else bounded
        return acc

    def node(self, name: str, index: tuple[ir.Expr, ...]) -> str:
        first = self.lay.first[name]
        if not index:
            return str(first)
        return f"{first} + {self.flat(name, index)}" if first else self.flat(name, index)

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
            case ir.Global(name=n) if n in self.clocks:
                return f"self.clk[{self.clocks.index(n)}]"
            case ir.Global(name=n):
                return f"self.g_{n}"
            case ir.FlowVar(name=n):
                return f"f[{self.flow_index[n]}]"
            case ir.QState(array=a, index=idx, name=n):
                return f"self.s_{a}[{self.flat(a, idx)}][{self.qstate_index[a][n]}]"
            case ir.Attr(queue=q, index=idx, name=attr):
                node = self.node(q, idx)
                # head: the first entry's size (a temporary name no program can use)
                head = f"(_h[2] if (_h := self.tq[{node}].first()) is not None else 0)"
                return {"head": head, "packets": f"self.tlen[{node}]",
                        "bytes": f"self.tbytes[{node}]"}[attr]
            case ir.Field(name=n):
                return FIELDS[n].py
            case ir.Now():
                return "now"
            case ir.LinkRate():
                return "self.link_rate"
            case ir.DeqField(name=n):
                return DEQ_PY[n]
            case ir.PathField(queue=q, name=n):
                return self.on_path(q, n)
            case ir.Local(name=n):
                return f"l_{n}"
            case ir.Hash(fields=fields):
                words = ", ".join(FIELDS[f].py for f in fields)
                return f"_hash(({words},))"
            case ir.Arith(op="/" | "%" as op, left=a, right=b, signed=True):
                return f"_s{'div' if op == '/' else 'mod'}({self.expr(a)}, {self.expr(b)})"
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
            case ir.MinMax(op=op, args=args, signed=True):
                return f"_s{op}({', '.join(self.expr(a) for a in args)})"
            case ir.MinMax(op=op, args=(x, y)) if _cheap(x) and _cheap(y):
                a, b = self.expr(x), self.expr(y)  # no call to the builtin
                return f"({a} if {a} {'>=' if op == 'max' else '<='} {b} else {b})"
            case ir.MinMax(op=op, args=args):
                return f"{op}({', '.join(self.expr(a) for a in args)})"
        raise AssertionError(f"no Python for {e!r}")

    def on_path(self, name: str, what: str) -> str:
        """``p.Q.rank`` / ``p.Q.index``: of queue Q's node on the path, 0 off it."""
        d, first, n = self.lay.depth[name], self.lay.first[name], self.p.queue(name).count or 1
        value = f"t.path_rank[{d}]" if what == "rank" else f"self.idx[t.path_node[{d}]]"
        return f"({value} if t.depth >= {d} and 0 <= t.path_node[{d}] - {first} < {n} else 0)"

    def cond(self, e: ir.Expr) -> str:
        match e:
            case ir.Cmp(op=op, left=a, right=b, signed=True):
                return f"(_s({self.expr(a)}) {op} _s({self.expr(b)}))"
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
            case ir.Enqueue(rank=rank, at=at) if self.hook == "ready":
                at_py = self.expr(at) if at is not None else "0"
                self.line(f"return {self.expr(rank)}, {at_py}", d)
            case ir.Enqueue(queue=q, index=idx, rank=rank, at=at):
                at_py = self.expr(at) if at is not None else "0"
                if self.admitting:
                    self.line(f"node, rank, at = {self.node(q, idx)}, {self.expr(rank)}, {at_py}",
                              d)
                    self.insertion(d)
                else:
                    self.line(f"self.pending = ({self.node(q, idx)}, {self.expr(rank)}, "
                              f"{at_py}{', key' if self.p.flow_on_dequeue else ''})", d)
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
            case ir.Mark(reason=r, otherwise=other):
                self.line("if ecn:", d)  # ECT(0), ECT(1) or CE already
                self.line(f"c = self.marks[{r!r}]", d + 1)
                self.line("c[0] += 1; c[1] += e[2]", d + 1)
                self.line(f"self.marked.append((e[1], {r!r}))", d + 1)
                self.line("return (_DEQ_OK, e[1], e[0], e[2], 0)", d + 1)
                self.stmt(ir.Drop(other, s.span), d)
            case ir.Pass():
                self.line("return Claim.UNCLAIMED", d)

    # -- the class -----------------------------------------------------------------

    def program(self) -> str:
        self.line("class Scheduler:", 0)
        self.init()
        self.classify(admitting=False)
        self.enqueue()
        self.classify(admitting=True)
        self.ready()
        self.on_dequeue()
        self.dequeue()
        return "\n".join(self.out) + "\n"

    def init(self) -> None:
        p, lay = self.p, self.lay
        self.line("def __init__(self, params):", 1)
        self.line("self.params = params", 2)
        self.line("self.link_rate = 0", 2)
        for prm in p.params:
            value = f"params[{prm.name!r}]"
            self.line(f"self.p_{prm.name} = {value}", 2)
        for v in p.globals:
            if v.name not in self.clocks:
                self.line(f"self.g_{v.name} = {v.init}", 2)
        self.line("self.flows = {}", 2)
        self.line(f"self.flow_init = {[v.init for v in p.flow_vars]!r}", 2)
        # The nodes, declaration by declaration in the layout's order (tops first).
        specs, idx = [], []
        for q in sorted(p.queues, key=lambda q: lay.first[q.name]):
            clock = self.clocks.index(q.clock) if q.clock is not None else -1
            n, last = q.count or 1, q.shape[-1] if q.shape else 1
            parent = "-1"
            if q.parent is not None:
                added = len(q.shape) > len(p.queue(q.parent).shape)
                parent = f"{lay.first[q.parent]} + k" + (f" // {last}" if added else "")
            specs.append(f"[NodeSpec({q.kind!r}, {q.capacity}, {q.range}, {parent}, {clock}, "
                         f"{q.base}, {q.pushout}) for k in range({n})]")
            idx.append(f"[k % {last} for k in range({n})]")
        self.line(f"self.tree = t = Tree({' + '.join(specs)}, {lay.tops}, {len(self.clocks)})",
                  2)
        self.line("self.tq, self.tlen, self.tbytes, self.clk = t.q, t.len, t.bytes, t.clocks", 2)
        inits = {v.name: v.init for v in p.globals}
        for k, name in enumerate(self.clocks):
            self.line(f"self.clk[{k}] = {inits[name]}", 2)
        self.line(f"self.idx = {' + '.join(idx)}", 2)
        if p.ready:
            ready = [f"[None] * {lay.tops}"] + [
                f"[self.ready_{q.name}] * {q.count or 1}"
                for q in sorted(p.queues, key=lambda q: lay.first[q.name]) if q.parent]
            self.line(f"self.ready_of = {' + '.join(ready)}", 2)
        for q in p.queues:
            if q.state:
                inits_q = [v.init for v in q.state]
                self.line(f"self.s_{q.name} = [{inits_q!r} for _ in range({q.count})]", 2)
        self.line("self.enq_time = {}", 2)
        self.line("self.flow_of = {}", 2)
        self.line("self.ecn = {}", 2)
        self.line("self.pending = (0, 0, 0, None)", 2)
        self.line(f"self.reasons = {{r: [0, 0] for r in {list(p.reasons)!r}}}", 2)
        self.line("self.dropped = []", 2)
        self.line(f"self.marks = {{r: [0, 0] for r in {list(p.marks)!r}}}", 2)
        self.line("self.marked = []", 2)

    def classify(self, admitting: bool) -> None:
        """``classify``, which leaves the node, rank and time for ``enqueue``; or,
        admitting, ``admit``, which enqueues at once (classify and enqueue in one call,
        for the simulator's loop)."""
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
        elif p.flow_on_dequeue:
            self.line("key = None", 2)
        self.hook = "enqueue"
        self.block(p.enqueue.body, 2)

    def enqueue(self) -> None:
        self.line("def enqueue(self, pkt, item, now):", 1)
        key = ", key" if self.p.flow_on_dequeue else ""
        self.line(f"node, rank, at{key} = self.pending", 2)
        self.insertion(2)

    def insertion(self, d: int) -> None:
        """Item into leaf ``node`` at ``rank`` and ``at``; returns the outcome."""
        self.line("t = self.tree", d)
        self.line("res = t.push(node, item, rank, pkt.len, at, now)", d)
        stored = [*(["self.enq_time[item] = now"] if self.timed else []),
                  *(["self.ecn[item] = pkt.ecn"] if self.ecn_kept else []),
                  *(["self.flow_of[item] = key"] if self.p.flow_on_dequeue else [])]
        if stored or self.p.ready:
            self.line("if res in _STORED:", d)
            for text in stored:
                self.line(text, d + 1)
            if self.p.ready:
                self.line("if node >= t.tops and t.state[node] == 0:", d + 1)
                self.line("self.activate(node, now)", d + 2)
        self.line("return res", d)

    def ready(self) -> None:
        """The ready hooks, by declaration, and ``ready_of``: each node's (its hook, or
        rank 0 at once). A hook returns the rank and time of the node's token."""
        p, lay = self.p, self.lay
        if not p.ready:
            return
        self.hook = "ready"
        for name, hook in p.ready.items():
            q = p.queue(name)
            self.line(f"def ready_{name}(self, n, now):", 1)
            rest = f"n - {lay.first[name]}"
            for i, size in reversed(list(zip(hook.params, q.shape, strict=True))):
                self.line(f"l_{i} = ({rest}) % {size}", 2)
                rest = f"({rest}) // {size}"
            self.block(hook.body, 2)
        self.line("def activate(self, n, now):", 1)
        self.line("t = self.tree", 2)
        self.line("while n >= t.tops and t.state[n] == 0:", 2)
        self.line("rank, at = self.ready_of[n](n, now)", 3)
        self.line("t.place(n, rank, at, now)", 3)
        self.line("n = t.parent[n]", 3)

    def on_dequeue(self) -> None:
        """A method for a program with parents, whose tokens are placed again after it."""
        if self.p.ready:
            self.line("def on_dequeue(self, now, e, t):", 1)
            self.leave(2)

    def leave(self, d: int) -> None:
        """The dequeue hook on entry ``e`` (tree ``t``'s path says where it came from);
        it returns the outcome."""
        if self.timed:
            self.line("enqueued = self.enq_time.pop(e[1])", d)
        if self.ecn_kept:
            self.line("ecn = self.ecn.pop(e[1])", d)
        if self.p.flow_on_dequeue:
            self.line("key = self.flow_of.pop(e[1])", d)
            self.line("f = self.flows.get(key)", d)
            self.line("if f is None:", d)
            self.line("f = self.flows[key] = list(self.flow_init)", d + 1)
        hook = self.p.dequeue
        if hook is not None:
            if _mentions(hook.body, "index"):
                self.line("index = self.idx[t.path_node[t.depth]]", d)
            if _mentions(hook.body, "parent_rank"):
                self.line("parent_rank = t.path_rank[t.depth - 1] if t.depth else 0", d)
            self.hook = "dequeue"
            self.block(hook.body, d)
        self.line("return (_DEQ_OK, e[1], e[0], e[2], 0)", d)

    def dequeue(self) -> None:
        """The first top-level queue that can serve, down its tree, as xdpq_sched_dequeue."""
        p = self.p
        self.line("def step(self, now):", 1)
        self.line("t = self.tree", 2)
        if p.uses_at:
            self.line("t.due(now)", 2)
        self.line("e = t.serve()", 2)
        self.line("if e is None:", 2)
        if p.uses_at:
            self.line("later = t.later()", 3)
            self.line("return _EMPTY if later is None else (_LATER, -1, 0, 0, later)", 3)
        else:
            self.line("return _EMPTY", 3)
        if not p.ready:
            self.leave(2)
        else:
            self.line("res = self.on_dequeue(now, e, t)", 2)
            self.line("for d in range(t.depth, 0, -1):", 2)
            self.line("c = t.path_node[d]", 3)
            self.line("if t.len[c]:", 3)
            self.line("rank, at = self.ready_of[c](c, now)", 4)
            self.line("t.replace(c, rank, at, now)", 4)
            self.line("else:", 3)
            self.line("t.release(c)", 4)
            self.line("return res", 2)
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
