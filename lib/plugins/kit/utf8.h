/* SPDX-License-Identifier: MIT */
/*
 * UTF-8 for plugins: the one strict decoder (no overlong forms, no
 * surrogates, nothing above U+10FFFF) that IMAP mailbox names and stored
 * header text are checked with. Pure; never logs.
 */
#ifndef CHIME_KIT_UTF8_H
#define CHIME_KIT_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* The code point at s[*i] of s[0..n), advancing *i past it; -1 (and *i
 * untouched) when the bytes there are not valid UTF-8 or are cut short
 * by n. A NUL byte is the code point 0. */
int32_t chime__utf8_next(const unsigned char *s, size_t n, size_t *i);

#endif
