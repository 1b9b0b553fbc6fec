"""Programs aimed at the compiler (issue 8, point 2): each gets a positioned
SourceError from check — never another exception — or passes, and then its C
compiles, the verifier loads it and its simulator class runs packets.

Hand-written cases pin the bugs hostile programs found; the generated corpus
(``hostile_programs``, shared with ``bench/hostile.py``, which runs 10k) is
scaled down here.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from hostile_programs import Outcome, build, load, outcome, program

from xdpq.bpf import BpfObject
from xdpq.codegen.build import compile_source
from xdpq.dsl import check, parse
from xdpq.dsl.limits import MAX_EXPR_DEPTH, MAX_IF_DEPTH, MAX_NAME
from xdpq.errors import LoadError, SourceError
from xdpq.runtime.report import queue_occupancy
from xdpq.testing.frames import FrameSpec, frame
from xdpq.testing.stepper import Stepper

HEAD = "scheduler x\nqueue q: fifo()\n"


def error_of(source: str) -> str:
    with pytest.raises(SourceError) as info:
        check(parse(source, "h.xdpq"), source)
    return str(info.value)


def passes(source: str) -> None:
    check(parse(source, "h.xdpq"), source)


@pytest.mark.parametrize("depth", [MAX_IF_DEPTH + 1, 1000, 20000])
def test_nested_ifs_are_bounded(depth: int) -> None:
    # 100 used to reach the simulator as Python nested too deep to compile; 1000 was a
    # RecursionError inside the parser's tree transformer.
    source = HEAD + "on enqueue { " + "if true { " * depth + "pass" + " }" * depth + " pass }\n"
    err = error_of(source)
    assert err.startswith(f"h.xdpq:3:{14 + 10 * MAX_IF_DEPTH}: error: 'if' nested more than ")


def test_nested_ifs_up_to_the_bound_pass() -> None:
    depth = MAX_IF_DEPTH
    passes(
        HEAD
        + "on enqueue { "
        + "if ip.dscp > 3 { " * depth
        + "pass"
        + " }" * depth
        + " enqueue q }\n"
    )


@pytest.mark.parametrize(
    "expr",
    [
        " + ".join(["1"] * 40),  # left-deep: was 200 nested parentheses in the simulator's Python
        "not " * 40 + "true",
        "-" * 5000 + "1",  # was a RecursionError in check
        "max(" * 40 + "1" + ", 1)" * 40,
        "t[" * 40 + "1" + "]" * 40,
    ],
)
def test_nested_expressions_are_bounded(expr: str) -> None:
    source = HEAD + f"param t[4] = 1\non enqueue {{ if {expr} == 1 {{ pass }} pass }}\n"
    err = error_of(source)
    assert f"error: an expression nested more than {MAX_EXPR_DEPTH} deep" in err
    assert "hint: name parts of it with let" in err


@pytest.mark.parametrize(
    "where",
    [
        "scheduler {n}\nqueue q: fifo()\non enqueue {{ pass }}\n",
        HEAD + "state global {{ {n}: count = 0 }}\non enqueue {{ pass }}\n",
        HEAD + "on enqueue {{ drop {n} }}\n",
        HEAD + "on enqueue {{ let {n} = 1 pass }}\n",
    ],
)
def test_long_names_are_refused(where: str) -> None:
    # 10k characters was an OSError (file name too long) in compile; 600 made
    # BTF the kernel refuses, so the verifier could not see the spin lock.
    err = error_of(where.format(n="n" * 10_000))
    assert f"error: a name of 10000 characters: at most {MAX_NAME}" in err
    passes(where.format(n="n" * MAX_NAME))


@pytest.mark.kernel
def test_a_queue_named_like_an_rbtree_root_compiles_and_is_reported() -> None:
    # 'a_root' next to the rbtree 'a' was a C redefinition of xq_q_a_root.
    source = (
        "scheduler x\nqueue a: rbtree(capacity = 8)\nqueue a_root: fifo(capacity = 4)\n"
        "on enqueue { if ip.dscp == 0 { enqueue a rank l4.sport } enqueue a_root }\n"
    )
    compiled = compile_source(source, "h.xdpq")
    with Stepper(compiled.obj_path) as kernel:
        for sport, dscp in [(7, 0), (5, 0), (9, 8)]:
            kernel.ingress(frame(FrameSpec(100, sport=sport, dscp=dscp)))
        held = queue_occupancy(kernel.obj, compiled.program)
        assert (held["a"]["packets"], held["a_root"]["packets"]) == (2, 1)
        assert kernel.step().rank == 5


@pytest.mark.parametrize("brk", ["\x0c", "\x0b", "\u2028", "\x1c", "\r", "\x85"])
def test_line_breaks_only_at_line_feeds(brk: str) -> None:
    # A form feed in a comment counted as a line break for an error at the end
    # of the program: it pointed at line 5 of a program of 3.
    source = f"scheduler x\n# a{brk}b{brk}c\nqueue q: pifo(range = "
    err = error_of(source)
    assert err.startswith("h.xdpq:3:23: error: found the end of the program, expected an")
    assert err.split("\n")[1:3] == ["queue q: pifo(range = ", " " * 22 + "^"]


def test_pifo_storage_is_bounded_for_the_whole_program() -> None:
    # Each declaration was bounded alone: three of the largest made a 35 MB object,
    # and nothing bounded how many.
    pairs = "".join(
        f"queue b{i}[16]: pifo(range = 32768)\nqueue t{i}: fifo() of b{i}\n" for i in range(3)
    )
    err = error_of("scheduler x\n" + pairs + "on enqueue { enqueue b0[1] }\n")
    assert err.startswith("h.xdpq:6:1: error: the pifos up to 'b2' need 3145728 buckets")
    passes("scheduler x\n" + pairs.split("queue b2")[0] + "on enqueue { enqueue b0[1] }\n")


def test_queues_under_parents_are_bounded_for_the_whole_program() -> None:
    # Their tokens share one numbering of XDPQ_POOL_SLOTS links.
    source = ("scheduler x\nqueue a[4096]: fifo(capacity = 10)\nqueue pa: fifo() of a\n"
              "queue b[1]: fifo(capacity = 10)\nqueue pb: fifo() of b\n"
              "on enqueue { enqueue a[1] }\n")
    err = error_of(source)
    assert err.startswith("h.xdpq:5:1: error: 'pb' brings the queues under parents to 4097")
    passes(source.replace("a[4096]", "a[4095]"))


@pytest.mark.kernel
def test_an_rbtree_next_to_a_single_fifo_loads() -> None:
    # Found by the hostile corpus: with nothing enqueued into the tree, clang
    # dropped struct xdpq_rbnode from the BTF, the kernel could not resolve the
    # root's contains tag and gave '.data.xq' no lock record, and the verifier
    # found no spin lock (kern/rbtree.h keeps the type).
    source = "scheduler x\nqueue t: rbtree()\nqueue q: fifo()\non enqueue { enqueue q }\n"
    obj = BpfObject(compile_source(source, "h.xdpq").obj_path)
    try:
        obj.load()
    finally:
        obj.close()


# -- the generated corpus ------------------------------------------------------------

CHECKED = 500
LOADED = 30


@pytest.fixture(scope="module")
def corpus() -> list[tuple[int, Outcome]]:
    return [(seed, outcome(*program(seed))) for seed in range(CHECKED)]


def test_hostile_programs_get_a_positioned_error_or_pass_and_simulate(
    corpus: list[tuple[int, Outcome]],
) -> None:
    failures = [(seed, o.detail) for seed, o in corpus if o.kind == "failure"]
    assert failures == []
    kinds = Counter(o.kind for _, o in corpus)
    assert kinds["passed"] >= LOADED  # the generator still reaches the back ends
    assert kinds["error"] >= CHECKED // 2


@pytest.mark.kernel
def test_hostile_programs_that_pass_compile_and_load(corpus: list[tuple[int, Outcome]]) -> None:
    passed = [program(seed) for seed, o in corpus if o.kind == "passed"][:LOADED]
    assert len(passed) == LOADED
    assert any("]: rbtree(" in source for source, _ in passed)  # an array of rbtrees too
    with ThreadPoolExecutor(2) as pool:
        objects = list(pool.map(lambda p: build(*p), passed))
    refused = []
    for (source, _), path in zip(passed, objects, strict=True):
        try:
            load(path)
        except LoadError as err:
            refused.append(f"{source}\n{err}")
    assert refused == []


@pytest.mark.kernel
@pytest.mark.parametrize("filename", ["a\rb.xdpq", 'a"b\\c\nd\te\x7f.xdpq', "*/ é.xdpq"])
def test_hostile_file_names_reach_c_escaped(filename: str) -> None:
    # A carriage return in the file name ended the #line directives' string: clang
    # refused the generated C.
    source = "scheduler x\nqueue q: fifo()\non enqueue { if ip.dscp > 3 { pass } enqueue q }\n"
    assert build(source, filename).endswith(".o")
