/* SPDX-License-Identifier: GPL-2.0 */
/* PIFO queue: a bucketed priority queue over a bounded window of ranks.
 *
 * The structure of the kernel PIFO map proposed with the XDP queueing
 * patches, and of Eiffel's FFS queues: one FIFO bucket per rank, a
 * hierarchical bitmap of non-empty buckets, find-first-set to dequeue.
 * Enqueue and dequeue cost the same however many packets are queued.
 *
 * Two windows of `range` ranks each, the primary from `base`; the rules
 * (where base comes from, ranks below and beyond the windows, promotion)
 * are docs/queues.md's, which xdpq/queues/pifo.py follows too. Buckets are
 * placed by rank, not by offset from base (a calendar queue): rank r is
 * bucket r % range of window (r / range) % 2, so base can move down without
 * moving an entry, and a dequeue searches the 2 * range buckets circularly
 * from base's.
 *
 * Bitmap of one window (range <= 65536 = 64^3 / 4): one top word whose bit t
 * says mid word t is non-zero, 16 mid words whose bit m says leaf word
 * t*64+m is non-zero, and range/64 leaf words, one bit per bucket.
 */
#ifndef XDPQ_PIFO_H
#define XDPQ_PIFO_H

#include "queue_common.h"

#define XDPQ_PIFO_MAX_RANGE 65536
#define XDPQ_PIFO_MIDS 16
/* Words of bitmap for one window of `range` buckets. */
#define XDPQ_PIFO_WINDOW_WORDS(range) (1 + XDPQ_PIFO_MIDS + (range) / 64)

/* Storage for every PIFO of the program, carved up by XDPQ_PIFO_INIT.
 * Powers of two, so that a mask proves each index in bounds. */
#ifndef XDPQ_PIFO_BUCKETS
#define XDPQ_PIFO_BUCKETS 1
#endif
#ifndef XDPQ_PIFO_WORDS
#define XDPQ_PIFO_WORDS 1
#endif
_Static_assert((XDPQ_PIFO_BUCKETS & (XDPQ_PIFO_BUCKETS - 1)) == 0, "XDPQ_PIFO_BUCKETS: power of two");
_Static_assert((XDPQ_PIFO_WORDS & (XDPQ_PIFO_WORDS - 1)) == 0, "XDPQ_PIFO_WORDS: power of two");

struct xdpq_bucket {
	__u32 head;
	__u32 tail;
};

struct xdpq_pifo {
	__u64 base;		/* lowest rank of the primary window */
	__u64 top;		/* highest rank stored since the PIFO was last empty */
	__u64 bytes;
	__u32 len;
	__u32 cap;
	__u32 range;		/* ranks (buckets) per window: power of two, 64..65536 */
	__u32 bucket0;		/* first of this PIFO's 2*range buckets */
	__u32 word0;		/* first of its 2*XDPQ_PIFO_WINDOW_WORDS(range) words */
	__u32 fixed;		/* its windows stay where base puts them */
};

xdpq_locked struct xdpq_bucket xdpq_buckets[XDPQ_PIFO_BUCKETS];
xdpq_locked __u64 xdpq_bits[XDPQ_PIFO_WORDS];

/* A PIFO whose buckets start at `bucket0` and bitmap words at `word0`; the
 * code generator lays PIFOs out one after another. */
#define XDPQ_PIFO_INIT(capacity, range_, bucket0_, word0_) \
	{ .cap = (capacity), .range = (range_), .bucket0 = (bucket0_), .word0 = (word0_) }
/* The same with its windows fixed at [base, base + 2 * range). */
#define XDPQ_PIFO_FIXED(capacity, range_, bucket0_, word0_, base_)			\
	{ .cap = (capacity), .range = (range_), .bucket0 = (bucket0_), .word0 = (word0_),	\
	  .fixed = 1, .base = (base_) }

/* Indices are in bounds by construction (the layout is fixed at compile
 * time); the mask is what proves it to the verifier, and costs no branch
 * for it to explore. */
static __always_inline __u64 *xdpq_pifo_word(__u64 i)
{
	xdpq_barrier_var(i);
	return &xdpq_bits[i & (XDPQ_PIFO_WORDS - 1)];
}

