/* SPDX-License-Identifier: GPL-2.0 */
/* The payload header of test traffic: which flow, which packet, when sent. */
#ifndef XDPQ_PROBE_HDR_H
#define XDPQ_PROBE_HDR_H

#define XDPQ_PROBE_MAGIC 0x7864710a	/* "xdq\n" */

struct xdpq_probe_hdr {
	__u32 magic;
	__u32 flow;
	__u64 seq;
	__u64 tstamp_ns;
};

/* Where the header sits: after Ethernet, a 20-byte IPv4 header and UDP. */
#define XDPQ_PROBE_OFF (14 + 20 + 8)

#endif /* XDPQ_PROBE_HDR_H */
