"""``xdpq doctor``: can this machine run the xdpq datapath?

Every check probes for real: the kernel features are tested by compiling,
loading and running the tiny programs in ``kern/probes/`` (one concern each),
and the veth path by sending frames through a veth pair that the doctor
creates and always removes. A check whose prerequisite failed is reported as
"not checked: needs …" instead of failing in a confusing way, and a failing
check says what to do about it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import select
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from xdpq.bpf import BpfObject, Link, RingBuffer, build, compile_bpf, xdp_ctx
from xdpq.errors import BuildError, LoadError, XdpqError
from xdpq.net import host
from xdpq.net.netdev import XdpFeature, feature_names, xdp_features
from xdpq.resources import kern_dir
from xdpq.runtime import registry

MIN_KERNEL = (6, 3)
MIN_CLANG = 14
MIN_LIBBPF = (1, 1)
BPF_JIT_ENABLE = Path("/proc/sys/net/core/bpf_jit_enable")
# Veth pairs are named VETH_PREFIX + pid + "a"/"b": unique per run, and a pair
# left by a doctor that was killed outright is recognisable and removed.
VETH_PREFIX = "xqdoc"
XDP_PASS = 2
BPF_PROG_TYPE_XDP = 6
REDIRECT_FRAMES = 64
PROBE_ETHERTYPE = 0x88B5  # IEEE 802 local experimental; matches kern/probes/redirect.bpf.c
PROBE_MAGIC = b"xdpq"
WAIT_S = 1.0  # how long a probe waits for the kernel to act (timer, ring buffer)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One line of the doctor's report."""

    name: str
    ok: bool
    detail: str
    remedy: str = ""
    required: bool = True


def passed(name: str, detail: str) -> CheckResult:
    return CheckResult(name, True, detail)


def failed(name: str, detail: str, remedy: str) -> CheckResult:
    return CheckResult(name, False, detail, remedy)


# -- the machine and its tools ------------------------------------------------------------


def version_tuple(text: str) -> tuple[int, int]:
    """The first ``MAJOR.MINOR`` in ``text``, or (0, 0)."""
    m = re.search(r"(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def check_kernel(env: Env) -> CheckResult:
    release = os.uname().release
    if version_tuple(release) < MIN_KERNEL:
        return failed("kernel", f"Linux {release}, older than 6.3",
                      "boot Linux 6.3 or newer (e.g. the distribution's backports kernel)")
    return passed("kernel", f"Linux {release}")


def check_btf(env: Env) -> CheckResult:
    btf = build.KERNEL_BTF
    if not btf.exists():
        return failed("BTF", f"{btf} is missing",
                      "boot a kernel built with CONFIG_DEBUG_INFO_BTF=y")
    if not os.access(btf, os.R_OK):
        return failed("BTF", f"{btf} is not readable", "run as root")
    return passed("BTF", f"{btf} ({btf.stat().st_size // 1024} KiB)")


def check_privileges(env: Env) -> CheckResult:
    eff = host.effective_capabilities()
    missing = host.missing_capabilities(eff)
    if missing:
        return failed(
            "privileges", f"missing {', '.join(missing)} (CapEff {eff:016x})",
            f"run as root (sudo xdpq doctor), or grant {host.NEEDED} "
            "(containers: --cap-add NET_ADMIN --cap-add BPF --cap-add PERFMON)",
        )
    return passed("privileges", ", ".join(
        name if eff >> cap & 1 else f"{name} (by CAP_SYS_ADMIN)"
        for name, cap, _ in host.CAPABILITIES))


def _libbpf() -> ctypes.CDLL:
    name = ctypes.util.find_library("bpf") or "libbpf.so.1"
    try:
        return ctypes.CDLL(name, use_errno=True)
    except OSError as exc:
        raise XdpqError(f"cannot load {name}: {exc}") from None


def check_libbpf(env: Env) -> CheckResult:
    remedy = "apt-get install libbpf1 libbpf-dev (1.1 or newer)"
    try:
        so = _libbpf()
    except XdpqError as exc:
        return failed("libbpf", str(exc), remedy)
    found = (so.libbpf_major_version(), so.libbpf_minor_version())
    if found < MIN_LIBBPF:
        return failed("libbpf", f"libbpf {found[0]}.{found[1]}, older than 1.1", remedy)
    headers = [Path(d) / "bpf" / "bpf_helpers.h" for d in ("/usr/include", "/usr/local/include")]
    if not any(h.exists() for h in headers):
        return failed("libbpf", f"libbpf {found[0]}.{found[1]}, but no bpf/bpf_helpers.h",
                      "apt-get install libbpf-dev")
    return passed("libbpf", f"libbpf {found[0]}.{found[1]}")


def check_bpf_syscall(env: Env) -> CheckResult:
    probe = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p, use_errno=True)(
        ("libbpf_probe_bpf_prog_type", _libbpf())
    )
    rc = probe(BPF_PROG_TYPE_XDP, None)
    if rc == 1:
        return passed("BPF syscall", "loaded a minimal XDP program")
    why = "XDP programs unsupported" if rc == 0 else os.strerror(-rc)
    return failed("BPF syscall", f"bpf(BPF_PROG_LOAD) failed: {why}",
                  "needs a kernel with CONFIG_BPF_SYSCALL=y and CONFIG_XDP_SOCKETS, "
                  "and the privileges above (check kernel.unprivileged_bpf_disabled, LSMs)")


