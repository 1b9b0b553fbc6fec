// SPDX-License-Identifier: GPL-2.0
/* Probe: a bpf_timer armed from an XDP program, and its callback firing. */
#include "xdpq_defs.h"

struct probe_timer {
	struct bpf_timer t;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct probe_timer);
} probe_timers SEC(".maps");

__u64 probe_fired;

static int probe_cb(void *map, __u32 *key, struct probe_timer *v)
{
	probe_fired++;
	return 0;
}

SEC("xdp")
int probe_timer(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct probe_timer *v = bpf_map_lookup_elem(&probe_timers, &key);

	if (!v)
		return XDP_ABORTED;
	bpf_timer_init(&v->t, &probe_timers, 1 /* CLOCK_MONOTONIC */);
	bpf_timer_set_callback(&v->t, probe_cb);
	bpf_timer_start(&v->t, 1000, 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
