"""Packet captures as users have them, read as Ethernet frames.

One reader for every replay (the simulator's ``pcap`` workload, and any replay
into a test bed): pcap (micro- or nanosecond, either byte order) and pcapng
(any number of interfaces, each with its own link type, time resolution and
FCS length). Frames come out as the datapath sees them, Ethernet, whatever the
capture's link layer was:

* Ethernet (1); an FCS the capture says it kept (the FCS bits of the pcap
  header's link-type field, or pcapng's ``if_fcslen``) is cut off;
* raw IP (101, 228, 229, and the platform values 12 and 14): an Ethernet
  header is put in front;
* Linux cooked captures, which ``tcpdump -i any`` writes: SLL (113) and SLL2
  (276); the protocol becomes the ethertype, the link-layer address the source;
* BSD loopback: NULL (0, the address family in the capturing host's byte
  order) and LOOP (108, in network byte order).

The upper bits of a pcap header's link-type field are not part of the type:
``0x30000001`` is Ethernet (1) whose frames end in an FCS. Anything else is
refused with a :class:`~xdpq.errors.XdpqError` that names the file and what
it holds; a truncated or damaged file likewise.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from xdpq.errors import XdpqError

ETHERNET, RAW, IPV4, IPV6, SLL, SLL2, NULL, LOOP = 1, 101, 228, 229, 113, 276, 0, 108
RAW_PLATFORM = (12, 14)  # DLT_RAW as some platforms numbered it in files
NAMES = {ETHERNET: "Ethernet", RAW: "raw IP", IPV4: "raw IPv4", IPV6: "raw IPv6",
         SLL: "Linux cooked (SLL)", SLL2: "Linux cooked v2 (SLL2)", NULL: "BSD loopback (NULL)",
         LOOP: "OpenBSD loopback (LOOP)", 12: "raw IP", 14: "raw IP"}
SUPPORTED = ("Ethernet, raw IP, Linux cooked (SLL, SLL2, as tcpdump -i any writes) and BSD "
             "loopback (NULL, LOOP)")

_ETHERTYPE_IPV4, _ETHERTYPE_IPV6 = b"\x08\x00", b"\x86\xdd"
_AF_INET, _AF_INET6 = 2, (10, 24, 28, 30)  # AF_INET6: Linux, the BSDs, macOS
_ETH_FCS = 4
# The pcap header's link-type field: the type in the low 16 bits; bit 26 says the top
# four bits hold the FCS length in 16-bit words.
_LT_TYPE, _LT_FCS_PRESENT = 0xFFFF, 0x04000000
_PCAP_MAGIC = {0xA1B2C3D4: 1000, 0xA1B23C4D: 1}  # ns per timestamp unit of the fraction
_PCAPNG_SHB, _PCAPNG_BOM = 0x0A0D0D0A, 0x1A2B3C4D


@dataclass(frozen=True, slots=True)
class Frame:
    time_ns: int  # capture time, from the epoch
    data: bytes  # an Ethernet frame, without FCS
    wire_len: int  # its length on the wire (the capture may hold less of it)


@dataclass(frozen=True, slots=True)
class _Interface:
    linktype: int
    fcs: int  # bytes of FCS at the end of each frame
    ticks_per_s: int


class _Bad(Exception):
    """A damaged file; the reader names it."""


def frames(path: str | os.PathLike[str]) -> Iterator[Frame]:
    """Every frame of a pcap or pcapng file, in file order, as Ethernet."""
    name = os.fspath(path)
    try:
        with Path(path).open("rb") as f:
            head = f.read(4)
            if len(head) < 4:
                raise XdpqError(f"{name}: not a capture: empty or shorter than a pcap header")
            if int.from_bytes(head, "little") == _PCAPNG_SHB:
                yield from _pcapng(f)
            else:
                yield from _pcap(f, head, name)
    except _Bad as exc:
        raise XdpqError(f"{name}: {exc}") from None
    except OSError as exc:
        raise XdpqError(f"cannot read the capture {name}: {exc.strerror}") from None


def _read(f: BinaryIO, n: int, what: str) -> bytes:
    data = f.read(n)
    if len(data) < n:
        raise _Bad(f"truncated: the file ends inside {what}")
    return data


def _pcap(f: BinaryIO, head: bytes, name: str) -> Iterator[Frame]:
    for order in ("<", ">"):
        magic = struct.unpack(f"{order}I", head)[0]
        if magic in _PCAP_MAGIC:
            break
    else:
        raise XdpqError(f"{name}: not a pcap or pcapng file (it starts {head.hex()})")
    tick = _PCAP_MAGIC[magic]
    _, _, _, _, _, field = struct.unpack(f"{order}HHiIII", _read(f, 20, "the file header"))
    fcs = 0
    if field & _LT_FCS_PRESENT:
        fcs = 2 * (field >> 28)
    elif field >> 28:  # FCS bits without the flag: an Ethernet FCS, as libpcap's writers left
        fcs = _ETH_FCS
    iface = _Interface(field & _LT_TYPE, fcs, 1_000_000_000)
    record = struct.Struct(f"{order}IIII")
    index = 0
    while head := f.read(16):
        if len(head) < 16:
            raise _Bad(f"truncated: the file ends inside the header of record {index}")
        sec, frac, incl, orig = record.unpack(head)
        data = _read(f, incl, f"record {index}")
        yield _frame(iface, sec * 1_000_000_000 + frac * tick, data, orig, index)
        index += 1


def _pcapng(f: BinaryIO) -> Iterator[Frame]:
    order = "<"
    ifaces: list[_Interface] = []
    index = 0
    block_type = _PCAPNG_SHB
    while True:
        if block_type == _PCAPNG_SHB:
            length_bytes, bom = _read(f, 4, "a section header"), _read(f, 4, "a section header")
            order = "<" if int.from_bytes(bom, "little") == _PCAPNG_BOM else ">"
            if struct.unpack(f"{order}I", bom)[0] != _PCAPNG_BOM:
                raise _Bad("not a pcapng file: its byte-order magic is wrong")
            length = struct.unpack(f"{order}I", length_bytes)[0]
            _read(f, _body_left(length, 12), "a section header")
            ifaces = []  # interfaces are numbered per section
        else:
            length = struct.unpack(f"{order}I", _read(f, 4, "a block header"))[0]
            body = _read(f, _body_left(length, 8), f"block {block_type:#x}")[:-4]
            if block_type == 1:  # interface description
                ifaces.append(_interface(body, order))
            elif block_type in (6, 3, 2):  # enhanced, simple, obsolete packet
                yield _packet(block_type, body, order, ifaces, index)
                index += 1
        head = f.read(4)
        if not head:
            return
        if len(head) < 4:
            raise _Bad("truncated: the file ends inside a block header")
        block_type = struct.unpack(f"{order}I", head)[0]


def _body_left(length: int, read: int) -> int:
    if length < read + 4 or length % 4:
        raise _Bad(f"a block of length {length}: damaged")
    return length - read


def _options(data: bytes, order: str) -> Iterator[tuple[int, bytes]]:
    at = 0
    while at + 4 <= len(data):
        code, n = struct.unpack_from(f"{order}HH", data, at)
        if code == 0:
            return
        yield code, data[at + 4:at + 4 + n]
        at += 4 + n + (-n % 4)


def _interface(body: bytes, order: str) -> _Interface:
    if len(body) < 8:
        raise _Bad("an interface description block too short")
    linktype = struct.unpack_from(f"{order}H", body)[0]
    ticks_per_s, fcs = 1_000_000, 0
    for code, value in _options(body[8:], order):
        if code == 9 and value:  # if_tsresol: 10^-n, or 2^-n with the top bit set
            r = value[0]
            ticks_per_s = 2 ** (r & 0x7F) if r & 0x80 else 10**r
        elif code == 13 and value:  # if_fcslen, in bytes
            fcs = value[0]
    return _Interface(linktype, fcs, ticks_per_s)


def _packet(block_type: int, body: bytes, order: str, ifaces: list[_Interface],
            index: int) -> Frame:
    if block_type == 3:  # simple packet: interface 0, no time
        if not ifaces or len(body) < 4:
            raise _Bad(f"packet {index}: a simple packet block without an interface")
        orig = struct.unpack_from(f"{order}I", body)[0]
        return _frame(ifaces[0], 0, body[4:4 + orig], orig, index)
    if len(body) < 20:
        raise _Bad(f"packet {index}: its block is too short")
    if block_type == 6:
        iface, high, low, incl, orig = struct.unpack_from(f"{order}IIIII", body)
    else:
        iface, _, high, low, incl, orig = struct.unpack_from(f"{order}HHIIII", body)
    if iface >= len(ifaces):
        raise _Bad(f"packet {index}: names interface {iface}, which is not described")
    if 20 + incl > len(body):
        raise _Bad(f"packet {index}: holds fewer bytes than it says")
    it = ifaces[iface]
    return _frame(it, ((high << 32) | low) * 1_000_000_000 // it.ticks_per_s, body[20:20 + incl],
                  orig, index)


def _frame(iface: _Interface, time_ns: int, data: bytes, orig: int, index: int) -> Frame:
    """A record as an Ethernet frame: its link-layer header replaced, its FCS cut off."""
    if iface.fcs:
        cut = max(0, iface.fcs - (orig - len(data)))  # the capture may have cut it already
        data, orig = data[:len(data) - cut], orig - iface.fcs
    link = iface.linktype
    if link == ETHERNET:
        return Frame(time_ns, data, orig)
    if link in (RAW, IPV4, IPV6, *RAW_PLATFORM):
        ethertype = _ETHERTYPE_IPV6 if data and data[0] >> 4 == 6 else _ETHERTYPE_IPV4
        return _ether(time_ns, bytes(6), ethertype, data, orig, 0)
    if link == SLL:
        if len(data) < 16:
            raise _Bad(f"record {index}: shorter than a Linux cooked header")
        _, _, alen, addr, proto = struct.unpack_from("!HHH8s2s", data)
        return _ether(time_ns, addr[:6] if alen == 6 else bytes(6), proto, data[16:], orig, 16)
    if link == SLL2:
        if len(data) < 20:
            raise _Bad(f"record {index}: shorter than a Linux cooked v2 header")
        proto, _, _, _, _, alen, addr = struct.unpack_from("!2sHIHBB8s", data)
        return _ether(time_ns, addr[:6] if alen == 6 else bytes(6), proto, data[20:], orig, 20)
    if link in (NULL, LOOP):
        if len(data) < 4:
            raise _Bad(f"record {index}: shorter than a loopback header")
        family = int.from_bytes(data[:4], "big")
        if link == NULL and family > 0xFFFF:  # the capturing host's order: little-endian
            family = int.from_bytes(data[:4], "little")
        ethertype = (_ETHERTYPE_IPV4 if family == _AF_INET else
                     _ETHERTYPE_IPV6 if family in _AF_INET6 else bytes(2))
        return _ether(time_ns, bytes(6), ethertype, data[4:], orig, 4)
    raise _Bad(f"link type {link} ({NAMES.get(link, 'unknown')}) is not supported: xdpq "
               f"replays {SUPPORTED}")


def _ether(time_ns: int, src: bytes, ethertype: bytes, payload: bytes, orig: int,
           header: int) -> Frame:
    """``payload`` behind an Ethernet header, in place of a ``header``-byte one."""
    return Frame(time_ns, bytes(6) + src + ethertype + payload, orig - header + 14)
