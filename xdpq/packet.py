"""Packet parsing in Python: the twin of ``kern/parse.h``.

:func:`parse` turns a frame's bytes into a :class:`Packet` by the rules of
docs/parsing.md, the one spec both parsers follow, and :func:`decode` turns
the kernel's ``struct xdpq_pkt`` bytes into the same dataclass, so the two
can be compared field by field (``tests/test_parse.py``). Pure Python on
``bytes``: no scapy.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, fields, replace
from enum import IntEnum, IntFlag

ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
VLAN_TPIDS = (0x8100, 0x88A8)
MAX_VLAN = 2
IPV6_MAX_EXT = 6
MAX_OFF = 0x3FFF

IPPROTO_HOPOPTS = 0
IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_ROUTING = 43
IPPROTO_FRAGMENT = 44
IPPROTO_AH = 51
IPPROTO_ICMPV6 = 58
IPPROTO_DSTOPTS = 60
IPV6_EXT = frozenset(
    {IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_FRAGMENT, IPPROTO_DSTOPTS, IPPROTO_AH}
)

_V4_MAPPED = bytes(10) + b"\xff\xff"


class ParseStatus(IntEnum):
    """``enum xdpq_parse_status``."""

    OK = 0
    L2_TRUNC = 1
    VLAN_DEPTH = 2
    L3_TRUNC = 3
    BAD_VERSION = 4
    BAD_IHL = 5
    BAD_IP_LEN = 6
    EXT_DEPTH = 7
    L4_TRUNC = 8


class PktFlags(IntFlag):
    """``XDPQ_F_*``."""

    FRAG = 0x01
    LATER_FRAG = 0x02
    PORTS = 0x04
    ICMP = 0x08


_NO_FLAGS = PktFlags(0)

# struct xdpq_pkt, in host byte order like the BPF program that writes it.
PKT_STRUCT = struct.Struct("=16s16sIIIIHHHHHHHBBBBBBBBBBBB6x")
assert PKT_STRUCT.size == 80


@dataclass(frozen=True, slots=True)
class Packet:
    """What the parser knows about one frame; field names as in ``struct xdpq_pkt``."""

    saddr: bytes = bytes(16)
    daddr: bytes = bytes(16)
    len: int = 0
    flow_hash: int = 0
    flow_label: int = 0
    ip_len: int = 0
    eth_proto: int = 0
    vlan_tci: tuple[int, int] = (0, 0)
    l3_off: int = 0
    l4_off: int = 0
    sport: int = 0
    dport: int = 0
    status: ParseStatus = ParseStatus.OK
    vlan_count: int = 0
    ip_ver: int = 0
    l4_proto: int = 0
    dscp: int = 0
    ecn: int = 0
    ttl: int = 0
    flags: PktFlags = _NO_FLAGS
    ext_count: int = 0
    icmp_type: int = 0
    icmp_code: int = 0
    tcp_flags: int = 0

    @property
    def src(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        return _address(self.saddr, self.ip_ver)

    @property
    def dst(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        return _address(self.daddr, self.ip_ver)

    @property
    def vlan_ids(self) -> tuple[int, ...]:
        return tuple(tci & 0xFFF for tci in self.vlan_tci[: self.vlan_count])

    def pack(self) -> bytes:
        """The ``struct xdpq_pkt`` bytes for this packet (a subclass's own fields left out)."""
        values = [getattr(self, f.name) for f in fields(Packet)]
        i = [f.name for f in fields(Packet)].index("vlan_tci")
        return PKT_STRUCT.pack(*values[:i], *self.vlan_tci, *values[i + 1 :])


def _address(raw: bytes, ip_ver: int) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if ip_ver == 4:
        return ipaddress.IPv4Address(raw[12:])
    return ipaddress.IPv6Address(raw)


def decode(raw: bytes) -> Packet:
    """The kernel's ``struct xdpq_pkt`` as a :class:`Packet`."""
    if len(raw) != PKT_STRUCT.size:
        raise ValueError(f"struct xdpq_pkt is {PKT_STRUCT.size} bytes, got {len(raw)}")
    v = PKT_STRUCT.unpack(raw)
    return Packet(
        saddr=v[0], daddr=v[1], len=v[2], flow_hash=v[3], flow_label=v[4], ip_len=v[5],
        eth_proto=v[6], vlan_tci=(v[7], v[8]), l3_off=v[9], l4_off=v[10], sport=v[11],
        dport=v[12], status=ParseStatus(v[13]), vlan_count=v[14], ip_ver=v[15],
        l4_proto=v[16], dscp=v[17], ecn=v[18], ttl=v[19], flags=PktFlags(v[20]),
        ext_count=v[21], icmp_type=v[22], icmp_code=v[23], tcp_flags=v[24],
    )  # fmt: skip


# --- flow hash ---------------------------------------------------------------

_M32 = 0xFFFFFFFF


def _rotl32(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def hash_word(h: int, k: int) -> int:
    k = (k * 0xCC9E2D51) & _M32
    k = _rotl32(k, 15)
    k = (k * 0x1B873593) & _M32
    h = _rotl32(h ^ k, 13)
    return (h * 5 + 0xE6546B64) & _M32


def hash_final(h: int, nbytes: int) -> int:
    h ^= nbytes
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    return h ^ (h >> 16)


def flow_key_words(saddr: bytes, daddr: bytes, ports: int, proto: int) -> tuple[int, ...]:
    """The ten 32-bit words the flow hash mixes."""
    return (*struct.unpack("!4I", saddr), *struct.unpack("!4I", daddr), ports, proto)


def flow_hash(saddr: bytes, daddr: bytes, sport: int, dport: int, proto: int) -> int:
    """Flow hash version 1 of a 5-tuple (16-byte addresses, v4-mapped for IPv4)."""
    h = 0
    for word in flow_key_words(saddr, daddr, (sport << 16) | dport, proto):
        h = hash_word(h, word)
    return hash_final(h, 40)


# --- the parser ----------------------------------------------------------------


class _Walk:
    """Mutable state of one parse: the fields so far, the offset and the end."""

    def __init__(self, frame: bytes) -> None:
        self.frame = frame
        self.off = 0
        self.end = len(frame)
        self.f: dict[str, object] = {"len": len(frame)}
        self.flags = PktFlags(0)

    def pull(self, off: int, n: int) -> bytes | None:
        """n bytes at off, or None when they do not all lie before the end."""
        if off > MAX_OFF or off + n > self.end:
            return None
        return self.frame[off : off + n]


def _parse_l2(w: _Walk) -> ParseStatus:
    eth = w.pull(0, 14)
    if eth is None:
        return ParseStatus.L2_TRUNC
    proto = int.from_bytes(eth[12:14], "big")
    w.f["eth_proto"] = proto
    w.off = 14
    tcis = [0, 0]
    for i in range(MAX_VLAN):
        if proto not in VLAN_TPIDS:
            break
        tag = w.pull(w.off, 4)
        if tag is None:
            return ParseStatus.L2_TRUNC
        tcis[i], proto = struct.unpack("!HH", tag)
        w.f.update(vlan_tci=tuple(tcis), eth_proto=proto, vlan_count=i + 1)
        w.off += 4
    if proto in VLAN_TPIDS:
        return ParseStatus.VLAN_DEPTH
    w.f["l3_off"] = w.off
    return ParseStatus.OK


def _set_tos(w: _Walk, tos: int) -> None:
    w.f.update(dscp=tos >> 2, ecn=tos & 3)


def _parse_ipv4(w: _Walk) -> ParseStatus:
    ip = w.pull(w.off, 20)
    if ip is None:
        return ParseStatus.L3_TRUNC
    if ip[0] >> 4 != 4:
        return ParseStatus.BAD_VERSION
    tot, frag = struct.unpack("!H2xH", ip[2:8])
    _set_tos(w, ip[1])
    w.f.update(
        ttl=ip[8], l4_proto=ip[9], saddr=_V4_MAPPED + ip[12:16], daddr=_V4_MAPPED + ip[16:20],
        ip_len=tot,
    )  # fmt: skip
    if frag & 0x3FFF:  # MF or an offset
        w.flags |= PktFlags.FRAG
    if frag & 0x1FFF:
        w.flags |= PktFlags.LATER_FRAG
    hlen = (ip[0] & 0xF) * 4
    if hlen < 20:
        return ParseStatus.BAD_IHL
    if w.off + hlen > w.end:
        return ParseStatus.L3_TRUNC
    if tot < hlen or w.off + tot > w.end:
        return ParseStatus.BAD_IP_LEN
    w.end = w.off + tot
    w.off += hlen
    w.f["l4_off"] = w.off
    return ParseStatus.OK


def _parse_ipv6_ext(w: _Walk, nh: int) -> ParseStatus:
    for i in range(IPV6_MAX_EXT):
        if nh not in IPV6_EXT:
            break
        h = w.pull(w.off, 8)
        if h is None:
            return ParseStatus.L3_TRUNC
        if nh == IPPROTO_FRAGMENT:
            size = 8
            frag = int.from_bytes(h[2:4], "big")  # offset << 3 | reserved | M
            if frag & 0xFFF9:
                w.flags |= PktFlags.FRAG
            if frag & 0xFFF8:
                w.flags |= PktFlags.LATER_FRAG
        elif nh == IPPROTO_AH:
            size = (h[1] + 2) * 4
        else:
            size = (h[1] + 1) * 8
        if w.off + size > w.end:
            return ParseStatus.L3_TRUNC
        w.off += size
        w.f["ext_count"] = i + 1
        nh = h[0]
        if w.flags & PktFlags.LATER_FRAG:
            break
    else:
        if nh in IPV6_EXT:
            return ParseStatus.EXT_DEPTH
    w.f.update(l4_proto=nh, l4_off=w.off)
    return ParseStatus.OK


def _parse_ipv6(w: _Walk) -> ParseStatus:
    ip6 = w.pull(w.off, 40)
    if ip6 is None:
        return ParseStatus.L3_TRUNC
    w0, plen, nh, hlim = struct.unpack("!IHBB", ip6[:8])
    if w0 >> 28 != 6:
        return ParseStatus.BAD_VERSION
    _set_tos(w, (w0 >> 20) & 0xFF)
    dlen = 40 + plen
    w.f.update(flow_label=w0 & 0xFFFFF, ttl=hlim, saddr=ip6[8:24], daddr=ip6[24:40], ip_len=dlen)
    if w.off + dlen > w.end:
        return ParseStatus.BAD_IP_LEN
    w.end = w.off + dlen
    w.off += 40
    return _parse_ipv6_ext(w, nh)


def _parse_l4(w: _Walk) -> ParseStatus:
    if w.flags & PktFlags.LATER_FRAG:
        return ParseStatus.OK
    proto, ver = w.f.get("l4_proto", 0), w.f["ip_ver"]
    if proto in (IPPROTO_TCP, IPPROTO_UDP):
        hdr = w.pull(w.off, 20 if proto == IPPROTO_TCP else 8)
        if hdr is None:
            return ParseStatus.L4_TRUNC
        sport, dport = struct.unpack("!HH", hdr[:4])
        w.f.update(sport=sport, dport=dport)
        if proto == IPPROTO_TCP:
            w.f["tcp_flags"] = hdr[13]
        w.flags |= PktFlags.PORTS
    elif (proto, ver) in ((IPPROTO_ICMP, 4), (IPPROTO_ICMPV6, 6)):
        hdr = w.pull(w.off, 4)  # type, code, checksum
        if hdr is None:
            return ParseStatus.L4_TRUNC
        w.f.update(icmp_type=hdr[0], icmp_code=hdr[1])
        w.flags |= PktFlags.ICMP
    return ParseStatus.OK


def _parse_walk(w: _Walk) -> ParseStatus:
    status = _parse_l2(w)
    if status is not ParseStatus.OK:
        return status
    proto = w.f["eth_proto"]
    if proto == ETH_P_IP:
        w.f["ip_ver"] = 4
        status = _parse_ipv4(w)
    elif proto == ETH_P_IPV6:
        w.f["ip_ver"] = 6
        status = _parse_ipv6(w)
    else:
        return ParseStatus.OK  # other L3
    if status is ParseStatus.OK:
        status = _parse_l4(w)
    return status


def parse(frame: bytes) -> Packet:
    """Parse one Ethernet frame by the rules of ``kern/parse.h``."""
    w = _Walk(bytes(frame))
    status = _parse_walk(w)
    pkt = Packet(status=status, flags=w.flags, **w.f)  # type: ignore[arg-type]
    sport, dport = (0, 0) if w.flags & PktFlags.FRAG else (pkt.sport, pkt.dport)
    return replace(pkt, flow_hash=flow_hash(pkt.saddr, pkt.daddr, sport, dport, pkt.l4_proto))
