/* SPDX-License-Identifier: GPL-2.0 */
/* A scheduling tree of any depth under the one lock, with eligibility (PIEO).
 *
 * The rules are docs/queues.md's ("Trees and eligibility"); xdpq/queues/tree.py
 * is the twin, function by function, and tests/test_trees.py holds the two
 * equal on random trees. node.h has the node and the heaps.
 *
 * Nodes 0..XDPQ_TOPS-1 are the top-level queues, served in that order (strict
 * priority); a node under a parent stands in it by its token, link
 * XDPQ_TOKEN_OF(node). A token is in its parent's queue only while its node
 * has an entry it could serve (avail), so a dequeue walks down from the first
 * top-level node with avail, taking the head at each level, to a packet, in
 * one lock section (xdpq_tree_serve). The hooks run outside the lock: the
 * dequeue hook, then, back up the path, each node's ready hook, whose rank
 * and time place its token again (xdpq_tree_place) unless the node emptied
 * (xdpq_tree_release). Loops over levels are bpf_iter_num loops: the verifier
 * checks a level once, whatever the depth. The operations that branch much
 * under the lock are static subprograms (__noinline): a call comes back to its
 * caller as one state, where inlined its branches would multiply the states
 * the verifier keeps through the walk (drr's dequeue: 350k instructions
 * verified inlined, 16k so).
 *
 * The generated program defines, before including this header: XDPQ_NODES (a
 * power of two, at least its nodes), XDPQ_TOPS, xdpq_nodes[], xq_clock(k) (the
 * address of its virtual clock k) and, with XDPQ_RBTREES, xq_rbtree_root(n)
 * (the root of rbtree node n). It also says which of the tree's features it
 * uses, so that the verifier walks no code the program cannot reach:
 * XDPQ_FIFOS and XDPQ_PIFOS (nodes of those kinds), XDPQ_RBTREES (and
 * XDPQ_RBARRAYS, arrays of them: one root per array, see below), XDPQ_PARENTS
 * (nodes under parents), XDPQ_WAITS (eligibility times on the real clock) and
 * XDPQ_VCLOCKS (virtual clocks).
 */
#ifndef XDPQ_TREE_H
#define XDPQ_TREE_H

#include "node.h"
#include "kfuncs.h"

#define XDPQ_MAX_DEPTH 8
_Static_assert((XDPQ_NODES & (XDPQ_NODES - 1)) == 0, "XDPQ_NODES: power of two");

#define XDPQ_TOKEN_OF(node) (XDPQ_POOL_SLOTS + (node) - XDPQ_TOPS)
#define XDPQ_NODE_OF(link) ((link) - XDPQ_POOL_SLOTS + XDPQ_TOPS)

/* A node's token exists, or someone is placing it. Enqueuers (any CPU) and the
 * dequeuer race for it: whoever turns it from 0 to 1 runs the node's ready
 * hook and places the token, so a node never has two. */
__u32 xdpq_claimed[XDPQ_NODES];

/* The way a dequeued packet came: the node and the rank taken at each level,
 * from the top (0) to its leaf (depth). */
struct xdpq_path {
	__u64 rank[XDPQ_MAX_DEPTH];
	__u32 node[XDPQ_MAX_DEPTH];
	__u32 depth;
	__u32 pad;
};

/* The current dequeue's. One consumer dequeues at a time (xdpq_consumer in
 * datapath.h), so one is enough; on the stack, its 104 bytes would take the
 * dequeue's frame, under the ingress's, past the 512 bytes a call chain may
 * have. */
struct xdpq_path xdpq_walk;

static __always_inline struct xdpq_node *xdpq_node(__u32 n)
{
	xdpq_barrier_var(n);
	return &xdpq_nodes[n & (XDPQ_NODES - 1)];
}

#if defined(XDPQ_WAITS) || defined(XDPQ_VCLOCKS)
#define XDPQ_TIMED 1	/* entries may wait */
#endif

static __always_inline __u64 xdpq_clock_of(struct xdpq_node *nd, __u64 now)
{
#ifdef XDPQ_VCLOCKS
	return nd->clock == XDPQ_NIL ? now : *xq_clock(nd->clock);
#else
	return now;
#endif
}

