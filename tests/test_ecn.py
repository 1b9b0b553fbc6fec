"""ECN: ``p.ecn`` and ``mark ce`` on dequeue, alike in the kernel and the simulator.

The kernel sets CE in the frame's slot before it is sent (IPv4: the header
checksum follows, RFC 1624), counts the mark under the program's reason and
the datapath's ``mark_ce``; a packet that is not ECN-capable takes the drop
the statement names. The simulator's class gives the same outcomes, the same
counts, and tells which packets it marked.
"""

from __future__ import annotations

import struct
from collections import Counter

import pytest

from conftest import REPO
from xdpq.codegen.build import compile_file, compile_source
from xdpq.codegen.python import scheduler_factory
from xdpq.ir.outcomes import Deq, enqueue_counters
from xdpq.packet import parse
from xdpq.queues import Enq
from xdpq.runtime.params import write_params
from xdpq.runtime.report import scheduler_reasons
from xdpq.sim.bypass import Bypassed
from xdpq.testing.frames import FrameSpec, frame
from xdpq.testing.stepper import Stepper

pytestmark = pytest.mark.kernel

# Every packet of 500 bytes or more is marked (or dropped if it cannot be); ECT(1)
# ones are dropped first under a reason of their own, so that p.ecn shows.
MARKER = """scheduler marker
queue q: fifo(capacity = 100)
on enqueue { enqueue q }
on dequeue(p) {
  if p.ecn == 1 { drop ect1 }
  if p.len >= 500B { mark ce big else drop not_ect }
}
"""
SLOT_DATA = 24  # struct xdpq_slot: len, pad, tstamp, inflight, then the frame


def checksummed(raw: bytes, vlan: bool = False) -> bytes:
    """An IPv4 frame with a correct header checksum (and an 802.1Q tag, if asked)."""
    if raw[12:14] == b"\x08\x00":
        head = bytearray(raw[14:34])
        words = struct.unpack("!10H", head)
        total = sum(words)
        total = (total & 0xFFFF) + (total >> 16)
        total = (total & 0xFFFF) + (total >> 16)
        head[10:12] = struct.pack("!H", ~total & 0xFFFF)
        raw = raw[:14] + bytes(head) + raw[34:]
    if vlan:
        raw = raw[:12] + b"\x81\x00\x00\x07" + raw[12:]
    return raw


def ipv4_header_ok(raw: bytes, l3: int) -> bool:
    total = sum(struct.unpack("!10H", raw[l3:l3 + 20]))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total == 0xFFFF


def frames() -> list[bytes]:
    out = []
    for size in (300, 900):
        for ecn in range(4):
            out.append(checksummed(frame(FrameSpec(size, sport=1000 + ecn, ecn=ecn))))
            out.append(frame(FrameSpec(size, src="fd00::1", dst="fd00::2", sport=2000 + ecn,
                                       ecn=ecn)))
        out.append(checksummed(frame(FrameSpec(size, sport=3000, ecn=2, dscp=46)), vlan=True))
    return out


def kernel_run(kernel: Stepper, raws: list[bytes], steps: int, dt: int
               ) -> tuple[list[tuple[int, int]], dict[int, bytes]]:
    """Each frame in at time 0, then ``steps`` dequeues ``dt`` apart: the outcomes
    (result, length) and, per slot sent, its frame after the dequeue."""
    for raw in raws:
        kernel.ingress(raw, 0)
    out, sent, now = [], {}, 0
    slots = kernel.obj.map("xdpq_slots")
    for _ in range(steps):
        now += dt
        s = kernel.step(now)
        out.append((s.result, s.len if s.result in (Deq.OK.value, Deq.DROP.value) else 0))
        if s.result == Deq.OK.value:
            value = slots.lookup(s.slot.to_bytes(4, "little"))
            assert value is not None
            sent[len(out) - 1] = value[SLOT_DATA:SLOT_DATA + s.len]
    return out, sent


