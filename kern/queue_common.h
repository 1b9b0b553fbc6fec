/* SPDX-License-Identifier: GPL-2.0 */
/* What the three queue maps share: the locks, the per-slot links, the entry
 * handed back by peek/dequeue and the outcome of an enqueue.
 *
 * Every queue operation takes its lock itself and holds it only for direct
 * memory access to this section: FIFOs and PIFOs xdpq_qlock, RBtrees
 * xdpq_lock (see below). Many CPUs enqueue; one consumer (the scheduler
 * timer, the ingress sending in its place, or a test run) peeks and dequeues,
 * so a peek followed by a dequeue of the same queue sees the same head.
 */
#ifndef XDPQ_QUEUE_COMMON_H
#define XDPQ_QUEUE_COMMON_H

#include "xdpq_defs.h"

enum xdpq_enq {
	XDPQ_ENQ_OK,
	XDPQ_ENQ_CLAMPED,	/* stored, but its rank was below the PIFO window */
	XDPQ_ENQ_FULL,		/* the queue is at its capacity */
	XDPQ_ENQ_OUT_OF_WINDOW,	/* PIFO: rank beyond the secondary window */
	XDPQ_ENQ_NO_MEMORY,	/* rbtree: no node could be allocated */
	XDPQ_ENQ_BAD_SLOT,	/* slot index outside the pool */
};

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

/* The RBtree's lock: bpf_rbtree operations need a bpf_spin_lock held, one
 * in the same map value as the tree's root. */
xdpq_locked struct bpf_spin_lock xdpq_lock;

/* The FIFOs' and PIFOs' lock, a test-and-set spin lock of our own. A
 * bpf_spin_lock and unlock cost ~45 ns on the development VM, half of the
 * enqueue and dequeue of a FIFO together: they are helper calls, and they
 * save and restore interrupts, for programs that run in hard interrupt
 * context. Every program that takes this lock runs with bottom halves off
 * (XDP, the timer's softirq, BPF_PROG_RUN), none in an interrupt, so a holder
 * is never interrupted by another taker on its CPU, and a compare-and-swap
 * and an exchange (a few ns) do. The holder runs a few dozen instructions of
 * direct memory access; a CPU that finds the lock taken spins (bpf_loop: the
 * verifier needs a bound, here 2^40 tries, which is never reached). Its own
 * cache line: enqueuers on every CPU write it. */
__u32 xdpq_qlock SEC(".data.xl") __attribute__((aligned(64)));

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

/* Contended: spin. A global function, so that the verifier checks it once,
 * not at every queue operation of the program. */
__attribute__((noinline)) int xdpq_qlock_spin(void)
{
	struct xdpq_spin s = {};

	bpf_loop(1 << 20, xdpq_qlock_wait, &s, 0);
	return s.held;
}

/* Take xdpq_qlock; false only if 2^40 tries found it taken. */
static __always_inline bool xdpq_qlock_take(void)
{
	return __sync_val_compare_and_swap(&xdpq_qlock, 0, 1) == 0 || xdpq_qlock_spin();
}

/* Give it back: the exchange is a full barrier, so everything written under
 * the lock is visible before it is seen free. */
static __always_inline void xdpq_qlock_give(void)
{
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
 * (zeroed storage is a valid empty list). Callers hold xdpq_qlock. */
static __always_inline void xdpq_list_append(__u32 *head, __u32 *tail, __u32 slot, bool empty)
{
	__u32 t = *tail;

	xdpq_link(slot)->next = XDPQ_NIL;
	if (empty)
		*head = slot;
	else if (t < XDPQ_LINKS)
		xdpq_link(t)->next = slot;
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
