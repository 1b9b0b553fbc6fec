/* SPDX-License-Identifier: GPL-2.0 */
/* Common definitions for every xdpq BPF object.
 *
 * Every identifier here is prefixed xdpq_/XDPQ_: vmlinux.h already defines
 * many short names (struct node, qnode, ...).
 */
#ifndef XDPQ_DEFS_H
#define XDPQ_DEFS_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Slot pool size; the including program may choose another before the
 * first #include. Queue entries link slots by index, so all per-slot
 * bookkeeping is sized by it. */
#ifndef XDPQ_POOL_SLOTS
#define XDPQ_POOL_SLOTS 4096
#endif
/* A power of two, so that a mask proves every slot index in bounds. */
_Static_assert((XDPQ_POOL_SLOTS & (XDPQ_POOL_SLOTS - 1)) == 0, "XDPQ_POOL_SLOTS: power of two");

/* Bytes of frame a slot can hold, less one: a 1500-byte MTU frame with two
 * VLAN tags (1522) fits. A power of two, so a mask bounds copy lengths. */
#define XDPQ_SLOT_DATA 2048

/* Ethertypes: macros in the UAPI headers, so absent from vmlinux.h. */
#ifndef ETH_P_IP
#define ETH_P_IP	0x0800
#define ETH_P_IPV6	0x86DD
#define ETH_P_8021Q	0x8100
#define ETH_P_8021AD	0x88A8
#endif

/* End of a slot list. */
#define XDPQ_NIL 0xffffffffu

/* All queue state lives in one global data section guarded by one lock,
 * like a qdisc's root lock (queue_common.h: a bpf_spin_lock, or where that
 * is safe a cheaper one of our own). bpf_rbtree roots must share a map value
 * with the bpf_spin_lock that guards them, and under it only direct memory
 * access is allowed (no map lookups), so everything the queue
 * operations touch sits in this one section. libbpf 1.1 ignores .bss.NAME
 * sections, hence .data.NAME. */
#define xdpq_locked SEC(".data.xq") __attribute__((aligned(8)))

/* Make the compiler forget what it knows about x, so that a bounds check on
 * x is emitted on the very register that is then used as an index (clang
 * otherwise checks one copy and indexes with another, and the verifier
 * sees an unbounded access). */
#define xdpq_barrier_var(x) asm volatile("" : "+r"(x))

/* A global function: the verifier checks it once, on its own, with its
 * arguments as its signature says (a scalar: any value; a pointer marked
 * __xdpq_nonnull: valid memory of its type's size), rather than again for
 * every state its callers reach it in. Its callers must then pass every
 * argument: a callee that ignores one lets clang leave that register
 * unset, which the verifier refuses (xdpq_barrier_var on it counts as a
 * use). */
#define __xdpq_global __attribute__((noinline))
#define __xdpq_nonnull __attribute__((btf_decl_tag("arg:nonnull")))

/* Frame length: the linear part and, for a multi-buffer frame (jumbo on a
 * NIC with XDP frags, or a large BPF_PROG_RUN), its fragments, so that a
 * frame is counted with every byte it has. */
static __always_inline __u32 xdpq_frame_len(struct xdp_md *ctx)
{
	return bpf_xdp_get_buff_len(ctx);
}

/* Ones in a word. Branch-free, so the verifier walks it once rather than
 * once per path. */
static __always_inline __u32 xdpq_popcount64(__u64 v)
{
	v = v - ((v >> 1) & 0x5555555555555555ULL);
	v = (v & 0x3333333333333333ULL) + ((v >> 2) & 0x3333333333333333ULL);
	v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (v * 0x0101010101010101ULL) >> 56;
}

/* Count trailing zeros of a non-zero word: the ones below the lowest set bit. */
static __always_inline __u32 xdpq_ctz64(__u64 x)
{
	return xdpq_popcount64((x & -x) - 1);
}

/* The index of the highest set bit of a non-zero word: the ones of the word
 * with every bit below its highest set, less one. */
static __always_inline __u32 xdpq_fls64(__u64 x)
{
	x |= x >> 1;
	x |= x >> 2;
	x |= x >> 4;
	x |= x >> 8;
	x |= x >> 16;
	x |= x >> 32;
	return xdpq_popcount64(x) - 1;
}

#endif /* XDPQ_DEFS_H */
