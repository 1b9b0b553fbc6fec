// SPDX-License-Identifier: GPL-2.0
/* A plain forwarder for testing the bed without a scheduler: on in0, every
 * frame goes to out0 (set xdpq_fwd_to to its ifindex before load). */
#include "xdpq_defs.h"

const volatile __u32 xdpq_fwd_to;

SEC("xdp")
int xdpq_forward(struct xdp_md *ctx)
{
	return bpf_redirect(xdpq_fwd_to, 0);
}

char LICENSE[] SEC("license") = "GPL";
