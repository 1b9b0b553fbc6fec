/* SPDX-License-Identifier: GPL-2.0 */
/* The scheduler datapath: enqueue, schedule, transmit, BQL-like control.
 *
 * A scheduler object includes "xdpq.h", declares its queues and state,
 * defines the hooks below, and then includes this header, which supplies
 * every program:
 *
 *   struct xdpq_meta;  what classify learns about a packet, for enqueue
 *   int xdpq_sched_classify(struct xdp_md *ctx, struct xdpq_meta *m, __u64 now)
 *         -> XDPQ_CLAIM, XDPQ_UNCLAIMED, XDPQ_MALFORMED, XDPQ_ADMISSION_DROP or
 *            XDPQ_NO_MEMORY (its state could not be allocated)
 *   int xdpq_sched_enqueue(struct xdpq_meta *m, __u32 slot, __u32 len, __u64 now,
 *                          struct xdpq_entry *out)
 *         -> enum xdpq_enq; *PUSHOUT: out is the entry pushed out for it
 *   int xdpq_sched_dequeue(__u64 now, struct xdpq_entry *e, __u64 *when)
 *         -> XDPQ_DEQ_OK, XDPQ_DEQ_EMPTY, XDPQ_DEQ_LATER (not before *when)
 *            or XDPQ_DEQ_DROP (AQM: e names the slot to drop); a global
 *            function (__xdpq_global), verified once per program
 *
 * Programs:
 *   xdpq_ingress   XDP on the ingress interface: classify, store, enqueue;
 *                  and, run by the transmitter with live-frame BPF_PROG_RUN
 *                  on behalf of the egress, one staged slot per run
 *                  redirected into the egress device
 *   xdpq_init      run once after load: sets up the scheduler timer
 *   xdpq_pool_fill run XDPQ_POOL_SLOTS times after load: fills the free list
 *   xdpq_step      a test runs one dequeue at a virtual time (see below)
 *   xdpq_complete_step  a test completes frames at a virtual time (BQL)
 *   xdpq_flush     run at shutdown until the queues are empty
 *   xdpq_release   run after a limit changed (BQL, rate): restarts a stopped
 *                  scheduler, or one waiting for the old rate's release time
 *   xdpq_complete  tp_btf/napi_poll: completions of a veth egress (BQL)
 *   xdpq_xmit_flush  tp_btf/xdp_devmap_xmit: frames the egress took or refused
 *   xdpq_redirect_err  tp_btf/xdp_redirect_err: frames the egress refused
 *                  before they reached its bulk queue
 */
#ifndef XDPQ_DATAPATH_H
#define XDPQ_DATAPATH_H

#include "xdpq.h"
#include "shaper.h"

/* The program reads the clock (xdpq/codegen/c.py says so when it does). */
#ifndef XDPQ_TIMED
#define XDPQ_TIMED 0
#endif
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

/* xdpq/ir/link.py mirrors these (BqlMode); tests/test_twins.py reads them from BTF. */
enum xdpq_bql_mode { XDPQ_BQL_OFF, XDPQ_BQL_FIXED, XDPQ_BQL_ADAPTIVE };

/* A scheduler run that stopped on a limit rather than on an XDPQ_DEQ_*
 * outcome (struct xdpq_step's stop). xdpq/ir/link.py mirrors it (Hold). */
enum xdpq_hold { XDPQ_HOLD_RATE = -2, XDPQ_HOLD_BQL = -1 };

/* Why the timer stopped, counted in xdpq_stops: what limits the scheduler
 * (`xdpq stats` reads the names from BTF and calls the last one binding). */
enum xdpq_stop {
	XDPQ_STOP_EMPTY,	/* nothing queued */
	XDPQ_STOP_ELIGIBILITY,	/* the head is not eligible yet (the scheduler's pacing) */
	XDPQ_STOP_RATE,		/* the link rate */
	XDPQ_STOP_BQL,		/* the bytes in flight (BQL) */
	XDPQ_STOP__MAX,
};

/* Dequeues per timer callback before it yields the CPU and re-arms. */
#define XDPQ_BURST 64
/* Frames a NAPI poll may complete: veth's budget is 64. */
#define XDPQ_MAX_COMPLETE 64

/* Enums user space mirrors, kept in the object's BTF (which records only the
 * types of globals and functions) so that tests/test_twins.py can read them. */
struct xdpq_btf_types {
	enum xdpq_deq deq;
	enum xdpq_enq enq;
	enum xdpq_hold hold;
} xdpq_btf_types;

/* Set before load. Tracepoints see every device of every namespace, and
 * ifindexes repeat across namespaces: the egress is its ifindex and the
 * cookie of its namespace (SO_NETNS_COOKIE; never reused within a boot). */
const volatile __u32 xdpq_egress_ifindex;
const volatile __u64 xdpq_egress_netns;
const volatile __u32 xdpq_egress_peer_ifindex;	/* veth: the peer; 0 otherwise */
/* Frames the scheduler does not claim: forwarded through the bypass FIFO (0),
 * or passed to the local stack (1, deploy --unclaimed stack). */
const volatile __u32 xdpq_unclaimed_stack;

/* Clock: tests set xdpq_clock_virtual and drive xdpq_virtual_now. */
__u32 xdpq_clock_virtual;
__u64 xdpq_virtual_now;

/* Scheduler state, shared with user space through .bss. */
__u32 xdpq_busy;		/* the timer is armed or running */
__u32 xdpq_tx_sleeping;		/* the transmitter waits on the ring buffer */
__u64 xdpq_backlog;		/* packets in the scheduler's queues */
__u64 xdpq_staged;		/* slots on the transmit ring */
__u64 xdpq_timer_fires;
__u64 xdpq_tx_runs;
__u64 xdpq_wakeups;
__u64 xdpq_stops[XDPQ_STOP__MAX];
enum xdpq_stop xdpq_stop_last;

/* BQL: bytes staged or handed to the device and not yet completed. The
 * defaults are xdpq/ir/link.py's (tests/test_twins.py holds them equal). */
enum xdpq_bql_mode xdpq_bql_mode;
__u32 xdpq_bql_blocked;		/* the scheduler stopped on the limit */
__u64 xdpq_bql_limit = 64 * 1024;
__u64 xdpq_bql_min = 1514;
__u64 xdpq_bql_max = 4 * 1024 * 1024;
/* How long BQL watches the peak in flight before it shrinks the limit
 * (DQL's slack hold time, shortened for microsecond-scale devices). */
__u64 xdpq_bql_hold_ns = 1000000;
__s64 xdpq_inflight;
__u64 xdpq_inflight_head;	/* the oldest entry of the in-flight ring */
__u64 xdpq_inflight_tail;	/* the next entry */
__u64 xdpq_completed_bytes;
__u64 xdpq_complete_polls;	/* polls of the egress's veth peer (xdpq_complete) */
__u64 xdpq_completed_pkts;
__u32 xdpq_bql_hit;		/* the limit stopped the scheduler in this hold period */
__u64 xdpq_bql_peak;		/* most bytes in flight in this hold period */
__u64 xdpq_bql_period_start;
/* At the last completion: whether the limit held the scheduler, and the
 * in-flight ring's tail (the frames in flight then end before it). */
__u32 xdpq_bql_was_blocked;
__u64 xdpq_bql_was_tail;
__u64 xdpq_bql_starved;		/* completions that found the device starved (grew) */
/* The completion source hears of the frames the device takes as far as the
 * kernel runs our tracing programs, and 6.18 does not run xdpq_complete for
 * every NAPI poll of the egress's peer (seen under TCP both ways: about one
 * poll in a few hundred thousand frames goes unheard). Frames never heard of
 * stay in flight for good, and once the limit stops the scheduler nothing
 * would restart it. So the timer, stopped on the limit, also looks again
 * XDPQ_BQL_DEAF_NS after the stop or the last completion, and if still none
 * came and nothing is staged, takes everything in flight as complete (a
 * veth's peer takes its frames within microseconds), counted in
 * xdpq_bql_forgiven. */
