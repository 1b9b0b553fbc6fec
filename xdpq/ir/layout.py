"""Where a program's queues live: what both back ends derive from the IR alike.

Every queue (each queue of an array too) is a **node** of the scheduling tree,
numbered across the program: first the top-level queues in the order they are
served (declaration order: strict priority among them), then every other
queue, declaration by declaration, an array's queues in row-major order. A
node under a parent stands in it by its **token**, whose link number is
``POOL_SLOTS + node - tops`` (kern/tree.h XDPQ_TOKEN_OF). The layout also
carves the storage of every PIFO out of the program's bucket and bitmap
arrays, and gives the C names the runtime reads back from BTF. Computed once
here, so that the C back end, the Python back end and the runtime cannot
disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdpq.ir.nodes import Program, Queue

PIFO_MIDS = 16
# Frames the datapath holds at once (kern/xdpq_defs.h XDPQ_POOL_SLOTS).
POOL_SLOTS = 4096
# Tokens of all queues under parents share one numbering (kern/queue_common.h
# XDPQ_TOKEN): at most as many as the slot pool has slots.
MAX_TOKENS = POOL_SLOTS
# Levels of a tree, the top-level queue included (kern/tree.h XDPQ_MAX_DEPTH).
MAX_DEPTH = 8


def window_words(rng: int) -> int:
    """Bitmap words of one PIFO window (kern/pifo.h XDPQ_PIFO_WINDOW_WORDS)."""
    return 1 + PIFO_MIDS + rng // 64


def _pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


@dataclass(frozen=True, slots=True)
class Layout:
    first: dict[str, int]  # a declaration -> the node of its queue 0
    tops: int  # nodes 0..tops-1 are the top-level queues, in the order they are served
    depth: dict[str, int]  # a declaration -> its level (0 at the top)
    parent: tuple[int, ...]  # node -> its parent's node, -1 at the top
    decl: tuple[str, ...]  # node -> its declaration
    index: tuple[int, ...]  # node -> its index in the last dimension of its declaration
    pifo_offsets: dict[int, tuple[int, int]]  # a PIFO node -> (bucket0, word0)
    pifo_buckets: int  # storage of all PIFOs, powers of two (kern/pifo.h)
    pifo_words: int

    @property
    def nodes(self) -> int:
        return len(self.parent)

    def token(self, node: int) -> int:
        """The link by which a node under a parent stands in it (kern/tree.h)."""
        return POOL_SLOTS + node - self.tops

    def nodes_of(self, name: str, count: int | None) -> range:
        return range(self.first[name], self.first[name] + (count or 1))


def flat(shape: tuple[int, ...], index: tuple[int, ...]) -> int:
    """Row-major position of ``index`` in an array of ``shape``."""
    n = 0
    for size, i in zip(shape, index, strict=True):
        n = n * size + i
    return n


def unflat(shape: tuple[int, ...], n: int) -> tuple[int, ...]:
    out = []
    for size in reversed(shape):
        out.append(n % size)
        n //= size
    return tuple(reversed(out))


def depths(prog: Program) -> dict[str, int]:
    out: dict[str, int] = {}
    for q in prog.queues:
        d, p = 0, q.parent
        while p is not None:
            d, p = d + 1, prog.queue(p).parent
        out[q.name] = d
    return out


def layout(prog: Program) -> Layout:
    tops = [q for q in prog.queues if q.parent is None]
    order = [*tops, *(q for q in prog.queues if q.parent is not None)]
    first: dict[str, int] = {}
    n = 0
    for q in order:
        first[q.name] = n
        n += q.count or 1
    parent = [-1] * n
    decl = [""] * n
    index = [0] * n
    offsets: dict[int, tuple[int, int]] = {}
    bucket = word = 0
    for q in prog.queues:  # PIFO storage in declaration order
        for k in range(q.count or 1):
            node = first[q.name] + k
            decl[node] = q.name
            idx = unflat(q.shape, k)
            index[node] = idx[-1] if idx else 0
            if q.parent is not None:
                p = prog.queue(q.parent)
                parent[node] = first[p.name] + flat(p.shape, idx[:len(p.shape)])
            if q.kind == "pifo":
                offsets[node] = (bucket, word)
                bucket += 2 * q.range
                word += 2 * window_words(q.range)
    return Layout(first, len(tops), depths(prog), tuple(parent), tuple(decl), tuple(index),
                  offsets, _pow2(max(bucket, 1)), _pow2(max(word, 1)))


def queue_var(q: Queue) -> str:
    """The C variable of a single rbtree queue's root (XDPQ_RBTREE_DEFINE): a prefix of
    its own and a trailing ``_`` keep it from ever being another queue's name."""
    return f"xq_t_{q.name}_"
