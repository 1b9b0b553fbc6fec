"""What the runtime needs to know about an interface, read over netlink."""

from __future__ import annotations

from dataclasses import dataclass

from pyroute2 import IPRoute

from xdpq.errors import XdpqError


@dataclass(frozen=True, slots=True)
class LinkInfo:
    name: str
    ifindex: int
    kind: str  # "veth", "" for a physical NIC, ...
    up: bool
    peer_ifindex: int  # veth: the peer's ifindex (in its own namespace); 0 otherwise
    xdp_attached: bool
    xdp_native: bool = False  # the attached program runs in the driver (not generic XDP)


def link_info(name: str) -> LinkInfo:
    """Facts about interface ``name`` in the calling thread's namespace."""
    with IPRoute() as ip:
        found = ip.link_lookup(ifname=name)
        if not found:
            raise XdpqError(f"no interface named '{name}'")
        msg = ip.get_links(found[0])[0]
    linkinfo = msg.get_attr("IFLA_LINKINFO")
    kind = linkinfo.get_attr("IFLA_INFO_KIND") if linkinfo else ""
    xdp = msg.get_attr("IFLA_XDP")
    mode = (xdp.get_attr("IFLA_XDP_ATTACHED") or 0) if xdp else 0
    return LinkInfo(
        name=name,
        ifindex=msg["index"],
        kind=kind or "",
        up=bool(msg["flags"] & 1),
        peer_ifindex=(msg.get_attr("IFLA_LINK") or 0) if kind == "veth" else 0,
        xdp_attached=bool(mode),
        xdp_native=mode in (1, "xdp"),  # XDP_ATTACHED_DRV, as a number or as pyroute2 names it
    )


def link_speed(name: str) -> int | None:
    """The speed ethtool reports for interface ``name`` in the calling thread's namespace,
    in Mb/s; None when it reports none (link down, a bridge, loopback ...)."""
    from pyroute2.ethtool import Ethtool
    from pyroute2.ethtool.ioctl import EthtoolError
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        with Ethtool() as et:  # its sockets open in the caller's namespace
            speed = et.get_link_mode(name).speed
    except (EthtoolError, NetlinkError, OSError):
        return None
    return speed if isinstance(speed, int) and speed > 0 else None
