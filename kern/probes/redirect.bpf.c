// SPDX-License-Identifier: GPL-2.0
/* Probe: live-frame BPF_PROG_RUN redirecting into a veth, and an XDP
 * program on its peer counting what arrives. Only frames of the local
 * experimental ethertype count: a fresh veth also carries the stack's own
 * neighbour discovery. */
#include "xdpq_defs.h"

#define PROBE_ETH_P 0x88b5

const volatile __u32 probe_egress;
__u64 probe_received;

SEC("xdp")
int probe_redirect(struct xdp_md *ctx)
{
	return bpf_redirect(probe_egress, 0);
}

SEC("xdp")
int probe_count(struct xdp_md *ctx)
{
	struct ethhdr *eth = (void *)(long)ctx->data;

	if ((void *)(eth + 1) > (void *)(long)ctx->data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(PROBE_ETH_P))
		return XDP_PASS;
	__sync_fetch_and_add(&probe_received, 1);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