#define XDPQ_BQL_DEAF_NS 5000000ULL
__u64 xdpq_bql_heard_at;	/* the last completion, or when the limit last stopped us */
__u64 xdpq_bql_forgiven;	/* frames taken as complete unheard */

struct xdpq_timer {
	struct bpf_timer t;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdpq_timer);
} xdpq_timer_map SEC(".maps");

/* Slots chosen by the scheduler, in sending order. */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, XDPQ_POOL_SLOTS);
	__uint(value_size, sizeof(__u32));
} xdpq_txring SEC(".maps");

/* Sizes of frames in flight, in sending order, from xdpq_inflight_head to
 * xdpq_inflight_tail: a device completes in order, so N completions retire
 * the N oldest sizes. A frame the egress refused is marked where it stands
 * (its bytes leave xdpq_inflight at once), and completions step over it.
 * Room for every slot twice: staged frames hold slots, frames in the device
 * do not. A frame staged while the ring is full is not counted in flight. */
#define XDPQ_INFLIGHT_RING (2 * XDPQ_POOL_SLOTS)
#define XDPQ_INFLIGHT_REFUSED 0x80000000u
__u32 xdpq_inflight_ring[XDPQ_INFLIGHT_RING];

/* Per CPU, the frames the transmit program redirected that the egress has
 * not yet taken or refused: the devmap bulk queue flushes every 16 frames
 * and at the end of each BPF_PROG_RUN batch (tp_btf/xdp_devmap_xmit: the
 * first `sent` of the oldest entries went, the next `drops` were refused),
 * and a redirect refused before the queue (tp_btf/xdp_redirect_err) is the
 * newest entry. BH is off for a whole batch: no one else writes it meanwhile. */
#define XDPQ_TXLOG 32
struct xdpq_txlog_entry {
	__u64 inflight;		/* the slot's in-flight entry, or XDPQ_UNTRACKED */
	__u32 len;
	__u32 pad;
};

struct xdpq_txlog {
	__u32 head;
	__u32 tail;
	struct xdpq_txlog_entry e[XDPQ_TXLOG];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdpq_txlog);
} xdpq_txlogs SEC(".maps");

/* The egress refusing frames (set by the tracepoints; monotonic ns). */
__s32 xdpq_egress_err;		/* the last refusal's error: -errno, 0 for a full device queue */
__u64 xdpq_egress_refused_at;	/* the last refusal */
__u64 xdpq_egress_refusing_since;	/* the first refusal since the egress last took a frame */
__u64 xdpq_egress_ok_at;		/* the egress last took a frame */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} xdpq_wake SEC(".maps");

static __always_inline __u64 xdpq_now(void)
{
	return xdpq_clock_virtual ? xdpq_virtual_now : bpf_ktime_get_ns();
}

/* The time an arrival is handled at, read only where something needs it:
 * the program (now, eligibility times, sojourn: XDPQ_TIMED, from the code
 * generator), the link rate, or a test's virtual clock. Otherwise 0, and
 * what stamps a time of its own takes xdpq_real_now. A clock read costs ~30
 * ns on a VM (kvm-clock), a fifth of FIFO's ingress. */
static __always_inline __u64 xdpq_arrival_now(void)
{
	return XDPQ_TIMED || xdpq_clock_virtual || xdpq_shape_rate ? xdpq_now() : 0;
}

static __always_inline __u64 xdpq_real_now(__u64 now)
{
	return now ? now : xdpq_now();
}

static __always_inline struct xdpq_timer *xdpq_timer(void)
{
	__u32 key = 0;

	return bpf_map_lookup_elem(&xdpq_timer_map, &key);
}

/* Arm the scheduler when it goes from idle to busy. Only one caller wins
 * the transition, so the timer is started once. */
static __always_inline void xdpq_kick(void)
{
	struct xdpq_timer *t;

	if (xdpq_clock_virtual)
		return;		/* tests step the scheduler themselves */
	if (__sync_val_compare_and_swap(&xdpq_busy, 0, 1) != 0)
		return;
	t = xdpq_timer();
	if (t)
		bpf_timer_start(&t->t, 0, 0);
}

/* A frame entered the bypass FIFO since the timer last consumed this. */
__u32 xdpq_bypass_kick;

/* Arm the scheduler now, whether idle or waiting for an eligibility time
 * the program gave: a frame of the bypass FIFO goes before anything the
 * program holds. (Re-arming a waiting timer only makes it look early.) */
static __always_inline void xdpq_kick_now(void)
{
	struct xdpq_timer *t;

	if (xdpq_clock_virtual)
		return;
	xdpq_bypass_kick = 1;
	__sync_val_compare_and_swap(&xdpq_busy, 0, 1);
	t = xdpq_timer();
	if (t)
		bpf_timer_start(&t->t, 0, 0);
}

/* -- bypass ----------------------------------------------------------------- */

/* Frames the scheduler does not claim (ARP and other non-IP, what its
 * classify passes, what the parser cannot read) still cross: stored in a
 * slot like any frame, they wait in this FIFO, which the dequeue serves
 * before the scheduler's queues (strict priority), under the same BQL limit.
 * They count in xdpq_backlog. xdpq/sim/bypass.py is its twin. */
#define XDPQ_BYPASS_SLOTS 1024

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, XDPQ_BYPASS_SLOTS);
	__uint(value_size, sizeof(__u32));
} xdpq_bypass SEC(".maps");

__u64 xdpq_bypass_packets;	/* held in the bypass FIFO now */
__u64 xdpq_bypass_bytes;

/* Packets and bytes in the scheduler's queues (and the bypass FIFO) change:
 * one atomic per count that moves, none for a count that does not. */
static __always_inline void xdpq_backlog_change(__s64 packets, __s64 bytes)
{
	if (packets)
		__sync_fetch_and_add(&xdpq_backlog, packets);
	if (bytes)
		__sync_fetch_and_add(&xdpq_backlog_bytes, bytes);
}

/* Copy the frame into its slot; false (the slot released, counted, and the
 * frame passed rather than lost) when it cannot be written, which cannot
 * happen for a frame that fits. */
static __always_inline bool xdpq_store(struct xdp_md *ctx, __u32 slot, __u32 len, __u64 now)
{
	if (!xdpq_slot_store(ctx, slot, len, now))
		return true;
	xdpq_slot_release(slot);
	xdpq_count(XDPQ_CNT_PASS_OVERSIZE, len);
	return false;
}

/* What the scheduler sends next: the bypass FIFO's head, else what the
 * program's dequeue gives (whose hooks never see bypassed frames). */
static __always_inline int xdpq_dequeue_next(__u64 now, struct xdpq_entry *e, __u64 *when)
{
	struct xdpq_slot *s;
	__u32 slot;

	/* The count goes up before a frame enters the FIFO: at zero the FIFO is
	 * empty, and the pop (a helper taking the map's lock) would find nothing. */
	if (!*(volatile __u64 *)&xdpq_bypass_packets || bpf_map_pop_elem(&xdpq_bypass, &slot))
		return xdpq_sched_dequeue(now, e, when);
	s = bpf_map_lookup_elem(&xdpq_slots, &slot);
	e->slot = slot;
	e->rank = 0;
	e->len = s ? s->len : 0;
	__sync_fetch_and_sub(&xdpq_bypass_packets, 1);
	__sync_fetch_and_sub(&xdpq_bypass_bytes, e->len);
	return XDPQ_DEQ_OK;
}

/* -- BQL: bytes in flight ---------------------------------------------------- */

/* A frame left the transmit ring without reaching the device (refused, or it
 * could not be written): its bytes leave flight now, and completions step
 * over its entry. An entry already retired (a completion of a frame that was
 * not ours, such as the stack's, took it) has no bytes left to take. */
