"""kern/parse.h against xdpq/packet.py, and both against scapy.

Every frame goes through the kernel parser (BPF_PROG_RUN of
kern/test/parse_test.bpf.c, result read back from its .bss) and through the
Python twin; all fields must be equal. Valid frames are also checked against
scapy's own dissection, and the flow hash against an independent
MurmurHash3, so that the twins cannot be wrong the same way. Malformed frames
(truncated at every header boundary and at random, bad IHL, bad lengths, bad
versions, random bytes, too many VLAN tags or extension headers) are checked
for the status the written rules give.

BPF_PROG_RUN refuses XDP input shorter than 14 bytes (EINVAL), so frames of
0..13 bytes are covered by the Python twin alone, and the test says so.
"""

from __future__ import annotations

import errno
import ipaddress
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_NOP
from scapy.layers.inet6 import (
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    PadN,
)
from scapy.layers.ipsec import AH
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
from scapy.packet import Packet as ScapyPacket
from scapy.packet import Raw

from conftest import REPO
from xdpq.bpf import BpfObject, compile_bpf, xdp_ctx
from xdpq.errors import BpfError
from xdpq.packet import (
    IPV6_MAX_EXT,
    PKT_STRUCT,
    Packet,
    ParseStatus,
    PktFlags,
    decode,
    flow_hash,
    parse,
)

XDP_PASS = 2
S = ParseStatus
EXT_CLASSES = (IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, IPv6ExtHdrFragment, IPv6ExtHdrDestOpt, AH)
OTHER_PROTOS = (47, 50, 59, 132, 255)  # GRE, ESP, no next header, SCTP, reserved


def examples(n: int) -> settings:
    return settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow])


Parser = Callable[[bytes], Packet]


@pytest.fixture(scope="module")
def kparse() -> Iterator[Parser]:
    with BpfObject(compile_bpf(REPO / "kern/test/parse_test.bpf.c")) as obj:
        obj.load()
        prog, bss = obj.prog("parse_test"), obj.section(".bss")
        assert bss.var("xdpq_last").size == PKT_STRUCT.size, "struct xdpq_pkt layout"
        c_enum = obj.enum("xdpq_parse_status")
        assert c_enum == {f"XDPQ_PARSE_{s.name}": s.value for s in ParseStatus}

        def run(frame: bytes) -> Packet:
            # Poison the result first: a stale or partly written struct must not pass.
            bss.write("xdpq_last", b"\xa5" * PKT_STRUCT.size)
            bss["xdpq_last_status"] = 0xA5A5A5A5
            res = prog.run(frame, ctx=xdp_ctx(len(frame)))
            assert res.retval == XDP_PASS
            raw = bss.read("xdpq_last")
            assert raw[-6:] == bytes(6), "padding must be zeroed"
            pkt = decode(raw)
            assert bss["xdpq_last_status"] == pkt.status, "xdpq_parse() returns the status"
            return pkt

        yield run


def twins(kparse: Parser, frame: bytes) -> Packet:
    """Parse in both; they must agree on every field. Returns the result."""
    want = parse(frame)
    got = kparse(frame)
    assert got == want, f"kernel and Python disagree on {frame.hex()}"
    if currently_in_test_context():
        event(f"status {got.status.name}")
    assert got.len == len(frame)
    return got


# --- an independent MurmurHash3_x86_32 (bytes in, as published) ----------------


def murmur3_32(data: bytes, seed: int = 0) -> int:
    c1, c2, m = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF

    def rotl(x: int, r: int) -> int:
        return ((x << r) | (x >> (32 - r))) & m

    h = seed
    nblocks = len(data) // 4
    for (k,) in struct.iter_unpack("<I", data[: nblocks * 4]):
        k = rotl(k * c1 & m, 15) * c2 & m
        h = (rotl(h ^ k, 13) * 5 + 0xE6546B64) & m
    tail = data[nblocks * 4 :]
    if tail:
        k = int.from_bytes(tail, "little")
        h ^= rotl(k * c1 & m, 15) * c2 & m
    h ^= len(data)
    h ^= h >> 16
    h = h * 0x85EBCA6B & m
    h ^= h >> 13
    h = h * 0xC2B2AE35 & m
    return h ^ (h >> 16)


