// SPDX-License-Identifier: GPL-2.0
/* A NIC stand-in for the test bed: a tap device drained at a fixed line rate.
 *
 * A physical NIC takes frames into a TX ring hundreds or thousands of frames
 * deep and sends them one after the other at its line rate. A tap does the
 * first half: XDP_REDIRECT into it (tun_xdp_xmit) queues frames in its ring,
 * tx_queue_len frames deep, and refuses them when it is full. This thread does
 * the second half: it reads one frame, then waits until that frame's time on
 * the wire ((len + overhead) * 8 / rate) has passed before it reads the next,
 * so the ring drains at the line rate and no faster. Each frame read is a
 * departure, logged with its time (CLOCK_MONOTONIC, the clock of
 * bpf_ktime_get_ns) and, for probe frames of the test bed's generator, the
 * probe's flow, sequence number and send time.
 *
 * It can also report each departure to a deployment (its xdpq_complete_step
 * program), as a driver's TX completions would, so that BQL can run on it: a
 * NIC with a completion source, for comparing BQL with a link rate.
 *
 * Waiting: sleep until shortly before the deadline, then spin (a VM wakes a
 * sleeper tens of microseconds late; a 1500-byte frame lasts 12 us at
 * 1 Gbit/s). The thread asks for SCHED_FIFO and runs without it if refused.
 * A reader that fell behind (descheduled) catches up by reading back to back,
 * by at most `catchup_ns` of wire time: a NIC's ring keeps draining while this
 * thread does not run, and the catch-up keeps the ring as short as the NIC's
 * would be (a stall longer than that loses wire time).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>

#define FRAME_MAX 65536
#define SPIN_NS 50000		/* sleep until this close to a deadline, then spin */
#define PROBE_OFF (14 + 20 + 8)	/* kern/probe_hdr.h XDPQ_PROBE_OFF */
#define PROBE_MAGIC 0x7864710a	/* XDPQ_PROBE_MAGIC */

/* One departure; xdpq/net/tapnic.py reads these (keep the layouts in step). */
struct xdpq_nic_rec {
	uint64_t departed;	/* when the frame was read: it leaves the "wire" */
	uint64_t sent;		/* probe frames: the generator's send time, else 0 */
	uint64_t seq;		/* probe frames: sequence number in the flow */
	uint32_t len;		/* frame bytes */
	int32_t flow;		/* probe frames: the flow, else -1 */
};

struct xdpq_nic {
	int fd;
	uint64_t rate_bps;
	uint32_t overhead;	/* bytes per frame on the wire beyond the frame */
	uint64_t catchup_ns;
	volatile int started;	/* the thread has set its scheduling policy */
	int realtime;		/* 1: SCHED_FIFO granted */
	volatile int stopping;
	int error;
	uint64_t count;		/* departures, also beyond the log's capacity */
	uint64_t bytes;
	uint64_t cap;
	int complete_fd;	/* a deployment's xdpq_complete_step, or -1 */
	struct xdpq_nic_rec *log;
	pthread_t thread;
	unsigned char frame[FRAME_MAX];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void wait_until(uint64_t t)
{
	uint64_t now = now_ns();

	if (t > now + SPIN_NS) {
		uint64_t s = t - SPIN_NS;
		struct timespec ts = { .tv_sec = s / 1000000000ull, .tv_nsec = s % 1000000000ull };

		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
	}
	while (now_ns() < t)
		__builtin_ia32_pause();
}

/* Log a departure, then count it: a reader that loads the count sees whole records. */
static void record(struct xdpq_nic *nic, uint64_t t, ssize_t len)
{
	struct xdpq_nic_rec *r;
	uint32_t magic;
	uint16_t flow;

	if (nic->count < nic->cap) {
		r = &nic->log[nic->count];
		r->departed = t;
		r->len = len;
		r->flow = -1;
		r->seq = r->sent = 0;
		if (len >= PROBE_OFF + 22) {
			memcpy(&magic, nic->frame + PROBE_OFF, 4);
			if (magic == PROBE_MAGIC) {
				memcpy(&flow, nic->frame + PROBE_OFF + 4, 2);
				memcpy(&r->seq, nic->frame + PROBE_OFF + 6, 8);
				memcpy(&r->sent, nic->frame + PROBE_OFF + 14, 8);
				r->flow = flow;
			}
		}
	}
	__atomic_store_n(&nic->bytes, nic->bytes + len, __ATOMIC_RELAXED);
	__atomic_store_n(&nic->count, nic->count + 1, __ATOMIC_RELEASE);
}

/* struct xdpq_complete_io (kern/datapath.h) */
struct complete_io {
	uint64_t now;
	uint32_t n;
	uint32_t blocked;
	uint64_t limit;
	int64_t inflight;
};

/* Tell the deployment a frame left, as a driver's TX completion would: its BQL
 * then counts what the ring holds. */
static void complete(struct xdpq_nic *nic, uint64_t t)
{
	struct complete_io io = { .now = t, .n = 1 };
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = &io,
		.data_size_in = sizeof(io),
	);
	int fd = __atomic_load_n(&nic->complete_fd, __ATOMIC_ACQUIRE);

