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