def test_murmur3_reference_vectors() -> None:
    # Published test vectors of MurmurHash3_x86_32: the reference is right.
    assert murmur3_32(b"", 0) == 0
    assert murmur3_32(b"", 1) == 0x514E28B7
    assert murmur3_32(b"\x00\x00\x00\x00", 0) == 0x2362F9DE
    assert murmur3_32(b"Hello, world!", 1234) == 0xFAF6CDB3
    assert murmur3_32(b"The quick brown fox jumps over the lazy dog", 0x9747B28C) == 0x2FA826CD


def hash_of(src: bytes, dst: bytes, sport: int, dport: int, proto: int) -> int:
    """The documented flow hash, from the documented key: ten words, little-endian bytes."""
    words = [*struct.unpack("!8I", src + dst), sport << 16 | dport, proto]
    return murmur3_32(struct.pack("<10I", *words))


def mapped(addr: str) -> bytes:
    ip = ipaddress.ip_address(addr)
    return ip.packed if ip.version == 6 else bytes(10) + b"\xff\xff" + ip.packed


# --- valid frames ------------------------------------------------------------


@dataclass
class Built:
    frame: bytes
    pkt: ScapyPacket  # without Ethernet padding
    later_frag: bool


macs = st.binary(min_size=6, max_size=6).map(lambda b: ":".join(f"{x:02x}" for x in b))
ports = st.integers(0, 0xFFFF)
# Mostly small; sometimes near a full MTU (frames stay within 1518 bytes, as
# one XDP buffer in BPF_PROG_RUN holds about 3.5 kB).
payloads = st.one_of(st.binary(max_size=48), st.binary(min_size=1000, max_size=1080))
v4addrs = st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))
v6addrs = st.integers(0, 2**128 - 1).map(lambda n: str(ipaddress.IPv6Address(n)))


@st.composite
def l4_layer(draw: st.DrawFn, ver: int) -> tuple[int, ScapyPacket]:
    """(protocol number, L4 layer with payload) for IP version ver."""
    kind = draw(st.sampled_from(["tcp", "udp", "icmp", "other"]))
    data = Raw(draw(payloads))
    if kind == "tcp":
        tcp = TCP(sport=draw(ports), dport=draw(ports), flags=draw(st.integers(0, 255)))
        return 6, tcp / data
    if kind == "udp":
        return 17, UDP(sport=draw(ports), dport=draw(ports)) / data
    if kind == "icmp":
        typ, code = draw(st.integers(0, 255)), draw(st.integers(0, 255))
        if ver == 4:
            return 1, ICMP(type=typ, code=code) / data
        return 58, Raw(bytes([typ, code, 0, 0])) / data
    return draw(st.sampled_from(OTHER_PROTOS)), data


