"""Programs generated from the grammar's shapes: each one either passes check
or gets a positioned SourceError — never a traceback — whatever its names
(C keywords, injection attempts, unicode) and numbers (huge, fractional)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xdpq.bpf import BpfObject
from xdpq.codegen.build import compile_source
from xdpq.dsl import check, parse
from xdpq.errors import SourceError

HOSTILE = ["int", "return", "void", "struct", "__x", "main", "SEC", "xdpq_lock", "_", "a1",
           "bpf_redirect", "weight", "now", "q", "flow", "if", "rank", "p", "écart", "x"]
names = st.one_of(st.sampled_from(HOSTILE), st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}",
                                                          fullmatch=True))
units = st.sampled_from(["", "ns", "us", "ms", "s", "B", "KiB", "MB", "bit", "Mbit", "Gbps",
                         "K", "Ki", "M", "parsecs", "MS"])
numbers = st.builds(lambda d, frac, u: f"{d}{frac}{u}",
                    st.one_of(st.integers(0, 2000).map(str), st.integers(0, 10**40).map(str)),
                    st.sampled_from(["", "", ".5", ".25"]), units)
fields = st.sampled_from(["pkt.len", "now", "ip.dscp", "ip.src", "l4.dport", "tcp.flags",
                          "flow.f", "class.c", "p.rank", "p.len", "pkt.size"])


def exprs(depth: int = 3) -> st.SearchStrategy[str]:
    leaf = st.one_of(numbers, fields, names)
    if depth == 0:
        return leaf
    sub = exprs(depth - 1)
    return st.one_of(
        leaf,
        st.builds(lambda a, op, b: f"({a} {op} {b})", sub, st.sampled_from(
            ["+", "-", "*", "/", "%", "<", "==", ">=", "and", "or"]), sub),
        st.builds(lambda f, a, b: f"{f}({a}, {b})", st.sampled_from(["max", "min", "avg"]),
                  sub, sub),
        st.builds(lambda a: f"not {a}", sub),
    )


def stmts(depth: int = 2) -> st.SearchStrategy[str]:
    simple = st.one_of(
        st.builds(lambda n, e: f"let {n} = {e}", names, exprs()),
        st.builds(lambda n, e: f"{n} = {e}", st.one_of(names, fields), exprs()),
        st.builds(lambda q, r: f"enqueue {q} rank {r}", st.one_of(st.just("q"), names), exprs()),
        st.builds(lambda e: f"enqueue q at {e}", exprs()),
        st.builds(lambda n: f"drop {n}", names),
        st.just("pass"),
    )
    if depth == 0:
        return simple
    inner = st.lists(stmts(depth - 1), max_size=3).map(" ".join)
    return st.one_of(simple, st.builds(lambda c, a, b: f"if {c} {{ {a} }} else {{ {b} }}",
                                       exprs(2), inner, inner))


decls = st.one_of(
    st.builds(lambda n, v, lo, hi: f"param {n} = {v} in {lo}..{hi}", names, numbers, numbers,
              numbers),
    st.builds(lambda n, k, a: f"queue {n}: {k}({a})", names, st.sampled_from(
        ["fifo", "pifo", "rbtree"]), st.sampled_from(
        ["", "capacity = 100", "range = 1024, capacity = 10", "range = 1000", "size = 1",
         "capacity = 99999999999999999999999"])),
    st.builds(lambda n, k, v: f"state global {{ {n}: {k} = {v} }}", names,
              st.sampled_from(["time", "bytes", "rate", "count", "bool"]), numbers),
    st.builds(lambda k: f"state per flow({k}, ip.dst) {{ f: bytes = 0 }}", fields),
)

programs = st.builds(
    lambda name, ds, enq, deq: (
        f"scheduler {name}\nqueue q: fifo(capacity = 10)\n" + "\n".join(ds)
        + f"\non enqueue {{ {enq} }}\n" + (f"on dequeue(p) {{ {deq} }}\n" if deq else "")),
    names, st.lists(decls, max_size=4), st.lists(stmts(), min_size=1, max_size=4).map(" ".join),
    st.one_of(st.just(""), st.lists(stmts(1), max_size=2).map(" ".join)),
)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs)
def test_generated_program_passes_or_gets_a_positioned_error(source: str) -> None:
    try:
        check(parse(source, "g.xdpq"), source)
    except SourceError as err:
        lines = source.splitlines()
        assert 1 <= err.span.line <= max(1, len(lines))
        assert str(err).startswith(f"g.xdpq:{err.span.line}:{err.span.column}: error: ")
        assert "^" in str(err)


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    source = ("scheduler x\nqueue q: fifo()\non enqueue { enqueue q rank "
              + "(" * 5000 + "1" + ")" * 5000 + " }\n")
    try:
        check(parse(source, "deep.xdpq"), source)
    except SourceError as err:
        assert "nests too deeply" in str(err)


# -- well-typed programs: every one must pass ----------------------------------------

LEAVES = {
    "time": ["now", "5ms", "100us", "tmo", "g_t", "flow.ft"],
    "bytes": ["pkt.len", "1500B", "64KiB", "g_b", "flow.fb"],
    "rate": ["10Mbit", "rt"],
    "count": ["ip.dscp", "l4.dport", "7", "64Ki", "wt", "g_c", "tab[ip.dscp]",
              "hash(ip.src, l4.dport)", "sqrt(g_c)", "fq[g_c].c", "fq[3].packets"],
}
SAME = ["+", "-", "%"]


def typed(kind: str, depth: int) -> st.SearchStrategy[str]:
    leaf = st.sampled_from(LEAVES[kind])
    if depth == 0:
        return leaf
    same = typed(kind, depth - 1)
    options = [
        leaf,
        st.builds(lambda a, op, b: f"({a} {op} {b})", same, st.sampled_from(SAME), same),
        st.builds(lambda a, b: f"max({a}, {b})", same, same),
        st.builds(lambda a, c: f"({a} * {c})", same, typed("count", depth - 1))
        if kind != "count" else leaf,
        st.builds(lambda a, c: f"({a} / {c})", same, typed("count", depth - 1)),
    ]
    if kind == "time":
        options.append(st.builds(lambda b, r: f"({b} / {r})", typed("bytes", depth - 1),
                                 typed("rate", depth - 1)))
    if kind == "bytes":
        options.append(st.builds(lambda r, t: f"({r} * {t})", typed("rate", depth - 1),
                                 typed("time", depth - 1)))
    if kind == "count":
        options.append(st.builds(lambda a, b: f"({a} / {b})", typed("bytes", depth - 1),
                                 typed("bytes", depth - 1)))
    return st.one_of(*options)


def condition(depth: int) -> st.SearchStrategy[str]:
    cmp = st.sampled_from(["time", "bytes", "count"]).flatmap(
        lambda k: st.builds(lambda a, op, b: f"{a} {op} {b}", typed(k, 1),
                            st.sampled_from(["<", "<=", "==", "!=", ">", ">="]), typed(k, 1)))
    if depth == 0:
        return cmp
    return st.one_of(cmp, st.builds(lambda a, op, b: f"({a}) {op} ({b})", cmp,
                                    st.sampled_from(["and", "or"]), cmp),
                     st.builds(lambda a: f"not ({a})", cmp))


def outcome() -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda r: f"enqueue q rank {r}", st.sampled_from(["time", "bytes", "count"])
                  .flatmap(lambda k: typed(k, 2))),
        st.builds(lambda a: f"enqueue q at {a}", typed("time", 2)),
        st.builds(lambda i, r: f"enqueue fq[{i}] rank {r}", typed("count", 1), typed("count", 2)),
        st.sampled_from(["drop too_late", "drop int", "pass", "enqueue q", "enqueue fq[l4.sport]"]),
    )


def body(depth: int) -> st.SearchStrategy[str]:
    updates = st.lists(st.one_of(
        st.builds(lambda e: f"g_t = {e}", typed("time", 2)),
        st.builds(lambda e: f"g_b = {e}", typed("bytes", 2)),
        st.builds(lambda e: f"flow.fb = {e}", typed("bytes", 2)),
        st.builds(lambda e: f"g_c = {e}", typed("count", 2)),
        st.builds(lambda e: f"fq[ip.dscp].c = {e}", typed("count", 2)),
    ), max_size=3).map(" ".join)
    ending = outcome() if depth == 0 else st.one_of(
        outcome(), st.builds(lambda c, a, b: f"if {c} {{ {a} }} else {{ {b} }}",
                             condition(1), body(depth - 1), body(depth - 1)))
    return st.builds(lambda u, e: f"{u} {e}", updates, ending)


TYPED_HEAD = """scheduler typed
param wt = 3 in 1..1000
param rt = 10Mbit in 1Kbit..100Gbit
param tmo = 5ms
param tab[64] = 1 in 0..100
queue q: pifo(range = 4096, capacity = 1000)
queue fq[16]: pifo(range = 1024, capacity = 100)
queue root: pifo(range = 4096) of fq
state per fq { c: count = 0 }
state global { g_t: time = 0  g_b: bytes = 0  g_c: count = 0 }
state per flow(ip.src, ip.dst, l4.sport, l4.dport, ip.proto) { ft: time = 0  fb: bytes = 0 }
"""


def typed_program(enq: str, ready: str) -> str:
    return (f"{TYPED_HEAD}on enqueue {{ {enq} }}\n"
            f"on ready fq(i) {{ fq[i].c = fq[i].c + fq[i].head / 1B  enqueue root rank {ready} }}\n"
            "on dequeue(p) { g_c = p.rank + p.parent_rank  fq[p.index].c = p.index }\n")


# A ready hook has no packet: its rank comes from state and the queue.
READY_RANKS = ["g_c", "fq[i].c", "fq[i].head / 64B", "(g_c + fq[i].packets) % 512",
               "sqrt(g_c) + i", "max(g_c, fq[i].c) - min(g_c, fq[i].c)", "tab[i] * 3"]
typed_programs = st.builds(typed_program, body(1), st.sampled_from(READY_RANKS))


CHECKED: list[str] = []  # the well-typed programs that passed, for the load test
LOADED = 200


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(typed_programs)
def test_every_well_typed_program_passes_check(source: str) -> None:
    check(parse(source, "typed.xdpq"), source)
    CHECKED.append(source)


@pytest.mark.kernel
def test_well_typed_programs_compile_and_load() -> None:
    """Every program check accepted compiles, and the kernel's verifier loads it."""
    if len(set(CHECKED)) < LOADED:
        test_every_well_typed_program_passes_check()
    sources = list(dict.fromkeys(CHECKED))[:LOADED]
    assert len(sources) == LOADED

    def build(item: tuple[int, str]) -> Path:
        i, source = item
        return compile_source(source, f"typed{i}.xdpq").obj_path

    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        objects = list(pool.map(build, enumerate(sources)))
    for path in objects:
        obj = BpfObject(path)
        try:
            obj.load()
        finally:
            obj.close()
    assert len(set(objects)) == LOADED
