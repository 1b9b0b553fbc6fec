"""The netdev generic-netlink family: what XDP features a driver advertises.

A small request of our own (pyroute2 has no message class for this family):
resolve the family id by name, then ask NETDEV_CMD_DEV_GET for one ifindex.
"""

from __future__ import annotations

import os
import socket
import struct
from enum import IntFlag

from xdpq.errors import XdpqError

NETLINK_GENERIC = 16
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
NETDEV_CMD_DEV_GET = 1
NETDEV_A_DEV_IFINDEX = 1
NETDEV_A_DEV_XDP_FEATURES = 3
NLM_F_REQUEST = 1
NLMSG_ERROR = 2
_NLMSGHDR = struct.Struct("=IHHII")
_GENLHDR = struct.Struct("=BBH")


class XdpFeature(IntFlag):
    """``enum netdev_xdp_act``."""

    BASIC = 1
    REDIRECT = 2
    NDO_XMIT = 4
    XSK_ZEROCOPY = 8
    HW_OFFLOAD = 16
    RX_SG = 32
    NDO_XMIT_SG = 64


REQUIRED = XdpFeature.BASIC | XdpFeature.REDIRECT | XdpFeature.NDO_XMIT


def _attr(kind: int, payload: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(payload), kind) + payload
    return raw + bytes(-len(raw) % 4)


def _attrs(data: bytes) -> dict[int, bytes]:
    out, off = {}, 0
    while off + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, off)
        if length < 4:
            break
        out[kind & 0x3FFF] = data[off + 4 : off + length]
        off += (length + 3) & ~3
    return out


def _request(family: int, cmd: int, attrs: bytes) -> dict[int, bytes]:
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC) as sock:
        sock.settimeout(2.0)
        body = _GENLHDR.pack(cmd, 1, 0) + attrs
        sock.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(body), family, NLM_F_REQUEST, 1, 0) + body)
        reply = sock.recv(65536)
    length, kind, _, _, _ = _NLMSGHDR.unpack_from(reply)
    if kind == NLMSG_ERROR:
        (err,) = struct.unpack_from("=i", reply, _NLMSGHDR.size)
        raise XdpqError(f"netlink: {os.strerror(-err)}")
    return _attrs(reply[_NLMSGHDR.size + _GENLHDR.size : length])


def family_id(name: str = "netdev") -> int:
    attrs = _request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, _attr(CTRL_ATTR_FAMILY_NAME,
                                                             name.encode() + b"\0"))
    return struct.unpack("=H", attrs[CTRL_ATTR_FAMILY_ID][:2])[0]


def xdp_features(ifindex: int) -> XdpFeature:
    """The XDP features the driver of ``ifindex`` advertises."""
    try:
        fam = family_id()
    except XdpqError as exc:
        raise XdpqError(f"the kernel has no netdev netlink family (needs 6.3+): {exc}") from None
    query = _attr(NETDEV_A_DEV_IFINDEX, struct.pack("=I", ifindex))
    attrs = _request(fam, NETDEV_CMD_DEV_GET, query)
    raw = attrs.get(NETDEV_A_DEV_XDP_FEATURES)
    if raw is None:
        raise XdpqError(f"ifindex {ifindex}: no xdp-features in the kernel's answer")
    return XdpFeature(struct.unpack("=Q", raw[:8])[0])
