/* SPDX-License-Identifier: GPL-2.0 */
/* What kern/ takes from libbpf and the kernel, for a build in userspace
 * (xdpq/codegen/host.py): the fast simulator compiles kern/'s queues and tree,
 * unchanged, over this file. One run at a time owns all of their state (a
 * library is loaded afresh for each run), so locks are no-ops.
 *
 * - Maps: a map's definition is a struct of pointers (as libbpf's __uint and
 *   __type make it); its storage hangs off its own value pointer, allocated
 *   on first use. Arrays (per-CPU ones have one CPU) are indexed; hashes grow
 *   and never evict, as the simulator's reference keeps every flow.
 * - The rbtree kfuncs: a binary heap in the order of less(), equal nodes in
 *   the order they were added (bpf_rbtree_add puts them to the right), which
 *   is all kern/ asks of it: add, first, remove, and (push-out) the last node
 *   by a walk down the right spine from the root: here the root stands for
 *   the last node, which has no right child.
 * - bpf_loop and the open-coded number iterator.
 * Memory that cannot be had ends the run through xq_fail: the caller then
 * runs the reference simulator.
 */
#ifndef XDPQ_USERSPACE_BPF_HELPERS_H
#define XDPQ_USERSPACE_BPF_HELPERS_H

#include <setjmp.h>

#pragma GCC visibility push(hidden)

#define SEC(name)
#define __ksym
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#define __noinline __attribute__((noinline))
#ifndef container_of
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#endif

/* A hash map: open addressing over (key, value) cells; a cell's first byte
 * says whether it is used. */
struct xq_hash {
	__u8 *cells;
	__u64 size, used;
	__u32 ksize, vsize;
};

static jmp_buf xq_fail;
enum { XQ_FAIL_MEMORY = 1, XQ_FAIL_MARK = 2 };	/* why a run ended through xq_fail */
/* What the run allocated, freed when it ends (xq_free_maps): the maps'
 * storage (a hash's cells too), the rbtrees' heaps, the objects still alive. */
static void *xq_maps[64];
static __u32 xq_nmaps;
static struct xq_hash *xq_hashes[64];
static __u32 xq_nhashes;
static struct bpf_rb_root *xq_roots[256];	/* the program's rbtree queues */
static __u32 xq_nroots;
struct xq_obj {		/* 16 bytes: the object after it is aligned as malloc's */
	struct xq_obj *prev, *next;
};
static struct xq_obj xq_objs = { &xq_objs, &xq_objs };

static void *xq_realloc(void *p, size_t bytes)
{
	void *q = realloc(p, bytes ? bytes : 1);

	if (!q)
		longjmp(xq_fail, XQ_FAIL_MEMORY);
	return q;
}

static void *xq_calloc(size_t n, size_t size)
{
	void *q = calloc(n ? n : 1, size);

	if (!q)
		longjmp(xq_fail, XQ_FAIL_MEMORY);
	return q;
}

static void xq_free_maps(void)
{
	while (xq_nhashes)
		free(xq_hashes[--xq_nhashes]->cells);
	while (xq_nmaps)
		free(xq_maps[--xq_nmaps]);
	while (xq_nroots)
		free(xq_roots[--xq_nroots]->heap);
	while (xq_objs.next != &xq_objs) {
		struct xq_obj *o = xq_objs.next;

		xq_objs.next = o->next;
		free(o);
	}
	xq_objs.prev = &xq_objs;
}

static __u64 xq_hash_bytes(const void *key, __u32 n)
{
	const __u8 *p = key;
	__u64 h = 0xcbf29ce484222325ULL;

	while (n--)
		h = (h ^ *p++) * 0x100000001b3ULL;
	return h ^ (h >> 29);
}

static __u8 *xq_hash_cell(struct xq_hash *t, const void *key)
{
	__u64 cell = 1 + t->ksize + t->vsize, i = xq_hash_bytes(key, t->ksize);

	for (;; i++) {
		__u8 *c = t->cells + (i & (t->size - 1)) * cell;

		if (!c[0] || !memcmp(c + 1, key, t->ksize))
			return c;
	}
}

static void xq_hash_grow(struct xq_hash *t)
{
	__u64 cell = 1 + t->ksize + t->vsize, i, old = t->size;
	__u8 *cells = t->cells;

	t->size = old ? 2 * old : 64;
	t->cells = xq_calloc(t->size, cell);
	for (i = 0; i < old; i++) {
		__u8 *c = cells + i * cell;

		if (c[0])
			memcpy(xq_hash_cell(t, c + 1), c, cell);
	}
	free(cells);
}

