"""The table of packet fields (xdpq/fields.py) is the one fact every part reads.

The parser's struct (kern/parse.h, read from BTF), its Python twin, the
workload's packets and docs/language.md all carry what the table names; and
every field reads the same value in the kernel and in the simulator.
"""

from __future__ import annotations

import dataclasses

import pytest

from conftest import REPO
from xdpq.bpf import BpfObject, compile_bpf
from xdpq.codegen.build import compile_source
from xdpq.codegen.python import scheduler_factory
from xdpq.fields import FIELDS, doc_table
from xdpq.ir.outcomes import Deq
from xdpq.packet import Packet, parse
from xdpq.runtime.params import write_params
from xdpq.sim.bypass import Bypassed
from xdpq.sim.run import FlowPacket
from xdpq.sim.workload import flow_packet
from xdpq.testing.frames import FrameSpec, frame
from xdpq.testing.stepper import Stepper

NUMBERS = [f for f in FIELDS.values() if not f.address]


def test_every_member_is_the_parsers_and_the_workloads() -> None:
    packet = {f.name for f in dataclasses.fields(Packet)}
    workload = {f.name for f in dataclasses.fields(FlowPacket)}
    for f in FIELDS.values():
        assert f.member in packet, f.name
        assert f.member in workload, f.name
    assert isinstance(flow_packet(0, 100).vlan_tci, tuple)


def test_every_member_is_in_the_kernels_parser() -> None:
    with BpfObject(compile_bpf(REPO / "kern/test/parse_test.bpf.c")) as obj:
        members = obj.struct("xdpq_pkt")  # kern/parse.h, as BTF records it
    assert {f.member for f in FIELDS.values()} <= members.keys()


def test_docs_show_the_table() -> None:
    assert doc_table() in (REPO / "docs/language.md").read_text()


# One program reads any field: parameter 'which' picks it, and it becomes the rank.
WHICH = "\n".join(
    f"  {'if' if i == 0 else '} else if'} which == {i} {{\n    enqueue q rank {f.name}"
    for i, f in enumerate(NUMBERS)) + "\n  } else {\n    drop none\n  }"
PROGRAM = f"""scheduler fields
param which = 0 in 0..{len(NUMBERS)}
queue q: fifo(capacity = 100)
state per flow(ip.src, ip.dst, ip6.src, ip6.dst) {{ seen: count = 0 }}
on enqueue {{
  flow.seen = flow.seen + 1
{WHICH}
}}
"""


def _vlan(raw: bytes, vid: int) -> bytes:
    """The frame with an 802.1Q tag (priority 5, id ``vid``) after the addresses."""
    return raw[:12] + (0x8100).to_bytes(2, "big") + ((5 << 13) | vid).to_bytes(2, "big") + raw[12:]


def _ecn_ttl(raw: bytes, ecn: int, ttl: int) -> bytes:
    """An IPv4 frame with its ECN field and TTL set (no checksum is checked here)."""
    return raw[:15] + bytes([raw[15] | ecn]) + raw[16:22] + bytes([ttl]) + raw[23:]


FRAMES = [
    _ecn_ttl(frame(FrameSpec(100, sport=4000, dport=53, dscp=46)), 3, 7),
    frame(FrameSpec(1500, sport=80, dport=40000, proto=6, dscp=10)),
    frame(FrameSpec(200, src="fd00::1", dst="fd00::2", sport=7, dport=8, flow_label=0xABCDE,
                    dscp=63)),
    frame(FrameSpec(90, src="fd00::3", dst="fd00::4", proto=6, flow_label=1)),
    _vlan(frame(FrameSpec(300, sport=1, dport=2, proto=6)), 0x123),
    bytes.fromhex("ffffffffffff020000000002" "0806") + bytes(46),  # ARP: not IP
]


@pytest.mark.kernel
def test_each_field_reads_alike_in_the_kernel_and_the_simulator() -> None:
    compiled = compile_source(PROGRAM, "fields.xdpq")
    make = scheduler_factory(compiled.program)
    assert compiled.program.reasons == ("none",)
    with Stepper(compiled.obj_path) as kernel:
        for which, field in enumerate(NUMBERS):
            kernel.reset()
            write_params(kernel.obj, compiled.program, {"which": which})
            sched = Bypassed(make({"which": which}))  # as the kernel's datapath runs it
            want, got = [], []
            for item, raw in enumerate(FRAMES):
                sched.admit(parse(raw), item, 0)
                kernel.ingress(raw, 0)
            while (d := sched.dequeue(0)).outcome is Deq.OK:
                want.append(d.rank)
            while (s := kernel.step(0)).result == Deq.OK.value:
                got.append(s.rank)
            assert got == want, field.name
            assert len(got) == len(FRAMES)  # the ARP frame first, not the scheduler's: rank 0
            assert got[0] == 0
            assert len(set(got)) > 1, field.name  # the frames tell every field apart
