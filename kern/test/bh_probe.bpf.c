// SPDX-License-Identifier: GPL-2.0
/* Can the scheduler's timer run inside a BPF_PROG_RUN, on the same CPU?
 *
 * Each program arms a bpf_timer (a softirq hrtimer, as the scheduler's is)
 * to fire 20 us later on its own CPU, then spins for 3 ms watching for it.
 * Where bottom halves are on, the timer's softirq runs at the end of the
 * hrtimer interrupt, in the middle of the spin (inside = 1); where they are
 * off, only after the program returns. The syscall program runs in plain
 * process context: it shows that the probe sees the timer when it can run.
 * tas records which lock the scheduler's programs take on this kernel
 * (kern/queue_common.h): the test test-and-set needs inside == 0 for XDP.
 */
#define XDPQ_POOL_SLOTS 16

#include "queue_common.h"

struct probe_timer {
	struct bpf_timer t;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct probe_timer);
} probe_timers SEC(".maps");

__u32 fired, inside, run_cpu, fired_cpu, ready, tas;

static int probe_fire(void *map, __u32 *key, struct probe_timer *t)
{
	fired_cpu = bpf_get_smp_processor_id();
	*(volatile __u32 *)&fired = 1;
	return 0;
}

static long probe_spin(__u64 i, __u64 *end)
{
	if (*(volatile __u32 *)&fired) {
		inside = 1;
		return 1;
	}
	return bpf_ktime_get_ns() > *end;
}

static __always_inline void probe(void)
{
	struct probe_timer *t;
	__u32 zero = 0;
	__u64 end;

	t = bpf_map_lookup_elem(&probe_timers, &zero);
	if (!t)
		return;
	if (!ready) {
		bpf_timer_init(&t->t, &probe_timers, 1 /* CLOCK_MONOTONIC */);
		bpf_timer_set_callback(&t->t, probe_fire);
		ready = 1;
	}
	tas = xdpq_lock_tas();
	fired = 0;
	inside = 0;
	run_cpu = bpf_get_smp_processor_id();
	bpf_timer_start(&t->t, 20000, 0);
	end = bpf_ktime_get_ns() + 3000000;
	bpf_loop(1 << 22, probe_spin, &end, 0);
}

SEC("xdp")
int probe_xdp(struct xdp_md *ctx)
{
	probe();
	return XDP_PASS;
}

SEC("syscall")
int probe_syscall(void *ctx)
{
	probe();
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
