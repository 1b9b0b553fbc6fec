// SPDX-License-Identifier: GPL-2.0
/* Runs kern/parse.h on the frame and leaves the result in xdpq_last, where
 * tests/test_parse.py reads it after each BPF_PROG_RUN and compares it with
 * xdpq/packet.py's parse of the same bytes. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "parse.h"

struct xdpq_pkt xdpq_last;

SEC("xdp")
int parse_test(struct xdp_md *ctx)
{
	xdpq_parse(ctx, &xdpq_last);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