static __always_inline bool xdpq_real_clock(struct xdpq_node *nd)
{
#ifdef XDPQ_VCLOCKS
	return nd->clock == XDPQ_NIL;
#else
	return true;
#endif
}

/* Is a FIFO or PIFO node a PIFO? (Known when the program has one kind.) */
static __always_inline bool xdpq_is_pifo(struct xdpq_node *nd)
{
#if defined(XDPQ_PIFOS) && defined(XDPQ_FIFOS)
	return nd->kind == XDPQ_KIND_PIFO;
#elif defined(XDPQ_PIFOS)
	return true;
#else
	return false;
#endif
}

static __always_inline bool xdpq_is_rbtree(struct xdpq_node *nd)
{
#if defined(XDPQ_RBTREES) && (defined(XDPQ_PIFOS) || defined(XDPQ_FIFOS))
	return nd->kind == XDPQ_KIND_RBTREE;
#elif defined(XDPQ_RBTREES)
	return true;
#else
	return false;
#endif
}

/* Entries in the node's FIFO or PIFO (what it may serve now). */
static __always_inline __u32 xdpq_node_queued(struct xdpq_node *nd)
{
	return xdpq_is_pifo(nd) ? nd->pifo.len : nd->fifo.len;
}

/* An entry that cannot be refused (a token, or a packet whose time came) into
 * a FIFO or PIFO node: a rank beyond the PIFO's windows takes its last bucket.
 * (Only an empty PIFO moves its base, and it takes any rank: the second push
 * fits.) */
static __noinline void xdpq_node_insert(struct xdpq_node *nd, __u32 link, __u64 rank,
					     __u32 len)
{
	if (!xdpq_is_pifo(nd)) {
		xdpq_fifo_push(&nd->fifo, link, rank, len);
		return;
	}
	if (xdpq_pifo_push(&nd->pifo, link, rank, len) == XDPQ_ENQ_OUT_OF_WINDOW)
		xdpq_pifo_push(&nd->pifo, link, nd->pifo.base + 2 * (__u64)nd->pifo.range - 1, len);
}

/* What enqueueing rank would answer now, for a packet that is to wait. */
static __always_inline int xdpq_node_window(struct xdpq_node *nd, __u64 rank)
{
	struct xdpq_pifo *q = &nd->pifo;

	if (!xdpq_is_pifo(nd) || !(q->len || q->fixed))
		return XDPQ_ENQ_OK;
	if (rank < q->base)
		return xdpq_pifo_lowers(q, rank) ? XDPQ_ENQ_OK : XDPQ_ENQ_CLAMPED;
	return rank - q->base >= 2 * (__u64)q->range ? XDPQ_ENQ_OUT_OF_WINDOW : XDPQ_ENQ_OK;
}

/* Node n gained an entry it could serve: its token, if it was parked for want
 * of one, is to be put now (returned), else XDPQ_NIL. */
static __always_inline __u32 xdpq_gain(__u32 n)
{
	struct xdpq_node *nd = xdpq_node(n);

	nd->avail++;
	return nd->avail == 1 && nd->state == XDPQ_T_PARKED ? n : XDPQ_NIL;
}

/* Node c (which has avail) puts its token into its parent: its queue, if the
 * token's time has come on the parent's clock, else a heap; and further up,
 * while each parent gains its first entry with its own token parked. */
static __noinline void xdpq_put(__u32 c, __u64 now)
{
	struct bpf_iter_num it;
	int *i;

	bpf_iter_num_new(&it, 0, XDPQ_MAX_DEPTH);
	/* c first: most puts end after one step, and a step asked for costs a
	 * kfunc call. */
	while (c != XDPQ_NIL && (i = bpf_iter_num_next(&it))) {
		struct xdpq_node *cd = xdpq_node(c), *pd;
		__u32 p = cd->parent;

		pd = xdpq_node(p);
#ifdef XDPQ_TIMED
		if (cd->tat > xdpq_clock_of(pd, now)) {
			cd->state = XDPQ_T_WAITING;
			if (xdpq_real_clock(pd)) {
				xdpq_heap_push(&xdpq_wait_root, XDPQ_TOKEN_OF(c), cd->tat, p);
				break;
			}
			xdpq_heap_push(&pd->vheap, XDPQ_TOKEN_OF(c), cd->tat, p);
			c = xdpq_gain(p);
			continue;
		}
#endif
		xdpq_node_insert(pd, XDPQ_TOKEN_OF(c), cd->trank, 0);
		cd->state = XDPQ_T_ELIGIBLE;
		c = xdpq_gain(p);
	}
	bpf_iter_num_destroy(&it);
}

