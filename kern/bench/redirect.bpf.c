// SPDX-License-Identifier: GPL-2.0
/* The live-redirect ceiling: each live-frame run redirects the frame, as
 * is, into the egress. The most any transmitter could do on this path. */
#include "xdpq_defs.h"

const volatile __u32 ceiling_egress;

SEC("xdp")
int ceiling(struct xdp_md *ctx)
{
	return bpf_redirect(ceiling_egress, 0);
}

char LICENSE[] SEC("license") = "GPL";
