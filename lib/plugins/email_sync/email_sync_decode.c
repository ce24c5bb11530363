/* SPDX-License-Identifier: MIT */
/*
 * Header text as people read it, for the email_sync plugin (see
 * email_sync.h): RFC 2047 encoded-words ("=?KOI8-R?B?...?=", "=?utf-8?Q?
 * Caf=C3=A9?=") decoded and converted to UTF-8 with iconv, and raw 8-bit
 * headers that are not UTF-8 read as Latin-1, the charset old mailers
 * wrote without saying so. The stored raw message is never touched; only
 * the header columns are decoded.
 */
#include <errno.h>
#include <iconv.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "email_sync.h"
#include "sqltext.h"

/* The kit's growing string holds text and bytes alike: "%c" appends a NUL
 * byte too. */
static void
text_add(struct chime_kit_sqlbuf *t, const char *p, size_t n)
{
	chime_kit_sqlbuf_printf(t, "%.*s", (int)n, p);
}

static void
bytes_add(struct chime_kit_sqlbuf *t, char c)
{
	chime_kit_sqlbuf_printf(t, "%c", c);
}

/* Text without its NUL bytes, which cannot travel in a text column. */
static void
text_add_clean(struct chime_kit_sqlbuf *t, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != '\0')
			bytes_add(t, p[i]);
}

static char *
text_take(struct chime_kit_sqlbuf *t)
{
	char *d = t->data;

	if (t->failed) {
		chime_kit_sqlbuf_done(t);
		return NULL;
	}
	return d;
}

char *
chime__email_latin1_to_utf8(const unsigned char *s, size_t n)
{
	struct chime_kit_sqlbuf t = {0};

	text_add(&t, "", 0);
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= 0x80)
			bytes_add(&t, (char)(0xc0 | (s[i] >> 6)));
		if (s[i] != 0)
			bytes_add(&t, (char)(s[i] >= 0x80 ? 0x80 | (s[i] & 0x3f) : s[i]));
	}
	return text_take(&t);
}

/* One encoded-word "=?charset?enc?text?=" at s[0..n): its parts. */
struct es_word {
	const char *charset, *text;
	size_t charset_len, text_len, len;
	char enc; /* 'B' or 'Q' */
};

