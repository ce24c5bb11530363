/* SPDX-License-Identifier: MIT */
/*
 * A descriptor too short to hold even ABI 1's functions: refused.
 */
#include "chime/plugin.h"

static const struct chime_plugin tiny = {
        .abi_version = CHIME_PLUGIN_ABI_VERSION,
        .struct_size = 16,
        .name = "tiny",
};

CHIME_EXPORT const struct chime_plugin *
chime_plugin_entry(void)
{
	return &tiny;
}
