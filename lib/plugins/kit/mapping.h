/* SPDX-License-Identifier: MIT */
/*
 * The table and column mapping of a plugin's options: each table or
 * column the plugin's SQL uses is an option ("users_table: users",
 * "users_id: id") with the reference schema's name as its default, and the
 * option's key is also the placeholder its templates use ({users_id},
 * sqltext.h). payouts and email_sync read their mapping with these; a
 * third-party plugin may too. Never log: problems are diagnostics.
 */
#ifndef CHIME_KIT_MAPPING_H
#define CHIME_KIT_MAPPING_H

#include <stdbool.h>
#include <stddef.h>

#include "chime/plugin.h"

/* One mapped name. Strings are borrowed (static tables). */
struct chime_kit_name_option {
	const char *key; /* the option, and the template placeholder */
	const char *def; /* the default identifier */
	bool optional;   /* "", "~" or "null" turns the column off (NULL) */
};

/*
 * Report every key of `options` (may be NULL) that is neither one of the
 * `n_settings` keys in `settings` nor a key of `names`. Returns 0,
 * -EINVAL after diagnostics, or -ENOMEM.
 */
int chime_kit_mapping_check_keys(const struct chime_node *options, const char *const *settings,
                                 size_t n_settings, const struct chime_kit_name_option *names,
                                 size_t n_names, struct chime_diag_list *diags);

/*
 * Read each of the `n` names into ret_values[i] (borrowed from `options`,
 * or the default; NULL for an optional one turned off), checked as an SQL
 * identifier by chime_node_get_identifier(). Returns 0, or -EINVAL after a
 * diagnostic for each bad one.
 */
int chime_kit_mapping_read(const struct chime_node *options,
                           const struct chime_kit_name_option *names, size_t n,
                           struct chime_diag_list *diags, const char **ret_values);

#endif
