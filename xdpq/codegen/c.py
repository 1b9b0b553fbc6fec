"""IR → BPF C over the kern/ headers.

The generated file declares the program's parameters, state and the nodes of
its scheduling tree (kern/node.h, numbered by ``xdpq.ir.layout``), includes
kern/tree.h (the tree's operations), defines the scheduler hooks that
kern/datapath.h calls (``xdpq_sched_classify``, ``_enqueue``, ``_dequeue``)
and then includes it. The whole ``on enqueue`` body runs in classify, which
sees the parsed packet and leaves its decision (node, rank, eligibility) in
the meta; enqueue stores the slot in that node and, if the node was empty,
places its token in its parent (``on ready``), and so on up. Dequeue walks
down the tree to a packet (kern/tree.h), runs ``on dequeue``, and places
again each node of the way back up. Every statement carries a ``#line``
directive into the ``.xdpq`` file, so clang and verifier errors point there.

Identifiers are never pasted: every user name is mangled into a namespace
prefix (``xq_g_`` globals, ``xq_p_`` parameters, ``xq_s_`` per-queue state,
``xq_t_`` rbtree roots, ``xq_ready_`` hooks, ``l_`` locals, ``v_`` fields)
that no header uses, so ``int`` or ``xdpq_lock`` as a name is harmless.
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod

from xdpq import ir
from xdpq.fields import FIELDS
from xdpq.ir.layout import Layout, layout, queue_var

KIND_C = {"fifo": "XDPQ_KIND_FIFO", "pifo": "XDPQ_KIND_PIFO", "rbtree": "XDPQ_KIND_RBTREE"}
ENQ_OK = "(res == XDPQ_ENQ_OK || res == XDPQ_ENQ_CLAMPED)"


def key_words(fields: tuple[str, ...]) -> int:
    """32-bit words of a hash or flow key: four per address, one per number."""
    return sum(4 if FIELDS[f].address else 1 for f in fields)


def _pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


class Emitter:
    """IR → BPF C; ``xdpq.codegen.host`` shares its declarations and hooks, and replaces
    what only a BPF program has (the drop reasons' map, classify's start, the datapath)."""

    def __init__(self, prog: ir.Program, c_name: str) -> None:
        self.p = prog
        self.c_name = c_name
        self.lay: Layout = layout(prog)
        self.out: list[str] = []
        self.hook = "enqueue"
        self.reasons = {r: i for i, r in enumerate(prog.reasons)}
        self.clocks = sorted({q.clock for q in prog.queues if q.clock is not None})
        self.ready_fns: list[str] = []  # queues with a ready hook of their own

    # -- output --------------------------------------------------------------------

    def line(self, text: str = "", depth: int = 0) -> None:
        self.out.append("\t" * depth + text if text else "")

    def here(self) -> None:
        """Point the compiler back at the generated file after source lines."""
        self.out.append(f'#line {len(self.out) + 2} "{self.c_name}"')

    def source_line(self, span_line: int) -> None:
        self.out.append(f'#line {span_line} "{_c_string(self.p.source)}"')

    # -- names ---------------------------------------------------------------------

    def flat(self, name: str, index: tuple[ir.Expr, ...]) -> str:
        """The row-major position of ``index`` in array ``name``, each index bounded."""
        shape = self.p.queue(name).shape
        acc = ""
        for size, i in zip(shape, index, strict=True):
            bounded = f"xdpq_index({self.expr(i)}, {size})"
            acc = f"({acc}) * {size} + {bounded}" if acc else bounded
        # The sum bounded again: clang may rebuild it from the unbounded parts.
        return f"xdpq_index({acc}, {prod(shape)})" if len(shape) > 1 else acc

    def node(self, name: str, index: tuple[ir.Expr, ...]) -> str:
        first = self.lay.first[name]
        if not index:
            return str(first)
        return f"{first} + {self.flat(name, index)}" if first else self.flat(name, index)

    # -- expressions ---------------------------------------------------------------

    def expr(self, e: ir.Expr) -> str:
        match e:
            case ir.Const(value=v):
                return f"{v}ULL"
            case ir.ParamRef(name=n, index=None):
                return f"xq_p_{n}"
            case ir.ParamRef(name=n, index=idx):
                count = next(p.count for p in self.p.params if p.name == n)
                return f"xq_p_{n}[xdpq_index({self.expr(idx)}, {count or 1})]"
            case ir.Global(name=n):
                return f"xq_g_{n}"
            case ir.FlowVar(name=n):
                return f"f->v_{n}"
            case ir.QState(array=a, index=idx, name=n):
                return f"xq_s_{a}[{self.flat(a, idx)}].v_{n}"
            case ir.Attr(queue=q, index=idx, name=attr):
                return self.attr(q, idx, attr)
            case ir.Field(name=n):
                return f"(__u64){FIELDS[n].c}"
            case ir.Now():
                return "now"
            case ir.LinkRate():
                return "xdpq_shape_rate"
            case ir.DeqField(name=n):
                return self.dequeued(n)
            case ir.PathField(queue=q, name=n):
                return self.on_path(q, n)
            case ir.Local(name=n):
                return f"l_{n}"
            case ir.Hash(fields=fields):
                return self.hash(fields)
            case ir.Arith(op="/" | "%" as op, left=a, right=b, signed=True):
                return f"xdpq_s{'div' if op == '/' else 'mod'}({self.expr(a)}, {self.expr(b)})"
            case ir.Arith(op="/", left=a, right=ir.Const(value=v)) if v:
                return f"({self.expr(a)} / {v}ULL)"
            case ir.Arith(op="%", left=a, right=ir.Const(value=v)) if v:
                return f"({self.expr(a)} % {v}ULL)"
            case ir.Arith(op="/", left=a, right=b):
                return f"xdpq_div({self.expr(a)}, {self.expr(b)})"
            case ir.Arith(op="%", left=a, right=b):
                return f"xdpq_mod({self.expr(a)}, {self.expr(b)})"
            case ir.Arith(op=op, left=a, right=b):
                return f"({self.expr(a)} {op} {self.expr(b)})"
            case ir.Cmp(op=op, left=a, right=b, signed=True):
                return f"(__u64)((__s64){self.expr(a)} {op} (__s64){self.expr(b)})"
            case ir.Cmp(op=op, left=a, right=b):
                return f"(__u64)({self.expr(a)} {op} {self.expr(b)})"
            case ir.Logic(op=op, left=a, right=b):
                c_op = "&&" if op == "and" else "||"
                return f"(__u64)({self.expr(a)} {c_op} {self.expr(b)})"
            case ir.Not(operand=a):
                return f"(__u64)!{self.expr(a)}"
            case ir.Sqrt(operand=a):
                return f"xdpq_sqrt({self.expr(a)})"
            case ir.MinMax(op=op, args=args, signed=signed):
                acc = self.expr(args[0])
                for a in args[1:]:
                    acc = f"xdpq_{'s' * signed}{op}({acc}, {self.expr(a)})"
                return acc
        raise AssertionError(f"no C for {e!r}")

    def attr(self, name: str, idx: tuple[ir.Expr, ...], attr: str) -> str:
        q = self.p.queue(name)
        if attr == "head":
            if q.kind == "rbtree" and q.count:
                return f"xdpq_rba_head({self.node(name, idx)})"
            if q.kind == "rbtree":
                return f"xdpq_rbtree_head(&{queue_var(q)}_root)"
            return f"xdpq_node_head({self.node(name, idx)})"
        field = "len" if attr == "packets" else "bytes"
        return f"(__u64)xdpq_node({self.node(name, idx)})->{field}"

    def dequeued(self, name: str) -> str:
        match name:
            case "len":
                return "(__u64)e->len"
            case "rank":
                return "e->rank"
            case "enqueued":
                return "xdpq_enqueued(e->slot)"
            case "ecn":
                return "xdpq_slot_ecn(e->slot)"
            case "parent_rank":
                return "(path->depth ? path->rank[(path->depth - 1) & 7] : 0ULL)"
        return "xq_leaf_index(path)"

    def on_path(self, name: str, what: str) -> str:
        """``p.Q.rank`` / ``p.Q.index``: of queue Q's node on the path, 0 off it."""
        q, d = self.p.queue(name), self.lay.depth[name]
        first, n = self.lay.first[name], q.count or 1
        node = f"path->node[{d}]" + (f" - {first}" if first else "")
        value = f"path->rank[{d}]" if what == "rank" else \
            f"(__u64)(({node}) % {q.shape[-1]})" if q.shape else "0ULL"
        return f"(path->depth >= {d} && {node} < {n} ? {value} : 0ULL)"

    def hash(self, fields: tuple[str, ...]) -> str:
        acc = "0"
        for f in fields:
            if FIELDS[f].address:
                acc = f"xdpq_hash_addr({acc}, &{FIELDS[f].c})"
            else:
                acc = f"xdpq_hash_word({acc}, {FIELDS[f].c})"
        return f"(__u64)xdpq_hash_final({acc}, {4 * key_words(fields)})"

    # -- statements ----------------------------------------------------------------

    def block(self, body: tuple[ir.Stmt, ...], depth: int) -> None:
        for s in body:
            self.stmt(s, depth)

    def stmt(self, s: ir.Stmt, d: int) -> None:
        self.source_line(s.span.line)
        match s:
            case ir.Let(name=n, value=v):
                self.line(f"l_{n} = {self.expr(v)};", d)
            case ir.Store(target=t, value=v):
                self.line(f"{self.expr(t)} = {self.expr(v)};", d)
            case ir.If(cond=c, then=then, orelse=orelse):
                self.line(f"if ({self.expr(c)}) {{", d)
                self.block(then, d + 1)
                if orelse:
                    self.line("} else {", d)
                    self.block(orelse, d + 1)
                self.line("}", d)
            case ir.Enqueue(rank=rank, at=at) if self.hook == "ready":
                self.line(f"*rank = {self.expr(rank)};", d)
                if at is not None:
                    self.line(f"*at = {self.expr(at)};", d)
                self.line("return;", d)
            case ir.Enqueue(queue=q, index=idx, rank=rank, at=at):
                self.line(f"m->node = {self.node(q, idx)};", d)
                self.line(f"m->rank = {self.expr(rank)};", d)
                if at is not None:
                    self.line(f"m->at = {self.expr(at)};", d)
                self.line("return XDPQ_CLAIM;", d)
            case ir.Drop(reason=r):
                length = "pkt.len" if self.hook == "enqueue" else "e->len"
                self.line(f"xdpq_reason(XQ_R_{r}, {length});", d)
                self.line("return XDPQ_ADMISSION_DROP;" if self.hook == "enqueue"
                          else "return XDPQ_DEQ_DROP;", d)
            case ir.Mark(reason=r, otherwise=other):
                self.line("if (xdpq_mark_ce(e->slot)) {", d)
                self.line(f"xdpq_mark(XQ_M_{r}, e->len);", d + 1)
                self.line("return XDPQ_DEQ_OK;", d + 1)
                self.line("}", d)
                self.stmt(ir.Drop(other, s.span), d)
            case ir.Pass():
                self.line("return XDPQ_UNCLAIMED;", d)

    def locals_(self, hook: ir.Hook, depth: int = 1) -> None:
        if hook.locals:
            self.line("__u64 " + ", ".join(f"l_{n} = 0" for n in hook.locals) + ";", depth)

    # -- declarations --------------------------------------------------------------

    def program(self) -> str:
        self.prologue()
        self.declare_params()
        self.declare_state()
        self.declare_nodes()
        self.line('#include "tree.h"')
        self.line()
        self.declare_reasons()
        self.declare_meta()
        self.hooks()
        self.epilogue()
        return "\n".join(self.out) + "\n"

    def prologue(self) -> None:
        p, lay = self.p, self.lay
        self.line(f"// SPDX-License-Identifier: GPL-2.0\n/* Generated by xdpq from "
                  f"{_comment(p.source)}: change that file, not this one. */")
        self.line(f"#define XDPQ_PIFO_BUCKETS {lay.pifo_buckets}")
        self.line(f"#define XDPQ_PIFO_WORDS {lay.pifo_words}")
        self.line(f"#define XDPQ_NODES {_pow2(lay.nodes)}")
        self.line(f"#define XDPQ_TOPS {lay.tops}")
        kinds = {q.kind for q in p.queues}
        for kind, name in (("fifo", "FIFOS"), ("pifo", "PIFOS"), ("rbtree", "RBTREES")):
            if kind in kinds:
                self.line(f"#define XDPQ_{name} 1")
        if any(q.kind == "rbtree" and q.count for q in p.queues):
            self.line("#define XDPQ_RBARRAYS 1")
        if p.ready:
            self.line("#define XDPQ_PARENTS 1")
        if p.uses_at:
            self.line("#define XDPQ_WAITS 1")
        if reads_the_clock(p):
            self.line("#define XDPQ_TIMED 1")
        if self.clocks:
            self.line("#define XDPQ_VCLOCKS 1")
        if any(q.pushout for q in p.queues):
            self.line("#define XDPQ_PUSHOUT 1")
        self.line('#include "lang.h"')
        self.line()

    def hooks(self) -> None:
        """The scheduler's functions, each after what it calls."""
        p = self.p
        for name, hook in p.ready.items():
            self.ready(name, hook)
        self.dispatch()
        if p.dequeue is not None:
            self.on_dequeue(p.dequeue)
        self.classify()
        self.enqueue()
        self.dequeue()

    def epilogue(self) -> None:
        self.line('#include "datapath.h"')

    def declare_params(self) -> None:
        if self.p.params:
            self.line("/* Parameters: in global data, so that they can change while it runs. */")
        for prm in self.p.params:
            if prm.count is None:
                self.line(f"__u64 xq_p_{prm.name} = {prm.default}ULL;")
            else:
                self.line(f"__u64 xq_p_{prm.name}[{prm.count}] = "
                          f"{{ [0 ... {prm.count - 1}] = {prm.default}ULL }};")
        self.line()

    def declare_state(self) -> None:
        p = self.p
        for v in p.globals:
            self.line(f"__u64 xq_g_{v.name} = {v.init}ULL;")
        if p.flow_vars:
            self.line("/* Per-flow state, keyed by the words of its fields as hash() mixes "
                      "them. */")
            self.line(f"struct xq_flow_key {{\n\t__u32 w[{key_words(p.flow_key)}];\n}};")
            self.line("struct xq_flow {")
            for v in p.flow_vars:
                self.line(f"__u64 v_{v.name};", 1)
            self.line("};")
            inits = ", ".join(f".v_{v.name} = {v.init}ULL" for v in p.flow_vars)
            self.line(f"const struct xq_flow xq_flow_init = {{ {inits} }};")
            self.line("struct {\n\t__uint(type, BPF_MAP_TYPE_LRU_HASH);\n"
                      "\t__uint(max_entries, 65536);\n\t__type(key, struct xq_flow_key);\n"
                      "\t__type(value, struct xq_flow);\n} xq_flows SEC(\".maps\");")
        if p.flow_on_dequeue:
            self.line("/* The flow of each queued packet, for on dequeue. */")
            self.line("struct xq_flow_key xq_flow_of[XDPQ_POOL_SLOTS];")
        for q in p.queues:
            if not q.state:
                continue
            self.line(f"struct xq_s_{q.name} {{")
            for v in q.state:
                self.line(f"__u64 v_{v.name};", 1)
            self.line("};")
            inits = ", ".join(f".v_{v.name} = {v.init}ULL" for v in q.state)
            self.line(f"struct xq_s_{q.name} xq_s_{q.name}[{q.count}] = "
                      f"{{ [0 ... {(q.count or 1) - 1}] = {{ {inits} }} }};")
        self.line()

    def declare_nodes(self) -> None:
        """The tree's nodes; its clocks and rbtree roots, for kern/tree.h."""
        p, lay = self.p, self.lay
        rbtrees = [q for q in p.queues if q.kind == "rbtree"]
        for q in rbtrees:
            self.line(f"XDPQ_RBTREE_ROOT({queue_var(q)});")
        self.line("/* The queues, as nodes of the scheduling tree (xdpq/ir/layout.py). */")
        self.line("xdpq_locked struct xdpq_node xdpq_nodes[XDPQ_NODES] = {")
        for q in (*(q for q in p.queues if q.parent is None),
                  *(q for q in p.queues if q.parent is not None)):
            clock = self.clocks.index(q.clock) if q.clock is not None else "XDPQ_NIL"
            for n in lay.nodes_of(q.name, q.count):
                parent = lay.parent[n] if lay.parent[n] >= 0 else "XDPQ_NIL"
                own = {"fifo": f".fifo = XDPQ_FIFO_INIT({q.capacity})",
                       "rbtree": f".rb = {{ .cap = {q.capacity} }}"}.get(q.kind)
                if own is None:
                    at = f"{q.capacity}, {q.range}, {lay.pifo_offsets[n][0]}, " \
                         f"{lay.pifo_offsets[n][1]}"
                    own = f".pifo = XDPQ_PIFO_INIT({at})" if q.base is None else \
                        f".pifo = XDPQ_PIFO_FIXED({at}, {q.base}ULL)"
                pushout = ", .pushout = 1" if q.pushout else ""
                self.line(f"[{n}] = {{ {own}, XDPQ_NODE_INIT({KIND_C[q.kind]}, {q.capacity}, "
                          f"{parent}, {clock}){pushout} }},", 1)
        self.line("};")
        if not self.clocks:
            self.line("__u64 xq_clock_none;")
        self.line("/* The program's virtual clocks (globals), by number. */")
        self.line("static __always_inline __u64 *xq_clock(__u32 k)\n{")
        for k, name in enumerate(self.clocks[1:], 1):
            self.line(f"if (k == {k})", 1)
            self.line(f"return &xq_g_{name};", 2)
        self.line(f"return &xq_g_{self.clocks[0]};" if self.clocks else "return &xq_clock_none;",
                  1)
        self.line("}")
        if rbtrees:
            self.line("static __always_inline struct bpf_rb_root *xq_rbtree_root(__u32 n)\n{")
            for q in rbtrees[1:]:
                self.line(f"if ({self.of_rbtree(q, 'n')})", 1)
                self.line(f"return &{queue_var(q)}_root;", 2)
            self.line(f"return &{queue_var(rbtrees[0])}_root;", 1)
            self.line("}")
        self.line()

    def declare_reasons(self) -> None:
        """Drops (``drop REASON``) and ECN marks (``mark ce REASON``, each also the
        datapath's ``mark_ce``) by the program's own reasons: a per-CPU count each."""
        self.counted("xdpq_reason", "XQ_R_", "xdpq_reasons", self.p.reasons)
        self.counted("xdpq_mark", "XQ_M_", "xdpq_marks", self.p.marks,
                     "\txdpq_count(XDPQ_CNT_MARK_CE, len);\n")

    def counted(self, enum: str, prefix: str, map_name: str, names: tuple[str, ...],
                also: str = "") -> None:
        """``enum`` of ``names``, its map ``map_name`` and the function ``enum``()
        that counts one packet under a name."""
        if not names:
            return
        self.line(f"enum {enum} {{")
        for r in names:
            self.line(f"{prefix}{r},", 1)
        self.line("};")
        self.line("struct {\n\t__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);\n"
                  f"\t__uint(max_entries, {len(names)});\n"
                  f"\t__type(key, enum {enum});\n"
                  f"\t__type(value, struct xdpq_reason_count);\n}} {map_name} SEC(\".maps\");")
        self.line(f"static __always_inline void {enum}(enum {enum} r, __u32 len)\n{{\n"
                  "\t__u32 key = r;\n"
                  f"\tstruct xdpq_reason_count *c = bpf_map_lookup_elem(&{map_name}, &key);\n\n"
                  f"\tif (c) {{\n\t\tc->packets++;\n\t\tc->bytes += len;\n\t}}\n{also}}}")
        self.line()

    def declare_meta(self) -> None:
        self.line("struct xdpq_meta {\n\t__u64 rank;\n\t__u64 at;\n\t__u32 node;\n\t__u32 pad;")
        if self.p.flow_on_dequeue:
            self.line("struct xq_flow_key key;", 1)
        self.line("};")
        self.line()

    # -- hooks ---------------------------------------------------------------------

    def ready(self, name: str, hook: ir.Hook) -> None:
        """on ready: the rank and time of the token of a queue of ``name`` in its parent."""
        if not hook.locals and all(isinstance(s, ir.Enqueue) and s.at is None
                                   and s.rank == ir.Const(0) for s in hook.body):
            return  # the default: rank 0, eligible at once (see dispatch)
        self.ready_fns.append(name)
        q = self.p.queue(name)
        args = "".join(f"__u64 l_{i}, " for i in hook.params)
        self.line(f"static __always_inline void xq_ready_{name}({args}__u64 now, __u64 *rank, "
                  "__u64 *at)\n{")
        for i, size in zip(hook.params, q.shape, strict=True):
            self.line(f"l_{i} = xdpq_index(l_{i}, {size});", 1)
        self.locals_(hook)
        self.hook = "ready"
        self.block(hook.body, 1)
        self.here()
        self.line("}\n")

    def dispatch(self) -> None:
        """xq_ready(n): node n's ready hook, by its declaration; xq_activate and xq_up,
        which place tokens on the way up (on enqueue, and after a dequeue)."""
        p, lay = self.p, self.lay
        if not p.ready:
            return
        self.line("static __always_inline void xq_ready(__u32 n, __u64 now, __u64 *rank, "
                  "__u64 *at)\n{")
        self.line("__u32 k;\n", 1)
        self.line("*rank = 0;", 1)
        self.line("*at = 0;", 1)
        for name in self.ready_fns:
            q = p.queue(name)
            first, count = lay.first[name], q.count or 1
            self.line(f"k = n - {first};", 1)
            self.line(f"if (k < {count}) {{", 1)
            args, rest = [], "k"
            for size in reversed(q.shape):
                args.insert(0, f"({rest}) % {size}")
                rest = f"({rest}) / {size}"
            self.line(f"xq_ready_{name}({''.join(a + ', ' for a in args)}now, rank, at);", 2)
            self.line("return;", 2)
            self.line("}", 1)
        self.line("}\n")
        self.line("/* A packet entered leaf n: while a node on the way up had no token, its "
                  "ready hook places one. */")
        self.line("static __always_inline void xq_activate(__u32 n, __u64 now)\n{")
        self.line("struct bpf_iter_num it;\n\t__u64 rank, at;\n\tint *i;\n", 1)
        self.line("bpf_iter_num_new(&it, 0, XDPQ_MAX_DEPTH);", 1)
        self.line("while ((i = bpf_iter_num_next(&it))) {", 1)
        self.line("if (n < XDPQ_TOPS || !xdpq_tree_claim(n))", 2)
        self.line("break;", 3)
        self.line("xq_ready(n, now, &rank, &at);", 2)
        self.line("xdpq_tree_place(n, rank, at, now);", 2)
        self.line("n = xdpq_node(n)->parent;", 2)
        self.line("}", 1)
        self.line("bpf_iter_num_destroy(&it);", 1)
        self.line("}\n")
        self.line("/* After a dequeue: each node on the way back up, from the leaf, takes a "
                  "place again if it still has packets. */")
        self.line("static __always_inline void xq_up(struct xdpq_path *path, __u64 now)\n{")
        self.line("struct bpf_iter_num it;\n\t__u64 rank, at;\n\t__u32 c;\n\tint *i;\n", 1)
        self.line("bpf_iter_num_new(&it, 0, path->depth);", 1)
        self.line("while ((i = bpf_iter_num_next(&it))) {", 1)
        self.line("c = path->node[(path->depth - *i) & (XDPQ_MAX_DEPTH - 1)];", 2)
        self.line("if (!*(volatile __u32 *)&xdpq_node(c)->len && !xdpq_tree_release(c))", 2)
        self.line("continue;", 3)
        self.line("xq_ready(c, now, &rank, &at);", 2)
        self.line("xdpq_tree_replace(c, rank, at, now);", 2)
        self.line("}", 1)
        self.line("bpf_iter_num_destroy(&it);", 1)
        self.line("}\n")

    def on_dequeue(self, hook: ir.Hook) -> None:
        p, lay = self.p, self.lay
        if _mentions(hook.body, ir.DeqField("index")):
            self.line("/* p.index: its leaf's index in the last dimension of its array. */")
            self.line("static __always_inline __u64 xq_leaf_index(struct xdpq_path *path)\n{")
            self.line("__u32 n = path->node[path->depth & (XDPQ_MAX_DEPTH - 1)];\n", 1)
            for q in p.queues:
                if q.children or not q.shape:
                    continue
                self.line(f"if (n - {lay.first[q.name]} < {q.count})", 1)
                self.line(f"return (n - {lay.first[q.name]}) % {q.shape[-1]};", 2)
            self.line("return 0;", 1)
            self.line("}\n")
        self.line("static __always_inline int xq_on_dequeue(__u64 now, struct xdpq_entry *e, "
                  "struct xdpq_path *path)\n{")
        if p.flow_on_dequeue:
            self.line("struct xq_flow_key *k = &xq_flow_of[e->slot & (XDPQ_POOL_SLOTS - 1)];",
                      1)
            self.line("struct xq_flow *f = bpf_map_lookup_elem(&xq_flows, k);", 1)
        self.locals_(hook)
        if p.flow_on_dequeue:
            self.flow_create("XDPQ_DEQ_OK", "k")
        self.hook = "dequeue"
        self.block(hook.body, 1)
        self.here()
        self.line("return XDPQ_DEQ_OK;", 1)
        self.line("}\n")

    def flow_create(self, none: str, key: str) -> None:
        """A flow met for the first time gets its initial state (and if the map cannot
        take it, the hook ends with ``none``)."""
        self.line("if (!f) {", 1)
        self.line(f"bpf_map_update_elem(&xq_flows, {key}, &xq_flow_init, BPF_NOEXIST);", 2)
        self.line(f"f = bpf_map_lookup_elem(&xq_flows, {key});", 2)
        self.line(f"if (!f)\n\t\t\treturn {none};", 2)
        self.line("}", 1)

    def classify(self) -> None:
        p = self.p
        self.classify_start()
        if p.flow_vars:
            self.line("struct xq_flow_key k = {};", 1)
            self.line("struct xq_flow *f;", 1)
        self.locals_(p.enqueue)
        self.claim()
        if p.flow_vars:
            self.flow_lookup()
        self.hook = "enqueue"
        self.block(p.enqueue.body, 1)
        self.here()
        self.line("}\n")

    def classify_start(self) -> None:
        """classify's signature and its packet."""
        self.line("static __always_inline int xdpq_sched_classify(struct xdp_md *ctx, "
                  "struct xdpq_meta *m, __u64 now)\n{")
        self.line("struct xdpq_pkt pkt;", 1)

    def claim(self) -> None:
        """The claim the datapath makes before the program runs: IP that parses."""
        self.line("int res = xdpq_claim_ip(ctx, &pkt);\n", 1)
        self.line("if (res != XDPQ_CLAIM)\n\t\treturn res;", 1)

    def flow_lookup(self) -> None:
        w = 0
        for f in self.p.flow_key:
            if FIELDS[f].address:
                for i in range(4):
                    self.line(f"k.w[{w}] = bpf_ntohl({FIELDS[f].c}.in6_u.u6_addr32[{i}]);", 1)
                    w += 1
            else:
                self.line(f"k.w[{w}] = {FIELDS[f].c};", 1)
                w += 1
        if self.p.flow_on_dequeue:
            self.line("m->key = k;", 1)
        self.line("f = bpf_map_lookup_elem(&xq_flows, &k);", 1)
        self.flow_create("XDPQ_NO_MEMORY", "&k")

    def enqueue(self) -> None:
        p = self.p
        self.line("static __always_inline int xdpq_sched_enqueue(struct xdpq_meta *m, __u32 slot, "
                  "__u32 len, __u64 now,\n\t\t\t\t\t      struct xdpq_entry *out)\n{")
        self.line("int res;\n", 1)
        if p.flow_on_dequeue:
            self.line("xq_flow_of[slot & (XDPQ_POOL_SLOTS - 1)] = m->key;", 1)
        leaves = [q for q in p.queues if not q.children]
        rbtrees = [q for q in leaves if q.kind == "rbtree"]
        for i, q in enumerate(rbtrees):
            self.line(f"{'else ' if i else ''}if ({self.of_rbtree(q, 'm->node')})", 1)
            node = "m->node" if q.count else self.lay.first[q.name]
            self.line(f"res = xdpq_tree_push_rb({node}, slot, m->rank, len, m->at, now, out);", 2)
        if len(rbtrees) < len(leaves):
            self.line("else" if rbtrees else "", 1)
            self.line("res = xdpq_tree_push(m->node, slot, m->rank, len, m->at, now, out);",
                      2 if rbtrees else 1)
        if p.ready:
            self.line(f"if {ENQ_OK}", 1)
            self.line("xq_activate(m->node, now);", 2)
        self.line("return res;", 1)
        self.line("}\n")

    def of_rbtree(self, q: ir.Queue, node: str) -> str:
        """C that says whether ``node`` is a queue of rbtree declaration ``q``."""
        first = self.lay.first[q.name]
        if not q.count:
            return f"{node} == {first}"
        return f"{node} - {first} < {q.count}" if first else f"{node} < {q.count}"

    def dequeue(self) -> None:
        """The first top-level queue that can serve, down its tree (kern/tree.h). A
        global function (kern/xdpq_defs.h): every program that dequeues (the ingress
        cutting through, the timer, the stepper, the flush) has the verifier check it
        once, not again for each state its caller reaches it in."""
        p = self.p
        self.line("__xdpq_global int xdpq_sched_dequeue(__u64 now, "
                  "struct xdpq_entry *e __xdpq_nonnull, __u64 *when __xdpq_nonnull)\n{")
        self.line("struct xdpq_path *path = &xdpq_walk;", 1)
        self.line("int res = XDPQ_DEQ_OK;", 1)
        if p.uses_at:
            self.line("__u64 later;", 1)
        self.line()
        self.line("xdpq_barrier_var(now);\n\txdpq_barrier_var(e);\n\txdpq_barrier_var(when);", 1)
        self.line()
        if p.uses_at:
            self.line("xdpq_tree_due(now);", 1)
        self.line("if (xdpq_tree_serve(e, path)) {", 1)
        if p.uses_at:
            self.line("later = xdpq_tree_later();", 2)
            self.line("if (later != ~0ULL) {\n\t\t\t*when = later;\n\t\t\treturn XDPQ_DEQ_LATER;"
                      "\n\t\t}", 2)
        self.line("return XDPQ_DEQ_EMPTY;", 2)
        self.line("}", 1)
        if p.dequeue is not None:
            self.line("res = xq_on_dequeue(now, e, path);", 1)
        if p.ready:
            self.line("xq_up(path, now);", 1)
        self.line("return res;", 1)
        self.line("}\n")


