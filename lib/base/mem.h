/* SPDX-License-Identifier: MIT */
/*
 * Allocation helpers. Freeing several plain pointers at once, for
 * destructors (systemd's free_many()): `chime_free_many(job->name,
 * job->plugin, job->schedule);` says in one line what a column of free()
 * calls says in ten; plugins get the same macro from the kit
 * (lib/plugins/kit/freemany.h). And a formatted string on the heap. Pure;
 * never logs.
 */
#ifndef CHIME_MEM_H
#define CHIME_MEM_H

#include <stdarg.h>
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

/* vasprintf() that returns the new string (free() it), or NULL when out of memory. */
char *chime_vformat(const char *fmt, va_list ap) CHIME_PRINTF(1, 0);

#endif
