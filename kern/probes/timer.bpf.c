// SPDX-License-Identifier: GPL-2.0
/* Probe: a bpf_timer armed from an XDP program, and its callback firing.
 *
 * The XDP program arms a timer 1 µs out; the callback records that it ran
 * and when. User space waits for xdpq_probe_fired to become 1. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define XDPQ_CLOCK_MONOTONIC 1

struct xdpq_probe_timer {
	struct bpf_timer timer;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdpq_probe_timer);
} xdpq_probe_timers SEC(".maps");

__u64 xdpq_probe_fired;
__u64 xdpq_probe_armed_ns;
__u64 xdpq_probe_fired_ns;

static int xdpq_probe_timer_cb(void *map, __u32 *key, struct xdpq_probe_timer *v)
{
	xdpq_probe_fired_ns = bpf_ktime_get_ns();
	__sync_fetch_and_add(&xdpq_probe_fired, 1);
	return 0;
}

SEC("xdp")
int xdpq_probe_timer(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct xdpq_probe_timer *v = bpf_map_lookup_elem(&xdpq_probe_timers, &key);

	if (!v)
		return XDP_ABORTED;
	if (bpf_timer_init(&v->timer, &xdpq_probe_timers, XDPQ_CLOCK_MONOTONIC))
		return XDP_ABORTED;
	if (bpf_timer_set_callback(&v->timer, xdpq_probe_timer_cb))
		return XDP_ABORTED;
	xdpq_probe_armed_ns = bpf_ktime_get_ns();
	if (bpf_timer_start(&v->timer, 1000 /* ns */, 0))
		return XDP_ABORTED;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
