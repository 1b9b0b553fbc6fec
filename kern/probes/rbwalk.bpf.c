// SPDX-License-Identifier: GPL-2.0
/* Probe: bpf_rbtree_root/left/right (Linux 6.16), the walk from the root that
 * arrays of rbtrees (a queue's head is a search of the shared tree) and
 * push-out from an rbtree (its worst is the right spine's end) need. A
 * separate object from rbtree.bpf.c: on an older kernel it does not load.
 *
 * Inserts nodes of rank 10, 20, 30 (slots 1, 2, 3): a red-black tree of three
 * has the middle at its root. xdpq_probe_walk holds root, left and right's
 * slots as decimal digits: 213 when the walk sees the tree as it is. Then the
 * tree is emptied in order (xdpq_probe_order 123). */
#include "rbprobe.h"

__u64 xdpq_probe_walk;

/* A node's slot, or 0 for none (a non-owning reference, read under the lock). */
static __u64 xdpq_probe_slot(struct bpf_rb_node *n)
{
	return n ? xdpq_container_of(n, struct xdpq_probe_node, rb)->slot : 0;
}

SEC("xdp")
int xdpq_probe_rbwalk(struct xdp_md *ctx)
{
	struct bpf_rb_node *root;
	__u64 walk = 0;
	int i;

	if (xdpq_probe_insert(10, 1) || xdpq_probe_insert(20, 2) || xdpq_probe_insert(30, 3))
		return XDP_ABORTED;
	bpf_spin_lock(&xdpq_probe_lock);
	root = bpf_rbtree_root(&xdpq_probe_root);
	if (root) {
		walk = xdpq_probe_slot(root) * 100;
		walk += xdpq_probe_slot(bpf_rbtree_left(&xdpq_probe_root, root)) * 10;
		walk += xdpq_probe_slot(bpf_rbtree_right(&xdpq_probe_root, root));
	}
	bpf_spin_unlock(&xdpq_probe_lock);
	xdpq_probe_walk = walk;
	for (i = 0; i < 4; i++)
		if (xdpq_probe_take())
			break;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
