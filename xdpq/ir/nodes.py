"""IR node types. See the package docstring for the arithmetic they mean."""

from __future__ import annotations

from dataclasses import dataclass

from xdpq.errors import SourceWarning, Span
from xdpq.units import Kind

# -- expressions -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Const:
    value: int


@dataclass(frozen=True, slots=True)
class ParamRef:
    name: str
    index: Expr | None  # a parameter table: which value


@dataclass(frozen=True, slots=True)
class Global:
    name: str


@dataclass(frozen=True, slots=True)
class FlowVar:
    """A field of the packet's per-flow state."""

    name: str


@dataclass(frozen=True, slots=True)
class QState:
    """A field of the state of one queue of an array: one index per dimension."""

    array: str
    index: tuple[Expr, ...]
    name: str


@dataclass(frozen=True, slots=True)
class Attr:
    """What a queue holds: ``head`` (bytes of the first packet it may give now, 0 if
    none), ``packets`` (entries: packets, or for a parent the queues it holds) or
    ``bytes``. ``index`` has one index per dimension; () for a single queue."""

    queue: str
    index: tuple[Expr, ...]
    name: str


@dataclass(frozen=True, slots=True)
class Field:
    """A packet field by its display-filter name (``ip.dscp``); on enqueue only."""

    name: str


@dataclass(frozen=True, slots=True)
class Now:
    pass


@dataclass(frozen=True, slots=True)
class LinkRate:
    """The link rate the scheduler is served at, bit/s: xdpq's own (kern/shaper.h
    xdpq_shape_rate, the deployment's --rate; the simulator's shaper, a scenario's
    [link] shape); 0 when none is set (the device's own rate is not known)."""


@dataclass(frozen=True, slots=True)
class DeqField:
    """The dequeued packet: len, rank, enqueued, ecn, index (of its leaf in the last
    dimension), parent_rank (the rank its leaf had in its parent)."""

    name: str


@dataclass(frozen=True, slots=True)
class PathField:
    """``p.Q.rank`` / ``p.Q.index``: the rank of the entry the dequeued packet's path
    took out of queue declaration Q, and which queue of Q it was (its index in the
    last dimension); 0 when the packet did not come through Q."""

    queue: str
    name: str  # rank, index


@dataclass(frozen=True, slots=True)
class Local:
    name: str


@dataclass(frozen=True, slots=True)
class Hash:
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Arith:
    op: str  # + - * / %
    left: Expr
    right: Expr
    signed: bool = False  # / and % of values that may be below 0 (two's complement)


@dataclass(frozen=True, slots=True)
class Cmp:
    op: str  # == != < <= > >=
    left: Expr
    right: Expr
    signed: bool = False  # compares them as two's complement


@dataclass(frozen=True, slots=True)
class Logic:
    op: str  # and, or
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr


@dataclass(frozen=True, slots=True)
class Sqrt:
    """The integer square root (rounded down)."""

    operand: Expr


@dataclass(frozen=True, slots=True)
class MinMax:
    op: str  # min, max
    args: tuple[Expr, ...]
    signed: bool = False  # compares them as two's complement


Expr = (Const | ParamRef | Global | FlowVar | QState | Attr | Field | Now | LinkRate | DeqField
        | PathField | Local | Hash | Arith | Cmp | Logic | Not | Sqrt | MinMax)

# -- statements --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Let:
    name: str
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Store:
    target: Global | FlowVar | QState
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class If:
    cond: Expr
    then: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Enqueue:
    """Into a leaf queue (``on enqueue``; one index per dimension), or, in ``on
    ready``, the ready queue into its parent (``index`` is then ()). ``at``: when
    the entry becomes eligible, on the clock of the queue it enters."""

    queue: str
    index: tuple[Expr, ...]
    rank: Expr
    at: Expr | None
    span: Span


@dataclass(frozen=True, slots=True)
class Drop:
    reason: str
    span: Span


@dataclass(frozen=True, slots=True)
class Mark:
    """On dequeue: set the packet's ECN field to CE and send it, counted under
    ``reason``; a packet that is not ECN-capable (Not-ECT) is dropped instead, counted
    under the drop reason ``otherwise`` (RFC 8290's rule for fq_codel)."""

    reason: str
    otherwise: str
    span: Span


@dataclass(frozen=True, slots=True)
class Pass:
    span: Span


Stmt = Let | Store | If | Enqueue | Drop | Mark | Pass

# -- declarations ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Param:
    name: str
    kind: Kind
    count: int | None  # a table of values
    default: int
    low: int
    high: int


@dataclass(frozen=True, slots=True)
class Var:
    name: str
    kind: Kind
    init: int  # its 64 bits (a signed value's two's complement)
    signed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Queue:
    """A queue declaration: one queue, or an array of them (``shape``). Under a
    parent of shape S, an array has shape S + (n,) (n queues under each queue of the
    parent) or S (one under each)."""

    name: str
    kind: str  # fifo, pifo, rbtree
    shape: tuple[int, ...]  # an array's dimensions; () for a single queue
    capacity: int
    range: int  # pifo: ranks per window; 0 otherwise
    parent: str | None  # the declaration whose queues schedule these
    children: tuple[str, ...]  # a parent: the declarations it schedules
    state: tuple[Var, ...]  # an array: per-queue state
    clock: str | None = None  # a virtual clock (a global) its entries' eligibility counts on
    base: int | None = None  # pifo: its windows stay at [base, base + 2 * range)
    pushout: bool = False  # full, it pushes out its worst packet for a better one

    @property
    def count(self) -> int | None:
        """How many queues an array has (all dimensions); None for a single queue."""
        n = 1
        for d in self.shape:
            n *= d
        return n if self.shape else None


@dataclass(frozen=True, slots=True)
class Hook:
    params: tuple[str, ...]  # dequeue: the packet's name; ready: the queue's indices
    body: tuple[Stmt, ...]
    locals: tuple[str, ...]  # every let in the body, in order
    span: Span


@dataclass(frozen=True, slots=True, kw_only=True)
class Program:
    name: str
    params: tuple[Param, ...]
    queues: tuple[Queue, ...]  # in declaration order: top-level ones are served in it
    globals: tuple[Var, ...]
    flow_key: tuple[str, ...]  # packet fields keying per-flow state; () without it
    flow_vars: tuple[Var, ...]
    enqueue: Hook
    dequeue: Hook | None
    ready: dict[str, Hook]  # a queue under a parent -> its hook (rank 0 without one)
    reasons: tuple[str, ...]  # drop reasons, numbered in this order
    marks: tuple[str, ...] = ()  # ECN mark reasons (mark ce), numbered in this order
    uses_at: bool  # some enqueue gives an eligibility time
    source: str  # the program's file name, for #line
    flow_on_dequeue: bool = False  # on dequeue reads or writes the dequeued packet's flow
    warnings: tuple[SourceWarning, ...] = ()  # what check found suspicious, though valid

    def queue(self, name: str) -> Queue:
        return next(q for q in self.queues if q.name == name)
