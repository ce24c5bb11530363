/* SPDX-License-Identifier: MIT */
/*
 * Private to the node module (node.c, node-compact.c, node-merge.c): the
 * compaction of a finished tree into one allocation, merge keys. Pure.
 */
#ifndef CHIME_NODE_INTERNAL_H
#define CHIME_NODE_INTERNAL_H

#include "node.h"

/*
 * Copy the finished tree *root (built by node.c, one allocation per node,
 * string and array) into one block holding the nodes, the arrays sized to
 * their counts, the strings and the file name, and free the original. The
 * copy reads the same through every field; chime_node_free() frees it.
 * On -ENOMEM *root is left as it was. Never logs.
 */
int chime__node_compact(struct chime_node **root);

/* Free a node built by node.c and its subtree (not a compacted tree);
 * NULL-safe, and NULL children are skipped. */
void chime__node_free_rec(struct chime_node *n);

/*
 * Resolve the merge keys (<<) of the finished mapping `map` in place (see
 * node-merge.c): the merged pairs join it where the merge key was, with
 * their paths rewritten and merge_line/merge_column set; explicit keys
 * override merged ones, earlier mappings of a list later ones. A merge
 * value that is not a mapping or a list of them is a diagnostic, counted
 * in *ret_errors, and contributes nothing; so is an anchor on a merge
 * value (or on a mapping of its list), which the merge would empty, and
 * the mapping is then left as written. The merge keys and values taken
 * out go to the items of `trash` (an anchor may name a node in them), or
 * are freed when that cannot grow. Returns 0 or -ENOMEM (the mapping
 * then still holds every node, to be freed with the tree).
 */
int chime__node_merge(struct chime_node *map, struct chime_diag_list *diags, size_t *ret_errors,
                      struct chime_node *trash);

#endif
