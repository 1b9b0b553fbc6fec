/* SPDX-License-Identifier: GPL-2.0 */
/* Interim classification for the hand-written schedulers: DSCP and a
 * 5-tuple hash of IPv4 TCP/UDP. kern/parse.h replaces it. */
#ifndef XDPQ_IP4_CLASSIFY_H
#define XDPQ_IP4_CLASSIFY_H

#include "xdpq_defs.h"

struct xdpq_ip4 {
	__u32 dscp;
	__u32 flow_hash;
};

static __always_inline int xdpq_ip4_classify(struct xdp_md *ctx, struct xdpq_ip4 *out)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *l4;
	__u32 h;

	out->dscp = 0;
	out->flow_hash = 0;
	if ((void *)(ip + 1) > end)
		return XDPQ_MALFORMED;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDPQ_UNCLAIMED;
	out->dscp = ip->tos >> 2;
	h = ip->saddr * 0x9e3779b1u ^ ip->daddr * 0x85ebca77u ^ ip->protocol;
	l4 = (void *)ip + ip->ihl * 4;
	if ((ip->protocol == IPPROTO_UDP || ip->protocol == IPPROTO_TCP) && (void *)(l4 + 1) <= end)
		h ^= ((__u32)l4->source << 16 | l4->dest) * 0xc2b2ae35u;
	out->flow_hash = h ^ (h >> 15);
	return XDPQ_CLAIM;
}

#endif /* XDPQ_IP4_CLASSIFY_H */
