// SPDX-License-Identifier: GPL-2.0
/* Traffic generator: each live-frame BPF_PROG_RUN run writes one
 * Ethernet/IPv4/UDP frame of the next flow in a weighted round-robin pattern
 * (its ports, DSCP, size, sequence number and send time) and redirects it
 * into the sender's interface.
 *
 * Live frames come from a page pool that recycles pages within one
 * BPF_PROG_RUN call: the kernel resets a frame's bounds before each run, but
 * not its bytes, and whatever the device under test wrote into the frame
 * (it sees the same memory) is still there. So every run writes every header
 * byte from the template below, not just the fields that vary, and sizes the
 * frame from its current length. */
#include "xdpq_defs.h"
#include "probe_hdr.h"
#include <bpf/bpf_tracing.h>

#define XDPQ_GEN_PATTERN 1024	/* turns in one round of the pattern */

struct xdpq_gen_flow {
	__u16 sport;
	__u16 dport;
	__u16 size;		/* whole frame, bytes */
	__u8 dscp;
	__u8 pad;
};

/* Ethernet, IPv4 (no options), UDP: the frame up to the probe header. */
struct xdpq_gen_hdrs {
	struct ethhdr eth;
	struct iphdr ip;
	struct udphdr udp;
} __attribute__((packed));

_Static_assert(sizeof(struct xdpq_gen_hdrs) == XDPQ_PROBE_OFF, "headers: 42 bytes");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPQ_PROBE_MAX_FLOWS);
	__type(key, __u32);
	__type(value, struct xdpq_gen_flow);
} xdpq_gen_flows SEC(".maps");

/* Frames written per flow: also the flow's next sequence number. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPQ_PROBE_MAX_FLOWS);
	__type(key, __u32);
	__type(value, __u64);
} xdpq_gen_sent SEC(".maps");

/* Addresses, TTL, protocol: set by user space after load. Not const: clang
 * would fold a copy of a zero-initialised constant into zeros. */
struct xdpq_gen_hdrs xdpq_gen_tmpl;
const volatile __u32 xdpq_gen_egress;		/* s0's ifindex ... */
const volatile __u32 xdpq_gen_egress_netns;	/* ... in this namespace (inode) */

/* The order flows take turns in (built in user space), and where we are. */
__u32 xdpq_gen_pattern[XDPQ_GEN_PATTERN];
__u32 xdpq_gen_pattern_len = 1;
__u64 xdpq_gen_next;
__u64 xdpq_gen_errors;		/* runs that could not build a frame */
__u64 xdpq_gen_xmit_drops;	/* frames s0 refused */

static __always_inline __u16 xdpq_gen_ip_csum(const struct iphdr *ip)
{
	const __u16 *w = (const __u16 *)ip;
	__u32 sum = 0;
	int i;

#pragma unroll
	for (i = 0; i < 10; i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

SEC("xdp")
int xdpq_trafficgen(struct xdp_md *ctx)
{
	__u64 n = __sync_fetch_and_add(&xdpq_gen_next, 1);
	__u32 plen = xdpq_gen_pattern_len, flow_id, len;
	struct xdpq_probe_hdr probe;
	struct xdpq_gen_hdrs hdrs;
	struct xdpq_gen_flow *flow;
	struct iphdr ip;
	void *data, *end;
	__u64 *sent;

	n %= plen ? plen : 1;
	xdpq_barrier_var(n);
	flow_id = xdpq_gen_pattern[n & (XDPQ_GEN_PATTERN - 1)];
	flow = bpf_map_lookup_elem(&xdpq_gen_flows, &flow_id);
	sent = bpf_map_lookup_elem(&xdpq_gen_sent, &flow_id);
	if (!flow || !sent || flow->size < XDPQ_PROBE_MIN_FRAME)
		goto error;
	len = xdpq_frame_len(ctx);
	if (flow->size != len && bpf_xdp_adjust_tail(ctx, (int)flow->size - (int)len))
		goto error;

	__builtin_memcpy(&hdrs, &xdpq_gen_tmpl, sizeof(hdrs));
	__builtin_memcpy(&ip, &hdrs.ip, sizeof(ip));
	ip.tos = flow->dscp << 2;
	ip.tot_len = bpf_htons(flow->size - sizeof(struct ethhdr));
	ip.check = 0;
	ip.check = xdpq_gen_ip_csum(&ip);
	__builtin_memcpy(&hdrs.ip, &ip, sizeof(ip));
	hdrs.udp.source = bpf_htons(flow->sport);
	hdrs.udp.dest = bpf_htons(flow->dport);
	hdrs.udp.len = bpf_htons(flow->size - sizeof(struct ethhdr) - sizeof(struct iphdr));
	hdrs.udp.check = 0;	/* none: legal for UDP over IPv4 */

	probe.magic = XDPQ_PROBE_MAGIC;
	probe.flow = flow_id;
	probe.seq = __sync_fetch_and_add(sent, 1);
	probe.tstamp_ns = bpf_ktime_get_ns();

	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (data + XDPQ_PROBE_OFF + sizeof(probe) > end)
		goto error;
	__builtin_memcpy(data, &hdrs, sizeof(hdrs));
	__builtin_memcpy(data + XDPQ_PROBE_OFF, &probe, sizeof(probe));
	return bpf_redirect(xdpq_gen_egress, 0);
error:
	__sync_fetch_and_add(&xdpq_gen_errors, 1);
	return XDP_ABORTED;
}

/* Frames s0 refused (its peer's ring full, or its peer without XDP): counted,
 * so that a test can account for every frame it sent. Only our s0: ifindexes
 * repeat across namespaces, so two test beds could share one. */
SEC("tp_btf/xdp_devmap_xmit")
int BPF_PROG(xdpq_gen_xmit_err, const struct net_device *from_dev,
	     const struct net_device *to_dev, int sent, int drops, int err)
{
	if (drops > 0 && to_dev->ifindex == xdpq_gen_egress &&
	    to_dev->nd_net.net->ns.inum == xdpq_gen_egress_netns)
		__sync_fetch_and_add(&xdpq_gen_xmit_drops, drops);
	return 0;
}

/* Frames the redirect itself refused: s0 does not take redirected frames
 * (ndo_xdp_xmit) while its peer in0 has no XDP program. Ours are the ones
 * received on the generator's idle veth (BPF_PROG_RUN's ingress). */
__u32 xdpq_gen_ingress;
__u64 xdpq_gen_redirect_errors;

SEC("tp_btf/xdp_redirect_err")
int BPF_PROG(xdpq_gen_redirect_err, const struct net_device *dev, const struct bpf_prog *xdp,
	     const void *tgt, int err, enum bpf_map_type map_type, __u32 map_id, __u32 index)
{
	if (dev->ifindex == xdpq_gen_ingress && dev->nd_net.net->ns.inum == xdpq_gen_egress_netns)
		__sync_fetch_and_add(&xdpq_gen_redirect_errors, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
