"""Programs aimed at the compiler, and what must become of each one.

A seeded generator (``program(seed)``) writes scheduler programs whose names
are C, BPF, Python and xdpq's own mangled names, whose comments and file
names carry injection attempts (``*/``, ``#include``, line continuations,
quotes, ``%n``, control characters, homoglyphs), whose numbers and units are
enormous or negative, whose expressions and ifs nest beyond every bound,
whose queues are huge, form cycles or trees up to and past the depth limit
(arrays of parents, arrays of rbtrees, rbtree parents, virtual clocks, fixed
PIFO windows, eligibility at every level, push-out where it means something
and where it does not), whose state is signed, and raw junk. Most are
near-valid, so that a good share passes check and goes further.

``outcome`` is the rule: ``check`` raises a SourceError positioned inside
the program (anything else is a failure), or it passes and the simulator's
class builds and runs packets; ``build`` then compiles the C and ``load``
has the verifier load it.

Test-only code shared by ``tests/dsl/test_hostile_programs.py`` (a scaled
count) and ``bench/hostile.py`` (10k), which puts this directory on its path.
"""

from __future__ import annotations

import random
import traceback
from dataclasses import dataclass

from xdpq import ir
from xdpq.bpf import BpfObject
from xdpq.codegen.build import compile_source
from xdpq.codegen.python import scheduler_factory
from xdpq.dsl import check, parse
from xdpq.errors import SourceError, source_lines
from xdpq.ir.outcomes import Claim, Deq
from xdpq.packet import parse as parse_frame
from xdpq.testing.frames import FrameSpec, frame

# fmt: off
C_NAMES = ["int", "return", "struct", "void", "char", "unsigned", "goto", "static", "inline",
           "volatile", "register", "sizeof", "typedef", "union", "enum", "const", "restrict",
           "_Bool", "__u32", "__u64", "u64", "NULL", "main", "SEC", "bpf_map_lookup_elem",
           "bpf_redirect", "bpf_spin_lock", "xdp_md", "ctx", "XDP_PASS", "XDP_DROP", "BPF_MAP",
           "__always_inline", "__attribute__", "asm", "__asm__", "printf", "memcpy"]
# The prefixes and locals of the generated C and Python.
OUR_NAMES = ["xq_g_x", "xq_p_x", "xq_q_q", "xq_q_q_root", "xq_t_q_", "xq_s_q", "xq_token_q",
             "xq_flows", "xq_flow_init", "XQ_R_x", "xdpq_lock", "xdpq_links", "xdpq_reason",
             "xdpq_reasons", "xdpq_buckets", "l_x", "v_x", "pkt", "res", "now", "e", "f", "i",
             "k", "m", "t", "index", "parent_rank", "later", "when", "slot", "len", "q_root",
             "root", "a_root", "M64", "Claim", "Deq", "Dequeued", "Enq", "Fifo", "Pifo",
             "RBTree", "PARSE_OK", "_div", "_mod", "_hash", "_head", "_token", "_ADDR", "isqrt"]
PY_NAMES = ["class", "lambda", "self", "None", "True", "False", "__import__", "__class__",
            "__init__", "__dict__", "exec", "eval", "import", "def", "yield", "await", "global",
            "nonlocal", "del", "print", "open", "os", "sys", "params", "pending", "reasons",
            "flows", "at", "enq_time", "tok_q", "dequeue", "enqueue", "classify", "leave"]
NAMES = [*C_NAMES, *OUR_NAMES, *PY_NAMES, "_", "__", "a" * 64, "x1", "Q"]
# Names that are no names: the language's own words, too long, not ASCII.
RISKY = ["flow", "pkt", "ip", "rank", "drop", "pass", "if", "else", "let", "queue", "state",
         "param", "on", "of", "in", "per", "global", "fifo", "pifo", "rbtree", "time", "bytes",
         "true", "and", "not", "hash", "sqrt", "max", "head", "packets", "scheduler", "ready",
         "b" * 65, "c" * 10_000, "écart", "\u0430", "x\u200by", "ﬁfo", "q\u0301", "𝔮"]
# Where a name is expected: what a person might try to smuggle through.
INJECTIONS = ["a*/b", "a/*", "x;y", "x\\\ny", "x\ny", '"x"', "x%n", "#include", "x-y", "x.y",
              "1x", "x y", "x\0y", "x\ry", "x\\", "${x}", "x'y", "`x`", "{x}", "x::y"]
