"""The scheduler's own test-and-set lock is safe on the running kernel.

kern/queue_common.h takes a test-and-set lock instead of bpf_spin_lock only
where no taker can be interrupted on its CPU by another: in particular the
scheduler's timer (a softirq) must not run inside a plain ``BPF_PROG_RUN`` of
an XDP program from user space (the flush, the stepper, tests), which holds
the lock in process context. kern/test/bh_probe.bpf.c arms a softirq timer on
its CPU and spins, watching for it. The other half, the lock under load
beside the live timer, is tests/test_concurrency.py's.
"""

from __future__ import annotations

import ctypes
import subprocess

import pytest
from verbs import wait_for

from conftest import REPO
from xdpq.bpf import BpfObject, compile_bpf, libbpf, xdp_ctx

pytestmark = pytest.mark.kernel
RUNS = 5


def _probe(obj: BpfObject, prog: str) -> list[dict[str, int]]:
    seen = []
    for _ in range(RUNS):
        if prog == "probe_xdp":
            obj.prog(prog).run(bytes(64), ctx=xdp_ctx(64))
        else:  # a syscall program takes no repeat, data or ctx_out
            opts = libbpf.TestRunOpts(sz=ctypes.sizeof(libbpf.TestRunOpts))
            assert libbpf.lib().bpf_prog_test_run_opts(obj.prog(prog).fd, ctypes.byref(opts)) == 0
        wait_for(lambda: obj.section(".bss")["fired"])  # in whichever context it could
        bss = obj.section(".bss")
        seen.append({k: bss[k] for k in ("fired", "inside", "run_cpu", "fired_cpu", "tas")})
    return seen


def test_the_timer_cannot_interrupt_a_bpf_prog_run_that_may_hold_the_lock():
    with BpfObject(compile_bpf(REPO / "kern/test/bh_probe.bpf.c")).load() as obj:
        control = _probe(obj, "probe_syscall")
        xdp = _probe(obj, "probe_xdp")
    # The probe sees the timer when it can run: in process context it fires on the
    # spinning CPU, inside the spin (every run on a quiet CPU; one suffices).
    assert all(s["fired"] for s in control), control
    assert any(s["inside"] and s["fired_cpu"] == s["run_cpu"] for s in control), control
    assert all(s["fired"] for s in xdp), xdp
    # Where the kernel has struct bpf_net_context, the programs take the test-and-set
    # lock, and there the timer never runs inside; elsewhere they take bpf_spin_lock.
    assert bool(xdp[0]["tas"]) == _has_bpf_net_context()
    if xdp[0]["tas"]:
        assert not any(s["inside"] for s in xdp), xdp


def _has_bpf_net_context() -> bool:
    """Whether the running kernel's BTF has the type the lock's choice asks for."""
    out = subprocess.run(["bpftool", "btf", "dump", "file", "/sys/kernel/btf/vmlinux"],
                         capture_output=True, text=True, check=True).stdout
    return "STRUCT 'bpf_net_context'" in out
