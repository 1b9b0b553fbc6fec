/* SPDX-License-Identifier: GPL-2.0 */
/* For a build in userspace: an object's "type id" is its size, which is what
 * bpf_obj_new_impl (bpf/bpf_helpers.h) allocates. */
#ifndef XDPQ_USERSPACE_BPF_CORE_READ_H
#define XDPQ_USERSPACE_BPF_CORE_READ_H

#define bpf_core_type_id_local(type) sizeof(type)

#endif