@st.composite
def ipv6_ext(draw: st.DrawFn, nh: int, later_ok: bool) -> ScapyPacket:
    kind = draw(st.sampled_from(["hbh", "rt", "frag", "dst", "ah"]))
    if kind in ("hbh", "dst"):
        cls = IPv6ExtHdrHopByHop if kind == "hbh" else IPv6ExtHdrDestOpt
        return cls(nh=nh, options=[PadN(optdata=bytes(draw(st.integers(0, 20))))])
    if kind == "rt":
        addrs = draw(st.lists(v6addrs, max_size=3))
        return IPv6ExtHdrRouting(nh=nh, addresses=addrs)
    if kind == "ah":
        icv = bytes(4 * draw(st.integers(0, 4)))
        return AH(nh=nh, payloadlen=(12 + len(icv)) // 4 - 2, spi=1, icv=icv)
    offset = draw(st.integers(0, 8191)) if later_ok and draw(st.booleans()) else 0
    return IPv6ExtHdrFragment(nh=nh, offset=offset, m=draw(st.integers(0, 1)), id=7)


@st.composite
def ipv6_chain(draw: st.DrawFn, n_ext: int, proto: int, upper: ScapyPacket) -> ScapyPacket:
    """IPv6 / n_ext extension headers / upper, with every nh set explicitly."""
    exts: list[ScapyPacket] = []
    nh = proto
    for i in range(n_ext):  # built last to first: each names the one after it
        ext = draw(ipv6_ext(nh, later_ok=(i == 0)))
        exts.insert(0, ext)
        nh = {IPv6ExtHdrHopByHop: 0, IPv6ExtHdrRouting: 43, IPv6ExtHdrFragment: 44,
              IPv6ExtHdrDestOpt: 60, AH: 51}[type(ext)]  # fmt: skip
    ip6 = IPv6(
        src=draw(v6addrs), dst=draw(v6addrs), tc=draw(st.integers(0, 255)),
        fl=draw(st.integers(0, 0xFFFFF)), hlim=draw(st.integers(0, 255)), nh=nh,
    )  # fmt: skip
    pkt = ip6
    for ext in exts:
        pkt = pkt / ext
    return pkt / upper


@st.composite
def ethernet(draw: st.DrawFn, l3: ScapyPacket, ethertype: int, tags: int) -> ScapyPacket:
    tpids = [draw(st.sampled_from([0x8100, 0x88A8])) for _ in range(tags)]
    types = [*tpids, ethertype]
    pkt = Ether(src=draw(macs), dst=draw(macs), type=types[0])
    for i in range(tags):
        vlan = Dot1Q(prio=draw(st.integers(0, 7)), dei=draw(st.integers(0, 1)),
                     vlan=draw(st.integers(0, 4095)), type=types[i + 1])  # fmt: skip
        pkt = pkt / vlan
    return pkt / l3


@st.composite
def valid_frames(
    draw: st.DrawFn, tags: int | None = None, kinds: tuple[str, ...] = ("ipv4", "ipv6", "other")
) -> Built:
    kind = draw(st.sampled_from(kinds))
    later = False
    if kind == "ipv4":
        frag = draw(st.sampled_from(["none", "first", "later"]))
        later = frag == "later"
        proto, upper = draw(l4_layer(4))
        ip = IP(
            src=draw(v4addrs), dst=draw(v4addrs), tos=draw(st.integers(0, 255)),
            ttl=draw(st.integers(0, 255)), id=draw(st.integers(0, 0xFFFF)), proto=proto,
            flags=("MF" if frag == "first" else draw(st.sampled_from(["", "DF", "MF"]))),
            frag=(draw(st.integers(1, 8191)) if later else 0),
            options=[IPOption_NOP()] * draw(st.integers(0, 40)),
        )  # fmt: skip
        l3, ethertype = ip / upper, 0x0800
    elif kind == "ipv6":
        proto, upper = draw(l4_layer(6))
        l3 = draw(ipv6_chain(draw(st.integers(0, IPV6_MAX_EXT)), proto, upper))
        frags = [layer for layer in layers(l3) if isinstance(layer, IPv6ExtHdrFragment)]
        later = any(f.offset for f in frags)
        ethertype = 0x86DD
    else:
        ethertype = draw(st.sampled_from([0x0806, 0x88CC, 0x8847, 0x9000, 0xFFFF]))
        l3 = Raw(draw(payloads))
    ntags = draw(st.integers(0, 2)) if tags is None else tags
    pkt = draw(ethernet(l3, ethertype, ntags))
    body = bytes(pkt)
    pad = draw(st.binary(max_size=max(0, 64 - len(body)) + 8))  # Ethernet padding
    assert len(body + pad) <= 1518, "keep frames within one Ethernet MTU"
    return Built(body + pad, Ether(body), later)


def layers(pkt: ScapyPacket) -> list[ScapyPacket]:
    out = []
    while pkt is not None and not isinstance(pkt, Raw) and pkt.name != "NoPayload":
        out.append(pkt)
        pkt = pkt.payload if pkt.payload else None
    return out


BY_NH = {0: IPv6ExtHdrHopByHop, 43: IPv6ExtHdrRouting, 44: IPv6ExtHdrFragment,
         60: IPv6ExtHdrDestOpt, 51: AH, 6: TCP, 17: UDP}  # fmt: skip


def after(ext: ScapyPacket) -> ScapyPacket:
    """The layer after an IPv6 extension header, by its nh.

    scapy guesses what follows AH (it assumes an encrypted or IPv4 payload),
    so there the bytes are dissected again with the class nh names."""
    if isinstance(ext, AH):
        return BY_NH.get(ext.nh, Raw)(bytes(ext.payload))
    return ext.payload


def scapy_view(b: Built) -> dict[str, object]:
    """What scapy's dissection says the parser should find in a valid frame."""
    p = Ether(b.frame)
    view: dict[str, object] = {"status": S.OK, "len": len(b.frame)}
    l2, layer = p, p.payload
    vlans = []
    while isinstance(layer, Dot1Q | Dot1AD):
        vlans.append(layer.vlan)
        l2, layer = layer, layer.payload
    view.update(vlan_ids=tuple(vlans), eth_proto=l2.type)
    upper: ScapyPacket | None = None
    if isinstance(layer, IP):
        view.update(ip_ver=4, l4_proto=layer.proto, ttl=layer.ttl, ip_len=layer.len)
        tos, src, dst = layer.tos, layer.src, layer.dst
        upper = layer.payload if layer.frag == 0 else None
        fragment = layer.frag != 0 or bool(layer.flags.MF)
    elif isinstance(layer, IPv6):
        view.update(ip_ver=6, ttl=layer.hlim, flow_label=layer.fl, ip_len=40 + layer.plen)
        tos, src, dst = layer.tc, layer.src, layer.dst
        nh, ext, frags = layer.nh, layer.payload, []
        n_ext = 0
        while isinstance(ext, EXT_CLASSES):
            nh, n_ext = ext.nh, n_ext + 1
            if isinstance(ext, IPv6ExtHdrFragment):
                frags.append(ext)
                if ext.offset:
                    break
            ext = after(ext)
        view.update(l4_proto=nh, ext_count=n_ext)
        later = any(f.offset for f in frags)
        fragment = later or any(f.m for f in frags)
        upper = None if later else ext
    else:
        view.update(ip_ver=0)
        return view
    view.update(dscp=tos >> 2, ecn=tos & 3, src=ipaddress.ip_address(src),
                dst=ipaddress.ip_address(dst))  # fmt: skip
    sport = dport = 0
    if isinstance(upper, TCP | UDP):
        sport, dport = upper.sport, upper.dport
        view.update(sport=sport, dport=dport)
        if isinstance(upper, TCP):
            view["tcp_flags"] = int(upper.flags)
    elif upper is not None and view["l4_proto"] == (1 if view["ip_ver"] == 4 else 58):
        raw = bytes(upper)
        view.update(icmp_type=raw[0], icmp_code=raw[1])
    view["fragment"] = fragment
    if fragment:
        sport = dport = 0
    view["flow_hash"] = hash_of(mapped(src), mapped(dst), sport, dport, view["l4_proto"])
    return view


def check_against_scapy(got: Packet, view: dict[str, object]) -> None:
    seen = {
        "status": got.status, "len": got.len, "vlan_ids": got.vlan_ids,
        "eth_proto": got.eth_proto, "ip_ver": got.ip_ver,
    }  # fmt: skip
    if got.ip_ver:
        seen.update(
            l4_proto=got.l4_proto, ttl=got.ttl, ip_len=got.ip_len, dscp=got.dscp, ecn=got.ecn,
            src=got.src, dst=got.dst, fragment=bool(got.flags & PktFlags.FRAG),
            flow_hash=got.flow_hash,
        )  # fmt: skip
        if got.ip_ver == 6:
            seen.update(flow_label=got.flow_label, ext_count=got.ext_count)
        if got.flags & PktFlags.PORTS:
            seen.update(sport=got.sport, dport=got.dport)
            if got.l4_proto == 6:
                seen["tcp_flags"] = got.tcp_flags
        if got.flags & PktFlags.ICMP:
            seen.update(icmp_type=got.icmp_type, icmp_code=got.icmp_code)
    assert seen == view


@pytest.mark.kernel
@examples(300)
@given(b=valid_frames())
def test_valid_frames_match_scapy(kparse: Parser, b: Built) -> None:
    got = twins(kparse, b.frame)
    check_against_scapy(got, scapy_view(b))


# --- truncation at every header boundary -----------------------------------------


def fixed_frames() -> dict[str, ScapyPacket]:
    mac = {"src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02"}
    v4 = {"src": "10.1.2.3", "dst": "192.0.2.9", "tos": 0xB8}
    v6 = {"src": "2001:db8::1", "dst": "2001:db8::2", "tc": 0x2E, "fl": 0xBEEF}
    qq = Ether(**mac, type=0x88A8) / Dot1Q(vlan=100, type=0x8100) / Dot1Q(vlan=200)
    return {
        "v4-tcp": Ether(**mac) / IP(**v4) / TCP(sport=1234, dport=80) / Raw(b"x" * 10),
        "v4-opts-udp-qinq": qq / IP(**v4, options=[IPOption_NOP()] * 8) / UDP(sport=5, dport=53),
        "v4-icmp": Ether(**mac) / Dot1Q(vlan=7) / IP(**v4) / ICMP(type=8) / Raw(b"ping"),
        "v6-udp": Ether(**mac) / IPv6(**v6) / UDP(sport=443, dport=9999) / Raw(b"q"),
        "v6-chain-tcp": Ether(**mac) / IPv6(**v6) / IPv6ExtHdrHopByHop()
        / IPv6ExtHdrRouting(addresses=["::1"]) / IPv6ExtHdrFragment(m=1)
        / IPv6ExtHdrDestOpt() / TCP(sport=22, dport=2222),
        "v6-ah-icmp6": Ether(**mac) / Dot1Q(vlan=1) / IPv6(**v6, nh=51)
        / AH(nh=58, payloadlen=4, icv=bytes(12)) / Raw(bytes([128, 0, 0, 0, 1, 2])),
    }  # fmt: skip


@dataclass
class Bounds:
    l3: int
    l3_hdr_end: int  # end of the IPv4 header with options / IPv6 fixed header
    ip_end: int  # end of the datagram
    exts: list[int]  # end of each IPv6 extension header
    l4_end: int  # end of the fixed L4 header the parser reads


def bounds(pkt: ScapyPacket) -> Bounds:
    total = len(pkt)
    start = {id(layer): total - len(layer) for layer in layers(pkt)}
    ip = pkt.getlayer(IP) or pkt.getlayer(IPv6)
    l3 = start[id(ip)]
    if isinstance(ip, IP):
        hdr_end, exts, up = l3 + ip.ihl * 4, [], ip.payload
    else:
        hdr_end, exts, up = l3 + 40, [], ip.payload
        while isinstance(up, EXT_CLASSES):
            exts.append(start[id(up)] + len(up) - len(up.payload))
            up = up.payload
    l4_start = total - len(up)
    need = {TCP: 20, UDP: 8, ICMP: 4}.get(type(up), 4)  # the ICMPv6 here is Raw
    return Bounds(l3, hdr_end, total, exts, l4_start + need)


def with_ip_length(frame: bytes, b: Bounds, ip_len: int) -> bytes:
    """frame with its IP length field saying the datagram is ip_len bytes long."""
    out = bytearray(frame)
    if out[b.l3] >> 4 == 4:
        out[b.l3 + 2 : b.l3 + 4] = ip_len.to_bytes(2, "big")
    else:
        out[b.l3 + 4 : b.l3 + 6] = (ip_len - 40).to_bytes(2, "big")
    return bytes(out)


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(fixed_frames()))
def test_truncated_at_every_length(kparse: Parser, name: str) -> None:
    pkt = Ether(bytes(fixed_frames()[name]))  # dissected: every length field filled in
    frame, b = bytes(pkt), bounds(pkt)
    full = parse(frame)
    assert full.status is S.OK and full.l3_off == b.l3
    for cut in range(14, len(frame) + 1):
        # The frame cut short: the IP length now claims more than there is.
        got = twins(kparse, frame[:cut])
        if cut < b.l3:
            want = S.L2_TRUNC
        elif cut < b.l3_hdr_end:
            want = S.L3_TRUNC
        elif cut < b.ip_end:
            want = S.BAD_IP_LEN
        else:
            want = S.OK
        assert got.status is want, f"{name} cut at {cut}"
        if cut < b.l3_hdr_end:
            continue
        # The datagram cut short, its length field agreeing: the chain itself ends early.
        got = twins(kparse, with_ip_length(frame[:cut], b, cut - b.l3))
        done = [end for end in b.exts if end <= cut]
        if len(done) < len(b.exts):
            want = S.L3_TRUNC
        elif cut < b.l4_end:
            want = S.L4_TRUNC
        else:
            want = S.OK
        assert got.status is want, f"{name} datagram cut at {cut}"
        assert got.ext_count == len(done)
        assert bool(got.flags & (PktFlags.PORTS | PktFlags.ICMP)) == (want is S.OK)


