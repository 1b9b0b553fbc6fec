// SPDX-License-Identifier: GPL-2.0
/* Hand-written FIFO scheduler: one queue, arrival order. It claims IP
 * traffic; everything else (ARP, LLDP, ...) goes to the stack. */
#ifndef FIFO_CAPACITY
#define FIFO_CAPACITY 1024
#endif

#include "xdpq.h"

struct xdpq_meta {
	__u32 unused;
};

xdpq_locked struct xdpq_fifo fifo_q = XDPQ_FIFO_INIT(FIFO_CAPACITY);

static __always_inline int xdpq_sched_classify(struct xdp_md *ctx, struct xdpq_meta *m, __u64 now)
{
	struct xdpq_pkt pkt;

	return xdpq_claim_ip(ctx, &pkt);
}

static __always_inline int xdpq_sched_enqueue(struct xdpq_meta *m, __u32 slot, __u32 len, __u64 now)
{
	return xdpq_fifo_enqueue(&fifo_q, slot, now, len);
}

static __always_inline int xdpq_sched_dequeue(__u64 now, struct xdpq_entry *e, __u64 *when)
{
	return xdpq_fifo_dequeue(&fifo_q, e) ? XDPQ_DEQ_EMPTY : XDPQ_DEQ_OK;
}

#include "datapath.h"
