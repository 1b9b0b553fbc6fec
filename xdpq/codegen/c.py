"""IR → BPF C over the kern/ headers.

The generated file defines the scheduler hooks that kern/datapath.h calls
(``xdpq_sched_classify``, ``_enqueue``, ``_dequeue``) and then includes it.
The whole ``on enqueue`` body runs in classify, which sees the parsed packet
and leaves its decision (queue, index, rank, eligibility) in the meta;
enqueue only stores the slot and, for a queue of an array, places the
queue's token in its parent. Every statement carries a ``#line`` directive
into the ``.xdpq`` file, so clang and verifier errors point there.

Identifiers are never pasted: every user name is mangled into a namespace
prefix (``xq_g_`` globals, ``xq_p_`` parameters, ``xq_q_`` queues, ``xq_t_`` trees, ``l_``
locals, ``v_`` fields) that no header uses, so ``int`` or ``xdpq_lock`` as a
name is harmless.
"""

from __future__ import annotations

from xdpq import ir
from xdpq.fields import FIELDS
from xdpq.ir.layout import Layout, layout, queue_var

DEQ_C = {"len": "(__u64)e->len", "rank": "e->rank", "enqueued": "xdpq_enqueued(e->slot)",
         "index": "index", "parent_rank": "parent_rank"}
ENQ_OK = "(res == XDPQ_ENQ_OK || res == XDPQ_ENQ_CLAMPED)"


def key_words(fields: tuple[str, ...]) -> int:
    """32-bit words of a hash or flow key: four per address, one per number."""
    return sum(4 if FIELDS[f].address else 1 for f in fields)


