/* SPDX-License-Identifier: GPL-2.0 */
/* A node of a scheduling tree, and the heaps of entries that wait to become
 * eligible. The operations on a whole tree are in tree.h; the rules are
 * docs/queues.md's ("Trees and eligibility"), which xdpq/queues/tree.py
 * follows too.
 *
 * Every queue of a program (each queue of an array too) is a node: it keeps
 * the entries it may serve now in a FIFO, a PIFO or an rbtree, and counts all
 * it holds. An entry is a packet (its slot) or, in a parent, a child's token
 * (link XDPQ_POOL_SLOTS + child - XDPQ_TOPS: see tree.h).
 *
 * An entry that is not yet eligible waits in a heap ordered by (at, seq):
 * one heap for every entry on the real clock, and one per node on a virtual
 * clock. The heaps are leftist heaps threaded through struct xdpq_wait, one
 * per link, so that waiting needs no allocation: insert and delete-min merge
 * two right spines, each at most log2(n + 1) long.
 */
#ifndef XDPQ_NODE_H
#define XDPQ_NODE_H

#include "queue.h"

enum xdpq_kind { XDPQ_KIND_FIFO, XDPQ_KIND_PIFO, XDPQ_KIND_RBTREE };

/* Where a node's token is (xdpq/queues/tree.py NONE, HELD, ...). */
enum xdpq_tstate {
	XDPQ_T_NONE,		/* the node holds nothing: no token */
	XDPQ_T_HELD,		/* taken by a dequeue, which will put it back or release it */
	XDPQ_T_WAITING,		/* in a heap until its eligibility time */
	XDPQ_T_PARKED,		/* eligible, but its node has nothing it could serve */
	XDPQ_T_ELIGIBLE,	/* in its parent's queue */
};

struct xdpq_node {
	union {				/* the entries it may serve now, by kind */
		struct xdpq_fifo fifo;
		struct xdpq_pifo pifo;
		struct xdpq_rbtree rb;
	};
	__u64 bytes;		/* of the packets it holds, eligible or not */
	__u64 trank;		/* its token's rank and eligibility time */
	__u64 tat;
	__u32 len;		/* entries in any state but held (a parent: its children's tokens) */
	__u32 cap;
	__u32 avail;		/* entries it could serve: eligible, or waiting on its virtual clock */
	__u32 state;		/* of its token: enum xdpq_tstate */
	__u32 parent;		/* its parent's node; XDPQ_NIL at the top */
	__u32 kind;		/* enum xdpq_kind */
	__u32 clock;		/* its virtual clock; XDPQ_NIL: the real one */
	__u32 vheap;		/* the heap of entries waiting on its virtual clock */
	__u32 pushout;		/* full, it pushes out its worst entry for a better one */
};

/* Its fields but the queue's (.fifo, .pifo or .rb, initialised beside). */
#define XDPQ_NODE_INIT(kind_, cap_, parent_, clock_)					\
	.cap = (cap_), .parent = (parent_), .kind = (kind_), .clock = (clock_),		\
	.vheap = XDPQ_NIL

struct xdpq_wait {
	__u64 at;
	__u64 seq;
	__u32 left;
	__u32 right;
	__u32 npl;		/* null path length: 1 + that of its right child */
	__u32 node;		/* the node it waits to enter */
};

xdpq_locked struct xdpq_wait xdpq_waits[XDPQ_LINKS];
xdpq_locked __u32 xdpq_wait_root = XDPQ_NIL;	/* every entry waiting on the real clock */
xdpq_locked __u64 xdpq_wait_seq;
/* The right spine being merged, bottom last. Two spines of heaps of at most
 * XDPQ_LINKS = 8192 entries are at most 2 * 13 long. */
#define XDPQ_HEAP_PATH 32
xdpq_locked __u32 xdpq_heap_path[XDPQ_HEAP_PATH];

static __always_inline struct xdpq_wait *xdpq_wait(__u32 link)
{
	xdpq_barrier_var(link);
	return &xdpq_waits[link & (XDPQ_LINKS - 1)];
}

static __always_inline __u32 xdpq_npl(__u32 link)
{
	return link < XDPQ_LINKS ? xdpq_wait(link)->npl : 0;
}

static __always_inline bool xdpq_wait_before(__u32 a, __u32 b)
{
	struct xdpq_wait *x = xdpq_wait(a), *y = xdpq_wait(b);

	return x->at < y->at || (x->at == y->at && x->seq < y->seq);
}

/* Merge heaps a and b (XDPQ_NIL: empty); the new root. Down the right spine,
 * the smaller root stays and the rest merges into its right child; back up,
 * each node keeps the shorter path on its right. Callers hold the lock. */
static __always_inline __u32 xdpq_heap_merge(__u32 a, __u32 b)
{
	struct bpf_iter_num it;
	__u32 top, r, n = 0;
	int *i;

	if (a >= XDPQ_LINKS)
		return b;
	if (b >= XDPQ_LINKS)
		return a;
	if (xdpq_wait_before(b, a)) {
		top = b;
		b = a;
		a = top;
	}
	top = a;
	/* Counting with the iterator's own number: a count of our own would differ
	 * in every round, and the verifier could never see the loop settle. */
	bpf_iter_num_new(&it, 0, XDPQ_HEAP_PATH);
	while ((i = bpf_iter_num_next(&it))) {
		n = *i;
		xdpq_heap_path[n & (XDPQ_HEAP_PATH - 1)] = a;
		n++;
		r = xdpq_wait(a)->right;
		if (r >= XDPQ_LINKS) {
			xdpq_wait(a)->right = b;
			break;
		}
		if (xdpq_wait_before(b, r)) {
			xdpq_wait(a)->right = b;
			b = r;
		}
		a = xdpq_wait(a)->right;
	}
	bpf_iter_num_destroy(&it);
	bpf_iter_num_new(&it, 0, n);
	while ((i = bpf_iter_num_next(&it))) {
		struct xdpq_wait *w;
		__u32 l, k = n - 1 - *i;

		w = xdpq_wait(xdpq_heap_path[k & (XDPQ_HEAP_PATH - 1)]);
		l = w->left;
		r = w->right;
		if (xdpq_npl(l) < xdpq_npl(r)) {
			w->left = r;
			w->right = l;
			r = l;
		}
		w->npl = xdpq_npl(r) + 1;
	}
	bpf_iter_num_destroy(&it);
	return top;
}

/* Link (its at and seq set) into the heap at *root. */
static __always_inline void xdpq_heap_insert(__u32 *root, __u32 link)
{
	struct xdpq_wait *w = xdpq_wait(link);

	w->left = XDPQ_NIL;
	w->right = XDPQ_NIL;
	w->npl = 1;
	*root = xdpq_heap_merge(*root, link);
}

/* Link waits in the heap at *root until at, to enter node. */
static __always_inline void xdpq_heap_push(__u32 *root, __u32 link, __u64 at, __u32 node)
{
	struct xdpq_wait *w = xdpq_wait(link);

	w->at = at;
	w->seq = ++xdpq_wait_seq;
	w->node = node;
	xdpq_heap_insert(root, link);
}

/* Take the heap's first link (the caller knows there is one). */
static __always_inline __u32 xdpq_heap_pop(__u32 *root)
{
	__u32 top = *root;
	struct xdpq_wait *w = xdpq_wait(top);

	*root = xdpq_heap_merge(w->left, w->right);
	return top;
}

#endif /* XDPQ_NODE_H */