	if (fd >= 0 && bpf_prog_test_run_opts(fd, &opts))
		nic->error = errno;
}

static void *drain(void *arg)
{
	struct xdpq_nic *nic = arg;
	struct sched_param sp = { .sched_priority = 10 };
	struct pollfd pfd = { .fd = nic->fd, .events = POLLIN };
	uint64_t due = now_ns(), rem = 0;

	nic->realtime = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0;
	__atomic_store_n(&nic->started, 1, __ATOMIC_RELEASE);
	while (!nic->stopping) {
		uint64_t wire;	/* the frame's bits times 1e9: its wire time in ns, times rate */
		ssize_t len;
		uint64_t t;

		wait_until(due);
		len = read(nic->fd, nic->frame, sizeof(nic->frame));
		if (len < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				nic->error = errno;
				break;
			}
			/* The ring is empty: the wire idles until a frame comes. */
			if (poll(&pfd, 1, 10) > 0)
				due = now_ns();
			continue;
		}
		t = now_ns();
		record(nic, t, len);
		complete(nic, t);
		if (t > due + nic->catchup_ns)
			due = t - nic->catchup_ns;	/* wire time lost while we were away */
		/* The remainder carries over, so that the rate does not drift. */
		wire = (uint64_t)(len + nic->overhead) * 8 * 1000000000ull + rem;
		due += wire / nic->rate_bps;
		rem = wire % nic->rate_bps;
	}
	return NULL;
}

struct xdpq_nic *xdpq_nic_start(int fd, uint64_t rate_bps, uint32_t overhead,
				uint64_t catchup_ns, uint64_t cap)
{
	struct xdpq_nic *nic = calloc(1, sizeof(*nic));

	if (!nic || !rate_bps)
		goto fail;
	nic->log = calloc(cap ? cap : 1, sizeof(*nic->log));
	if (!nic->log)
		goto fail;
	nic->fd = fd;
	nic->rate_bps = rate_bps;
	nic->overhead = overhead;
	nic->catchup_ns = catchup_ns;
	nic->cap = cap;
	nic->complete_fd = -1;
	errno = pthread_create(&nic->thread, NULL, drain, nic);
	if (errno)
		goto fail;
	while (!__atomic_load_n(&nic->started, __ATOMIC_ACQUIRE))
		sched_yield();
	return nic;
fail:
	if (nic)
		free(nic->log);
	free(nic);
	return NULL;
}

/* Stop the thread; the log stays readable until xdpq_nic_free. */
int xdpq_nic_stop(struct xdpq_nic *nic)
{
	nic->stopping = 1;
	pthread_join(nic->thread, NULL);
	return nic->error;
}

void xdpq_nic_free(struct xdpq_nic *nic)
{
	free(nic->log);
	free(nic);
}

uint64_t xdpq_nic_count(struct xdpq_nic *nic)
{
	return __atomic_load_n(&nic->count, __ATOMIC_ACQUIRE);
}

uint64_t xdpq_nic_bytes(struct xdpq_nic *nic)
{
	return nic->bytes;
}

/* Report each departure to this program (-1: to none). */
void xdpq_nic_complete_to(struct xdpq_nic *nic, int prog_fd)
{
	__atomic_store_n(&nic->complete_fd, prog_fd, __ATOMIC_RELEASE);
}

int xdpq_nic_realtime(struct xdpq_nic *nic)
{
	return nic->realtime;
}

const struct xdpq_nic_rec *xdpq_nic_log(struct xdpq_nic *nic)
{
	return nic->log;
}
