/* SPDX-License-Identifier: GPL-2.0 */
/* The three queue maps behind one interface.
 *
 *   xdpq_<kind>_enqueue(q, slot, rank, len) -> enum xdpq_enq
 *   xdpq_<kind>_peek(q, &entry)             -> 0, or -1 when empty
 *   xdpq_<kind>_dequeue(q, &entry)          -> 0, or -1 when empty
 *   q->len, q->cap, q->bytes                   (read under no lock: a snapshot)
 *
 * for kind in fifo, pifo, rbtree; the rbtree operations also take the
 * tree's root (see rbtree.h), and its peek takes only the root. Ranks are unsigned 64-bit, lower first;
 * equal ranks leave in enqueue order.
 */
#ifndef XDPQ_QUEUE_H
#define XDPQ_QUEUE_H

#include "fifo.h"
#include "pifo.h"
#include "rbtree.h"

#endif /* XDPQ_QUEUE_H */
