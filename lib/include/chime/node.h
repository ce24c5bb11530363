/* SPDX-License-Identifier: MIT */
/*
 * The YAML document as a tree of nodes with their source positions, built
 * by the config loader (libyaml events -> nodes, aliases resolved with a
 * bound) and read by the loader and by plugins through the accessors in
 * chime/plugin.h. A tree is immutable once built and freed as a whole.
 */
#ifndef CHIME_NODE_H
#define CHIME_NODE_H

#include <stddef.h>

#include "chime/plugin.h"

struct chime_node {
	enum chime_node_kind kind;
	const char *file; /* shared, owned by the tree's root */
	unsigned line, column;
	char *path;   /* "jobs.x.options.table" */
	char *scalar; /* CHIME_NODE_SCALAR */
	bool quoted;  /* scalar was quoted ('...' or "..."): never a null/bool/number */
	struct chime_node **items; /* sequence items, or mapping values */
	char **keys;               /* mapping keys (NULL for sequences) */
	struct chime_node **key_nodes; /* mapping key nodes, for key positions */
	size_t count;
};

struct chime_node_limits {
	size_t max_depth;      /* nesting depth; default 64 */
	size_t max_nodes;      /* nodes after alias expansion; default 200000 */
	size_t max_file_size;  /* bytes; default 4 MiB */
};

/*
 * Parse the YAML file at `path` into a tree (one document). Returns 0 and
 * the root in *ret_root, or a negative errno after adding diagnostics
 * (syntax errors with libyaml's position, limits exceeded). Never logs.
 */
int chime_node_load_file(const char *path, const struct chime_node_limits *limits,
			 struct chime_diag_list *diags, struct chime_node **ret_root);
int chime_node_parse_string(const char *name, const char *text, size_t len,
			    const struct chime_node_limits *limits, struct chime_diag_list *diags,
			    struct chime_node **ret_root);
/* Free a tree returned by the functions above; NULL-safe, returns NULL. */
struct chime_node *chime_node_free(struct chime_node *root);

#endif
