/* SPDX-License-Identifier: GPL-2.0 */
/* Everything a scheduler object needs before it declares its queues. */
#ifndef XDPQ_H
#define XDPQ_H

#include "xdpq_defs.h"
#include "counters.h"
#include "slots.h"
#include "queue.h"
#include "parse.h"

/* What a scheduler's hooks answer (see datapath.h). xdpq/ir/outcomes.py
 * mirrors enum xdpq_deq (Deq), xdpq/queues/base.py enum xdpq_enq (Enq). */
enum xdpq_claim { XDPQ_CLAIM, XDPQ_UNCLAIMED, XDPQ_MALFORMED, XDPQ_ADMISSION_DROP,
		  XDPQ_NO_MEMORY };
enum xdpq_deq { XDPQ_DEQ_OK, XDPQ_DEQ_EMPTY, XDPQ_DEQ_LATER, XDPQ_DEQ_DROP };

/* The usual claim: IP traffic that parses cleanly; other L3 (ARP, LLDP)
 * and malformed frames go to the stack. */
static __always_inline int xdpq_claim_ip(struct xdp_md *ctx, struct xdpq_pkt *pkt)
{
	if (xdpq_parse(ctx, pkt) != XDPQ_PARSE_OK)
		return XDPQ_MALFORMED;
	return pkt->ip_ver ? XDPQ_CLAIM : XDPQ_UNCLAIMED;
}

#endif /* XDPQ_H */
