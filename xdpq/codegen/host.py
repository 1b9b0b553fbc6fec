"""IR → a scheduler in userspace C, beside ``c.py`` and ``python.py``.

The fast simulator (``xdpq.sim.fast``) compiles this C with its own event
loop into a shared library. It is the BPF back end's output, over the same
kern/ headers (the queues, the tree, the language's arithmetic), unchanged:
``userspace/`` stands in for what they take from libbpf and the kernel (maps,
the rbtree kfuncs, the number iterator). What differs is here: drop reasons
counted in the run's arrays, with the latest one's reason kept for the
simulator's log; ``classify`` on a packet the simulator hands over rather than
a frame; ``xq_params``, which sets the run's parameters; and no datapath (the
simulator's loop is the datapath).

The functions the loop calls: ``xq_params(params)``, ``xq_classify(pkt, meta,
now)`` (a claim: ``XDPQ_CLAIM`` with the node, rank and eligibility time in
the meta), the BPF back end's ``xdpq_sched_enqueue`` and
``xdpq_sched_dequeue``; ``XQ_REASONS`` is the number of drop reasons.
"""

from __future__ import annotations

from pathlib import Path

from xdpq import ir
from xdpq.codegen.c import Emitter

INCLUDE = Path(__file__).with_name("userspace")


class HostEmitter(Emitter):
    def declare_reasons(self) -> None:
        """Packets and bytes per reason, in the run's array; the latest reason too (the
        simulator logs which packet each drop was)."""
        reasons = self.p.reasons
        self.line(f"#define XQ_REASONS {len(reasons)}")
        if reasons:
            self.line("enum xdpq_reason {")
            for r in reasons:
                self.line(f"XQ_R_{r},", 1)
            self.line("};")
        self.line("static __u64 (*xq_reason_counts)[2];\nstatic __u32 xq_last_reason;")
        self.line("static __always_inline void xdpq_reason(__u32 r, __u32 len)\n{\n"
                  "\txq_reason_counts[r][0]++;\n\txq_reason_counts[r][1] += len;\n"
                  "\txq_last_reason = r;\n}")
        self.line()
        self.declare_marks()

    def declare_marks(self) -> None:
        """ECN marks (mark ce) are the reference's: a slot holds no frame here, so
        xdpq_mark_ce finds no ECN-capable packet and the program drops instead, which
        is the reference's outcome when the run has none (the only runs the fast path
        takes). Were one marked all the same, the run ends and the reference runs it."""
        if not self.p.marks:
            return
        self.line("enum xdpq_mark {")
        for r in self.p.marks:
            self.line(f"XQ_M_{r},", 1)
        self.line("};")
        self.line("static __always_inline void xdpq_mark(__u32 r, __u32 len)\n{\n"
                  "\t(void)r;\n\t(void)len;\n\tlongjmp(xq_fail, XQ_FAIL_MARK);\n}")
        self.line()

    def classify_start(self) -> None:
        """classify on a packet the simulator hands over (``xq_classify``)."""
        self.line("static __always_inline int xq_classify(const struct xdpq_pkt *xq_pkt, "
                  "struct xdpq_meta *m, __u64 now)\n{")
        self.line("const struct xdpq_pkt pkt = *xq_pkt;", 1)

    def claim(self) -> None:
        """xdpq_claim_ip's answer on a parsed packet: not the program's if it did not
        parse, or is not IP."""
        self.line()
        self.line("if (pkt.status)\n\t\treturn XDPQ_MALFORMED;", 1)
        self.line("if (!pkt.ip_ver)\n\t\treturn XDPQ_UNCLAIMED;", 1)

    def epilogue(self) -> None:
        """``xq_params``: the run's parameters (in the program's order, a table's values
        one after the other)."""
        self.line("static void xq_params(const __u64 *params)\n{")
        self.line("__u32 i;\n", 1)
        self.line("(void)i;", 1)
        self.line("(void)params;", 1)
        k = 0
        for prm in self.p.params:
            if prm.count is None:
                self.line(f"xq_p_{prm.name} = params[{k}];", 1)
                k += 1
            else:
                self.line(f"for (i = 0; i < {prm.count}; i++)", 1)
                self.line(f"xq_p_{prm.name}[i] = params[{k} + i];", 2)
                k += prm.count
        self.line("}")


def generate_host(prog: ir.Program) -> str:
    """The userspace C of a scheduler: the program over kern/, and ``xq_params``."""
    return HostEmitter(prog, f"{prog.name}.c").program()
