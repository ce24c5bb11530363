/* SPDX-License-Identifier: MIT */
/*
 * YAML -> struct chime_node tree (the accessors are in node-access.c).
 * The tree is built from libyaml's event stream, one node per event, with
 * 1-based positions and a key path per node; aliases are expanded by
 * copying the anchored subtree, counted against the node limit before the
 * copy is made, so memory stays bounded by the limit whatever the input.
 * Pure: never logs.
 */
#include "node.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "array.h"
#include "diag.h"
#include "mem.h"
#include "node-internal.h"

struct node_anchor {
	char *name;
	struct chime_node *node;
	bool complete; /* false while the anchored collection is still open */
};

/*
 * A string -> index table (open addressing, FNV-1a) for anchor names and
 * for the keys of big mappings, so that neither aliases nor duplicate-key
 * checks make hostile input quadratic. Keys are borrowed.
 */
struct strindex {
	const char **keys;
	size_t *values;
	size_t cap, n;
};

#define STRINDEX_MIN_KEYS 8 /* below this, a mapping's keys are scanned */

struct node_frame {
	struct chime_node *node;
	struct chime_node *key; /* mapping: the key waiting for its value */
	struct strindex index;  /* mapping: key -> pair index, once it is big */
	size_t anchor;          /* index in anchors + 1 of this node's anchor, or 0 */
};

struct node_parser {
	const char *file;
	const char *text;
	size_t len;
	size_t max_depth, max_nodes;
	struct chime_diag_list *diags;
	size_t n_nodes;
	size_t errors;

	struct node_frame *stack;
	size_t depth;

	struct node_anchor *anchors;
	size_t n_anchors, allocated_anchors;
	struct strindex anchor_index; /* name -> index of its latest definition */

	struct chime_node *root;
	unsigned documents;
	/* What merge keys took out of the tree, kept until the end of the
	 * parse because an anchor may still name a node in it. */
	struct chime_node trash;
};

static uint64_t
str_hash(const char *s)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static bool
strindex_get(const struct strindex *x, const char *key, size_t *ret)
{
	if (x->cap == 0)
		return false;
	for (size_t i = str_hash(key) & (x->cap - 1);; i = (i + 1) & (x->cap - 1)) {
		if (x->keys[i] == NULL)
			return false;
		if (strcmp(x->keys[i], key) == 0) {
			*ret = x->values[i];
			return true;
		}
	}
}

/* Insert `key`; an existing key keeps its value unless `replace`. */
static int
strindex_put(struct strindex *x, const char *key, size_t value, bool replace)
{
	size_t i;

	if ((x->n + 1) * 2 > x->cap) {
		struct strindex bigger = {.cap = x->cap != 0 ? x->cap * 2 : 16};

		bigger.keys = calloc(bigger.cap, sizeof(*bigger.keys));
		bigger.values = calloc(bigger.cap, sizeof(*bigger.values));
		if (bigger.keys == NULL || bigger.values == NULL) {
			free(bigger.keys);
			free(bigger.values);
			return -ENOMEM;
		}
		for (size_t j = 0; j < x->cap; j++)
			if (x->keys[j] != NULL)
				(void)strindex_put(&bigger, x->keys[j], x->values[j], false);
		free(x->keys);
		free(x->values);
		*x = bigger;
	}
	for (i = str_hash(key) & (x->cap - 1); x->keys[i] != NULL; i = (i + 1) & (x->cap - 1))
		if (strcmp(x->keys[i], key) == 0) {
			if (replace)
				x->values[i] = value;
			return 0;
		}
	x->keys[i] = key;
	x->values[i] = value;
	x->n++;
	return 0;
}

static void
strindex_done(struct strindex *x)
{
	free(x->keys);
	free(x->values);
	*x = (struct strindex){0};
}

void
chime__node_free_rec(struct chime_node *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->count; i++) {
		chime__node_free_rec(n->items[i]);
		if (n->key_nodes != NULL)
			chime__node_free_rec(n->key_nodes[i]);
	}
	chime_free_many(n->items, n->keys, n->key_nodes, n->path, n->scalar, n);
}