@pytest.mark.kernel
@examples(200)
@given(b=valid_frames(), data=st.data())
def test_truncated_at_random(kparse: Parser, b: Built, data: st.DataObject) -> None:
    cut = data.draw(st.integers(14, len(b.frame)))
    got = twins(kparse, b.frame[:cut])
    if cut < len(bytes(b.pkt)) and got.ip_ver:
        assert got.status is not S.OK


# --- malformed headers -----------------------------------------------------------


@st.composite
def mutated(draw: st.DrawFn) -> tuple[bytes, str, int, Packet]:
    """A valid IP frame with one field broken; (frame, what, value, parse before)."""
    b = draw(valid_frames(kinds=("ipv4", "ipv6")))
    before = parse(b.frame)
    out, l3 = bytearray(b.frame), before.l3_off
    what = draw(st.sampled_from(["ihl", "ip_len", "version", "byte"]))
    if what == "ihl" and before.ip_ver == 4:
        value = draw(st.one_of(st.sampled_from([0, 4, 5, 15]), st.integers(0, 15)))
        out[l3] = 0x40 | value
    elif what == "ip_len":
        # The field's value, and where each rule's edge lies: the header
        # length (IPv4), the true length and the bytes the frame holds.
        v4 = before.ip_ver == 4
        true = before.ip_len - (0 if v4 else 40)
        hlen = 4 * (out[l3] & 0xF) if v4 else 0
        avail = len(out) - l3 - (0 if v4 else 40)
        edges = [0, hlen - 1, hlen, true - 1, true + 1, avail, avail + 1, 0xFFFF]
        value = draw(st.one_of(st.sampled_from(edges), st.integers(0, 0xFFFF)))
        value = min(max(value, 0), 0xFFFF)
        at = l3 + (2 if before.ip_ver == 4 else 4)
        out[at : at + 2] = value.to_bytes(2, "big")
    elif what == "version":
        value = draw(st.integers(0, 15))
        out[l3] = value << 4 | out[l3] & 0xF
    else:
        what = "byte"
        value = draw(st.integers(0, min(len(out), 140) - 1))
        out[value] = draw(st.integers(0, 255))
    return bytes(out), what, value, before