NUMBERS = ["0", "1", "7", "64", "1500B", "5ms", "10Mbit", "64Ki", "1_000", "0.5", "1.5ms",
           "18446744073709551615", "18446744073709551616", str(2**64), str(10**40),
           str(10**400), "-1", "-18446744073709551615", "1e30gbit", "99999999999s",
           "99999999999999Gbit", "0.000000001s", "0.0000000001s", "1Gi", "999GiB", "0x10",
           "1__0", "1.", ".5", "5 ms", "5mS", "5parsecs", "1" + "0" * 5000, "4096", "65536",
           "65537", str(2**40), str(2**32), "1ns", "0s", "0B"]
COMMENTS = ["# */ int x; /*", "# #include <stdio.h>", "# line continues \\",
            '# a "quote', "# %s%n%x", "# \x0c\x0b", "# \u2028 after a line separator",
            "# \r carriage", "# \ufeff bom", "# 𝔮 ﬁ \u0430", "#" + "#" * 3000, "# \x1b[31m",
            "# }}}} {{{{ ))) (((", "# ??/ trigraph", "# \\x00 \\0"]
FILENAMES = ["h.xdpq", 'a"b.xdpq', "a\\b.xdpq", "*/x.xdpq", "a\nb.xdpq", "%n%s.xdpq",
             "a\rb.xdpq", "sp ace.xdpq", "é.xdpq", "a\tb.xdpq", "x" * 300 + ".xdpq"]
# Count fields (most), then a few of other kinds or none at all.
FIELDS = ["ip.dscp", "ip.proto", "l4.sport", "l4.dport", "tcp.flags", "ip.ttl", "ip6.flow",
          "vlan.id", "udp.dport", "ip.ecn"]
ODD_FIELDS = ["pkt.len", "now", "ip.src", "pkt.size", "flow.x", "ip6.dst"]
JUNK = ["", " ", "\n\n", "\0", "\ufeff", "scheduler", "scheduler x", "scheduler x\n}",
        "{" * 10_000, "(" * 10_000, "\x00\x01\x02\xff", "scheduler x\nqueue q: fifo()\n\0"]
# fmt: on


def _name(r: random.Random) -> str:
    roll = r.random()
    if roll < 0.005:
        return r.choice(INJECTIONS)
    if roll < 0.015:
        return r.choice(RISKY)
    return r.choice(NAMES)


def _number(r: random.Random, plain: float = 0.8) -> str:
    if r.random() < plain:
        return str(r.choice([0, 1, 2, 3, 8, 64, 100, 1000]))
    return r.choice(NUMBERS)


@dataclass
class _Names:
    """The declared names a generated body may use."""

    queue: str
    tree: str
    array: str
    root: str
    param: str
    table: str
    glob: str
    flow: str
    qstate: str
    let: str
    packet: str
    index: str


def _expr(r: random.Random, n: _Names, depth: int, hook: str) -> str:
    """Mostly counts, so that most expressions are well-kinded."""
    leaves = [
        _number(r, 0.9),
        n.param,
        n.glob,
        f"{n.table}[{r.choice(['1', n.glob])}]",
        f"{n.array}[{n.glob}].{n.qstate}",
        f"{n.array}[1].packets",
    ]
    match hook:
        case "enqueue" | "let":
            leaves += [
                r.choice(FIELDS),
                r.choice(FIELDS),
                n.let if hook == "enqueue" else "1",
                f"flow.{n.flow}",
                "hash(ip.src, l4.dport)",
            ]
        case "dequeue":
            leaves += [f"{n.packet}.rank", f"{n.packet}.index", f"{n.packet}.{n.root}.rank",
                       f"{n.packet}.{n.array}.index", "max(sg, 0)"]
        case _:
            leaves += [n.index, f"{n.array}[{n.index}].packets"]
    if r.random() < 0.005:
        leaves = [
            r.choice(ODD_FIELDS),
            _name(r),
            f"{n.queue}.bytes",
            f"{n.packet}.len",
            f"{n.array}[{n.index}].head",
            "hash()",
            "sqrt(1, 2)",
            "max(1)",
        ]
    if depth <= 0 or r.random() < 0.35:
        return r.choice(leaves)
    sub = lambda: _expr(r, n, depth - 1, hook)  # noqa: E731
    match r.randrange(12):
        case 0 | 1 | 2 | 3 | 4:
            return f"({sub()} {r.choice(['+', '-', '*', '/', '%', '+', '*'])} {sub()})"
        case 5 | 6:
            return f"{r.choice(['max', 'min'])}({sub()}, {sub()})"
        case 7 | 8:
            return f"sqrt({sub()})"
        case 9:
            return f"({sub()} {r.choice(['<', '==', '>=', '!='])} {sub()})"
        case 10 if r.random() < 0.3:
            return f"max(-{sub()} + sg, {sub()})"
        case _:
            return f"{n.table}[{sub()}]"