struct chime_node *
chime_node_free(struct chime_node *root)
{
	char *file;

	if (root == NULL)
		return NULL;
	if (root->arena) {
		free(root); /* the block starts with the root */
		return NULL;
	}
	/* The root owns the file name every node of the tree points to. */
	file = (char *)(uintptr_t)root->file;
	chime__node_free_rec(root);
	free(file);
	return NULL;
}

static int parser_error(struct node_parser *p, unsigned line, unsigned column, const char *path,
                        const char *fmt, ...) CHIME_PRINTF(5, 6);
static int parser_error_at(struct node_parser *p, const yaml_mark_t *mark, const char *path,
                           const char *fmt, ...) CHIME_PRINTF(4, 5);

static int
parser_error(struct node_parser *p, unsigned line, unsigned column, const char *path,
             const char *fmt, ...)
{
	va_list ap;

	p->errors++;
	va_start(ap, fmt);
	chime_diag_addv(p->diags, CHIME_DIAG_ERROR, p->file, line, column, path, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* The same at a libyaml mark, which counts lines and columns from 0. */
static int
parser_error_at(struct node_parser *p, const yaml_mark_t *mark, const char *path, const char *fmt,
                ...)
{
	va_list ap;

	p->errors++;
	va_start(ap, fmt);
	chime_diag_addv(p->diags, CHIME_DIAG_ERROR, p->file, (unsigned)mark->line + 1,
	                (unsigned)mark->column + 1, path, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static char *
path_child_key(const char *parent, const char *key)
{
	char *s;

	if (parent[0] == '\0')
		return strdup(key);
	if (asprintf(&s, "%s.%s", parent, key) < 0)
		return NULL;
	return s;
}

static char *
path_child_index(const char *parent, size_t i)
{
	char *s;

	if (asprintf(&s, "%s[%zu]", parent, i) < 0)
		return NULL;
	return s;
}

static struct chime_node *
node_new(struct node_parser *p, enum chime_node_kind kind, char *path, const yaml_mark_t *mark)
{
	struct chime_node *n = calloc(1, sizeof(*n));

	if (n == NULL) {
		free(path);
		return NULL;
	}
	n->kind = kind;
	n->file = p->file;
	n->line = (unsigned)mark->line + 1;
	n->column = (unsigned)mark->column + 1;
	n->path = path;
	n->n_nodes = 1;
	return n;
}

/* Make room for one more child. */
static int
node_reserve(struct chime_node *n)
{
	size_t cap;
	void *v;

	if (n->count < n->allocated)
		return 0;
	cap = n->allocated != 0 ? n->allocated * 2 : 4;
	v = reallocarray(n->items, cap, sizeof(*n->items));
	if (v == NULL)
		return -ENOMEM;
	n->items = v;
	if (n->kind == CHIME_NODE_MAPPING) {
		v = reallocarray(n->keys, cap, sizeof(*n->keys));
		if (v == NULL)
			return -ENOMEM;
		n->keys = v;
		v = reallocarray(n->key_nodes, cap, sizeof(*n->key_nodes));
		if (v == NULL)
			return -ENOMEM;
		n->key_nodes = v;
	}
	n->allocated = cap;
	return 0;
}

/* Count one more node against the limit. */
static int
parser_count(struct node_parser *p, size_t n, const yaml_mark_t *mark)
{
	if (n > p->max_nodes || p->n_nodes > p->max_nodes - n)
		return parser_error_at(p, mark, NULL,
		                       "document too large: more than %zu nodes after alias "
		                       "expansion",
		                       p->max_nodes);
	p->n_nodes += n;
	return 0;
}

/*
 * A copy of `src` (an anchored subtree) placed at `path` and at nesting
 * `depth`; positions stay those of the anchored text. Node counting was
 * done by the caller with src->n_nodes.
 */
static int
node_copy(struct node_parser *p, const struct chime_node *src, char *path, size_t depth,
          const yaml_mark_t *mark, struct chime_node **ret)
{
	struct chime_node *n;
	int r;

	if (src->kind != CHIME_NODE_SCALAR && depth > p->max_depth) {
		free(path);
		return parser_error_at(p, mark, NULL, "nesting deeper than %zu levels",
		                       p->max_depth);
	}
	n = calloc(1, sizeof(*n));
	if (n == NULL) {
		free(path);
		return -ENOMEM;
	}
	n->kind = src->kind;
	n->file = src->file;
	n->line = src->line;
	n->column = src->column;
	n->path = path;
	n->quoted = src->quoted;
	n->value_column = src->value_column;
	n->n_nodes = src->n_nodes;
	if (src->scalar != NULL && (n->scalar = strdup(src->scalar)) == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < src->count; i++) {
		char *child;

		r = node_reserve(n);
		if (r < 0)
			goto fail;
		child = src->kind == CHIME_NODE_MAPPING ? path_child_key(path, src->keys[i])
		                                        : path_child_index(path, i);
		if (child == NULL) {
			r = -ENOMEM;
			goto fail;
		}
		if (src->kind == CHIME_NODE_MAPPING) {
			char *kpath = strdup(child);

			if (kpath == NULL) {
				free(child);
				r = -ENOMEM;
				goto fail;
			}
			r = node_copy(p, src->key_nodes[i], kpath, depth + 1, mark,
			              &n->key_nodes[n->count]);
			if (r < 0) {
				free(child);
				goto fail;
			}
			n->keys[n->count] = n->key_nodes[n->count]->scalar;
		}
		r = node_copy(p, src->items[i], child, depth + 1, mark, &n->items[n->count]);
		if (r < 0) {
			if (src->kind == CHIME_NODE_MAPPING)
				chime__node_free_rec(n->key_nodes[n->count]);
			goto fail;
		}
		n->count++;
	}
	*ret = n;
	return 0;
fail:
	chime__node_free_rec(n);
	return r;
}

static int
parser_add_anchor(struct node_parser *p, const yaml_char_t *name, struct chime_node *n,
                  bool complete)
{
	if (name == NULL)
		return 0;
	if (chime_grow(&p->anchors, &p->allocated_anchors, p->n_anchors + 1, sizeof(*p->anchors)) <
	    0)
		return -ENOMEM;
	p->anchors[p->n_anchors].name = strdup((const char *)name);
	if (p->anchors[p->n_anchors].name == NULL)
		return -ENOMEM;
	p->anchors[p->n_anchors].node = n;
	n->anchored = true;
	p->anchors[p->n_anchors].complete = complete;
	p->n_anchors++;
	/* The most recent definition wins (YAML allows redefining). */
	return strindex_put(&p->anchor_index, p->anchors[p->n_anchors - 1].name, p->n_anchors - 1,
	                    true);
}

static struct node_anchor *
parser_find_anchor(struct node_parser *p, const char *name)
{
	size_t i;

	return strindex_get(&p->anchor_index, name, &i) ? &p->anchors[i] : NULL;
}

/* The path the next value in the current collection gets, a new string in
 * *ret_path: "" for a mapping key (*ret_is_key), whose path is known once
 * its text is. Returns 0 or -ENOMEM. */
static int
parser_next_path(struct node_parser *p, bool *ret_is_key, char **ret_path)
{
	struct node_frame *f = p->depth > 0 ? &p->stack[p->depth - 1] : NULL;
	bool is_key = false;
	char *path;

	if (f == NULL)
		path = strdup("");
	else if (f->node->kind == CHIME_NODE_SEQUENCE)
		path = path_child_index(f->node->path, f->node->count);
	else if (f->key == NULL) {
		is_key = true;
		path = strdup(""); /* a key: its path is known once its text is */
	} else
		path = path_child_key(f->node->path, f->key->scalar);
	if (path == NULL)
		return -ENOMEM;
	*ret_is_key = is_key;
	*ret_path = path;
	return 0;
}

/* Attach a finished (or just opened) node to the current collection. */
static int
parser_attach(struct node_parser *p, struct chime_node *n)
{
	struct node_frame *f;
	struct chime_node *parent;
	int r;

	if (p->depth == 0) {
		p->root = n;
		return 0;
	}
	f = &p->stack[p->depth - 1];
	parent = f->node;
	if (parent->kind == CHIME_NODE_SEQUENCE) {
		r = node_reserve(parent);
		if (r < 0)
			return r;
		parent->items[parent->count++] = n;
		return 0;
	}
	/* Mapping, value of f->key. */
	r = node_reserve(parent);
	if (r < 0)
		return r;
	parent->key_nodes[parent->count] = f->key;
	parent->keys[parent->count] = f->key->scalar;
	parent->items[parent->count] = n;
	parent->count++;
	f->key = NULL;
	return 0;
}

/* A scalar arrived where a mapping expects a key: check and hold it. */
static int
parser_take_key(struct node_parser *p, struct chime_node *key)
{
	struct node_frame *f = &p->stack[p->depth - 1];
	struct chime_node *map = f->node;
	size_t dup = 0; /* index + 1 of the first pair with this key */

	if (key->kind != CHIME_NODE_SCALAR) {
		parser_error(p, key->line, key->column, map->path[0] != '\0' ? map->path : NULL,
		             "mapping keys must be scalars");
		chime__node_free_rec(key);
		return -EINVAL;
	}
	free(key->path);
	key->path = path_child_key(map->path, key->scalar);
	if (key->path == NULL) {
		chime__node_free_rec(key);
		return -ENOMEM;
	}
	if (map->count >= STRINDEX_MIN_KEYS && f->index.cap == 0)
		for (size_t i = 0; i < map->count; i++)
			if (strindex_put(&f->index, map->keys[i], i, false) < 0)
				goto oom;
	for (size_t i = 0; f->index.cap == 0 && dup == 0 && i < map->count; i++)
		if (strcmp(map->keys[i], key->scalar) == 0)
			dup = i + 1;
	if (f->index.cap != 0 && strindex_get(&f->index, key->scalar, &dup))
		dup++;
	if (dup != 0)
		parser_error(p, key->line, key->column, key->path,
		             "duplicate key '%s' (first defined at line %u, column %u)",
		             key->scalar, map->key_nodes[dup - 1]->line,
		             map->key_nodes[dup - 1]->column);
	else if (f->index.cap != 0 && strindex_put(&f->index, key->scalar, map->count, false) < 0)
		goto oom;
	f->key = key;
	return 0;
oom:
	chime__node_free_rec(key);
	return -ENOMEM;
}

/*
 * A finished scalar or alias: the key of the pair that follows, or a value
 * attached to its collection. Takes ownership of `n` (freed on failure).
 */
static int
parser_place(struct node_parser *p, struct chime_node *n, bool is_key)
{
	int r;

	if (is_key)
		return parser_take_key(p, n);
	r = parser_attach(p, n);
	if (r < 0)
		chime__node_free_rec(n);
	return r;
}

/* See value_column in chime/node.h: compare the value with its source text. */
static unsigned
scalar_value_column(const struct node_parser *p, const yaml_event_t *ev, const struct chime_node *n)
{
	size_t start = ev->start_mark.index, len = ev->data.scalar.length;
	yaml_scalar_style_t style = ev->data.scalar.style;
	size_t skip = 0;

	if (memchr(n->scalar, '\n', len) != NULL)
		return 0;
	if (style == YAML_SINGLE_QUOTED_SCALAR_STYLE || style == YAML_DOUBLE_QUOTED_SCALAR_STYLE)
		skip = 1;
	else if (style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	if (start + skip + len > p->len || memcmp(p->text + start + skip, n->scalar, len) != 0)
		return 0;
	if (skip == 1 && (start + 1 + len >= p->len || p->text[start + 1 + len] != p->text[start]))
		return 0;
	return n->column + (unsigned)skip;
}

static int
parser_scalar(struct node_parser *p, const yaml_event_t *ev)
{
	const char *tag = (const char *)ev->data.scalar.tag;
	struct chime_node *n;
	bool is_key;
	char *path;
	int r;

	r = parser_count(p, 1, &ev->start_mark);
	if (r < 0)
		return r;
	if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length) != NULL)
		return parser_error_at(p, &ev->start_mark, NULL, "NUL character in a scalar");
	r = parser_next_path(p, &is_key, &path);
	if (r < 0)
		return r;
	n = node_new(p, CHIME_NODE_SCALAR, path, &ev->start_mark);
	if (n == NULL)
		return -ENOMEM;
	n->scalar = strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
	if (n->scalar == NULL) {
		chime__node_free_rec(n);
		return -ENOMEM;
	}
	n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
	            (tag != NULL && strcmp(tag, YAML_STR_TAG) == 0);
	n->value_column = scalar_value_column(p, ev, n);
	r = parser_add_anchor(p, ev->data.scalar.anchor, n, true);
	if (r < 0) {
		chime__node_free_rec(n);
		return r;
	}
	return parser_place(p, n, is_key);
}

static int
parser_alias(struct node_parser *p, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	struct node_anchor *a = parser_find_anchor(p, name);
	struct chime_node *n;
	bool is_key;
	char *path;
	int r;

	if (a == NULL)
		return parser_error_at(p, &ev->start_mark, NULL, "unknown alias '%s'", name);
	if (!a->complete)
		return parser_error_at(p, &ev->start_mark, NULL,
		                       "alias '%s' refers to a node that contains it", name);
	r = parser_count(p, a->node->n_nodes, &ev->start_mark);
	if (r < 0)
		return r;
	r = parser_next_path(p, &is_key, &path);
	if (r < 0)
		return r;
	r = node_copy(p, a->node, path, p->depth + 1, &ev->start_mark, &n);
	if (r < 0)
		return r;
	/* The copy stands where the alias is written. */
	n->line = (unsigned)ev->start_mark.line + 1;
	n->column = (unsigned)ev->start_mark.column + 1;
	n->value_column = 0;
	return parser_place(p, n, is_key);
}

static int
parser_start(struct node_parser *p, const yaml_event_t *ev, enum chime_node_kind kind)
{
	const yaml_char_t *anchor = kind == CHIME_NODE_MAPPING ? ev->data.mapping_start.anchor
	                                                       : ev->data.sequence_start.anchor;
	struct chime_node *n;
	bool is_key;
	char *path;
	int r;

	r = parser_count(p, 1, &ev->start_mark);
	if (r < 0)
		return r;
	if (p->depth >= p->max_depth)
		return parser_error_at(p, &ev->start_mark, NULL, "nesting deeper than %zu levels",
		                       p->max_depth);
	r = parser_next_path(p, &is_key, &path);
	if (r < 0)
		return r;
	if (is_key) {
		struct chime_node *map = p->stack[p->depth - 1].node;

		free(path);
		return parser_error_at(p, &ev->start_mark, map->path[0] != '\0' ? map->path : NULL,
		                       "mapping keys must be scalars");
	}
	n = node_new(p, kind, path, &ev->start_mark);
	if (n == NULL)
		return -ENOMEM;
	r = parser_add_anchor(p, anchor, n, false);
	if (r < 0) {
		chime__node_free_rec(n);
		return r;
	}
	r = parser_attach(p, n);
	if (r < 0) {
		chime__node_free_rec(n);
		return r;
	}
	p->stack[p->depth++] = (struct node_frame){
	        .node = n,
	        .anchor = anchor != NULL ? p->n_anchors : 0,
	};
	return 0;
}

static int
parser_end(struct node_parser *p)
{
	struct node_frame *f = &p->stack[--p->depth];
	struct chime_node *n = f->node;
	int r = 0;

	strindex_done(&f->index);
	if (n->kind == CHIME_NODE_MAPPING)
		r = chime__node_merge(n, p->diags, &p->errors, &p->trash);
	for (size_t i = 0; i < n->count; i++) {
		n->n_nodes += n->items[i]->n_nodes;
		if (n->key_nodes != NULL)
			n->n_nodes += n->key_nodes[i]->n_nodes;
	}
	if (f->anchor != 0)
		p->anchors[f->anchor - 1].complete = true;
	return r;
}

/* Line and column (1-based) of byte `offset` of the text, for reader errors. */
static void
text_position(const char *text, size_t len, size_t offset, unsigned *ret_line, unsigned *ret_column)
{
	unsigned line = 1, column = 1;

	for (size_t i = 0; i < offset && i < len; i++) {
		if (text[i] == '\n') {
			line++;
			column = 1;
		} else if (((unsigned char)text[i] & 0xc0) != 0x80) {
			column++;
		}
	}
	*ret_line = line;
	*ret_column = column;
}

/*
 * An unquoted value that starts with '*' or '&' (a schedule such as
 * "* * * * *" or "*" "/5 * * * *") is read by YAML as an alias or an
 * anchor, and libyaml says only that it found no name. Say what happened, and show the line quoted.
 */
static int
parser_alias_error(struct node_parser *p, const yaml_parser_t *yp, unsigned line, unsigned column)
{
	size_t start = yp->context_mark.index, end = start;

	while (end < p->len && p->text[end] != '\n' && p->text[end] != '#')
		end++;
	while (end > start && (p->text[end - 1] == ' ' || p->text[end - 1] == '\r'))
		end--;
	if (start >= p->len || end - start > 200)
		return parser_error(p, line, column, NULL,
		                    "%s %s: a value starting with '*' or '&' must be quoted",
		                    yp->problem, yp->context);
	return parser_error(
	        p, (unsigned)yp->context_mark.line + 1, (unsigned)yp->context_mark.column + 1, NULL,
	        "a value starting with '%c' is a YAML %s here: quote it: \"%.*s\"", p->text[start],
	        p->text[start] == '&' ? "anchor" : "alias", (int)(end - start), p->text + start);
}

/*
 * libyaml notices some mistakes only lines later, where the structure
 * breaks: an unclosed '{' or '[', or a quote left open, which swallows the
 * following lines. Point at the line that caused it, and say where libyaml
 * noticed. Returns true when it reported the error.
 */
static bool
parser_late_error(struct node_parser *p, const yaml_parser_t *yp)
{
	size_t pos = yp->context_mark.index, end = yp->problem_mark.index;
	unsigned line = (unsigned)yp->context_mark.line + 1, col;

	if (strstr(yp->context, "flow mapping") != NULL ||
	    strstr(yp->context, "flow sequence") != NULL) {
		char open = pos < p->len ? p->text[pos] : '?';

		parser_error(p, line, (unsigned)yp->context_mark.column + 1, NULL,
		             "this '%c' is not closed (YAML noticed at line %u, column %u: %s)",
		             open, (unsigned)yp->problem_mark.line + 1,
		             (unsigned)yp->problem_mark.column + 1, yp->problem);
		return true;
	}
	/* A line between the two marks with a quote it does not close, from
	 * the start of the context's line. */
	while (pos > 0 && pos <= p->len && p->text[pos - 1] != '\n')
		pos--;
	for (size_t start = pos; start < end && start < p->len; start++, line++) {
		char quote = 0;
		size_t at = 0;

		for (pos = start; pos < p->len && p->text[pos] != '\n'; pos++) {
			char c = p->text[pos];

			if (quote == 0 && c == '#' && (pos == start || p->text[pos - 1] == ' '))
				break;
			if (quote == 0 && (c == '"' || c == '\'')) {
				quote = c;
				at = pos;
			} else if (quote == '"' && c == '\\' && pos + 1 < p->len) {
				pos++;
			} else if (c == quote) {
				quote = 0;
			}
		}
		if (quote != 0) {
			col = (unsigned)(at - start) + 1;
			parser_error(
			        p, line, col, NULL,
			        "this %s quote is not closed on its line, so YAML read on (and "
			        "noticed at line %u, column %u: %s)",
			        quote == '"' ? "double" : "single",
			        (unsigned)yp->problem_mark.line + 1,
			        (unsigned)yp->problem_mark.column + 1, yp->problem);
			return true;
		}
		start = pos;
	}
	return false;
}

static int
parser_yaml_error(struct node_parser *p, const yaml_parser_t *yp)
{
	const char *problem = yp->problem != NULL ? yp->problem : "unknown YAML error";
	unsigned line, column;

	switch (yp->error) {
	case YAML_MEMORY_ERROR:
		return -ENOMEM;
	case YAML_READER_ERROR:
		text_position(p->text, p->len, yp->problem_offset, &line, &column);
		if (yp->problem_value != -1)
			return parser_error(p, line, column, NULL,
			                    "invalid UTF-8: %s (byte 0x%02x)", problem,
			                    (unsigned)yp->problem_value & 0xffu);
		return parser_error(p, line, column, NULL, "invalid UTF-8: %s", problem);
	default:
		break;
	}
	line = (unsigned)yp->problem_mark.line + 1;
	column = (unsigned)yp->problem_mark.column + 1;
	if (yp->context != NULL &&
	    (strstr(yp->context, "alias") != NULL || strstr(yp->context, "anchor") != NULL))
		return parser_alias_error(p, yp, line, column);
	if (yp->context != NULL && yp->context_mark.line < yp->problem_mark.line &&
	    parser_late_error(p, yp))
		return -EINVAL;
	if (yp->problem_mark.index < p->len && p->text[yp->problem_mark.index] == '\t' &&
	    strstr(problem, "tab") == NULL)
		return parser_error(p, line, column, NULL,
		                    "%s%s%s (a tab character: YAML indents with spaces only)",
		                    problem, yp->context != NULL ? " " : "",
		                    yp->context != NULL ? yp->context : "");
	if (yp->context != NULL && (yp->context_mark.line != yp->problem_mark.line ||
	                            yp->context_mark.column != yp->problem_mark.column))
		return parser_error(p, line, column, NULL, "%s %s started at line %u, column %u",
		                    problem, yp->context, (unsigned)yp->context_mark.line + 1,
		                    (unsigned)yp->context_mark.column + 1);
	return parser_error(p, line, column, NULL, "%s%s%s", problem,
	                    yp->context != NULL ? " " : "", yp->context != NULL ? yp->context : "");
}

static int
parser_event(struct node_parser *p, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++p->documents > 1)
			return parser_error_at(p, &ev->start_mark, NULL,
			                       "only one YAML document is allowed");
		return 0;
	case YAML_SCALAR_EVENT:
		return parser_scalar(p, ev);
	case YAML_ALIAS_EVENT:
		return parser_alias(p, ev);
	case YAML_SEQUENCE_START_EVENT:
		return parser_start(p, ev, CHIME_NODE_SEQUENCE);
	case YAML_MAPPING_START_EVENT:
		return parser_start(p, ev, CHIME_NODE_MAPPING);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return parser_end(p);
	default:
		return 0;
	}
}

static void
parser_done(struct node_parser *p)
{
	/* Open collections are reachable from the root: free it only. */
	chime__node_free_rec(p->root);
	for (size_t i = 0; i < p->trash.count; i++)
		chime__node_free_rec(p->trash.items[i]);
	free(p->trash.items);
	for (size_t i = 0; i < p->depth; i++) {
		if (p->stack[i].key != NULL)
			chime__node_free_rec(p->stack[i].key);
		strindex_done(&p->stack[i].index);
	}
	strindex_done(&p->anchor_index);
	for (size_t i = 0; i < p->n_anchors; i++)
		free(p->anchors[i].name);
	free(p->anchors);
	free(p->stack);
}

static void
limits_resolve(const struct chime_node_limits *in, struct chime_node_limits *out)
{
	*out = (struct chime_node_limits){
	        .max_depth = CHIME_NODE_DEFAULT_MAX_DEPTH,
	        .max_nodes = CHIME_NODE_DEFAULT_MAX_NODES,
	        .max_file_size = CHIME_NODE_DEFAULT_MAX_FILE_SIZE,
	};
	if (in == NULL)
		return;
	if (in->max_depth != 0)
		out->max_depth = in->max_depth;
	if (in->max_nodes != 0)
		out->max_nodes = in->max_nodes;
	if (in->max_file_size != 0)
		out->max_file_size = in->max_file_size;
}

int
chime_node_parse_string(const char *name, const char *text, size_t len,
                        const struct chime_node_limits *limits, struct chime_diag_list *diags,
                        struct chime_node **ret_root)
{
	struct chime_node_limits lim;
	struct node_parser p = {0};
	yaml_parser_t yp;
	char *file;
	bool done = false;
	int r;

	limits_resolve(limits, &lim);
	file = strdup(name != NULL ? name : "<string>");
	if (file == NULL)
		return -ENOMEM;
	p.file = file;
	p.text = text;
	p.len = len;
	p.max_depth = lim.max_depth;
	p.max_nodes = lim.max_nodes;
	p.diags = diags;

	if (len > lim.max_file_size) {
		chime_diag_add(diags, CHIME_DIAG_ERROR, file, 0, 0, NULL,
		               "file too large: %zu bytes, the limit is %zu", len,
		               lim.max_file_size);
		free(file);
		return -EFBIG;
	}
	p.stack = calloc(lim.max_depth, sizeof(*p.stack));
	if (p.stack == NULL) {
		free(file);
		return -ENOMEM;
	}
	if (yaml_parser_initialize(&yp) == 0) {
		free(p.stack);
		free(file);
		return -ENOMEM;
	}
	yaml_parser_set_encoding(&yp, YAML_UTF8_ENCODING);
	yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);

	r = 0;
	while (!done) {
		yaml_event_t ev;

		if (yaml_parser_parse(&yp, &ev) == 0) {
			r = parser_yaml_error(&p, &yp);
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		r = parser_event(&p, &ev);
		yaml_event_delete(&ev);
		if (r < 0)
			break;
	}
	yaml_parser_delete(&yp);
	if (r == 0 && p.errors > 0)
		r = -EINVAL;
	if (r == 0 && (p.root == NULL || chime_node_is_null(p.root))) {
		/* An empty file (or a lone "---") is an empty mapping. */
		yaml_mark_t start = {0};
		struct chime_node *empty;

		empty = node_new(&p, CHIME_NODE_MAPPING, strdup(""), &start);
		if (empty == NULL || empty->path == NULL) {
			chime__node_free_rec(empty);
			r = -ENOMEM;
		} else {
			chime__node_free_rec(p.root);
			p.root = empty;
		}
	}
	if (r < 0) {
		parser_done(&p);
		free(file);
		return r;
	}
	r = chime__node_compact(&p.root);
	if (r < 0) {
		parser_done(&p);
		free(file);
		return r;
	}
	*ret_root = p.root;
	p.root = NULL;
	parser_done(&p);
	return 0;
}

int
chime_node_load_file(const char *path, const struct chime_node_limits *limits,
                     struct chime_diag_list *diags, struct chime_node **ret_root)
{
	struct chime_node_limits lim;
	struct stat st;
	char *buf = NULL;
	size_t len = 0, cap;
	int fd, r;

	limits_resolve(limits, &lim);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		chime_diag_add(diags, CHIME_DIAG_ERROR, path, 0, 0, NULL, "cannot open file: %s",
		               strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		chime_diag_add(diags, CHIME_DIAG_ERROR, path, 0, 0, NULL, "cannot stat file: %s",
		               strerror(-r));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		r = -EISDIR;
		chime_diag_add(diags, CHIME_DIAG_ERROR, path, 0, 0, NULL,
		               "is a directory, not a file");
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		/* A FIFO or a device would block or never end: chimed reads
		 * the file again at every reload. */
		r = -EINVAL;
		chime_diag_add(diags, CHIME_DIAG_ERROR, path, 0, 0, NULL, "not a regular file");
		goto out;
	}
	if ((uintmax_t)st.st_size > lim.max_file_size) {
		r = -EFBIG;
		chime_diag_add(diags, CHIME_DIAG_ERROR, path, 0, 0, NULL,
		               "file too large: %jd bytes, the limit is %zu", (intmax_t)st.st_size,
		               lim.max_file_size);
		goto out;
	}
	/* Read at most one byte past the limit, whatever fstat said. */
	cap = (size_t)st.st_size + 1;
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *nb;

			if (cap > lim.max_file_size) {
				r = -EFBIG;
				chime_diag_add(diags, CHIME_DIAG_ERROR, path, 0, 0, NULL,
				               "file too large: more than %zu bytes",
				               lim.max_file_size);
				goto out;
			}
			cap = cap * 2 > lim.max_file_size + 1 ? lim.max_file_size + 1 : cap * 2;
			nb = realloc(buf, cap);
			if (nb == NULL) {
				r = -ENOMEM;
				goto out;
			}
			buf = nb;
		} else if (buf == NULL && (buf = malloc(cap)) == NULL) {
			r = -ENOMEM;
			goto out;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			chime_diag_add(diags, CHIME_DIAG_ERROR, path, 0, 0, NULL,
			               "cannot read file: %s", strerror(-r));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > lim.max_file_size) {
		r = -EFBIG;
		chime_diag_add(diags, CHIME_DIAG_ERROR, path, 0, 0, NULL,
		               "file too large: more than %zu bytes", lim.max_file_size);
		goto out;
	}
	r = chime_node_parse_string(path, buf != NULL ? buf : "", len, &lim, diags, ret_root);
out:
	free(buf);
	(void)close(fd);
	return r;
}
