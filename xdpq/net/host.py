"""What xdpq needs of the host, checked one way for ``xdpq doctor`` and ``xdpq deploy``.

- **Capabilities** (:data:`CAPABILITIES`): CAP_NET_ADMIN to attach XDP programs
  and read links, CAP_BPF to load programs and make maps, CAP_PERFMON for the
  ``tp_btf`` completion programs (tracing programs need it). CAP_SYS_ADMIN
  stands in for the last two, as it did before Linux 5.8 split them off.
- **A BPF file system** holding the pin root, where a deployment pins its
  maps for the other verbs. The caller names the pin root (the registry
  knows it, ``XDPQ_PIN_DIR`` moves it); the check reads this mount
  namespace's ``/proc/self/mountinfo``, so it sees what ``ip netns exec``
  hides.
- **Network namespaces**, entered by the calling thread only: ``setns(2)``
  moves the thread that calls it, and pyroute2's ``setns`` given a file
  descriptor is that system call. (Its ``pushns``/``popns`` are not used:
  they save ``/proc/self/ns/net``, the main thread's namespace, on one
  process-wide stack.)
- **An egress that takes redirected frames**: its driver advertises
  ``ndo-xmit`` in netdev xdp-features (see :mod:`xdpq.net.netdev`).
"""

from __future__ import annotations

import errno
import json
import os
import re
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pyroute2 import netns

from xdpq.errors import XdpqError
from xdpq.net.netdev import XdpFeature

# capability numbers (linux/capability.h)
CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF = 12, 21, 38, 39
# What the datapath needs, in the order messages name them, and whether
# CAP_SYS_ADMIN grants it too.
CAPABILITIES = (("CAP_NET_ADMIN", CAP_NET_ADMIN, False), ("CAP_BPF", CAP_BPF, True),
                ("CAP_PERFMON", CAP_PERFMON, True))
NEEDED = "CAP_NET_ADMIN, CAP_BPF and CAP_PERFMON"
BPFFS = Path("/sys/fs/bpf")
NETNS_DIR = Path("/run/netns")
THREAD_NETNS = "/proc/thread-self/ns/net"
# The transmitter redirects every frame into the egress driver's ndo_xdp_xmit.
EGRESS_FEATURES = XdpFeature.NDO_XMIT


# -- capabilities ------------------------------------------------------------------------


def effective_capabilities(status: str | None = None) -> int:
    """The CapEff mask from the text of ``/proc/<pid>/status`` (this process's when None)."""
    if status is None:
        status = Path("/proc/self/status").read_text()
    m = re.search(r"^CapEff:\s*([0-9a-fA-F]+)\s*$", status, re.M)
    if m is None:
        raise XdpqError("no CapEff line in /proc/self/status")
    return int(m.group(1), 16)


def missing_capabilities(cap_eff: int) -> list[str]:
    """Which of :data:`CAPABILITIES` a process with ``cap_eff`` lacks."""
    def has(cap: int) -> bool:
        return bool(cap_eff >> cap & 1)

    return [name for name, cap, by_sys_admin in CAPABILITIES
            if not (has(cap) or (by_sys_admin and has(CAP_SYS_ADMIN)))]


def check_capabilities(verb: str,
                       does: str = "loads BPF programs and attaches them to interfaces") -> None:
    """Refuse, naming what is missing, unless this process may run the datapath."""
    missing = missing_capabilities(effective_capabilities())
    if missing:
        who = "root" if os.geteuid() == 0 else f"uid {os.geteuid()}"
        raise XdpqError(
            f"not allowed: xdpq {verb} {does}, "
            f"which needs {NEEDED}; this process ({who}) lacks {', '.join(missing)}: "
            f"run it as root (sudo xdpq {verb} ...)")


# -- the BPF file system -------------------------------------------------------------------


