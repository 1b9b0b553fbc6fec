// SPDX-License-Identifier: GPL-2.0
/* The transmitter loop, in C so that it never waits for Python's GIL.
 *
 * A thread of the deploying process: while slots are staged it runs the
 * scheduler object's xdpq_ingress program with live-frame BPF_PROG_RUN (one staged slot per run,
 * redirected into the egress device); when none are, it announces that it
 * sleeps, looks once more, and blocks in epoll on the wake-up ring buffer
 * and on a stop eventfd. No spinning, no polling interval.
 *
 * Around each call it raises xdpq_tx_busy: frames it took off the transmit
 * ring may be in the egress's bulk queue until the call returns (the kernel
 * flushes it before), and arrivals on the ingress must not send in the
 * scheduler's place until then (kern/datapath.h, "cut through").
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define TEMPLATE_LEN 2047
#define MAX_RUNS 256

struct xdpq_tx {
	int prog_fd;
	int egress_ifindex;
	int batch;
	volatile unsigned long long *staged;
	volatile unsigned int *sleeping;
	volatile unsigned int *busy;
	struct ring_buffer *ring;
	int stop_fd;
	int epoll_fd;
	volatile int stopping;
	int error;			/* errno of a failed BPF_PROG_RUN, or 0 */
	unsigned long long calls;	/* BPF_PROG_RUN calls made */
	pthread_t thread;
	unsigned char frame[TEMPLATE_LEN];
};

static int on_wake(void *ctx, void *data, size_t size)
{
	return 0;
}

static int run_batch(struct xdpq_tx *tx, unsigned long long staged)
{
	struct xdp_md ctx = {
		.data_end = TEMPLATE_LEN,
		.ingress_ifindex = tx->egress_ifindex,
	};
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = tx->frame,
		.data_size_in = TEMPLATE_LEN,
		.ctx_in = &ctx,
		.ctx_size_in = sizeof(ctx),
		.repeat = staged < MAX_RUNS ? staged : MAX_RUNS,
		.flags = BPF_F_TEST_XDP_LIVE_FRAMES,
		.batch_size = tx->batch,
	);

	tx->calls++;
	return bpf_prog_test_run_opts(tx->prog_fd, &opts) ? -errno : 0;
}

static void *loop(void *arg)
{
	struct xdpq_tx *tx = arg;
	struct epoll_event ev[2];
	unsigned long long staged;
	int err;

	while (!tx->stopping) {
		staged = __atomic_load_n(tx->staged, __ATOMIC_ACQUIRE);
		if (staged) {
			__atomic_store_n(tx->busy, 1, __ATOMIC_SEQ_CST);
			err = run_batch(tx, staged);
			__atomic_store_n(tx->busy, 0, __ATOMIC_RELEASE);
			if (err) {
				tx->error = -err;
				break;
			}
			continue;
		}
		__atomic_store_n(tx->sleeping, 1, __ATOMIC_SEQ_CST);
		/* Look again after announcing sleep: the scheduler may have staged
		 * slots before it could see the flag. */
		if (!__atomic_load_n(tx->staged, __ATOMIC_SEQ_CST)) {
			if (epoll_wait(tx->epoll_fd, ev, 2, -1) < 0 && errno != EINTR) {
				tx->error = errno;
				break;
			}
			ring_buffer__consume(tx->ring);
		}
		__atomic_store_n(tx->sleeping, 0, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

void xdpq_tx_free(struct xdpq_tx *tx)
{
	if (!tx)
		return;
	ring_buffer__free(tx->ring);
	if (tx->stop_fd >= 0)
		close(tx->stop_fd);
	if (tx->epoll_fd >= 0)
		close(tx->epoll_fd);
	free(tx);
}

struct xdpq_tx *xdpq_tx_start(int prog_fd, int ring_map_fd, void *staged, void *sleeping,
			      void *busy, int egress_ifindex, int batch)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct xdpq_tx *tx = calloc(1, sizeof(*tx));
	int err;

	if (!tx)
		return NULL;
	tx->prog_fd = prog_fd;
	tx->egress_ifindex = egress_ifindex;
	tx->batch = batch;
	tx->staged = staged;
	tx->sleeping = sleeping;
	tx->busy = busy;
	*tx->busy = 0;	/* a transmitter that died in a call (resumed) holds nothing */
	tx->stop_fd = eventfd(0, EFD_CLOEXEC);
	tx->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	tx->ring = ring_buffer__new(ring_map_fd, on_wake, NULL, NULL);
	if (tx->stop_fd < 0 || tx->epoll_fd < 0 || !tx->ring)
		goto fail;
	ev.data.fd = tx->stop_fd;
	if (epoll_ctl(tx->epoll_fd, EPOLL_CTL_ADD, tx->stop_fd, &ev))
		goto fail;
	ev.data.fd = ring_buffer__epoll_fd(tx->ring);
	if (epoll_ctl(tx->epoll_fd, EPOLL_CTL_ADD, ev.data.fd, &ev))
		goto fail;
	err = pthread_create(&tx->thread, NULL, loop, tx);
	if (err) {
		errno = err;
		goto fail;
	}
	return tx;
fail:
	err = errno;
	xdpq_tx_free(tx);
	errno = err;
	return NULL;
}

/* Stop and free; returns the loop's error (an errno), or 0. */
int xdpq_tx_stop(struct xdpq_tx *tx)
{
	unsigned long long one = 1;
	int err;

	tx->stopping = 1;
	if (write(tx->stop_fd, &one, sizeof(one)) < 0)
		return errno;
	pthread_join(tx->thread, NULL);
	err = tx->error;
	xdpq_tx_free(tx);
	return err;
}

unsigned long long xdpq_tx_calls(struct xdpq_tx *tx)
{
	return tx->calls;
}

int xdpq_tx_error(struct xdpq_tx *tx)
{
	return tx->error;
}
