// SPDX-License-Identifier: GPL-2.0
/* Probe: bpf_obj_new, and bpf_rbtree_add/first/remove under a bpf_spin_lock,
 * from an XDP program.
 *
 * Inserts nodes of rank 30, 10, 20 (slots 3, 1, 2), then takes the first
 * node out until the tree is empty. xdpq_probe_order holds the slots as
 * decimal digits: 123 when the tree orders by rank. */
#include "rbprobe.h"

SEC("xdp")
int xdpq_probe_rbtree(struct xdp_md *ctx)
{
	int i;

	if (xdpq_probe_insert(30, 3) || xdpq_probe_insert(10, 1) || xdpq_probe_insert(20, 2))
		return XDP_ABORTED;
	for (i = 0; i < 4; i++)
		if (xdpq_probe_take())
			break;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
