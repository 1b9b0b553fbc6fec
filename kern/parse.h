/* SPDX-License-Identifier: GPL-2.0 */
/* Packet parsing: one XDP frame into one struct xdpq_pkt.
 *
 * xdpq_parse() walks Ethernet, up to two VLAN tags, IPv4 or IPv6 (with a
 * bounded extension-header walk) and the first bytes of TCP, UDP, ICMP and
 * ICMPv6. It never reads outside the frame, and every frame, however
 * malformed, gets a defined result: a status, plus every field that was
 * parsed before the walk stopped. All other fields are zero.
 *
 * The rules (representation, the order of the walk, statuses, the flow
 * hash) are written in docs/parsing.md, the one spec this file and its
 * Python twin, xdpq/packet.py, follow; tests/test_parse.py runs both on the
 * same frames and compares every field.
 */
#ifndef XDPQ_PARSE_H
#define XDPQ_PARSE_H

#include "xdpq_defs.h"

enum xdpq_parse_status {
	XDPQ_PARSE_OK = 0,
	XDPQ_PARSE_L2_TRUNC = 1,	/* frame ends inside Ethernet or a VLAN tag */
	XDPQ_PARSE_VLAN_DEPTH = 2,	/* a third VLAN tag */
	XDPQ_PARSE_L3_TRUNC = 3,	/* frame or datagram ends inside the IP header chain */
	XDPQ_PARSE_BAD_VERSION = 4,	/* IP version disagrees with the ethertype */
	XDPQ_PARSE_BAD_IHL = 5,		/* IPv4 IHL below 5 */
	XDPQ_PARSE_BAD_IP_LEN = 6,	/* IP length beyond the frame or within the header */
	XDPQ_PARSE_EXT_DEPTH = 7,	/* more IPv6 extension headers than we walk */
	XDPQ_PARSE_L4_TRUNC = 8,	/* datagram ends inside the TCP/UDP/ICMP header */
};

/* pkt.flags */
#define XDPQ_F_FRAG		0x01	/* an IP fragment (first or later) */
#define XDPQ_F_LATER_FRAG	0x02	/* a fragment with offset != 0: no L4 header */
#define XDPQ_F_PORTS		0x04	/* sport, dport (and tcp_flags for TCP) are valid */
#define XDPQ_F_ICMP		0x08	/* icmp_type, icmp_code are valid */

#define XDPQ_MAX_VLAN		2
#define XDPQ_IPV6_MAX_EXT	6
#define XDPQ_MAX_OFF		0x3fff

/* IP protocol numbers we look at. The IPv6 ones are UAPI macros, absent
 * from vmlinux.h, so every one gets our own name. */
#define XDPQ_IPPROTO_HOPOPTS	0
#define XDPQ_IPPROTO_ICMP	1
#define XDPQ_IPPROTO_TCP	6
#define XDPQ_IPPROTO_UDP	17
#define XDPQ_IPPROTO_ROUTING	43
#define XDPQ_IPPROTO_FRAGMENT	44
#define XDPQ_IPPROTO_AH		51
#define XDPQ_IPPROTO_ICMPV6	58
#define XDPQ_IPPROTO_DSTOPTS	60

struct xdpq_pkt {
	struct in6_addr saddr;	/*  0: network order; IPv4 v4-mapped */
	struct in6_addr daddr;	/* 16 */
	__u32 len;		/* 32: frame length */
	__u32 flow_hash;	/* 36 */
	__u32 flow_label;	/* 40: IPv6 only */
	__u32 ip_len;		/* 44: datagram length the IP header claims */
	__u16 eth_proto;	/* 48 */
	__u16 vlan_tci[XDPQ_MAX_VLAN];	/* 50: outer first */
	__u16 l3_off;		/* 54 */
	__u16 l4_off;		/* 56 */
	__u16 sport;		/* 58 */
	__u16 dport;		/* 60 */
	__u8 status;		/* 62: enum xdpq_parse_status */
	__u8 vlan_count;	/* 63 */
	__u8 ip_ver;		/* 64: 4, 6, or 0 for other L3 */
	__u8 l4_proto;		/* 65 */
	__u8 dscp;		/* 66 */
	__u8 ecn;		/* 67 */
	__u8 ttl;		/* 68: IPv4 TTL or IPv6 hop limit */
	__u8 flags;		/* 69: XDPQ_F_* */
	__u8 ext_count;		/* 70: IPv6 extension headers walked */
	__u8 icmp_type;		/* 71 */
	__u8 icmp_code;		/* 72 */
	__u8 tcp_flags;		/* 73: CWR ECE URG ACK PSH RST SYN FIN */
	__u8 _pad[6];		/* 74: always zero */
};

