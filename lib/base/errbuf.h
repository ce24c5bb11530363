/* SPDX-License-Identifier: MIT */
/*
 * The errbuf convention: a function that fails returns a negative errno
 * and writes one line of reason, for a human, into a buffer its caller
 * owns (`char *errbuf, size_t errsize`; NULL or 0 means "no reason
 * wanted"). Pure; never logs.
 */
#ifndef CHIME_ERRBUF_H
#define CHIME_ERRBUF_H

#include <stddef.h>

#include "macro.h"

/* Format the reason into errbuf (when there is one) and return `r`. */
int chime_errbuf_set(char *errbuf, size_t errsize, int r, const char *fmt, ...) CHIME_PRINTF(4, 5);

#endif
