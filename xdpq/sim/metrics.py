"""What a simulation's records say: throughput, shares, fairness, latency,
flow completion times, drops by reason, TCP flows' goodput over time; written
as JSON and CSV."""

from __future__ import annotations

import bisect
import csv
import json
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

from xdpq.sim.run import DROPPED, Record, Result
from xdpq.sim.tcp import TcpStats

N = TypeVar("N", int, float)


def percentile(sorted_values: list[N], q: float) -> N | int:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not sorted_values:
        return 0
    rank = max(1, -(-int(q * 1000) * len(sorted_values) // 100_000))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def jain(values: list[float]) -> float:
    """Jain's fairness index: 1 when all are equal, 1/n when one takes all."""
    total, squares = sum(values), sum(v * v for v in values)
    return total * total / (len(values) * squares) if squares else 1.0


@dataclass(frozen=True)
class FlowStats:
    flow: int
    packets: int
    delivered: int
    bytes_delivered: int
    throughput_bps: float
    share: float
    latency_p50_ns: int
    latency_p99_ns: int
    latency_p999_ns: int
    fct_ns: int  # first arrival to last delivery, when every packet was delivered; else 0
    slowdown: float  # FCT over the time the flow alone would take on the link
    # Packets dropped, by reason: the program's own (``drop codel``: "codel"), else the
    # datapath's counter ("drop_queue_full").
    drops: dict[str, int] = field(default_factory=dict)
    queued: int = 0  # packets still queued (or on the wire) when the run ended
    marks: dict[str, int] = field(default_factory=dict)  # ECN CE marks, by the program's reason


@dataclass(frozen=True)
class Summary:
    duration_ns: int
    packets: int
    delivered: int
    throughput_bps: float
    jain_index: float
    latency_p50_ns: int
    latency_p99_ns: int
    latency_p999_ns: int
    outcomes: dict[str, int]
    counters: dict[str, int]
    flows: list[FlowStats]
    # Drops by the program's own reasons, every reason it has: name -> packets, bytes
    # (as ``xdpq stats --json`` shows a deployment's).
    scheduler_drops: dict[str, dict[str, int]] = field(default_factory=dict)
    # ECN marks (``mark ce``) likewise.
    scheduler_marks: dict[str, dict[str, int]] = field(default_factory=dict)


def drop_reasons(records: list[Record], dropped: Mapping[int, str]) -> list[str]:
    """Each record's drop reason: the program's own for a packet it dropped (``dropped``:
    record index -> reason), else the datapath's counter; "" for a packet not dropped."""
    return [dropped.get(i, r.outcome) if r.outcome.startswith("drop_") else ""
            for i, r in enumerate(records)]


def summarize(result: Result, rate_bps: int, propagation_ns: int = 0,
              weights: dict[int, float] | None = None, dropped: Mapping[int, str] | None = None,
              reasons: Mapping[str, list[int]] | None = None,
              marked: list[tuple[int, str]] | None = None,
              marks: Mapping[str, list[int]] | None = None) -> Summary:
    """Per-flow and overall metrics; Jain's index is over throughput / weight. ``dropped``
    names the program's reason for the records it dropped, ``reasons`` holds its
    counters (name -> [packets, bytes]); ``marked`` and ``marks`` are the same for
    its ECN marks."""
    by_flow: dict[int, list[Record]] = defaultdict(list)
    drops: dict[int, Counter[str]] = defaultdict(Counter)
    for rec, why in zip(result.records, drop_reasons(result.records, dropped or {}),
                        strict=True):
        by_flow[rec.flow].append(rec)
        if why:
            drops[rec.flow][why] += 1
    flow_marks: dict[int, Counter[str]] = defaultdict(Counter)
    for item, why in marked or ():
        flow_marks[result.records[item].flow][why] += 1
    seconds = max(result.duration_ns, 1) / 1e9
    total_bytes = sum(r.size for r in result.records if r.departed != DROPPED)
    completed = {c.flow: c for c in completions(result.records, rate_bps, propagation_ns)}
    flows = []
    for flow, recs in sorted(by_flow.items()):
        done = [r for r in recs if r.departed != DROPPED]
        lat = sorted(r.departed - r.arrived for r in done)
        nbytes = sum(r.size for r in done)
        c = completed.get(flow)
        flows.append(FlowStats(
            flow=flow, packets=len(recs), delivered=len(done), bytes_delivered=nbytes,
            throughput_bps=nbytes * 8 / seconds, share=nbytes / total_bytes if total_bytes else 0,
            latency_p50_ns=percentile(lat, 50), latency_p99_ns=percentile(lat, 99),
            latency_p999_ns=percentile(lat, 99.9), fct_ns=c.fct_ns if c else 0,
            slowdown=c.slowdown if c else 0.0, drops=dict(sorted(drops[flow].items())),
            queued=sum(r.outcome == "unfinished" for r in recs),
            marks=dict(sorted(flow_marks[flow].items())),
        ))
    weights = weights or {}
    normalized = [f.throughput_bps / weights.get(f.flow, 1.0) for f in flows]
    lat_all = sorted(r.departed - r.arrived for r in result.records if r.departed != DROPPED)
    return Summary(
        duration_ns=result.duration_ns,
        packets=len(result.records),
        delivered=len(lat_all),
        throughput_bps=total_bytes * 8 / seconds,
        jain_index=jain(normalized) if normalized else 1.0,
        latency_p50_ns=percentile(lat_all, 50),
        latency_p99_ns=percentile(lat_all, 99),
        latency_p999_ns=percentile(lat_all, 99.9),
        outcomes=dict(Counter(r.outcome for r in result.records)),
        counters=dict(result.counters),
        flows=flows,
        scheduler_drops={r: {"packets": n, "bytes": b} for r, (n, b) in (reasons or {}).items()},
        scheduler_marks={r: {"packets": n, "bytes": b} for r, (n, b) in (marks or {}).items()},
    )


def write_json(summary: Summary, path: Path) -> None:
    path.write_text(json.dumps(asdict(summary), indent=2) + "\n")


def write_csv(records: list[Record], path: Path, dropped: Mapping[int, str] | None = None) -> None:
    """One row per packet; ``reason`` is a drop's reason as :func:`drop_reasons` has it."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["flow", "size", "arrived_ns", "departed_ns", "outcome", "reason"])
        for r, why in zip(records, drop_reasons(records, dropped or {}), strict=True):
            w.writerow([r.flow, r.size, r.arrived, "" if r.departed == DROPPED else r.departed,
                        r.outcome, why])


# --- flow completion times by flow size ---------------------------------------------------------

# The size classes of the pFabric and Homa evaluations.
SIZE_CLASSES = (("small (< 100 KB)", 0, 100_000), ("medium (100 KB - 10 MB)", 100_000, 10_000_000),
                ("large (>= 10 MB)", 10_000_000, 1 << 62))


@dataclass(frozen=True)
class Completion:
    flow: int
    size: int  # bytes
    fct_ns: int  # first arrival to the last byte's delivery
    slowdown: float  # FCT over the time the flow alone would take on an idle link


def completions(records: list[Record], rate_bps: int, propagation_ns: int = 0,
                flow_sizes: dict[int, int] | None = None) -> list[Completion]:
    """The flows that completed: every packet recorded was delivered and, where the
    workload said how big the flow is, that many bytes arrived (a flow the run cut
    off is not complete). Given ``flow_sizes``, only the flows it names count: a
    flow without an end has no completion time."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    nbytes: Counter[int] = Counter()
    lost: set[int] = set()
    for r in records:
        if r.flow not in first:
            first[r.flow] = r.arrived
        if r.departed == DROPPED:
            lost.add(r.flow)
            continue
        nbytes[r.flow] += r.size
        last[r.flow] = max(last.get(r.flow, 0), r.departed)
    sizes = flow_sizes or {}
    out = []
    for flow, start in first.items():
        if flow_sizes is not None and flow not in flow_sizes:
            continue
        size = sizes.get(flow) or nbytes[flow]
        if flow in lost or flow not in last or nbytes[flow] != size:
            continue
        fct = last[flow] - start
        ideal = size * 8 * 1e9 / rate_bps + propagation_ns
        out.append(Completion(flow, size, fct, fct / ideal if ideal else 0.0))
    return sorted(out, key=lambda c: c.flow)


def fct_summary(done: list[Completion]) -> list[dict[str, object]]:
    """Per size class: how many flows completed, mean and p99 FCT and slowdown."""
    rows = []
    for name, low, high in SIZE_CLASSES:
        cls = [c for c in done if low <= c.size < high]
        fcts = sorted(c.fct_ns for c in cls)
        slow = sorted(c.slowdown for c in cls)
        rows.append({
            "class": name, "flows": len(cls),
            "fct_mean_ns": round(sum(fcts) / len(fcts)) if fcts else 0,
            "fct_p99_ns": percentile(fcts, 99),
            "slowdown_mean": sum(slow) / len(slow) if slow else 0.0,
            "slowdown_p99": percentile(slow, 99),
        })
    return rows


# --- TCP flows ---------------------------------------------------------------------------------

TIMELINE_BINS = 200  # at most, over a run
TIMELINE_MIN_BIN_NS = 10_000_000


def timeline_bin(end_ns: int) -> int:
    """The width of a timeline's bins: at most TIMELINE_BINS over the run, whole
    milliseconds, at least TIMELINE_MIN_BIN_NS."""
    per = -(-end_ns // TIMELINE_BINS)
    return max(TIMELINE_MIN_BIN_NS, -(-per // 1_000_000) * 1_000_000)


def tcp_summary(stats: list[TcpStats], records: list[Record], end_ns: int,
                weights: Mapping[int, float] | None = None) -> dict[str, object]:
    """What the TCP flows did (their stats, without the samples), their goodput in all
    and Jain's index of it (over goodput / weight), and a timeline: each TCP flow's
    goodput and each other flow's median latency (of the packets that arrived in the
    bin and were delivered; None where none was) per bin."""
    weights = weights or {}
    bin_ns = timeline_bin(end_ns)
    bins = -(-end_ns // bin_ns)
    goodput: dict[str, list[float]] = {}
    for s in stats:
        # Bytes ACKed by each bin's edge, between the samples around it.
        times = [s.start_ns] + [t for t, _, _, _ in s.samples]
        acked = [0] + [nbytes for _, _, _, nbytes in s.samples]
        at_edge = [_between(times, acked, b * bin_ns) for b in range(bins + 1)]
        goodput[str(s.flow)] = [(at_edge[b + 1] - at_edge[b]) * 8e9 / bin_ns
                                for b in range(bins)]
    tcp_flows = {s.flow for s in stats}
    lat: dict[int, list[list[int]]] = defaultdict(lambda: [[] for _ in range(bins)])
    for r in records:
        if r.flow not in tcp_flows and r.departed != DROPPED and r.arrived < end_ns:
            lat[r.flow][r.arrived // bin_ns].append(r.departed - r.arrived)
    latency = {str(f): [percentile(sorted(x), 50) if x else None for x in per_bin]
               for f, per_bin in sorted(lat.items())}
    rates = [s.goodput_bps / weights.get(s.flow, 1.0) for s in stats]
    return {
        "goodput_bps": sum(s.goodput_bps for s in stats),
        "jain_index": jain(rates) if rates else 1.0,
        "flows": [{k: v for k, v in asdict(s).items() if k != "samples"} for s in stats],
        "timeline": {"bin_ns": bin_ns, "goodput_bps": goodput, "latency_ns": latency},
    }


def _between(xs: list[int], ys: list[int], x: int) -> float:
    """y at x on the line through the points (xs ascending); flat beyond them."""
    i = bisect.bisect_right(xs, x)
    if i == 0:
        return 0.0
    if i == len(xs):
        return float(ys[-1])
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0) if x1 > x0 else float(y1)


def write_tcp_csv(stats: list[TcpStats], path: Path) -> None:
    """One row per sample of a TCP flow: its window, smoothed RTT and bytes ACKed."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["flow", "time_ns", "cwnd_segments", "srtt_ns", "acked_bytes"])
        for s in stats:
            for t, cwnd, srtt, acked in s.samples:
                w.writerow([s.flow, t, round(cwnd, 2), srtt, acked])
