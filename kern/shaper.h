/* SPDX-License-Identifier: GPL-2.0 */
/* The link rate: a shaper at the root of the scheduler, as CAKE's
 * `bandwidth` and tc's tbf are, so that the queue builds inside xdpq (where
 * the scheduler decides) and not in the device, on any egress, without a
 * completion source. kern/datapath.h applies it in the scheduler's release
 * loop; xdpq/ir/link.py (Shaper) states the rule for user space and the
 * simulator, and tests/test_twins.py replays simulations into this code.
 *
 * A virtual-time token bucket (GCRA). xdpq_shape_t is the time from which
 * the next frame may go at the rate. A frame may be released while
 * t <= now + burst; a released frame moves t on by its cost,
 * (len + overhead) * 8e9 / rate ns, exactly: the fraction of a nanosecond
 * is kept in xdpq_shape_rem (in units of 1/rate ns), so nothing is lost to
 * rounding however many frames go. A t behind now (the link was idle, or a
 * run came later than the burst covers) starts again from now: unused time
 * is not saved beyond the burst. Only frames staged for the transmitter
 * consume time; AQM drops do not.
 *
 * Stopped by the rate, the scheduler runs again once half the burst has
 * built up (t - burst / 2), not at the first time a frame could go: each run
 * then releases about half a burst, the timer fires at most ~2/burst times a
 * second, and a run late by up to half the burst loses nothing. Waking for
 * every frame cost 1-4 % of 1 Gbit/s on the development VM
 * (docs/datapath.md).
 *
 * 64-bit: a cost's numerator is at most (64 KiB + 256) * 8e9 + rate, below
 * 2^49 for any rate up to 1 Tbit/s (xdpq/ir/link.py: RATE_MAX).
 */
#ifndef XDPQ_SHAPER_H
#define XDPQ_SHAPER_H

#include "xdpq_defs.h"

/* A byte's bits, times nanoseconds per second. */
#define XDPQ_NS_BITS 8000000000ULL

/* Set by user space (xdpq/runtime/deploy.py: write_shaper) at any time; a
 * scheduler run reads them as it finds them. */
__u64 xdpq_shape_rate;		/* bit/s of frame bytes (and overhead); 0: no rate limit */
__u64 xdpq_shape_burst_ns;	/* how far ahead of now the release time may be */
__s32 xdpq_shape_overhead;	/* bytes counted per frame beyond its length */
__u64 xdpq_shape_limit;		/* bytes the queues may hold; 0: no such limit */
__u64 xdpq_shape_latency_ns;	/* what user space computed the limit from, at the rate */

/* The release clock. Only the scheduler run (the timer callback, or a test's
 * step) touches it, and it never runs twice at once. */
__u64 xdpq_shape_t;
__u64 xdpq_shape_rem;
__u64 xdpq_shape_rate_now;	/* the rate t and rem were counted at */

/* Bytes in the scheduler's queues (with xdpq_backlog, its packets). */
__u64 xdpq_backlog_bytes;

/* Whether the rate lets a frame go at now; if not, *when is the first time
 * it will. A new rate (or none) starts the clock over. */
static __always_inline bool xdpq_shape_allows(__u64 now, __u64 *when)
{
	__u64 rate = xdpq_shape_rate;

	if (rate != xdpq_shape_rate_now) {
		xdpq_shape_rate_now = rate;
		xdpq_shape_t = 0;
		xdpq_shape_rem = 0;
	}
	if (!rate || xdpq_shape_t <= now + xdpq_shape_burst_ns)
		return true;
	*when = xdpq_shape_t - xdpq_shape_burst_ns / 2;
	return false;
}

/* A frame of len bytes was released at now (after xdpq_shape_allows). */
static __always_inline void xdpq_shape_charge(__u64 now, __u32 len)
{
	__u64 rate = xdpq_shape_rate_now, bits;
	__s64 bytes = (__s64)len + xdpq_shape_overhead;

	if (!rate)
		return;
	if (xdpq_shape_t < now) {
		xdpq_shape_t = now;
		xdpq_shape_rem = 0;
	}
	bits = (bytes > 0 ? (__u64)bytes : 0) * XDPQ_NS_BITS + xdpq_shape_rem;
	xdpq_shape_t += bits / rate;
	xdpq_shape_rem = bits % rate;
}

/* Whether len more bytes would take the queues beyond the limit (tc tbf's
 * `limit`, which its `latency` sets: an arrival that does not fit is dropped). */
static __always_inline bool xdpq_shape_over_limit(__u32 len)
{
	__u64 limit = xdpq_shape_limit;

	return limit && xdpq_backlog_bytes + len > limit;
}

#endif /* XDPQ_SHAPER_H */
