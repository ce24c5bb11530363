/* SPDX-License-Identifier: MIT */
/* The errbuf convention (errbuf.h). */
#include "errbuf.h"

#include <stdarg.h>
#include <stdio.h>

int
chime_errbuf_set(char *errbuf, size_t errsize, int r, const char *fmt, ...)
{
	va_list ap;

	if (errbuf != NULL && errsize > 0) {
		va_start(ap, fmt);
		(void)vsnprintf(errbuf, errsize, fmt, ap);
		va_end(ap);
	}
	return r;
}
