/* SPDX-License-Identifier: GPL-2.0 */
/* The payload header of test traffic: which flow, which packet, when sent. */
#ifndef XDPQ_PROBE_HDR_H
#define XDPQ_PROBE_HDR_H

#define XDPQ_PROBE_MAGIC 0x7864710a	/* "xdq\n" */

/* Packed to 22 bytes so a probe frame can be 64 bytes; at offset 42 of the
 * frame, seq and tstamp_ns still fall on 8-byte boundaries. */
struct xdpq_probe_hdr {
	__u32 magic;
	__u16 flow;
	__u64 seq;
	__u64 tstamp_ns;
} __attribute__((packed));

/* Where the header sits: after Ethernet, a 20-byte IPv4 header and UDP. */
#define XDPQ_PROBE_OFF (14 + 20 + 8)

#endif /* XDPQ_PROBE_HDR_H */
