/* SPDX-License-Identifier: GPL-2.0 */
/* What the three queue maps share: the lock, the per-slot links, the entry
 * handed back by peek/dequeue and the outcome of an enqueue.
 *
 * Every queue operation takes the lock itself (xdpq_lock_take, below) and
 * holds it only for direct memory access to this section. Many CPUs
 * enqueue; one consumer (the scheduler timer, or a test run) peeks and
 * dequeues, so a peek followed by a dequeue of the same queue sees the same
 * head.
 */
#ifndef XDPQ_QUEUE_COMMON_H
#define XDPQ_QUEUE_COMMON_H

#include "xdpq_defs.h"
#include <bpf/bpf_core_read.h>

enum xdpq_enq {
	XDPQ_ENQ_OK,
	XDPQ_ENQ_CLAMPED,	/* stored, but its rank was below the PIFO window */
	XDPQ_ENQ_FULL,		/* the queue is at its capacity */
	XDPQ_ENQ_OUT_OF_WINDOW,	/* PIFO: rank beyond the secondary window */
	XDPQ_ENQ_NO_MEMORY,	/* rbtree: no node could be allocated */
	XDPQ_ENQ_BAD_SLOT,	/* slot index outside the pool */
	XDPQ_ENQ_PUSHOUT,	/* stored in a full queue, whose worst entry was pushed out */
	XDPQ_ENQ_CLAMPED_PUSHOUT, /* both: stored below the PIFO window, and pushed one out */
};

/* A push-out's outcome, for the arrival alone: it was stored, as OK or CLAMPED
 * says (the entry it pushed out is the caller's to free and count). */
static __always_inline int xdpq_enq_arrival(int res)
{
	switch (res) {
	case XDPQ_ENQ_PUSHOUT:
		return XDPQ_ENQ_OK;
	case XDPQ_ENQ_CLAMPED_PUSHOUT:
		return XDPQ_ENQ_CLAMPED;
	default:
		return res;
	}
}

/* Whether the arrival is in the queue now (Enq.stored in xdpq/queues/base.py). */
static __always_inline bool xdpq_enq_stored(int res)
{
	res = xdpq_enq_arrival(res);
	return res == XDPQ_ENQ_OK || res == XDPQ_ENQ_CLAMPED;
}

struct xdpq_entry {
	__u64 rank;
	__u32 slot;
	__u32 len;
};

/* A queued slot: its rank and size, and the next slot of its list. */
struct xdpq_link {
	__u64 rank;
	__u32 next;
	__u32 len;
};

/* The scheduler's lock: every queue operation, and a tree across its levels,
 * holds it for direct memory access to this section. Two implementations,
 * chosen when the program is loaded (xdpq_lock_take):
 *
 * - bpf_spin_lock(&xdpq_lock). bpf_rbtree operations need it held (one in
 *   the same map value as the tree's root), so a program with RBtree nodes
 *   always uses it.
 * - xdpq_qlock, a test-and-set spin lock of our own. A bpf_spin_lock and
 *   unlock cost ~45 ns on the development VM, half of a FIFO's enqueue and
 *   dequeue together: helper calls that save and restore interrupts. A
 *   compare-and-swap and an exchange cost a few ns.
 *
 * The second is safe only if no taker can be interrupted, on its own CPU, by
 * another taker: that one would spin on a lock whose holder cannot run
 * again until it stops, for ever. bpf_spin_lock rules this out by turning
 * interrupts off. Our takers are XDP programs (in NAPI, a softirq; generic
 * XDP in netif_receive_skb, a softirq too; live BPF_PROG_RUN, which turns
 * bottom halves off itself), the bpf_timer callback (a softirq) and XDP
 * programs run by plain BPF_PROG_RUN from user space (xdpq_flush, the
 * stepper, tests). None runs in a hard interrupt or an NMI, and no tracing
 * program takes the lock. So all is well if plain BPF_PROG_RUN, too, runs its
 * program with bottom halves off, which it does from the kernel that has
 * struct bpf_net_context (6.11: bpf_test_run sets that context up under
 * local_bh_disable). Before it, a BPF_PROG_RUN holding the lock in process
 * context could be interrupted by the timer's softirq on the same CPU, which
 * would spin for ever: there, xdpq_lock_tas is false. On the running kernel,
 * tests/test_lock.py shows that the timer cannot run inside a plain
 * BPF_PROG_RUN of an XDP program, and tests/test_concurrency.py that
 * enqueues by BPF_PROG_RUN on every CPU beside the live timer neither
 * deadlock nor lose a packet. */
xdpq_locked struct bpf_spin_lock xdpq_lock;

/* Its own cache line: enqueuers on every CPU write it. */
__u32 xdpq_qlock SEC(".data.xl") __attribute__((aligned(64)));

