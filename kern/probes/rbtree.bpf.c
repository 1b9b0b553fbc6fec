// SPDX-License-Identifier: GPL-2.0
/* Probe: bpf_obj_new, and bpf_rbtree_add/first/remove under a bpf_spin_lock,
 * from an XDP program.
 *
 * Inserts nodes of rank 30, 10, 20 (slots 3, 1, 2), then takes the first
 * node out until the tree is empty. xdpq_probe_order holds the slots as
 * decimal digits: 123 when the tree orders by rank.
 *
 * It uses only kfuncs.h, the declarations of the kernel's kfuncs, and none
 * of the runtime it vouches for (the queue maps of rbtree.h). */
#include "kfuncs.h"

/* libbpf 1.1 skips .bss.NAME sections, so the lock and the root it guards
 * share one custom .data section (one map value). */
#define xdpq_private(name) SEC(".data." #name) __attribute__((aligned(8)))
#define xdpq_container_of(ptr, type, member) \
	((type *)((void *)(ptr) - __builtin_offsetof(type, member)))

/* u64 fields only: clang merges adjacent u32 loads of a node into one
 * 64-bit access, which the verifier refuses on allocated objects. */
struct xdpq_probe_node {
	struct bpf_rb_node rb;
	__u64 rank;
	__u64 slot;
};

xdpq_private(xdpq_probe) struct bpf_spin_lock xdpq_probe_lock;
xdpq_private(xdpq_probe) struct bpf_rb_root xdpq_probe_root
	xdpq_contains(xdpq_probe_node, rb);

__u64 xdpq_probe_order;
__u64 xdpq_probe_count;

static bool xdpq_probe_less(struct bpf_rb_node *a, const struct bpf_rb_node *b)
{
	struct xdpq_probe_node *na = xdpq_container_of(a, struct xdpq_probe_node, rb);
	const struct xdpq_probe_node *nb = xdpq_container_of(b, struct xdpq_probe_node, rb);

	return na->rank < nb->rank;
}

static int xdpq_probe_insert(__u64 rank, __u64 slot)
{
	struct xdpq_probe_node *n;

	n = bpf_obj_new_impl(bpf_core_type_id_local(struct xdpq_probe_node), NULL);
	if (!n)
		return -1;
	n->rank = rank;
	n->slot = slot;
	bpf_spin_lock(&xdpq_probe_lock);
	bpf_rbtree_add_impl(&xdpq_probe_root, &n->rb, xdpq_probe_less, NULL, 0);
	bpf_spin_unlock(&xdpq_probe_lock);
	return 0;
}

static int xdpq_probe_take(void)
{
	struct bpf_rb_node *first;
	struct xdpq_probe_node *n;

	bpf_spin_lock(&xdpq_probe_lock);
	first = bpf_rbtree_first(&xdpq_probe_root);
	if (!first) {
		bpf_spin_unlock(&xdpq_probe_lock);
		return -1;
	}
	first = bpf_rbtree_remove(&xdpq_probe_root, first);
	bpf_spin_unlock(&xdpq_probe_lock);
	if (!first)
		return -1;
	n = xdpq_container_of(first, struct xdpq_probe_node, rb);
	xdpq_probe_order = xdpq_probe_order * 10 + n->slot;
	xdpq_probe_count++;
	bpf_obj_drop_impl(n, NULL);
	return 0;
}

SEC("xdp")
int xdpq_probe_rbtree(struct xdp_md *ctx)
{
	int i;

	if (xdpq_probe_insert(30, 3) || xdpq_probe_insert(10, 1) || xdpq_probe_insert(20, 2))
		return XDP_ABORTED;
	for (i = 0; i < 4; i++)
		if (xdpq_probe_take())
			break;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