/* xdpq/packet.py decodes this layout byte for byte: pin it. */
_Static_assert(sizeof(struct xdpq_pkt) == 80, "struct xdpq_pkt: 80 bytes");
_Static_assert(__builtin_offsetof(struct xdpq_pkt, len) == 32, "xdpq_pkt.len");
_Static_assert(__builtin_offsetof(struct xdpq_pkt, eth_proto) == 48, "xdpq_pkt.eth_proto");
_Static_assert(__builtin_offsetof(struct xdpq_pkt, sport) == 58, "xdpq_pkt.sport");
_Static_assert(__builtin_offsetof(struct xdpq_pkt, status) == 62, "xdpq_pkt.status");
_Static_assert(__builtin_offsetof(struct xdpq_pkt, tcp_flags) == 73, "xdpq_pkt.tcp_flags");

/* Where the walk is: the frame, the next header's offset, and the end that
 * headers must fit in (the frame, then the IP datagram once its length is
 * known, so Ethernet padding is never read as a header). */
struct xdpq_cursor {
	void *data;
	void *data_end;
	__u32 off;
	__u32 end;
};

/* The first bytes of every IPv6 extension header we walk; each is at least
 * 8 bytes long, so reading this much is always within the header. */
struct xdpq_ext_hdr {
	__u8 nexthdr;
	__u8 hdrlen;
	__be16 frag_off;	/* fragment header only: offset << 3 | M */
	__be32 word1;
};

/* len bytes at off, or NULL when they are not all before the cursor's end.
 * The semantic check is against c->end; the check against data_end can
 * never fail after it, but is the one the verifier needs to see, on the
 * very pointer that is returned. off is bounded first so that the verifier
 * knows the variable part of the pointer is small. */
static __always_inline void *xdpq_pull(struct xdpq_cursor *c, __u32 off, __u32 len)
{
	void *p;

	if (off > XDPQ_MAX_OFF || off + len > c->end)
		return NULL;
	xdpq_barrier_var(off);
	if (off > XDPQ_MAX_OFF)
		return NULL;
	p = c->data + off;
	if (p + len > c->data_end)
		return NULL;
	return p;
}

static __always_inline int xdpq_is_vlan(__u16 proto)
{
	return proto == ETH_P_8021Q || proto == ETH_P_8021AD;
}

/* Ethernet and up to XDPQ_MAX_VLAN tags. */
static __always_inline int xdpq_parse_l2(struct xdpq_cursor *c, struct xdpq_pkt *pkt)
{
	struct ethhdr *eth = xdpq_pull(c, 0, sizeof(*eth));
	struct vlan_hdr *vh;
	int i;

	if (!eth)
		return XDPQ_PARSE_L2_TRUNC;
	pkt->eth_proto = bpf_ntohs(eth->h_proto);
	c->off = sizeof(*eth);

#pragma unroll
	for (i = 0; i < XDPQ_MAX_VLAN; i++) {
		if (!xdpq_is_vlan(pkt->eth_proto))
			break;
		vh = xdpq_pull(c, c->off, sizeof(*vh));
		if (!vh)
			return XDPQ_PARSE_L2_TRUNC;
		pkt->vlan_tci[i] = bpf_ntohs(vh->h_vlan_TCI);
		pkt->eth_proto = bpf_ntohs(vh->h_vlan_encapsulated_proto);
		pkt->vlan_count = i + 1;
		c->off += sizeof(*vh);
	}
	if (xdpq_is_vlan(pkt->eth_proto))
		return XDPQ_PARSE_VLAN_DEPTH;
	pkt->l3_off = c->off;
	return XDPQ_PARSE_OK;
}

/* The DS field is the same byte in both versions: DSCP above ECN. */
static __always_inline void xdpq_set_tos(struct xdpq_pkt *pkt, __u8 tos)
{
	pkt->dscp = tos >> 2;
	pkt->ecn = tos & 3;
}

static __always_inline void xdpq_v4_mapped(struct in6_addr *a, __be32 v4)
{
	a->in6_u.u6_addr32[0] = 0;
	a->in6_u.u6_addr32[1] = 0;
	a->in6_u.u6_addr32[2] = bpf_htonl(0xffff);
	a->in6_u.u6_addr32[3] = v4;
}