/* Only its name matters: CO-RE asks whether the kernel has such a type. */
struct bpf_net_context___xdpq {
	int unused;
};

/* Does this program take xdpq_qlock? Known when it is loaded: the verifier
 * walks only the branch this kernel takes. */
static __always_inline bool xdpq_lock_tas(void)
{
#ifdef XDPQ_RBTREES
	return false;
#else
	return bpf_core_type_exists(struct bpf_net_context___xdpq);
#endif
}

struct xdpq_spin {
	bool held;
};

static long xdpq_qlock_try(__u64 i, struct xdpq_spin *s)
{
	/* Look before the compare-and-swap: spinners read a shared line and
	 * write it only when it may be free. */
	s->held = !*(volatile __u32 *)&xdpq_qlock &&
		  __sync_val_compare_and_swap(&xdpq_qlock, 0, 1) == 0;
	return s->held;
}

static long xdpq_qlock_wait(__u64 i, struct xdpq_spin *s)
{
	bpf_loop(1 << 20, xdpq_qlock_try, s, 0);
	return s->held;
}

/* Contended: spin. The holder runs a few dozen instructions of direct memory
 * access. The verifier needs a bound, here 2^40 tries: over a quarter of an
 * hour at a few ns each, far beyond the kernel's own lockup watchdogs, so
 * that reaching it means the system is already lost. A global function, so
 * that the verifier checks it once, not at every lock section. */
__attribute__((noinline)) int xdpq_qlock_spin(void)
{
	struct xdpq_spin s = {};

	bpf_loop(1 << 20, xdpq_qlock_wait, &s, 0);
	return s.held;
}

static __always_inline void xdpq_lock_take(void)
{
	if (!xdpq_lock_tas())
		bpf_spin_lock(&xdpq_lock);
	else if (__sync_val_compare_and_swap(&xdpq_qlock, 0, 1))
		xdpq_qlock_spin();
}

/* The exchange is a full barrier: everything written under the lock is
 * visible before the lock is seen free. */
static __always_inline void xdpq_lock_give(void)
{
	if (!xdpq_lock_tas())
		bpf_spin_unlock(&xdpq_lock);
	else
		__sync_lock_test_and_set(&xdpq_qlock, 0);
}

/* Queues hold slots (packets) and, in a hierarchy, tokens: the entry of a
 * child queue in its parent, numbered XDPQ_POOL_SLOTS + the child's index.
 * Each has a link; a slot or token is in at most one queue at a time. */
#define XDPQ_LINKS (2 * XDPQ_POOL_SLOTS)
#define XDPQ_TOKEN(child) (XDPQ_POOL_SLOTS + (child))

xdpq_locked struct xdpq_link xdpq_links[XDPQ_LINKS];

/* The link of a slot or token. Callers check slot < XDPQ_LINKS where it
 * matters for correctness; the mask is what the verifier needs to see. */
static __always_inline struct xdpq_link *xdpq_link(__u32 slot)
{
	xdpq_barrier_var(slot);
	return &xdpq_links[slot & (XDPQ_LINKS - 1)];
}

/* A singly linked list of slots, in order of arrival. Both FIFO queues and
 * PIFO buckets are such lists; their owners know whether they are empty
 * (zeroed storage is a valid empty list). Callers hold the lock. */
#ifdef XDPQ_PUSHOUT
/* The slot before each in its list, so that push-out can take a PIFO
 * bucket's tail (pifo.h xdpq_pifo_evict). Kept only in a program with
 * push-out: the others never walk a list backwards. Valid for every slot but
 * its list's head. */
xdpq_locked __u32 xdpq_prevs[XDPQ_LINKS];

static __always_inline __u32 *xdpq_prev(__u32 slot)
{
	xdpq_barrier_var(slot);
	return &xdpq_prevs[slot & (XDPQ_LINKS - 1)];
}
#endif

static __always_inline void xdpq_list_append(__u32 *head, __u32 *tail, __u32 slot, bool empty)
{
	__u32 t = *tail;

	xdpq_link(slot)->next = XDPQ_NIL;
	if (empty)
		*head = slot;
	else if (t < XDPQ_LINKS)
		xdpq_link(t)->next = slot;
#ifdef XDPQ_PUSHOUT
	*xdpq_prev(slot) = t;
#endif
	*tail = slot;
}

static __always_inline __u32 xdpq_list_pop(__u32 *head)
{
	__u32 h = *head;

	if (h >= XDPQ_LINKS)
		return XDPQ_NIL;
	*head = xdpq_link(h)->next;
	return h;
}

static __always_inline void xdpq_entry_of(struct xdpq_entry *e, __u32 slot)
{
	e->slot = slot;
	e->rank = xdpq_link(slot)->rank;
	e->len = xdpq_link(slot)->len;
}

#endif /* XDPQ_QUEUE_COMMON_H */
