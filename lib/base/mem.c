/* SPDX-License-Identifier: MIT */
/*
 * Allocation helpers (mem.h). chime__free_many() is the body of the
 * chime_free_many() macro, linked into the plugin kit as well
 * (lib/plugins/kit/freemany.h).
 */
#include "mem.h"

#include <stdio.h>
#include <stdlib.h>

void
chime__free_many(void *ptrs[], size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ptrs[i]);
}

char *
chime_vformat(const char *fmt, va_list ap)
{
	char *text;

	/* On failure vasprintf() leaves `text` undefined, so it is not returned. */
	if (vasprintf(&text, fmt, ap) < 0)
		return NULL;
	return text;
}
