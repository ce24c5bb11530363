/* SPDX-License-Identifier: MIT */
/*
 * A plugin built for a future ABI: the host must refuse it by its
 * abi_version alone and unload it.
 */
#include "chime/plugin.h"

static int
bad_run(void *state, struct chime_run *run)
{
	return 0;
}

static const struct chime_plugin bad = {
        .abi_version = 7,
        .struct_size = sizeof(struct chime_plugin),
        .name = "bad",
        .run = bad_run,
};

CHIME_EXPORT const struct chime_plugin *
chime_plugin_entry(void)
{
	return &bad;
}
