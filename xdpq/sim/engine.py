"""The discrete-event core: a clock, a heap of events, and a stream of arrivals.

Time is integer nanoseconds, like the kernel's monotonic clock. Events at the
same time run in the order they were scheduled (a sequence number breaks
ties), and arrivals at a time run before events scheduled for that time, so
a run is a pure function of its inputs. Arrivals are not put on the heap:
they are merged in from their (time-ordered) stream as the clock reaches
them, which halves the heap's work.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable
from typing import TypeVar

Action = Callable[[], None]
T = TypeVar("T")


class Engine:
    def __init__(self) -> None:
        self.now = 0
        self._heap: list[tuple[int, int, Action]] = []
        self._seq = itertools.count()

    def at(self, time: int, action: Action) -> None:
        """Run ``action`` at ``time``; a time in the past means now."""
        heapq.heappush(self._heap, (time if time > self.now else self.now, next(self._seq), action))

    def run(self, arrivals: Iterable[tuple[int, T]], on_arrival: Callable[[T], None],
            until: int | None = None) -> None:
        """Run until nothing is left (or ``until``), feeding in ``(time, item)`` arrivals."""
        heap, pop = self._heap, heapq.heappop
        stream = iter(arrivals)
        nxt = next(stream, None)
        end = until if until is not None else 1 << 63
        while True:
            if nxt is not None and (not heap or nxt[0] <= heap[0][0]):
                if nxt[0] > end:
                    break
                self.now = nxt[0]
                on_arrival(nxt[1])
                nxt = next(stream, None)
            elif heap and heap[0][0] <= end:
                self.now, _, action = pop(heap)
                action()
            else:
                break
        if until is not None:
            self.now = max(self.now, until)