static __always_inline void xdpq_inflight_cancel(__u64 pos, __u32 len)
{
	if (pos == XDPQ_UNTRACKED || pos < xdpq_inflight_head || pos >= xdpq_inflight_tail)
		return;
	__sync_fetch_and_or(&xdpq_inflight_ring[pos & (XDPQ_INFLIGHT_RING - 1)],
			    XDPQ_INFLIGHT_REFUSED);
	__sync_fetch_and_sub(&xdpq_inflight, len);
}

static __always_inline bool xdpq_bql_allows(void)
{
	return xdpq_bql_mode == XDPQ_BQL_OFF || xdpq_inflight < (__s64)xdpq_bql_limit;
}

/* The limit holds the scheduler back at now, whoever found it so (the timer,
 * or an arrival that would have sent in its place): a completion that lifts
 * it restarts the timer, and adaptive BQL learns that the limit was hit in
 * this hold period (no shrinking) and may find the device starved behind it
 * (growing). Under the consumer token. */
static __always_inline void xdpq_bql_hold(__u64 now)
{
	xdpq_bql_hit = 1;
	if (!xdpq_bql_blocked)
		xdpq_bql_heard_at = now;
	xdpq_bql_blocked = 1;
}

/* A slot sent under BQL: its size joins the in-flight ring, and the slot
 * remembers where (for a refusal). One sender at a time: the consumer. */
static __always_inline void xdpq_bql_sent(__u32 slot, __u32 len)
{
	struct xdpq_slot *s = bpf_map_lookup_elem(&xdpq_slots, &slot);
	__u64 pos = xdpq_inflight_tail;
	__s64 inflight;

	if (!s || pos - xdpq_inflight_head >= XDPQ_INFLIGHT_RING)
		return;		/* the ring is full: this one is not counted */
	xdpq_inflight_ring[pos & (XDPQ_INFLIGHT_RING - 1)] = len;
	s->inflight = pos;
	__sync_fetch_and_add(&xdpq_inflight_tail, 1);
	inflight = __sync_add_and_fetch(&xdpq_inflight, len);
	if (inflight > 0 && (__u64)inflight > xdpq_bql_peak)
		xdpq_bql_peak = inflight;
}

/* -- the consumer ------------------------------------------------------------ */

/* One consumer dequeues at a time (the queue maps and the generated dequeue
 * rely on it, and so do the link rate's clock and the in-flight ring): the
 * timer callback, or an arrival sending the scheduler's next frame in its own
 * place (see "cut through" below). Whoever turns xdpq_consumer from 0 to 1
 * is it. The timer, finding it taken, leaves word in xdpq_consumer_wanted and
 * stops; the arrival, done, restarts it. */
__u32 xdpq_consumer;
__u32 xdpq_consumer_wanted;

static __always_inline bool xdpq_consume(void)
{
	return __sync_val_compare_and_swap(&xdpq_consumer, 0, 1) == 0;
}

/* The timer: the token, or word that it wants it. Both sides write, then look
 * at the other's word (full barriers): either the arrival sees the word, or
 * the timer sees the token free. */
static __always_inline bool xdpq_timer_consumes(void)
{
	if (xdpq_consume())
		return true;
	__sync_lock_test_and_set(&xdpq_consumer_wanted, 1);
	if (!xdpq_consume())
		return false;
	__sync_lock_test_and_set(&xdpq_consumer_wanted, 0);
	return true;
}

/* An arrival gives the token back, and restarts a timer that wanted it. */
static __always_inline void xdpq_consume_end(void)
{
	struct xdpq_timer *t;

	__sync_lock_test_and_set(&xdpq_consumer, 0);
	if (*(volatile __u32 *)&xdpq_consumer_wanted &&
	    __sync_val_compare_and_swap(&xdpq_consumer_wanted, 1, 0) == 1) {
		t = xdpq_timer();
		if (t)
			bpf_timer_start(&t->t, 0, 0);
	}
}

/* -- transmit ----------------------------------------------------------------- */

/* A chosen frame reaches the egress by one of two paths: staged on the
 * transmit ring for the transmitter, or sent by an arrival in its own frame's
 * place ("cut through", below). Either way it waits in the bulk queue of the
 * CPU that redirected it, and the egress gets each CPU's bulk queue in one
 * piece, in no set order between CPUs (or between the transmitter's calls and
 * the ingress's NAPI polls on one CPU). So that the egress takes frames in the
 * order the scheduler chose them, a frame leaves by one path only once what
 * left by the other is out of its bulk queue:
 *
 * - the transmitter's frames are out when it is between BPF_PROG_RUN calls
 *   with nothing staged (each call flushes before it returns): txloop.c
 *   raises xdpq_tx_busy around its calls;
 * - an arrival's frame is out at the end of the NAPI poll it came in, on its
 *   CPU: arrivals on that CPU may go on cutting through behind it, and
 *   anything else waits until XDPQ_CUT_GRACE after it saw the last one
 *   (xdpq_cut_unsent). The devmap flush tracepoint says exactly when, but the
 *   kernel does not run tracing programs in every context a NAPI poll runs
 *   in (seen on 6.18: a poll run from another task's softirq), and a missed
 *   flush must not hold the scheduler forever; a poll takes tens of
 *   microseconds. */
#define XDPQ_CUT_GRACE 200000ULL	/* ns */

__u32 xdpq_tx_busy;		/* the transmitter is inside a BPF_PROG_RUN call */
__u32 xdpq_cut_cpu;		/* where the last frame an arrival sent left */
__u64 xdpq_cut_sent;		/* frames arrivals sent in their place */

/* When the last of them left, without a clock read for each (~30 ns on a VM).
 * Exact for frame number xdpq_cut_stamped: an arrival reads the clock for the
 * first frame it sends in a step of the coarse clock (or from another CPU).
 * A later frame of that step left before the step's end, at most
 * XDPQ_TICK_MAX after xdpq_cut_coarse, and before whoever looks first saw
 * its count (xdpq_cut_seen, xdpq_cut_seen_at). */
#define XDPQ_TICK_MAX 10000000ULL	/* the coarse clock's step, a jiffy: HZ >= 100 */
__u64 xdpq_cut_stamp;
__u64 xdpq_cut_stamped;
__u64 xdpq_cut_coarse;
__u64 xdpq_cut_seen;
__u64 xdpq_cut_seen_at;
__u64 xdpq_cut_wanted_at;	/* the last arrival that found the transmitter's frames out */

/* Frames of the transmitter may be in a bulk queue. */
static __always_inline bool xdpq_tx_unsent(void)
{
	return xdpq_staged || *(volatile __u32 *)&xdpq_tx_busy;
}

/* An arrival sent a frame in its place, holding the consumer token. The
 * stamp is written before the count moves: a looker that sees the count sees
 * the stamp, or a later one. */
static __always_inline void xdpq_cut_sent_one(void)
{
	__u32 cpu = bpf_get_smp_processor_id();
	__u64 coarse = bpf_ktime_get_coarse_ns(), sent;
	bool stamp = cpu != xdpq_cut_cpu || coarse != xdpq_cut_coarse;

	if (stamp) {
		xdpq_cut_stamp = bpf_ktime_get_ns();
		xdpq_cut_coarse = coarse;
		xdpq_cut_cpu = cpu;
	}
	sent = __sync_add_and_fetch(&xdpq_cut_sent, 1);
	if (stamp)
		xdpq_cut_stamped = sent;
}

/* Frames an arrival sent may still be in a bulk queue: not before when. The
 * last one left at its stamp, or, unstamped, no later than its coarse step's
 * end and the first look at its count. Everyone who decides on this holds the
 * consumer token, so no frame is sent meanwhile (the transmitter does not,
 * but sends only what the timer staged after deciding). */
static __always_inline bool xdpq_cut_unsent(__u64 now, __u64 *when)
{
	__u64 sent = *(volatile __u64 *)&xdpq_cut_sent, last;

	if (!sent)
		return false;
	if (sent == *(volatile __u64 *)&xdpq_cut_stamped) {
		last = xdpq_cut_stamp;
	} else {
		if (sent != xdpq_cut_seen) {
			xdpq_cut_seen_at = now;
			xdpq_cut_seen = sent;
		}
		last = xdpq_cut_coarse + XDPQ_TICK_MAX;
		if (xdpq_cut_seen_at < last)
			last = xdpq_cut_seen_at;
	}
	*when = last + XDPQ_CUT_GRACE;
	return now < *when;
}

