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

static __always_inline int xdpq_fifo_enqueue(struct xdpq_fifo *q, __u32 slot, __u64 rank,
					     __u32 len)
{
	int ret = XDPQ_ENQ_FULL;

	if (slot >= XDPQ_LINKS)
		return XDPQ_ENQ_BAD_SLOT;
	if (!xdpq_qlock_take())
		return XDPQ_ENQ_FULL;
	if (q->len < q->cap) {
		xdpq_link(slot)->rank = rank;
		xdpq_link(slot)->len = len;
		xdpq_list_append(&q->head, &q->tail, slot, q->len == 0);
		q->len++;
		q->bytes += len;
		ret = XDPQ_ENQ_OK;
	}
	xdpq_qlock_give();
	return ret;
}

static __always_inline int xdpq_fifo_peek(struct xdpq_fifo *q, struct xdpq_entry *e)
{
	int ret = -1;

	if (!xdpq_qlock_take())
		return -1;
	if (q->len && q->head < XDPQ_LINKS) {
		xdpq_entry_of(e, q->head);
		ret = 0;
	}
	xdpq_qlock_give();
	return ret;
}

static __always_inline int xdpq_fifo_dequeue(struct xdpq_fifo *q, struct xdpq_entry *e)
{
	int ret = -1;
	__u32 slot;

	if (!xdpq_qlock_take())
		return -1;
	slot = q->len ? xdpq_list_pop(&q->head) : XDPQ_NIL;
	if (slot < XDPQ_LINKS) {
		xdpq_entry_of(e, slot);
		q->len--;
		q->bytes -= e->len;
		ret = 0;
	}
	xdpq_qlock_give();
	return ret;
}

#endif /* XDPQ_FIFO_H */
