/* SPDX-License-Identifier: MIT */
/*
 * Private to the node module (node.c, node-compact.c): the compaction of
 * a finished tree into one allocation. Pure.
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

#endif
