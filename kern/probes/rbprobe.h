/* SPDX-License-Identifier: GPL-2.0 */
/* The doctor's rbtree probes (rbtree.bpf.c, rbwalk.bpf.c): a tree of probe
 * nodes under its own lock, filled by xdpq_probe_insert and emptied in order
 * by xdpq_probe_take, which notes each slot taken in xdpq_probe_order as a
 * decimal digit.
 *
 * It uses only kfuncs.h, the declarations of the kernel's kfuncs, and none
 * of the runtime it vouches for (the queue maps of rbtree.h). */
#ifndef XDPQ_PROBES_RBPROBE_H
#define XDPQ_PROBES_RBPROBE_H

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

#endif /* XDPQ_PROBES_RBPROBE_H */
