"""A veth pair that is always removed, for probes and tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pyroute2 import IPRoute


@dataclass(frozen=True, slots=True)
class VethPair:
    name: str
    ifindex: int
    peer: str
    peer_ifindex: int


@contextmanager
def veth_pair(prefix: str) -> Iterator[VethPair]:
    """Create ``<prefix><pid>a`` / ``…b``, both up; deleted on the way out, whatever happens."""
    a = f"{prefix}{os.getpid() % 100000}a"[:15]
    b = a[:-1] + "b"
    with IPRoute() as ip:
        ip.link("add", ifname=a, kind="veth", peer=b)
        try:
            ia = ip.link_lookup(ifname=a)[0]
            ib = ip.link_lookup(ifname=b)[0]
            ip.link("set", index=ia, state="up")
            ip.link("set", index=ib, state="up")
            yield VethPair(a, ia, b, ib)
        finally:
            for idx in ip.link_lookup(ifname=a):
                ip.link("del", index=idx)