def check_jit(env: Env) -> CheckResult:
    try:
        value = BPF_JIT_ENABLE.read_text().strip()
    except OSError as exc:
        return failed("BPF JIT", f"cannot read {BPF_JIT_ENABLE}: {exc.strerror}",
                      "needs a kernel with CONFIG_BPF_JIT=y")
    if value == "0":
        return failed("BPF JIT", "the BPF JIT is off (kfuncs and timers need it)",
                      "sysctl -w net.core.bpf_jit_enable=1")
    return passed("BPF JIT", f"net.core.bpf_jit_enable={value}")


def check_clang(env: Env) -> CheckResult:
    remedy = f"apt-get install clang llvm (clang {MIN_CLANG} or newer)"
    try:
        out = subprocess.run([build.tool("clang"), "--version"], capture_output=True,
                             text=True, timeout=30)
    except (BuildError, OSError, subprocess.TimeoutExpired) as exc:
        return failed("clang", str(exc), remedy)
    m = re.search(r"clang version (\d+)\.(\d+)", out.stdout)
    if m is None:
        return failed("clang", f"cannot tell clang's version from {out.stdout[:80]!r}", remedy)
    if int(m.group(1)) < MIN_CLANG:
        return failed("clang", f"clang {m.group(1)}.{m.group(2)}", remedy)
    return passed("clang", f"clang {m.group(1)}.{m.group(2)}")


def check_bpftool(env: Env) -> CheckResult:
    remedy = "apt-get install bpftool (Ubuntu: linux-tools-common linux-tools-$(uname -r))"
    try:
        path = build.tool("bpftool")
        out = subprocess.run([path, "version"], capture_output=True, text=True, timeout=30)
    except (BuildError, OSError, subprocess.TimeoutExpired) as exc:
        return failed("bpftool", str(exc), remedy)
    if out.returncode != 0:
        return failed("bpftool", f"{path} version failed: {out.stderr.strip()[:120]}", remedy)
    first = out.stdout.splitlines()[0] if out.stdout else path
    return passed("bpftool", first if first.startswith(path) else f"{path}: {first}")


def check_bpffs(env: Env) -> CheckResult:
    root = registry.pin_root()
    problem = host.bpffs_problem(root)
    if problem:
        return failed("bpffs", problem, host.BPFFS_REMEDY)
    return passed("bpffs", f"{root} is on the BPF file system mounted at {host.mount_of(root)[0]}")


