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
gains one (``_gained``, kern/tree.h xdpq_gain). So a token that can be served always leads to a
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
_PUSHOUT, _CLAMPED_PUSHOUT = Enq.PUSHOUT, Enq.CLAMPED_PUSHOUT


@dataclass(frozen=True, slots=True)
class NodeSpec:
    kind: str  # fifo, pifo, rbtree
    capacity: int
    range: int  # pifo: ranks per window
    parent: int  # its parent's node, -1 at the top
    clock: int = -1  # its virtual clock (an index into Tree.clocks), -1: the real one
    base: int | None = None  # pifo: where its windows stay, if they do
    pushout: bool = False  # full, it pushes out its worst packet for a better one


def _queue(s: NodeSpec) -> Fifo | Pifo | RBTree:
    match s.kind:
        case "fifo":
            return Fifo(s.capacity)
        case "pifo":
            return Pifo(s.capacity, s.range, s.base)
    return RBTree(s.capacity)


def _insert(q: Fifo | Pifo | RBTree, rank: int, item: int, size: int) -> None:
    """An entry that cannot be refused (a token, or a packet whose time came): a rank
    beyond a PIFO's windows takes its last bucket (kern/tree.h xdpq_node_insert)."""
    if q.enqueue(rank, item, size) is _OUT_OF_WINDOW:
        q.enqueue(q.base + 2 * q.range - 1, item, size)  # type: ignore[union-attr]


def _window(q: Fifo | Pifo | RBTree, rank: int) -> Enq:
    """What enqueueing ``rank`` would answer now, for a packet that is to wait."""
    return q.window(rank) if isinstance(q, Pifo) else _OK


