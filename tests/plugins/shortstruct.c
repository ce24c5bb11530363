/* SPDX-License-Identifier: MIT */
/*
 * A plugin whose descriptor ends before `idempotent` (as one built before
 * that field existed would). The bytes after struct_size say true; the
 * host must read only struct_size bytes and see false.
 */
#include <stddef.h>

#include "chime/plugin.h"

static int
short_run(void *state, struct chime_run *run)
{
	return 0;
}

static const struct chime_plugin shortdesc = {
        .abi_version = CHIME_PLUGIN_ABI_VERSION,
        .struct_size = offsetof(struct chime_plugin, idempotent),
        .name = "short",
        .run = short_run,
        .idempotent = true,
};

CHIME_EXPORT const struct chime_plugin *
chime_plugin_entry(void)
{
	return &shortdesc;
}
