// SPDX-License-Identifier: GPL-2.0
/* Exercises the user-space binding: maps of each kind it reads, a ring
 * buffer, global data in .bss, .data and .rodata. */
#include "xdpq_defs.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} test_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} test_percpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} test_events SEC(".maps");

const volatile __u64 test_step = 1;	/* .rodata: set before load */
__u64 test_runs;			/* .bss */
__u64 test_total = 1000;		/* .data */

SEC("xdp")
int binding_test(struct xdp_md *ctx)
{
	__u32 key = 0, len = ctx->data_end - ctx->data;
	__u64 *v = bpf_map_lookup_elem(&test_percpu, &key);
	__u64 *seen;

	if (v)
		*v += 1;
	test_runs += 1;
	test_total += test_step;
	seen = bpf_map_lookup_elem(&test_hash, &len);
	if (seen)
		__sync_fetch_and_add(seen, 1);
	bpf_ringbuf_output(&test_events, &len, sizeof(len), 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