/* Arrivals would carry the scheduler's frames out but find the
 * transmitter's in the way: the timer stages no more until XDPQ_CUT_GRACE
 * after the last of them, so that the transmitter runs dry and arrivals
 * carry the load again. Otherwise each staged frame held the arrivals back
 * until the next was staged: under a load faster than the transmitter, the
 * queue filled and every arrival was refused for as long as the load lasted
 * (seen after a single BQL stop at 1500 B: 30 to 70 % of the frames lost,
 * where arrivals carrying them lost none). */
static __always_inline bool xdpq_cut_wanted(__u64 now, __u64 *when)
{
	__u64 at = *(volatile __u64 *)&xdpq_cut_wanted_at;

	*when = at + XDPQ_CUT_GRACE;
	return at && now < *when;
}

/* Only where the limit would let the arrival send: held by BQL, the
 * scheduler needs the timer and the transmitter as soon as it is lifted. */
static __always_inline void xdpq_cut_want(__u64 now)
{
	if (xdpq_bql_allows())
		xdpq_cut_wanted_at = xdpq_real_now(now);
}

/* Wake the transmitter, but only when it sleeps: one record per wake-up. */
static __always_inline void xdpq_wake_tx(void)
{
	__u64 one = 1;

	if (__sync_val_compare_and_swap(&xdpq_tx_sleeping, 1, 0) == 1) {
		bpf_ringbuf_output(&xdpq_wake, &one, sizeof(one), 0);
		__sync_fetch_and_add(&xdpq_wakeups, 1);
	}
}

/* The scheduler chose a frame to send at now: it is in flight for BQL, it
 * takes its time at the link rate, and it counts dequeued. */
static __always_inline void xdpq_chosen(__u64 now, struct xdpq_entry *e)
{
	if (xdpq_bql_mode != XDPQ_BQL_OFF)
		xdpq_bql_sent(e->slot, e->len);
	xdpq_shape_charge(now, e->len);
	xdpq_count(XDPQ_CNT_DEQUEUED, e->len);
}

/* Hand a chosen slot to the transmitter: false (the slot freed) if the ring
 * refuses it, which cannot happen: it holds every slot of the pool. */
static __always_inline bool xdpq_stage(__u32 slot, __u32 len)
{
	struct xdpq_slot *s;

	__sync_fetch_and_add(&xdpq_staged, 1);
	if (!bpf_map_push_elem(&xdpq_txring, &slot, 0))
		return true;
	__sync_fetch_and_sub(&xdpq_staged, 1);
	s = bpf_map_lookup_elem(&xdpq_slots, &slot);
	if (s)
		xdpq_inflight_cancel(s->inflight, len);
	xdpq_count(XDPQ_CNT_SLOT_FREE_FAIL, len);
	xdpq_slot_release(slot);
	return false;
}

static __always_inline struct xdpq_txlog *xdpq_txlog_here(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&xdpq_txlogs, &zero);
}

static __always_inline void xdpq_txlog_append(__u64 inflight, __u32 len)
{
	struct xdpq_txlog *l = xdpq_txlog_here();
	struct xdpq_txlog_entry *e;

	if (!l)
		return;
	if (l->tail - l->head >= XDPQ_TXLOG)
		l->head++;	/* cannot happen (a flush every 16 frames): forget the oldest */
	e = &l->e[l->tail & (XDPQ_TXLOG - 1)];
	e->inflight = inflight;
	e->len = len;
	l->tail++;
}

/* Send the chosen slot's frame, which ctx's frame now holds: the slot is
 * freed, the frame counted transmitted and logged for the egress's verdict,
 * and redirected into the egress device's ndo_xdp_xmit. */
static __always_inline int xdpq_send(__u32 slot)
{
	struct xdpq_slot *s = bpf_map_lookup_elem(&xdpq_slots, &slot);
	__u64 inflight;
	__u32 len;

	if (!s)
		return XDP_DROP;
	len = s->len;
	inflight = s->inflight;
	xdpq_slot_release(slot);
	xdpq_count(XDPQ_CNT_TRANSMITTED, len);
	xdpq_txlog_append(inflight, len);
	return bpf_redirect(xdpq_egress_ifindex, 0);
}

/* A chosen slot whose frame cannot be written into ctx's: dropped, counted
 * pass_oversize, out of flight. */
static __always_inline int xdpq_unsendable(__u32 slot)
{
	struct xdpq_slot *s = bpf_map_lookup_elem(&xdpq_slots, &slot);
	__u32 len = s ? s->len : 0;

	xdpq_count(XDPQ_CNT_PASS_OVERSIZE, len);
	if (s)
		xdpq_inflight_cancel(s->inflight, len);
	xdpq_slot_release(slot);
	return XDP_DROP;
}

/* One run of the transmitter: take one staged slot, write it into the frame
 * and send it. Not while frames an arrival sent may still be in a bulk queue
 * (see above): those were chosen first. */
static __always_inline int xdpq_transmit(struct xdp_md *ctx)
{
	__u64 when;
	__u32 slot;

	__sync_fetch_and_add(&xdpq_tx_runs, 1);
	if (xdpq_cut_unsent(bpf_ktime_get_ns(), &when) ||
	    bpf_map_pop_elem(&xdpq_txring, &slot))
		return XDP_DROP;	/* nothing to send: the template frame goes nowhere */
	__sync_fetch_and_sub(&xdpq_staged, 1);
	if (xdpq_slot_write(ctx, slot))
		return xdpq_unsendable(slot);
	return xdpq_send(slot);
}

/* -- cut through --------------------------------------------------------------- */

/* Under load, every departure through the transmitter costs a live-frame
 * BPF_PROG_RUN of its own, and from idle the first one waits for the timer
 * and the transmitter's wake-up. Instead, an arrival on the ingress device
 * may carry the scheduler's next frame out in its own frame's place: it is
 * enqueued as always, the consumer dequeues once as the timer would at this
 * moment, and the frame chosen (this arrival's own, when it is the head: no
 * copy at all) is written into the arrival's frame and redirected into the
 * egress. The timer and the transmitter then drain only what is left when
 * arrivals stop or cannot carry it.
 *
 * Everything that holds for the timer's dequeues holds for these: the same
 * consumer token, the BQL limit and the link rate checked first and charged
 * after, counted dequeued and transmitted, logged for the egress's verdict
 * (refusals), in flight for BQL. Only on the device the deployment names
 * (xdpq_cut_ifindex, set when the program runs in the driver: generic XDP
 * sends redirected frames without the bulk queue whose flush tells us they
 * left), never on a test's virtual clock. */
__u32 xdpq_cut_ifindex;		/* 0: arrivals never send */

/* Whether this arrival may send: true holding the consumer token. Not while
 * the transmitter's frames may be in a bulk queue, nor another CPU's
 * arrivals': ours would overtake them (a CPU's bulk queue keeps its order).
 * A global function, checked once: inlined at the ingress's call sites, its
 * branches multiplied the states the verifier walks there, and took a
 * random depth-4 tree past the verifier's million instructions (280k now:
 * tests/test_trees.py keeps it). xdpq_cut_through stays inlined: as a
 * global function too, the call chain down to the dequeue passed 512 bytes
 * of stack. */
