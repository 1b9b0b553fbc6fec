// SPDX-License-Identifier: GPL-2.0
/* Drives one FIFO, one PIFO, one PIFO with a fixed base (TEST_BASE) and one
 * RBtree queue from BPF_PROG_RUN.
 *
 * The frame carries one command; the program executes it and writes the
 * outcome back into the frame, which the test reads as data_out. Tests
 * compare every outcome with the Python reference model. Two more commands
 * allocate and release slots of the pool.
 */
#ifndef TEST_CAP
#define TEST_CAP 16
#endif
#ifndef TEST_RANGE
#define TEST_RANGE 64
#endif
#define TEST_BASE 100
/* Two PIFOs of two windows of buckets, and of two windows of bitmap words (at
 * most 2 * (17 + range/64) each), rounded up to powers of two. */
#define XDPQ_PIFO_BUCKETS (4 * TEST_RANGE)
#define TEST_WORDS (TEST_RANGE >= 2048 ? 4 * TEST_RANGE / 64 : 64)
#define XDPQ_PIFO_WORDS (2 * TEST_WORDS)

#define XDPQ_POOL_SLOTS 1024

#include "queue.h"
#include "slots.h"

enum { TEST_ENQUEUE, TEST_PEEK, TEST_DEQUEUE, TEST_ALLOC, TEST_RELEASE };
enum { TEST_FIFO, TEST_PIFO, TEST_RBTREE, TEST_FIXED };

struct test_cmd {
	__u32 op;
	__u32 queue;
	__u64 rank;	/* in: enqueue; out: peek, dequeue */
	__u32 slot;	/* in: enqueue; out: peek, dequeue */
	__u32 len;	/* in: enqueue; out: peek, dequeue */
	__s32 result;	/* enum xdpq_enq, or 0 / -1 for peek and dequeue */
	__u32 qlen;	/* queue length after the command */
	__u64 qbytes;	/* queued bytes after the command */
};

xdpq_locked struct xdpq_fifo test_fifo = XDPQ_FIFO_INIT(TEST_CAP);
xdpq_locked struct xdpq_pifo test_pifo = XDPQ_PIFO_INIT(TEST_CAP, TEST_RANGE, 0, 0);
xdpq_locked struct xdpq_pifo test_fixed =
	XDPQ_PIFO_FIXED(TEST_CAP, TEST_RANGE, 2 * TEST_RANGE, TEST_WORDS, TEST_BASE);
XDPQ_RBTREE_DEFINE(test_rbtree, TEST_CAP);

static __always_inline int run_fifo(struct test_cmd *c, struct xdpq_entry *e)
{
	switch (c->op) {
	case TEST_ENQUEUE:
		return xdpq_fifo_enqueue(&test_fifo, c->slot, c->rank, c->len);
	case TEST_PEEK:
		return xdpq_fifo_peek(&test_fifo, e);
	default:
		return xdpq_fifo_dequeue(&test_fifo, e);
	}
}

static __always_inline int run_pifo(struct xdpq_pifo *q, struct test_cmd *c,
				    struct xdpq_entry *e)
{
	switch (c->op) {
	case TEST_ENQUEUE:
		return xdpq_pifo_enqueue(q, c->slot, c->rank, c->len);
	case TEST_PEEK:
		return xdpq_pifo_peek(q, e);
	default:
		return xdpq_pifo_dequeue(q, e);
	}
}

static __always_inline int run_rbtree(struct test_cmd *c, struct xdpq_entry *e)
{
	switch (c->op) {
	case TEST_ENQUEUE:
		return xdpq_rbtree_enqueue(&test_rbtree, &test_rbtree_root, c->slot, c->rank, c->len);
	case TEST_PEEK:
		return xdpq_rbtree_peek(&test_rbtree_root, e);
	default:
		return xdpq_rbtree_dequeue(&test_rbtree, &test_rbtree_root, e);
	}
}

SEC("xdp")
int queue_test(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct test_cmd *c = data;
	struct xdpq_entry e = {};

	if ((void *)(c + 1) > data_end)
		return XDP_ABORTED;
	if (c->op == TEST_ALLOC) {
		/* Helpers may not write into the packet: go through the stack. */
		__u32 slot = XDPQ_NIL;

		c->result = xdpq_slot_alloc(&slot);
		c->slot = slot;
		if (c->result)
			xdpq_count(XDPQ_CNT_DROP_NO_SLOT, 0);
		return XDP_PASS;
	}
	if (c->op == TEST_RELEASE) {
		xdpq_slot_release(c->slot);
		return XDP_PASS;
	}
	switch (c->queue) {
	case TEST_FIFO:
		c->result = run_fifo(c, &e);
		c->qlen = test_fifo.len;
		c->qbytes = test_fifo.bytes;
		break;
	case TEST_PIFO:
		c->result = run_pifo(&test_pifo, c, &e);
		c->qlen = test_pifo.len;
		c->qbytes = test_pifo.bytes;
		break;
	case TEST_FIXED:
		c->result = run_pifo(&test_fixed, c, &e);
		c->qlen = test_fixed.len;
		c->qbytes = test_fixed.bytes;
		break;
	case TEST_RBTREE:
		c->result = run_rbtree(c, &e);
		c->qlen = test_rbtree.len;
		c->qbytes = test_rbtree.bytes;
		break;
	default:
		return XDP_ABORTED;
	}
	if (c->op != TEST_ENQUEUE && c->result == 0) {
		c->rank = e.rank;
		c->slot = e.slot;
		c->len = e.len;
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
