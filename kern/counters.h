/* SPDX-License-Identifier: GPL-2.0 */
/* Per-CPU counters: one per outcome and per drop reason.
 *
 * The enum is the single source of the counter names: user space reads it
 * from the object's BTF (it is the map's key type), so adding a reason here
 * is all it takes for it to show up in statistics.
 */
#ifndef XDPQ_COUNTERS_H
#define XDPQ_COUNTERS_H

#include "xdpq_defs.h"

enum xdpq_counter {
	XDPQ_CNT_ENQUEUED,		/* frame stored in a queue */
	XDPQ_CNT_DEQUEUED,		/* frame taken out by the scheduler, staged to send */
	XDPQ_CNT_TRANSMITTED,		/* frame handed to the egress device (ndo_xdp_xmit) */
	XDPQ_CNT_PASS_UNCLAIMED,	/* not claimed, --unclaimed stack: XDP_PASS */
	XDPQ_CNT_PASS_OVERSIZE,		/* larger than a slot (or multi-buffer): XDP_PASS */
	XDPQ_CNT_PASS_MALFORMED,	/* unparsable, --unclaimed stack: XDP_PASS */
	XDPQ_CNT_FORWARD_UNCLAIMED,	/* not claimed (ARP, non-IP, pass): into the bypass FIFO */
	XDPQ_CNT_FORWARD_MALFORMED,	/* the parser could not make sense of it: into the bypass FIFO */
	XDPQ_CNT_DROP_BYPASS_FULL,	/* not claimed, and the bypass FIFO was full */
	XDPQ_CNT_DROP_QUEUE_FULL,	/* the queue was at its capacity */
	XDPQ_CNT_DROP_NO_SLOT,		/* the slot pool was empty */
	XDPQ_CNT_DROP_RANK_WINDOW,	/* PIFO: rank beyond both windows */
	XDPQ_CNT_DROP_NO_MEMORY,	/* rbtree: node allocation failed */
	XDPQ_CNT_DROP_PUSHOUT,		/* queued, pushed out of a full queue by a better arrival */
	XDPQ_CNT_DROP_ADMISSION,	/* the scheduler refused it on enqueue */
	XDPQ_CNT_DROP_OVERLIMIT,	/* the queues held their byte limit (--latency at the rate) */
	XDPQ_CNT_DROP_AQM,		/* the scheduler dropped it on dequeue */
	XDPQ_CNT_DROP_XMIT,		/* the egress device refused it after transmitted counted it */
	XDPQ_CNT_DROP_SHUTDOWN,		/* still queued when the deployment stopped */
	XDPQ_CNT_PIFO_CLAMPED,		/* PIFO: rank below the window, served as its lowest */
	XDPQ_CNT_MARK_CE,		/* the scheduler set ECN's CE on it (mark ce) and sent it */
	XDPQ_CNT_SLOT_FREE_FAIL,	/* a slot could not go back to the pool (a bug) */
	XDPQ_CNT__MAX,
};

struct xdpq_count {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDPQ_CNT__MAX);
	__type(key, enum xdpq_counter);
	__type(value, struct xdpq_count);
} xdpq_counters SEC(".maps");

static __always_inline void xdpq_count(enum xdpq_counter c, __u32 bytes)
{
	__u32 key = c;
	struct xdpq_count *v = bpf_map_lookup_elem(&xdpq_counters, &key);

	/* Per-CPU values: no other writer, no atomics needed. */
	if (v) {
		v->packets++;
		v->bytes += bytes;
	}
}

#endif /* XDPQ_COUNTERS_H */