# -- kernel features, by loading and running probes -----------------------------------------


def _probe(env: Env, name: str, rodata: dict[str, int] | None = None) -> BpfObject:
    """Compile and load ``kern/probes/<name>.bpf.c``; closed when the run ends."""
    obj = env.enter(BpfObject(compile_bpf(kern_dir() / "probes" / f"{name}.bpf.c")))
    for var, value in (rodata or {}).items():
        obj.section(".rodata")[var] = value
    return obj.load()


def _run_once(obj: BpfObject, prog: str) -> int:
    frame = bytes(64)
    return obj.prog(prog).run(frame, ctx=xdp_ctx(len(frame))).retval


def _signed(value: int, bits: int = 64) -> int:
    return value - (1 << bits) if value >> (bits - 1) else value


def check_timer(env: Env) -> CheckResult:
    obj = _probe(env, "timer")
    if _run_once(obj, "xdpq_probe_timer") != XDP_PASS:
        return failed("bpf_timer in XDP", "bpf_timer_init/set_callback/start failed in XDP",
                      "needs Linux 6.3+ with bpf_timer for XDP programs")
    bss = obj.section(".bss")
    if not env.wait_until(lambda: bss["xdpq_probe_fired"] > 0):
        return failed("bpf_timer in XDP", f"armed, but the callback did not run within {WAIT_S}s",
                      "needs a kernel whose bpf_timer callbacks fire (hrtimers working)")
    delay_us = (bss["xdpq_probe_fired_ns"] - bss["xdpq_probe_armed_ns"]) / 1000
    return passed("bpf_timer in XDP", f"armed from XDP; callback ran {delay_us:.0f} us later")


def check_rbtree(env: Env) -> CheckResult:
    obj = _probe(env, "rbtree")
    ret = _run_once(obj, "xdpq_probe_rbtree")
    bss = obj.section(".bss")
    order, count = bss["xdpq_probe_order"], bss["xdpq_probe_count"]
    if ret != XDP_PASS or (order, count) != (123, 3):
        return failed("bpf_rbtree", f"bpf_obj_new or the rbtree misbehaved (returned {ret}, "
                      f"order {order}, {count} nodes)", "needs Linux 6.4 or newer")
    return passed("bpf_rbtree", "bpf_obj_new, bpf_rbtree_add/first/remove under bpf_spin_lock "
                  "(rank order kept)")


def check_rbtree_walk(env: Env) -> CheckResult:
    obj = _probe(env, "rbwalk")  # a kernel without the kfuncs refuses it: run_one says so
    ret = _run_once(obj, "xdpq_probe_rbwalk")
    bss = obj.section(".bss")
    walk, order = bss["xdpq_probe_walk"], bss["xdpq_probe_order"]
    if ret != XDP_PASS or (walk, order) != (213, 123):
        return failed("rbtree walk", f"the walk misbehaved (returned {ret}, root, left and "
                      f"right {walk}, order {order})", "needs Linux 6.16 or newer")
    return passed("rbtree walk", "bpf_rbtree_root/left/right: arrays of rbtrees and "
                  "push-out from an rbtree can be used")


def check_queue_map(env: Env) -> CheckResult:
    obj = _probe(env, "queue")
    ret = _run_once(obj, "xdpq_probe_queue_map")
    bss = obj.section(".bss")
    order = bss["xdpq_probe_order"]
    full, empty = _signed(bss["xdpq_probe_full"]), _signed(bss["xdpq_probe_empty"])
    if ret != XDP_PASS or order != 123 or full >= 0 or empty >= 0:
        return failed("queue map", f"BPF_MAP_TYPE_QUEUE misbehaved (returned {ret}, order "
                      f"{order}, push when full {full}, pop when empty {empty})",
                      "needs Linux 4.20+ with BPF_MAP_TYPE_QUEUE")
    return passed("queue map", "BPF_MAP_TYPE_QUEUE: arrival order, full and empty refused")


