"""Where a program's queues live: the numbering and storage both back ends share."""

from __future__ import annotations

from dataclasses import dataclass

from xdpq.ir.nodes import Program

PIFO_MIDS = 16


def window_words(rng: int) -> int:
    """Bitmap words of one PIFO window (kern/pifo.h XDPQ_PIFO_WINDOW_WORDS)."""
    return 1 + PIFO_MIDS + rng // 64


def _pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


@dataclass(frozen=True, slots=True)
class Layout:
    leaf_ids: dict[str, int]  # queues packets go into -> their number in the meta
    pifo_offsets: dict[str, list[tuple[int, int]]]  # pifo -> (bucket0, word0) per queue
    pifo_buckets: int  # storage of all PIFOs, powers of two (kern/pifo.h)
    pifo_words: int


def layout(prog: Program) -> Layout:
    leaf_ids = {q.name: i for i, q in enumerate(q for q in prog.queues if q.children is None)}
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
    return Layout(leaf_ids, offsets, _pow2(max(bucket, 1)), _pow2(max(word, 1)))
