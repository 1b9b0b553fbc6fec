/* SPDX-License-Identifier: GPL-2.0 */
/* Everything a scheduler object needs before it declares its queues. */
#ifndef XDPQ_H
#define XDPQ_H

#include "xdpq_defs.h"
#include "counters.h"
#include "slots.h"
#include "queue.h"

/* What a scheduler's hooks answer (see datapath.h). */
enum { XDPQ_CLAIM, XDPQ_UNCLAIMED, XDPQ_MALFORMED, XDPQ_ADMISSION_DROP };
enum { XDPQ_DEQ_OK, XDPQ_DEQ_EMPTY, XDPQ_DEQ_LATER, XDPQ_DEQ_DROP };

#endif /* XDPQ_H */
