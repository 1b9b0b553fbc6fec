// SPDX-License-Identifier: GPL-2.0
/* A plain forwarder for testing the bed without a scheduler. */
#include "xdpq_defs.h"

SEC("xdp")
int forward(struct xdp_md *ctx)
{
	return bpf_redirect(FORWARD_TO, 0);
}

char LICENSE[] SEC("license") = "GPL";
