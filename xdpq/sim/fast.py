"""The fast simulator: a whole open-loop run in C, held to the reference packet by packet.

``Simulation(..., fast=True).run`` comes here first. The scheduler's program
is compiled once (cached like every object xdpq builds) into a shared library
of two parts: the scheduler as userspace C (``xdpq.codegen.host``: the BPF
back end's output over kern/'s own queues and tree), and ``fastloop.c``, the
reference loop of ``xdpq.sim.run`` step by step. Each run loads the library
afresh (kern/'s state is its globals, initialised as the BPF program's are).
A run is one call: the arrivals go in as packed arrays (a time and a kind per
packet, the fields of each kind once: the packets of one object alike), the
records, counters and drop reasons come back as packed arrays, and Record
objects are made from them when first read.

It runs what the reference runs, to the same records, counters, drop reasons
and BQL limit (``tests/sim/test_fast.py`` holds every library scheduler and
scenario to it). Where it cannot, it says why in one line on stderr and the
reference runs instead: no C compiler, a scheduler that is not generated from
a program or has run before, an event log asked for, something in the run it
does not model (closed-loop sources; ECN marks, so a program that marks or reads
the dequeued packet's ecn given ECN-capable packets), a slot pool larger than
the kernel's, or values beyond its 64-bit ranges.
"""

from __future__ import annotations

import _ctypes
import ctypes
import hashlib
import os
import re
import shutil
import sys
import tempfile
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import MISSING, dataclass, fields
from functools import cache, cached_property
from itertools import takewhile
from operator import attrgetter
from pathlib import Path
from typing import Any

from xdpq import ir
from xdpq.bpf.build import compile_host_library
from xdpq.codegen.host import INCLUDE, generate_host
from xdpq.codegen.python import keeps_ecn
from xdpq.errors import XdpqError
from xdpq.fields import FIELDS
from xdpq.ir.layout import POOL_SLOTS
from xdpq.ir.link import BQL_HOLD_NS, BQL_MAX, BQL_MIN, NS_BITS
from xdpq.ir.outcomes import BYPASS_CAPACITY, Unclaimed
from xdpq.packet import Packet
from xdpq.queues import Fifo, Pifo, RBTree
from xdpq.queues.tree import Tree
from xdpq.resources import cache_dir, kern_dir
from xdpq.sim.run import Arrival, ClosedLoop, Record, Result, Simulation

LOOP = Path(__file__).with_name("fastloop.c")
TIME_LIMIT = 1 << 62  # fastloop.c XQ_TIME_LIMIT: times beyond it are the reference's
NEVER = (1 << 63) - 1  # fastloop.c XQ_NEVER
LEN_LIMIT = 1 << 24  # frame lengths (bytes) whose time on the wire fits in 64 bits
RATE_LIMIT = 1 << 40  # bit/s
# The Simulation fields the fast path models; any other must be at its default.
MODELLED = frozenset({"scheduler", "rate_bps", "propagation_ns", "bql", "shaper", "trace",
                      "unclaimed", "pool", "fast"})
_QUEUES = Fifo | Pifo | RBTree
NAMES = 17  # outcomes and counters it knows (fastloop.c XQ_NAMES)
_ERRORS = {-1: "it ran out of memory", -2: "a time reached 2^62 ns",
           -3: "its slot pool is larger than the kernel's", -4: "it does not model ECN marks"}

_get_time, _get_packet = attrgetter("time"), attrgetter("packet")
_MEMBER = re.compile(r"\bpkt\.(\w+)")


class _Sim(ctypes.Structure):
    """fastloop.c struct xq_sim; its size is checked against the library's."""

    _fields_ = [
        *((name, ctypes.c_uint64 if name in ("n", "nkinds") else ctypes.c_void_p)
          for name in ("n", "time", "kind", "kinds", "nkinds", "params")),
        *((name, ctypes.c_int64) for name in (
            "end", "rate", "propagation", "bql_mode", "bql_limit", "bql_min", "bql_max",
            "bql_hold", "shape", "burst", "overhead", "byte_limit", "pool", "bypass",
            "ns_bits")),
        ("departed", ctypes.c_void_p), ("outcome", ctypes.c_void_p),
        ("drop_item", ctypes.c_void_p), ("drop_reason", ctypes.c_void_p),
        ("drops", ctypes.c_uint64), ("reasons", ctypes.c_void_p),
        ("counts", ctypes.c_uint64 * NAMES), ("order", ctypes.c_uint64 * NAMES),
        ("norder", ctypes.c_uint64),
        *((name, ctypes.c_uint64) for name in ("enqueued", "dequeued", "drop_aqm", "items")),
        *((name, ctypes.c_int64) for name in ("limit", "now", "last")),
    ]