/* Is node c's token, placed now, to wait (in a heap) on its parent's clock? */
static __always_inline bool xdpq_token_waits(struct xdpq_node *cd, __u64 now)
{
#ifdef XDPQ_TIMED
	return cd->tat > xdpq_clock_of(xdpq_node(cd->parent), now);
#else
	return false;
#endif
}

static __always_inline void xdpq_gained(__u32 n, __u64 now)
{
#ifdef XDPQ_PARENTS
	__u32 c = xdpq_gain(n);

	if (c != XDPQ_NIL)
		xdpq_put(c, now);
#else
	xdpq_node(n)->avail++;
#endif
}

#ifdef XDPQ_PUSHOUT
/* A push-out leaf is full (docs/queues.md, "Push-out"): its worst entry
 * leaves for an arrival of this rank that would be served before it, into
 * *out. The node keeps its token: it stays non-empty, the arrival takes the
 * victim's place, and a PIFO or rbtree leaf's head changes only if the
 * arrival is the new head. (The checker gives push-out only to leaves whose
 * packets never wait, so every entry of the node is in its queue.) */
static __always_inline void xdpq_node_evicted(struct xdpq_node *nd, struct xdpq_entry *out)
{
	nd->len--;
	nd->avail--;
	nd->bytes -= out->len;
}

/* Its outcome for a stored arrival that pushed one out. */
static __always_inline int xdpq_pushed(int res)
{
	return res == XDPQ_ENQ_CLAMPED ? XDPQ_ENQ_CLAMPED_PUSHOUT : XDPQ_ENQ_PUSHOUT;
}
#endif

/* A packet into FIFO or PIFO leaf n (lock held): eligible now on its clock,
 * into its queue; else it waits, after the PIFO's window says yes. A full
 * push-out PIFO first pushes its worst entry out into *out. */
static __always_inline int xdpq_node_enter(__u32 n, __u32 slot, __u64 rank, __u32 len,
					   __u64 at, __u64 now, struct xdpq_entry *out)
{
	struct xdpq_node *nd = xdpq_node(n);
#ifdef XDPQ_PUSHOUT
	bool pushed = false;
#endif
	int res;

	if (nd->len >= nd->cap) {
#ifdef XDPQ_PUSHOUT
		if (!nd->pushout || !xdpq_is_pifo(nd) || xdpq_pifo_evict(&nd->pifo, rank, out))
			return XDPQ_ENQ_FULL;
		xdpq_node_evicted(nd, out);
		pushed = true;
#else
		return XDPQ_ENQ_FULL;
#endif
	}
#ifdef XDPQ_TIMED
	if (at <= xdpq_clock_of(nd, now)) {
#endif
		if (xdpq_is_pifo(nd))
			res = xdpq_pifo_push(&nd->pifo, slot, rank, len);
		else
			res = xdpq_fifo_push(&nd->fifo, slot, rank, len);
		if (res != XDPQ_ENQ_OK && res != XDPQ_ENQ_CLAMPED)
			return res;
		nd->len++;
		nd->bytes += len;
		xdpq_gained(n, now);
#ifdef XDPQ_PUSHOUT
		if (pushed)
			return xdpq_pushed(res);
#endif
		return res;
#ifdef XDPQ_TIMED
	}
	res = xdpq_node_window(nd, rank);
	if (res == XDPQ_ENQ_OUT_OF_WINDOW)
		return res;
	xdpq_link(slot)->rank = rank;
	xdpq_link(slot)->len = len;
	nd->len++;
	nd->bytes += len;
	if (xdpq_real_clock(nd)) {
		xdpq_heap_push(&xdpq_wait_root, slot, at, n);
		return res;
	}
	xdpq_heap_push(&nd->vheap, slot, at, n);
	xdpq_gained(n, now);
	return res;
#endif
}