__xdpq_global bool xdpq_cut_begin(struct xdp_md *ctx, __u64 now)
{
	__u64 when;

	if (!xdpq_cut_ifindex || ctx->ingress_ifindex != xdpq_cut_ifindex || xdpq_clock_virtual)
		return false;
	if (xdpq_tx_unsent() || !xdpq_consume()) {
		xdpq_cut_want(now);
		return false;
	}
	if (xdpq_tx_unsent()) {
		xdpq_cut_want(now);
		goto busy;
	}
	if (xdpq_cut_cpu != bpf_get_smp_processor_id() &&
	    xdpq_cut_unsent(xdpq_real_now(now), &when))
		goto busy;
	/* While arrivals carry the load the timer holds off (xdpq_cut_unsent)
	 * and never meets the limit itself: if they did not say that it held
	 * them, adaptive BQL would never grow a limit too small for the device,
	 * and the frames it held would fill the queue and be refused. */
	if (!xdpq_bql_allows()) {
		xdpq_bql_hold(xdpq_real_now(now));
		goto busy;
	}
	if (xdpq_shape_allows(now, &when))
		return true;
busy:
	xdpq_consume_end();
	return false;
}

/* What the arrival in the slot it cuts through from is to the scheduler. */
enum xdpq_cut_as {
	XDPQ_CUT_STORED,	/* copied and counted already (or none: a carry) */
	XDPQ_CUT_PENDING,	/* enqueued, neither copied nor counted yet */
	XDPQ_CUT_BYPASSED,	/* in the bypass FIFO, copied and counted */
};

/* Holding the token, with the arrival (len bytes) enqueued in slot own:
 * dequeue once, and send what comes out in the arrival's frame; give the
 * token back. A pending arrival is neither copied into its slot nor counted
 * in the backlog yet: when it is itself what comes out, it never is, and
 * otherwise it gets its bytes now, before its frame is overwritten. An
 * arrival still queued arms the scheduler (bypassed: at once, see
 * xdpq_kick_now). */
static __always_inline int xdpq_cut_through(struct xdp_md *ctx, __u32 own, __u32 len,
					    __u64 now, int as)
{
	struct xdpq_entry e = {};
	int res, verdict = XDP_DROP;
	bool pending = as == XDPQ_CUT_PENDING;
	__s64 packets = pending, bytes = pending ? len : 0;
	bool gone = false;
	__u64 when;

	res = xdpq_dequeue_next(now, &e, &when);
	if (res == XDPQ_DEQ_OK || res == XDPQ_DEQ_DROP) {
		packets -= 1;
		bytes -= e.len;
		gone = e.slot == own;
	}
	/* Nothing moves when the arrival left at once; another of its size in
	 * its place moves nothing either. */
	xdpq_backlog_change(packets, bytes);
	if (!gone && pending && xdpq_slot_copy_in(ctx, own, len))
		xdpq_slot_spoil(own);
	if (res == XDPQ_DEQ_DROP) {
		xdpq_count(XDPQ_CNT_DROP_AQM, e.len);
		xdpq_slot_release(e.slot);
	} else if (res == XDPQ_DEQ_OK) {
		xdpq_chosen(now, &e);
		if (gone || !xdpq_slot_write(ctx, e.slot)) {
			xdpq_cut_sent_one();
			verdict = xdpq_send(e.slot);
		} else if (xdpq_stage(e.slot, e.len)) {
			/* The arrival's buffer cannot hold it: the transmitter sends
			 * it, once the frames cut through before it are out. */
			xdpq_wake_tx();
		}
	}
	xdpq_consume_end();
	if (!gone) {
		if (as == XDPQ_CUT_BYPASSED)
			xdpq_kick_now();
		else
			xdpq_kick();
	}
	return verdict;
}

/* A frame the scheduler did not take (refused, or dropped by the program) can
 * still carry its next one out. At saturation a full queue refuses nearly
 * every arrival: if only the stored ones carried departures, each would wait
 * for a departure to make room first, and the timer holds off while arrivals
 * cut through (xdpq_cut_unsent), so the queue drained at that trickle
 * (measured: a full prio queue let 29k of 2.7M 1500-byte frames a second
 * out, 1 % of what the link took with BQL off). cut: it holds the consumer
 * token already. */
static __always_inline int xdpq_carry(struct xdp_md *ctx, __u32 len, __u64 now, bool cut)
{
	if (!cut && !xdpq_cut_begin(ctx, now))
		return XDP_DROP;
	return xdpq_cut_through(ctx, XDPQ_NIL, len, now, XDPQ_CUT_STORED);
}

/* An unclaimed frame: into the bypass FIFO (counted `forwarded`), or to the
 * local stack (`passed`) when the deployment says so. */
static __always_inline int xdpq_unclaimed(struct xdp_md *ctx, __u32 slot, __u32 len,
					  __u64 now, enum xdpq_counter passed,
					  enum xdpq_counter forwarded)
{
	if (xdpq_unclaimed_stack) {
		xdpq_slot_release(slot);
		xdpq_count(passed, len);
		return XDP_PASS;
	}
	if (!xdpq_store(ctx, slot, len, now))
		return XDP_PASS;
	/* Counted before the dequeue can see it, so the counts never go below 0. */
	__sync_fetch_and_add(&xdpq_bypass_packets, 1);
	__sync_fetch_and_add(&xdpq_bypass_bytes, len);
	xdpq_backlog_change(1, len);
	if (bpf_map_push_elem(&xdpq_bypass, &slot, 0)) {
		xdpq_backlog_change(-1, -(__s64)len);
		__sync_fetch_and_sub(&xdpq_bypass_bytes, len);
		__sync_fetch_and_sub(&xdpq_bypass_packets, 1);
		xdpq_slot_release(slot);
		xdpq_count(XDPQ_CNT_DROP_BYPASS_FULL, len);
		return XDP_DROP;
	}
	xdpq_count(forwarded, len);
	if (xdpq_cut_begin(ctx, now))
		return xdpq_cut_through(ctx, slot, len, now, XDPQ_CUT_BYPASSED);
	xdpq_kick_now();
	return XDP_DROP;
}

/* -- enqueue ---------------------------------------------------------------- */

/* A queued packet a better arrival pushed out of its full queue (the
 * arrival is counted stored): a drop like any other, its slot released here,
 * out of the lock. */
static __always_inline void xdpq_pushed_out(struct xdpq_entry *out)
{
	xdpq_backlog_change(-1, -(__s64)out->len);
	xdpq_count(XDPQ_CNT_DROP_PUSHOUT, out->len);
	xdpq_slot_release(out->slot);
}

/* Both ends of the datapath are this one program. Attached to the ingress
 * interface it enqueues what arrives there (and may send in its place);
 * run by the transmitter with live-frame BPF_PROG_RUN, whose context names
 * the egress interface as the receiving one, it transmits. Why one program:
 * an XDP BPF_PROG_RUN with repeat > 1 first puts the program into the
 * kernel's XDP dispatcher and takes it out afterwards, each change waiting
 * for an RCU grace period (~20 ms here), unless the program is already there
 * because it is attached. The ingress program is attached, so transmitter
 * runs cost microseconds, not tens of milliseconds. */