def _contains(node: object, found: Callable[[object], bool]) -> bool:
    """Whether an IR tree has a node that ``found`` says yes to."""
    if found(node):
        return True
    if isinstance(node, tuple):
        return any(_contains(n, found) for n in node)
    if hasattr(node, "__dataclass_fields__"):
        return any(_contains(getattr(node, f), found) for f in node.__dataclass_fields__)
    return False


def _mentions(node: object, target: object) -> bool:
    """Whether an IR tree contains ``target``."""
    return _contains(node, lambda n: n == target)


def reads_the_clock(prog: ir.Program) -> bool:
    """Whether the program needs the time an arrival is handled at: it reads now, a
    packet's enqueue time (its sojourn), or gives an eligibility time, at a leaf or in
    a ready hook. Otherwise the ingress does not read the clock for it
    (kern/datapath.h, xdpq_arrival_now)."""
    hooks = (prog.enqueue, prog.dequeue, *prog.ready.values())
    return prog.uses_at or _contains(hooks, lambda n: (
        isinstance(n, ir.Now) or n == ir.DeqField("enqueued")
        or (isinstance(n, ir.Enqueue) and n.at is not None)))


def _c_string(text: str) -> str:
    """``text`` inside a C string literal: quotes and backslashes escaped, control
    characters (a line break would end the directive) as octal escapes."""
    return "".join(f"\\{ord(c):03o}" if ord(c) < 32 or ord(c) == 127 else
                   "\\" + c if c in '"\\' else c for c in text)


def _comment(text: str) -> str:
    return text.replace("*/", "* /").replace("\n", " ")


def generate(prog: ir.Program, c_name: str = "scheduler.bpf.c") -> str:
    """The BPF C of a scheduler; ``c_name`` is the file it will be written to."""
    return Emitter(prog, c_name).program()