/* A packet into FIFO or PIFO leaf n; a PUSHOUT outcome gives the entry pushed
 * out in *out, whose slot the caller releases. */
static __always_inline int xdpq_tree_push(__u32 n, __u32 slot, __u64 rank, __u32 len, __u64 at,
					  __u64 now, struct xdpq_entry *out)
{
	int res;

	if (slot >= XDPQ_POOL_SLOTS)
		return XDPQ_ENQ_BAD_SLOT;
	xdpq_lock_take();
	res = xdpq_node_enter(n, slot, rank, len, at, now, out);
	xdpq_lock_give();
	return res;
}

/* Node c's token has the rank and time its ready hook gave, and counts in its
 * parent: true if it is to be put now, else (c has nothing it could serve) it
 * parks. Lock held. */
static __always_inline bool xdpq_token_ranked(struct xdpq_node *cd, __u64 rank, __u64 at)
{
	cd->trank = rank;
	cd->tat = at;
	xdpq_node(cd->parent)->len++;
	if (cd->avail)
		return true;
	cd->state = XDPQ_T_PARKED;
	return false;
}

/* Node c's ready hook gave its token a rank and a time: place it. */
static __noinline void xdpq_tree_place(__u32 c, __u64 rank, __u64 at, __u64 now)
{
	xdpq_lock_take();
	if (xdpq_token_ranked(xdpq_node(c), rank, at))
		xdpq_put(c, now);
	xdpq_lock_give();
}

/* The same, for a node on a dequeue's way back up. Its parent is on that way
 * too, its token held by this dequeue (or it is a top-level node, which has
 * none): never parked, so a token that need not wait goes into the parent's
 * queue and no further, without xdpq_put's loop (whose kfunc calls made a
 * 4-level dequeue 5.4x a single PIFO's in bench/trees.py, 4.0x without). */
static __always_inline void xdpq_tree_replace(__u32 c, __u64 rank, __u64 at, __u64 now)
{
	struct xdpq_node *cd = xdpq_node(c), *pd;

	xdpq_lock_take();
	if (xdpq_token_ranked(cd, rank, at)) {
		if (xdpq_token_waits(cd, now)) {
			xdpq_put(c, now);
		} else {
			pd = xdpq_node(cd->parent);
			xdpq_node_insert(pd, XDPQ_TOKEN_OF(c), rank, 0);
			cd->state = XDPQ_T_ELIGIBLE;
			pd->avail++;
		}
	}
	xdpq_lock_give();
}

static __always_inline bool xdpq_tree_claim(__u32 n)
{
	return __sync_val_compare_and_swap(&xdpq_claimed[n & (XDPQ_NODES - 1)], 0, 1) == 0;
}

/* A dequeue held node c's token and c is empty: it has no place. Then look
 * again, for a packet may have come after the look and before the release
 * (its enqueuer saw the claim still taken and left the token to us): true
 * when the caller won the claim back and must place the token after all. */
static __noinline bool xdpq_tree_release(__u32 c)
{
	struct xdpq_node *cd = xdpq_node(c);

	xdpq_lock_take();
	cd->state = XDPQ_T_NONE;
	xdpq_lock_give();
	__sync_lock_test_and_set(&xdpq_claimed[c & (XDPQ_NODES - 1)], 0);
	return *(volatile __u32 *)&cd->len && xdpq_tree_claim(c);
}

/* -- rbtree arrays ------------------------------------------------------------- */

#ifdef XDPQ_RBARRAYS
/* The queues of an rbtree array share one kernel rbtree (xq_rbtree_root gives
 * each of them its array's root): the verifier takes a bpf_rb_root only at an
 * offset it knows, so roots[i] with i known at run time cannot be. Its nodes
 * are ordered by (node, rank, seq), so each queue's entries lie together, in
 * its own order; the queue's counts stay in its xdpq_node. Single rbtrees of
 * such a program use the same order (their node is always the same). */