def mount_of(path: Path) -> tuple[str, str]:
    """The mount point and file system type of the mount that holds ``path`` (which
    need not exist yet), in this process's mount namespace."""
    best, fstype = "", ""
    target = str(path)
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        mnt = left.split()[4].replace("\\040", " ")
        if (target == mnt or target.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
            best, fstype = mnt, right.split()[0]
    return best, fstype


def bpffs_problem(pin_root: Path) -> str | None:
    """Why maps cannot be pinned under ``pin_root`` (see :data:`BPFFS_REMEDY`), or None
    when a BPF file system holds it."""
    mnt, fstype = mount_of(pin_root)
    if fstype == "bpf":
        return None
    return (f"no BPF file system holds {pin_root} in this mount namespace ({mnt} is "
            f"{fstype}), so a deployment cannot pin its maps for the other verbs")


BPFFS_REMEDY = (f"mount -t bpf bpf {BPFFS} (or set XDPQ_PIN_DIR to a directory on it); note "
                "that 'ip netns exec' hides it: use 'xdpq deploy --netns NAME' (or nsenter "
                "--net=/run/netns/NAME) instead")


# -- network namespaces --------------------------------------------------------------------


def netns_inode() -> int:
    """Identifies the calling thread's network namespace."""
    return os.stat(THREAD_NETNS).st_ino


SO_NETNS_COOKIE = 71  # asm-generic/socket.h, Linux 5.14


def netns_cookie() -> int:
    """The calling thread's network namespace as the kernel's tracepoints see it
    (``dev->nd_net.net->net_cookie``): unlike the inode, never reused within a boot."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:  # made in the thread's
        return int.from_bytes(s.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE, 8), "little")


def _setns(fd: int, what: str) -> None:
    try:
        netns.setns(fd, flags=0)  # an fd: neither opened, created nor closed by pyroute2
    except OSError as exc:
        raise XdpqError(f"cannot enter network namespace {what}: {os.strerror(exc.errno or 0)}"
                        + (" (it takes CAP_SYS_ADMIN: run as root)"
                           if exc.errno == errno.EPERM else "")) from None


def enter_netns(ns: str | Path) -> None:
    """Move the calling thread (and the threads it starts later) into network namespace
    ``ns``: a name under /run/netns, or the path of a namespace file."""
    path = Path(ns) if "/" in str(ns) else NETNS_DIR / ns
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise XdpqError(f"no network namespace '{ns}' ({path} does not exist): "
                        "see ip netns list") from None
    try:
        _setns(fd, f"'{ns}'")
    finally:
        os.close(fd)


def ip_command(ns: str) -> str:
    """``ip`` as a user types it for the interfaces of network namespace ``ns`` ("": the
    caller's)."""
    return f"ip -n {ns}" if ns else "ip"


def in_netns_command(ns: str) -> str:
    """What runs a command in network namespace ``ns`` ("": the caller's, nothing)."""
    return f"ip netns exec {ns} " if ns else ""


def _named_namespaces() -> list[Path]:
    return sorted(NETNS_DIR.iterdir()) if NETNS_DIR.is_dir() else []


def _namespace_ids() -> dict[int, str]:
    """The named network namespaces by the id the caller's namespace has given them
    (``ip netns list``; a namespace gets one once a link of ours points into it)."""
    try:
        out = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True,
                             check=True).stdout
        return {e["id"]: e["name"] for e in json.loads(out or "[]") if "id" in e}
    except (OSError, subprocess.CalledProcessError, ValueError, KeyError, TypeError):
        return {}


def namespaces_holding(ifname: str) -> list[str]:
    """The named network namespaces (under /run/netns) that have an interface
    ``ifname``; those the caller cannot enter are left out."""
    from pyroute2 import IPRoute

    out = []
    for path in _named_namespaces():
        try:
            with in_netns(path), IPRoute() as ip:
                if ip.link_lookup(ifname=ifname):
                    out.append(path.name)
        except (XdpqError, OSError):
            continue
    return out


def veth_peer(ifindex: int) -> tuple[str, str | None]:
    """The name of the peer of veth ``ifindex`` (in the caller's namespace) and where it
    is: "" in the caller's namespace, else the name of the namespace under /run/netns;
    ("", None) when it cannot be found."""
    from pyroute2 import IPRoute

    with IPRoute() as ip:
        msg = ip.get_links(ifindex)[0]
        peer = msg.get_attr("IFLA_LINK") or 0
        nsid = msg.get_attr("IFLA_LINK_NETNSID")
        if nsid is None:
            found = ip.get_links(peer) if peer else []
            return (found[0].get_attr("IFLA_IFNAME"), "") if found else ("", None)
    # An ifindex is unique only within its namespace: another namespace may hold
    # a veth of the same index whose link points at the same index here. The id
    # our namespace knows the peer's by tells them apart, where it names one.
    named = _namespace_ids().get(nsid)
    for path in _named_namespaces():  # its link points back at us
        if named is not None and path.name != named:
            continue
        try:
            with in_netns(path), IPRoute() as ip:
                for m in ip.get_links():
                    if m["index"] == peer and m.get_attr("IFLA_LINK") == ifindex and \
                            m.get_attr("IFLA_LINK_NETNSID") is not None:
                        return m.get_attr("IFLA_IFNAME"), path.name
        except (XdpqError, OSError):
            continue
    return "", None


@contextmanager
def in_netns(ns: str | Path) -> Iterator[None]:
    """The calling thread in network namespace ``ns`` (see :func:`enter_netns`) for the
    body, then back in the one it was in."""
    back = os.open(THREAD_NETNS, os.O_RDONLY | os.O_CLOEXEC)
    try:
        enter_netns(ns)
        try:
            yield
        finally:
            _setns(back, "the thread came from")
    finally:
        os.close(back)


# -- the egress ----------------------------------------------------------------------------


def egress_remedy(kind: str, peer: str, peer_netns: str = "") -> str:
    """What makes an egress of ``kind`` take redirected frames; for a veth, a command
    that does it on its peer (named ``peer``, in network namespace ``peer_netns``)."""
    if kind == "veth":
        return (f"a veth accepts redirected frames only while its peer ({peer}) has an XDP "
                f"program attached or GRO on: e.g. {in_netns_command(peer_netns)}ethtool -K "
                f"{peer} gro on")
    return ("use an egress whose driver supports XDP_REDIRECT targets (e.g. mlx5, ice, "
            "i40e, ixgbe, veth)")


def missing_egress_features(features: XdpFeature) -> XdpFeature:
    """What an egress with ``features`` lacks of :data:`EGRESS_FEATURES` (0: nothing)."""
    return EGRESS_FEATURES & ~features