static __always_inline struct xdpq_bucket *xdpq_pifo_bucket(struct xdpq_pifo *q, __u32 w, __u32 b)
{
	__u64 i = q->bucket0 + w * q->range + b;

	xdpq_barrier_var(i);
	return &xdpq_buckets[i & (XDPQ_PIFO_BUCKETS - 1)];
}

static __always_inline __u32 xdpq_pifo_window(struct xdpq_pifo *q, __u32 w)
{
	return q->word0 + w * XDPQ_PIFO_WINDOW_WORDS(q->range);
}

static __always_inline void xdpq_pifo_mark(struct xdpq_pifo *q, __u32 w, __u32 b)
{
	__u32 win = xdpq_pifo_window(q, w);
	__u64 *top = xdpq_pifo_word(win);
	__u64 *mid = xdpq_pifo_word(win + 1 + (b >> 12));
	__u64 *leaf = xdpq_pifo_word(win + 1 + XDPQ_PIFO_MIDS + (b >> 6));

	*leaf |= 1ULL << (b & 63);
	*mid |= 1ULL << ((b >> 6) & 63);
	*top |= 1ULL << ((b >> 12) & 63);
}

static __always_inline bool xdpq_pifo_marked(struct xdpq_pifo *q, __u32 w, __u32 b)
{
	__u64 *leaf = xdpq_pifo_word(xdpq_pifo_window(q, w) + 1 + XDPQ_PIFO_MIDS + (b >> 6));

	return *leaf & (1ULL << (b & 63));
}

static __always_inline void xdpq_pifo_unmark(struct xdpq_pifo *q, __u32 w, __u32 b)
{
	__u32 win = xdpq_pifo_window(q, w);
	__u64 *top = xdpq_pifo_word(win);
	__u64 *mid = xdpq_pifo_word(win + 1 + (b >> 12));
	__u64 *leaf = xdpq_pifo_word(win + 1 + XDPQ_PIFO_MIDS + (b >> 6));

	*leaf &= ~(1ULL << (b & 63));
	if (*leaf)
		return;
	*mid &= ~(1ULL << ((b >> 6) & 63));
	if (*mid)
		return;
	*top &= ~(1ULL << ((b >> 12) & 63));
}

/* Bits of x from bit i on (none when i is 64: a shift by 64 is undefined). */
static __always_inline __u64 xdpq_bits_from(__u64 x, __u32 i)
{
	return i < 64 ? x & (~0ULL << i) : 0;
}

/* First non-empty bucket of window w from bucket b on, or -1: the leaf word
 * of b, then the later leaves of its mid word, then the later mid words;
 * each a find-first-set over the bits from there. */
static __always_inline int xdpq_pifo_first(struct xdpq_pifo *q, __u32 w, __u32 b)
{
	__u32 win = xdpq_pifo_window(q, w);
	__u32 l = b >> 6, t = b >> 12;
	__u64 bits;

	bits = xdpq_bits_from(*xdpq_pifo_word(win + 1 + XDPQ_PIFO_MIDS + l), b & 63);
	if (bits)
		return l * 64 + xdpq_ctz64(bits);
	bits = xdpq_bits_from(*xdpq_pifo_word(win + 1 + t), (l & 63) + 1);
	if (!bits) {
		bits = xdpq_bits_from(*xdpq_pifo_word(win), t + 1);
		if (!bits)
			return -1;
		t = xdpq_ctz64(bits);
		bits = *xdpq_pifo_word(win + 1 + t);
		if (!bits)
			return -1;
	}
	l = t * 64 + xdpq_ctz64(bits);
	bits = *xdpq_pifo_word(win + 1 + XDPQ_PIFO_MIDS + l);
	if (!bits)
		return -1;
	return l * 64 + xdpq_ctz64(bits);
}

/* The window and bucket of rank r. */
static __always_inline __u32 xdpq_pifo_win_of(struct xdpq_pifo *q, __u64 r)
{
	return (r & q->range) ? 1 : 0;
}

static __always_inline __u32 xdpq_pifo_bucket_of(struct xdpq_pifo *q, __u64 r)
{
	return r & (q->range - 1);
}

/* May base move down to rank: every entry still within two windows of it.
 * (A fixed PIFO clamps instead.) */