static bool xdpq_rba_less(struct bpf_rb_node *a, const struct bpf_rb_node *b)
{
	struct xdpq_rbnode *x = container_of(a, struct xdpq_rbnode, rb);
	struct xdpq_rbnode *y = container_of(b, struct xdpq_rbnode, rb);

	if (x->node != y->node)
		return x->node < y->node;
	return x->rank < y->rank || (x->rank == y->rank && x->seq < y->seq);
}

/* The first entry of node n in the shared tree (lock held): the lower bound
 * of (n, 0, 0), found going down from the root; NULL when n has none. */
static __always_inline struct bpf_rb_node *xdpq_rba_first(struct bpf_rb_root *root, __u32 n)
{
	struct bpf_rb_node *r = bpf_rbtree_root(root), *found = NULL;
	struct bpf_iter_num it;
	int *i;

	bpf_iter_num_new(&it, 0, XDPQ_RB_HEIGHT);
	while (r && (i = bpf_iter_num_next(&it))) {
		if (container_of(r, struct xdpq_rbnode, rb)->node < n) {
			r = bpf_rbtree_right(root, r);
		} else {
			found = r;
			r = bpf_rbtree_left(root, r);
		}
	}
	bpf_iter_num_destroy(&it);
	if (found && container_of(found, struct xdpq_rbnode, rb)->node != n)
		return NULL;
	return found;
}

#ifdef XDPQ_PUSHOUT
/* The last entry of node n (push-out's worst): the greatest with that node,
 * found going down from the root as xdpq_rba_first does; NULL when n has none. */
static __always_inline struct bpf_rb_node *xdpq_rba_last(struct bpf_rb_root *root, __u32 n)
{
	struct bpf_rb_node *r = bpf_rbtree_root(root), *found = NULL;
	struct bpf_iter_num it;
	int *i;

	bpf_iter_num_new(&it, 0, XDPQ_RB_HEIGHT);
	while (r && (i = bpf_iter_num_next(&it))) {
		if (container_of(r, struct xdpq_rbnode, rb)->node > n) {
			r = bpf_rbtree_left(root, r);
		} else {
			found = r;
			r = bpf_rbtree_right(root, r);
		}
	}
	bpf_iter_num_destroy(&it);
	if (found && container_of(found, struct xdpq_rbnode, rb)->node != n)
		return NULL;
	return found;
}
#define xdpq_rb_last(root, n) xdpq_rba_last(root, n)
#endif

#define xdpq_rb_first(root, n) xdpq_rba_first(root, n)
#define xdpq_rb_order xdpq_rba_less

/* q.head of a queue of an rbtree array: the size of its first packet, 0 when
 * it has none. */
static __noinline __u64 xdpq_rba_head(__u32 n)
{
	struct bpf_rb_node *r;
	__u64 len = 0;

	xdpq_lock_take();
	r = xdpq_rba_first(xq_rbtree_root(n), n);
	if (r)
		len = *(volatile __u32 *)&container_of(r, struct xdpq_rbnode, rb)->len;
	xdpq_lock_give();
	return len;
}
#elif defined(XDPQ_RBTREES)
#define xdpq_rb_first(root, n) bpf_rbtree_first(root)
#define xdpq_rb_last(root, n) xdpq_rbtree_last(root)
#define xdpq_rb_order xdpq_rb_less
#endif

/* -- the way out --------------------------------------------------------------- */

#ifdef XDPQ_VCLOCKS
/* Move the entries of virtual-clock node nd whose time has come on its clock
 * into its queue; with none eligible, the clock first moves on to the
 * earliest it holds. */
static __always_inline void xdpq_node_refill(struct xdpq_node *nd)
{
	struct bpf_iter_num it;
	__u64 *v = xq_clock(nd->clock);
	__u32 x;
	int *i;

	if (nd->vheap < XDPQ_LINKS && !xdpq_node_queued(nd) && xdpq_wait(nd->vheap)->at > *v)
		*v = xdpq_wait(nd->vheap)->at;
	bpf_iter_num_new(&it, 0, XDPQ_LINKS);
	while ((i = bpf_iter_num_next(&it))) {
		if (nd->vheap >= XDPQ_LINKS || xdpq_wait(nd->vheap)->at > *v)
			break;
		x = xdpq_heap_pop(&nd->vheap);
		if (x >= XDPQ_POOL_SLOTS) {
			struct xdpq_node *cd = xdpq_node(XDPQ_NODE_OF(x));

			cd->state = XDPQ_T_ELIGIBLE;
			xdpq_node_insert(nd, x, cd->trank, 0);
		} else {
			xdpq_node_insert(nd, x, xdpq_link(x)->rank, xdpq_link(x)->len);
		}
	}
	bpf_iter_num_destroy(&it);
}
#endif