SEC("xdp")
int xdpq_ingress(struct xdp_md *ctx)
{
	__u32 len = xdpq_frame_len(ctx);
	__u64 now;
	struct xdpq_meta m = {};
	struct xdpq_entry out = {};
	__u32 slot;
	bool cut;
	int res, arrival;

	if (ctx->ingress_ifindex == xdpq_egress_ifindex)
		return xdpq_transmit(ctx);
	now = xdpq_arrival_now();
	if (!xdpq_slot_fits(len)) {
		xdpq_count(XDPQ_CNT_PASS_OVERSIZE, len);
		return XDP_PASS;
	}
	/* A frame the datapath cannot hold (the limit in time is reached, or no
	 * slot is free) never reaches the program, so that a drop it does not
	 * decide cannot move its state (a flow's tags, a bucket's tokens). */
	if (xdpq_shape_over_limit(len)) {
		xdpq_count(XDPQ_CNT_DROP_OVERLIMIT, len);
		return XDP_DROP;
	}
	if (xdpq_slot_alloc(&slot)) {
		xdpq_count(XDPQ_CNT_DROP_NO_SLOT, len);
		return XDP_DROP;
	}
	res = xdpq_sched_classify(ctx, &m, now);
	switch (res) {
	case XDPQ_CLAIM:
		break;
	case XDPQ_UNCLAIMED:
		return xdpq_unclaimed(ctx, slot, len, now, XDPQ_CNT_PASS_UNCLAIMED,
				      XDPQ_CNT_FORWARD_UNCLAIMED);
	case XDPQ_MALFORMED:
		return xdpq_unclaimed(ctx, slot, len, now, XDPQ_CNT_PASS_MALFORMED,
				      XDPQ_CNT_FORWARD_MALFORMED);
	default:
		xdpq_slot_release(slot);
		xdpq_count(res == XDPQ_NO_MEMORY ? XDPQ_CNT_DROP_NO_MEMORY :
			   XDPQ_CNT_DROP_ADMISSION, len);
		return xdpq_carry(ctx, len, now, false);
	}
	/* Sending in its place, the arrival holds the only consumer: no one
	 * dequeues its slot before it copies its bytes there, which it need not
	 * do at all if it is itself the head. Otherwise the bytes go first. */
	cut = xdpq_cut_begin(ctx, now);
	if (cut)
		xdpq_slot_head(slot, len, now);
	else if (!xdpq_store(ctx, slot, len, now))
		return XDP_PASS;
	res = xdpq_sched_enqueue(&m, slot, len, now, &out);
	arrival = xdpq_enq_arrival(res);
	if (arrival != res)
		xdpq_pushed_out(&out);
	switch (arrival) {
	case XDPQ_ENQ_CLAMPED:
		xdpq_count(XDPQ_CNT_PIFO_CLAMPED, len);
		/* fall through: stored */
	case XDPQ_ENQ_OK:
		xdpq_count(XDPQ_CNT_ENQUEUED, len);
		if (cut)
			return xdpq_cut_through(ctx, slot, len, now, XDPQ_CUT_PENDING);
		xdpq_backlog_change(1, len);
		xdpq_kick();
		return XDP_DROP;
	case XDPQ_ENQ_FULL:
		xdpq_count(XDPQ_CNT_DROP_QUEUE_FULL, len);
		break;
	case XDPQ_ENQ_OUT_OF_WINDOW:
		xdpq_count(XDPQ_CNT_DROP_RANK_WINDOW, len);
		break;
	default:
		xdpq_count(XDPQ_CNT_DROP_NO_MEMORY, len);
		break;
	}
	xdpq_slot_release(slot);
	return xdpq_carry(ctx, len, now, cut);
}

/* -- schedule --------------------------------------------------------------- */

struct xdpq_step {
	__u64 now;
	__u64 when;		/* LATER: the next eligibility time; HOLD_RATE: the release time */
	__u32 staged;		/* slots staged in this callback */
	int stop;		/* why the loop stopped: XDPQ_DEQ_* or XDPQ_HOLD_* */
	struct xdpq_entry last;	/* the last entry staged or dropped (for tests) */
};

/* Move one packet from the scheduler's queues to the transmit ring. */
static long xdpq_dequeue_one(__u64 index, struct xdpq_step *s)
{
	struct xdpq_entry e = {};
	int res;

	if (!xdpq_bql_allows()) {
		xdpq_bql_hold(s->now);
		s->stop = XDPQ_HOLD_BQL;
		return 1;
	}
	/* The rate before the dequeue, which takes the packet out. With nothing
	 * queued there is nothing to wait for: the scheduler goes idle. */
	if (!xdpq_shape_allows(s->now, &s->when)) {
		s->stop = xdpq_backlog ? XDPQ_HOLD_RATE : XDPQ_DEQ_EMPTY;
		return 1;
	}
	res = xdpq_dequeue_next(s->now, &e, &s->when);
	s->stop = res;
	if (res == XDPQ_DEQ_EMPTY || res == XDPQ_DEQ_LATER)
		return 1;
	s->last = e;
	xdpq_backlog_change(-1, -(__s64)e.len);
	if (res == XDPQ_DEQ_DROP) {
		xdpq_count(XDPQ_CNT_DROP_AQM, e.len);
		xdpq_slot_release(e.slot);
		return 0;
	}
	xdpq_chosen(s->now, &e);
	if (xdpq_stage(e.slot, e.len))
		s->staged++;
	return 0;
}

/* Only the timer callback writes these: no atomics needed. */
static __always_inline void xdpq_stopped(enum xdpq_stop why)
{
	xdpq_stops[why]++;
	xdpq_stop_last = why;
}

/* Fire again at time when: measured from now, not from the start of the
 * run, which took a while. */
static __always_inline void xdpq_rearm(struct xdpq_timer *t, __u64 when)
{
	__u64 now = xdpq_now();

	bpf_timer_start(&t->t, when > now ? when - now : 0, 0);
}

static __always_inline void xdpq_bql_deaf(__u64 now);	/* with the completions, below */

static int xdpq_timer_fire(void *map, __u32 *key, struct xdpq_timer *t)
{
	struct xdpq_step s = {};

	__sync_fetch_and_add(&xdpq_timer_fires, 1);
	if (!xdpq_timer_consumes())
		return 0;	/* an arrival is sending in our place: it restarts us */
	s.now = xdpq_now();
	if (xdpq_cut_unsent(s.now, &s.when) || xdpq_cut_wanted(s.now, &s.when)) {
		/* What we stage could overtake the frames arrivals sent, or
		 * arrivals would send it. */
		__sync_lock_test_and_set(&xdpq_consumer, 0);
		xdpq_rearm(t, s.when);
		return 0;
	}
	xdpq_bql_deaf(s.now);
	bpf_loop(XDPQ_BURST, xdpq_dequeue_one, &s, 0);
	__sync_lock_test_and_set(&xdpq_consumer, 0);
	if (s.staged)
		xdpq_wake_tx();
	switch (s.stop) {
	case XDPQ_DEQ_EMPTY:
		xdpq_stopped(XDPQ_STOP_EMPTY);
		/* Go idle, then look again: an enqueue that saw us busy did not
		 * arm the timer, and may have come after our last look. */
		xdpq_busy = 0;
		if (xdpq_backlog && __sync_val_compare_and_swap(&xdpq_busy, 0, 1) == 0)
			bpf_timer_start(&t->t, 0, 0);
		break;
	case XDPQ_DEQ_LATER:
		xdpq_stopped(XDPQ_STOP_ELIGIBILITY);
		xdpq_rearm(t, s.when);
		/* A bypassed frame that came meanwhile re-armed us for now, and we
		 * may just have put that off: look again at once (once per kick,
		 * so that this can never spin). */
		if (__sync_val_compare_and_swap(&xdpq_bypass_kick, 1, 0))
			bpf_timer_start(&t->t, 0, 0);
		break;
	case XDPQ_HOLD_RATE:
		/* The scheduler's eligibility times are checked again then. */
		xdpq_stopped(XDPQ_STOP_RATE);
		xdpq_rearm(t, s.when);
		break;
	case XDPQ_HOLD_BQL:
		xdpq_stopped(XDPQ_STOP_BQL);
		/* Blocked on the BQL limit: a completion re-arms us, unless one came
		 * between the look at the limit and now; if none comes, we look
		 * again when it would be overdue (xdpq_bql_deaf). */
		if (xdpq_bql_allows() && __sync_val_compare_and_swap(&xdpq_bql_blocked, 1, 0))
			bpf_timer_start(&t->t, 0, 0);
		else
			xdpq_rearm(t, xdpq_bql_heard_at + XDPQ_BQL_DEAF_NS);
		break;
	default:
		/* Burst used up with more to send: yield, come back at once. */
		bpf_timer_start(&t->t, 0, 0);
		break;
	}
	return 0;
}

SEC("xdp")
int xdpq_init(struct xdp_md *ctx)
{
	struct xdpq_timer *t = xdpq_timer();

	if (!t)
		return XDP_ABORTED;
	bpf_timer_init(&t->t, &xdpq_timer_map, 1 /* CLOCK_MONOTONIC */);
	bpf_timer_set_callback(&t->t, xdpq_timer_fire);
	return XDP_PASS;
}

