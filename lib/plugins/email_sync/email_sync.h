/* SPDX-License-Identifier: MIT */
/*
 * Best-effort reading of a stored message's headers for the email_sync
 * plugin (email_sync_parse.c): broken MIME and 8-bit headers are expected,
 * so every function answers "valid UTF-8 text or nothing". Pure; never logs.
 */
#ifndef CHIME_PLUGINS_EMAIL_SYNC_H
#define CHIME_PLUGINS_EMAIL_SYNC_H

#include <stdbool.h>
#include <stddef.h>

/* True when s[0..n) is valid UTF-8 without NUL bytes (no overlongs, no
 * surrogates, nothing above U+10FFFF). */
bool chime__email_valid_utf8(const unsigned char *s, size_t n);

/* The unfolded, trimmed value of the first header `name` (case-insensitive)
 * in the header block of raw[0..len), at most 16 KiB, malloc'd; NULL when
 * absent, not valid UTF-8, or out of memory. */
char *chime__email_header(const char *raw, size_t len, const char *name);

/* An RFC 5322 date ("Tue, 3 Mar 2026 10:15:00 +0400", obsolete zone names
 * and two-digit years too) as RFC 3339 UTC ("2026-03-03T06:15:00Z") in buf;
 * false when it cannot be read. */
bool chime__email_parse_date(const char *s, char *buf, size_t size);

#endif
