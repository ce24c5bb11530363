/* SPDX-License-Identifier: MIT */
/*
 * A finished node tree copied into one allocation (see node-internal.h):
 * the loader keeps the trees for the daemon's lifetime, one node per key
 * and value of every job, and one malloc per node, string and array cost
 * more than the data (allocator headers, rounding, arrays grown by
 * doubling). The block holds the nodes and the arrays first (pointer
 * aligned), then the strings; the empty paths of key nodes share one
 * string. Pure.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node-internal.h"

struct compact {
	char *fixed; /* next node or array */
	char *chars; /* next string */
	const char *empty;
};

static size_t
align_up(size_t n)
{
	return (n + alignof(struct chime_node) - 1) & ~(alignof(struct chime_node) - 1);
}

static void
compact_size(const struct chime_node *n, size_t *fixed, size_t *chars)
{
	*fixed += align_up(sizeof(*n));
	if (n->count > 0)
		*fixed += align_up(n->count * sizeof(*n->items) *
		                   (n->kind == CHIME_NODE_MAPPING ? 3 : 1));
	if (n->path != NULL && n->path[0] != '\0')
		*chars += strlen(n->path) + 1;
	if (n->scalar != NULL)
		*chars += strlen(n->scalar) + 1;
	for (size_t i = 0; i < n->count; i++) {
		compact_size(n->items[i], fixed, chars);
		if (n->kind == CHIME_NODE_MAPPING)
			compact_size(n->key_nodes[i], fixed, chars);
	}
}

static char *
compact_str(struct compact *c, const char *s)
{
	size_t len;
	char *d;

	if (s == NULL)
		return NULL;
	if (s[0] == '\0')
		return (char *)(uintptr_t)c->empty;
	len = strlen(s) + 1;
	d = memcpy(c->chars, s, len);
	c->chars += len;
	return d;
}

static struct chime_node *
compact_copy(struct compact *c, const struct chime_node *src, const char *file)
{
	struct chime_node *n = (struct chime_node *)(void *)c->fixed;

	c->fixed += align_up(sizeof(*n));
	*n = *src;
	n->file = file;
	n->path = compact_str(c, src->path);
	n->scalar = compact_str(c, src->scalar);
	n->items = NULL;
	n->keys = NULL;
	n->key_nodes = NULL;
	n->allocated = src->count;
	n->arena = false;
	if (src->count == 0)
		return n;
	n->items = (struct chime_node **)(void *)c->fixed;
	if (src->kind == CHIME_NODE_MAPPING) {
		n->key_nodes = n->items + src->count;
		n->keys = (char **)(n->key_nodes + src->count);
	}
	c->fixed += align_up(src->count * sizeof(*n->items) *
	                     (src->kind == CHIME_NODE_MAPPING ? 3 : 1));
	for (size_t i = 0; i < src->count; i++) {
		if (src->kind == CHIME_NODE_MAPPING) {
			n->key_nodes[i] = compact_copy(c, src->key_nodes[i], file);
			n->keys[i] = n->key_nodes[i]->scalar;
		}
		n->items[i] = compact_copy(c, src->items[i], file);
	}
	return n;
}

int
chime__node_compact(struct chime_node **root)
{
	struct chime_node *old = *root, *n;
	size_t fixed = 0, chars = 1, file_len = strlen(old->file) + 1;
	struct compact c;
	char *block, *file;

	compact_size(old, &fixed, &chars);
	block = malloc(fixed + chars + file_len);
	if (block == NULL)
		return -ENOMEM;
	c.fixed = block;
	c.chars = block + fixed;
	c.chars[0] = '\0';
	c.empty = c.chars++;
	file = memcpy(block + fixed + chars, old->file, file_len);
	n = compact_copy(&c, old, file);
	n->arena = true;
	chime_node_free(old);
	*root = n;
	return 0;
}