def check_ringbuf(env: Env) -> CheckResult:
    obj = _probe(env, "ringbuf")
    records: list[bytes] = []
    rb = env.enter(RingBuffer(obj.map("xdpq_probe_ring"), records.append))
    if _run_once(obj, "xdpq_probe_ringbuf") != XDP_PASS:
        return failed("ring buffer", "bpf_ringbuf_reserve failed in XDP",
                      "needs Linux 5.8+ with BPF_MAP_TYPE_RINGBUF")
    if not select.select([rb.fd], [], [], WAIT_S)[0]:
        return failed("ring buffer", f"a record was submitted but the fd did not wake in {WAIT_S}s",
                      "needs ring buffer wake-ups (Linux 5.8+)")
    rb.consume()
    want = struct.pack("=QQ", int.from_bytes(b"xdpqring", "big"), 1)
    if records != [want]:
        return failed("ring buffer", f"consumed {records!r}, expected one record {want!r}",
                      "report a bug: the ring buffer returned the wrong data")
    return passed("ring buffer", "record produced in XDP, fd woke, record consumed")


# -- the veth path ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Veth:
    """The doctor's veth pair: frames are redirected into ``name`` and arrive at ``peer``."""

    name: str
    ifindex: int
    peer: str
    peer_ifindex: int


def veth_names(pid: int) -> tuple[str, str]:
    return f"{VETH_PREFIX}{pid}a", f"{VETH_PREFIX}{pid}b"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def veth_pair(pid: int | None = None) -> Iterator[Veth]:
    """A fresh veth pair, both ends up; deleted on the way out, whatever happens.

    Pairs left by a doctor that was killed outright (its pid is gone) are
    removed first.
    """
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    a, b = veth_names(os.getpid() if pid is None else pid)
    stale = re.compile(rf"^{VETH_PREFIX}(\d+)[ab]$")
    with IPRoute() as ip:
        for link in ip.get_links():
            m = stale.match(link.get_attr("IFLA_IFNAME") or "")
            if m and not _pid_alive(int(m.group(1))):
                with suppress(NetlinkError):  # gone already with its other end
                    ip.link("del", index=link["index"])
        ip.link("add", ifname=a, kind="veth", peer=b)
        try:
            ia, ib = ip.link_lookup(ifname=a)[0], ip.link_lookup(ifname=b)[0]
            ip.link("set", index=ia, state="up")
            ip.link("set", index=ib, state="up")
            yield Veth(a, ia, b, ib)
        finally:
            for idx in ip.link_lookup(ifname=a) or ip.link_lookup(ifname=b):
                ip.link("del", index=idx)  # deleting one end deletes the pair


@dataclass(slots=True)
class VethPath:
    """The veth pair with the redirect probe loaded and its counter on the peer."""

    veth: Veth
    obj: BpfObject
    link: Link
    features_before: XdpFeature | None


def check_xdp_on_veth(env: Env) -> CheckResult:
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        veth = env.enter(veth_pair())
    except NetlinkError as exc:
        return failed("XDP on veth", f"cannot create a veth pair: {exc}",
                      "needs the veth driver (modprobe veth) and CAP_NET_ADMIN")
    try:
        before: XdpFeature | None = xdp_features(veth.ifindex)
    except XdpqError:
        before = None  # reported by the xdp-features check
    obj = _probe(env, "redirect", {"xdpq_probe_egress": veth.ifindex})
    link = env.enter(obj.prog("xdpq_probe_count").attach_xdp(veth.peer_ifindex))
    env.veth_path = VethPath(veth, obj, link, before)
    return passed("XDP on veth", f"counter attached to {veth.peer} through a bpf_link")


