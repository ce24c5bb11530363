/* SPDX-License-Identifier: MIT */
/*
 * Growable arrays: the one "double it when full" that every list of
 * diagnostics, zones, jobs and anchors uses. Pure; never logs.
 */
#ifndef CHIME_ARRAY_H
#define CHIME_ARRAY_H

#include <stddef.h>

/*
 * Make room for at least `need` elements of `elem_size` bytes in the array
 * `*arrayp` points to (a `struct x **`, or any pointer-to-pointer), which
 * has room for *allocated of them now: the allocation doubles (8 elements
 * at first), so n appends cost O(n). Returns 0, with *arrayp and
 * *allocated updated when it moved; -ENOMEM leaves both untouched (the old
 * array stays valid and owned by the caller).
 *
 *     if (chime_grow(&list->items, &list->allocated, list->count + 1,
 *                    sizeof(*list->items)) < 0)
 *             return -ENOMEM;
 *     list->items[list->count++] = item;
 */
int chime_grow(void *arrayp, size_t *allocated, size_t need, size_t elem_size);

#endif
