// SPDX-License-Identifier: GPL-2.0
/* Probe: live-frame BPF_PROG_RUN whose XDP_REDIRECT transmits into a veth
 * (ndo_xdp_xmit), and an XDP program on the veth's peer counting what
 * arrives. Only frames of the local experimental ethertype that carry the
 * probe's magic count: a fresh veth also carries the stack's own traffic
 * (IPv6 neighbour discovery). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define XDPQ_PROBE_ETH_P 0x88b5	/* IEEE 802 local experimental ethertype 1 */
#define XDPQ_PROBE_MAGIC 0x78647071U	/* "xdpq" */

struct __attribute__((packed)) xdpq_probe_frame {
	struct ethhdr eth;
	__be32 magic;
};

const volatile __u32 xdpq_probe_egress;	/* set before load */
__u64 xdpq_probe_received;
__u64 xdpq_probe_other;

SEC("xdp")
int xdpq_probe_redirect(struct xdp_md *ctx)
{
	return bpf_redirect(xdpq_probe_egress, 0);
}

SEC("xdp")
int xdpq_probe_count(struct xdp_md *ctx)
{
	struct xdpq_probe_frame *f = (void *)(long)ctx->data;

	if ((void *)(f + 1) > (void *)(long)ctx->data_end ||
	    f->eth.h_proto != bpf_htons(XDPQ_PROBE_ETH_P) ||
	    f->magic != bpf_htonl(XDPQ_PROBE_MAGIC)) {
		__sync_fetch_and_add(&xdpq_probe_other, 1);
		return XDP_PASS;
	}
	__sync_fetch_and_add(&xdpq_probe_received, 1);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
