// SPDX-License-Identifier: GPL-2.0
/* Receiver: counts probe frames per flow and logs every arrival (flow,
 * sequence number, one-way latency, length). Other frames are counted and
 * passed. Its presence on r0 is also what lets the DUT's out0 transmit:
 * a veth takes redirected frames only when its peer has an XDP program. */
#include "xdpq_defs.h"
#include "probe_hdr.h"

#define RCV_MAX_FLOWS 64
#define RCV_LOG (1 << 20)

struct rcv_count {
	__u64 packets;
	__u64 bytes;
};

struct rcv_arrival {
	__u32 flow;
	__u32 len;
	__u64 seq;
	__u64 latency_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RCV_MAX_FLOWS);
	__type(key, __u32);
	__type(value, struct rcv_count);
} rcv_counts SEC(".maps");

/* Memory-mappable, so user space reads a million arrivals without a syscall. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RCV_LOG);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct rcv_arrival);
} rcv_log SEC(".maps");

__u64 rcv_arrivals;	/* probe frames seen (the log keeps the first RCV_LOG) */
__u64 rcv_other;

SEC("xdp")
int receiver(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct xdpq_probe_hdr *probe = data + XDPQ_PROBE_OFF;
	struct ethhdr *eth = data;
	struct rcv_arrival *a;
	struct rcv_count *c;
	__u32 flow, n;

	if ((void *)(probe + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    probe->magic != XDPQ_PROBE_MAGIC) {
		__sync_fetch_and_add(&rcv_other, 1);
		return XDP_PASS;
	}
	flow = probe->flow;
	c = bpf_map_lookup_elem(&rcv_counts, &flow);
	if (c) {
		__sync_fetch_and_add(&c->packets, 1);
		__sync_fetch_and_add(&c->bytes, xdpq_frame_len(ctx));
	}
	n = __sync_fetch_and_add(&rcv_arrivals, 1);
	a = bpf_map_lookup_elem(&rcv_log, &n);
	if (a) {
		a->flow = flow;
		a->len = xdpq_frame_len(ctx);
		a->seq = probe->seq;
		a->latency_ns = bpf_ktime_get_ns() - probe->tstamp_ns;
	}
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
