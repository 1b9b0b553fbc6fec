// SPDX-License-Identifier: GPL-2.0
/* Probe: BPF_MAP_TYPE_QUEUE push and pop keep arrival order. */
#include "xdpq_defs.h"

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 4);
	__uint(value_size, sizeof(__u32));
} probe_queue SEC(".maps");

__u64 probe_order;

SEC("xdp")
int probe_queue_map(struct xdp_md *ctx)
{
	__u32 v = 1, out;
	int i;

	bpf_map_push_elem(&probe_queue, &v, 0);
	v = 2;
	bpf_map_push_elem(&probe_queue, &v, 0);
	for (i = 0; i < 2; i++)
		if (bpf_map_pop_elem(&probe_queue, &out) == 0)
			probe_order = probe_order * 10 + out;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