class Emitter:
    """IR → BPF C; ``xdpq.codegen.host`` shares its expressions and hooks, and replaces
    what only a BPF program has (the prologue, the flow table, classify's start)."""

    def __init__(self, prog: ir.Program, c_name: str) -> None:
        self.p = prog
        self.c_name = c_name
        self.lay: Layout = layout(prog)
        self.out: list[str] = []
        self.hook = "enqueue"
        self.ready_array = ""  # in on ready: the array whose queue it places
        self.reasons = {r: i for i, r in enumerate(prog.reasons)}

    # -- output --------------------------------------------------------------------

    def line(self, text: str = "", depth: int = 0) -> None:
        self.out.append("\t" * depth + text if text else "")

    def here(self) -> None:
        """Point the compiler back at the generated file after source lines."""
        self.out.append(f'#line {len(self.out) + 2} "{self.c_name}"')

    def source_line(self, span_line: int) -> None:
        self.out.append(f'#line {span_line} "{_c_string(self.p.source)}"')

    # -- names ---------------------------------------------------------------------

    def size(self, array: str) -> int:
        q = self.p.queue(array)
        assert q.count is not None
        return q.count

    def var(self, name: str) -> str:
        return queue_var(self.p.queue(name))

    def queue_ref(self, name: str, index: str | None) -> str:
        """Pointer to a queue, index already bounded."""
        return f"&{self.var(name)}[{index}]" if index is not None else f"&{self.var(name)}"

    def token(self, i: str) -> str:
        """In on ready: the token of the ready queue ``i`` (its number in the parent,
        less XDPQ_POOL_SLOTS: see kern/queue_common.h XDPQ_TOKEN)."""
        base = self.lay.token_base[self.ready_array]
        return f"{i} + {base}" if base else i

    def bounded(self, index: ir.Expr, n: int) -> str:
        return f"xdpq_index({self.expr(index)}, {n})"

    # -- expressions ---------------------------------------------------------------

    def expr(self, e: ir.Expr) -> str:
        match e:
            case ir.Const(value=v):
                return f"{v}ULL"
            case ir.ParamRef(name=n, index=None):
                return f"xq_p_{n}"
            case ir.ParamRef(name=n, index=idx):
                count = next(p.count for p in self.p.params if p.name == n)
                return f"xq_p_{n}[{self.bounded(idx, count or 1)}]"
            case ir.Global(name=n):
                return f"xq_g_{n}"
            case ir.FlowVar(name=n):
                return f"f->v_{n}"
            case ir.QState(array=a, index=idx, name=n):
                return f"xq_s_{a}[{self.bounded(idx, self.size(a))}].v_{n}"
            case ir.Attr(queue=q, index=idx, name=attr):
                return self.attr(q, idx, attr)
            case ir.Field(name=n):
                return f"(__u64){FIELDS[n].c}"
            case ir.Now():
                return "now"
            case ir.DeqField(name=n):
                return DEQ_C[n]
            case ir.Local(name=n):
                return f"l_{n}"
            case ir.Hash(fields=fields):
                return self.hash(fields)
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
            case ir.Cmp(op=op, left=a, right=b):
                return f"(__u64)({self.expr(a)} {op} {self.expr(b)})"
            case ir.Logic(op=op, left=a, right=b):
                c_op = "&&" if op == "and" else "||"
                return f"(__u64)({self.expr(a)} {c_op} {self.expr(b)})"
            case ir.Not(operand=a):
                return f"(__u64)!{self.expr(a)}"
            case ir.Sqrt(operand=a):
                return f"xdpq_sqrt({self.expr(a)})"
            case ir.MinMax(op=op, args=args):
                acc = self.expr(args[0])
                for a in args[1:]:
                    acc = f"xdpq_{op}({acc}, {self.expr(a)})"
                return acc
        raise AssertionError(f"no C for {e!r}")

    def attr(self, name: str, idx: ir.Expr | None, attr: str) -> str:
        q = self.p.queue(name)
        index = self.bounded(idx, self.size(name)) if idx is not None else None
        ref = self.queue_ref(name, index)
        if attr == "head":
            if q.kind == "rbtree":
                return f"xdpq_rbtree_head(&{self.var(name)}_root)"
            return f"xdpq_{q.kind}_head({ref})"
        field = "len" if attr == "packets" else "bytes"
        return f"(__u64)({ref})->{field}"

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
            case ir.Enqueue() if self.hook == "ready":
                parent = self.p.queue(s.queue)
                self.line(f"xdpq_{parent.kind}_schedule({self.queue_ref(s.queue, None)}, "
                          f"{self.token('i')}, {self.expr(s.rank)});", d)
                self.line("return;", d)
            case ir.Enqueue(queue=q, index=idx, rank=rank, at=at):
                n = self.p.queue(q).count
                self.line(f"m->queue = {self.lay.leaf_ids[q]};", d)
                self.line(f"m->index = {self.bounded(idx, n) if idx is not None and n else 0};",
                          d)
                self.line(f"m->rank = {self.expr(rank)};", d)
                if at is not None:
                    self.line(f"m->at = {self.expr(at)};", d)
                self.line("return XDPQ_CLAIM;", d)
            case ir.Drop(reason=r):
                length = "pkt.len" if self.hook == "enqueue" else "e->len"
                self.line(f"xdpq_reason(XQ_R_{r}, {length});", d)
                self.line("return XDPQ_ADMISSION_DROP;" if self.hook == "enqueue"
                          else "return XDPQ_DEQ_DROP;", d)
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
        self.declare_queues()
        self.declare_reasons()
        self.line("struct xdpq_meta {\n\t__u64 rank;\n\t__u64 at;\n\t__u32 queue;\n"
                  "\t__u32 index;\n};")
        self.line()
        self.hooks()
        self.epilogue()
        return "\n".join(self.out) + "\n"

    def banner(self) -> None:
        self.line(f"// SPDX-License-Identifier: GPL-2.0\n/* Generated by xdpq from "
                  f"{_comment(self.p.source)}: change that file, not this one. */")

    def prologue(self) -> None:
        p, lay = self.p, self.lay
        self.banner()
        self.line(f"#define XDPQ_PIFO_BUCKETS {lay.pifo_buckets}")
        self.line(f"#define XDPQ_PIFO_WORDS {lay.pifo_words}")
        if p.uses_at:
            self.line("#define XDPQ_USES_AT 1")
        self.line('#include "lang.h"')
        self.line()

    def hooks(self) -> None:
        """The scheduler's functions, each after what it calls."""
        for array, hook in self.p.ready.items():
            self.ready(array, hook)
        if self.p.dequeue is not None:
            self.on_dequeue(self.p.dequeue)
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
            self.declare_flows()
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

    def declare_flow_types(self) -> None:
        p = self.p
        self.line("/* Per-flow state, keyed by the words of its fields as hash() mixes them. */")
        self.line(f"struct xq_flow_key {{\n\t__u32 w[{key_words(p.flow_key)}];\n}};")
        self.line("struct xq_flow {")
        for v in p.flow_vars:
            self.line(f"__u64 v_{v.name};", 1)
        self.line("};")
        inits = ", ".join(f".v_{v.name} = {v.init}ULL" for v in p.flow_vars)
        self.line(f"const struct xq_flow xq_flow_init = {{ {inits} }};")

    def declare_flows(self) -> None:
        self.declare_flow_types()
        self.line("struct {\n\t__uint(type, BPF_MAP_TYPE_LRU_HASH);\n"
                  "\t__uint(max_entries, 65536);\n\t__type(key, struct xq_flow_key);\n"
                  "\t__type(value, struct xq_flow);\n} xq_flows SEC(\".maps\");")

    def declare_queues(self) -> None:
        for q in self.p.queues:
            var = self.var(q.name)
            if q.kind == "rbtree":
                self.line(f"XDPQ_RBTREE_DEFINE({var}, {q.capacity});")
            elif q.kind == "fifo" and q.count is None:
                self.line(f"xdpq_locked struct xdpq_fifo {var} = XDPQ_FIFO_INIT({q.capacity});")
            elif q.kind == "fifo":
                self.line(f"xdpq_locked struct xdpq_fifo {var}[{q.count}] = "
                          f"{{ [0 ... {q.count - 1}] = XDPQ_FIFO_INIT({q.capacity}) }};")
            else:
                inits = [f"XDPQ_PIFO_INIT({q.capacity}, {q.range}, {b}, {w})"
                         for b, w in self.lay.pifo_offsets[q.name]]
                if q.count is None:
                    self.line(f"xdpq_locked struct xdpq_pifo {var} = {inits[0]};")
                else:
                    self.line(f"xdpq_locked struct xdpq_pifo {var}[{q.count}] = {{")
                    for init in inits:
                        self.line(f"{init},", 1)
                    self.line("};")
            if q.parent is not None:
                self.line(f"__u32 xq_token_{q.name}[{q.count}];")
        self.line()

    def declare_reasons(self) -> None:
        reasons = self.p.reasons
        if not reasons:
            return
        self.line("enum xdpq_reason {")
        for r in reasons:
            self.line(f"XQ_R_{r},", 1)
        self.line("};")
        self.line("struct {\n\t__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);\n"
                  f"\t__uint(max_entries, {len(reasons)});\n"
                  "\t__type(key, enum xdpq_reason);\n"
                  "\t__type(value, struct xdpq_reason_count);\n} xdpq_reasons SEC(\".maps\");")
        self.line("static __always_inline void xdpq_reason(enum xdpq_reason r, __u32 len)\n{\n"
                  "\t__u32 key = r;\n"
                  "\tstruct xdpq_reason_count *c = bpf_map_lookup_elem(&xdpq_reasons, &key);\n\n"
                  "\tif (c) {\n\t\tc->packets++;\n\t\tc->bytes += len;\n\t}\n}")
        self.line()

    # -- hooks ---------------------------------------------------------------------

    def ready(self, array: str, hook: ir.Hook) -> None:
        """on ready: place queue i of the array into its parent."""
        n = self.size(array)
        self.ready_array = array
        self.line(f"static __always_inline void xq_ready_{array}(__u32 i, __u64 now)\n{{")
        self.line(f"__u64 l_{hook.name} = xdpq_index(i, {n});", 1)
        self.locals_(hook)
        self.hook = "ready"
        self.block(hook.body, 1)
        self.here()
        self.line("}\n")
        self.line(f"static __always_inline void xq_activate_{array}(__u32 i, __u64 now)\n{{")
        self.line(f"i = xdpq_index(i, {n});", 1)
        self.line(f"if (xdpq_claim_token(&xq_token_{array}[i]))", 1)
        self.line(f"xq_ready_{array}(i, now);", 2)
        self.line("}\n")
        self.line("/* After a dequeue from queue i: its next place, if it still has packets. */")
        self.line(f"static __always_inline void xq_requeue_{array}(__u32 i, __u64 now)\n{{")
        self.line(f"i = xdpq_index(i, {n});", 1)
        var = self.var(array)
        self.line(f"if (*(volatile __u32 *)&{var}[i].len ||", 1)
        self.line(f"    xdpq_release_token(&xq_token_{array}[i], &{var}[i].len))", 1)
        self.line(f"xq_ready_{array}(i, now);", 2)
        self.line("}\n")

    def on_dequeue(self, hook: ir.Hook) -> None:
        self.line("static __always_inline int xq_on_dequeue(__u64 now, struct xdpq_entry *e, "
                  "__u64 index, __u64 parent_rank)\n{")
        self.locals_(hook)
        self.hook = "dequeue"
        self.block(hook.body, 1)
        self.here()
        self.line("return XDPQ_DEQ_OK;", 1)
        self.line("}\n")

    def classify(self) -> None:
        p = self.p
        self.line("static __always_inline int xdpq_sched_classify(struct xdp_md *ctx, "
                  "struct xdpq_meta *m, __u64 now)\n{")
        self.line("struct xdpq_pkt pkt;", 1)
        if p.flow_vars:
            self.line("struct xq_flow_key k = {};", 1)
            self.line("struct xq_flow *f;", 1)
        self.locals_(p.enqueue)
        self.line("int res = xdpq_claim_ip(ctx, &pkt);\n", 1)
        self.line("if (res != XDPQ_CLAIM)\n\t\treturn res;", 1)
        if p.flow_vars:
            self.flow_lookup()
        self.hook = "enqueue"
        self.block(p.enqueue.body, 1)
        self.here()
        self.line("}\n")

    def flow_key(self, d: int) -> None:
        """The words of the packet's flow key into ``k``."""
        w = 0
        for f in self.p.flow_key:
            if FIELDS[f].address:
                for i in range(4):
                    self.line(f"k.w[{w}] = bpf_ntohl({FIELDS[f].c}.in6_u.u6_addr32[{i}]);", d)
                    w += 1
            else:
                self.line(f"k.w[{w}] = {FIELDS[f].c};", d)
                w += 1

    def flow_lookup(self) -> None:
        self.flow_key(1)
        self.line("f = bpf_map_lookup_elem(&xq_flows, &k);", 1)
        self.line("if (!f) {", 1)
        self.line("bpf_map_update_elem(&xq_flows, &k, &xq_flow_init, BPF_NOEXIST);", 2)
        self.line("f = bpf_map_lookup_elem(&xq_flows, &k);", 2)
        self.line("if (!f)\n\t\t\treturn XDPQ_NO_MEMORY;", 2)
        self.line("}", 1)

    def enqueue(self) -> None:
        p = self.p
        self.line("static __always_inline int xdpq_sched_enqueue(struct xdpq_meta *m, __u32 slot, "
                  "__u32 len, __u64 now)\n{")
        self.line("int res;\n", 1)
        if p.uses_at:
            self.line("xdpq_set_at(slot, m->at);", 1)
        self.line("switch (m->queue) {", 1)
        for q in p.queues:
            if q.name not in self.lay.leaf_ids:
                continue
            self.line(f"case {self.lay.leaf_ids[q.name]}:", 1)
            index = f"xdpq_index(m->index, {q.count})" if q.count else None
            ref = self.queue_ref(q.name, index)
            if q.kind == "rbtree":
                self.line(f"res = xdpq_rbtree_enqueue({ref}, {ref}_root, slot, m->rank, len);", 2)
            else:
                self.line(f"res = xdpq_{q.kind}_enqueue({ref}, slot, m->rank, len);", 2)
            if q.parent is not None:
                self.line(f"if {ENQ_OK}", 2)
                self.line(f"xq_activate_{q.name}(m->index, now);", 3)
            self.line("return res;", 2)
        self.line("}", 1)
        self.line("return XDPQ_ENQ_BAD_SLOT;", 1)
        self.line("}\n")

    def dequeue(self) -> None:
        """Top-level queues in declaration order: strict priority among them."""
        p = self.p
        self.line("static __always_inline int xdpq_sched_dequeue(__u64 now, struct xdpq_entry *e, "
                  "__u64 *when)\n{")
        if any(q.children for q in self.lay.serve):
            self.line("struct xdpq_entry t;", 1)
            self.line("__u32 i;", 1)
            self.line("int res;", 1)
        if p.uses_at:
            self.line("__u64 later = ~0ULL;", 1)
        self.line()
        on_deq = "xq_on_dequeue(now, e, {}, {})" if p.dequeue is not None else "XDPQ_DEQ_OK"
        for q in self.lay.serve:
            ref = self.queue_ref(q.name, None)
            root = f", {ref}_root" if q.kind == "rbtree" else ""
            if q.children is None:
                deq = f"!xdpq_{q.kind}_dequeue({ref}{root}, e)"
                if p.uses_at:
                    peek_root = f"{ref}_root" if q.kind == "rbtree" else ref
                    self.line(f"if (!xdpq_{q.kind}_peek({peek_root}, e) && "
                              f"xdpq_eligible(e, now, &later) &&\n\t    {deq})", 1)
                else:
                    self.line(f"if ({deq})", 1)
                self.line(f"return {on_deq.format('0', '0')};", 2)
                continue
            child = p.queue(q.children)
            self.line(f"if (!xdpq_{q.kind}_dequeue({ref}, &t)) {{", 1)
            base = self.lay.token_base[child.name]
            first = f"(XDPQ_POOL_SLOTS + {base})" if base else "XDPQ_POOL_SLOTS"
            self.line(f"i = xdpq_index(t.slot - {first}, {child.count});", 2)
            self.line(f"if (!xdpq_{child.kind}_dequeue({self.queue_ref(child.name, 'i')}, e)) {{",
                      2)
            self.line(f"res = {on_deq.format('i', 't.rank')};", 3)
            self.line(f"xq_requeue_{child.name}(i, now);", 3)
            self.line("return res;", 3)
            self.line("}", 2)
            self.line("/* Cannot happen (a token means packets); keep the tree sound. */", 2)
            self.line(f"xq_requeue_{child.name}(i, now);", 2)
            self.line("}", 1)
        if p.uses_at:
            self.line("if (later != ~0ULL) {\n\t\t*when = later;\n\t\treturn XDPQ_DEQ_LATER;\n\t}",
                      1)
        self.line("return XDPQ_DEQ_EMPTY;", 1)
        self.line("}\n")


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