static __always_inline bool xdpq_pifo_lowers(struct xdpq_pifo *q, __u64 rank)
{
	return !q->fixed && q->top - rank < 2 * (__u64)q->range;
}

#ifdef XDPQ_PUSHOUT
/* Bits of x up to bit i. */
static __always_inline __u64 xdpq_bits_upto(__u64 x, __u32 i)
{
	return i < 63 ? x & ((2ULL << i) - 1) : x;
}

/* Last non-empty bucket of window w up to bucket b, or -1: xdpq_pifo_first
 * the other way round, by find-last-sets. */
static __always_inline int xdpq_pifo_last(struct xdpq_pifo *q, __u32 w, __u32 b)
{
	__u32 win = xdpq_pifo_window(q, w);
	__u32 l = b >> 6, t = b >> 12;
	__u64 bits;

	bits = xdpq_bits_upto(*xdpq_pifo_word(win + 1 + XDPQ_PIFO_MIDS + l), b & 63);
	if (bits)
		return l * 64 + xdpq_fls64(bits);
	bits = (l & 63) ? xdpq_bits_upto(*xdpq_pifo_word(win + 1 + t), (l & 63) - 1) : 0;
	if (!bits) {
		bits = t ? xdpq_bits_upto(*xdpq_pifo_word(win), t - 1) : 0;
		if (!bits)
			return -1;
		t = xdpq_fls64(bits);
		bits = *xdpq_pifo_word(win + 1 + t);
		if (!bits)
			return -1;
	}
	l = t * 64 + xdpq_fls64(bits);
	bits = *xdpq_pifo_word(win + 1 + XDPQ_PIFO_MIDS + l);
	if (!bits)
		return -1;
	return l * 64 + xdpq_fls64(bits);
}

/* Push-out (docs/queues.md): the worst entry of a non-empty PIFO is the last
 * of its highest non-empty bucket: going down from just below base, round
 * the two windows. If an arrival of this rank would leave before it (a lower
 * bucket: in the same one it would queue behind it; a rank below base that
 * lowers it, always), take the worst out into *e: 0; else -1. O(1): the
 * bitmap, and the bucket's tail and its predecessor. Lock held. */
static __always_inline int xdpq_pifo_evict(struct xdpq_pifo *q, __u64 rank, struct xdpq_entry *e)
{
	__u32 w0 = xdpq_pifo_win_of(q, q->base), b0 = xdpq_pifo_bucket_of(q, q->base);
	__u32 w = w0, slot;
	struct xdpq_bucket *bk;
	__u64 worst;		/* the victim's offset from base */
	int b = b0 ? xdpq_pifo_last(q, w0, b0 - 1) : -1;

	if (b >= 0) {
		worst = 2 * (__u64)q->range - b0 + b;
	} else {
		w = w0 ^ 1;
		b = xdpq_pifo_last(q, w, q->range - 1);
		if (b >= 0) {
			worst = q->range - b0 + b;
		} else {
			w = w0;
			b = xdpq_pifo_last(q, w, q->range - 1);
			if (b < 0)
				return -1;
			worst = b - b0;
		}
	}
	if (rank >= q->base ? rank - q->base >= worst : !xdpq_pifo_lowers(q, rank) && !worst)
		return -1;
	bk = xdpq_pifo_bucket(q, w, b);
	slot = bk->tail;
	if (slot >= XDPQ_LINKS)
		return -1;
	if (bk->head == slot) {
		bk->head = XDPQ_NIL;
		xdpq_pifo_unmark(q, w, b);
	} else {
		bk->tail = *xdpq_prev(slot);
		xdpq_link(bk->tail)->next = XDPQ_NIL;
	}
	xdpq_entry_of(e, slot);
	q->len--;
	q->bytes -= e->len;
	return 0;
}
#endif

