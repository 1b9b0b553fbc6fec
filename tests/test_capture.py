"""Captures as users have them: every link type xdpq replays, written byte by byte as
the tools that make them do (pcap and pcapng), read back as the Ethernet frames the
datapath sees; FCS bits in the link-type field; and clean refusals."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6

from xdpq.capture import frames
from xdpq.cli import main
from xdpq.errors import XdpqError
from xdpq.packet import parse

V4 = bytes(IP(src="10.1.2.3", dst="10.9.8.7", tos=46 << 2) / UDP(sport=1111, dport=53)
           / bytes(60))
V6 = bytes(IPv6(src="fd00::1", dst="fd00::2", fl=5) / UDP(sport=7, dport=9) / bytes(30))
MAC = bytes.fromhex("020000000001")
T0 = 1_700_000_000


def pcap_file(path: Path, linktype: int, records: list[bytes], *, order: str = "<",
              nano: bool = False, extra: int = 0) -> Path:
    """A pcap file; ``extra`` bytes of each record are beyond the packet (an FCS)."""
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack(f"{order}IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)
    for i, r in enumerate(records):
        out += struct.pack(f"{order}IIII", T0, i, len(r), len(r)) + r
    path.write_bytes(out)
    return path


def fcs(frame: bytes) -> bytes:
    return struct.pack("<I", zlib.crc32(frame))


def ether(payload: bytes, ethertype: int) -> bytes:
    return bytes(6) + MAC + struct.pack("!H", ethertype) + payload


def sll(payload: bytes, proto: int) -> bytes:
    return struct.pack("!HHH8sH", 0, 1, 6, MAC + bytes(2), proto) + payload


def sll2(payload: bytes, proto: int) -> bytes:
    return struct.pack("!HHIHBB8s", proto, 0, 3, 1, 0, 6, MAC + bytes(2)) + payload


def assert_is(frame_data: bytes, payload: bytes) -> None:
    """The frame carries ``payload`` as an IP packet the parser reads as sent."""
    want = parse(ether(payload, 0x86DD if payload[0] >> 4 == 6 else 0x0800))
    got = parse(frame_data)
    assert (got.saddr, got.daddr, got.sport, got.dport, got.dscp, got.ip_ver) == (
        want.saddr, want.daddr, want.sport, want.dport, want.dscp, want.ip_ver)
    assert frame_data[14:] == payload


@pytest.mark.parametrize("linktype", [0x30000001, 0x24000001])
def test_ethernet_with_fcs_bits_in_the_link_type(tmp_path: Path, linktype: int) -> None:
    """805306369 is 0x30000001: Ethernet whose frames end in an FCS (bits without the
    flag, as tcpdump's test captures have them); 0x24000001 says so with the flag."""
    plain = [ether(V4, 0x0800), ether(V6, 0x86DD)]
    got = list(frames(pcap_file(tmp_path / "e.pcap", linktype, [f + fcs(f) for f in plain])))
    assert [g.data for g in got] == plain
    assert [g.wire_len for g in got] == [len(f) for f in plain]
    assert got[1].time_ns - got[0].time_ns == 1000  # microseconds
    for g, p in zip(got, (V4, V6), strict=True):
        assert_is(g.data, p)


def test_raw_ip_with_fcs_bits(tmp_path: Path) -> None:
    got = list(frames(pcap_file(tmp_path / "r.pcap", 0x30000000 | 101,
                                [V4 + bytes(4), V6 + bytes(4)], order=">", nano=True)))
    assert_is(got[0].data, V4)
    assert_is(got[1].data, V6)
    assert got[1].time_ns - got[0].time_ns == 1  # nanoseconds
    assert got[0].wire_len == len(V4) + 14


@pytest.mark.parametrize(("linktype", "wrap", "header"), [
    (113, sll, 16),  # Linux cooked: tcpdump -i any
    (276, sll2, 20),  # its second version
    (0, lambda p, proto: struct.pack("<I", 2 if proto == 0x0800 else 30) + p, 4),  # NULL
    (0, lambda p, proto: struct.pack(">I", 2 if proto == 0x0800 else 10) + p, 4),
    (108, lambda p, proto: struct.pack(">I", 2 if proto == 0x0800 else 24) + p, 4),  # LOOP
    (101, lambda p, proto: p, 0),
    (228, lambda p, proto: p, 0),
])
def test_every_link_type_reads_as_ethernet(tmp_path: Path, linktype: int, wrap, header: int
                                           ) -> None:
    records = [wrap(V4, 0x0800), wrap(V6, 0x86DD)]
    got = list(frames(pcap_file(tmp_path / "c.pcap", linktype, records)))
    assert len(got) == 2
    for g, p, r in zip(got, (V4, V6), records, strict=True):
        assert_is(g.data, p)
        assert g.wire_len == len(r) - header + 14
    if linktype in (113, 276):
        assert got[0].data[6:12] == MAC  # the cooked header's address is the source


def pcapng_file(path: Path, linktype: int, records: list[bytes], *, tsresol: int = 9,
                fcslen: int = 0) -> Path:
    def block(kind: int, body: bytes) -> bytes:
        body += bytes(-len(body) % 4)
        return struct.pack("<II", kind, len(body) + 12) + body + struct.pack("<I", len(body) + 12)

    def option(code: int, value: bytes) -> bytes:
        return struct.pack("<HH", code, len(value)) + value + bytes(-len(value) % 4)

    opts = option(9, bytes([tsresol])) + (option(13, bytes([fcslen])) if fcslen else b"")
    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(1, struct.pack("<HHI", linktype, 0, 65535) + opts + bytes(4))
    for i, r in enumerate(records):
        stamp = T0 * 10**9 + i * 7
        out += block(6, struct.pack("<IIIII", 0, stamp >> 32, stamp & 0xFFFFFFFF, len(r),
                                    len(r)) + r)
    path.write_bytes(out)
    return path


def test_pcapng_with_its_own_resolution_and_fcs_length(tmp_path: Path) -> None:
    plain = ether(V4, 0x0800)
    got = list(frames(pcapng_file(tmp_path / "e.pcapng", 1, [plain + fcs(plain)] * 2,
                                  fcslen=4)))
    assert [g.data for g in got] == [plain] * 2
    assert got[0].time_ns == T0 * 10**9 and got[1].time_ns - got[0].time_ns == 7
    got = list(frames(pcapng_file(tmp_path / "s.pcapng", 276, [sll2(V6, 0x86DD)])))
    assert_is(got[0].data, V6)


@pytest.mark.parametrize(("content", "words"), [
    (b"", "not a capture"),
    (b"\x00" * 40, "not a pcap or pcapng file"),
    (struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1) + bytes(10),
     "truncated: the file ends inside the header of record 0"),
    (struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
     + struct.pack("<IIII", 0, 0, 100, 100) + bytes(20), "truncated: the file ends inside "
                                                          "record 0"),
    (struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 105)
     + struct.pack("<IIII", 0, 0, 4, 4) + bytes(4), "link type 105 (unknown) is not "
                                                    "supported: xdpq replays Ethernet"),
])
def test_damaged_and_unsupported_captures_are_refused_cleanly(
        tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    with pytest.raises(XdpqError, match=re.escape(words)):
        list(frames(path))


def scenario(tmp_path: Path, capture: Path) -> Path:
    path = tmp_path / "replay.toml"
    path.write_text(f'name = "replay"\nduration = "10ms"\n[link]\nrate = "100mbit"\n'
                    f'[scheduler]\nfile = "schedulers/fifo.xdpq"\n'
                    f'[[workload]]\nkind = "pcap"\nfile = "{capture}"\n')
    return path


def test_xdpq_sim_replays_a_linux_cooked_capture(tmp_path: Path, capsys) -> None:
    """What tcpdump -i any writes (SLL2, SLL before it) replays through xdpq sim."""
    from conftest import REPO

    (tmp_path / "schedulers").symlink_to(REPO / "schedulers")
    cap = pcap_file(tmp_path / "any.pcap", 276, [sll2(V4, 0x0800), sll2(V6, 0x86DD)] * 5)
    assert main(["sim", str(scenario(tmp_path, cap)), "--out", str(tmp_path / "o"),
                 "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "10 packets" in out and "10 delivered" in out

    bad = tmp_path / "ppp.pcap"
    bad.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 9)
                    + struct.pack("<IIII", 0, 0, 4, 4) + bytes(4))
    assert main(["sim", str(scenario(tmp_path, bad)), "--out", str(tmp_path / "p"),
                 "--no-plots"]) == 1
    assert "link type 9 (unknown) is not supported" in capsys.readouterr().err