static void *xq_map_storage(void **store, __u32 type, __u32 max, __u32 ksize, __u32 vsize)
{
	struct xq_hash *t;

	if (*store)
		return *store;
	if (xq_nmaps >= sizeof(xq_maps) / sizeof(xq_maps[0]))
		longjmp(xq_fail, XQ_FAIL_MEMORY);
	if (type == BPF_MAP_TYPE_ARRAY || type == BPF_MAP_TYPE_PERCPU_ARRAY) {
		*store = xq_maps[xq_nmaps++] = xq_calloc(max, vsize);
		return *store;
	}
	if (xq_nhashes >= sizeof(xq_hashes) / sizeof(xq_hashes[0]))
		longjmp(xq_fail, XQ_FAIL_MEMORY);
	t = xq_maps[xq_nmaps++] = xq_hashes[xq_nhashes++] = xq_calloc(1, sizeof(*t));
	t->ksize = ksize;
	t->vsize = vsize;
	*store = t;
	return t;
}

static __always_inline void *xq_map_lookup(void **store, __u32 type, __u32 max, __u32 ksize,
					   __u32 vsize, const void *key)
{
	void *m = xq_map_storage(store, type, max, ksize, vsize);
	__u8 *c;

	if (type == BPF_MAP_TYPE_ARRAY || type == BPF_MAP_TYPE_PERCPU_ARRAY) {
		__u32 i = *(const __u32 *)key;

		return i < max ? (__u8 *)m + (size_t)i * vsize : NULL;
	}
	if (!((struct xq_hash *)m)->size)
		return NULL;
	c = xq_hash_cell(m, key);
	return c[0] ? c + 1 + ksize : NULL;
}

static long xq_map_update(void **store, __u32 type, __u32 max, __u32 ksize, __u32 vsize,
			  const void *key, const void *value, __u64 flags)
{
	struct xq_hash *t;
	__u8 *c;

	if (type == BPF_MAP_TYPE_ARRAY || type == BPF_MAP_TYPE_PERCPU_ARRAY) {
		void *v = xq_map_lookup(store, type, max, ksize, vsize, key);

		if (!v || flags == BPF_NOEXIST)
			return -1;
		memcpy(v, value, vsize);
		return 0;
	}
	t = xq_map_storage(store, type, max, ksize, vsize);
	if (2 * (t->used + 1) > t->size)
		xq_hash_grow(t);
	c = xq_hash_cell(t, key);
	if (c[0] && flags == BPF_NOEXIST)
		return -1;
	if (!c[0] && flags == BPF_EXIST)
		return -1;
	if (!c[0]) {
		c[0] = 1;
		t->used++;
		memcpy(c + 1, key, ksize);
	}
	memcpy(c + 1 + ksize, value, vsize);
	return 0;
}

#define xq_map_args(map) (void **)&(map)->value, sizeof(*(map)->type) / sizeof(int),	\
	sizeof(*(map)->max_entries) / sizeof(int), sizeof(*(map)->key), sizeof(*(map)->value)
#define bpf_map_lookup_elem(map, key) xq_map_lookup(xq_map_args(map), (key))
#define bpf_map_update_elem(map, key, value, flags) \
	xq_map_update(xq_map_args(map), (key), (value), (flags))

/* What the datapath alone calls (the simulator models the datapath itself). */
static inline long bpf_map_pop_elem(void *map, void *value) { abort(); }
static inline long bpf_map_push_elem(void *map, const void *value, __u64 flags) { abort(); }
static inline long bpf_xdp_load_bytes(struct xdp_md *ctx, __u32 off, void *buf, __u32 len)
{
	abort();
}
static inline long bpf_xdp_store_bytes(struct xdp_md *ctx, __u32 off, void *buf, __u32 len)
{
	abort();
}
static inline __u32 bpf_xdp_get_buff_len(struct xdp_md *ctx) { abort(); }

static inline void bpf_spin_lock(struct bpf_spin_lock *lock) { (void)lock; }
static inline void bpf_spin_unlock(struct bpf_spin_lock *lock) { (void)lock; }

static __always_inline long bpf_loop(__u32 n, long (*fn)(__u64 i, void *ctx), void *ctx,
				     __u64 flags)
{
	__u32 i;

	for (i = 0; i < n; i++)
		if (fn(i, ctx))
			return i + 1;
	return n;
}
/* kern/ passes callbacks typed for their context. */
#define bpf_loop(n, fn, ctx, flags) bpf_loop((n), (long (*)(__u64, void *))(fn), (ctx), (flags))

