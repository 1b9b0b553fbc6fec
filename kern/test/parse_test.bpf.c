// SPDX-License-Identifier: GPL-2.0
/* Runs kern/parse.h on the frame and leaves the result in xdpq_last, where
 * tests/test_parse.py reads it after each BPF_PROG_RUN and compares it with
 * xdpq/packet.py's parse of the same bytes. xdpq_last_status holds the
 * return value (it must equal xdpq_last.status) and, being typed, puts the
 * status enum into the object's BTF for the test to compare with Python's. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "parse.h"

struct xdpq_pkt xdpq_last;
enum xdpq_parse_status xdpq_last_status;

SEC("xdp")
int parse_test(struct xdp_md *ctx)
{
	xdpq_last_status = xdpq_parse(ctx, &xdpq_last);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