class Tree:
    def __init__(self, specs: list[NodeSpec], tops: int, clocks: int = 0) -> None:
        n = len(specs)
        self.tops = tops
        self._tops = range(tops)
        self.parent = [s.parent for s in specs]
        self.cap = [s.capacity for s in specs]
        self.vclock = [s.clock for s in specs]
        self.pushout = [s.pushout for s in specs]
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
        # The entry the last PUSHOUT outcome pushed out: (rank, item, size).
        self.evicted: tuple[int, int, int] = (0, -1, 0)

    # -- entering ------------------------------------------------------------------

    def push(self, n: int, item: int, rank: int, size: int, at: int, now: int) -> Enq:
        """A packet into leaf ``n``: stored (OK, CLAMPED), stored pushing one out
        (PUSHOUT, CLAMPED_PUSHOUT: ``evicted``) or refused."""
        length = self.len
        if length[n] >= self.cap[n]:
            return self._push_out(n, item, rank, size, now) if self.pushout[n] else _FULL
        k = self.vclock[n]
        if at > (now if k < 0 else self.clocks[k]):
            return self._wait(n, item, rank, size, at, now)
        res = self.q[n].enqueue(rank, item, size)
        if res is _OK or res is _CLAMPED:
            length[n] += 1
            self.bytes[n] += size
            self._gained(n, now)
        return res

    def _push_out(self, n: int, item: int, rank: int, size: int, now: int) -> Enq:
        """Full push-out leaf ``n`` (kern/tree.h xdpq_node_enter, xdpq_tree_push_rb):
        its worst entry leaves for an arrival that would be served before it, else
        the arrival is refused. The node stays non-empty, so its token stays; none of
        its packets wait (the checker sees to it)."""
        victim = self.q[n].evict(rank)  # type: ignore[union-attr]
        if victim is None:
            return _FULL
        self.evicted = victim
        self.len[n] -= 1
        self.avail[n] -= 1
        self.bytes[n] -= victim[2]
        res = self.push(n, item, rank, size, now, now)
        return _CLAMPED_PUSHOUT if res is _CLAMPED else _PUSHOUT

    def _wait(self, n: int, item: int, rank: int, size: int, at: int, now: int) -> Enq:
        """A packet that is not yet eligible: into the heap of its clock."""
        res = _window(self.q[n], rank)
        if res is _OUT_OF_WINDOW:
            return res
        self.seq += 1
        self.len[n] += 1
        self.bytes[n] += size
        if self.vclock[n] < 0:
            heappush(self.heap, (at, self.seq, item, rank, size, n))
        else:
            heappush(self.vheap[n], (at, self.seq, item, rank, size))
            self._gained(n, now)
        return res

    def place(self, c: int, rank: int, at: int, now: int) -> None:
        """Node ``c``'s token into its parent, with the rank and time its ready hook gave."""
        if self._ranked(c, rank, at):
            self._put(c, now)

    def replace(self, c: int, rank: int, at: int, now: int) -> None:
        """``place`` for a node on a dequeue's way back up (kern/tree.h
        xdpq_tree_replace). Its parent is on that way too, its token held by the
        dequeue (or it is at the top, with none): never parked, so a token that
        need not wait goes into the parent's queue and no further."""
        if not self._ranked(c, rank, at):
            return
        p = self.parent[c]
        k = self.vclock[p]
        if at > (self.clocks[k] if k >= 0 else now):
            self._put(c, now)
        else:
            _insert(self.q[p], rank, -1 - c, 0)
            self.state[c] = ELIGIBLE
            self.avail[p] += 1

    def _ranked(self, c: int, rank: int, at: int) -> bool:
        """Node ``c``'s token has its rank and time and counts in its parent: whether
        it is to be put now (else it parks until ``c`` has an entry it could serve)."""
        self.trank[c], self.tat[c] = rank, at
        self.len[self.parent[c]] += 1
        if self.avail[c]:
            return True
        self.state[c] = PARKED
        return False

    def release(self, c: int) -> None:
        """A held token whose node is empty: it has no place until the node has packets."""
        self.state[c] = NONE

    def _put(self, c: int, now: int) -> None:
        """Token of ``c`` (which has avail) into its parent's queue or heap; and up,
        while each parent gains its first entry with its own token parked."""
        avail, state = self.avail, self.state
        while True:
            p = self.parent[c]
            k = self.vclock[p]
            at = self.tat[c]
            if at <= (self.clocks[k] if k >= 0 else now):
                _insert(self.q[p], self.trank[c], -1 - c, 0)
                state[c] = ELIGIBLE
            else:
                self.seq += 1
                state[c] = WAITING
                if k < 0:
                    heappush(self.heap, (at, self.seq, -1 - c, self.trank[c], 0, p))
                    return
                heappush(self.vheap[p], (at, self.seq, -1 - c, self.trank[c], 0))
            avail[p] += 1
            if avail[p] != 1 or state[p] != PARKED:
                return
            c = p

    def _gained(self, n: int, now: int) -> None:
        """Node ``n`` has one more entry it could serve: its token, if that was parked
        for want of one, is put now."""
        self.avail[n] += 1
        if self.avail[n] == 1 and self.state[n] == PARKED:
            self._put(n, now)

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

    def _refill(self, n: int, k: int) -> None:
        """Virtual-clock node ``n``: its entries whose time has come into its queue; with
        none eligible, the clock first moves on to the earliest it holds."""
        q, h = self.q[n], self.vheap[n]
        if h and not len(q) and h[0][0] > self.clocks[k]:
            self.clocks[k] = h[0][0]
        v = self.clocks[k]
        while h and h[0][0] <= v:
            _, _, item, rank, size = heappop(h)
            if item < 0:
                self.state[-1 - item] = ELIGIBLE
            _insert(q, rank, item, size)

    def serve(self) -> tuple[int, int, int] | None:
        """The first top-level node that can serve gives its head, walking down the
        tokens to a packet: (rank, item, size), the path in path_node/path_rank."""
        avail = self.avail
        for n in self._tops:
            if avail[n]:
                break
        else:
            return None
        d = 0
        vclock, queues, length, nbytes = self.vclock, self.q, self.len, self.bytes
        path_node, path_rank = self.path_node, self.path_rank
        while True:
            if vclock[n] >= 0:
                self._refill(n, vclock[n])
            e = queues[n].pop()
            avail[n] -= 1
            length[n] -= 1
            nbytes[n] -= e[2]  # type: ignore[index]
            path_node[d] = n
            path_rank[d] = e[0]  # type: ignore[index]
            if e[1] >= 0:  # type: ignore[index]
                self.depth = d
                return e
            n = -1 - e[1]  # type: ignore[index]
            self.state[n] = HELD
            d += 1
