/* SPDX-License-Identifier: MIT */
/*
 * chime__free_many(): the body of the chime_free_many() macro (mem.h),
 * linked into the plugin kit as well (lib/plugins/kit/freemany.h).
 */
#include <stdlib.h>

#include "mem.h"

void
chime__free_many(void *ptrs[], size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ptrs[i]);
}