/* The operations, with the lock held (a tree holds it across its levels). */
static __always_inline int xdpq_pifo_push(struct xdpq_pifo *q, __u32 slot, __u64 rank, __u32 len)
{
	struct xdpq_bucket *bk;
	int ret = XDPQ_ENQ_OK;
	__u64 pos = rank;	/* the rank it is served as */
	__u32 w, b;

	if (q->len >= q->cap)
		return XDPQ_ENQ_FULL;
	if (!q->len && !q->fixed) {
		q->base = rank;
		q->top = rank;
	}
	if (rank < q->base) {
		if (xdpq_pifo_lowers(q, rank)) {
			q->base = rank;
		} else {
			pos = q->base;
			ret = XDPQ_ENQ_CLAMPED;
		}
	} else if (rank - q->base >= 2 * (__u64)q->range) {
		return XDPQ_ENQ_OUT_OF_WINDOW;
	}
	if (pos > q->top)
		q->top = pos;
	w = xdpq_pifo_win_of(q, pos);
	b = xdpq_pifo_bucket_of(q, pos);
	bk = xdpq_pifo_bucket(q, w, b);
	xdpq_link(slot)->rank = rank;
	xdpq_link(slot)->len = len;
	xdpq_list_append(&bk->head, &bk->tail, slot, !xdpq_pifo_marked(q, w, b));
	xdpq_pifo_mark(q, w, b);
	q->len++;
	q->bytes += len;
	return ret;
}

/* The first bucket (-1 when the PIFO is empty), its window in *w: searched
 * from base's bucket, through the other window, round to base's again. When
 * it lies beyond the primary window, the secondary becomes the primary:
 * base moves on by range (with a fixed base, it is served where it is). */
static __always_inline int xdpq_pifo_head_bucket(struct xdpq_pifo *q, __u32 *w)
{
	__u32 w0 = xdpq_pifo_win_of(q, q->base), b0 = xdpq_pifo_bucket_of(q, q->base);
	__u64 off;
	int b;

	if (!q->len)
		return -1;
	*w = w0;
	b = xdpq_pifo_first(q, w0, b0);
	if (b >= 0)
		return b;	/* within the primary */
	*w = w0 ^ 1;
	b = xdpq_pifo_first(q, *w, 0);
	if (b >= 0) {
		off = q->range - b0 + b;
	} else {
		*w = w0;
		b = xdpq_pifo_first(q, w0, 0);
		if (b < 0)
			return -1;
		off = 2 * (__u64)q->range - b0 + b;
	}
	if (off >= q->range && !q->fixed)
		q->base += q->range;
	return b;
}

static __always_inline int xdpq_pifo_head_entry(struct xdpq_pifo *q, struct xdpq_entry *e)
{
	__u32 w;
	int b = xdpq_pifo_head_bucket(q, &w);

	if (b < 0)
		return -1;
	xdpq_entry_of(e, xdpq_pifo_bucket(q, w, b)->head);
	return 0;
}

static __always_inline int xdpq_pifo_pop(struct xdpq_pifo *q, struct xdpq_entry *e)
{
	struct xdpq_bucket *bk;
	__u32 w, slot;
	int b = xdpq_pifo_head_bucket(q, &w);

	if (b < 0)
		return -1;
	bk = xdpq_pifo_bucket(q, w, b);
	slot = xdpq_list_pop(&bk->head);
	if (slot >= XDPQ_LINKS)
		return -1;
	if (bk->head == XDPQ_NIL)
		xdpq_pifo_unmark(q, w, b);
	xdpq_entry_of(e, slot);
	q->len--;
	q->bytes -= e->len;
	return 0;
}

/* The same, each taking the lock itself. */
static __always_inline int xdpq_pifo_enqueue(struct xdpq_pifo *q, __u32 slot, __u64 rank,
					     __u32 len)
{
	int ret;

	if (slot >= XDPQ_LINKS)
		return XDPQ_ENQ_BAD_SLOT;
	xdpq_lock_take();
	ret = xdpq_pifo_push(q, slot, rank, len);
	xdpq_lock_give();
	return ret;
}

static __always_inline int xdpq_pifo_peek(struct xdpq_pifo *q, struct xdpq_entry *e)
{
	int ret;

	xdpq_lock_take();
	ret = xdpq_pifo_head_entry(q, e);
	xdpq_lock_give();
	return ret;
}

static __always_inline int xdpq_pifo_dequeue(struct xdpq_pifo *q, struct xdpq_entry *e)
{
	int ret;

	xdpq_lock_take();
	ret = xdpq_pifo_pop(q, e);
	xdpq_lock_give();
	return ret;
}

#endif /* XDPQ_PIFO_H */