@dataclass(frozen=True)
class Native:
    """A program's library: its entry points and the names of its outcomes, loaded from
    a copy of its own, freed with :meth:`close`."""

    lib: ctypes.CDLL
    names: tuple[str, ...]  # outcomes and counters, by number (fastloop.c enum xq_name)
    path: Path

    def close(self) -> None:
        _ctypes.dlclose(self.lib._handle)
        self.path.unlink(missing_ok=True)


def source(prog: Any) -> str:
    """The C of a program's fast simulator: the scheduler and the loop, one file."""
    return generate_host(prog) + "\n" + LOOP.read_text()


@cache
def _library(text: str, cache: Path) -> Path | str:
    """The library built from ``text`` (in ``cache``), or why it cannot be."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:20]
    path = cache / "sim" / f"fastsim-{digest}.c"
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(text)
            tmp.replace(path)
        return compile_host_library(path, includes=(INCLUDE, kern_dir()))
    except (XdpqError, OSError) as exc:
        return "it cannot be built: " + " ".join(str(exc).splitlines()[:2])


def _native(text: str, cache: Path) -> Native | str:
    """A fresh instance of the library built from ``text``, or why there is none."""
    built = _library(text, cache)
    if isinstance(built, str):
        return built
    fd, name = tempfile.mkstemp(suffix=".so", prefix="xdpq-fastsim-")
    os.close(fd)
    path = Path(name)
    try:
        shutil.copyfile(built, path)
        lib = ctypes.CDLL(str(path))
    except OSError as exc:
        path.unlink(missing_ok=True)
        return f"it cannot be loaded: {exc}"
    lib.xq_sim_size.restype = ctypes.c_uint64
    n = ctypes.c_uint32.in_dll(lib, "xq_nnames").value
    names = tuple(s.decode() for s in (ctypes.c_char_p * n).in_dll(lib, "xq_names"))
    native = Native(lib, names, path)
    if lib.xq_sim_size() != ctypes.sizeof(_Sim):
        native.close()
        return "its library does not match this xdpq (struct xq_sim)"
    lib.xq_run.argtypes = [ctypes.POINTER(_Sim)]
    lib.xq_kinds.restype = ctypes.c_int64
    lib.xq_kinds.argtypes = [ctypes.c_uint64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    return native


@cache
def _say(why: str) -> None:
    """The notice of a fallback, once per process for each reason."""
    print(f"xdpq: the fast simulator does not run this: {why}; the reference simulator runs "
          "it instead", file=sys.stderr)


def _same(fresh: Any, used: Any) -> bool:
    """Whether a piece of a scheduler's state is as it was made: a tree or queue (or an
    array of them) empty, hooks aside, anything else equal."""
    if isinstance(fresh, Tree):
        return isinstance(used, Tree) and not any(used.len) and used.state == fresh.state \
            and used.clocks == fresh.clocks
    if isinstance(fresh, list) and any(map(callable, fresh)):
        return True
    if isinstance(fresh, _QUEUES):
        return not len(used)
    if isinstance(fresh, list) and fresh and isinstance(fresh[0], _QUEUES):
        return isinstance(used, list) and len(used) == len(fresh) and not any(map(len, used))
    return bool(fresh == used)


def _untouched(sched: Any) -> bool:
    """The fast path runs a scheduler from its initial state: is it still in it?"""
    fresh, used = vars(type(sched)(sched.params)), vars(sched)
    return fresh.keys() == used.keys() and all(_same(v, used[k]) for k, v in fresh.items())


def _why_not(sim: Simulation) -> str:
    """Why the fast path cannot take this run, or ''."""
    sched = sim.scheduler
    if getattr(type(sched), "program", None) is None:
        return "the scheduler is not one generated from a program (xdpq.codegen.python)"
    if sim.trace is not None:
        return "it keeps no event log (trace)"
    for f in fields(sim):
        if f.name in MODELLED:
            continue
        default = f.default if f.default_factory is MISSING else f.default_factory()
        if getattr(sim, f.name) != default:
            return f"it does not model the run's {f.name}"
    if not (isinstance(sim.rate_bps, int) and 1 <= sim.rate_bps <= RATE_LIMIT):
        return f"a line rate of {sim.rate_bps} bit/s is beyond its range"
    if not 0 <= sim.propagation_ns < TIME_LIMIT // 4 or abs(sim.bql.limit) >= TIME_LIMIT:
        return "a setting of the link is beyond its range"
    if not 0 <= sim.pool <= POOL_SLOTS:
        return f"a slot pool of {sim.pool} is beyond the kernel's {POOL_SLOTS} slots"
    if not _untouched(sched):
        return "the scheduler has run before (it runs one from its initial state)"
    return ""


def _params(sched: Any) -> array[int] | None:
    """The parameters in the program's order, a table's values one after the other."""
    values: list[int] = []
    for p in sched.program.params:
        v = sched.params[p.name]
        values.extend(v if isinstance(v, list) else [v])
    try:
        return array("Q", values or [0])
    except (OverflowError, TypeError):
        return None


def _address(a: array[Any] | bytearray) -> int:
    return a.buffer_info()[0] if isinstance(a, array) else ctypes.addressof(
        (ctypes.c_char * len(a)).from_buffer(a))


class PackedRecords(Sequence[Record]):
    """A fast run's records: packed as the loop wrote them, Record objects when first read
    (a list of them, made once, which every read then shares)."""

    def __init__(self, arrivals: list[Arrival], departed: array[int], outcome: bytearray,
                 names: tuple[str, ...]) -> None:
        self._n = len(arrivals)
        self._packed: tuple[Any, ...] | None = (arrivals, departed, outcome, names)

    @cached_property
    def _records(self) -> list[Record]:
        assert self._packed is not None
        arrivals, departed, outcome, names = self._packed
        self._packed = None
        packets = list(map(_get_packet, arrivals))
        return list(map(Record, map(attrgetter("flow"), packets), map(attrgetter("len"), packets),
                        map(_get_time, arrivals), departed.tolist()[:self._n],
                        map(names.__getitem__, outcome[:self._n])))

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: Any) -> Any:
        return self._records[i]

    def __iter__(self) -> Iterator[Record]:
        return iter(self._records)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(other) == self._n and all(map(Record.__eq__, self, other))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._records)


def _members(node: object) -> set[str]:
    """The members of struct xdpq_pkt a program reads (besides len, status and ip_ver,
    which every run reads)."""
    match node:
        case ir.Field(name=name):
            return set(_MEMBER.findall(FIELDS[name].c))
        case ir.Hash(fields=names):
            return {m for n in names for m in _MEMBER.findall(FIELDS[n].c)}
        case tuple() | list():
            return set().union(*map(_members, node))
        case dict():
            return _members(list(node.values()))
        case _ if hasattr(node, "__dataclass_fields__"):
            return _members([getattr(node, f) for f in node.__dataclass_fields__])
    return set()


def _read(prog: ir.Program) -> tuple[str, ...]:
    keys = {m for f in prog.flow_key for m in _MEMBER.findall(FIELDS[f].c)}
    return tuple(sorted({"len", "status", "ip_ver"} | keys | _members(prog)))


def _kinds(native: Native, arrivals: list[Arrival], read: tuple[str, ...],
           ecn: bool) -> tuple[array[int], bytearray] | str:
    """Each packet's kind (a distinct packet object of the arrivals), and each kind's
    struct xdpq_pkt (the members the program reads; the others 0); or why they cannot be
    packed. ``ecn``: the program marks or reads the dequeued packet's ECN field, which
    kern/ keeps in the frame, and the fast path has no frames: it takes only runs whose
    packets are all Not-ECT (then nothing is marked, and the ECN field reads 0)."""
    n = len(arrivals)
    packets = list(map(_get_packet, arrivals))
    ids = array("Q", map(id, packets))
    kind, first = array("I", bytes(4 * n)), array("Q", bytes(8 * n))
    count = native.lib.xq_kinds(n, _address(ids), _address(kind), _address(first))
    if count < 0:
        return "it ran out of memory"
    distinct = list(map(packets.__getitem__, first[:count]))
    if ecn and any(map(attrgetter("ecn"), distinct)):
        return "it does not model ECN (mark ce, the dequeued packet's ecn) of ECN-capable packets"
    row = attrgetter(*read)
    packed: dict[tuple[Any, ...], bytes] = {}
    out = bytearray()
    for values in map(row, distinct):
        raw = packed.get(values)
        if raw is None:
            fields = dict(zip(read, values, strict=True))
            if any(len(fields.get(a, bytes(16))) != 16 for a in ("saddr", "daddr")):
                return "a packet's addresses are not 16 bytes"
            if not 0 <= fields["len"] < LEN_LIMIT:
                return f"a packet of {fields['len']} bytes is beyond its range"
            try:
                raw = packed[values] = Packet(**fields).pack()
            except Exception as exc:  # struct.error, TypeError: a field out of its C type
                return f"a packet's fields do not fit struct xdpq_pkt ({exc})"
        out += raw
    return kind, out or bytearray(80)


def run_fast(sim: Simulation, arrivals: Iterable[Arrival], until: int | None,
             closed: ClosedLoop | None = None) -> tuple[Result | None, Iterable[Arrival]]:
    """The run in C, or None and the arrivals for the reference to run (the same ones:
    what was read from an iterator is handed back), having said why."""
    why = "it does not model closed-loop (TCP) sources" if closed is not None else _why_not(sim)
    if not why and until is not None and not 0 <= until < TIME_LIMIT:
        why = f"until={until} ns is beyond its range"
    native: Native | str = why
    if not why:
        native = _native(source(sim.scheduler.program), cache_dir())
    if isinstance(native, str):
        _say(native)
        return None, arrivals
    # As the reference, read no arrival past the first that comes after until.
    if isinstance(arrivals, list):
        given = arrivals
    else:
        given = list(arrivals if until is None else
                     takewhile(lambda a: a.time <= until, arrivals))
    try:
        result, why = _run(sim, native, given, until)
    finally:
        native.close()
    if result is None:
        _say(why)
        return None, given
    return result, given


def _run(sim: Simulation, native: Native, arrivals: list[Arrival],
         until: int | None) -> tuple[Result | None, str]:
    sched, n = sim.scheduler, len(arrivals)
    try:
        times = array("q", map(_get_time, arrivals))
    except (OverflowError, TypeError):
        return None, "an arrival time is not a 64-bit number of ns"
    params = _params(sched)
    if params is None:
        return None, "a parameter is not a 64-bit value"
    packed = _kinds(native, arrivals, _read(sched.program), keeps_ecn(sched.program))
    if isinstance(packed, str):
        return None, packed
    kind, kinds = packed
    reasons = sched.program.reasons
    departed, outcome = array("q", bytes(8 * n)), bytearray(n or 1)
    drop_item, drop_reason = array("Q", bytes(8 * n)), array("I", bytes(4 * n))
    counts = array("Q", bytes(16 * max(len(reasons), 1)))
    shaper = sim.shaper
    s = _Sim(
        n=n, time=_address(times), kind=_address(kind), kinds=_address(kinds),
        nkinds=len(kinds) // 80, params=_address(params),
        end=NEVER - 1 if until is None else until, rate=sim.rate_bps,
        propagation=sim.propagation_ns, bql_mode=int(sim.bql.mode), bql_limit=sim.bql.limit,
        bql_min=BQL_MIN, bql_max=BQL_MAX, bql_hold=BQL_HOLD_NS, shape=shaper.rate,
        burst=shaper.burst_ns, overhead=shaper.overhead, byte_limit=shaper.limit,
        pool=sim.pool, bypass=BYPASS_CAPACITY if sim.unclaimed is Unclaimed.FORWARD else 0,
        ns_bits=NS_BITS, departed=_address(departed), outcome=_address(outcome),
        drop_item=_address(drop_item), drop_reason=_address(drop_reason),
        reasons=_address(counts))
    res = native.lib.xq_run(ctypes.byref(s))
    if res:
        return None, _ERRORS.get(res, f"its loop failed ({res})")
    names = native.names
    counters: Counter[str] = Counter()
    for code in s.order[:s.norder]:
        counters[names[code]] = s.counts[code]
    for name, k in (("enqueued", s.enqueued), ("dequeued", s.dequeued),
                    ("drop_aqm", s.drop_aqm)):
        if k:
            counters[name] += k
    # The program's drops, where the reference's scheduler keeps them.
    for i, name in enumerate(reasons):
        sched.reasons[name][0] += counts[2 * i]
        sched.reasons[name][1] += counts[2 * i + 1]
    sched.dropped.extend(zip(drop_item[:s.drops].tolist(),
                             map(reasons.__getitem__, drop_reason[:s.drops]), strict=True))
    items = arrivals if s.items == n else arrivals[:s.items]
    duration = max(s.now, s.last) if until is None else max(s.now, s.last, until)
    records = PackedRecords(items, departed, outcome, names)
    return Result(records, counters, duration, s.limit), ""  # type: ignore[arg-type]

