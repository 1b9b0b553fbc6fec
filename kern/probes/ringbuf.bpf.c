// SPDX-License-Identifier: GPL-2.0
/* Probe: an XDP program produces one ring buffer record (reserve + submit
 * with a wake-up); user space waits on the ring's fd and consumes it. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define XDPQ_PROBE_MAGIC 0x7864707172696e67ULL	/* "xdpqring" */

struct xdpq_probe_record {
	__u64 magic;
	__u64 seq;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} xdpq_probe_ring SEC(".maps");

__u64 xdpq_probe_seq;

SEC("xdp")
int xdpq_probe_ringbuf(struct xdp_md *ctx)
{
	struct xdpq_probe_record *r;

	r = bpf_ringbuf_reserve(&xdpq_probe_ring, sizeof(*r), 0);
	if (!r)
		return XDP_ABORTED;
	r->magic = XDPQ_PROBE_MAGIC;
	r->seq = ++xdpq_probe_seq;
	bpf_ringbuf_submit(r, BPF_RB_FORCE_WAKEUP);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
