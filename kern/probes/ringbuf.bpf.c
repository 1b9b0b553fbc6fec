// SPDX-License-Identifier: GPL-2.0
/* Probe: a ring buffer record produced by an XDP program. */
#include "xdpq_defs.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} probe_ring SEC(".maps");

SEC("xdp")
int probe_ringbuf(struct xdp_md *ctx)
{
	__u64 v = 0x7864707175ULL;	/* "xdpqu" */

	bpf_ringbuf_output(&probe_ring, &v, sizeof(v), 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