static bool
word_parse(const char *s, size_t n, struct es_word *w)
{
	const char *q1, *q2, *end;

	if (n < 8 || s[0] != '=' || s[1] != '?')
		return false;
	q1 = memchr(s + 2, '?', n - 2);
	if (q1 == NULL || q1 == s + 2 || (size_t)(q1 - s) + 3 > n || q1[2] != '?')
		return false;
	q2 = q1 + 2;
	end = q2 + 1;
	while (end < s + n && *end != '?' && *end != ' ')
		end++;
	if (end + 1 >= s + n || end[0] != '?' || end[1] != '=')
		return false;
	for (const char *c = s + 2; c < q1; c++)
		if (*c == ' ' || *c == '=')
			return false;
	w->enc = (char)(q1[1] == 'b' || q1[1] == 'B' ? 'B' : q1[1] == 'q' || q1[1] == 'Q' ? 'Q' : 0);
	if (w->enc == 0)
		return false;
	w->charset = s + 2;
	w->charset_len = (size_t)(q1 - w->charset);
	/* RFC 2231 adds a language: "utf-8*en". */
	for (size_t i = 0; i < w->charset_len; i++)
		if (w->charset[i] == '*')
			w->charset_len = i;
	w->text = q2 + 1;
	w->text_len = (size_t)(end - w->text);
	w->len = (size_t)(end + 2 - s);
	return w->charset_len > 0;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The bytes an encoded-word stands for, appended to out; false when its
 * text is not valid B or Q. */
static bool
word_bytes(const struct es_word *w, struct chime_kit_sqlbuf *out)
{
	static const char b64[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t bits = 0;
	int nbits = 0;

	for (size_t i = 0; i < w->text_len; i++) {
		char c = w->text[i];

		if (w->enc == 'Q') {
			int hi, lo;

			if (c == '_') {
				text_add(out, " ", 1);
			} else if (c == '=') {
				if (i + 2 >= w->text_len ||
				    (hi = hexval(w->text[i + 1])) < 0 ||
				    (lo = hexval(w->text[i + 2])) < 0)
					return false;
				bytes_add(out, (char)(hi * 16 + lo));
				i += 2;
			} else {
				bytes_add(out, c);
			}
			continue;
		}
		if (c == '=')
			break; /* padding */
		const char *p = c != '\0' ? strchr(b64, c) : NULL;

		if (p == NULL)
			return false;
		bits = (bits << 6) | (uint32_t)(p - b64);
		nbits += 6;
		if (nbits >= 8) {
			nbits -= 8;
			bytes_add(out, (char)((bits >> nbits) & 0xff));
		}
	}
	return true;
}

/* Convert `in` from `charset` to UTF-8 onto out; false when iconv does not
 * know the charset or the bytes are not valid in it. */
static bool
word_convert(const char *charset, const struct chime_kit_sqlbuf *in, struct chime_kit_sqlbuf *out)
{
	iconv_t cd = iconv_open("UTF-8", charset);
	char buf[1024];
	char *ip = in->data;
	size_t il = in->len;
	bool ok = true;

	if (cd == (iconv_t)-1)
		return false;
	while (il > 0) {
		char *op = buf;
		size_t ol = sizeof(buf);

		if (iconv(cd, &ip, &il, &op, &ol) == (size_t)-1 && errno != E2BIG) {
			ok = false;
			break;
		}
		text_add_clean(out, buf, sizeof(buf) - ol);
	}
	iconv_close(cd);
	return ok;
}

/* A run of adjacent encoded-words of one charset, decoded together so
 * that a character split across two words still converts. */
struct es_run {
	char charset[64];
	struct chime_kit_sqlbuf bytes;
	size_t from, to; /* its source text; from == to: no run */
	bool bad;        /* a word is not valid B or Q */
};

/* Convert the run onto out; when it cannot be, its source text stays. */
static void
run_flush(struct es_run *run, const char *s, struct chime_kit_sqlbuf *out)
{
	size_t mark = out->len;

	if (run->from == run->to)
		return;
	if (run->bad || run->bytes.failed || !word_convert(run->charset, &run->bytes, out)) {
		out->len = mark;
		text_add(out, s + run->from, run->to - run->from);
	}
	chime_kit_sqlbuf_done(&run->bytes);
	run->bad = false;
	run->from = run->to = 0;
}

char *
chime__email_decode_words(const char *s)
{
	struct chime_kit_sqlbuf out = {0};
	struct es_run run = {0};
	size_t n = strlen(s), i = 0;
	struct es_word w, next;

	text_add(&out, "", 0);
	while (i < n) {
		size_t j, k;

		if (!word_parse(s + i, n - i, &w) || w.charset_len >= sizeof(run.charset)) {
			run_flush(&run, s, &out);
			text_add(&out, s + i, 1);
			i++;
			continue;
		}
		if (run.from != run.to && (strlen(run.charset) != w.charset_len ||
		                           strncasecmp(run.charset, w.charset, w.charset_len) != 0))
			run_flush(&run, s, &out);
		if (run.from == run.to) {
			memcpy(run.charset, w.charset, w.charset_len);
			run.charset[w.charset_len] = '\0';
			run.from = i;
		}
		if (!word_bytes(&w, &run.bytes))
			run.bad = true;
		j = run.to = i + w.len;
		/* Blanks between two encoded-words are not part of the text. */
		for (k = j; k < n && (s[k] == ' ' || s[k] == '\t'); k++)
			;
		i = k > j && word_parse(s + k, n - k, &next) ? k : j;
	}
	run_flush(&run, s, &out);
	chime_kit_sqlbuf_done(&run.bytes);
	return text_take(&out);
}

char *
chime__email_header_text(const char *raw, size_t len, const char *name)
{
	char *v = chime__email_header(raw, len, name), *d;

	if (v == NULL)
		return NULL;
	d = chime__email_decode_words(v);
	free(v);
	return d;
}