def _cond(r: random.Random, n: _Names, hook: str) -> str:
    cond = f"{_expr(r, n, 1, hook)} {r.choice(['<', '==', '>', '!=', '<='])} {_expr(r, n, 1, hook)}"
    return cond if r.random() < 0.8 else f"not ({cond}) or {n.glob} == 1"


def _deep_expr(r: random.Random, depth: int) -> str:
    match r.randrange(4):
        case 0:
            return "(" * depth + "1" + " + 1)" * depth
        case 1:
            return " + ".join(["pkt.len"] * depth)
        case 2:
            return "max(" * depth + "1" + ", 2)" * depth
        case _:
            return "-" * depth + "1"


def _at(r: random.Random, n: _Names) -> str:
    """Eligibility: mostly none, else on the real clock, or a count (for a virtual one)."""
    return r.choice(["", "", "", "", " at now + 10us", " at now", f" at {n.glob}", " at sg"])


def _enqueue_stmt(r: random.Random, n: _Names) -> str:
    match r.randrange(5):
        case 0:
            return f"enqueue {n.queue} rank {_expr(r, n, 2, 'enqueue')}"
        case 1:
            return f"enqueue {n.tree} rank {_expr(r, n, 2, 'enqueue')}"
        case 2:
            index, rank = _expr(r, n, 1, "enqueue"), _expr(r, n, 2, "enqueue")
            return f"enqueue {n.array}[{index}] rank {rank}{_at(r, n)}"
        case 3:
            return f"drop {_name(r)}"
        case _:
            return "pass"


def _stmts(r: random.Random, n: _Names, depth: int, hook: str, final: bool = True) -> str:
    """Updates and ifs; a final block ends with the hook's outcome."""
    out = []
    for _ in range(r.randrange(3)):
        match r.randrange(5):
            case 0:
                out.append(f"{n.glob} = {_expr(r, n, 2, hook)}")
            case 4:
                out.append(f"sg = sg - {_expr(r, n, 1, hook)}")
            case 1 if hook == "enqueue":
                out.append(f"flow.{n.flow} = {_expr(r, n, 2, hook)}")
            case 2:
                out.append(f"{n.array}[{_expr(r, n, 1, hook)}].{n.qstate} = {_expr(r, n, 2, hook)}")
            case 3 if depth > 0:
                then = _stmts(r, n, depth - 1, hook, r.random() < 0.03)
                orelse = _stmts(r, n, depth - 1, hook, False)
                out.append(f"if {_cond(r, n, hook)} {{ {then} }} else {{ {orelse} }}")
    if final and hook == "enqueue":
        out.append(_enqueue_stmt(r, n))
    elif final and hook == "ready":
        out.append(f"enqueue {n.root} rank {_expr(r, n, 2, hook)}{_at(r, n)}")
    return " ".join(out)


def _distinct(r: random.Random, count: int) -> list[str]:
    names: list[str] = []
    while len(names) < count:
        name = _name(r)
        if name not in names or r.random() < 0.02:
            names.append(name)
    return names


