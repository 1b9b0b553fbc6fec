"""The datapath's bypass FIFO around a scheduler: what the simulator's loop runs.

Frames the scheduler does not claim (non-IP such as ARP, what the parser cannot
read, what the program's classify passes) are not the program's to schedule,
yet a deployment carries them: ``xdpq_ingress`` stores them in a FIFO of
:data:`~xdpq.ir.outcomes.BYPASS_CAPACITY` frames, and the dequeue serves that
FIFO before the program's queues (strict priority; the program's hooks never
see those frames). :class:`Bypassed` does the same to a generated scheduler:
its ``admit`` answers :class:`~xdpq.ir.outcomes.Bypass` for such a frame, and
its ``step`` gives the FIFO's head first, rank 0, as ``xdpq_step`` does.
With :attr:`Unclaimed.STACK` the frames go to the local stack, as the kernel's
``--unclaimed stack``: the claim is the answer, and nothing is queued.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from xdpq.ir.outcomes import BYPASS_CAPACITY, Bypass, Claim, Deq, Dequeued, Unclaimed
from xdpq.queues import Enq

_FORWARDED = {Claim.UNCLAIMED: Bypass.UNCLAIMED, Claim.MALFORMED: Bypass.MALFORMED}


class Bypassed:
    """``scheduler`` (a generated :class:`~xdpq.codegen.python.Scheduler`) behind the
    datapath's bypass FIFO."""

    def __init__(self, scheduler: Any, unclaimed: Unclaimed = Unclaimed.FORWARD,
                 capacity: int = BYPASS_CAPACITY) -> None:
        self.scheduler = scheduler
        self.forward = unclaimed is Unclaimed.FORWARD
        self.capacity = capacity
        self.fifo: deque[tuple[int, int]] = deque()  # (item, size)

    def admit(self, pkt: Any, item: int, now: int) -> Claim | Enq | Bypass:
        res = self.scheduler.admit(pkt, item, now)
        forwarded = _FORWARDED.get(res) if self.forward and isinstance(res, Claim) else None
        if forwarded is None:
            return res
        if len(self.fifo) >= self.capacity:
            return Bypass.FULL
        self.fifo.append((item, pkt.len))
        return forwarded

    def step(self, now: int) -> tuple[Deq, int, int, int, int]:
        if self.fifo:
            item, size = self.fifo.popleft()
            return Deq.OK, item, 0, size, 0
        return self.scheduler.step(now)

    def dequeue(self, now: int) -> Dequeued:
        return Dequeued(*self.step(now))

    @property
    def reasons(self) -> dict[str, list[int]]:
        return self.scheduler.reasons
