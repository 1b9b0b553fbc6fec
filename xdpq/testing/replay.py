"""A simulation's event log, replayed into the kernel program on a virtual clock.

The simulator (``xdpq.sim.run.Simulation`` with ``trace=``) logs arrivals,
dequeues, stops on the BQL limit and on the link rate, and completions; the
same events, at the same virtual times, go into the kernel through a
:class:`~xdpq.testing.stepper.Stepper`, and every answer must be the
simulator's: each dequeue's outcome, each stop on the rate's release time,
and (when ``bql``) each completion's limit and bytes in flight. What the
kernel dequeued is returned, so that a test can hold the kernel's own
departures to a bound as well as the simulator's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdpq.ir.link import Hold
from xdpq.ir.outcomes import Deq
from xdpq.testing.stepper import Stepper


class Mismatch(AssertionError):
    """The kernel answered an event differently from the simulator."""


@dataclass(frozen=True, slots=True)
class Sent:
    time: int  # the virtual time of the dequeue
    len: int
    rank: int


def replay(kernel: Stepper, log: Sequence[tuple[object, ...]], frames: Sequence[bytes],
           bql: bool = True, transmit: bool = False) -> list[Sent]:
    """Each event of ``log`` into ``kernel`` (arrival ``item`` is ``frames[item]``);
    the frames the kernel dequeued, in order. Raises :class:`Mismatch` at the first
    answer that is not the simulator's. With ``transmit`` (the kernel needs an egress),
    each frame dequeued is transmitted at once, giving its slot back to the pool when
    the simulator's model does: a run longer than the pool needs it."""
    sent: list[Sent] = []
    for event in log:
        match event:
            case ("arrive", now, item):
                kernel.ingress(frames[item], now)  # type: ignore[index]
            case ("step", now, outcome):
                got = kernel.step(now)  # type: ignore[arg-type]
                _same(got.result, outcome.value, event)  # type: ignore[attr-defined]
                if got.result == Deq.OK.value:
                    sent.append(Sent(now, got.len, got.rank))  # type: ignore[arg-type]
                    if transmit and not kernel.transmit():
                        raise Mismatch(f"{event}: the frame dequeued was not staged")
            case ("blocked", now):
                _same(kernel.step(now).result, Hold.BQL, event)  # type: ignore[arg-type]
            case ("held", now, when):
                got = kernel.step(now)  # type: ignore[arg-type]
                _same((got.result, got.when), (Hold.RATE, when), event)
            case ("complete", now, _, limit, inflight):
                done = kernel.complete(now)  # type: ignore[arg-type]
                if bql:
                    _same((done.limit, done.inflight), (limit, inflight), event)
    return sent


def _same(kernel: object, model: object, event: tuple[object, ...]) -> None:
    if kernel != model:
        raise Mismatch(f"{event}: the kernel answered {kernel}, the simulator {model}")
