"""A scheduling tree: queues that hold packets or their children's tokens, with
eligibility (PIEO). The written rules are docs/queues.md's ("Trees and
eligibility"); kern/tree.h is the kernel's twin, function by function, and
tests/test_trees.py holds the two equal on random trees.

Nodes are numbered (``xdpq.ir.layout``): the top-level ones first, in the order
they are served. Each node keeps its entries in one of the reference queues
(``Fifo``, ``Pifo``, ``RBTree``): the entries it may serve now. An entry is a
packet (an item >= 0) or a child's token (the item ``-1 - child``).

**Eligibility.** An entry may carry a time ``at`` before which it may not
leave. On a node with the real clock that is a time (``now``); on a node with a
virtual clock (a value of the program's, kept here in ``clocks``) it is on that
clock. An entry not yet eligible waits: on the real clock in one heap for the
whole tree, on a virtual clock in its node's own heap; both are ordered by
``(at, seq)``, ``seq`` counting every entry that ever waited. ``due(now)``
moves every entry whose time has come into its node's queue, in that order. A
node on a virtual clock with nothing eligible moves its clock on to the
earliest ``at`` it holds (so it never idles with entries: WF²Q+'s
``V = max(V, min S)``).

**Tokens.** A node under a parent holding entries has one token in it, ranked
and timed by its ``on ready`` hook (``place``). Its ``avail`` counts the
entries it could serve: those eligible, and on a virtual clock also those
waiting on it. A token stands in its parent's queue only while its node has
``avail`` and its own ``at`` has come; while its node has none it is
**parked**, and it moves into its parent (or its parent's heap) when the node
gains one (``_gained``). So a token that can be served always leads to a
packet: ``serve`` walks down taking the head at each level, and a token it
takes is **held** until the walk back up re-places it (``place``) or releases
it (``release``).
"""

from __future__ import annotations

from dataclasses import dataclass
from heapq import heappop, heappush

from xdpq.queues.base import Enq
from xdpq.queues.fifo import Fifo
from xdpq.queues.pifo import Pifo
from xdpq.queues.rbtree import RBTree

# A token's state (kern/tree.h enum xdpq_tstate).
NONE, HELD, WAITING, PARKED, ELIGIBLE = range(5)
# Levels of a tree (xdpq.ir.layout.MAX_DEPTH, kern/tree.h XDPQ_MAX_DEPTH).
MAX_DEPTH = 8

_OK, _FULL, _CLAMPED, _OUT_OF_WINDOW = Enq.OK, Enq.FULL, Enq.CLAMPED, Enq.OUT_OF_WINDOW


@dataclass(frozen=True, slots=True)
class NodeSpec:
    kind: str  # fifo, pifo, rbtree
    capacity: int
    range: int  # pifo: ranks per window
    parent: int  # its parent's node, -1 at the top
    clock: int = -1  # its virtual clock (an index into Tree.clocks), -1: the real one


def _queue(s: NodeSpec) -> Fifo | Pifo | RBTree:
    match s.kind:
        case "fifo":
            return Fifo(s.capacity)
        case "pifo":
            return Pifo(s.capacity, s.range)
    return RBTree(s.capacity)


def _insert(q: Fifo | Pifo | RBTree, rank: int, item: int, size: int) -> None:
    """An entry that cannot be refused (a token, or a packet whose time came): a rank
    beyond a PIFO's windows takes its last bucket (kern/tree.h xdpq_node_insert)."""
    if q.enqueue(rank, item, size) is _OUT_OF_WINDOW:
        q.enqueue(q.base + 2 * q.range - 1, item, size)  # type: ignore[union-attr]


def _window(q: Fifo | Pifo | RBTree, rank: int) -> Enq:
    """What enqueueing ``rank`` would answer now, for a packet that is to wait."""
    if not isinstance(q, Pifo) or not len(q):
        return _OK
    if rank < q.base:
        return _CLAMPED
    return _OUT_OF_WINDOW if rank - q.base >= 2 * q.range else _OK


