"""The packet fields a scheduler program can read: one table for every part.

A field has a display-filter name (``ip.dscp``), a kind (``xdpq.units``), the
member of the parsed packet it comes from (``struct xdpq_pkt`` in
kern/parse.h, ``xdpq.packet.Packet`` in Python: the same names), and its
value as a C expression over ``struct xdpq_pkt pkt`` and as a Python
expression over a ``Packet`` ``pkt``. The checker reads kinds from it, both
back ends read the expressions, the workload's packets carry the members,
and docs/language.md lists it (a test holds each to this table).
"""

from __future__ import annotations

from dataclasses import dataclass

from xdpq.units import Kind


@dataclass(frozen=True, slots=True)
class PacketField:
    name: str
    kind: Kind
    member: str  # of struct xdpq_pkt and xdpq.packet.Packet
    c: str
    py: str
    doc: str
    high: int = (1 << 32) - 1  # the largest value it can have (the parser's member's width)
    address: bool = False  # 16 bytes: keys per-flow state and hash(), not a number


def _plain(name: str, kind: Kind, member: str, doc: str, high: int) -> PacketField:
    return PacketField(name, kind, member, f"pkt.{member}", f"pkt.{member}", doc, high)


def _of_proto(name: str, member: str, proto: int, doc: str) -> PacketField:
    """A port that reads 0 unless the packet is of IP protocol ``proto``."""
    return PacketField(name, Kind.COUNT, member,
                       f"(pkt.l4_proto == {proto} ? pkt.{member} : 0)",
                       f"(pkt.{member} if pkt.l4_proto == {proto} else 0)", doc, 65535)


def _address(name: str, member: str, doc: str) -> PacketField:
    return PacketField(name, Kind.COUNT, member, f"pkt.{member}", f"pkt.{member}", doc,
                       address=True)


C = Kind.COUNT
FIELDS: dict[str, PacketField] = {f.name: f for f in (
    _plain("pkt.len", Kind.BYTES, "len", "the frame's length (bytes)", (1 << 32) - 1),
    _plain("ip.dscp", C, "dscp", "DSCP, 0..63 (IPv4 and IPv6)", 63),
    _plain("ip.ecn", C, "ecn", "ECN field, 0..3", 3),
    _plain("ip.proto", C, "l4_proto", "IP protocol (IPv6: after extension headers)", 255),
    _plain("ip.ttl", C, "ttl", "IPv4 TTL or IPv6 hop limit", 255),
    _plain("ip.version", C, "ip_ver", "4, 6, or 0 for a frame that is not IP", 6),
    _plain("ip6.flow", C, "flow_label", "IPv6 flow label (0 for IPv4)", (1 << 20) - 1),
    PacketField("vlan.id", C, "vlan_tci", "(pkt.vlan_count ? pkt.vlan_tci[0] & 0xfff : 0)",
                "(pkt.vlan_tci[0] & 0xfff if pkt.vlan_count else 0)",
                "the outer VLAN's id (0 untagged)", 4095),
    _plain("l4.sport", C, "sport", "TCP or UDP source port (0 for other protocols)", 65535),
    _plain("l4.dport", C, "dport", "TCP or UDP destination port", 65535),
    _of_proto("tcp.sport", "sport", 6, "source port of a TCP packet, else 0"),
    _of_proto("tcp.dport", "dport", 6, "destination port of a TCP packet, else 0"),
    _plain("tcp.flags", C, "tcp_flags", "TCP flags: CWR ECE URG ACK PSH RST SYN FIN", 255),
    _of_proto("udp.sport", "sport", 17, "source port of a UDP packet, else 0"),
    _of_proto("udp.dport", "dport", 17, "destination port of a UDP packet, else 0"),
    _address("ip.src", "saddr", "source address (IPv4 or IPv6)"),
    _address("ip.dst", "daddr", "destination address"),
    _address("ip6.src", "saddr", "source address (the same as ip.src)"),
    _address("ip6.dst", "daddr", "destination address (the same as ip.dst)"),
)}


def doc_table() -> str:
    """The table of fields as docs/language.md shows it."""
    rows = ["| field | kind | what it is |", "| --- | --- | --- |"]
    for f in FIELDS.values():
        kind = "address" if f.address else f.kind.value
        rows.append(f"| `{f.name}` | {kind} | {f.doc} |")
    return "\n".join(rows)
