/* SPDX-License-Identifier: GPL-2.0 */
/* The slot pool: preallocated fixed-size frame buffers.
 *
 * Stock kernels cannot hold an xdp_frame in a map, so the enqueue program
 * copies the frame into a slot and queues the slot's index. Free slots sit on
 * a BPF stack map: push and pop are atomic in the kernel, and LIFO hands out
 * the most recently used, cache-warm slot first. User space fills the stack
 * with every index once, after load.
 *
 * In front of the stack, each CPU keeps a few free slots of its own
 * (xdpq_slot_cache): a slot freed on a CPU goes there, and the next one taken
 * there comes from it, without the stack map's lock (a pop and a push cost
 * ~70 ns together on the development VM; the cache a few). The stack is
 * touched only when the cache is empty (taking) or full (freeing). A CPU
 * that finds its cache and the stack empty drops (drop_no_slot) even though
 * another CPU's cache may hold up to XDPQ_SLOT_CACHE free slots: the pool's
 * effective size is that much smaller on each CPU, never larger. Every
 * context that takes or frees slots runs with bottom halves off (XDP,
 * the timer's softirq, BPF_PROG_RUN), so a CPU's cache has one user at a time.
 */
#ifndef XDPQ_SLOTS_H
#define XDPQ_SLOTS_H

#include "xdpq_defs.h"
#include "counters.h"

/* A slot not (or no longer) counted in BQL's bytes in flight. */
#define XDPQ_UNTRACKED (~0ULL)

struct xdpq_slot {
	__u32 len;
	__u32 pad;
	__u64 tstamp;		/* enqueue time, for sojourn-time AQM */
	__u64 inflight;		/* staged under BQL: its entry in the in-flight ring
				 * (datapath.h); else XDPQ_UNTRACKED */
	__u8 data[XDPQ_SLOT_DATA];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPQ_POOL_SLOTS);
	__type(key, __u32);
	__type(value, struct xdpq_slot);
} xdpq_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, XDPQ_POOL_SLOTS);
	__uint(value_size, sizeof(__u32));
} xdpq_free SEC(".maps");

/* Free slots a CPU keeps for itself: slot[0 .. n-1], the last freed on top. */
#define XDPQ_SLOT_CACHE 16
struct xdpq_slot_cache {
	__u32 n;
	__u32 slot[XDPQ_SLOT_CACHE];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdpq_slot_cache);
} xdpq_slot_cache SEC(".maps");

/* Slots handed out and not yet returned; its peak is the pool's low-water
 * mark seen from the other side. */
__u64 xdpq_slots_in_use;
__u64 xdpq_slots_peak;

static __always_inline struct xdpq_slot_cache *xdpq_slot_cache_here(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&xdpq_slot_cache, &zero);
}

static __always_inline int xdpq_slot_alloc(__u32 *slot)
{
	struct xdpq_slot_cache *c = xdpq_slot_cache_here();
	__u32 n = c ? c->n : 0;
	__u64 used;

	if (c && n > 0 && n <= XDPQ_SLOT_CACHE) {
		*slot = c->slot[(n - 1) & (XDPQ_SLOT_CACHE - 1)];
		c->n = n - 1;
	} else if (bpf_map_pop_elem(&xdpq_free, slot)) {
		return -1;
	}
	if (*slot >= XDPQ_POOL_SLOTS)
		return -1;
	used = __sync_fetch_and_add(&xdpq_slots_in_use, 1) + 1;
	/* A racy maximum is fine: it only ever under-reports by a concurrent step. */
	if (used > xdpq_slots_peak)
		xdpq_slots_peak = used;
	return 0;
}

