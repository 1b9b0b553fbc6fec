// SPDX-License-Identifier: GPL-2.0
/* Per-packet cost of the queue maps: each run of cycle_* stores the frame in
 * a slot, enqueues it, dequeues the head, copies it back into the frame and
 * frees its slot -- the datapath's work minus parsing and the scheduler's
 * logic. ops_* does the same without the frame's bytes (take a slot,
 * enqueue, dequeue, free it): the queue map's own cost, apart from the
 * slot pool's memory, which a deep queue finds cold whatever its type.
 * bench/queues.py pre-fills the queue to the size under test. */
#define XDPQ_POOL_SLOTS 65536
#define BENCH_RANGE 65536
#define XDPQ_PIFO_BUCKETS (2 * BENCH_RANGE)
#define XDPQ_PIFO_WORDS 4096	/* 2 windows of 17 + 1024 words, rounded up */

#include "queue.h"
#include "slots.h"

xdpq_locked struct xdpq_fifo bench_fifo = XDPQ_FIFO_INIT(XDPQ_POOL_SLOTS);
xdpq_locked struct xdpq_pifo bench_pifo = XDPQ_PIFO_INIT(XDPQ_POOL_SLOTS, BENCH_RANGE, 0, 0);
XDPQ_RBTREE_DEFINE(bench_rbtree, XDPQ_POOL_SLOTS);

__u64 bench_seq;	/* drives the ranks */
__u64 bench_refused;	/* enqueues that did not store the frame */
__u32 bench_pool_next;

/* Ranks rise with time and scatter over 1024 values, like virtual finish
 * times of many flows; always within the PIFO's two windows. */
static __always_inline __u64 bench_rank(void)
{
	__u64 n = bench_seq++;

	return n + ((n * 0x9e3779b97f4a7c15ULL) >> 54);
}

static __always_inline int bench_store(struct xdp_md *ctx, __u32 *slot)
{
	__u32 len = xdpq_frame_len(ctx);

	if (xdpq_slot_alloc(slot))
		return -1;
	if (xdpq_slot_store(ctx, *slot, len, 0)) {
		xdpq_slot_release(*slot);
		return -1;
	}
	return len;
}

static __always_inline void bench_refuse(__u32 slot)
{
	bench_refused++;
	xdpq_slot_release(slot);
}

static __always_inline void bench_transmit(struct xdp_md *ctx, struct xdpq_entry *e)
{
	xdpq_slot_load(ctx, e->slot);
	xdpq_slot_release(e->slot);
}

SEC("xdp")
int pool_fill(struct xdp_md *ctx)
{
	__u32 slot = bench_pool_next++;

	bpf_map_push_elem(&xdpq_free, &slot, 0);
	return XDP_DROP;
}

SEC("xdp")
int drop_baseline(struct xdp_md *ctx)
{
	return XDP_DROP;
}

/* The rbtree also takes its root; wrappers give the three one signature. */
static __always_inline int enqueue_fifo(__u32 slot, __u64 rank, __u32 len)
{
	return xdpq_fifo_enqueue(&bench_fifo, slot, rank, len);
}

static __always_inline int dequeue_fifo(struct xdpq_entry *e)
{
	return xdpq_fifo_dequeue(&bench_fifo, e);
}

static __always_inline int enqueue_pifo(__u32 slot, __u64 rank, __u32 len)
{
	return xdpq_pifo_enqueue(&bench_pifo, slot, rank, len);
}

static __always_inline int dequeue_pifo(struct xdpq_entry *e)
{
	return xdpq_pifo_dequeue(&bench_pifo, e);
}

static __always_inline int enqueue_rbtree(__u32 slot, __u64 rank, __u32 len)
{
	return xdpq_rbtree_enqueue(&bench_rbtree, &bench_rbtree_root, slot, rank, len);
}

static __always_inline int dequeue_rbtree(struct xdpq_entry *e)
{
	return xdpq_rbtree_dequeue(&bench_rbtree, &bench_rbtree_root, e);
}

#define BENCH_PROGS(kind)								\
SEC("xdp")										\
int fill_##kind(struct xdp_md *ctx)							\
{											\
	__u32 slot;									\
	int len = bench_store(ctx, &slot);						\
											\
	if (len > 0 && enqueue_##kind(slot, bench_rank(), len) > XDPQ_ENQ_CLAMPED)	\
		bench_refuse(slot);							\
	return XDP_DROP;								\
}											\
											\
SEC("xdp")										\
int cycle_##kind(struct xdp_md *ctx)							\
{											\
	struct xdpq_entry e;								\
	__u32 slot;									\
	int len = bench_store(ctx, &slot);						\
											\
	if (len > 0 && enqueue_##kind(slot, bench_rank(), len) > XDPQ_ENQ_CLAMPED)	\
		bench_refuse(slot);							\
	if (dequeue_##kind(&e) == 0)							\
		bench_transmit(ctx, &e);						\
	return XDP_DROP;								\
}											\
											\
SEC("xdp")										\
int ops_##kind(struct xdp_md *ctx)							\
{											\
	struct xdpq_entry e;								\
	__u32 slot;									\
											\
	if (xdpq_slot_alloc(&slot))							\
		return XDP_DROP;							\
	if (enqueue_##kind(slot, bench_rank(), xdpq_frame_len(ctx)) > XDPQ_ENQ_CLAMPED)	\
		bench_refuse(slot);							\
	if (dequeue_##kind(&e) == 0)							\
		xdpq_slot_release(e.slot);						\
	return XDP_DROP;								\
}

BENCH_PROGS(fifo)
BENCH_PROGS(pifo)
BENCH_PROGS(rbtree)

char LICENSE[] SEC("license") = "GPL";
