"""Netlink: links, veth pairs, namespaces, XDP features."""