@pytest.mark.kernel
@examples(300)
@given(m=mutated())
def test_malformed_headers(kparse: Parser, m: tuple[bytes, str, int, Packet]) -> None:
    frame, what, value, before = m
    got = twins(kparse, frame)
    ver, avail = before.ip_ver, len(frame) - before.l3_off
    if what == "ihl":
        if value < 5:
            assert got.status is S.BAD_IHL
        elif value * 4 > avail:
            assert got.status is S.L3_TRUNC
        elif not value * 4 <= got.ip_len <= avail:
            assert got.status is S.BAD_IP_LEN
    elif what == "ip_len":
        dlen = value + (0 if ver == 4 else 40)
        assert got.ip_len == dlen
        if dlen > avail or (ver == 4 and dlen < 4 * (frame[before.l3_off] & 0xF)):
            assert got.status is S.BAD_IP_LEN
    elif what == "version" and value != ver:
        assert got.status is S.BAD_VERSION
        assert got.ttl == got.dscp == 0 and got.saddr == bytes(16), "nothing past the version"


@st.composite
def long_chains(draw: st.DrawFn) -> tuple[bytes, int]:
    n = draw(st.integers(IPV6_MAX_EXT + 1, IPV6_MAX_EXT + 4))
    upper = UDP(sport=draw(ports), dport=draw(ports))
    l3 = draw(ipv6_chain(n, 17, upper).filter(lambda p: not any(
        isinstance(x, IPv6ExtHdrFragment) and x.offset for x in layers(p))))  # fmt: skip
    return bytes(draw(ethernet(l3, 0x86DD, draw(st.integers(0, 2))))), n


