/* SPDX-License-Identifier: GPL-2.0 */
/* The payload header of test traffic: which flow, which packet, when sent.
 * Written by kern/trafficgen.bpf.c, read by kern/receiver.bpf.c, and by
 * xdpq/net/{trafficgen,receiver}.py (keep the layouts in step). */
#ifndef XDPQ_PROBE_HDR_H
#define XDPQ_PROBE_HDR_H

#define XDPQ_PROBE_MAGIC 0x7864710a	/* "xdq\n" */

/* Flows a generator drives and a receiver counts separately. */
#define XDPQ_PROBE_MAX_FLOWS 64

/* Packed to 22 bytes, with a 16-bit flow, so that a probe frame can be
 * 64 bytes (14 + 20 + 8 + 22); with a 32-bit flow the smallest would be 66.
 * At offset 42 of the frame, seq and tstamp_ns still fall on 8-byte
 * boundaries. */
struct xdpq_probe_hdr {
	__u32 magic;
	__u16 flow;
	__u64 seq;		/* per flow, from 0 */
	__u64 tstamp_ns;	/* bpf_ktime_get_ns() when the generator wrote it */
} __attribute__((packed));

/* Where the header sits: after Ethernet, a 20-byte IPv4 header and UDP. */
#define XDPQ_PROBE_OFF (14 + 20 + 8)
#define XDPQ_PROBE_MIN_FRAME (XDPQ_PROBE_OFF + 22)

_Static_assert(sizeof(struct xdpq_probe_hdr) == 22, "probe header: 22 bytes");

#endif /* XDPQ_PROBE_HDR_H */
