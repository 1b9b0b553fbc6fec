"""A veth test bed: sender, device under test, receiver, in their own namespaces.

    sender ns            DUT ns                  receiver ns
    s0  <──── veth ────>  in0   [scheduler]  out0  <──── veth ────>  r0

Names are unique per bed (``xq<6 hex>-snd`` …), so beds can coexist.
Everything lives in the three namespaces; removing them removes the links
and whatever programs were attached to them. The context manager removes
them on the way out, also on exceptions and on SIGTERM/SIGINT.
"""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

from pyroute2 import NetNS, netns

from xdpq.errors import XdpqError

SENDER, DUT, RECEIVER = "snd", "dut", "rcv"


@dataclass(frozen=True, slots=True)
class Port:
    ns: str
    name: str
    ifindex: int
    mac: str
    ip: str


class TestBed:
    __test__ = False  # not a pytest test class, despite its name

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.prefix = f"xq{tag}"
        self.subnet = 16 + int(tag[:2], 16) % 200  # 10.<subnet>.x.y: per bed
        self.ns = {role: f"{self.prefix}-{role}" for role in (SENDER, DUT, RECEIVER)}
        self.ports: dict[str, Port] = {}
        self._created: list[str] = []
        self._old_handlers: dict[int, object] = {}
        # pyroute2 forks helper processes, which inherit this object and our
        # signal handlers; only the process that built the bed may tear it down.
        self._owner = os.getpid()

    # -- build and tear down ---------------------------------------------------

    def __enter__(self) -> TestBed:
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
        raise SystemExit(128 + signum)  # unwinds through __exit__

    def _build(self) -> None:
        for name in self.ns.values():
            # iproute2, not pyroute2.netns.create: in pyroute2 0.9 a create after
            # a remove in the same process leaves no visible namespace.
            subprocess.run(["ip", "netns", "add", name], check=True)
            self._created.append(name)
            # No IPv6 chatter (router and neighbour solicitations): every frame
            # on the bed is one a test sent, so conservation can be exact.
            subprocess.run(["ip", "netns", "exec", name, "sysctl", "-qw",
                            "net.ipv6.conf.all.disable_ipv6=1",
                            "net.ipv6.conf.default.disable_ipv6=1"], check=True)
        with NetNS(self.ns[DUT]) as dut:
            dut.link("add", ifname="in0", kind="veth",
                     peer={"ifname": "s0", "net_ns_fd": self.ns[SENDER]})
            dut.link("add", ifname="out0", kind="veth",
                     peer={"ifname": "r0", "net_ns_fd": self.ns[RECEIVER]})
        addr = {
            "s0": (SENDER, 1, 1), "in0": (DUT, 1, 2), "out0": (DUT, 2, 1), "r0": (RECEIVER, 2, 2),
        }
        for name, (role, net, host) in addr.items():
            self.ports[name] = self._configure(role, name, f"10.{self.subnet}.{net}.{host}")
        # Static neighbours: no ARP on a path whose frames the scheduler owns.
        self._neigh(SENDER, "s0", self.ports["r0"].ip, self.ports["in0"].mac, via=self.ports["in0"])
        self._neigh(DUT, "out0", self.ports["r0"].ip, self.ports["r0"].mac)

    def _configure(self, role: str, name: str, ip: str) -> Port:
        with NetNS(self.ns[role]) as ns:
            idx = ns.link_lookup(ifname=name)[0]
            ns.addr("add", index=idx, address=ip, prefixlen=24)
            ns.link("set", index=idx, state="up")
            lo = ns.link_lookup(ifname="lo")[0]
            ns.link("set", index=lo, state="up")
            mac = ns.get_links(idx)[0].get_attr("IFLA_ADDRESS")
        return Port(self.ns[role], name, idx, mac, ip)

    def _neigh(self, role: str, dev: str, ip: str, mac: str, via: Port | None = None) -> None:
        with NetNS(self.ns[role]) as ns:
            idx = ns.link_lookup(ifname=dev)[0]
            if via is not None:
                ns.route("add", dst=ip, dst_len=32, gateway=via.ip, oif=idx)
                ip = via.ip
            ns.neigh("replace", dst=ip, lladdr=mac, ifindex=idx, state=0x80)  # NUD_PERMANENT

    def close(self) -> None:
        if os.getpid() != self._owner:
            return
        errors = []
        while self._created:
            name = self._created.pop()
            res = subprocess.run(["ip", "netns", "del", name], capture_output=True, text=True)
            if res.returncode != 0:
                errors.append(f"{name}: {res.stderr.strip()}")
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._old_handlers.clear()
        if errors:
            raise XdpqError("test bed clean-up failed: " + "; ".join(errors))

    # -- use -------------------------------------------------------------------

    @contextmanager
    def enter(self, role: str) -> Iterator[None]:
        """Move the calling thread into a namespace of the bed, and back.

        BPF_PROG_RUN live frames and XDP attachment resolve ifindexes in the
        caller's namespace; threads started inside inherit it.
        """
        netns.pushns(self.ns[role])
        try:
            yield
        finally:
            netns.popns()
