/* SPDX-License-Identifier: MIT */
/* Growable arrays (array.h). */
#include "array.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_MIN_ALLOC 8

int
chime_grow(void *arrayp, size_t *allocated, size_t need, size_t elem_size)
{
	size_t cap = *allocated;
	void *array, *p;

	if (need <= cap)
		return 0;
	if (cap < ARRAY_MIN_ALLOC)
		cap = ARRAY_MIN_ALLOC;
	while (cap < need) {
		if (cap > SIZE_MAX / 2)
			return -ENOMEM;
		cap *= 2;
	}
	/* The caller's pointer is a `struct x *`: read and write its bytes
	 * rather than through a `void **`, which C does not let alias it. */
	memcpy(&array, arrayp, sizeof(array));
	p = reallocarray(array, cap, elem_size);
	if (p == NULL)
		return -ENOMEM;
	memcpy(arrayp, &p, sizeof(p));
	*allocated = cap;
	return 0;
}
