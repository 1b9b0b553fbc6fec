"""The egress: a device queue drained at the link rate, and BQL over it.

Mirrors kern/datapath.h: the scheduler moves packets into the device while
the bytes in flight stay under the limit; the device serializes them one at
a time at ``rate_bps``; a packet's completion (the end of its serialization)
retires its bytes, may adapt the limit, and lets the scheduler run again.
The adaptive rule is the kernel's: grow by what completed when the device
ran dry while the scheduler was stopped on the limit; over a hold period in
which the limit never stopped the scheduler, shrink to the peak in flight.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from xdpq.runtime.bql import Bql, BqlMode
from xdpq.sim.engine import Engine

BQL_MIN, BQL_MAX, BQL_HOLD_NS = 1514, 4 * 1024 * 1024, 1_000_000


@dataclass
class BqlState:
    config: Bql
    limit: int = 0
    inflight: int = 0
    blocked: bool = False
    hit: bool = False
    peak: int = 0
    period_start: int = 0

    def __post_init__(self) -> None:
        self.limit = self.config.limit

    def allows(self) -> bool:
        return self.config.mode is BqlMode.OFF or self.inflight < self.limit

    def sent(self, size: int) -> None:
        self.inflight += size
        self.peak = max(self.peak, self.inflight)

    def completed(self, now: int, size: int) -> None:
        self.inflight -= size
        if self.config.mode is not BqlMode.ADAPTIVE:
            return
        limit = self.limit
        if self.inflight <= 0 and self.blocked:
            limit += size
        if now - self.period_start > BQL_HOLD_NS:
            if not self.hit and self.peak and self.peak < limit:
                limit = self.peak
            self.hit, self.peak, self.period_start = False, 0, now
        self.limit = min(max(limit, BQL_MIN), BQL_MAX)


@dataclass
class Link:
    engine: Engine
    rate_bps: int
    propagation_ns: int
    bql: BqlState
    on_complete: Callable[[int], None]  # called with the item when its bytes are on the wire
    on_deliver: Callable[[int], None]  # called with the item when it reaches the far end
    _queue: deque[tuple[int, int]] = field(default_factory=deque)
    _busy: bool = False

    def serialization_ns(self, size: int) -> int:
        return -(-size * 8 * 1_000_000_000 // self.rate_bps)

    def send(self, item: int, size: int) -> None:
        self.bql.sent(size)
        self._queue.append((item, size))
        if not self._busy:
            self._start_next()

    def _start_next(self) -> None:
        if not self._queue:
            self._busy = False
            return
        self._busy = True
        item, size = self._queue.popleft()
        done = self.engine.now + self.serialization_ns(size)
        self.engine.at(done, lambda: self._finish(item, size))

    def _finish(self, item: int, size: int) -> None:
        now = self.engine.now
        self.bql.completed(now, size)
        if self.propagation_ns:
            self.engine.at(now + self.propagation_ns, lambda: self.on_deliver(item))
        else:
            self.on_deliver(item)
        self._start_next()
        self.on_complete(item)
