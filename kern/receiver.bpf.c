// SPDX-License-Identifier: GPL-2.0
/* Receiver: counts probe frames per flow and logs every arrival (flow,
 * sequence number, one-way latency, arrival time, length, DSCP, ports).
 * Other frames are counted and passed. Its presence on r0 is also what lets
 * the DUT's out0 transmit: a veth takes redirected frames only when its peer
 * has an XDP program. */
#include "xdpq_defs.h"
#include "probe_hdr.h"

#define XDPQ_RCV_LOG (1 << 20)

struct xdpq_rcv_count {
	__u64 packets;
	__u64 bytes;
};

struct xdpq_rcv_arrival {
	__u32 flow;
	__u32 len;		/* frame bytes */
	__u64 seq;
	__u64 latency_ns;	/* now - the sender's timestamp (same clock, same host) */
	__u16 sport;
	__u16 dport;
	__u8 dscp;
	__u8 pad[3];
	__u64 at_ns;		/* bpf_ktime_get_ns() at arrival: rates over a window */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPQ_PROBE_MAX_FLOWS);
	__type(key, __u32);
	__type(value, struct xdpq_rcv_count);
} xdpq_rcv_counts SEC(".maps");

/* Memory-mappable, so user space reads a million arrivals without a syscall. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPQ_RCV_LOG);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct xdpq_rcv_arrival);
} xdpq_rcv_log SEC(".maps");

__u64 xdpq_rcv_arrivals;	/* probe frames seen (the log keeps the first XDPQ_RCV_LOG) */
__u64 xdpq_rcv_other;		/* anything else, passed */
__u64 xdpq_rcv_bad_flow;	/* probes with a flow beyond XDPQ_PROBE_MAX_FLOWS (logged too) */

/* A slow receiver: each probe frame holds r0's NAPI poll this long, so r0
 * takes at most 1e9 / cost frames a second and the frames sent to it wait in
 * its veth ring, as in a slow device's. 0: as fast as it can. */
const volatile __u64 xdpq_rcv_cost_ns;

static long xdpq_rcv_busy(__u64 index, __u64 *until)
{
	return bpf_ktime_get_ns() >= *until;
}

SEC("xdp")
int xdpq_receiver(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct xdpq_probe_hdr *probe = data + XDPQ_PROBE_OFF;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	__u64 now = bpf_ktime_get_ns();
	__u32 flow, n, len = xdpq_frame_len(ctx);
	struct xdpq_rcv_arrival *a;
	struct xdpq_rcv_count *c;

	/* The generator's exact layout: IPv4 without options, UDP, probe header. */
	if ((void *)(probe + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    ip->ihl != 5 || ip->protocol != IPPROTO_UDP || probe->magic != XDPQ_PROBE_MAGIC) {
		__sync_fetch_and_add(&xdpq_rcv_other, 1);
		return XDP_PASS;
	}
	flow = probe->flow;
	c = bpf_map_lookup_elem(&xdpq_rcv_counts, &flow);
	if (c) {
		__sync_fetch_and_add(&c->packets, 1);
		__sync_fetch_and_add(&c->bytes, len);
	} else {
		__sync_fetch_and_add(&xdpq_rcv_bad_flow, 1);
	}
	n = __sync_fetch_and_add(&xdpq_rcv_arrivals, 1);
	a = bpf_map_lookup_elem(&xdpq_rcv_log, &n);
	if (a) {
		a->flow = flow;
		a->len = len;
		a->seq = probe->seq;
		a->latency_ns = now - probe->tstamp_ns;
		a->sport = bpf_ntohs(udp->source);
		a->dport = bpf_ntohs(udp->dest);
		a->dscp = ip->tos >> 2;
		a->at_ns = now;
	}
	if (xdpq_rcv_cost_ns) {
		now += xdpq_rcv_cost_ns;
		bpf_loop(1 << 20, xdpq_rcv_busy, &now, 0);
	}
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
