"""What a device's driver says it can do with XDP: the ``netdev`` generic netlink family.

The kernel (6.3 and newer) reports each device's ``xdp-features`` there, the
same bits ``ynl --family netdev --do dev-get`` prints. xdpq needs
``ndo-xmit`` on the egress device: its transmitter redirects frames into the
driver's ``ndo_xdp_xmit``.

veth advertises ``ndo-xmit`` only while its *peer* has an XDP program
attached or GRO enabled (``veth_set_xdp_features`` in drivers/net/veth.c;
checked on 6.18: a fresh pair shows basic, redirect and rx-sg, 35; with an
XDP program on the peer also ndo-xmit and ndo-xmit-sg, 103). Without it the
device refuses every redirected frame.

pyroute2 has no binding for this family; the request is small enough to
write here. Queries run in the calling thread's network namespace.
"""

from __future__ import annotations

from enum import IntFlag

from pyroute2.netlink import NLM_F_REQUEST, genlmsg
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.generic import GenericNetlinkSocket

from xdpq.errors import XdpqError

NETDEV_CMD_DEV_GET = 1


class XdpFeature(IntFlag):
    """``enum netdev_xdp_act`` (include/uapi/linux/netdev.h)."""

    BASIC = 1
    REDIRECT = 2
    NDO_XMIT = 4
    XSK_ZEROCOPY = 8
    HW_OFFLOAD = 16
    RX_SG = 32
    NDO_XMIT_SG = 64


def feature_names(flags: XdpFeature) -> str:
    return ", ".join(f.name.lower() for f in XdpFeature if f in flags and f.name) or "none"


class _DevMsg(genlmsg):  # type: ignore[misc]
    prefix = "NETDEV_A_DEV_"
    nla_map = (
        ("NETDEV_A_DEV_UNSPEC", "none"),
        ("NETDEV_A_DEV_IFINDEX", "uint32"),
        ("NETDEV_A_DEV_PAD", "none"),
        ("NETDEV_A_DEV_XDP_FEATURES", "uint64"),
        ("NETDEV_A_DEV_XDP_ZC_MAX_SEGS", "uint32"),
        ("NETDEV_A_DEV_XDP_RX_METADATA_FEATURES", "uint64"),
        ("NETDEV_A_DEV_XSK_FEATURES", "uint64"),
    )


def xdp_features(ifindex: int) -> XdpFeature:
    """The XDP features the driver of ``ifindex`` advertises now."""
    sock = GenericNetlinkSocket()
    try:
        try:
            sock.bind("netdev", _DevMsg)
        except NetlinkError as exc:
            raise XdpqError(
                "this kernel has no 'netdev' generic netlink family (Linux 6.3 or newer "
                f"reports XDP features there): {exc}") from None
        msg = _DevMsg()
        msg["cmd"] = NETDEV_CMD_DEV_GET
        msg["version"] = 1
        msg["attrs"] = [("NETDEV_A_DEV_IFINDEX", ifindex)]
        replies = list(sock.nlm_request(msg, msg_type=sock.prid, msg_flags=NLM_F_REQUEST))
    except NetlinkError as exc:
        raise XdpqError(f"netdev dev-get of ifindex {ifindex}: {exc}") from None
    finally:
        sock.close()
    raw = replies[0].get_attr("NETDEV_A_DEV_XDP_FEATURES") if replies else None
    if raw is None:
        raise XdpqError(f"ifindex {ifindex}: no xdp-features in the kernel's answer")
    return XdpFeature(raw)
