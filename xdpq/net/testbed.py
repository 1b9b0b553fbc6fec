"""A veth test bed: sender, device under test, receiver, in their own namespaces.

    sender ns            DUT ns                        receiver ns
    s0  <──── veth ────>  in0   [scheduler]   out0  <──── veth ────>  r0
    10.X.0.1                                                          10.X.0.2

xdpq is a bump in the wire: the sender and the receiver are in one subnet,
the DUT has no addresses and does not forward in its stack (a frame its XDP
program passes goes no further), and frames cross unchanged. Nothing is
static: the hosts find each other with ARP, which crosses a deployment (both
ways when both directions are deployed) like any frame.

Names are unique per bed (``xq<6 hex>-snd`` / ``-dut`` / ``-rcv``), and so
is X, the second octet of the bed's addresses (it is the first two hex digits
of the name: a new bed avoids those of the beds it sees), so beds can
coexist. MAC addresses are fixed (``02:78:71:X:<ns>:<port>``), and IPv6 is
off (no neighbour discovery chatter: every frame on the bed is one a test,
or a host's stack talking to the other host, sent).

The hosts' veths (s0, r0) do what a NIC driver would, not what a veth does
(see :data:`HOST_OFFLOADS`): no partial checksums, and GRO on.

Everything lives in the three namespaces; removing them removes the links
and whatever programs were attached to them. The context manager removes
them on the way out, also on exceptions and on SIGTERM/SIGINT (in the main
thread: only there can Python install signal handlers). Nothing survives
SIGKILL; ``reap_stale_beds()`` removes the beds of processes that are gone
(each bed records its builder's pid in /run/xdpq-beds/).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import uuid
from collections.abc import Mapping
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from pyroute2 import NetNS, netns

from xdpq.errors import XdpqError
from xdpq.net.host import NETNS_DIR, in_netns

SENDER, DUT, RECEIVER = "snd", "dut", "rcv"
ROLES = (SENDER, DUT, RECEIVER)
OWNERS_DIR = Path("/run/xdpq-beds")  # <prefix>: the pid of the process that built the bed
PREFIX = "xq"
_SUBNETS = range(16, 255)  # X in 10.X.y.z


@dataclass(frozen=True, slots=True)
class Port:
    ns: str  # namespace name
    name: str  # interface name
    ifindex: int  # in its namespace
    mac: str
    ip: str


# interface: (role, host number in 10.X.0.0/24 (0: no address), peer interface)
_LAYOUT = {
    "s0": (SENDER, 1, "in0"),
    "in0": (DUT, 0, "s0"),
    "out0": (DUT, 0, "r0"),
    "r0": (RECEIVER, 2, "out0"),
}
# On the hosts' veths (ethtool -K). tx-checksumming off: a local socket's frames
# leave a veth CHECKSUM_PARTIAL (the checksum field holds only the pseudo-header
# sum, to be finished by a NIC that never comes); XDP sees the bytes, and a frame
# the scheduler copies into a slot arrives with a wrong checksum, which the other
# host drops (a NIC computes checksums before the wire). GRO on: a veth takes
# redirected frames (ndo_xdp_xmit) only while its peer has XDP or GRO, so this
# is what lets in0 and out0 transmit, in either direction.
HOST_OFFLOADS = {"tx-checksumming": 0, "generic-receive-offload": 1}


def live_beds() -> list[str]:
    """Prefixes (``xq<6 hex>``) of the test beds whose namespaces exist now."""
    if not NETNS_DIR.is_dir():
        return []
    found = set()
    for entry in NETNS_DIR.iterdir():
        prefix, _, role = entry.name.partition("-")
        if role in ROLES and len(prefix) == 8 and prefix.startswith(PREFIX):
            found.add(prefix)
    return sorted(found)


def reap_stale_beds() -> list[str]:
    """Remove the beds whose builder died without cleaning up (SIGKILL: no
    handler runs); returns their prefixes. Beds of live processes stay."""
    reaped = []
    for prefix in live_beds():
        try:
            pid = int((OWNERS_DIR / prefix).read_text())
        except (OSError, ValueError):
            continue  # not ours to judge: no owner recorded
        if Path(f"/proc/{pid}").exists():
            continue
        for role in ROLES:
            with suppress(OSError):
                netns.remove(f"{prefix}-{role}")
        _forget_owner(prefix)
        reaped.append(prefix)
    return reaped


def _forget_owner(prefix: str) -> None:
    """A bed's owner record, and the directory once it records no other bed."""
    (OWNERS_DIR / prefix).unlink(missing_ok=True)
    with suppress(OSError):
        OWNERS_DIR.rmdir()


