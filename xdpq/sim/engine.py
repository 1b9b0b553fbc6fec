"""The discrete-event core: a clock and a heap of events.

Time is integer nanoseconds, like the kernel's monotonic clock. Events at the
same time run in the order they were scheduled (a sequence number breaks
ties), so a run is a pure function of its inputs.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

Action = Callable[[], None]


class Engine:
    def __init__(self) -> None:
        self.now = 0
        self._heap: list[tuple[int, int, Action]] = []
        self._seq = itertools.count()

    def at(self, time: int, action: Action) -> None:
        """Run ``action`` at ``time`` (never in the past)."""
        heapq.heappush(self._heap, (max(time, self.now), next(self._seq), action))

    def run(self, until: int | None = None) -> None:
        heap = self._heap
        while heap and (until is None or heap[0][0] <= until):
            self.now, _, action = heapq.heappop(heap)
            action()
        if until is not None:
            self.now = max(self.now, until)
