/* SPDX-License-Identifier: MIT */
/*
 * YAML merge keys (the YAML 1.1 `<<` type, which libyaml leaves to its
 * users): in a finished mapping, `<<: *base`, `<<: [*a, *b]` or an inline
 * `<<: {k: v}` brings the pairs of the merged mappings in at the place of
 * the merge key. A key the mapping writes itself overrides a merged one,
 * and in a list an earlier mapping's key overrides a later one's. The
 * merged nodes keep the positions of the text they came from (the anchor)
 * and remember where they were merged, so a diagnostic about one points
 * at both; their key paths become those of the mapping they joined.
 * Candidate keys are sorted once, so hostile input stays O(n log n).
 * Pure: never logs.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "mem.h"
#include "node-internal.h"

static bool
is_merge_key(const struct chime_node *key)
{
	return key != NULL && !key->quoted && strcmp(key->scalar, "<<") == 0;
}

/* The i-th mapping a merge value brings (a mapping, or a list of them);
 * NULL past the end or for an item that is not a mapping. */
static struct chime_node *
merge_source(struct chime_node *v, size_t i, size_t *ret_n)
{
	if (v->kind == CHIME_NODE_MAPPING) {
		*ret_n = 1;
		return i == 0 ? v : NULL;
	}
	*ret_n = v->kind == CHIME_NODE_SEQUENCE ? v->count : 0;
	if (i >= *ret_n || v->items[i]->kind != CHIME_NODE_MAPPING)
		return NULL;
	return v->items[i];
}

/* Give `n` and its subtree the key path `path` (taken) and the place of
 * the merge key that brought it. */
static int
node_repath(struct chime_node *n, char *path, const struct chime_node *merge_key)
{
	free(n->path);
	n->path = path;
	n->merge_line = merge_key->line;
	n->merge_column = merge_key->column;
	for (size_t i = 0; i < n->count; i++) {
		char *child;
		int r;

		if (n->kind == CHIME_NODE_MAPPING)
			r = asprintf(&child, "%s%s%s", path, path[0] != '\0' ? "." : "",
			             n->keys[i]);
		else
			r = asprintf(&child, "%s[%zu]", path, i);
		if (r < 0)
			return -ENOMEM;
		if (n->kind == CHIME_NODE_MAPPING) {
			char *kpath = strdup(child);

			if (kpath == NULL) {
				free(child);
				return -ENOMEM;
			}
			r = node_repath(n->key_nodes[i], kpath, merge_key);
			if (r < 0) {
				free(child);
				return r;
			}
		}
		r = node_repath(n->items[i], child, merge_key);
		if (r < 0)
			return r;
	}
	return 0;
}

/* A key that may join the mapping; `order` is its priority (lower wins). */
struct merge_cand {
	const char *key;
	size_t order;
};

static int
merge_cand_cmp(const void *a, const void *b)
{
	const struct merge_cand *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c != 0 ? c : (x->order > y->order) - (x->order < y->order);
}

/*
 * Which merged pairs win: win[order] for each candidate, numbered
 * explicit pairs first, then every merged pair in priority order (the
 * order merge_each() visits them). Returns the number of winners among
 * the merged pairs, or -ENOMEM.
 */
static ssize_t
merge_winners(const struct chime_node *map, bool *win, size_t n_cand)
{
	struct merge_cand *c = calloc(n_cand, sizeof(*c));
	size_t k = 0, n_explicit = 0;
	ssize_t winners = 0;

	if (c == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < map->count; i++)
		if (!is_merge_key(map->key_nodes[i]))
			c[k] = (struct merge_cand){map->keys[i], k}, k++;
	n_explicit = k;
	for (size_t i = 0; i < map->count; i++) {
		size_t n_src = 0;

		if (!is_merge_key(map->key_nodes[i]))
			continue;
		for (size_t s = 0; s == 0 || s < n_src; s++) {
			struct chime_node *src = merge_source(map->items[i], s, &n_src);

			for (size_t j = 0; src != NULL && j < src->count; j++)
				c[k] = (struct merge_cand){src->keys[j], k}, k++;
		}
	}
	qsort(c, k, sizeof(*c), merge_cand_cmp);
	for (size_t i = 0; i < k; i++)
		if ((i == 0 || strcmp(c[i].key, c[i - 1].key) != 0) && c[i].order >= n_explicit) {
			win[c[i].order] = true;
			winners++;
		}
	free(c);
	return winners;
}

/* Keep a node the merge took out of the tree for the end of the parse. */
static void
merge_discard(struct chime_node *trash, struct chime_node *n)
{
	if (trash->count == trash->allocated) {
		size_t cap = trash->allocated != 0 ? trash->allocated * 2 : 16;
		struct chime_node **items = reallocarray(trash->items, cap, sizeof(*items));

		if (items == NULL) {
			chime__node_free_rec(n); /* the parse fails: no alias comes after */
			return;
		}
		trash->items = items;
		trash->allocated = cap;
	}
	trash->items[trash->count++] = n;
}

/* An anchor names the merge value or a mapping of its list: emptying it
 * would change what a later alias copies. */
static bool
merge_anchored(const struct chime_node *v, struct chime_diag_list *diags, size_t *ret_errors)
{
	const struct chime_node *a = v->anchored ? v : NULL;

	for (size_t i = 0; a == NULL && v->kind == CHIME_NODE_SEQUENCE && i < v->count; i++)
		if (v->items[i]->anchored)
			a = v->items[i];
	if (a == NULL)
		return false;
	chime_diag_add(diags, CHIME_DIAG_ERROR, a->file, a->line, a->column, a->path,
	               "an anchor on the value of a merge key (<<) is not supported: anchor the "
	               "mapping where it is first written and merge it with an alias");
	(*ret_errors)++;
	return true;
}