class Tree:
    def __init__(self, specs: list[NodeSpec], tops: int, clocks: int = 0) -> None:
        n = len(specs)
        self.tops = tops
        self.parent = [s.parent for s in specs]
        self.cap = [s.capacity for s in specs]
        self.vclock = [s.clock for s in specs]
        self.q = [_queue(s) for s in specs]
        self.len = [0] * n  # entries in any state but held (a parent's: its children's tokens)
        self.bytes = [0] * n
        self.avail = [0] * n
        self.state = [NONE] * n  # of each node's token in its parent
        self.trank = [0] * n  # and its rank and eligibility time
        self.tat = [0] * n
        self.vheap: list[list[tuple[int, int, int, int, int]]] = [[] for _ in range(n)]
        # (at, seq, item, rank, size, node): every entry waiting on the real clock
        self.heap: list[tuple[int, int, int, int, int, int]] = []
        self.seq = 0
        self.clocks = [0] * clocks
        # The last serve's path: the node and the rank taken at each level.
        self.path_node = [0] * MAX_DEPTH
        self.path_rank = [0] * MAX_DEPTH
        self.depth = 0

    # -- entering ------------------------------------------------------------------

    def push(self, n: int, item: int, rank: int, size: int, at: int, now: int) -> Enq:
        """A packet into leaf ``n``: stored (OK, CLAMPED) or refused."""
        if self.len[n] >= self.cap[n]:
            return _FULL
        q, k = self.q[n], self.vclock[n]
        if at <= (self.clocks[k] if k >= 0 else now):
            res = q.enqueue(rank, item, size)
            if res is not _OK and res is not _CLAMPED:
                return res
            self.len[n] += 1
            self.bytes[n] += size
            self._gained(n, now)
            return res
        res = _window(q, rank)
        if res is _OUT_OF_WINDOW:
            return res
        self.seq += 1
        self.len[n] += 1
        self.bytes[n] += size
        if k < 0:
            heappush(self.heap, (at, self.seq, item, rank, size, n))
        else:
            heappush(self.vheap[n], (at, self.seq, item, rank, size))
            self._gained(n, now)
        return res

    def place(self, c: int, rank: int, at: int, now: int) -> None:
        """Node ``c``'s token into its parent, with the rank and time its ready hook gave."""
        self.trank[c], self.tat[c] = rank, at
        self.len[self.parent[c]] += 1
        if not self.avail[c]:
            self.state[c] = PARKED
            return
        self._put(c, now)

    def release(self, c: int) -> None:
        """A held token whose node is empty: it has no place until the node has packets."""
        self.state[c] = NONE

    def _put(self, c: int, now: int) -> None:
        """Token of ``c`` (which has avail) into its parent's queue or heap; and up."""
        while True:
            p, k = self.parent[c], self.vclock[self.parent[c]]
            token, at = -1 - c, self.tat[c]
            if at <= (self.clocks[k] if k >= 0 else now):
                _insert(self.q[p], self.trank[c], token, 0)
                self.state[c] = ELIGIBLE
            else:
                self.seq += 1
                self.state[c] = WAITING
                if k < 0:
                    heappush(self.heap, (at, self.seq, token, self.trank[c], 0, p))
                    return
                heappush(self.vheap[p], (at, self.seq, token, self.trank[c], 0))
            c = self._gain(p)
            if c < 0:
                return

    def _gain(self, n: int) -> int:
        """Node ``n`` has one more entry it could serve: its token, if that was parked
        for want of one, is to be put (returned), else -1."""
        self.avail[n] += 1
        return n if self.avail[n] == 1 and self.state[n] == PARKED else -1

    def _gained(self, n: int, now: int) -> None:
        c = self._gain(n)
        if c >= 0:
            self._put(c, now)

    # -- leaving ---------------------------------------------------------------------

    def due(self, now: int) -> None:
        """Every entry waiting on the real clock whose time has come, into its node."""
        h = self.heap
        while h and h[0][0] <= now:
            _, _, item, rank, size, n = heappop(h)
            if item < 0:
                c = -1 - item
                if not self.avail[c]:
                    self.state[c] = PARKED
                    continue
                self.state[c] = ELIGIBLE
            _insert(self.q[n], rank, item, size)
            self._gained(n, now)

    def later(self) -> int | None:
        """When the next entry waiting on the real clock becomes eligible."""
        return self.heap[0][0] if self.heap else None

    def _take(self, n: int) -> tuple[int, int, int]:
        """The head of node ``n``, which has avail: (rank, item, size)."""
        q, k = self.q[n], self.vclock[n]
        if k >= 0:
            h = self.vheap[n]
            if h and not len(q) and h[0][0] > self.clocks[k]:
                self.clocks[k] = h[0][0]  # nothing eligible: the clock moves on
            v = self.clocks[k]
            while h and h[0][0] <= v:
                _, _, item, rank, size = heappop(h)
                _insert(q, rank, item, size)
        e = q.pop()
        assert e is not None
        self.avail[n] -= 1
        self.len[n] -= 1
        self.bytes[n] -= e[2]
        return e

    def serve(self) -> tuple[int, int, int] | None:
        """The first top-level node that can serve gives its head, walking down the
        tokens to a packet: (rank, item, size), the path in path_node/path_rank."""
        avail = self.avail
        for t in range(self.tops):
            if avail[t]:
                break
        else:
            return None
        n, d = t, 0
        while True:
            e = self._take(n)
            self.path_node[d] = n
            self.path_rank[d] = e[0]
            if e[1] >= 0:
                self.depth = d
                return e
            n = -1 - e[1]
            self.state[n] = HELD
            d += 1

    def head(self, n: int) -> int:
        """The size of the first packet node ``n`` may give now (0 if none)."""
        e = self.q[n].first()
        return e[2] if e is not None else 0