def _queues(r: random.Random, n: _Names) -> list[str]:
    cap = lambda: _number(r, 0.7) if r.random() < 0.03 else str(r.choice([1, 10, 4096, 65536]))  # noqa: E731
    rng = lambda: r.choice(["64", "1024", "4096", "65536"] * 10 + ["100", "0", "131072"])  # noqa: E731
    count = r.choice(["4", "4", "16", "1"] * 10 + ["4096", "4097", "0", _number(r, 0.5)])
    # What a full queue does: push-out where it means something (a pifo or rbtree leaf
    # whose packets never wait), and where it does not (a fifo, a parent, 'at').
    full = lambda: r.choice([""] * 5 + [", full = pushout"] * 3 + [", full = drop", ", full = up"])  # noqa: E731
    leaf = r.choice([f"pifo(range = {rng()}, capacity = {cap()}{full()})",
                     f"fifo(capacity = {cap()}{full()})", f"rbtree(capacity = {cap()}{full()})"])
    queues = [
        f"queue {n.queue}: fifo(capacity = {cap()})",
        f"queue {n.tree}: rbtree(capacity = {cap()}{full()})",
        f"queue {n.array}[{count}]: {leaf}",
    ]
    match r.randrange(24):
        case 0:  # a cycle
            queues.append(f"queue {n.root}[2]: fifo() of {n.array}")
            queues[2] += f" of {n.root}"
        case 1:  # its own parent
            queues.append(f"queue {n.root}: fifo() of {n.root}")
        case 2:  # two parents
            queues += [f"queue {n.root}: fifo() of {n.array}", f"queue z: fifo() of {n.array}"]
        case 3:  # three levels
            queues += [f"queue {n.root}[2]: fifo() of {n.array}", f"queue top: fifo() of {n.root}"]
        case 5 | 6 | 7:  # a middle level, on a virtual clock or with fixed windows
            clock = r.choice(["", f", clock = {n.glob}", ", base = 0", ", clock = sg",
                              ", full = pushout"])
            top = r.choice(["fifo()", "pifo(range = 64)"])
            queues += [f"queue {n.root}[{count}]: pifo(range = 64{clock}) of {n.array}",
                       f"queue top: {top} of {n.root}, {n.queue}"]
        case 8:  # an array of parents, each of an array
            queues += [f"queue {n.root}: fifo() of {n.array}", "queue fl[2][2]: fifo()",
                       "queue tn[2]: pifo(range = 64) of fl", f"queue top: fifo() of tn, {n.root}"]
        case 9:  # deeper than a tree may go
            k = r.choice([6, 7, 8])
            queues += [f"queue {n.root}: fifo() of {n.array}"]
            queues += [f"queue d{i}: fifo() of {f'd{i + 1}' if i < k - 1 else n.root}"
                       for i in range(k)]
        case 10:  # an rbtree as a parent
            queues.append(f"queue {n.root}: rbtree() of {n.array}")
        case 4:  # the largest PIFOs, many times
            for i in range(r.randrange(1, 9)):
                queues += [
                    f"queue big{i}[16]: pifo(range = 32768)",
                    f"queue top{i}: fifo() of big{i}",
                ]
        case _:
            kind = r.choice(["pifo(range = 4096)", "fifo()", "pifo(range = 64, capacity = 4096)"])
            queues.append(f"queue {n.root}: {kind} of {n.array}")
    r.shuffle(queues)
    return queues


def structured(r: random.Random) -> str:
    names = _distinct(r, 12)
    n = _Names(*names)
    lines = [f"scheduler {_name(r)}"]
    if r.random() < 0.3:
        lines.append(r.choice(COMMENTS))
    lo, hi = sorted([r.randrange(0, 10), r.randrange(10, 1000)])
    lines.append(f"param {n.param} = {str(lo) if r.random() < 0.9 else _number(r)} in {lo}..{hi}")
    size = r.choice(["8"] * 60 + ["4096", "4097", "0", _number(r, 0.5)])
    lines.append(f"param {n.table}[{size}] = 1 in 0..9")
    lines += _queues(r, n)
    lines.append(f"state global {{ {n.glob}: count = {_number(r)} }}")
    sign = "signed " if r.random() < 0.9 else ""
    lines.append(f"state global {{ sg: {sign}count = -1 }}")
    lines.append(f"state per flow(ip.src, {r.choice(FIELDS)}) {{ {n.flow}: count = 0 }}")
    lines.append(f"state per {n.array} {{ {n.qstate}: count = {_number(r, 0.9)} }}")
    depth = r.choice([0, 1, 2, 2, 3])
    body = _stmts(r, n, depth, "enqueue")
    match r.randrange(40):
        case 0:
            d = r.choice([30, 32, 33, 40, 200, 3000])
            body = f"{n.glob} = {_deep_expr(r, d)} " + body
        case 1:
            d = r.choice([63, 64, 65, 120, 5000])
            body = f"if {n.glob} > 1 {{ " * d + "pass" + " }" * d + " " + body
    lines.append(f"on enqueue {{ let {n.let} = {_expr(r, n, 1, 'let')} {body} }}")
    if r.random() < 0.7:
        lines.append(f"on dequeue({n.packet}) {{ {_stmts(r, n, 1, 'dequeue')} }}")
    if r.random() < 0.6:
        lines.append(f"on ready {n.array}({n.index}) {{ {_stmts(r, n, 1, 'ready')} }}")
    if r.random() < 0.3:
        at = r.randrange(len(lines) + 1)
        lines.insert(at, r.choice(COMMENTS))
    return "\n".join(lines) + r.choice(["\n", "", "\r\n", "\n\n\n"])