static void
merge_bad(const struct chime_node *bad, struct chime_diag_list *diags, size_t *ret_errors)
{
	chime_diag_add(diags, CHIME_DIAG_ERROR, bad->file, bad->line, bad->column, bad->path,
	               "a merge key (<<) takes a mapping, an alias of one or a list of them, "
	               "got %s",
	               chime_node_kind_name(bad));
	(*ret_errors)++;
}

/* Check the merge values (a diagnostic for each wrong one, counted in
 * *ret_errors) and count the pairs they bring. */
static size_t
merge_count(const struct chime_node *map, struct chime_diag_list *diags, size_t *ret_errors)
{
	size_t n = 0;

	for (size_t i = 0; i < map->count; i++) {
		const struct chime_node *v = map->items[i];

		if (!is_merge_key(map->key_nodes[i]))
			continue;
		if (v->kind == CHIME_NODE_MAPPING)
			n += v->count;
		else if (v->kind != CHIME_NODE_SEQUENCE)
			merge_bad(v, diags, ret_errors);
		else
			for (size_t s = 0; s < v->count; s++)
				if (v->items[s]->kind == CHIME_NODE_MAPPING)
					n += v->items[s]->count;
				else
					merge_bad(v->items[s], diags, ret_errors);
	}
	return n;
}

/* Append the winning pairs of the merge value `v` (merged at `key`) to
 * the arrays of `out`, with their new paths; `*m` numbers the candidates.
 * With `release`, only forget them in `v` (they belong to out now). */
static int
merge_each(struct chime_node *out, const char *path, struct chime_node *key, struct chime_node *v,
           const bool *win, size_t *m, bool release)
{
	size_t n_src = 0;

	for (size_t s = 0; s == 0 || s < n_src; s++) {
		struct chime_node *src = merge_source(v, s, &n_src);

		for (size_t j = 0; src != NULL && j < src->count; j++) {
			char *child;

			if (!win[(*m)++])
				continue;
			if (release) {
				src->key_nodes[j] = src->items[j] = NULL;
				continue;
			}
			if (asprintf(&child, "%s%s%s", path, path[0] != '\0' ? "." : "",
			             src->keys[j]) < 0)
				return -ENOMEM;
			if (node_repath(src->items[j], child, key) < 0)
				return -ENOMEM;
			child = strdup(src->items[j]->path);
			if (child == NULL || node_repath(src->key_nodes[j], child, key) < 0)
				return -ENOMEM;
			out->key_nodes[out->count] = src->key_nodes[j];
			out->keys[out->count] = src->keys[j];
			out->items[out->count++] = src->items[j];
		}
	}
	return 0;
}

int
chime__node_merge(struct chime_node *map, struct chime_diag_list *diags, size_t *ret_errors,
                  struct chime_node *trash)
{
	struct chime_node out = {.kind = CHIME_NODE_MAPPING};
	size_t n_merge = 0, n_merged, n_cand, m;
	ssize_t winners;
	bool *win = NULL, anchored = false;
	int r = -ENOMEM;

	for (size_t i = 0; i < map->count; i++)
		if (is_merge_key(map->key_nodes[i])) {
			n_merge++;
			anchored |= merge_anchored(map->items[i], diags, ret_errors);
		}
	if (n_merge == 0 || anchored)
		return 0;
	n_merged = merge_count(map, diags, ret_errors);
	n_cand = map->count - n_merge + n_merged;
	win = calloc(n_cand + 1, sizeof(*win));
	if (win == NULL)
		return -ENOMEM;
	winners = merge_winners(map, win, n_cand);
	if (winners < 0)
		goto out;
	out.allocated = map->count - n_merge + (size_t)winners;
	out.items = calloc(out.allocated + 1, sizeof(*out.items));
	out.keys = calloc(out.allocated + 1, sizeof(*out.keys));
	out.key_nodes = calloc(out.allocated + 1, sizeof(*out.key_nodes));
	if (out.items == NULL || out.keys == NULL || out.key_nodes == NULL)
		goto out;
	m = map->count - n_merge;
	for (size_t i = 0; i < map->count; i++) {
		if (!is_merge_key(map->key_nodes[i])) {
			out.key_nodes[out.count] = map->key_nodes[i];
			out.keys[out.count] = map->keys[i];
			out.items[out.count++] = map->items[i];
			continue;
		}
		r = merge_each(&out, map->path, map->key_nodes[i], map->items[i], win, &m, false);
		if (r < 0)
			goto out; /* the tree still owns every node */
	}
	/* The winners belong to out now; the merge keys and values, with the
	 * overridden pairs, go. */
	m = map->count - n_merge;
	for (size_t i = 0; i < map->count; i++)
		if (is_merge_key(map->key_nodes[i])) {
			(void)merge_each(NULL, NULL, NULL, map->items[i], win, &m, true);
			merge_discard(trash, map->key_nodes[i]);
			merge_discard(trash, map->items[i]);
		}
	chime_free_many(map->items, map->keys, map->key_nodes);
	map->items = out.items;
	map->keys = out.keys;
	map->key_nodes = out.key_nodes;
	map->count = out.count;
	map->allocated = out.allocated + 1;
	out = (struct chime_node){0};
	r = 0;
out:
	chime_free_many(out.items, out.keys, out.key_nodes, win);
	return r;
}
