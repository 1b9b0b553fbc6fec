"""Malformed frames for the ingress program: a corpus, and a checker that runs it.

Every frame the ingress program can be handed gets one defined outcome, the
one the Python twin of the parser (:mod:`xdpq.packet`) predicts, and exactly
one counter moves, by one packet and the frame's bytes. This module makes the
frames and checks the outcomes; ``tests/test_malformed_frames.py`` (a few
thousand frames, systematic and hypothesis-driven) and ``bench/malformed.py``
(100k random ones) both use it.

Frames are built with ``struct`` (scapy is a hundred times slower, and only a
test dependency):

- :func:`systematic` enumerates, for a set of valid base frames, every
  truncation length from 14 bytes to the whole frame (so every header
  boundary: Ethernet, each VLAN tag, the IPv4 header and its options, the
  IPv6 header, each extension header, TCP / UDP / ICMP) both with the IP
  length left claiming the full datagram and with it agreeing with the cut;
  every IHL; IP lengths at and around each rule's edge; every wrong IP
  version; VLAN stacks of 0 to 6 tags; IPv6 extension chains of 0 to 10
  headers (the walk reads 6), later fragments at every position; Ethernet
  padding; sizes around the slot size.
- :func:`random_frame` draws one mutated frame from a ``random.Random``
  (hypothesis supplies one through ``st.randoms()``, the benchmark a seeded
  one).

Outcomes (:func:`expected`), in the order ``xdpq_ingress`` applies them:

- fewer than 14 bytes: ``refused``. ``BPF_PROG_RUN`` rejects XDP input
  shorter than an Ethernet header with ``EINVAL`` (and no driver delivers
  one), so the program never runs and no counter moves;
- 2048 bytes or more (larger than a slot): ``pass_oversize``, ``XDP_PASS``;
- a parse status other than ``OK``: ``forward_malformed`` (into the bypass
  FIFO, ``XDP_DROP``: the frame was consumed into a slot);
- ``OK`` but not IP: ``forward_unclaimed``, the same;
- otherwise ``enqueued`` (``XDP_DROP``), as long as the queue (and the bypass
  FIFO) has room; the checker drains before either fills.
"""

from __future__ import annotations

import errno
import random
import struct
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from xdpq.bpf.program import XDP_DROP, XDP_PASS
from xdpq.errors import BpfError
from xdpq.ir.outcomes import INGRESS_COUNTERS, QUEUE_DROPS, STORED
from xdpq.packet import ParseStatus, parse

ETH_HLEN = 14
SLOT_DATA = 2048  # XDPQ_SLOT_DATA: frames of 1..2047 bytes fit a slot
# The linear buffer BPF_PROG_RUN builds: a 4 KiB page less XDP headroom (256)
# and the skb_shared_info tailroom (320). Longer input becomes a multi-buffer
# frame (the rest in page fragments).
LINEAR_MAX = 3520

MACS = bytes.fromhex("020000000001020000000002")
V4_SRC, V4_DST = bytes([10, 1, 2, 3]), bytes([192, 0, 2, 9])
V6_SRC = bytes.fromhex("20010db8000000000000000000000001")
V6_DST = bytes.fromhex("20010db8000000000000000000000002")

HOPOPTS, ROUTING, FRAGMENT, AH, DSTOPTS = 0, 43, 44, 51, 60
EXT_KINDS = (HOPOPTS, ROUTING, FRAGMENT, DSTOPTS, AH)

VERDICTS = {
    "refused": None, "pass_oversize": XDP_PASS, "forward_malformed": XDP_DROP,
    "forward_unclaimed": XDP_DROP, "enqueued": XDP_DROP,
}  # fmt: skip


# --- headers -------------------------------------------------------------------


def ethernet(ethertype: int, tags: tuple[tuple[int, int], ...] = ()) -> bytes:
    """Ethernet with VLAN tags ``(tpid, tci)``, outer first, then ``ethertype``."""
    types = [tpid for tpid, _ in tags] + [ethertype]
    out = MACS + struct.pack("!H", types[0])
    for i, (_, tci) in enumerate(tags):
        out += struct.pack("!HH", tci, types[i + 1])
    return out


