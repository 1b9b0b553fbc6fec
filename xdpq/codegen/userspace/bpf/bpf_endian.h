/* SPDX-License-Identifier: GPL-2.0 */
/* libbpf's byte-order macros, for a build in userspace. */
#ifndef XDPQ_USERSPACE_BPF_ENDIAN_H
#define XDPQ_USERSPACE_BPF_ENDIAN_H

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define bpf_ntohs(x) ((__u16)__builtin_bswap16(x))
#define bpf_htons(x) ((__u16)__builtin_bswap16(x))
#define bpf_ntohl(x) ((__u32)__builtin_bswap32(x))
#define bpf_htonl(x) ((__u32)__builtin_bswap32(x))
#else
#define bpf_ntohs(x) ((__u16)(x))
#define bpf_htons(x) ((__u16)(x))
#define bpf_ntohl(x) ((__u32)(x))
#define bpf_htonl(x) ((__u32)(x))
#endif

#endif