/* The head of FIFO or PIFO node n, which can serve (lock held). */
static __always_inline int xdpq_node_take(__u32 n, struct xdpq_entry *e)
{
	struct xdpq_node *nd = xdpq_node(n);
	int res;

#ifdef XDPQ_VCLOCKS
	if (nd->clock != XDPQ_NIL)
		xdpq_node_refill(nd);
#endif
	if (xdpq_is_pifo(nd))
		res = xdpq_pifo_pop(&nd->pifo, e);
	else
		res = xdpq_fifo_pop(&nd->fifo, e);
	if (res)
		return res;
	nd->avail--;
	nd->len--;
	nd->bytes -= e->len;
	return 0;
}

#if XDPQ_NODES == 1 && !defined(XDPQ_RBTREES)
/* One FIFO or PIFO and no tree: its head, as the walk below finds it (node 0
 * at depth 0), without the walk, whose iterators cost a kfunc call a step:
 * a third of a FIFO's ingress program cutting through. */
static __always_inline int xdpq_tree_serve(struct xdpq_entry *e, struct xdpq_path *path)
{
	int res = -1;

	xdpq_lock_take();
	path->node[0] = 0;
	path->depth = 0;
	if (xdpq_node(0)->avail && !xdpq_node_take(0, e)) {
		path->rank[0] = e->rank;
		res = 0;
	}
	xdpq_lock_give();
	return res;
}
#else
/* The first top-level node that can serve gives its head, walking down the
 * tokens to a packet; 0, or -1 when no node can serve now. */
static __always_inline int xdpq_tree_serve(struct xdpq_entry *e, struct xdpq_path *path)
{
	struct bpf_iter_num it;
	__u32 n = XDPQ_NIL, d = 0, rb = XDPQ_NIL;
	int *i, res = -1;

	/* A level the packet did not come through reads as 0 (p.q.rank). */
	__builtin_memset(path, 0, sizeof(*path));
	xdpq_lock_take();
#if XDPQ_TOPS == 1
	if (xdpq_node(0)->avail)
		n = 0;
#else
	bpf_iter_num_new(&it, 0, XDPQ_TOPS);
	while ((i = bpf_iter_num_next(&it))) {
		if (xdpq_node(*i)->avail) {
			n = *i;
			break;
		}
	}
	bpf_iter_num_destroy(&it);
#endif
	if (n == XDPQ_NIL)
		goto out;
	bpf_iter_num_new(&it, 0, XDPQ_MAX_DEPTH);
	while ((i = bpf_iter_num_next(&it))) {
		d = *i & (XDPQ_MAX_DEPTH - 1);
		path->node[d] = n;
		if (xdpq_is_rbtree(xdpq_node(n))) {
			rb = n;
			break;
		}
		if (xdpq_node_take(n, e))
			break;
		path->rank[d] = e->rank;
		if (e->slot < XDPQ_POOL_SLOTS) {
			res = 0;
			break;
		}
		n = XDPQ_NODE_OF(e->slot);
		xdpq_node(n)->state = XDPQ_T_HELD;
	}
	bpf_iter_num_destroy(&it);
	path->depth = d;
#ifdef XDPQ_RBTREES
	if (rb != XDPQ_NIL) {
		struct bpf_rb_root *root = xq_rbtree_root(rb);
		struct bpf_rb_node *r = xdpq_rb_first(root, rb);
		struct xdpq_rbnode *x;
		struct xdpq_node *nd;

		if (r)
			r = bpf_rbtree_remove(root, r);
		if (!r)
			goto out;
		x = container_of(r, struct xdpq_rbnode, rb);
		nd = xdpq_node(rb);
		nd->rb.len--;
		nd->rb.bytes -= x->len;
		nd->avail--;
		nd->len--;
		nd->bytes -= x->len;
		xdpq_lock_give();
		xdpq_rbnode_entry(x, e);
		xdpq_obj_drop(x);
		path->rank[d] = e->rank;
		return 0;
	}
#endif
out:
	xdpq_lock_give();
	return res;
}
#endif

