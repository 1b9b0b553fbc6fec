"""IR node types. See the package docstring for the arithmetic they mean."""

from __future__ import annotations

from dataclasses import dataclass

from xdpq.errors import Span
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
    """A field of the state of one queue of an array."""

    array: str
    index: Expr
    name: str


@dataclass(frozen=True, slots=True)
class Attr:
    """What a queue holds: ``head`` (bytes of its first packet, 0 if empty),
    ``packets`` or ``bytes``. ``index`` is None for a single queue."""

    queue: str
    index: Expr | None
    name: str


@dataclass(frozen=True, slots=True)
class Field:
    """A packet field by its display-filter name (``ip.dscp``); on enqueue only."""

    name: str


@dataclass(frozen=True, slots=True)
class Now:
    pass


@dataclass(frozen=True, slots=True)
class DeqField:
    """The dequeued packet: len, rank, enqueued, ecn, index, parent_rank."""

    name: str


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


@dataclass(frozen=True, slots=True)
class Cmp:
    op: str  # == != < <= > >=
    left: Expr
    right: Expr


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


Expr = (Const | ParamRef | Global | FlowVar | QState | Attr | Field | Now | DeqField | Local
        | Hash | Arith | Cmp | Logic | Not | Sqrt | MinMax)

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
    """Into a leaf queue (``on enqueue``), or, in ``on ready``, the ready queue
    into its parent (``index`` is then the ready queue's)."""

    queue: str
    index: Expr | None
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
    init: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Queue:
    name: str
    kind: str  # fifo, pifo, rbtree
    count: int | None  # an array of queues
    capacity: int
    range: int  # pifo: ranks per window; 0 otherwise
    parent: str | None  # an array: the queue that schedules its queues
    children: str | None  # a parent: the array it schedules
    state: tuple[Var, ...]  # an array: per-queue state


@dataclass(frozen=True, slots=True)
class Hook:
    name: str  # the dequeued packet's or the ready queue index's name; "" on enqueue
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
    ready: dict[str, Hook]  # array name -> its hook
    reasons: tuple[str, ...]  # drop reasons, numbered in this order
    marks: tuple[str, ...] = ()  # ECN mark reasons (mark ce), numbered in this order
    uses_at: bool  # some enqueue gives an eligibility time
    source: str  # the program's file name, for #line

    def queue(self, name: str) -> Queue:
        return next(q for q in self.queues if q.name == name)
