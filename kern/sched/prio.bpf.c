// SPDX-License-Identifier: GPL-2.0
/* Hand-written three-class strict priority by DSCP:
 *   class 0 (high)   DSCP 40..63 (CS5, EF, CS6, CS7)
 *   class 1 (medium) DSCP 16..39 (CS2..CS4, AF2x..AF4x)
 *   class 2 (low)    everything else
 * A lower class is served only while every higher one is empty. */
#ifndef PRIO_CAPACITY
#define PRIO_CAPACITY 1024
#endif

#include "xdpq.h"

struct xdpq_meta {
	__u32 class;
};

xdpq_locked struct xdpq_fifo prio_q[3] = {
	XDPQ_FIFO_INIT(PRIO_CAPACITY),
	XDPQ_FIFO_INIT(PRIO_CAPACITY),
	XDPQ_FIFO_INIT(PRIO_CAPACITY),
};

static __always_inline int xdpq_sched_classify(struct xdp_md *ctx, struct xdpq_meta *m, __u64 now)
{
	struct xdpq_pkt pkt;
	int res = xdpq_claim_ip(ctx, &pkt);

	m->class = pkt.dscp >= 40 ? 0 : pkt.dscp >= 16 ? 1 : 2;
	return res;
}

static __always_inline int xdpq_sched_enqueue(struct xdpq_meta *m, __u32 slot, __u32 len, __u64 now)
{
	return xdpq_fifo_enqueue(&prio_q[m->class % 3], slot, now, len);
}

static __always_inline int xdpq_sched_dequeue(__u64 now, struct xdpq_entry *e, __u64 *when)
{
	if (!xdpq_fifo_dequeue(&prio_q[0], e) || !xdpq_fifo_dequeue(&prio_q[1], e) ||
	    !xdpq_fifo_dequeue(&prio_q[2], e))
		return XDPQ_DEQ_OK;
	return XDPQ_DEQ_EMPTY;
}

#include "datapath.h"
