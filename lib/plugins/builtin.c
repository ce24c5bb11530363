/* SPDX-License-Identifier: MIT */
/* The table of built-in plugins (builtin.h). */
#include "builtin.h"

#include <string.h>

/* clang-format off */
const struct chime_plugin *const chime_plugins_builtin[] = {
	&chime_plugin_noop,
	&chime_plugin_sql,
	&chime_plugin_exec,
	&chime_plugin_payouts,
	&chime_plugin_expiration,
	&chime_plugin_activation,
	&chime_plugin_billing,
	&chime_plugin_email_sync,
};
/* clang-format on */

const size_t chime_plugins_builtin_count =
        sizeof(chime_plugins_builtin) / sizeof(chime_plugins_builtin[0]);

const struct chime_plugin *
chime_plugins_find(const char *name)
{
	for (size_t i = 0; i < chime_plugins_builtin_count; i++)
		if (strcmp(chime_plugins_builtin[i]->name, name) == 0)
			return chime_plugins_builtin[i];
	return NULL;
}