def check_xdp_features(env: Env) -> CheckResult:
    path = env.need_veth_path()
    feats = xdp_features(path.veth.ifindex)
    detail = f"{path.veth.name}: {feature_names(feats)}"
    gained = feats & ~path.features_before if path.features_before is not None else 0
    if gained:
        detail += f" ({feature_names(XdpFeature(gained))} once the peer has an XDP program)"
    missing = host.missing_egress_features(feats)
    if missing:
        return failed("xdp-features", f"{detail}; missing {feature_names(missing)}",
                      host.egress_remedy("veth", path.veth.peer))
    return passed("xdp-features", detail)


def probe_frame() -> bytes:
    """A 64-byte frame the peer's counter recognises (ethertype and magic)."""
    dst, src = b"\x02\x00\x00\x00\x00\x02", b"\x02\x00\x00\x00\x00\x01"
    head = dst + src + PROBE_ETHERTYPE.to_bytes(2, "big") + PROBE_MAGIC
    return head + bytes(64 - len(head))


def check_live_redirect(env: Env) -> CheckResult:
    path = env.need_veth_path()
    frame = probe_frame()
    path.obj.prog("xdpq_probe_redirect").run_live(
        frame, repeat=REDIRECT_FRAMES, ctx=xdp_ctx(len(frame), ifindex=path.veth.ifindex)
    )
    got = path.obj.section(".bss")["xdpq_probe_received"]
    detail = (f"{got} of {REDIRECT_FRAMES} frames redirected into {path.veth.name} "
              f"arrived at {path.veth.peer}")
    if got != REDIRECT_FRAMES:
        return failed("live-frame redirect", detail,
                      "needs BPF_F_TEST_XDP_LIVE_FRAMES (Linux 5.18+) and a driver whose "
                      "ndo_xdp_xmit accepts frames (for veth: an XDP program on the peer)")
    return passed("live-frame redirect", detail)


# -- running the checks ----------------------------------------------------------------------


@dataclass(slots=True)
class Env:
    """What the checks of one run share; everything it holds is released by :meth:`close`."""

    stack: ExitStack = field(default_factory=ExitStack)
    veth_path: VethPath | None = None
    cleanup_errors: list[str] = field(default_factory=list)

    def enter(self, resource: AbstractContextManager[T]) -> T:
        """Keep ``resource`` until the run ends; returns what its ``__enter__`` gives."""
        return self.stack.enter_context(resource)

    def need_veth_path(self) -> VethPath:
        if self.veth_path is None:
            raise XdpqError("the veth pair was not set up")
        return self.veth_path

    def wait_until(self, cond: Callable[[], bool], timeout: float = WAIT_S) -> bool:
        """Poll ``cond`` every millisecond until it holds or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.001)
        return True

    def close(self) -> None:
        """Release everything, newest first; a failure is recorded, never raised."""
        while True:
            try:
                self.stack.close()
                return
            except Exception as exc:
                self.cleanup_errors.append(_brief(exc))


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """A check in the doctor's list: what it needs, and what to do when it raises."""

    name: str
    run: Callable[[Env], CheckResult]
    needs: tuple[str, ...] = ()
    required: bool = True
    remedy: str = ""


TOOLCHAIN = ("BTF", "privileges", "libbpf", "BPF syscall", "clang", "bpftool")

CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec("kernel", check_kernel),
    CheckSpec("BTF", check_btf),
    CheckSpec("privileges", check_privileges),
    CheckSpec("libbpf", check_libbpf),
    CheckSpec("BPF syscall", check_bpf_syscall, ("privileges", "libbpf")),
    CheckSpec("BPF JIT", check_jit),
    CheckSpec("clang", check_clang),
    CheckSpec("bpftool", check_bpftool),
    CheckSpec("bpffs", check_bpffs),
    CheckSpec("bpf_timer in XDP", check_timer, TOOLCHAIN,
              remedy="needs Linux 6.3+ (bpf_timer callbacks in XDP programs)"),
    CheckSpec("bpf_rbtree", check_rbtree, (*TOOLCHAIN, "BPF JIT"),
              remedy="needs Linux 6.4+ (bpf_obj_new, bpf_rbtree_* kfuncs)"),
    CheckSpec("rbtree walk", check_rbtree_walk, ("bpf_rbtree",), required=False,
              remedy="needs Linux 6.16+ (bpf_rbtree_root/left/right) for arrays of rbtrees "
              "and push-out from an rbtree; everything else works without"),
    CheckSpec("queue map", check_queue_map, TOOLCHAIN,
              remedy="needs BPF_MAP_TYPE_QUEUE (Linux 4.20+)"),
    CheckSpec("ring buffer", check_ringbuf, TOOLCHAIN,
              remedy="needs BPF_MAP_TYPE_RINGBUF (Linux 5.8+)"),
    CheckSpec("XDP on veth", check_xdp_on_veth, TOOLCHAIN,
              remedy="needs veth with XDP and bpf_link XDP attach (Linux 5.9+)"),
    CheckSpec("xdp-features", check_xdp_features, ("XDP on veth",),
              remedy="needs the netdev generic-netlink family (Linux 6.3+)"),
    CheckSpec("live-frame redirect", check_live_redirect, ("XDP on veth",),
              remedy="needs BPF_F_TEST_XDP_LIVE_FRAMES (Linux 5.18+)"),
)


def _brief(exc: BaseException, lines: int = 3) -> str:
    text = str(exc).strip() or type(exc).__name__
    kept = [ln for ln in text.splitlines() if ln.strip()][:lines]
    return "\n".join(kept)


NOT_CHECKED = "not checked: needs "


def run_one(spec: CheckSpec, env: Env, blocked: list[str]) -> CheckResult:
    """Run one check, or, when ``blocked`` names failed checks it needs, say so.

    Never raises, except for KeyboardInterrupt and SystemExit.
    """
    if blocked:
        missing = blocked
        return CheckResult(spec.name, False, NOT_CHECKED + ", ".join(missing),
                           f"fix {', '.join(missing)} first", spec.required)
    try:
        result = spec.run(env)
    except BuildError as exc:
        result = failed(spec.name, _brief(exc, 4),
                        "the probe did not compile: check clang, libbpf-dev and the BTF")
    except LoadError as exc:
        result = failed(spec.name, _brief(exc, 4), spec.remedy or "the verifier refused it")
    except XdpqError as exc:
        result = failed(spec.name, _brief(exc), spec.remedy)
    except Exception as exc:  # a bug of ours: report it on the line, never as a traceback
        result = failed(spec.name, f"unexpected {type(exc).__name__}: {_brief(exc, 1)}",
                        "please report this with the output of `xdpq doctor --json`")
    return replace(result, name=spec.name, required=spec.required)


def run_checks(checks: tuple[CheckSpec, ...] = CHECKS) -> list[CheckResult]:
    """Run every check in order; whatever a check set up is torn down before returning."""
    results: dict[str, CheckResult] = {}
    # For each failed check, the checks that really failed behind it: a check
    # blocked by a check that was itself not run names the original cause.
    causes: dict[str, list[str]] = {}
    env = Env()
    try:
        for spec in checks:
            blocked = list(dict.fromkeys(c for n in spec.needs for c in causes.get(n, [])))
            result = results[spec.name] = run_one(spec, env, blocked)
            if not result.ok:
                causes[spec.name] = blocked or [spec.name]
    finally:
        env.close()
    out = list(results.values())
    if env.cleanup_errors:
        out.append(failed("cleanup", "; ".join(env.cleanup_errors),
                          f"remove leftovers by hand: ip link del {VETH_PREFIX}<pid>a"))
    return out


def as_json(results: list[CheckResult]) -> list[dict[str, object]]:
    return [asdict(r) for r in results]


def healthy(results: list[CheckResult]) -> bool:
    """True when every required check passed."""
    return all(r.ok for r in results if r.required)