static __always_inline int xdpq_parse_ipv4(struct xdpq_cursor *c, struct xdpq_pkt *pkt)
{
	struct iphdr *ip = xdpq_pull(c, c->off, sizeof(*ip));
	__u32 hlen, tot;
	__u16 frag;
	__u8 vihl;

	if (!ip)
		return XDPQ_PARSE_L3_TRUNC;
	/* Version and IHL share a byte; read it whole rather than trust the
	 * bitfield order vmlinux.h was dumped with. */
	vihl = *(__u8 *)ip;
	if (vihl >> 4 != 4)
		return XDPQ_PARSE_BAD_VERSION;

	xdpq_set_tos(pkt, ip->tos);
	pkt->ttl = ip->ttl;
	pkt->l4_proto = ip->protocol;
	xdpq_v4_mapped(&pkt->saddr, ip->saddr);
	xdpq_v4_mapped(&pkt->daddr, ip->daddr);
	tot = bpf_ntohs(ip->tot_len);
	pkt->ip_len = tot;
	/* Offset in 8-byte units below the flags; MF is 0x2000. */
	frag = bpf_ntohs(ip->frag_off);
	if (frag & 0x3fff)
		pkt->flags |= XDPQ_F_FRAG;
	if (frag & 0x1fff)
		pkt->flags |= XDPQ_F_LATER_FRAG;

	hlen = (vihl & 0xf) * 4;
	if (hlen < sizeof(*ip))
		return XDPQ_PARSE_BAD_IHL;
	if (c->off + hlen > c->end)
		return XDPQ_PARSE_L3_TRUNC;
	if (tot < hlen || c->off + tot > c->end)
		return XDPQ_PARSE_BAD_IP_LEN;
	c->end = c->off + tot;
	c->off += hlen;
	pkt->l4_off = c->off;
	return XDPQ_PARSE_OK;
}

static __always_inline int xdpq_is_ipv6_ext(__u8 nh)
{
	return nh == XDPQ_IPPROTO_HOPOPTS || nh == XDPQ_IPPROTO_ROUTING ||
	       nh == XDPQ_IPPROTO_FRAGMENT || nh == XDPQ_IPPROTO_DSTOPTS ||
	       nh == XDPQ_IPPROTO_AH;
}

/* The extension-header chain from c->off, first header nh. Unrolled, so the
 * verifier sees XDPQ_IPV6_MAX_EXT straight-line steps, each with its offset
 * bounded by xdpq_pull. */
static __always_inline int xdpq_parse_ipv6_ext(struct xdpq_cursor *c, struct xdpq_pkt *pkt,
					       __u8 nh)
{
	struct xdpq_ext_hdr *h;
	__u32 size;
	__u16 frag;
	int i;

#pragma unroll
	for (i = 0; i < XDPQ_IPV6_MAX_EXT; i++) {
		if (!xdpq_is_ipv6_ext(nh))
			goto done;
		h = xdpq_pull(c, c->off, sizeof(*h));
		if (!h)
			return XDPQ_PARSE_L3_TRUNC;
		if (nh == XDPQ_IPPROTO_FRAGMENT) {
			size = 8;
			frag = bpf_ntohs(h->frag_off);
			/* offset << 3, two reserved bits, M */
			if (frag & 0xfff9)
				pkt->flags |= XDPQ_F_FRAG;
			if (frag & 0xfff8)
				pkt->flags |= XDPQ_F_LATER_FRAG;
		} else if (nh == XDPQ_IPPROTO_AH) {
			size = ((__u32)h->hdrlen + 2) * 4;	/* 4-byte units, less 2 */
		} else {
			size = ((__u32)h->hdrlen + 1) * 8;	/* 8-byte units, less 1 */
		}
		if (c->off + size > c->end)
			return XDPQ_PARSE_L3_TRUNC;
		c->off += size;
		pkt->ext_count = i + 1;
		nh = h->nexthdr;
		if (pkt->flags & XDPQ_F_LATER_FRAG)
			goto done;
	}
	if (xdpq_is_ipv6_ext(nh))
		return XDPQ_PARSE_EXT_DEPTH;
done:
	pkt->l4_proto = nh;
	pkt->l4_off = c->off;
	return XDPQ_PARSE_OK;
}

static __always_inline int xdpq_parse_ipv6(struct xdpq_cursor *c, struct xdpq_pkt *pkt)
{
	struct ipv6hdr *ip6 = xdpq_pull(c, c->off, sizeof(*ip6));
	__u32 w0, dlen;

	if (!ip6)
		return XDPQ_PARSE_L3_TRUNC;
	/* version:4 traffic class:8 flow label:20, in one network-order word */
	w0 = bpf_ntohl(*(__be32 *)ip6);
	if (w0 >> 28 != 6)
		return XDPQ_PARSE_BAD_VERSION;

	xdpq_set_tos(pkt, w0 >> 20);
	pkt->flow_label = w0 & 0xfffff;
	pkt->ttl = ip6->hop_limit;
	pkt->saddr = ip6->saddr;
	pkt->daddr = ip6->daddr;
	dlen = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
	pkt->ip_len = dlen;
	if (c->off + dlen > c->end)
		return XDPQ_PARSE_BAD_IP_LEN;
	c->end = c->off + dlen;
	c->off += sizeof(*ip6);
	return xdpq_parse_ipv6_ext(c, pkt, ip6->nexthdr);
}

