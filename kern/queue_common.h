/* SPDX-License-Identifier: GPL-2.0 */
/* What the three queue maps share: the lock, the per-slot links, the entry
 * handed back by peek/dequeue and the outcome of an enqueue.
 *
 * Every queue operation takes xdpq_lock itself and holds it only for
 * direct memory access to this section. Many CPUs enqueue; one consumer
 * (the scheduler timer, or a test run) peeks and dequeues, so a peek
 * followed by a dequeue of the same queue sees the same head.
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

xdpq_locked struct bpf_spin_lock xdpq_lock;
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
 * (zeroed storage is a valid empty list). Callers hold xdpq_lock. */
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
