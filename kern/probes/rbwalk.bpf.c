// SPDX-License-Identifier: GPL-2.0
/* Probe: bpf_rbtree_root/left/right (Linux 6.16), the walk from the root that
 * arrays of rbtrees (a queue's head is a search of the shared tree) and
 * push-out from an rbtree (its worst is the right spine's end) need.
 *
 * Inserts nodes of rank 10, 20, 30 (slots 1, 2, 3): a red-black tree of three
 * has the middle at its root. xdpq_probe_order holds root, left and right's
 * slots as decimal digits: 213 when the walk sees the tree as it is. The
 * nodes are then taken out with bpf_rbtree_first, counted in
 * xdpq_probe_count. Like rbtree.bpf.c, it uses only kfuncs.h. */
#include "kfuncs.h"

#define xdpq_private(name) SEC(".data." #name) __attribute__((aligned(8)))
#define xdpq_container_of(ptr, type, member) \
	((type *)((void *)(ptr) - __builtin_offsetof(type, member)))

struct xdpq_walk_node {
	struct bpf_rb_node rb;
	__u64 rank;
	__u64 slot;
};

xdpq_private(xdpq_walk) struct bpf_spin_lock xdpq_walk_lock;
xdpq_private(xdpq_walk) struct bpf_rb_root xdpq_walk_root
	xdpq_contains(xdpq_walk_node, rb);

__u64 xdpq_probe_order;
__u64 xdpq_probe_count;

static bool xdpq_walk_less(struct bpf_rb_node *a, const struct bpf_rb_node *b)
{
	struct xdpq_walk_node *na = xdpq_container_of(a, struct xdpq_walk_node, rb);
	const struct xdpq_walk_node *nb = xdpq_container_of(b, struct xdpq_walk_node, rb);

	return na->rank < nb->rank;
}

static int xdpq_walk_insert(__u64 rank, __u64 slot)
{
	struct xdpq_walk_node *n;

	n = bpf_obj_new_impl(bpf_core_type_id_local(struct xdpq_walk_node), NULL);
	if (!n)
		return -1;
	n->rank = rank;
	n->slot = slot;
	bpf_spin_lock(&xdpq_walk_lock);
	bpf_rbtree_add_impl(&xdpq_walk_root, &n->rb, xdpq_walk_less, NULL, 0);
	bpf_spin_unlock(&xdpq_walk_lock);
	return 0;
}

/* A node's slot, or 0 for none: non-owning references, read under the lock. */
static __u64 xdpq_walk_slot(struct bpf_rb_node *n)
{
	return n ? xdpq_container_of(n, struct xdpq_walk_node, rb)->slot : 0;
}

static int xdpq_walk_take(void)
{
	struct bpf_rb_node *first;

	bpf_spin_lock(&xdpq_walk_lock);
	first = bpf_rbtree_first(&xdpq_walk_root);
	if (!first) {
		bpf_spin_unlock(&xdpq_walk_lock);
		return -1;
	}
	first = bpf_rbtree_remove(&xdpq_walk_root, first);
	bpf_spin_unlock(&xdpq_walk_lock);
	if (!first)
		return -1;
	xdpq_probe_count++;
	bpf_obj_drop_impl(xdpq_container_of(first, struct xdpq_walk_node, rb), NULL);
	return 0;
}

SEC("xdp")
int xdpq_probe_rbwalk(struct xdp_md *ctx)
{
	struct bpf_rb_node *root;
	__u64 order = 0;
	int i;

	if (xdpq_walk_insert(10, 1) || xdpq_walk_insert(20, 2) || xdpq_walk_insert(30, 3))
		return XDP_ABORTED;
	bpf_spin_lock(&xdpq_walk_lock);
	root = bpf_rbtree_root(&xdpq_walk_root);
	if (root) {
		order = xdpq_walk_slot(root) * 100;
		order += xdpq_walk_slot(bpf_rbtree_left(&xdpq_walk_root, root)) * 10;
		order += xdpq_walk_slot(bpf_rbtree_right(&xdpq_walk_root, root));
	}
	bpf_spin_unlock(&xdpq_walk_lock);
	xdpq_probe_order = order;
	for (i = 0; i < 4; i++)
		if (xdpq_walk_take())
			break;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
