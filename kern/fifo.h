/* SPDX-License-Identifier: GPL-2.0 */
/* FIFO queue: a list of slots in arrival order. The rank is stored (the
 * dequeue hook may read it) but plays no part in the order. */
#ifndef XDPQ_FIFO_H
#define XDPQ_FIFO_H

#include "queue_common.h"

struct xdpq_fifo {
	__u32 head;
	__u32 tail;
	__u32 len;
	__u32 cap;
	__u64 bytes;
};

#define XDPQ_FIFO_INIT(capacity) { .cap = (capacity) }

/* The operations, with xdpq_lock held (a tree holds it across its levels). */
static __always_inline int xdpq_fifo_push(struct xdpq_fifo *q, __u32 slot, __u64 rank, __u32 len)
{
	if (q->len >= q->cap)
		return XDPQ_ENQ_FULL;
	xdpq_link(slot)->rank = rank;
	xdpq_link(slot)->len = len;
	xdpq_list_append(&q->head, &q->tail, slot, q->len == 0);
	q->len++;
	q->bytes += len;
	return XDPQ_ENQ_OK;
}

static __always_inline int xdpq_fifo_first(struct xdpq_fifo *q, struct xdpq_entry *e)
{
	if (!q->len || q->head >= XDPQ_LINKS)
		return -1;
	xdpq_entry_of(e, q->head);
	return 0;
}

static __always_inline int xdpq_fifo_pop(struct xdpq_fifo *q, struct xdpq_entry *e)
{
	__u32 slot = q->len ? xdpq_list_pop(&q->head) : XDPQ_NIL;

	if (slot >= XDPQ_LINKS)
		return -1;
	xdpq_entry_of(e, slot);
	q->len--;
	q->bytes -= e->len;
	return 0;
}

/* The same, each taking the lock itself. */
static __always_inline int xdpq_fifo_enqueue(struct xdpq_fifo *q, __u32 slot, __u64 rank,
					     __u32 len)
{
	int ret;

	if (slot >= XDPQ_LINKS)
		return XDPQ_ENQ_BAD_SLOT;
	bpf_spin_lock(&xdpq_lock);
	ret = xdpq_fifo_push(q, slot, rank, len);
	bpf_spin_unlock(&xdpq_lock);
	return ret;
}

static __always_inline int xdpq_fifo_peek(struct xdpq_fifo *q, struct xdpq_entry *e)
{
	int ret;

	bpf_spin_lock(&xdpq_lock);
	ret = xdpq_fifo_first(q, e);
	bpf_spin_unlock(&xdpq_lock);
	return ret;
}

static __always_inline int xdpq_fifo_dequeue(struct xdpq_fifo *q, struct xdpq_entry *e)
{
	int ret;

	bpf_spin_lock(&xdpq_lock);
	ret = xdpq_fifo_pop(q, e);
	bpf_spin_unlock(&xdpq_lock);
	return ret;
}

#endif /* XDPQ_FIFO_H */
