/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the config loader: the bytes go through the YAML node
 * parser and the whole config walk (keys, durations, zones, schedules,
 * ${VAR} expansion), then the tree accessors plugins use are run over
 * every node of a successfully parsed tree. Any crash, leak (under ASan)
 * or a failure without an error diagnostic is a bug.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "diag.h"
#include "node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Call every getter on every mapping, as a plugin's configure() might. */
static void
fuzz_walk(const struct chime_node *n, struct chime_diag_list *diags, unsigned depth)
{
	static const char *const known[] = {"table", "key", "timeout", NULL};
	const char *s;
	int64_t i;
	bool b;

	if (n == NULL || depth > 100)
		abort(); /* the parser bounds the depth */
	if (chime_node_kind(n) == CHIME_NODE_MAPPING) {
		for (size_t k = 0; k < chime_node_count(n); k++) {
			const char *key = chime_node_key_at(n, k);

			(void)chime_node_get_string(n, key, NULL, diags, &s);
			(void)chime_node_get_int(n, key, -5, 5, 0, diags, &i);
			(void)chime_node_get_bool(n, key, false, diags, &b);
			(void)chime_node_get_duration(n, key, 0, diags, &i);
			(void)chime_node_get_identifier(n, key, NULL, diags, &s);
			if (chime_node_get(n, key) != chime_node_at(n, k) &&
			    chime_node_get(n, key) == NULL)
				abort();
		}
		(void)chime_node_check_keys(n, known, diags);
	}
	for (size_t k = 0; k < chime_node_count(n); k++)
		fuzz_walk(chime_node_at(n, k), diags, depth + 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct chime_node_limits limits = {.max_nodes = 20000};
	struct chime_diag_list diags;
	struct chime_config *cfg = NULL;
	struct chime_node *root = NULL;
	int r;

	chime_diag_list_init(&diags);
	/* A directory that does not exist: relative includes match nothing. */
	r = chime_config_parse_string("/nonexistent/fuzz.yaml", (const char *)data, size, NULL,
	                              &diags, &cfg);
	if ((r < 0) != (diags.errors > 0) && r != -ENOMEM)
		abort();
	if (r == 0) {
		for (size_t j = 0; j < cfg->n_jobs; j++)
			if (cfg->jobs[j]->expr == NULL || cfg->jobs[j]->tz == NULL ||
			    chime_config_find_job(cfg, cfg->jobs[j]->name) != cfg->jobs[j])
				abort();
	}
	chime_config_unref(cfg);
	chime_diag_list_done(&diags);

	chime_diag_list_init(&diags);
	if (chime_node_parse_string("fuzz.yaml", (const char *)data, size, &limits, &diags,
	                            &root) == 0)
		fuzz_walk(root, &diags, 0);
	chime_node_free(root);
	chime_diag_list_done(&diags);
	return 0;
}