@pytest.mark.kernel
@examples(100)
@given(chain=long_chains())
def test_ipv6_chain_beyond_limit(kparse: Parser, chain: tuple[bytes, int]) -> None:
    frame, n = chain
    assert n > IPV6_MAX_EXT
    got = twins(kparse, frame)
    assert got.status is S.EXT_DEPTH
    assert got.ext_count == IPV6_MAX_EXT
    assert got.l4_proto == 0 and got.l4_off == 0 and not got.flags & PktFlags.PORTS


@pytest.mark.kernel
@examples(60)
@given(b=valid_frames(tags=0), extra=st.integers(3, 5), data=st.data())
def test_three_or_more_vlan_tags(kparse: Parser, b: Built, extra: int, data: st.DataObject):
    tags = [data.draw(st.sampled_from([0x8100, 0x88A8])) for _ in range(extra)]
    inner = b.frame[12:14]
    hdr = b.frame[:12] + tags[0].to_bytes(2, "big")
    for i in range(extra):
        tci = data.draw(st.integers(0, 0xFFFF))
        nxt = tags[i + 1].to_bytes(2, "big") if i + 1 < extra else inner
        hdr += tci.to_bytes(2, "big") + nxt
    got = twins(kparse, hdr + b.frame[14:])
    assert got.status is S.VLAN_DEPTH
    assert got.vlan_count == 2 and got.eth_proto == tags[2]
    assert got.l3_off == 0 and got.ip_ver == 0