/* Run after user space changed a limit. A scheduler stopped on the old BQL
 * limit waits for a completion that may never come; one armed for the old
 * rate's release time (or busy otherwise) looks again now. An idle one is
 * left alone: the next enqueue arms it. */
SEC("xdp")
int xdpq_release(struct xdp_md *ctx)
{
	struct xdpq_timer *t = xdpq_timer();

	if (!t || xdpq_clock_virtual)
		return XDP_PASS;
	if (xdpq_bql_blocked) {
		if (xdpq_bql_allows() && __sync_val_compare_and_swap(&xdpq_bql_blocked, 1, 0))
			bpf_timer_start(&t->t, 0, 0);
	} else if (xdpq_busy) {
		bpf_timer_start(&t->t, 0, 0);
	}
	return XDP_PASS;
}

__u32 xdpq_pool_next;

SEC("xdp")
int xdpq_pool_fill(struct xdp_md *ctx)
{
	__u32 slot = __sync_fetch_and_add(&xdpq_pool_next, 1);

	if (slot >= XDPQ_POOL_SLOTS || bpf_map_push_elem(&xdpq_free, &slot, 0))
		return XDP_ABORTED;
	return XDP_PASS;
}

/* A test's deterministic scheduler step: the frame carries the virtual time
 * (u64) on input; one dequeue runs at that time, and the frame comes back
 * with the outcome, the entry and the eligibility time. */
struct xdpq_step_io {
	__u64 now;
	__s32 result;
	__u32 slot;
	__u64 rank;
	__u32 len;
	__u32 pad;
	__u64 when;
};

SEC("xdp")
int xdpq_step(struct xdp_md *ctx)
{
	struct xdpq_step_io *io = (void *)(long)ctx->data;
	struct xdpq_step s = {};

	if ((void *)(io + 1) > (void *)(long)ctx->data_end)
		return XDP_ABORTED;
	s.now = io->now;
	xdpq_dequeue_one(0, &s);
	io->result = s.stop;
	io->slot = s.last.slot;
	io->rank = s.last.rank;
	io->len = s.last.len;
	io->when = s.when;
	return XDP_PASS;
}

/* Shutdown: each run takes one queued packet out and frees its slot, or
 * one staged slot the transmitter did not send. XDP_DROP when nothing is left. */
SEC("xdp")
int xdpq_flush(struct xdp_md *ctx)
{
	struct xdpq_entry e = {};
	__u64 when;
	__u32 slot;
	int res;

	if (bpf_map_pop_elem(&xdpq_txring, &slot) == 0) {
		struct xdpq_slot *s = bpf_map_lookup_elem(&xdpq_slots, &slot);

		__sync_fetch_and_sub(&xdpq_staged, 1);
		if (s)
			xdpq_inflight_cancel(s->inflight, s->len);
		xdpq_count(XDPQ_CNT_DROP_SHUTDOWN, s ? s->len : 0);
		xdpq_slot_release(slot);
		return XDP_PASS;
	}
	/* The end of time: every entry is eligible, whatever time it waits for
	 * (a hook's now + x wraps to a time before it). */
	res = xdpq_dequeue_next(~0ULL, &e, &when);
	if (res != XDPQ_DEQ_OK && res != XDPQ_DEQ_DROP)
		return XDP_DROP;
	xdpq_backlog_change(-1, -(__s64)e.len);
	xdpq_count(XDPQ_CNT_DROP_SHUTDOWN, e.len);
	xdpq_slot_release(e.slot);
	return XDP_PASS;
}

/* -- completions (BQL) ------------------------------------------------------ */

struct xdpq_retire {
	__u32 left;
	__u32 done;
	__u64 bytes;
};

/* Take the oldest entry of the in-flight ring (another CPU may be taking
 * entries too: the compare-and-swap gives each to one); a refused one does
 * not count as a completion. */
static long xdpq_retire_one(__u64 index, struct xdpq_retire *r)
{
	__u64 head = xdpq_inflight_head;
	__u32 size;

	if (!r->left || head >= xdpq_inflight_tail)
		return 1;
	size = xdpq_inflight_ring[head & (XDPQ_INFLIGHT_RING - 1)];
	if (__sync_val_compare_and_swap(&xdpq_inflight_head, head, head + 1) != head)
		return 0;
	if (size & XDPQ_INFLIGHT_REFUSED)
		return 0;
	r->left--;
	r->done++;
	r->bytes += size;
	return 0;
}

/* Drop refused entries from the front of the in-flight ring, so that an
 * egress that refuses everything does not fill it. */
static long xdpq_trim_one(__u64 index, void *unused)
{
	__u64 head = xdpq_inflight_head;

	if (head >= xdpq_inflight_tail ||
	    !(xdpq_inflight_ring[head & (XDPQ_INFLIGHT_RING - 1)] & XDPQ_INFLIGHT_REFUSED))
		return 1;
	__sync_val_compare_and_swap(&xdpq_inflight_head, head, head + 1);
	return 0;
}

/* Bytes left flight: restart a scheduler the limit had stopped. */
static __always_inline void xdpq_bql_unblock(void)
{
	struct xdpq_timer *t;

	if (xdpq_bql_allows() && __sync_val_compare_and_swap(&xdpq_bql_blocked, 1, 0) == 1 &&
	    !xdpq_clock_virtual) {
		t = xdpq_timer();
		if (t)
			bpf_timer_start(&t->t, 0, 0);
	}
}

/* Like Linux's dynamic queue limits (dql_completed): the device starved while
 * packets waited behind the limit if the limit held the scheduler at the last
 * completion and every frame in flight then is complete now (the restart, from
 * the completion through the timer and the transmitter to the device, did not
 * give it more before it ran out), or if the limit holds it now and nothing is
 * left in flight. Then grow by what completed. Frames staged but not yet sent
 * count in flight, so "nothing in flight" alone misses a device that ran dry
 * while the transmitter was on its way. Over a hold period in which the limit
 * never stopped the scheduler, shrink it to the most that was in flight (what
 * the device really needed). */
static __always_inline void xdpq_bql_adapt(__u64 now, __u64 done)
{
	__u64 limit = xdpq_bql_limit;

	if ((xdpq_inflight <= 0 && xdpq_bql_blocked) ||
	    (xdpq_bql_was_blocked && xdpq_inflight_head >= xdpq_bql_was_tail)) {
		limit += done;
		__sync_fetch_and_add(&xdpq_bql_starved, 1);
	}
	/* Frames left in flight that the restart must follow up in time (a
	 * device already empty was counted above). */
	xdpq_bql_was_blocked = xdpq_bql_blocked && xdpq_inflight > 0;
	xdpq_bql_was_tail = xdpq_inflight_tail;
	if (now - xdpq_bql_period_start > xdpq_bql_hold_ns) {
		if (!xdpq_bql_hit && xdpq_bql_peak && xdpq_bql_peak < limit)
			limit = xdpq_bql_peak;
		xdpq_bql_hit = 0;
		xdpq_bql_peak = 0;
		xdpq_bql_period_start = now;
	}
	if (limit < xdpq_bql_min)
		limit = xdpq_bql_min;
	if (limit > xdpq_bql_max)
		limit = xdpq_bql_max;
	xdpq_bql_limit = limit;
}

/* N frames the device took are complete: retire the N oldest sizes in
 * flight, adapt the limit, and restart a scheduler the limit had stopped. */
static __always_inline void xdpq_bql_complete(__u64 now, __u32 n)
{
	struct xdpq_retire r = {};

	xdpq_bql_heard_at = now;
	r.left = n < XDPQ_MAX_COMPLETE ? n : XDPQ_MAX_COMPLETE;
	/* Up to the whole ring: refused entries are stepped over. */
	bpf_loop(XDPQ_INFLIGHT_RING, xdpq_retire_one, &r, 0);
	if (!r.bytes)
		return;
	__sync_fetch_and_sub(&xdpq_inflight, r.bytes);
	__sync_fetch_and_add(&xdpq_completed_bytes, r.bytes);
	__sync_fetch_and_add(&xdpq_completed_pkts, r.done);
	if (xdpq_bql_mode == XDPQ_BQL_ADAPTIVE)
		xdpq_bql_adapt(now, r.bytes);
	xdpq_bql_unblock();
}