static __always_inline void xdpq_slot_release(__u32 slot)
{
	struct xdpq_slot_cache *c;
	__u32 n;

	/* More slots back than were handed out: a bug, and the stack could not
	 * catch it once the caches hold some of the pool. */
	if ((__s64)__sync_fetch_and_sub(&xdpq_slots_in_use, 1) <= 0) {
		__sync_fetch_and_add(&xdpq_slots_in_use, 1);
		xdpq_count(XDPQ_CNT_SLOT_FREE_FAIL, 0);
		return;
	}
	c = xdpq_slot_cache_here();
	n = c ? c->n : XDPQ_SLOT_CACHE;
	if (c && n < XDPQ_SLOT_CACHE) {
		c->slot[n] = slot;
		c->n = n + 1;
	} else if (bpf_map_push_elem(&xdpq_free, &slot, 0)) {
		__sync_fetch_and_add(&xdpq_slots_in_use, 1);
		xdpq_count(XDPQ_CNT_SLOT_FREE_FAIL, 0);
	}
}

/* Frames of 1 to XDPQ_SLOT_DATA - 1 bytes fit in a slot. The mask after the
 * check is for the verifier: clang tests one copy of len and passes another
 * to the helper unless the barrier stops it. */
static __always_inline bool xdpq_slot_fits(__u32 len)
{
	return len > 0 && len < XDPQ_SLOT_DATA;
}

static __always_inline __u32 xdpq_slot_bound(__u32 len)
{
	xdpq_barrier_var(len);
	return len & (XDPQ_SLOT_DATA - 1);
}

/* A slot's header for a frame of len bytes arriving at now: what the queues,
 * AQM and the transmit path read of it. */
static __always_inline int xdpq_slot_head(__u32 slot, __u32 len, __u64 now)
{
	struct xdpq_slot *s = bpf_map_lookup_elem(&xdpq_slots, &slot);

	if (!s || !xdpq_slot_fits(len))
		return -1;
	s->len = len;
	s->tstamp = now;
	s->inflight = XDPQ_UNTRACKED;
	return 0;
}

/* Copy the first len bytes of the frame into a slot's data. */
static __always_inline int xdpq_slot_copy_in(struct xdp_md *ctx, __u32 slot, __u32 len)
{
	struct xdpq_slot *s = bpf_map_lookup_elem(&xdpq_slots, &slot);

	if (!s || !xdpq_slot_fits(len))
		return -1;
	len = xdpq_slot_bound(len);
	if (!len)
		return -1;
	return bpf_xdp_load_bytes(ctx, 0, s->data, len);
}

/* Copy the first len bytes of the frame into a slot. */
static __always_inline int xdpq_slot_store(struct xdp_md *ctx, __u32 slot, __u32 len, __u64 now)
{
	if (xdpq_slot_copy_in(ctx, slot, len))
		return -1;
	return xdpq_slot_head(slot, len, now);
}

/* A queued slot whose frame could not be copied in (which cannot happen to a
 * frame that fits): the transmit path refuses it as it finds it, counted
 * pass_oversize, rather than send what the slot held before. */
static __always_inline void xdpq_slot_spoil(__u32 slot)
{
	struct xdpq_slot *s = bpf_map_lookup_elem(&xdpq_slots, &slot);

	if (s)
		s->len = 0;
}

/* Copy a slot's frame into the (already sized) frame of ctx. */
static __always_inline int xdpq_slot_load(struct xdp_md *ctx, __u32 slot)
{
	struct xdpq_slot *s = bpf_map_lookup_elem(&xdpq_slots, &slot);
	__u32 len;

	if (!s)
		return -1;
	len = s->len;
	if (!xdpq_slot_fits(len))
		return -1;
	len = xdpq_slot_bound(len);
	if (!len)
		return -1;
	return bpf_xdp_store_bytes(ctx, 0, s->data, len);
}

/* Make ctx's frame a slot's frame: sized to it, and its bytes copied in. A
 * frame cannot grow beyond its buffer (a NIC's may be 2 KiB with headroom):
 * -1, and the frame is left as it was unless the copy itself failed. */
static __always_inline int xdpq_slot_write(struct xdp_md *ctx, __u32 slot)
{
	struct xdpq_slot *s = bpf_map_lookup_elem(&xdpq_slots, &slot);
	__u32 len;

	if (!s)
		return -1;
	len = s->len;
	if (!xdpq_slot_fits(len) || bpf_xdp_adjust_tail(ctx, (int)len - (int)xdpq_frame_len(ctx)))
		return -1;
	return xdpq_slot_load(ctx, slot);
}

#endif /* XDPQ_SLOTS_H */