def model_run(sched: Bypassed, raws: list[bytes], steps: int, dt: int
              ) -> tuple[list[tuple[int, int]], Counter[str], dict[int, int]]:
    counts: Counter[str] = Counter()
    for item, raw in enumerate(raws):
        res = sched.admit(parse(raw), item, 0)
        counts.update(enqueue_counters(res) if isinstance(res, Enq) else (res.value,))
    out, items, now = [], {}, 0
    for _ in range(steps):
        now += dt
        d = sched.dequeue(now)
        out.append((d.outcome.value, d.size if d.outcome in (Deq.OK, Deq.DROP) else 0))
        if d.outcome is Deq.OK:
            counts["dequeued"] += 1
            items[len(out) - 1] = d.item
        elif d.outcome is Deq.DROP:
            counts["drop_aqm"] += 1
    counts["mark_ce"] = len(sched.scheduler.marked)
    return out, +counts, items


def test_mark_sets_ce_and_keeps_the_checksum_and_the_simulator_agrees() -> None:
    compiled = compile_source(MARKER, "marker.xdpq")
    raws = frames()
    with Stepper(compiled.obj_path) as kernel:
        k_out, sent = kernel_run(kernel, raws, len(raws) + 1, 1000)
        k_counts = kernel.packets()
        k_marks = scheduler_reasons(kernel.obj, "mark")
        k_drops = kernel.reasons()
    sched = Bypassed(scheduler_factory(compiled.program)())
    m_out, m_counts, items = model_run(sched, raws, len(raws) + 1, 1000)
    assert k_out == m_out
    assert k_counts == m_counts
    model = sched.scheduler
    assert {r: (v["packets"], v["bytes"]) for r, v in k_marks.items()} == {
        r: tuple(v) for r, v in model.marks.items()}
    assert k_drops == {r: tuple(v) for r, v in model.reasons.items()}
    # 900-byte ECT(0) and CE frames (IPv4, IPv6, tagged): marked; Not-ECT ones dropped.
    assert model.marks["big"][0] == 5 and model.reasons["not_ect"][0] == 2
    assert model.reasons["ect1"][0] == 4
    marked = {item for item, _ in model.marked}
    for step, item in items.items():
        before, after = raws[item], sent[step]
        l3 = 18 if before[12:14] == b"\x81\x00" else 14
        if item not in marked:
            assert after == before
            continue
        v4 = after[l3] >> 4 == 4
        ecn = after[l3 + 1] & 3 if v4 else (after[l3 + 1] >> 4) & 3
        assert ecn == 3
        # Only the ECN bits (and IPv4's checksum) changed.
        diff = [i for i in range(len(after)) if after[i] != before[i]]
        assert set(diff) <= ({l3 + 1, l3 + 10, l3 + 11} if v4 else {l3 + 1})
        if v4:
            assert ipv4_header_ok(after, l3)


def test_fq_codel_marks_ect_packets_where_it_drops_others() -> None:
    """A standing queue of two flows, one ECN-capable: CoDel marks that one's packets
    and drops the other's, at the same times on both sides."""
    compiled = compile_file(REPO / "schedulers" / "fq_codel.xdpq")
    params = {"target": 1000, "interval": 1_000_000}
    raws = [checksummed(frame(FrameSpec(1000, sport=5000 + i % 2, ecn=2 * (i % 2))))
            for i in range(60)]
    with Stepper(compiled.obj_path) as kernel:
        write_params(kernel.obj, compiled.program, params)
        k_out, _ = kernel_run(kernel, raws, 61, 500_000)
        k_counts = kernel.packets()
        k_marks = scheduler_reasons(kernel.obj, "mark")
    sched = Bypassed(scheduler_factory(compiled.program)(params))
    m_out, m_counts, _ = model_run(sched, raws, 61, 500_000)
    assert (k_out, k_counts) == (m_out, m_counts)
    assert k_counts["mark_ce"] >= 3 and k_counts["drop_aqm"] >= 3
    assert k_marks["codel"]["packets"] == k_counts["mark_ce"]
    # Marked packets are the ECN-capable flow's (odd items), drops the other's.
    assert all(item % 2 for item, _ in sched.scheduler.marked)
    assert all(item % 2 == 0 for item, _ in sched.scheduler.dropped)