def ipv4(proto: int, payload: int, options: bytes = b"", frag: int = 0, tos: int = 0xB8) -> bytes:
    """An IPv4 header (options padded to 4 bytes) for ``payload`` bytes after it."""
    options += bytes(-len(options) % 4)
    hlen = 20 + len(options)
    return struct.pack("!BBHHHBBH4s4s", 0x40 | hlen // 4, tos, hlen + payload, 7, frag, 64,
                       proto, 0, V4_SRC, V4_DST) + options  # fmt: skip


def ipv6(nh: int, payload: int, tc: int = 0x2E, flow_label: int = 0xBEEF) -> bytes:
    w0 = 6 << 28 | tc << 20 | flow_label
    return struct.pack("!IHBB16s16s", w0, payload, nh, 64, V6_SRC, V6_DST)


def ext_header(kind: int, nh: int, units: int = 0, frag: int = 1) -> bytes:
    """An IPv6 extension header: ``units`` extra length units (8 bytes; AH: 4),
    ``frag`` the fragment header's offset << 3 | M field."""
    if kind == FRAGMENT:
        return struct.pack("!BBHI", nh, 0, frag, 0x1234)
    if kind == AH:  # nh, payload length (4-byte units less 2), reserved, SPI, sequence, ICV
        icv = bytes(4 * units)
        return struct.pack("!BBHII", nh, (12 + len(icv)) // 4 - 2, 0, 0x100, 1) + icv
    return struct.pack("!BB", nh, units) + bytes(6 + 8 * units)


def l4(proto: int) -> bytes:
    """The fixed L4 header the parser reads: TCP 20, UDP 8, ICMP / ICMPv6 8."""
    if proto == 6:
        return struct.pack("!HHIIBBHHH", 1234, 80, 1, 0, 5 << 4, 0x12, 65535, 0, 0)
    if proto == 17:
        return struct.pack("!HHHH", 5353, 53, 8, 0)
    if proto in (1, 58):
        return struct.pack("!BBHI", 8 if proto == 1 else 128, 0, 0, 1)
    return b""


@dataclass(frozen=True, slots=True)
class Base:
    """A valid frame, and where its IP header sits."""

    name: str
    frame: bytes
    l3: int = 0  # 0: not IP
    ip_ver: int = 0


def v4_frame(name: str, proto: int, payload: bytes = b"x" * 10, tags=(), options=b"",
             frag: int = 0) -> Base:  # fmt: skip
    upper = (b"" if frag & 0x1FFF else l4(proto)) + payload
    eth = ethernet(0x0800, tags)
    return Base(name, eth + ipv4(proto, len(upper), options, frag) + upper, len(eth), 4)


def v6_frame(name: str, proto: int, exts: tuple[tuple[int, int, int], ...] = (),
             payload: bytes = b"q" * 6, tags=()) -> Base:  # fmt: skip
    """IPv6 / extension headers ``(kind, units, frag)`` / proto."""
    later = any(kind == FRAGMENT and frag & 0xFFF8 for kind, _, frag in exts)
    chain, nh = b"", proto
    for kind, units, frag in reversed(exts):
        chain = ext_header(kind, nh, units, frag) + chain
        nh = kind
    upper = chain + (b"" if later else l4(proto)) + payload
    eth = ethernet(0x86DD, tags)
    return Base(name, eth + ipv6(nh, len(upper)) + upper, len(eth), 6)


QINQ = ((0x88A8, 100), (0x8100, 200))


def bases() -> list[Base]:
    """Valid frames covering every header the parser reads."""
    chain4 = ((HOPOPTS, 0, 0), (ROUTING, 2, 0), (FRAGMENT, 0, 1), (DSTOPTS, 1, 0))
    chain6 = ((HOPOPTS, 0, 0), (DSTOPTS, 0, 0), (ROUTING, 1, 0), (AH, 1, 0), (FRAGMENT, 0, 0),
              (DSTOPTS, 0, 0))  # fmt: skip
    return [
        v4_frame("v4-udp", 17),
        v4_frame("v4-tcp-opts-vlan", 6, tags=((0x8100, 5),), options=b"\x01" * 8),
        v4_frame("v4-icmp-qinq", 1, tags=QINQ, options=b"\x01" * 40),
        v4_frame("v4-later-frag", 17, frag=0x2000 | 185),
        v4_frame("v4-gre", 47),
        v6_frame("v6-udp", 17),
        v6_frame("v6-chain-tcp", 6, chain4),
        v6_frame("v6-ah-icmp6-vlan", 58, ((AH, 3, 0),), tags=((0x8100, 1),)),
        v6_frame("v6-six-ext-udp-qinq", 17, chain6, tags=QINQ),
        v6_frame("v6-later-frag", 17, ((HOPOPTS, 0, 0), (FRAGMENT, 0, 8 * 3))),
        Base("arp", ethernet(0x0806) + bytes(28)),
        Base("lldp-vlan", ethernet(0x88CC, ((0x8100, 9),)) + bytes(40)),
    ]


# --- systematic enumeration ------------------------------------------------------------


def set_ip_len(b: Base, frame: bytes, datagram: int) -> bytes:
    """``frame`` with the IP length field claiming a ``datagram``-byte datagram."""
    out = bytearray(frame)
    if b.ip_ver == 4:
        out[b.l3 + 2 : b.l3 + 4] = (datagram & 0xFFFF).to_bytes(2, "big")
    else:
        out[b.l3 + 4 : b.l3 + 6] = (max(datagram - 40, 0) & 0xFFFF).to_bytes(2, "big")
    return bytes(out)


def _ip_header_end(b: Base) -> int:
    return b.l3 + (4 * (b.frame[b.l3] & 0xF) if b.ip_ver == 4 else 40)


def _vlan_stack(inner: Base, n: int, cut_inside: bool = False) -> bytes:
    tags = tuple(((0x8100, 0x88A8)[i % 2], i + 1) for i in range(n))
    head = ethernet(int.from_bytes(inner.frame[inner.l3 - 2 : inner.l3], "big"), tags)
    frame = head + inner.frame[inner.l3 :]
    return frame[: len(head) - 2] if cut_inside else frame


def _ext_chain(n: int, later_at: int | None = None) -> Base:
    exts = tuple(
        (FRAGMENT, 0, 8 * 5 if i == later_at else 1) if i == later_at or i % 5 == 2
        else (EXT_KINDS[i % 5], i % 3, 0)
        for i in range(n)
    )  # fmt: skip
    return v6_frame(f"v6-{n}-ext" + (f"-later@{later_at}" if later_at is not None else ""),
                    17, exts)  # fmt: skip


def systematic() -> Iterator[tuple[str, bytes]]:
    """(label, frame): the enumerated corpus, a few thousand frames."""
    for n in range(ETH_HLEN):
        yield f"short/{n}", bytes(range(n))
    for b in bases():
        f = b.frame
        yield f"{b.name}/whole", f
        yield f"{b.name}/padded", f + bytes(64 - len(f) % 64 or 8)
        for cut in range(ETH_HLEN, len(f)):
            yield f"{b.name}/cut={cut}", f[:cut]  # the IP length still claims it all
            if b.ip_ver and cut >= _ip_header_end(b):
                # The length agreeing with the cut: the header chain or L4 ends early.
                yield f"{b.name}/datagram={cut}", set_ip_len(b, f[:cut], cut - b.l3)
        if not b.ip_ver:
            continue
        for v in range(16):
            if v != b.ip_ver:
                out = bytearray(f)
                out[b.l3] = v << 4 | out[b.l3] & 0xF
                yield f"{b.name}/version={v}", bytes(out)
        avail, hend = len(f) - b.l3, _ip_header_end(b) - b.l3
        true = struct.unpack_from("!H", f, b.l3 + (2 if b.ip_ver == 4 else 4))[0]
        true += 0 if b.ip_ver == 4 else 40
        for dlen in sorted({0, 1, hend - 1, hend, hend + 1, true - 1, true + 1, avail,
                            avail + 1, 0xFFFF + (40 if b.ip_ver == 6 else 0)}):  # fmt: skip
            if dlen >= 0 and dlen != true:
                yield f"{b.name}/ip_len={dlen}", set_ip_len(b, f, dlen)
        if b.ip_ver == 4:
            for ihl in range(16):
                out = bytearray(f)
                out[b.l3] = 0x40 | ihl
                yield f"{b.name}/ihl={ihl}", bytes(out)
    v4, v6 = v4_frame("v4", 17), v6_frame("v6", 6)
    for inner in (v4, v6):
        for n in range(7):
            yield f"vlan{inner.ip_ver}/tags={n}", _vlan_stack(inner, n)
            yield f"vlan{inner.ip_ver}/tags={n}/cut-in-last", _vlan_stack(inner, n, True)
    for n in range(11):
        yield f"ext/{n}", _ext_chain(n).frame
        for at in range(n):
            yield f"ext/{n}/later@{at}", _ext_chain(n, at).frame
    for size in (60, 1514, 1518, 1522, SLOT_DATA - 1, SLOT_DATA, SLOT_DATA + 1, LINEAR_MAX):
        yield f"size={size}", sized(v4, size)
        yield f"size6={size}", sized(v6, size)


def sized(b: Base, size: int) -> bytes:
    """``b`` grown (or cut) to ``size`` bytes with its IP length agreeing."""
    f = (b.frame + bytes(max(0, size - len(b.frame))))[:size]
    return set_ip_len(b, f, size - b.l3) if b.ip_ver else f


# --- random mutation --------------------------------------------------------------------


def random_frame(rng: random.Random) -> bytes:
    """One frame: a base frame, mutated in one or two ways, or noise."""
    if rng.random() < 0.05:
        eth = rng.choice((0x0800, 0x86DD, 0x8100, 0x88A8, 0x0806))
        body = bytearray(rng.randbytes(rng.randint(0, 120)))
        if body and rng.random() < 0.7:
            body[0] = rng.choice((4, 6)) << 4 | body[0] & 0xF
        return MACS + eth.to_bytes(2, "big") + bytes(body)
    pick = rng.random()
    if pick < 0.15:
        b = _ext_chain(rng.randint(0, 10), rng.choice((None, None, rng.randint(0, 9))))
    elif pick < 0.25:
        inner = v4_frame("v4", 17) if rng.random() < 0.5 else v6_frame("v6", 6)
        b = Base("vlan", _vlan_stack(inner, rng.randint(0, 5)), 0, 0)
        if rng.random() < 0.5:
            return b.frame
    else:
        b = rng.choice(bases())
    f = bytearray(b.frame)
    for _ in range(rng.choice((1, 1, 1, 2))):
        f = bytearray(_mutate(rng, b, bytes(f)))
    return bytes(f)


def _mutate(rng: random.Random, b: Base, f: bytes) -> bytes:
    what = rng.choice(("cut", "datagram", "ihl", "ip_len", "version", "flip", "grow", "none"))
    if what in ("datagram", "ihl", "ip_len", "version") and (not b.ip_ver or len(f) < b.l3 + 6):
        what = "cut"
    if len(f) <= ETH_HLEN and what != "grow":
        return f
    out = bytearray(f)
    match what:
        case "cut":
            return f[: rng.randint(0, len(f))] if rng.random() < 0.02 else \
                f[: rng.randint(ETH_HLEN, len(f))]  # fmt: skip
        case "datagram":
            cut = rng.randint(b.l3, len(f))
            return set_ip_len(b, f[:cut], cut - b.l3)
        case "ihl" if b.ip_ver == 4:
            out[b.l3] = 0x40 | rng.randint(0, 15)
        case "ip_len":
            avail = len(f) - b.l3
            dlen = rng.choice((rng.randint(0, 0xFFFF), avail, avail + 1, avail - 1,
                               rng.randint(0, avail + 8)))  # fmt: skip
            return set_ip_len(b, f, max(dlen, 0))
        case "version":
            out[b.l3] = rng.randint(0, 15) << 4 | out[b.l3] & 0xF
        case "flip":
            for _ in range(rng.randint(1, 4)):
                out[rng.randint(12, min(len(out), 140) - 1)] = rng.randint(0, 255)
        case "grow":
            size = rng.choice((rng.randint(len(f), max(len(f), 1600)), SLOT_DATA - 1, SLOT_DATA,
                               rng.randint(SLOT_DATA, LINEAR_MAX)))  # fmt: skip
            return sized(b, size) if size >= len(f) else f
    return bytes(out)


# --- outcomes and the checker ------------------------------------------------------------


def expected(frame: bytes) -> str:
    """The ingress counter the frame must land in, by the Python twin (or ``refused``)."""
    if len(frame) < ETH_HLEN:
        return "refused"
    if len(frame) >= SLOT_DATA:
        return "pass_oversize"
    pkt = parse(frame)
    if pkt.status is not ParseStatus.OK:
        return "forward_malformed"
    return "enqueued" if pkt.ip_ver else "forward_unclaimed"


@dataclass
class Mismatch:
    label: str
    frame: bytes
    want: str
    verdict: int | None
    moved: dict[str, tuple[int, int]]

    def __str__(self) -> str:
        more = "..." if len(self.frame) > 160 else ""
        return (
            f"{self.label}: want {self.want} ({len(self.frame)} B), got verdict {self.verdict} "
            f"and counters {self.moved}; frame {self.frame[:160].hex()}{more}"
        )


@dataclass
class IngressCheck:
    """Runs frames through ``xdpq_ingress`` of a :class:`~xdpq.testing.stepper.Stepper`
    and compares each outcome and counter move with :func:`expected`.

    Every ``drain_every`` stored frames (and at :meth:`drain`), half of what is
    queued is dequeued with ``xdpq_step`` and the rest flushed; then
    conservation is checked: stored (enqueued or bypassed) == transmitted +
    dropped by AQM + flushed, the transmit ring emptied, every slot back in the
    free list."""

    stepper: object  # Stepper; not imported, so that this module needs no kernel
    drain_every: int = 256
    sent: int = 0
    refused: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    mismatches: list[Mismatch] = field(default_factory=list)
    conservation_errors: list[str] = field(default_factory=list)
    byte_errors: list[str] = field(default_factory=list)
    dequeued: int = 0
    byte_gap: int = 0
    _queued: int = 0
    _last: dict[str, tuple[int, int]] = field(default_factory=dict)
    _base: dict[str, tuple[int, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._last = self._base = self.counters()

    def counters(self) -> dict[str, tuple[int, int]]:
        """Every counter, (packets, bytes) summed over CPUs."""
        from xdpq.runtime.counters import read_counters

        counts = read_counters(self.stepper.obj)  # type: ignore[attr-defined]
        return {name: (c.packets, c.bytes) for name, c in counts.items()}

    def send(self, frame: bytes, label: str = "") -> bool:
        """One frame; False (and a recorded mismatch) if its outcome is not the expected one."""
        want = expected(frame)
        if len(frame) >= ETH_HLEN:
            self.statuses[parse(frame).status.name] += 1
        try:
            verdict: int | None = self.stepper.ingress(frame)  # type: ignore[attr-defined]
        except BpfError as e:
            if e.errno != errno.EINVAL or len(frame) >= ETH_HLEN:
                raise
            verdict = None
        now = self.counters()
        moved = {k: (now[k][0] - self._last[k][0], now[k][1] - self._last[k][1])
                 for k in now if now[k] != self._last[k]}  # fmt: skip
        self._last = now
        if verdict is None:
            self.refused += 1
        else:
            self.sent += 1
        ok = verdict == VERDICTS[want] and moved == ({} if want == "refused" else
                                                     {want: (1, len(frame))})  # fmt: skip
        if ok:
            self.outcomes[want] += 1
        else:
            got = "refused" if not moved else "+".join(sorted(moved))
            if set(moved) == {want} and moved[want][0] == 1:
                got += " (wrong bytes)"
            self.outcomes[f"{want} -> {got}"] += 1
            self.mismatches.append(Mismatch(label, frame, want, verdict, moved))
        if set(moved) & set(STORED):
            self._queued += 1
            if self._queued >= self.drain_every:
                self.drain()
        return ok

    def drain(self) -> None:
        """Dequeue half of what is queued, flush the rest, check conservation and the pool.

        After a flush every stored packet was transmitted (never, here: nothing
        transmits on a virtual clock), dropped by AQM, or flushed (``drop_shutdown``:
        still queued, or staged on the transmit ring and not sent)."""
        st = self.stepper
        bss = st.obj.section(".bss")  # type: ignore[attr-defined]
        for i in range(self._queued // 2):
            if st.step(now=i).result == 0:  # type: ignore[attr-defined]
                self.dequeued += 1
        st.flush()  # type: ignore[attr-defined]
        self._queued = 0
        c = self.counters()
        self._last = c
        pkts = {k: v[0] - self._base[k][0] for k, v in c.items()}
        gone = ("transmitted", *QUEUE_DROPS, "drop_shutdown")
        errors = []
        if sum(pkts[k] for k in STORED) != sum(pkts[k] for k in gone):
            errors.append(f"stored {[pkts[k] for k in STORED]} != {' + '.join(gone)} "
                          f"{[pkts[k] for k in gone]}")  # fmt: skip
        if pkts["dequeued"] != self.dequeued:
            errors.append(f"dequeued {pkts['dequeued']}, {self.dequeued} steps dequeued")
        if sum(pkts[k] for k in INGRESS_COUNTERS) != self.sent:
            errors.append(f"ingress counters sum to {sum(pkts[k] for k in INGRESS_COUNTERS)}, "
                          f"{self.sent} frames were run")  # fmt: skip
        if pkts["slot_free_fail"]:
            errors.append(f"slot_free_fail {pkts['slot_free_fail']}")
        for var in ("xdpq_slots_in_use", "xdpq_backlog", "xdpq_staged"):
            if bss[var]:
                errors.append(f"{var} = {bss[var]} after the flush")
        free = free_slots(st.obj)  # type: ignore[attr-defined]
        pool = st.obj.map("xdpq_slots").max_entries  # type: ignore[attr-defined]
        if sorted(free) != list(range(pool)):
            errors.append(f"free list holds {len(free)} slots ({len(set(free))} distinct) "
                          f"of {pool}")  # fmt: skip
        self.conservation_errors += errors
        nbytes = {k: v[1] - self._base[k][1] for k, v in c.items()}
        # Cumulative: once bytes go missing the gap stays; keep the latest account.
        self.byte_gap = sum(nbytes[k] for k in STORED) - sum(nbytes[k] for k in gone)
        self.byte_errors = [
            f"stored {[nbytes[k] for k in STORED]} B != {' + '.join(gone)} "
            f"{[nbytes[k] for k in gone]} B (after {self.dequeued} dequeues)"
        ] if self.byte_gap else []  # fmt: skip

    def summary(self) -> dict[str, object]:
        return {
            "frames": self.sent + self.refused, "run": self.sent, "refused": self.refused,
            "outcomes": dict(sorted(self.outcomes.items())),
            "parse_status": dict(sorted(self.statuses.items())),
            "mismatches": len(self.mismatches),
            "conservation_errors": self.conservation_errors,
            "byte_conservation_errors": self.byte_errors,
            "bytes_unaccounted": self.byte_gap,
        }  # fmt: skip


def free_slots(obj: object) -> list[int]:
    """The free slot indices: on the free list (a stack map, read by popping every one
    and pushing them back in the same order) and in each CPU's cache (kern/slots.h).
    Only while nothing else uses the pool."""
    free = obj.map("xdpq_free")  # type: ignore[attr-defined]
    popped = []
    while (raw := free.pop()) is not None:
        popped.append(raw)
    for raw in reversed(popped):
        free.push(raw)
    cached = []
    for raw in obj.map("xdpq_slot_cache").lookup_percpu(bytes(4)):  # type: ignore[attr-defined]
        n, *slots = struct.unpack(f"={len(raw) // 4}I", raw)
        cached += slots[:n]
    return [int.from_bytes(r, "little") for r in popped] + cached
