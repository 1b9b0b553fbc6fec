"""IR → a scheduler in userspace C, beside ``c.py`` and ``python.py``.

The fast simulator (``xdpq.sim.fast``) compiles this C with its own event
loop into a shared library. It is the BPF back end's output with what only a
BPF program has replaced: the statements, expressions and hooks (on ready,
on dequeue, enqueue, dequeue) are ``c.py``'s own, written against
``host.h``, the userspace twin of the kern/ helpers they call (the queue
maps with docs/queues.md's rules, the language's arithmetic, the hierarchy's
tokens). What differs is here: the prologue (the runtime, inlined, so that
the text is the whole program), per-flow state in a table of the run rather
than a BPF map, drop reasons counted in the run's arrays, ``classify`` on a
packet the simulator hands over, and ``xq_reset``, which puts every piece of
state back to its initial value before a run.

The functions the loop calls: ``xq_reset(params, kinds, packets)``,
``xq_classify(pkt, kind, meta, now)`` (a claim: ``XDPQ_CLAIM`` with the
queue, index, rank and eligibility time in the meta), the BPF back end's
``xdpq_sched_enqueue`` and ``xdpq_sched_dequeue``; ``XQ_REASONS`` is the
number of drop reasons. Packets come in kinds (the packets of one object of
the simulator's, alike in every field), so a flow's state is found once per
kind.
"""

from __future__ import annotations

from pathlib import Path

from xdpq import ir
from xdpq.codegen.c import Emitter, key_words
from xdpq.ir.layout import POOL_SLOTS

RUNTIME = Path(__file__).with_name("host.h")


class HostEmitter(Emitter):
    def prologue(self) -> None:
        p = self.p
        self.banner()
        self.line(f"#define XDPQ_POOL_SLOTS {POOL_SLOTS}")
        if p.uses_at:
            self.line("#define XDPQ_USES_AT 1")
        self.out.extend(RUNTIME.read_text().splitlines())
        self.line()

    def declare_flows(self) -> None:
        self.declare_flow_types()
        self.line("static struct xq_flow *xq_flows;  /* by the flow's number */")
        self.line("static __u32 xq_flows_size;")
        self.line("static struct xq_ftab xq_ftab;")
        self.line("static __u32 *xq_kind_flow;  /* by kind: 1 + its flow's number, 0 unknown */")
        self.line("\nstatic __u32 xq_flow_find(const __u32 *w)\n{")
        self.line("bool fresh;", 1)
        self.line("__u32 i = xq_ftab_find(&xq_ftab, w, &fresh);\n", 1)
        self.line("if (fresh) {", 1)
        self.line("if (i >= xq_flows_size) {", 2)
        self.line("xq_flows_size = xq_flows_size ? 2 * xq_flows_size : 64;", 3)
        self.line("xq_flows = xq_realloc(xq_flows, (size_t)xq_flows_size * sizeof(*xq_flows));",
                  3)
        self.line("}", 2)
        self.line("xq_flows[i] = xq_flow_init;", 2)
        self.line("}", 1)
        self.line("return i + 1;", 1)
        self.line("}")

    def declare_reasons(self) -> None:
        reasons = self.p.reasons
        self.line(f"#define XQ_REASONS {len(reasons)}")
        if reasons:
            self.line("enum xdpq_reason {")
            for r in reasons:
                self.line(f"XQ_R_{r},", 1)
            self.line("};")
        self.line()

    def classify(self) -> None:
        """``on enqueue`` on the packet of a kind, with the claim the datapath makes first
        (a packet that does not parse, or is not IP, is not the program's)."""
        p = self.p
        self.line("static __always_inline int xq_classify(const struct xdpq_pkt *xq_pkt, "
                  "__u32 xq_kind, struct xdpq_meta *m, __u64 now)\n{")
        self.line("const struct xdpq_pkt pkt = *xq_pkt;", 1)
        if p.flow_vars:
            self.line("struct xq_flow *f;", 1)
        self.locals_(p.enqueue)
        self.line()
        self.line("if (pkt.status)\n\t\treturn XDPQ_MALFORMED;", 1)
        self.line("if (!pkt.ip_ver)\n\t\treturn XDPQ_UNCLAIMED;", 1)
        if p.flow_vars:
            self.line("if (!xq_kind_flow[xq_kind]) {", 1)
            self.line("struct xq_flow_key k = { { 0 } };\n", 2)
            self.flow_key(2)
            self.line("xq_kind_flow[xq_kind] = xq_flow_find(k.w);", 2)
            self.line("}", 1)
            self.line("f = &xq_flows[xq_kind_flow[xq_kind] - 1];", 1)
        self.hook = "enqueue"
        self.block(p.enqueue.body, 1)
        self.here()
        self.line("}\n")

    def epilogue(self) -> None:
        """``xq_reset``: every piece of state to its initial value, the parameters to the
        run's (in the program's order, a table's values one after the other)."""
        p = self.p
        self.line("static void xq_reset(const __u64 *params, __u32 kinds, __u64 packets)\n{")
        self.line("__u32 i;\n", 1)
        self.line("(void)i;", 1)
        k = 0
        for prm in p.params:
            if prm.count is None:
                self.line(f"xq_p_{prm.name} = params[{k}];", 1)
                k += 1
            else:
                self.line(f"for (i = 0; i < {prm.count}; i++)", 1)
                self.line(f"xq_p_{prm.name}[i] = params[{k} + i];", 2)
                k += prm.count
        for v in p.globals:
            self.line(f"xq_g_{v.name} = {v.init}ULL;", 1)
        for q in p.queues:
            ref = self.var(q.name)
            if q.state:
                inits = ", ".join(f".v_{v.name} = {v.init}ULL" for v in q.state)
                self.line(f"for (i = 0; i < {q.count}; i++)", 1)
                self.line(f"xq_s_{q.name}[i] = (struct xq_s_{q.name}){{ {inits} }};", 2)
            if q.parent is not None:
                self.line(f"memset(xq_token_{q.name}, 0, sizeof(xq_token_{q.name}));", 1)
            clear = {"fifo": "xq_fifo_clear(&{})", "pifo": "xq_pifo_clear(&{})",
                     "rbtree": "xq_rbtree_clear(&{0}, &{0}_root)"}[q.kind]
            if q.count is None:
                self.line(clear.format(ref) + ";", 1)
            else:
                self.line(f"for (i = 0; i < {q.count}; i++)", 1)
                self.line(clear.format(f"{ref}[i]") + ";", 2)
        if p.flow_vars:
            self.line(f"xq_ftab_clear(&xq_ftab, {key_words(p.flow_key)});", 1)
            self.line("xq_kind_flow = xq_realloc(xq_kind_flow, (size_t)kinds * "
                      "sizeof(*xq_kind_flow));", 1)
            self.line("memset(xq_kind_flow, 0, (size_t)kinds * sizeof(*xq_kind_flow));", 1)
        else:
            self.line("(void)kinds;", 1)
        if p.uses_at:
            self.line("xq_at = xq_realloc(xq_at, (size_t)packets * sizeof(*xq_at));", 1)
        else:
            self.line("(void)packets;", 1)
        self.line("}")


def generate_host(prog: ir.Program) -> str:
    """The userspace C of a scheduler: the runtime, the program, ``xq_reset``."""
    return HostEmitter(prog, f"{prog.name}.c").program()