def _mutate(r: random.Random, text: str) -> str:
    at = r.randrange(len(text) + 1)
    match r.randrange(5):
        case 0:
            return text[:at]
        case 1:
            return text[:at] + r.choice(INJECTIONS + COMMENTS + ["\0", "\ufeff", "\\"]) + text[at:]
        case 2:
            return text[:at] + "".join(chr(r.randrange(0, 0x110000)) for _ in range(4)) + text[at:]
        case 3:
            return text[:at] + text[at:].replace(" ", "\n", 3)
        case _:
            end = min(len(text), at + r.randrange(1, 40))
            return text[:at] + text[end:]


def program(seed: int) -> tuple[str, str]:
    """A hostile program and the file name it is compiled under."""
    r = random.Random(seed)
    filename = "h.xdpq" if r.random() < 0.8 else r.choice(FILENAMES)
    roll = r.random()
    if roll < 0.05:
        return r.choice(JUNK), filename
    if roll < 0.08:
        raw = bytes(r.randrange(256) for _ in range(r.randrange(1, 200)))
        return raw.decode("latin-1"), filename
    text = structured(r)
    if roll < 0.2:
        text = _mutate(r, text)
    return text, filename


# -- what must become of each ------------------------------------------------------

FRAMES = [
    parse_frame(frame(spec))
    for spec in (
        FrameSpec(100),
        FrameSpec(1500, sport=7, dscp=46, proto=6),
        FrameSpec(64, src="fd00::1", dst="fd00::2", flow_label=3, dscp=8),
        FrameSpec(300, sport=65535, dport=0),
    )
]


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str  # "error" (a positioned SourceError), "passed", or "failure"
    detail: str = ""
    program: ir.Program | None = None


def _positioned(err: SourceError, source: str, filename: str) -> str:
    """Why the error's position or text is wrong, or ''."""
    lines = source_lines(source)
    if not 1 <= err.span.line <= len(lines):
        return f"line {err.span.line} outside 1..{len(lines)}"
    if err.span.column < 1:
        return f"column {err.span.column}"
    if not str(err).startswith(f"{filename}:{err.span.line}:{err.span.column}: error: "):
        return "message does not start with file:line:col: error:"
    return ""


def run_simulator(prog: ir.Program) -> None:
    """The simulator's class builds with its defaults and takes a few packets."""
    sched = scheduler_factory(prog)()
    now, item = 0, 0
    for rounds in range(3):
        for pkt in FRAMES:
            now += 1000
            item += 1
            if sched.classify(pkt, now) is Claim.CLAIM:
                sched.enqueue(pkt, item, now)
        for _ in range(len(FRAMES) + rounds):
            now += 1000
            if sched.dequeue(now).outcome is Deq.EMPTY:
                break


def outcome(source: str, filename: str = "h.xdpq") -> Outcome:
    """Check a program: a positioned error, or a pass whose simulator runs."""
    try:
        prog = check(parse(source, filename), source)
    except SourceError as err:
        wrong = _positioned(err, source, filename)
        return (
            Outcome("failure", f"badly positioned error ({wrong}): {err}")
            if wrong
            else Outcome("error", err.message)
        )
    except Exception:
        return Outcome("failure", "check raised:\n" + traceback.format_exc(limit=-4))
    try:
        run_simulator(prog)
    except Exception:
        return Outcome("failure", "simulator:\n" + traceback.format_exc(limit=-4), prog)
    return Outcome("passed", "", prog)


def build(source: str, filename: str) -> str:
    """Compile a program that passed check; the object's path."""
    return str(compile_source(source, filename).obj_path)


def load(obj_path: str) -> None:
    obj = BpfObject(obj_path)
    try:
        obj.load()
    finally:
        obj.close()


def accepted(n: int) -> list[int]:
    """The seeds of the first n programs that pass check."""
    seeds, seed = [], 0
    while len(seeds) < n:
        if outcome(*program(seed)).kind == "passed":
            seeds.append(seed)
        seed += 1
    return seeds
