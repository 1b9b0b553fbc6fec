// SPDX-License-Identifier: GPL-2.0
/* Traffic generator: each live-frame run writes one Ethernet/IPv4/UDP frame
 * of the next flow in the pattern (its ports, DSCP, size, sequence number
 * and send time) and redirects it into the sender's interface.
 *
 * The template frame (built in user space) is as long as the longest flow's
 * frames; a run shrinks it to its flow's size. */
#include "xdpq_defs.h"
#include "probe_hdr.h"
#include <bpf/bpf_tracing.h>

#define GEN_MAX_FLOWS 64
#define GEN_PATTERN 1024

struct gen_flow {
	__u16 sport;
	__u16 dport;
	__u16 size;
	__u8 dscp;
	__u8 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GEN_MAX_FLOWS);
	__type(key, __u32);
	__type(value, struct gen_flow);
} gen_flows SEC(".maps");

/* Sent per flow: also the next sequence number. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GEN_MAX_FLOWS);
	__type(key, __u32);
	__type(value, __u64);
} gen_sent SEC(".maps");

/* The order flows take turns in: a weighted round robin built in user space. */
__u32 gen_pattern[GEN_PATTERN];
__u32 gen_pattern_len = 1;
__u64 gen_next;
const volatile __u32 gen_egress;

static __always_inline __u16 gen_ip_csum(struct iphdr *ip)
{
	__u16 *w = (__u16 *)ip;
	__u32 sum = 0;
	int i;

	ip->check = 0;
#pragma unroll
	for (i = 0; i < 10; i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

SEC("xdp")
int trafficgen(struct xdp_md *ctx)
{
	__u64 n = __sync_fetch_and_add(&gen_next, 1);
	__u32 flow_id, len = xdpq_frame_len(ctx);
	struct xdpq_probe_hdr *probe;
	struct gen_flow *flow;
	struct iphdr *ip;
	struct udphdr *udp;
	__u64 *sent;

	n %= gen_pattern_len ? gen_pattern_len : 1;
	xdpq_barrier_var(n);
	flow_id = gen_pattern[n & (GEN_PATTERN - 1)];
	flow = bpf_map_lookup_elem(&gen_flows, &flow_id);
	sent = bpf_map_lookup_elem(&gen_sent, &flow_id);
	if (!flow || !sent || flow->size < XDPQ_PROBE_OFF + sizeof(*probe) || flow->size > len)
		return XDP_ABORTED;
	if (bpf_xdp_adjust_tail(ctx, (int)flow->size - (int)len))
		return XDP_ABORTED;

	ip = (void *)(long)ctx->data + 14;
	udp = (void *)(ip + 1);
	probe = (void *)(udp + 1);
	if ((void *)(probe + 1) > (void *)(long)ctx->data_end)
		return XDP_ABORTED;
	ip->tos = flow->dscp << 2;
	ip->tot_len = bpf_htons(flow->size - 14);
	ip->check = gen_ip_csum(ip);
	udp->source = bpf_htons(flow->sport);
	udp->dest = bpf_htons(flow->dport);
	udp->len = bpf_htons(flow->size - 14 - 20);
	udp->check = 0;
	probe->magic = XDPQ_PROBE_MAGIC;
	probe->flow = flow_id;
	probe->seq = __sync_fetch_and_add(sent, 1);
	probe->tstamp_ns = bpf_ktime_get_ns();
	return bpf_redirect(gen_egress, 0);
}

/* Frames s0 refused (its peer's ring full): counted, so that a test can
 * account for every frame it sent. */
__u64 gen_xmit_drops;

SEC("tp_btf/xdp_devmap_xmit")
int BPF_PROG(gen_xmit_err, const struct net_device *from_dev, const struct net_device *to_dev,
	     int sent, int drops, int err)
{
	if (drops > 0 && to_dev->ifindex == gen_egress)
		__sync_fetch_and_add(&gen_xmit_drops, drops);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
