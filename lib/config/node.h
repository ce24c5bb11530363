/* SPDX-License-Identifier: MIT */
/*
 * The YAML document as a tree of nodes with their source positions, built
 * by the config loader (libyaml events -> nodes, aliases resolved with a
 * bound) and read by the loader and by plugins through the accessors in
 * chime/plugin.h. A tree is immutable once built and freed as a whole; a
 * finished tree is held in one allocation (nodes, arrays and strings).
 *
 * Hostile input is bounded: the file size, the nesting depth and the node
 * count after alias expansion have limits, checked while parsing, so a
 * "billion laughs" file fails after at most max_nodes nodes were built.
 * Pure: never logs, touches no globals.
 */
#ifndef CHIME_NODE_H
#define CHIME_NODE_H

#include <stdbool.h>
#include <stddef.h>

#include "chime/plugin.h"

#include "diag.h"

struct chime_node {
	enum chime_node_kind kind;
	unsigned line, column;             /* 1-based; where the value's text starts */
	unsigned merge_line, merge_column; /* where a merge key (<<) brought this node in
	                                    * (its text is elsewhere: the anchor), or 0 */
	unsigned value_column; /* column of the scalar's first character when it is written on
	                        * one line without escapes (so a column inside the value maps
	                        * onto the file), else 0 */
	bool quoted;           /* scalar was not plain ('...', "...", | or >, or !!str):
	                        * never a null/bool/number */
	bool arena;            /* internal: the root of a tree held in one allocation */
	bool anchored;         /* internal, while parsing: an anchor names this node */
	const char *file;      /* shared, owned by the tree's root */
	char *path;   /* "jobs.x.options.table", "jobs.x.options.command[0]"; "" for the root */
	char *scalar; /* CHIME_NODE_SCALAR */
	struct chime_node **items; /* sequence items, or mapping values */
	char **keys;               /* mapping keys (NULL for sequences); borrowed from key_nodes */
	struct chime_node **key_nodes; /* mapping key nodes, for key positions */
	size_t count;
	size_t allocated; /* internal: capacity of items/keys/key_nodes */
	size_t n_nodes;   /* internal: nodes in this subtree, itself and keys included */
};

struct chime_node_limits {
	size_t max_depth;     /* nesting depth; default 64 */
	size_t max_nodes;     /* nodes after alias expansion; default 200000 */
	size_t max_file_size; /* bytes; default 4 MiB */
};

#define CHIME_NODE_DEFAULT_MAX_DEPTH     64
#define CHIME_NODE_DEFAULT_MAX_NODES     200000
#define CHIME_NODE_DEFAULT_MAX_FILE_SIZE (4u * 1024u * 1024u)

/*
 * Parse the YAML file at `path` into a tree (one document). `limits` may
 * be NULL, and zero fields mean the defaults. An empty file is an empty
 * mapping. Returns 0 and the root in *ret_root (the caller frees it with
 * chime_node_free()), or a negative errno after adding diagnostics: the
 * file cannot be opened, is a directory or not a regular file (one
 * diagnostic naming the file), syntax errors with libyaml's position, invalid UTF-8, duplicate
 * keys, merge key values that are not mappings, limits exceeded. Merge keys
 * (`<<: *a`, `<<: [*a, *b]`) are resolved: see chime__node_merge(). Never
 * logs.
 */
int chime_node_load_file(const char *path, const struct chime_node_limits *limits,
                         struct chime_diag_list *diags, struct chime_node **ret_root);
/* The same for `len` bytes of `text`; `name` is the file name used in
 * positions (copied). */
int chime_node_parse_string(const char *name, const char *text, size_t len,
                            const struct chime_node_limits *limits, struct chime_diag_list *diags,
                            struct chime_node **ret_root);
/* Free a tree returned by the functions above; NULL-safe, returns NULL. */
struct chime_node *chime_node_free(struct chime_node *root);

/* True for a plain scalar that YAML reads as null: "", "~", "null". */
bool chime_node_is_null(const struct chime_node *node);
/* The key node of the i-th pair of a mapping (for its position), or NULL. */
const struct chime_node *chime_node_key_node_at(const struct chime_node *node, size_t i);
/* The name of a node kind for messages: "a string", "a list", "a mapping". */
const char *chime_node_kind_name(const struct chime_node *node);

#endif
