/* SPDX-License-Identifier: MIT */
/* The table and column mapping of a plugin's options (mapping.h). */
#include "mapping.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int
chime_kit_mapping_check_keys(const struct chime_node *options, const char *const *settings,
                             size_t n_settings, const struct chime_kit_name_option *names,
                             size_t n_names, struct chime_diag_list *diags)
{
	const char **known;
	int r = 0;

	if (options == NULL)
		return 0;
	known = calloc(n_settings + n_names + 1, sizeof(*known));
	if (known == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n_settings; i++)
		known[i] = settings[i];
	for (size_t i = 0; i < n_names; i++)
		known[n_settings + i] = names[i].key;
	if (chime_node_check_keys(options, known, diags) < 0)
		r = -EINVAL;
	free(known);
	return r;
}

/* "", "~" or "null": an optional column turned off. */
static bool
mapping_off(const struct chime_node *node)
{
	const char *s = node != NULL ? chime_node_scalar(node) : NULL;

	return s != NULL && (s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0);
}

int
chime_kit_mapping_read(const struct chime_node *options, const struct chime_kit_name_option *names,
                       size_t n, struct chime_diag_list *diags, const char **ret_values)
{
	int r = 0;

	for (size_t i = 0; i < n; i++) {
		const struct chime_node *node =
		        options != NULL ? chime_node_get(options, names[i].key) : NULL;

		if (names[i].optional && mapping_off(node)) {
			ret_values[i] = NULL;
			continue;
		}
		if (chime_node_get_identifier(options, names[i].key, names[i].def, diags,
		                              &ret_values[i]) < 0)
			r = -EINVAL;
	}
	return r;
}
