"""The syntax tree of a scheduler program. Every node keeps its source span."""

from __future__ import annotations

from dataclasses import dataclass

from xdpq.errors import Span

# -- expressions -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Number:
    text: str  # as written, unit included: "5ms", "10Mbit", "1500"
    span: Span


@dataclass(frozen=True, slots=True)
class Bool:
    value: bool
    span: Span


@dataclass(frozen=True, slots=True)
class Path:
    """A name, or a dotted field: ``vtime``, ``pkt.len``, ``flow.finish``, ``ip.src``."""

    parts: tuple[str, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Index:
    """``weight[c]`` (a parameter table) or ``flows[t][f].deficit`` (a field of one
    queue of an array: its state, or ``head``, ``packets``, ``bytes``): one index
    per dimension."""

    name: str
    indices: tuple[Expr, ...]
    attr: str | None
    span: Span


@dataclass(frozen=True, slots=True)
class Call:
    func: str
    args: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-" or "not"
    operand: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # + - * / % == != < <= > >= and or
    left: Expr
    right: Expr
    span: Span


Expr = Number | Bool | Path | Index | Call | Unary | Binary

# -- statements ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Let:
    name: str
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Assign:
    target: Path | Index
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
    queue: str
    indices: tuple[Expr, ...]  # for an array of queues: which one, per dimension
    rank: Expr | None
    at: Expr | None  # eligibility time (pacing)
    span: Span


@dataclass(frozen=True, slots=True)
class Drop:
    reason: str
    extra: Path | None  # a second name, which the checker refuses ('drop q tail')
    span: Span


@dataclass(frozen=True, slots=True)
class Mark:
    """``mark ce REASON else drop OTHER``: CE on an ECN-capable packet, else a drop."""

    reason: str
    otherwise: str  # the drop's reason, for a packet that is not ECN-capable
    span: Span


@dataclass(frozen=True, slots=True)
class Pass:
    span: Span


Stmt = Let | Assign | If | Enqueue | Drop | Mark | Pass

# -- declarations ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    count: Expr | None  # a table of values: param weight[8] = 1
    type: str | None
    default: Expr
    low: Expr | None
    high: Expr | None
    span: Span


@dataclass(frozen=True, slots=True)
class QueueArg:
    name: str
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Queue:
    name: str
    dims: tuple[Expr, ...]  # an array of queues: queue fq[8][64]: fifo(...); () for one
    kind: str  # fifo, pifo, rbtree
    args: tuple[QueueArg, ...]
    of: tuple[str, ...]  # a parent: its entries are the queues of these declarations
    span: Span


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: str
    signed: bool  # its values may be below 0: credit: signed bytes = 0
    default: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class GlobalScope:
    span: Span


@dataclass(frozen=True, slots=True)
class FlowScope:
    key: tuple[Path, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class QueueScope:
    """One set of values per queue of an array: ``state per flows { … }``."""

    queue: str
    span: Span


Scope = GlobalScope | FlowScope | QueueScope


@dataclass(frozen=True, slots=True)
class State:
    scope: Scope
    fields: tuple[Field, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Hook:
    event: str  # "enqueue", "dequeue" or "ready"
    params: tuple[str, ...]  # dequeue: the packet's name; ready: the queue's indices' names
    queue: str | None  # ready: the queue (or array) it places in its parent
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Program:
    name: str
    params: tuple[Param, ...]
    queues: tuple[Queue, ...]
    states: tuple[State, ...]
    hooks: tuple[Hook, ...]
    span: Span
