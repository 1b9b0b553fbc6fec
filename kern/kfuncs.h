/* SPDX-License-Identifier: GPL-2.0 */
/* Declarations of the kernel's graph kfuncs (object allocation and rbtree)
 * and of its open-coded number iterator.
 *
 * The vmlinux.h that bookworm's bpftool dumps carries no kfunc prototypes, so
 * they are declared here, resolved by libbpf against the kernel's BTF.
 */
#ifndef XDPQ_KFUNCS_H
#define XDPQ_KFUNCS_H

#include "xdpq_defs.h"
#include <bpf/bpf_core_read.h>

extern void *bpf_obj_new_impl(__u64 local_type_id, void *meta) __ksym;
extern void bpf_obj_drop_impl(void *kptr, void *meta) __ksym;
extern int bpf_rbtree_add_impl(struct bpf_rb_root *root, struct bpf_rb_node *node,
			       bool (less)(struct bpf_rb_node *a, const struct bpf_rb_node *b),
			       void *meta, __u64 off) __ksym;
extern struct bpf_rb_node *bpf_rbtree_first(struct bpf_rb_root *root) __ksym;
extern struct bpf_rb_node *bpf_rbtree_remove(struct bpf_rb_root *root,
					     struct bpf_rb_node *node) __ksym;
/* Walking a tree (6.16): its root, and a node's right child. */
extern struct bpf_rb_node *bpf_rbtree_root(struct bpf_rb_root *root) __ksym;
extern struct bpf_rb_node *bpf_rbtree_right(struct bpf_rb_root *root,
					    struct bpf_rb_node *node) __ksym;

/* An open-coded loop (6.4): allowed under bpf_spin_lock, and the verifier
 * checks its body once however many times it runs. */
extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym;

#define xdpq_obj_new(type) ((type *)bpf_obj_new_impl(bpf_core_type_id_local(type), NULL))
#define xdpq_obj_drop(obj) bpf_obj_drop_impl(obj, NULL)
#define xdpq_rbtree_add(root, node, less) bpf_rbtree_add_impl(root, node, less, NULL, 0)

/* Tells the verifier which node type (and member) a graph root holds. */
#define xdpq_contains(type, member) \
	__attribute__((btf_decl_tag("contains:" #type ":" #member)))

#endif /* XDPQ_KFUNCS_H */
