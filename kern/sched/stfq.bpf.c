// SPDX-License-Identifier: GPL-2.0
/* Hand-written start-time fair queueing (Goyal et al.) with weights.
 *
 * A packet's start tag is max(virtual time, its flow's last finish tag); its
 * finish tag adds len / weight; packets leave in start-tag order, and the
 * virtual time is the start tag of the packet last sent. Flows are 5-tuples;
 * a flow's weight is stfq_weight[DSCP class] (DSCP >> 3), settable live.
 *
 * Tags count bytes in units of 1/2^16 at weight 1; the PIFO's rank is the
 * tag >> 20, i.e. 16-byte buckets at weight 1, so two windows of 65536
 * buckets hold two megabytes of backlog per weight-1 flow. */
#ifndef STFQ_CAPACITY
#define STFQ_CAPACITY 4096
#endif
#define STFQ_RANGE 65536
#define STFQ_TAG_SHIFT 16
#define STFQ_RANK_SHIFT 20
#define XDPQ_PIFO_BUCKETS (2 * STFQ_RANGE)
#define XDPQ_PIFO_WORDS 4096

#include "xdpq.h"

struct xdpq_meta {
	__u32 flow;
	__u32 weight;
};

struct stfq_flow {
	__u64 finish;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct stfq_flow);
} stfq_flows SEC(".maps");

__u32 stfq_weight[8] = { 1, 1, 1, 1, 1, 1, 1, 1 };
__u64 stfq_vtime;

xdpq_locked struct xdpq_pifo stfq_q = XDPQ_PIFO_INIT(STFQ_CAPACITY, STFQ_RANGE, 0, 0);

static __always_inline int xdpq_sched_classify(struct xdp_md *ctx, struct xdpq_meta *m, __u64 now)
{
	struct xdpq_pkt pkt;
	int res = xdpq_claim_ip(ctx, &pkt);
	__u32 w = stfq_weight[(pkt.dscp >> 3) & 7];

	m->flow = pkt.flow_hash;
	m->weight = w ? w : 1;	/* weight 0 would divide by zero: treated as 1 */
	return res;
}

static __always_inline int xdpq_sched_enqueue(struct xdpq_meta *m, __u32 slot, __u32 len, __u64 now)
{
	struct stfq_flow fresh = {}, *f;
	__u64 start;
	int res;

	f = bpf_map_lookup_elem(&stfq_flows, &m->flow);
	if (!f) {
		bpf_map_update_elem(&stfq_flows, &m->flow, &fresh, BPF_NOEXIST);
		f = bpf_map_lookup_elem(&stfq_flows, &m->flow);
		if (!f)
			return XDPQ_ENQ_NO_MEMORY;
	}
	start = f->finish > stfq_vtime ? f->finish : stfq_vtime;
	res = xdpq_pifo_enqueue(&stfq_q, slot, start >> STFQ_RANK_SHIFT, len);
	if (res == XDPQ_ENQ_OK || res == XDPQ_ENQ_CLAMPED)
		f->finish = start + ((__u64)len << STFQ_TAG_SHIFT) / m->weight;
	return res;
}

static __always_inline int xdpq_sched_dequeue(__u64 now, struct xdpq_entry *e, __u64 *when)
{
	if (xdpq_pifo_dequeue(&stfq_q, e))
		return XDPQ_DEQ_EMPTY;
	stfq_vtime = e->rank << STFQ_RANK_SHIFT;
	return XDPQ_DEQ_OK;
}

#include "datapath.h"
