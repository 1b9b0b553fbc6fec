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
#include "shaper.h"	/* link_rate is xdpq_shape_rate */

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

/* -- ECN (p.ecn, mark ce) ---------------------------------------------------- */

/* Where the IP header of the frame in a slot starts, past up to two VLAN tags
 * (as parse.h reads them), and its version: 0 when it is not IP or the frame
 * is too short to hold the header. */
static __always_inline __u32 xdpq_slot_l3(struct xdpq_slot *s, __u32 *ver)
{
	__u32 off = sizeof(struct ethhdr);
	__u16 proto = (__u16)s->data[12] << 8 | s->data[13];

	if (xdpq_is_vlan(proto)) {
		proto = (__u16)s->data[16] << 8 | s->data[17];
		off += sizeof(struct vlan_hdr);
		if (xdpq_is_vlan(proto)) {
			proto = (__u16)s->data[20] << 8 | s->data[21];
			off += sizeof(struct vlan_hdr);
		}
	}
	*ver = proto == ETH_P_IP ? 4 : proto == ETH_P_IPV6 ? 6 : 0;
	if (s->len < off + (*ver == 4 ? 20 : 40))
		*ver = 0;
	return off;
}

/* The ECN field (RFC 3168) of the packet in slot: 0 Not-ECT, 1 ECT(1), 2 ECT(0),
 * 3 CE. IPv4 keeps it in the low bits of the TOS byte, IPv6 in the traffic
 * class, which straddles the header's first two bytes. */
static __always_inline __u64 xdpq_slot_ecn(__u32 slot)
{
	struct xdpq_slot *s = bpf_map_lookup_elem(&xdpq_slots, &slot);
	__u32 off, ver;

	if (!s)
		return 0;
	off = xdpq_slot_l3(s, &ver);
	if (ver == 4)
		return s->data[off + 1] & 3;
	if (ver == 6)
		return (s->data[off + 1] >> 4) & 3;
	return 0;
}

/* mark ce: set the ECN field of an ECN-capable packet to CE, in its slot
 * before it is sent; false (the packet unchanged) when it is Not-ECT. IPv4's
 * header checksum follows incrementally, as RFC 1624 gives it:
 * HC' = ~(~HC + ~m + m') over the 16-bit word m that holds the TOS byte.
 * IPv6 has no header checksum. */
static __always_inline bool xdpq_mark_ce(__u32 slot)
{
	struct xdpq_slot *s = bpf_map_lookup_elem(&xdpq_slots, &slot);
	__u32 off, ver, sum;
	__u16 old, new;

	if (!s)
		return false;
	off = xdpq_slot_l3(s, &ver);
	if (ver == 4) {
		if (!(s->data[off + 1] & 3))
			return false;
		old = (__u16)s->data[off] << 8 | s->data[off + 1];
		new = old | 3;
		sum = (__u16)~((__u16)s->data[off + 10] << 8 | s->data[off + 11]);
		sum += (__u16)~old + new;
		sum = (sum & 0xffff) + (sum >> 16);
		sum = (sum & 0xffff) + (sum >> 16);
		s->data[off + 1] = new & 0xff;
		s->data[off + 10] = (__u8)(~sum >> 8);
		s->data[off + 11] = (__u8)~sum;
		return true;
	}
	if (ver == 6) {
		if (!(s->data[off + 1] & 0x30))
			return false;
		s->data[off + 1] |= 0x30;
		return true;
	}
	return false;
}

/* q.head of an rbtree queue: the size of its first packet, 0 when it is empty. */
static __always_inline __u64 xdpq_rbtree_head(struct bpf_rb_root *root)
{
	struct xdpq_entry e;

	return xdpq_rbtree_peek(root, &e) ? 0 : e.len;
}

#endif /* XDPQ_LANG_H */
