"""Where a program's queues live: what both back ends derive from the IR alike.

The numbering of leaf queues (what classify leaves in the meta), the order
in which top-level queues are served, which array a parent schedules, the
numbers of the tokens by which a parent holds its children, the storage of
every PIFO, and the C names of queues (which the runtime reads back from
BTF). Computed once here, so that the C back end, the Python back end and
the runtime cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdpq.ir.nodes import Program, Queue

PIFO_MIDS = 16
# Frames the datapath holds at once (kern/xdpq_defs.h XDPQ_POOL_SLOTS).
POOL_SLOTS = 4096
# Tokens of all arrays share one numbering (kern/queue_common.h XDPQ_TOKEN): at most
# as many as the slot pool has slots.
MAX_TOKENS = POOL_SLOTS


def window_words(rng: int) -> int:
    """Bitmap words of one PIFO window (kern/pifo.h XDPQ_PIFO_WINDOW_WORDS)."""
    return 1 + PIFO_MIDS + rng // 64


def _pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def queue_var(q: Queue) -> str:
    """A queue's C variable. An rbtree's root is that name and ``_root``
    (XDPQ_RBTREE_DEFINE): a prefix of its own and a trailing ``_`` keep it from
    ever being another queue's name (``a_root`` next to ``a``)."""
    return f"xq_t_{q.name}_" if q.kind == "rbtree" else f"xq_q_{q.name}"


@dataclass(frozen=True, slots=True)
class Layout:
    leaf_ids: dict[str, int]  # queues packets go into -> their number in the meta
    serve: tuple[Queue, ...]  # queues without a parent, in the order they are served
    token_base: dict[str, int]  # an array under a parent -> the token of its queue 0
    pifo_offsets: dict[str, list[tuple[int, int]]]  # pifo -> (bucket0, word0) per queue
    pifo_buckets: int  # storage of all PIFOs, powers of two (kern/pifo.h)
    pifo_words: int

    def token(self, array: str, index: int) -> int:
        """The token by which queue ``index`` of ``array`` stands in its parent."""
        return self.token_base[array] + index


def layout(prog: Program) -> Layout:
    leaf_ids = {q.name: i for i, q in enumerate(q for q in prog.queues if q.children is None)}
    serve = tuple(q for q in prog.queues if q.parent is None)
    token_base: dict[str, int] = {}
    tokens = 0
    for q in prog.queues:
        if q.parent is not None:
            token_base[q.name] = tokens
            tokens += q.count or 1
    offsets: dict[str, list[tuple[int, int]]] = {}
    bucket = word = 0
    for q in prog.queues:
        if q.kind != "pifo":
            continue
        offsets[q.name] = []
        for _ in range(q.count or 1):
            offsets[q.name].append((bucket, word))
            bucket += 2 * q.range
            word += 2 * window_words(q.range)
    return Layout(leaf_ids, serve, token_base, offsets, _pow2(max(bucket, 1)),
                  _pow2(max(word, 1)))
