/* SPDX-License-Identifier: GPL-2.0 */
/* RBtree queue: exact order over the whole 64-bit rank space.
 *
 * Built on the kernel's bpf_rbtree: nodes come from bpf_obj_new (outside the
 * lock: allocation is not allowed under it), ordered by (rank, seq) so that
 * equal ranks leave in enqueue order. O(log n) per operation.
 */
#ifndef XDPQ_RBTREE_H
#define XDPQ_RBTREE_H

#include "queue_common.h"
#include "kfuncs.h"

struct xdpq_rbnode {
	struct bpf_rb_node rb;
	__u64 rank;
	__u64 seq;
	__u32 slot;
	__u32 len;
	__u32 node;	/* its queue's node in a tree: tree.h orders an rbtree array by it */
	__u32 pad;
};

/* The tree's root is a separate global: the kernel accepts the "contains"
 * tag on a global variable but not on a member of one. XDPQ_RBTREE_DEFINE
 * declares both; operations take the root as well.
 *
 * The kernel resolves the tag's "xdpq_rbnode" by name in the program's BTF
 * when it creates the map, and without it quietly gives the map no special
 * fields, so that the verifier later finds "no valid bpf_spin_lock". clang
 * emits the type only for code that allocates nodes, which is dead code in a
 * program that never enqueues into the tree; the pointer keeps the type. */
struct xdpq_rbtree {
	__u64 seq;
	__u64 bytes;
	__u32 len;
	__u32 cap;
};

#define XDPQ_RBTREE_ROOT(name)							\
	struct xdpq_rbnode *name##_node_type __attribute__((used));		\
	xdpq_locked struct bpf_rb_root name##_root xdpq_contains(xdpq_rbnode, rb)

#define XDPQ_RBTREE_DEFINE(name, capacity)					\
	XDPQ_RBTREE_ROOT(name);							\
	xdpq_locked struct xdpq_rbtree name = { .cap = (capacity) }

static bool xdpq_rb_less(struct bpf_rb_node *a, const struct bpf_rb_node *b)
{
	struct xdpq_rbnode *x = container_of(a, struct xdpq_rbnode, rb);
	struct xdpq_rbnode *y = container_of(b, struct xdpq_rbnode, rb);

	return x->rank < y->rank || (x->rank == y->rank && x->seq < y->seq);
}

/* Node fields are written and read one by one through volatile: clang
 * otherwise merges the adjacent 32-bit slot and len into one 64-bit access,
 * which the verifier refuses on an allocated object (it spans two members). */
static __always_inline void xdpq_rbnode_entry(struct xdpq_rbnode *n, struct xdpq_entry *e)
{
	e->rank = n->rank;
	e->slot = *(volatile __u32 *)&n->slot;
	e->len = *(volatile __u32 *)&n->len;
}

/* A red-black tree of n nodes is at most 2 log2(n + 1) high: 64 bounds any
 * tree of fewer than 2^32 nodes (ours hold at most the slot pool), so that a
 * walk from the root (push-out, rbtree arrays) is bounded for the verifier,
 * which checks the loop's body once. */
#define XDPQ_RB_HEIGHT 64

#ifdef XDPQ_PUSHOUT

/* The worst node (push-out, docs/queues.md): the rightmost, the highest rank
 * and among equal ranks the last to come; NULL when empty. Down the right
 * spine, at most XDPQ_RB_HEIGHT steps. Lock held. */
static __always_inline struct bpf_rb_node *xdpq_rbtree_last(struct bpf_rb_root *root)
{
	struct bpf_rb_node *n = bpf_rbtree_root(root), *r;
	struct bpf_iter_num it;
	int *i;

	if (!n)
		return NULL;
	bpf_iter_num_new(&it, 0, XDPQ_RB_HEIGHT);
	while ((i = bpf_iter_num_next(&it))) {
		r = bpf_rbtree_right(root, n);
		if (!r)
			break;
		n = r;
	}
	bpf_iter_num_destroy(&it);
	return n;
}
#endif

static __always_inline int xdpq_rbtree_enqueue(struct xdpq_rbtree *t, struct bpf_rb_root *root,
					       __u32 slot, __u64 rank, __u32 len)
{
	struct xdpq_rbnode *n;

	if (slot >= XDPQ_POOL_SLOTS)
		return XDPQ_ENQ_BAD_SLOT;
	n = xdpq_obj_new(struct xdpq_rbnode);
	if (!n)
		return XDPQ_ENQ_NO_MEMORY;
	n->rank = rank;
	*(volatile __u32 *)&n->slot = slot;
	*(volatile __u32 *)&n->len = len;
	bpf_spin_lock(&xdpq_lock);
	if (t->len >= t->cap) {
		bpf_spin_unlock(&xdpq_lock);
		xdpq_obj_drop(n);
		return XDPQ_ENQ_FULL;
	}
	n->seq = t->seq++;
	xdpq_rbtree_add(root, &n->rb, xdpq_rb_less);
	t->len++;
	t->bytes += len;
	bpf_spin_unlock(&xdpq_lock);
	return XDPQ_ENQ_OK;
}

static __always_inline int xdpq_rbtree_peek(struct bpf_rb_root *root, struct xdpq_entry *e)
{
	struct xdpq_rbnode *n;
	struct bpf_rb_node *r;
	int ret = -1;

	bpf_spin_lock(&xdpq_lock);
	r = bpf_rbtree_first(root);
	if (r) {
		xdpq_rbnode_entry(container_of(r, struct xdpq_rbnode, rb), e);
		ret = 0;
	}
	bpf_spin_unlock(&xdpq_lock);
	return ret;
}

static __always_inline int xdpq_rbtree_dequeue(struct xdpq_rbtree *t, struct bpf_rb_root *root,
					       struct xdpq_entry *e)
{
	struct xdpq_rbnode *n;
	struct bpf_rb_node *r;

	bpf_spin_lock(&xdpq_lock);
	r = bpf_rbtree_first(root);
	if (!r) {
		bpf_spin_unlock(&xdpq_lock);
		return -1;
	}
	r = bpf_rbtree_remove(root, r);
	if (r) {
		n = container_of(r, struct xdpq_rbnode, rb);
		t->len--;
		t->bytes -= n->len;
	}
	bpf_spin_unlock(&xdpq_lock);
	if (!r)
		return -1;
	n = container_of(r, struct xdpq_rbnode, rb);
	xdpq_rbnode_entry(n, e);
	xdpq_obj_drop(n);
	return 0;
}

#endif /* XDPQ_RBTREE_H */