@pytest.mark.kernel
@examples(200)
@given(
    ethertype=st.sampled_from([0x0800, 0x86DD, 0x8100, 0x88A8, 0x0806]),
    body=st.binary(min_size=0, max_size=200),
    version=st.sampled_from([None, 4, 6]),
)
def test_random_bytes(kparse: Parser, ethertype: int, body: bytes, version: int | None) -> None:
    if version is not None and body:  # past the version check more often than by chance
        body = bytes([version << 4 | body[0] & 0xF]) + body[1:]
    frame = bytes(12) + ethertype.to_bytes(2, "big") + body
    got = twins(kparse, frame)
    assert got.status in set(S)


# --- short frames, layout, hash ----------------------------------------------------


@pytest.mark.kernel
def test_kernel_refuses_frames_below_ethernet_header(kparse: Parser) -> None:
    # PROG_RUN needs ETH_HLEN bytes; shorter frames never reach an XDP program.
    for n in (1, 13):
        with pytest.raises(BpfError) as exc:
            kparse(bytes(n))
        assert exc.value.errno == errno.EINVAL
    assert twins(kparse, bytes(14)).status is S.OK  # ethertype 0: other L3


@pytest.mark.parametrize("n", range(14))
def test_short_frames_are_l2_truncated(n: int) -> None:
    got = parse(bytes(range(n)))
    assert got.status is S.L2_TRUNC and got.len == n
    assert got == Packet(len=n, status=S.L2_TRUNC, flow_hash=hash_of(bytes(16), bytes(16), 0, 0, 0))


def test_vlan_tag_cut_short() -> None:
    frame = bytes(12) + b"\x81\x00\x00\x05\x88\xa8\x00\x06\x08"
    got = parse(frame)
    assert (got.status, got.vlan_count, got.vlan_tci, got.eth_proto) == (
        S.L2_TRUNC, 1, (5, 0), 0x88A8)  # fmt: skip


@given(b=valid_frames())
@examples(100)
def test_decode_inverts_pack(b: Built) -> None:
    pkt = parse(b.frame)
    raw = pkt.pack()
    assert len(raw) == 80 and decode(raw) == pkt


def test_flow_hash_definition() -> None:
    src, dst = mapped("10.0.0.1"), mapped("10.0.0.2")
    assert flow_hash(src, dst, 1, 2, 6) == hash_of(src, dst, 1, 2, 6)
    assert flow_hash(src, dst, 1, 2, 6) != flow_hash(dst, src, 2, 1, 6), "directional"
    # All fragments of a datagram share a flow: ports are left out for every one.
    first = IP(src="10.0.0.1", dst="10.0.0.2", flags="MF") / UDP(sport=1, dport=2) / Raw(b"a" * 8)
    later = IP(src="10.0.0.1", dst="10.0.0.2", proto=17, frag=2) / Raw(b"b" * 8)
    p1, p2 = (parse(bytes(Ether() / x)) for x in (first, later))
    assert p1.sport == 1 and p1.flags & PktFlags.PORTS and not p2.flags & PktFlags.PORTS
    assert p1.flow_hash == p2.flow_hash == hash_of(src, dst, 0, 0, 17)
