"""Read the per-CPU outcome counters of a loaded xdpq object.

The counter names come from the object's BTF (``enum xdpq_counter`` in
kern/counters.h), so kernel and user space cannot drift apart.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from xdpq.bpf import BpfObject
from xdpq.bpf.maps import u32

_PREFIX = "XDPQ_CNT_"


@dataclass(frozen=True, slots=True)
class Count:
    packets: int
    bytes: int


def counter_names(obj: BpfObject) -> dict[str, int]:
    """Counter name (``drop_queue_full``) to its index in the counters map."""
    return {
        name.removeprefix(_PREFIX).lower(): value
        for name, value in obj.enum("xdpq_counter").items()
        if name.startswith(_PREFIX) and not name.endswith("__MAX")
    }


def read_counters(obj: BpfObject) -> dict[str, Count]:
    """Every counter, summed over CPUs."""
    counters = obj.map("xdpq_counters")
    out = {}
    for name, index in counter_names(obj).items():
        packets = nbytes = 0
        for raw in counters.lookup_percpu(u32(index)):
            p, b = struct.unpack_from("=QQ", raw)
            packets += p
            nbytes += b
        out[name] = Count(packets, nbytes)
    return out


@dataclass(frozen=True, slots=True)
class Stops:
    """Why the scheduler's timer stopped, counted by cause (``enum xdpq_stop`` in
    kern/datapath.h: empty, eligibility, rate, bql), and the last cause."""

    counts: dict[str, int]
    last: str

    @property
    def binding(self) -> str:
        """What limits the scheduler now: the limit it stopped on last (``rate``,
        ``bql``, or ``eligibility``: its own pacing), or ``none`` (it ran out of
        packets: the offered load is below every limit)."""
        return "none" if self.last == "empty" else self.last


def read_stops(obj: BpfObject) -> Stops:
    names = {value: name.removeprefix("XDPQ_STOP_").lower()
             for name, value in obj.enum("xdpq_stop").items() if not name.endswith("__MAX")}
    bss = obj.section(".bss")
    counts = struct.unpack(f"={len(names)}Q", bss.read("xdpq_stops"))
    return Stops({names[i]: n for i, n in enumerate(counts)},
                 names.get(bss["xdpq_stop_last"], "empty"))
