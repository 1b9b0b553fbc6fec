/* SPDX-License-Identifier: GPL-2.0 */
/* What schedulers generated from the xdpq language call: the language's
 * arithmetic rules, indexing and hashing. The rules are the IR's
 * (xdpq/ir/__init__.py); the simulator implements the same ones in Python.
 * Their queues are the nodes of a tree (node.h; the operations, tree.h, come
 * after the program has declared its nodes). */
#ifndef XDPQ_LANG_H
#define XDPQ_LANG_H

#include "xdpq.h"
#include "node.h"

/* a / 0 is 0 and a % 0 is a: BPF's own rule, spelled out because division
 * by zero is undefined in C and clang may assume it away. */
static __always_inline __u64 xdpq_div(__u64 a, __u64 b)
{
	return b ? a / b : 0;
}

static __always_inline __u64 xdpq_mod(__u64 a, __u64 b)
{
	return b ? a % b : a;
}

/* The same for values that may be below 0 (two's complement): the quotient
 * rounded towards 0, the remainder with the dividend's sign (C's rules). The
 * BPF instruction set of -mcpu=v3 has no signed division, so it is done on
 * the magnitudes. */
static __always_inline __u64 xdpq_sdiv(__u64 a, __u64 b)
{
	__u64 ma = (__s64)a < 0 ? -a : a, mb = (__s64)b < 0 ? -b : b, q;

	if (!b)
		return 0;
	q = ma / mb;
	return ((__s64)a < 0) != ((__s64)b < 0) ? -q : q;
}

static __always_inline __u64 xdpq_smod(__u64 a, __u64 b)
{
	return b ? a - xdpq_sdiv(a, b) * b : a;
}

static __always_inline __u64 xdpq_smin(__u64 a, __u64 b)
{
	return (__s64)a < (__s64)b ? a : b;
}

static __always_inline __u64 xdpq_smax(__u64 a, __u64 b)
{
	return (__s64)a > (__s64)b ? a : b;
}

static __always_inline __u64 xdpq_min(__u64 a, __u64 b)
{
	return a < b ? a : b;
}

static __always_inline __u64 xdpq_max(__u64 a, __u64 b)
{
	return a > b ? a : b;
}

/* Integer square root, rounded down, digit by digit: two bits a step, 32
 * steps, no division (CoDel's control law needs it). The steps run under
 * bpf_loop so that the verifier checks one step, not 2^32 paths. */
struct xdpq_sqrt_ctx {
	__u64 x;
	__u64 r;
	__u64 bit;
};

static long xdpq_sqrt_step(__u64 i, struct xdpq_sqrt_ctx *c)
{
	if (c->x >= c->r + c->bit) {
		c->x -= c->r + c->bit;
		c->r = (c->r >> 1) + c->bit;
	} else {
		c->r >>= 1;
	}
	c->bit >>= 2;
	return 0;
}

static __always_inline __u64 xdpq_sqrt(__u64 x)
{
	struct xdpq_sqrt_ctx c = { .x = x, .bit = 1ULL << 62 };

	bpf_loop(32, xdpq_sqrt_step, &c, 0);
	return c.r;
}

/* An index into an array of n: taken modulo n. The barrier keeps clang from
 * folding the bound check, which is what the verifier needs to see. */
static __always_inline __u32 xdpq_index(__u64 i, __u32 n)
{
	__u32 r = i % n;

	xdpq_barrier_var(r);
	return r < n ? r : 0;
}

/* hash(): MurmurHash3_x86_32 over words, as the flow hash (parse.h). */
static __always_inline __u32 xdpq_hash_addr(__u32 h, const struct in6_addr *a)
{
	h = xdpq_hash_word(h, bpf_ntohl(a->in6_u.u6_addr32[0]));
	h = xdpq_hash_word(h, bpf_ntohl(a->in6_u.u6_addr32[1]));
	h = xdpq_hash_word(h, bpf_ntohl(a->in6_u.u6_addr32[2]));
	return xdpq_hash_word(h, bpf_ntohl(a->in6_u.u6_addr32[3]));
}

/* Drops the program names (drop <reason>), counted per reason; the reason
 * names are the constants of the generated enum xdpq_reason. */
struct xdpq_reason_count {
	__u64 packets;
	__u64 bytes;
};

/* When the packet in slot was enqueued (its slot's time stamp). */
static __always_inline __u64 xdpq_enqueued(__u32 slot)
{
	struct xdpq_slot *s = bpf_map_lookup_elem(&xdpq_slots, &slot);

	return s ? s->tstamp : 0;
}

/* q.head of an rbtree queue: the size of its first packet, 0 when it is empty. */
static __always_inline __u64 xdpq_rbtree_head(struct bpf_rb_root *root)
{
	struct xdpq_entry e;

	return xdpq_rbtree_peek(root, &e) ? 0 : e.len;
}

#endif /* XDPQ_LANG_H */
