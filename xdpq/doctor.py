"""``xdpq doctor``: can this machine run the xdpq datapath?

Each check probes for real — loading tiny programs from kern/probes/ and
running them — and says what to do when it fails. A check that depends on
one that failed says so instead of failing in a confusing way.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from xdpq.bpf import BpfObject, RingBuffer, build, compile_bpf, libbpf, xdp_ctx
from xdpq.errors import XdpqError

MIN_KERNEL = (6, 3)
MIN_CLANG = 14
CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_BPF = 12, 21, 39
PROBES = build.KERN_DIR / "probes"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    remedy: str = ""
    required: bool = True


class Failed(Exception):
    """A probe's failure: its detail and, if known, the remedy."""

    def __init__(self, detail: str, remedy: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.remedy = remedy


def _version(text: str) -> tuple[int, ...]:
    m = re.search(r"(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def check_kernel() -> str:
    release = os.uname().release
    if _version(release) < MIN_KERNEL:
        raise Failed(f"kernel {release}", "boot Linux 6.3 or newer")
    return f"Linux {release}"


def check_btf() -> str:
    if not build.KERNEL_BTF.exists():
        raise Failed(f"{build.KERNEL_BTF} missing", "boot a kernel with CONFIG_DEBUG_INFO_BTF=y")
    return str(build.KERNEL_BTF)


def check_privileges() -> str:
    status = Path("/proc/self/status").read_text()
    eff = int(re.search(r"^CapEff:\s*([0-9a-f]+)", status, re.M).group(1), 16)  # type: ignore[union-attr]
    has = {c: bool(eff >> c & 1) for c in (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN)}
    missing = []
    if not (has[CAP_BPF] or has[CAP_SYS_ADMIN]):
        missing.append("CAP_BPF")
    if not has[CAP_NET_ADMIN]:
        missing.append("CAP_NET_ADMIN")
    if missing:
        raise Failed(f"missing {', '.join(missing)}", "run as root (sudo xdpq …)")
    return "CAP_BPF and CAP_NET_ADMIN"


def check_jit() -> str:
    try:
        value = Path("/proc/sys/net/core/bpf_jit_enable").read_text().strip()
    except OSError as exc:
        raise Failed(f"cannot read bpf_jit_enable: {exc.strerror}", "run as root") from None
    if value == "0":
        raise Failed("the BPF JIT is off", "sysctl -w net.core.bpf_jit_enable=1")
    return f"bpf_jit_enable={value}"


def check_clang() -> str:
    try:
        out = subprocess.run([build.tool("clang"), "--version"], capture_output=True, text=True)
    except XdpqError as exc:
        raise Failed(str(exc), "apt-get install clang llvm") from None
    major = _version(out.stdout)[0]
    if major < MIN_CLANG:
        raise Failed(f"clang {major}", f"install clang {MIN_CLANG} or newer")
    return out.stdout.splitlines()[0]


def check_bpftool() -> str:
    try:
        return build.tool("bpftool")
    except XdpqError:
        raise Failed(
            "bpftool not found", "apt-get install bpftool (Ubuntu: linux-tools-common)"
        ) from None


def check_libbpf() -> str:
    try:
        major, minor = libbpf.version()
    except XdpqError as exc:
        raise Failed(str(exc), "apt-get install libbpf1") from None
    return f"libbpf {major}.{minor}"


def check_bpffs() -> str:
    mounts = Path("/proc/mounts").read_text().split("\n")
    if not any(f.split()[1:3] == ["/sys/fs/bpf", "bpf"] for f in mounts if f):
        raise Failed("no bpffs at /sys/fs/bpf", "mount -t bpf bpf /sys/fs/bpf")
    return "/sys/fs/bpf"


def _load(name: str) -> BpfObject:
    obj = BpfObject(compile_bpf(PROBES / f"{name}.bpf.c"))
    try:
        return obj.load()
    except XdpqError as exc:
        obj.close()
        raise Failed(str(exc).splitlines()[0], "needs Linux 6.3 or newer") from None


def _run(obj: BpfObject, prog: str) -> None:
    frame = bytes(64)
    res = obj.prog(prog).run(frame, ctx=xdp_ctx(len(frame)))
    if res.retval != 2:
        raise Failed(f"{prog} returned {res.retval}")


def check_timer() -> str:
    with _load("timer") as obj:
        _run(obj, "probe_timer")
        deadline = time.monotonic() + 1.0
        while obj.section(".bss")["probe_fired"] == 0:
            if time.monotonic() > deadline:
                raise Failed("the timer was armed but its callback never ran")
            time.sleep(0.001)
    return "armed from XDP, callback ran"


def check_rbtree() -> str:
    with _load("rbtree") as obj:
        _run(obj, "probe_rbtree")
        order = obj.section(".bss")["probe_order"]
    if order != 21:
        raise Failed(f"rbtree returned slots in order {order}, expected 21")
    return "bpf_obj_new, bpf_rbtree_add/first/remove under bpf_spin_lock"


def check_queue_map() -> str:
    with _load("queue") as obj:
        _run(obj, "probe_queue_map")
        order = obj.section(".bss")["probe_order"]
    if order != 12:
        raise Failed(f"queue map returned order {order}, expected 12")
    return "BPF_MAP_TYPE_QUEUE keeps arrival order"


def check_ringbuf() -> str:
    got: list[bytes] = []
    with _load("ringbuf") as obj, RingBuffer(obj.map("probe_ring"), got.append) as rb:
        _run(obj, "probe_ringbuf")
        if not select.select([rb.fd], [], [], 1.0)[0]:
            raise Failed("the ring buffer's fd did not wake")
        rb.consume()
    if len(got) != 1:
        raise Failed(f"{len(got)} records consumed, expected 1")
    return "record produced, fd woke, record consumed"


def check_veth_path() -> list[Check]:
    """XDP on veth, xdp-features, and live-frame redirect into ndo_xdp_xmit."""
    from xdpq.net.netdev import REQUIRED, xdp_features
    from xdpq.net.veth import veth_pair

    checks = []
    frames = 64
    with veth_pair("xqdoc") as veth, _load_redirect(veth.ifindex) as obj:
        link = obj.prog("probe_count").attach_xdp(veth.peer_ifindex)
        try:
            checks.append(Check("XDP on veth", True, f"attached to {veth.peer} via bpf_link"))
            feats = xdp_features(veth.ifindex)
            names = ", ".join(f.name.lower() for f in type(feats) if f in feats)
            ok = REQUIRED in feats
            checks.append(Check(
                "xdp-features", ok, f"{veth.name}: {names}",
                "" if ok else "the egress driver must advertise basic, redirect and ndo_xmit",
            ))
            frame = bytes(12) + (0x88B5).to_bytes(2, "big") + bytes(50)
            obj.prog("probe_redirect").run_live(
                frame, repeat=frames, ctx=xdp_ctx(len(frame), ifindex=veth.ifindex)
            )
            got = obj.section(".bss")["probe_received"]
            checks.append(Check(
                "live-frame redirect", got == frames,
                f"{got} of {frames} frames reached the peer through ndo_xdp_xmit",
                "" if got == frames else "needs BPF_F_TEST_XDP_LIVE_FRAMES (Linux 5.18+)",
            ))
        finally:
            link.destroy()
    return checks


def _load_redirect(egress: int) -> BpfObject:
    obj = BpfObject(compile_bpf(PROBES / "redirect.bpf.c"))
    try:
        obj.section(".rodata")["probe_egress"] = egress
        return obj.load()
    except XdpqError as exc:
        obj.close()
        raise Failed(str(exc).splitlines()[0]) from None


BASICS: list[tuple[str, Callable[[], str], bool]] = [
    ("kernel", check_kernel, True),
    ("BTF", check_btf, True),
    ("privileges", check_privileges, True),
    ("BPF JIT", check_jit, False),
    ("clang", check_clang, True),
    ("bpftool", check_bpftool, True),
    ("libbpf", check_libbpf, True),
    ("bpffs", check_bpffs, False),
]
PROBE_CHECKS: list[tuple[str, Callable[[], str]]] = [
    ("bpf_timer in XDP", check_timer),
    ("bpf_rbtree", check_rbtree),
    ("queue map", check_queue_map),
    ("ring buffer", check_ringbuf),
]
VETH_CHECKS = ("XDP on veth", "xdp-features", "live-frame redirect")


def _attempt(name: str, fn: Callable[[], str], required: bool = True) -> Check:
    try:
        return Check(name, True, fn(), required=required)
    except Failed as f:
        return Check(name, False, f.detail, f.remedy, required)
    except (XdpqError, OSError) as exc:
        return Check(name, False, str(exc).splitlines()[0], required=required)


def run_checks() -> list[Check]:
    checks = [_attempt(name, fn, req) for name, fn, req in BASICS]
    blocked = [c.name for c in checks if not c.ok and c.name in ("privileges", "BTF", "clang",
                                                                   "libbpf", "bpftool")]
    if blocked:
        why = f"not checked: needs {', '.join(blocked)}"
        checks += [Check(n, False, why) for n, _ in PROBE_CHECKS]
        checks += [Check(n, False, why) for n in VETH_CHECKS]
        return checks
    checks += [_attempt(name, fn) for name, fn in PROBE_CHECKS]
    try:
        checks += check_veth_path()
    except (Failed, XdpqError, OSError) as exc:
        detail = exc.detail if isinstance(exc, Failed) else str(exc).splitlines()[0]
        checks += [Check(n, False, detail) for n in VETH_CHECKS]
    return checks


def as_json(checks: list[Check]) -> list[dict[str, object]]:
    return [asdict(c) for c in checks]


def healthy(checks: list[Check]) -> bool:
    return all(c.ok for c in checks if c.required)
