// SPDX-License-Identifier: GPL-2.0
/* Probe: bpf_obj_new and bpf_rbtree_add/first/remove under a bpf_spin_lock. */
#define XDPQ_POOL_SLOTS 64
#include "rbtree.h"

XDPQ_RBTREE_DEFINE(probe_tree, 8);
__u64 probe_order;

SEC("xdp")
int probe_rbtree(struct xdp_md *ctx)
{
	struct xdpq_entry e;

	xdpq_rbtree_enqueue(&probe_tree, &probe_tree_root, 1, 20, 64);
	xdpq_rbtree_enqueue(&probe_tree, &probe_tree_root, 2, 10, 64);
	if (xdpq_rbtree_dequeue(&probe_tree, &probe_tree_root, &e) == 0)
		probe_order = probe_order * 10 + e.slot;
	if (xdpq_rbtree_dequeue(&probe_tree, &probe_tree_root, &e) == 0)
		probe_order = probe_order * 10 + e.slot;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
