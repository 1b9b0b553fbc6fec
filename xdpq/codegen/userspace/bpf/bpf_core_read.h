/* SPDX-License-Identifier: GPL-2.0 */
/* For a build in userspace: an object's "type id" is its size, which is what
 * bpf_obj_new_impl (bpf/bpf_helpers.h) allocates. No kernel type exists: the
 * one question asked (kern/queue_common.h, which lock to take) then picks
 * bpf_spin_lock, which a run on one thread takes as a no-op. */
#ifndef XDPQ_USERSPACE_BPF_CORE_READ_H
#define XDPQ_USERSPACE_BPF_CORE_READ_H

#define bpf_core_type_id_local(type) sizeof(type)
#define bpf_core_type_exists(type) 0

#endif
