"""The demo's workloads, and what a run of one yields on either side."""

from __future__ import annotations

from dataclasses import dataclass, field

from xdpq.errors import XdpqError
from xdpq.sim.metrics import percentile

SCHEDULERS = ("stfq", "hpfq")
FRAME = 500  # bytes per frame, every flow (held: the backlog must fit the slot pool)
CONTINUOUS_FRAME = 1000  # bytes per frame of the continuous demo
TOLERANCE_PP = 5.0


@dataclass(frozen=True, slots=True)
class DemoFlow:
    label: str
    dscp: int  # the class (dscp / 8) is what stfq and hpfq weigh
    expected: float  # the share the scheduler's weights promise while all are backlogged


@dataclass(frozen=True, slots=True)
class Workload:
    scheduler: str
    params: dict[str, list[int]]
    flows: tuple[DemoFlow, ...]
    what: str  # one line for people
    packets: int = 1300  # per flow; all flows together must fit the slot pool (4096)
    size: int = FRAME

    def order(self) -> list[int]:
        """The flow of each packet in sending order: round robin, one each."""
        return [f for _ in range(self.packets) for f in range(len(self.flows))]


def workload(scheduler: str, packets: int | None = None) -> Workload:
    match scheduler:
        case "stfq":
            w = Workload(
                "stfq",
                {"weight": [1, 2, 3, 1, 1, 1, 1, 1]},
                (DemoFlow("A", 0, 1 / 6), DemoFlow("B", 8, 2 / 6), DemoFlow("C", 16, 3 / 6)),
                "STFQ, weights 1:2:3: flows A, B, C in DSCP classes 0, 1, 2",
            )
        case "hpfq":
            w = Workload(
                "hpfq",
                {"weight": [1, 2, 1, 1, 1, 1, 1, 1]},
                (DemoFlow("A", 0, 1 / 6), DemoFlow("B", 0, 1 / 6), DemoFlow("C", 8, 4 / 6)),
                "HPFQ, tenants 1:2: flows A and B share tenant 0 (weight 1), "
                "flow C is tenant 1 (weight 2)",
            )
        case _:
            raise XdpqError(f"no demo for '{scheduler}': choose {' or '.join(SCHEDULERS)}")
    if packets is not None:
        if packets < 10:
            raise XdpqError(f"--packets {packets}: at least 10 per flow")
        w = Workload(w.scheduler, w.params, w.flows, w.what, packets)
    return w


@dataclass(frozen=True, slots=True)
class Departure:
    flow: int
    size: int
    sojourn_ns: int  # from the release of the backlog to the delivery


@dataclass
class FlowResult:
    label: str
    sent: int
    delivered: int
    share: float  # of the bytes delivered in the contended window
    latency_p50_ns: int
    latency_p99_ns: int


@dataclass
class Side:
    """What one execution (simulator or kernel) did with the workload."""

    name: str
    flows: list[FlowResult]
    window: int  # departures in the contended window
    drops: dict[str, int]  # reason -> packets
    delivered: int
    drain_ns: int  # release to the last delivery
    extra: dict[str, float] = field(default_factory=dict)


def contended(departures: list[Departure], flows: int) -> int:
    """How many departures happened while every flow still had packets waiting: up to
    and including the one that took some flow's last packet."""
    left = [0] * flows
    for d in departures:
        left[d.flow] += 1
    for i, d in enumerate(departures):
        left[d.flow] -= 1
        if left[d.flow] == 0:
            return i + 1
    return len(departures)


def side(
    name: str,
    w: Workload,
    departures: list[Departure],
    window: int,
    drops: dict[str, int],
    sent: list[int],
) -> Side:
    """Shares over the first ``window`` departures; latencies over all of them."""
    n = len(w.flows)
    in_window = [0] * n
    for d in departures[:window]:
        in_window[d.flow] += d.size
    total = sum(in_window) or 1
    flows = []
    for f, spec in enumerate(w.flows):
        lat = sorted(d.sojourn_ns for d in departures if d.flow == f)
        flows.append(
            FlowResult(
                spec.label,
                sent[f],
                len(lat),
                in_window[f] / total,
                percentile(lat, 50),
                percentile(lat, 99),
            )
        )
    drain = max((d.sojourn_ns for d in departures), default=0)
    return Side(
        name, flows, window, {k: v for k, v in sorted(drops.items()) if v}, len(departures), drain
    )