#ifdef XDPQ_WAITS
/* When the next entry waiting on the real clock becomes eligible; ~0 if none. */
static __always_inline __u64 xdpq_tree_later(void)
{
	__u64 at = ~0ULL;
	__u32 r;

	xdpq_lock_take();
	r = xdpq_wait_root;
	if (r < XDPQ_LINKS)
		at = xdpq_wait(r)->at;
	xdpq_lock_give();
	return at;
}
#endif

#ifdef XDPQ_RBTREES
#ifdef XDPQ_PUSHOUT
/* A full push-out rbtree leaf: its worst node, taken out if an arrival of
 * this rank would leave before it (a lower rank: with an equal one it would
 * leave after it); else NULL. The caller reads it into its entry and frees
 * it once it has given the lock back. */
static __always_inline struct xdpq_rbnode *xdpq_rbtree_evict(__u32 n, __u64 rank)
{
	struct bpf_rb_root *root = xq_rbtree_root(n);
	struct bpf_rb_node *r = xdpq_rb_last(root, n);
	struct xdpq_node *nd = xdpq_node(n);
	struct xdpq_rbnode *x;

	if (!r || rank >= container_of(r, struct xdpq_rbnode, rb)->rank)
		return NULL;
	r = bpf_rbtree_remove(root, r);
	if (!r)
		return NULL;
	x = container_of(r, struct xdpq_rbnode, rb);
	nd->rb.len--;
	nd->rb.bytes -= x->len;
	nd->len--;
	nd->avail--;
	nd->bytes -= x->len;
	return x;
}
#endif

/* The node a push-out took out (if any) into its entry, and freed: with the
 * lock given back. */
static __always_inline void xdpq_rbtree_evicted(struct xdpq_rbnode *v, struct xdpq_entry *out)
{
	if (!v)
		return;
	xdpq_rbnode_entry(v, out);
	xdpq_obj_drop(v);
}

/* A packet into rbtree leaf n: its node is allocated first (not allowed
 * under the lock), and freed again if the packet waits or is refused. A full
 * push-out leaf pushes its worst out for it, into *out (PUSHOUT). */
static __always_inline int xdpq_tree_push_rb(__u32 n, __u32 slot, __u64 rank, __u32 len,
					     __u64 at, __u64 now, struct xdpq_entry *out)
{
	struct xdpq_rbnode *x, *v = NULL;
	struct xdpq_node *nd;
	int res = XDPQ_ENQ_OK;

	if (slot >= XDPQ_POOL_SLOTS)
		return XDPQ_ENQ_BAD_SLOT;
	x = xdpq_obj_new(struct xdpq_rbnode);
	if (!x)
		return XDPQ_ENQ_NO_MEMORY;
	x->rank = rank;
	*(volatile __u32 *)&x->slot = slot;
	*(volatile __u32 *)&x->len = len;
	*(volatile __u32 *)&x->node = n;
	xdpq_lock_take();
	nd = xdpq_node(n);
	if (nd->len >= nd->cap) {
#ifdef XDPQ_PUSHOUT
		if (nd->pushout)
			v = xdpq_rbtree_evict(n, rank);
#endif
		if (!v) {
			xdpq_lock_give();
			xdpq_obj_drop(x);
			return XDPQ_ENQ_FULL;
		}
		res = XDPQ_ENQ_PUSHOUT;
	}
#ifdef XDPQ_WAITS
	if (at > now) {
		xdpq_link(slot)->rank = rank;
		xdpq_link(slot)->len = len;
		nd->len++;
		nd->bytes += len;
		xdpq_heap_push(&xdpq_wait_root, slot, at, n);
		xdpq_lock_give();
		xdpq_obj_drop(x);
		xdpq_rbtree_evicted(v, out);
		return res;
	}
#endif
	x->seq = nd->rb.seq++;
	xdpq_rbtree_add(xq_rbtree_root(n), &x->rb, xdpq_rb_order);
	nd->rb.len++;
	nd->rb.bytes += len;
	nd->len++;
	nd->bytes += len;
	xdpq_gained(n, now);
	xdpq_lock_give();
	xdpq_rbtree_evicted(v, out);
	return res;
}