/* -- the kfuncs kern/kfuncs.h declares --------------------------------------------- */

int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end)
{
	it->cur = start - 1;
	it->end = end;
	return 0;
}

int *bpf_iter_num_next(struct bpf_iter_num *it)
{
	if (it->cur + 1 >= it->end)
		return NULL;
	it->cur++;
	return &it->cur;
}

void bpf_iter_num_destroy(struct bpf_iter_num *it)
{
	(void)it;
}

/* Objects live in a list, so that those a run leaves in its queues are freed. */
void *bpf_obj_new_impl(__u64 size, void *meta)
{
	struct xq_obj *o = calloc(1, sizeof(*o) + size);

	(void)meta;
	if (!o)
		return NULL;	/* the queue says XDPQ_ENQ_NO_MEMORY */
	o->next = xq_objs.next;
	o->prev = &xq_objs;
	xq_objs.next->prev = o;
	xq_objs.next = o;
	return o + 1;
}

void bpf_obj_drop_impl(void *obj, void *meta)
{
	struct xq_obj *o = (struct xq_obj *)obj - 1;

	(void)meta;
	o->prev->next = o->next;
	o->next->prev = o->prev;
	free(o);
}

typedef bool (*xq_less_fn)(struct bpf_rb_node *a, const struct bpf_rb_node *b);

static __always_inline bool xq_rb_before(xq_less_fn less, struct bpf_rb_node *a,
					 struct bpf_rb_node *b)
{
	return less(a, b) || (!less(b, a) && a->seq < b->seq);
}

int bpf_rbtree_add_impl(struct bpf_rb_root *root, struct bpf_rb_node *node,
			bool (less)(struct bpf_rb_node *a, const struct bpf_rb_node *b),
			void *meta, __u64 off)
{
	struct bpf_rb_node **h;
	__u64 i;

	(void)meta;
	(void)off;
	if (root->len == root->cap) {
		if (!root->cap) {
			if (xq_nroots >= sizeof(xq_roots) / sizeof(xq_roots[0]))
				longjmp(xq_fail, XQ_FAIL_MEMORY);
			xq_roots[xq_nroots++] = root;
		}
		root->cap = root->cap ? 2 * root->cap : 64;
		root->heap = xq_realloc(root->heap, root->cap * sizeof(*root->heap));
	}
	h = root->heap;
	node->seq = root->seq++;
	for (i = root->len++; i && xq_rb_before(less, node, h[(i - 1) / 2]); i = (i - 1) / 2)
		h[i] = h[(i - 1) / 2];
	h[i] = node;
	root->less = less;
	return 0;
}

struct bpf_rb_node *bpf_rbtree_first(struct bpf_rb_root *root)
{
	return root->len ? root->heap[0] : NULL;
}

/* The last node in the order: a leaf of the heap (O(n), as push-out needs it
 * only when the queue is full). The walk down the right spine ends at once. */
struct bpf_rb_node *bpf_rbtree_root(struct bpf_rb_root *root)
{
	struct bpf_rb_node **h = root->heap, *last = NULL;
	__u64 i;

	for (i = root->len / 2; i < root->len; i++)
		if (!last || xq_rb_before(root->less, last, h[i]))
			last = h[i];
	return last;
}

struct bpf_rb_node *bpf_rbtree_right(struct bpf_rb_root *root, struct bpf_rb_node *node)
{
	(void)root;
	(void)node;
	return NULL;
}

/* Take out the node at i: the last entry takes its place, and moves up or down. */
struct bpf_rb_node *bpf_rbtree_remove(struct bpf_rb_root *root, struct bpf_rb_node *node)
{
	struct bpf_rb_node **h = root->heap, *last;
	__u64 i = 0, c, n;

	while (i < root->len && h[i] != node)
		i++;
	if (i == root->len)	/* kern/ removes only nodes it found in the tree */
		abort();
	last = h[--root->len];
	n = root->len;
	if (i == n)
		return node;
	for (; i && xq_rb_before(root->less, last, h[(i - 1) / 2]); i = (i - 1) / 2)
		h[i] = h[(i - 1) / 2];
	while ((c = 2 * i + 1) < n) {
		if (c + 1 < n && xq_rb_before(root->less, h[c + 1], h[c]))
			c++;
		if (!xq_rb_before(root->less, h[c], last))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = last;
	return node;
}

#pragma GCC visibility pop

#endif /* XDPQ_USERSPACE_BPF_HELPERS_H */
