/* SPDX-License-Identifier: GPL-2.0 */
/* The kernel's types that kern/ uses, for a build in userspace (xdpq/codegen/host.py):
 * the UAPI headers have most of them; the BPF graph types and the open-coded
 * iterator are this directory's own (bpf/bpf_helpers.h implements what uses them). */
#ifndef XDPQ_USERSPACE_VMLINUX_H
#define XDPQ_USERSPACE_VMLINUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>

struct vlan_hdr {
	__be16 h_vlan_TCI;
	__be16 h_vlan_encapsulated_proto;
};

/* A node of a BPF rbtree: here an entry of a sorted array, in the order of
 * its less() and, between equals, of insertion (where bpf_rbtree_add puts an
 * equal node: to the right). lo and hi: the range of the array below it as a
 * search tree, set when bpf_rbtree_root, _left or _right hands it out. */
struct bpf_rb_node {
	__u64 seq;
	__u32 lo, hi;
};

/* A BPF rbtree: here the sorted array node[off .. off + len) of cap slots.
 * Zeroed, it is empty. */
struct bpf_rb_root {
	struct bpf_rb_node **node;
	__u64 off;
	__u64 len;
	__u64 cap;
	__u64 seq;
	bool (*less)(struct bpf_rb_node *a, const struct bpf_rb_node *b);
};

struct bpf_iter_num {
	int cur;
	int end;
};

#endif /* XDPQ_USERSPACE_VMLINUX_H */