/* Stopped on the limit with no completion heard for XDPQ_BQL_DEAF_NS: take
 * everything in flight as complete. Only the timer calls this. */
static __always_inline void xdpq_bql_deaf(__u64 now)
{
	__u64 head = xdpq_inflight_head, tail = xdpq_inflight_tail;
	__s64 inflight = xdpq_inflight;

	/* Signed: a completion on another CPU may be stamped after our now.
	 * Only frames the device was given can have gone unheard: none while
	 * some are still staged (a transmitter that is slow, or gone). */
	if (!xdpq_bql_blocked || xdpq_staged ||
	    (__s64)(now - xdpq_bql_heard_at) < (__s64)XDPQ_BQL_DEAF_NS)
		return;
	/* A completion retiring an entry meanwhile loses the race and retires
	 * nothing: its frame is counted here. */
	if (__sync_val_compare_and_swap(&xdpq_inflight_head, head, tail) != head)
		return;
	if (inflight > 0) {
		__sync_fetch_and_sub(&xdpq_inflight, inflight);
		__sync_fetch_and_add(&xdpq_completed_bytes, inflight);
	}
	__sync_fetch_and_add(&xdpq_completed_pkts, tail - head);
	__sync_fetch_and_add(&xdpq_bql_forgiven, tail - head);
	xdpq_bql_heard_at = now;
	xdpq_bql_blocked = 0;
	xdpq_bql_was_blocked = 0;	/* not starved: unheard */
}

/* Is dev the device ifindex of the egress's namespace? The same ifindex in
 * another namespace is not. */
static __always_inline bool xdpq_is_dev(const struct net_device *dev, __u32 ifindex)
{
	return dev && BPF_CORE_READ(dev, ifindex) == ifindex &&
	       BPF_CORE_READ(dev, nd_net.net, net_cookie) == xdpq_egress_netns;
}

static __always_inline bool xdpq_is_egress(const struct net_device *dev)
{
	return xdpq_is_dev(dev, xdpq_egress_ifindex);
}

/* Are frames redirected to the egress from receiving device rx ours? The
 * transmitter's live frames name the egress itself; arrivals that cut
 * through, the ingress. */
static __always_inline bool xdpq_sent_from(const struct net_device *rx)
{
	return xdpq_is_egress(rx) || (xdpq_cut_ifindex && xdpq_is_dev(rx, xdpq_cut_ifindex));
}

/* The peer of a veth egress polled: the frames it took are complete. */
SEC("tp_btf/napi_poll")
int BPF_PROG(xdpq_complete, struct napi_struct *napi, int work, int budget)
{
	struct net_device *dev = napi->dev;
	struct net_device *peer;
	void *priv;

	if (!dev || work <= 0 || dev->ifindex != xdpq_egress_peer_ifindex)
		return 0;
	/* The peer's namespace may be one we cannot name: identify the device
	 * as the veth whose peer is our egress. */
	priv = (void *)dev + ((bpf_core_type_size(struct net_device) + 31) & ~31);
	peer = BPF_CORE_READ((struct veth_priv *)priv, peer);
	if (!xdpq_is_egress(peer))
		return 0;
	__sync_fetch_and_add(&xdpq_complete_polls, 1);
	xdpq_bql_complete(xdpq_now(), work);
	return 0;
}

/* Completions reported from user space: the frame carries struct
 * xdpq_complete_io; N frames complete at the time it gives (a test's virtual
 * time, or, from a device model that knows when frames left, the monotonic
 * clock), and the frame comes back with the BQL state. */
struct xdpq_complete_io {
	__u64 now;
	__u32 n;
	__u32 blocked;
	__u64 limit;
	__s64 inflight;
};

SEC("xdp")
int xdpq_complete_step(struct xdp_md *ctx)
{
	struct xdpq_complete_io *io = (void *)(long)ctx->data;

	if ((void *)(io + 1) > (void *)(long)ctx->data_end)
		return XDP_ABORTED;
	xdpq_bql_complete(io->now, io->n);
	io->blocked = xdpq_bql_blocked;
	io->limit = xdpq_bql_limit;
	io->inflight = xdpq_inflight;
	return XDP_PASS;
}

/* -- refusals by the egress --------------------------------------------------- */

/* The egress refused a frame the transmit program counted transmitted. */
static __always_inline void xdpq_refused(struct xdpq_txlog_entry *e)
{
	xdpq_count(XDPQ_CNT_DROP_XMIT, e->len);
	xdpq_inflight_cancel(e->inflight, e->len);
}

/* After refusals: say so, keep the in-flight ring short, and let a scheduler
 * stopped on the BQL limit go on (or an egress that refuses everything would
 * hold it stopped for good). */
static __always_inline void xdpq_refusal(int err)
{
	__u64 now = bpf_ktime_get_ns();

	if (xdpq_egress_refused_at <= xdpq_egress_ok_at)
		xdpq_egress_refusing_since = now;
	xdpq_egress_err = err;
	xdpq_egress_refused_at = now;
	bpf_loop(XDPQ_INFLIGHT_RING, xdpq_trim_one, NULL, 0);
	xdpq_bql_unblock();
}

struct xdpq_flushed {
	struct xdpq_txlog *log;
	__u32 sent;
};

static long xdpq_flushed_one(__u64 index, struct xdpq_flushed *f)
{
	struct xdpq_txlog *l = f->log;

	if (l->head == l->tail)
		return 1;	/* frames sent before this program was attached */
	if (index >= f->sent)
		xdpq_refused(&l->e[l->head & (XDPQ_TXLOG - 1)]);
	l->head++;
	return 0;
}

/* A bulk queue of frames for our egress was flushed on this CPU: the oldest
 * `sent` frames of the log went, the next `drops` were refused (the device
 * is down, its queue is full). Ours come from the transmitter's live frames,
 * whose receiving device is the egress itself, or from arrivals on the
 * ingress that cut through; a CPU flushes one of the two at a time (each
 * flushes before it turns bottom halves back on). */
SEC("tp_btf/xdp_devmap_xmit")
int BPF_PROG(xdpq_xmit_flush, const struct net_device *from_dev,
	     const struct net_device *to_dev, int sent, int drops, int err)
{
	struct xdpq_flushed f = { .sent = sent };
	__u32 n = sent + drops;

	if (!xdpq_is_egress(to_dev) || !xdpq_sent_from(from_dev))
		return 0;
	f.log = xdpq_txlog_here();
	if (!f.log)
		return 0;
	bpf_loop(n < XDPQ_TXLOG ? n : XDPQ_TXLOG, xdpq_flushed_one, &f, 0);
	if (drops > 0)
		xdpq_refusal(err);
	if (sent > 0)
		xdpq_egress_ok_at = bpf_ktime_get_ns();
	return 0;
}

/* A redirect into our egress failed before the bulk queue (a veth whose peer
 * has neither XDP nor GRO: no ndo_xdp_xmit; the egress down; the frame too
 * long): the frame the program just logged is the one. */
SEC("tp_btf/xdp_redirect_err")
int BPF_PROG(xdpq_redirect_err, const struct net_device *dev, const struct bpf_prog *xdp,
	     const void *tgt, int err, enum bpf_map_type map_type, __u32 map_id, __u32 index)
{
	struct xdpq_txlog *l;

	if (index != xdpq_egress_ifindex || !xdpq_sent_from(dev))
		return 0;
	l = xdpq_txlog_here();
	if (!l || l->head == l->tail)
		return 0;
	l->tail--;
	xdpq_refused(&l->e[l->tail & (XDPQ_TXLOG - 1)]);
	xdpq_refusal(err);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

#endif /* XDPQ_DATAPATH_H */
