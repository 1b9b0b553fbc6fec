// SPDX-License-Identifier: GPL-2.0
/* Probe: BPF_MAP_TYPE_QUEUE from XDP: arrival order, capacity, empty pop.
 *
 * Pushes 1, 2, 3 into a queue of three, tries a fourth push (must fail),
 * pops until empty. xdpq_probe_order holds the popped values as decimal
 * digits (123 when FIFO), xdpq_probe_full the fourth push's result and
 * xdpq_probe_empty the result of popping the empty queue. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 3);
	__uint(value_size, sizeof(__u32));
} xdpq_probe_queue SEC(".maps");

__u64 xdpq_probe_order;
__s64 xdpq_probe_full;
__s64 xdpq_probe_empty;

SEC("xdp")
int xdpq_probe_queue_map(struct xdp_md *ctx)
{
	__u32 v, out;
	int i;

	/* Unrolled: a loop over a stack slot whose address the helper takes
	 * is one the verifier cannot bound. */
	v = 1;
	if (bpf_map_push_elem(&xdpq_probe_queue, &v, 0))
		return XDP_ABORTED;
	v = 2;
	if (bpf_map_push_elem(&xdpq_probe_queue, &v, 0))
		return XDP_ABORTED;
	v = 3;
	if (bpf_map_push_elem(&xdpq_probe_queue, &v, 0))
		return XDP_ABORTED;
	v = 4;
	xdpq_probe_full = bpf_map_push_elem(&xdpq_probe_queue, &v, 0);
	for (i = 0; i < 3; i++) {
		if (bpf_map_pop_elem(&xdpq_probe_queue, &out))
			return XDP_ABORTED;
		xdpq_probe_order = xdpq_probe_order * 10 + out;
	}
	xdpq_probe_empty = bpf_map_pop_elem(&xdpq_probe_queue, &out);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
