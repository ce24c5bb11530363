/* SPDX-License-Identifier: MIT */
/*
 * chime_free_many(a, b, ...) for plugins and the kit: free() every
 * argument, for destructors of plugin state. A plugin cannot include the
 * base layer's headers, so this repeats the declaration of lib/base/mem.h;
 * the function itself is base's, linked into the kit. Pure; never logs.
 */
#ifndef CHIME_KIT_FREEMANY_H
#define CHIME_KIT_FREEMANY_H

#include <stddef.h>

/* free() each of the `n` pointers of `ptrs` (lib/base/mem.c). */
void chime__free_many(void *ptrs[], size_t n);

#ifndef chime_free_many
#define chime_free_many(...)                                                                       \
	chime__free_many((void *[]){__VA_ARGS__}, sizeof((void *[]){__VA_ARGS__}) / sizeof(void *))
#endif

#endif