#ifdef XDPQ_WAITS
/* A packet whose time came into rbtree node n: a node for it, allocated
 * outside the lock; 0, or 1 when none could be had (it waits on, at the
 * head of the heap, for the next dequeue). */
static __always_inline int xdpq_due_rb(__u32 slot, __u32 n, __u64 now)
{
	struct xdpq_rbnode *x = xdpq_obj_new(struct xdpq_rbnode);
	struct xdpq_node *nd;

	if (!x) {
		xdpq_lock_take();
		xdpq_heap_insert(&xdpq_wait_root, slot);
		xdpq_lock_give();
		return 1;
	}
	*(volatile __u32 *)&x->slot = slot;
	*(volatile __u32 *)&x->node = n;
	xdpq_lock_take();
	x->rank = xdpq_link(slot)->rank;
	*(volatile __u32 *)&x->len = xdpq_link(slot)->len;
	nd = xdpq_node(n);
	x->seq = nd->rb.seq++;
	nd->rb.len++;
	nd->rb.bytes += xdpq_link(slot)->len;
	xdpq_rbtree_add(xq_rbtree_root(n), &x->rb, xdpq_rb_order);
	xdpq_gained(n, now);
	xdpq_lock_give();
	return 0;
}
#endif
#endif

#ifdef XDPQ_WAITS
/* Move the first waiting entry into its node if its time has come: 0, or 1
 * when none is due. A token whose node has nothing it could serve parks. */
static __always_inline int xdpq_due_one(__u64 now)
{
	struct xdpq_node *nd;
	__u32 r, n;

	xdpq_lock_take();
	r = xdpq_wait_root;
	if (r >= XDPQ_LINKS || xdpq_wait(r)->at > now) {
		xdpq_lock_give();
		return 1;
	}
	xdpq_heap_pop(&xdpq_wait_root);
	n = xdpq_wait(r)->node;
	nd = xdpq_node(n);
	if (r >= XDPQ_POOL_SLOTS) {
		struct xdpq_node *cd = xdpq_node(XDPQ_NODE_OF(r));

		if (!cd->avail) {
			cd->state = XDPQ_T_PARKED;
			xdpq_lock_give();
			return 0;
		}
		cd->state = XDPQ_T_ELIGIBLE;
		xdpq_node_insert(nd, r, cd->trank, 0);
#ifdef XDPQ_RBTREES
	} else if (xdpq_is_rbtree(nd)) {
		xdpq_lock_give();
		return xdpq_due_rb(r, n, now);
#endif
	} else {
		xdpq_node_insert(nd, r, xdpq_link(r)->rank, xdpq_link(r)->len);
	}
	xdpq_gained(n, now);
	xdpq_lock_give();
	return 0;
}

/* Every entry waiting on the real clock whose time has come, in (at, seq)
 * order, each in a lock section of its own. */
static __always_inline void xdpq_tree_due(__u64 now)
{
	struct bpf_iter_num it;
	int *i;

	bpf_iter_num_new(&it, 0, XDPQ_LINKS);
	while ((i = bpf_iter_num_next(&it)))
		if (xdpq_due_one(now))
			break;
	bpf_iter_num_destroy(&it);
}
#endif

/* q.head of a FIFO or PIFO node: the size of the first packet it may give now. */
static __noinline __u64 xdpq_node_head(__u32 n)
{
	struct xdpq_node *nd = xdpq_node(n);
	struct xdpq_entry e;
	int res;

	xdpq_lock_take();
	if (xdpq_is_pifo(nd))
		res = xdpq_pifo_head_entry(&nd->pifo, &e);
	else
		res = xdpq_fifo_first(&nd->fifo, &e);
	xdpq_lock_give();
	return res ? 0 : e.len;
}

#endif /* XDPQ_TREE_H */
