/* SPDX-License-Identifier: MIT */
/*
 * Best-effort reading of a stored message's headers for the email_sync
 * plugin (email_sync_parse.c): broken MIME and 8-bit headers are expected,
 * so every function answers valid UTF-8 text (or nothing). Pure; never logs.
 */
#ifndef CHIME_PLUGINS_EMAIL_SYNC_H
#define CHIME_PLUGINS_EMAIL_SYNC_H

#include <stdbool.h>
#include <stddef.h>

/* True when s[0..n) is valid UTF-8 without NUL bytes (no overlongs, no
 * surrogates, nothing above U+10FFFF). */
bool chime__email_valid_utf8(const unsigned char *s, size_t n);

/* The unfolded, trimmed value of the first header `name` (case-insensitive)
 * in the header block of raw[0..len), at most 16 KiB, malloc'd, as it is
 * written (encoded-words left alone); 8-bit bytes that are not UTF-8 are
 * read as Latin-1, NUL bytes dropped. NULL when absent or out of memory. */
char *chime__email_header(const char *raw, size_t len, const char *name);

/* The same with RFC 2047 encoded-words decoded (email_sync_decode.c): for
 * From, To and Subject, not for Message-ID or Date. */
char *chime__email_header_text(const char *raw, size_t len, const char *name);

/* `s` with its RFC 2047 encoded-words (B and Q, any charset iconv knows:
 * UTF-8, ISO-8859-1, Windows-1252, KOI8-R, ...) decoded to UTF-8; adjacent
 * words of one charset are decoded together and the blanks between them
 * dropped; a word iconv cannot convert stays as written. malloc'd; NULL
 * when out of memory. */
char *chime__email_decode_words(const char *s);

/* Latin-1 bytes s[0..n) as a malloc'd UTF-8 string (NUL bytes dropped);
 * NULL when out of memory. */
char *chime__email_latin1_to_utf8(const unsigned char *s, size_t n);

/* An RFC 5322 date ("Tue, 3 Mar 2026 10:15:00 +0400", obsolete zone names
 * and two-digit years too) as RFC 3339 UTC ("2026-03-03T06:15:00Z") in buf;
 * false when it cannot be read. */
bool chime__email_parse_date(const char *s, char *buf, size_t size);

#endif