class TestBed:
    """Three namespaces joined by two veth pairs; see the module's doc."""

    __test__ = False  # not a pytest test class, despite its name

    def __init__(self) -> None:
        used = set()
        for prefix in live_beds():
            with suppress(ValueError):
                used.add(int(prefix[2:4], 16))
        free = [x for x in _SUBNETS if x not in used] or list(_SUBNETS)
        self.subnet = random.choice(free)  # 10.<subnet>.x.y: per bed
        self.prefix = f"{PREFIX}{self.subnet:02x}{uuid.uuid4().hex[:4]}"
        self.ns = {role: f"{self.prefix}-{role}" for role in ROLES}
        self.ports: dict[str, Port] = {}
        self._created: list[str] = []
        self._old_handlers: dict[int, Any] = {}
        # pyroute2 forks helper processes, which inherit this object and our
        # signal handlers; only the process that built the bed may tear it down.
        self._owner = os.getpid()

    # -- names -------------------------------------------------------------------

    def ns_path(self, role: str) -> str:
        return str(NETNS_DIR / self.ns[role])

    def ifindex(self, port: str) -> int:
        """ifindex of ``s0``, ``in0``, ``out0`` or ``r0`` (in its own namespace)."""
        return self.ports[port].ifindex

    def mac(self, port: str) -> str:
        role, number = _LAYOUT[port][0], list(_LAYOUT).index(port)
        return f"02:78:71:{self.subnet:02x}:{ROLES.index(role):02x}:{number:02x}"

    def address(self, host: int) -> str:
        """Host number ``host`` of the bed's subnet (1: s0, 2: r0)."""
        return f"10.{self.subnet}.0.{host}"

    # -- build and tear down -----------------------------------------------------

    def __enter__(self) -> TestBed:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old_handlers[sig] = signal.signal(sig, self._on_signal)
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if os.getpid() != self._owner:
            os._exit(128 + signum)  # a forked helper: die without unwinding our stack
        if signum == signal.SIGINT:
            raise KeyboardInterrupt  # unwinds through __exit__, as Python's own would
        raise SystemExit(128 + signum)

    def _build(self) -> None:
        for _ in range(2):  # another bed's close may remove the directory between
            OWNERS_DIR.mkdir(exist_ok=True)
            try:
                (OWNERS_DIR / self.prefix).write_text(str(self._owner))
                break
            except FileNotFoundError:
                continue
        for role in ROLES:
            name = self.ns[role]
            netns.create(name)
            self._created.append(name)
            with self.enter(role):
                # No IPv6 chatter (router and neighbour solicitations): every
                # frame on the bed is one a test sent, so conservation can be
                # exact. /proc/sys/net is the opening thread's namespace.
                for scope in ("all", "default"):
                    Path(f"/proc/sys/net/ipv6/conf/{scope}/disable_ipv6").write_text("1")
        with NetNS(self.ns[DUT]) as dut:
            for port in ("in0", "out0"):
                peer = _LAYOUT[port][2]
                dut.link("add", ifname=port, kind="veth", address=self.mac(port),
                         peer={"ifname": peer, "net_ns_fd": self.ns[_LAYOUT[peer][0]],
                               "address": self.mac(peer)})
        for port, (role, host, _) in _LAYOUT.items():
            self.ports[port] = self._configure(role, port, self.address(host) if host else "")
        for port in ("s0", "r0"):
            self.set_offloads(port, HOST_OFFLOADS)

    def _configure(self, role: str, name: str, ip: str) -> Port:
        with NetNS(self.ns[role]) as ns:
            idx = ns.link_lookup(ifname=name)[0]
            if ip:
                ns.addr("add", index=idx, address=ip, prefixlen=24)
            ns.link("set", index=idx, state="up")
            ns.link("set", index=ns.link_lookup(ifname="lo")[0], state="up")
            mac = ns.get_links(idx)[0].get_attr("IFLA_ADDRESS")
        return Port(self.ns[role], name, idx, mac, ip)

    def set_offloads(self, port: str, flags: Mapping[str, int]) -> None:
        """``ethtool -K`` on the bed's ``port``: ethtool's long names (as ``ethtool -k``
        shows them) to 0 or 1."""
        from pyroute2.ethtool import Ethtool

        # Ethtool opens its ioctl and netlink sockets when made: make it inside.
        with self.enter(_LAYOUT[port][0]):
            et = Ethtool()
            try:
                for name, value in flags.items():
                    et.set_offload_flag(port, name, value)
            finally:
                et.close()

    def set_threaded_napi(self, port: str) -> None:
        """Poll ``port`` in a kernel thread of its own (threaded NAPI), not in the softirq of
        the CPU that sent to it: a veth then drains at its own pace beside its sender, as a
        device does. /sys/class/net is the namespace's only in a sysfs mounted there."""
        script = f"echo 1 > /sys/class/net/{port}/threaded"
        res = subprocess.run(["ip", "netns", "exec", self.ns[_LAYOUT[port][0]], "sh", "-c",
                              script], capture_output=True, text=True, check=False)
        if res.returncode:
            raise XdpqError(f"threaded NAPI on {port}: {res.stderr.strip()}")

    def close(self) -> None:
        """Remove the namespaces (and with them the links and their programs).

        Idempotent. SIGTERM/SIGINT are held off while it runs, then the
        previous handlers come back (and see a signal that came meanwhile).
        """
        if os.getpid() != self._owner:
            return
        main = threading.current_thread() is threading.main_thread()
        sigs = {signal.SIGTERM, signal.SIGINT}
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, sigs) if main else None
        errors = []
        try:
            while self._created:
                name = self._created.pop()
                try:
                    netns.remove(name)
                except OSError as e:
                    errors.append(f"{name}: {e}")
            _forget_owner(self.prefix)
            for sig, handler in self._old_handlers.items():
                signal.signal(sig, handler)
            self._old_handlers.clear()
        finally:
            if blocked is not None:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        if errors:
            raise XdpqError("test bed clean-up failed: " + "; ".join(errors))

    # -- use ---------------------------------------------------------------------

    def enter(self, role: str) -> AbstractContextManager[None]:
        """Move the calling thread into a namespace of the bed, and back.

        BPF_PROG_RUN live frames and XDP attachment resolve ifindexes in the
        caller's namespace; threads started inside inherit it. Per thread:
        see :func:`xdpq.net.host.in_netns`.
        """
        return in_netns(self.ns_path(role))
