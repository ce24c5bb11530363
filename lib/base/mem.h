/* SPDX-License-Identifier: MIT */
/*
 * Freeing several plain pointers at once, for destructors (systemd's
 * free_many()): `chime_free_many(job->name, job->plugin, job->schedule);`
 * says in one line what a column of free() calls says in ten. Pure; never
 * logs. Plugins get the same macro from the kit (lib/plugins/kit/freemany.h).
 */
#ifndef CHIME_MEM_H
#define CHIME_MEM_H

#include <stddef.h>

#include "macro.h"

/* free() each of the `n` pointers of `ptrs`; NULL ones are skipped, as free() does. */
void chime__free_many(void *ptrs[], size_t n);

/*
 * chime_free_many(a, b, ...): free() every argument. They are not set to
 * NULL: use it where the object holding them is freed next.
 */
#ifndef chime_free_many
#define chime_free_many(...)                                                                       \
	chime__free_many((void *[]){__VA_ARGS__}, CHIME_ELEMENTSOF(((void *[]){__VA_ARGS__})))
#endif

#endif