/* Ports (and TCP flags), or ICMP type and code. */
static __always_inline int xdpq_parse_l4(struct xdpq_cursor *c, struct xdpq_pkt *pkt)
{
	__u8 proto = pkt->l4_proto;
	struct tcphdr *th;
	struct udphdr *uh;
	__u8 *icmp;

	if (pkt->flags & XDPQ_F_LATER_FRAG)
		return XDPQ_PARSE_OK;

	if (proto == XDPQ_IPPROTO_TCP) {
		th = xdpq_pull(c, c->off, sizeof(*th));
		if (!th)
			return XDPQ_PARSE_L4_TRUNC;
		pkt->sport = bpf_ntohs(th->source);
		pkt->dport = bpf_ntohs(th->dest);
		pkt->tcp_flags = ((__u8 *)th)[13];
		pkt->flags |= XDPQ_F_PORTS;
	} else if (proto == XDPQ_IPPROTO_UDP) {
		uh = xdpq_pull(c, c->off, sizeof(*uh));
		if (!uh)
			return XDPQ_PARSE_L4_TRUNC;
		pkt->sport = bpf_ntohs(uh->source);
		pkt->dport = bpf_ntohs(uh->dest);
		pkt->flags |= XDPQ_F_PORTS;
	} else if ((proto == XDPQ_IPPROTO_ICMP && pkt->ip_ver == 4) ||
		   (proto == XDPQ_IPPROTO_ICMPV6 && pkt->ip_ver == 6)) {
		/* type, code, checksum: common to every ICMP message */
		icmp = xdpq_pull(c, c->off, 4);
		if (!icmp)
			return XDPQ_PARSE_L4_TRUNC;
		pkt->icmp_type = icmp[0];
		pkt->icmp_code = icmp[1];
		pkt->flags |= XDPQ_F_ICMP;
	}
	return XDPQ_PARSE_OK;
}

static __always_inline __u32 xdpq_rotl32(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

/* One MurmurHash3_x86_32 block step. */
static __always_inline __u32 xdpq_hash_word(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51;
	k = xdpq_rotl32(k, 15);
	k *= 0x1b873593;
	h ^= k;
	h = xdpq_rotl32(h, 13);
	return h * 5 + 0xe6546b64;
}

/* MurmurHash3_x86_32's finaliser: every input bit reaches every output bit. */
static __always_inline __u32 xdpq_hash_final(__u32 h, __u32 nbytes)
{
	h ^= nbytes;
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

/* Flow hash version 1; see the top of this file. */
static __always_inline __u32 xdpq_flow_hash(const struct xdpq_pkt *pkt)
{
	__u32 h = 0, ports = 0;
	int i;

#pragma unroll
	for (i = 0; i < 4; i++)
		h = xdpq_hash_word(h, bpf_ntohl(pkt->saddr.in6_u.u6_addr32[i]));
#pragma unroll
	for (i = 0; i < 4; i++)
		h = xdpq_hash_word(h, bpf_ntohl(pkt->daddr.in6_u.u6_addr32[i]));
	if (!(pkt->flags & XDPQ_F_FRAG))
		ports = (__u32)pkt->sport << 16 | pkt->dport;
	h = xdpq_hash_word(h, ports);
	h = xdpq_hash_word(h, pkt->l4_proto);
	return xdpq_hash_final(h, 40);
}

/* Parse the frame in ctx into *pkt (zeroed first); returns pkt->status. */
static __always_inline int xdpq_parse(struct xdp_md *ctx, struct xdpq_pkt *pkt)
{
	struct xdpq_cursor c = {
		.data = (void *)(long)ctx->data,
		.data_end = (void *)(long)ctx->data_end,
	};
	int status;

	__builtin_memset(pkt, 0, sizeof(*pkt));
	pkt->len = xdpq_frame_len(ctx);
	c.end = pkt->len;

	status = xdpq_parse_l2(&c, pkt);
	if (status != XDPQ_PARSE_OK)
		goto out;
	if (pkt->eth_proto == ETH_P_IP) {
		pkt->ip_ver = 4;
		status = xdpq_parse_ipv4(&c, pkt);
	} else if (pkt->eth_proto == ETH_P_IPV6) {
		pkt->ip_ver = 6;
		status = xdpq_parse_ipv6(&c, pkt);
	} else {
		goto out;	/* other L3: nothing more to parse, still OK */
	}
	if (status == XDPQ_PARSE_OK)
		status = xdpq_parse_l4(&c, pkt);
out:
	pkt->status = status;
	pkt->flow_hash = xdpq_flow_hash(pkt);
	return status;
}

#endif /* XDPQ_PARSE_H */
