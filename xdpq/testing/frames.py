"""Test frames without scapy: Ethernet + IPv4/IPv6 + UDP/TCP, built with struct.

Fast enough to make a frame per packet in property tests and benchmarks (scapy
takes ~100 times longer). Checksums are left zero: nothing on the XDP path
verifies them.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

ETH_HLEN = 14
DST_MAC = bytes.fromhex("020000000001")
SRC_MAC = bytes.fromhex("020000000002")


@dataclass(frozen=True, slots=True)
class FrameSpec:
    size: int  # the whole frame
    src: str = "10.0.0.1"
    dst: str = "10.0.0.2"
    sport: int = 1000
    dport: int = 9
    proto: int = 17  # 6 TCP, 17 UDP
    dscp: int = 0
    flow_label: int = 0  # IPv6 only
    ecn: int = 0  # 0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE


def frame(spec: FrameSpec, dst_mac: bytes = DST_MAC, src_mac: bytes = SRC_MAC) -> bytes:
    """The frame ``spec`` describes, padded with zeros to its size."""
    src, dst = ipaddress.ip_address(spec.src), ipaddress.ip_address(spec.dst)
    if spec.proto == 6:
        l4 = struct.pack("!HHIIBBHHH", spec.sport, spec.dport, 0, 0, 5 << 4, 0x10, 65535, 0, 0)
    else:
        l4 = struct.pack("!HHHH", spec.sport, spec.dport, 0, 0)
    if src.version == 4:
        ethertype, header_len = 0x0800, 20
        payload = spec.size - ETH_HLEN - header_len
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, spec.dscp << 2 | spec.ecn, header_len + payload,
                         0, 0, 64, spec.proto, 0, src.packed, dst.packed)
    else:
        ethertype, header_len = 0x86DD, 40
        payload = spec.size - ETH_HLEN - header_len
        first = (6 << 28) | (spec.dscp << 22) | (spec.ecn << 20) | (spec.flow_label & 0xFFFFF)
        ip = struct.pack("!IHBB16s16s", first, payload, spec.proto, 64, src.packed, dst.packed)
    head = dst_mac + src_mac + struct.pack("!H", ethertype) + ip + l4
    if spec.size < len(head):
        raise ValueError(f"a {spec.size}-byte frame cannot hold its {len(head)} bytes of headers")
    return head + bytes(spec.size - len(head))
