"""Traffic from the DUT's own network stack out of the scheduler's egress.

XDP has no egress hook: what the stack sends leaves by the device's queue
without passing the scheduler. ``xdpq demo --stack-load`` runs this beside
the workload to show what that competition does (docs/findings.md): a thread
in the DUT namespace sends UDP datagrams to the receiver as fast as its
socket takes them, until stopped.

The bed's DUT is a bump in the wire, without addresses: for the time of the
load, out0 gets one of the bed's subnet (host 3), and static neighbours make
the two ends known to each other, so that no ARP frame joins the datagrams
at the receiver.
"""

from __future__ import annotations

import socket
import threading

from pyroute2 import NetNS

from xdpq.net.testbed import DUT, RECEIVER, TestBed

PAYLOAD = 1400  # bytes of UDP payload: 1442-byte frames
HOST = 3  # out0's address while it runs: 10.X.0.3
NUD_PERMANENT = 0x80


class StackLoad:
    def __init__(self, bed: TestBed) -> None:
        self._bed = bed
        self._stop = threading.Event()
        self.sent = 0
        self._thread = threading.Thread(target=self._run, name="xdpq-stack-load", daemon=True)

    def _run(self) -> None:
        with self._bed.enter(DUT):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        data = bytes(PAYLOAD)
        dst = (self._bed.ports["r0"].ip, 9)
        with sock:
            while not self._stop.is_set():
                try:
                    sock.sendto(data, dst)
                except OSError:  # a full device queue: ENOBUFS
                    continue
                self.sent += 1

    def __enter__(self) -> StackLoad:
        bed, me = self._bed, self._bed.address(HOST)
        with NetNS(bed.ns[DUT]) as ns:
            ns.addr("add", index=bed.ifindex("out0"), address=me, prefixlen=24)
            ns.neigh("replace", dst=bed.ports["r0"].ip, lladdr=bed.mac("r0"),
                     ifindex=bed.ifindex("out0"), state=NUD_PERMANENT)
        with NetNS(bed.ns[RECEIVER]) as ns:  # for its ICMP port unreachable replies
            ns.neigh("replace", dst=me, lladdr=bed.mac("out0"), ifindex=bed.ifindex("r0"),
                     state=NUD_PERMANENT)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def __exit__(self, *exc: object) -> None:
        self.stop()
