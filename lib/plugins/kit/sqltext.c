/* SPDX-License-Identifier: MIT */
/* SQL text: the string builder, the identifier quoter and the template
 * (sqltext.h). */
#include "sqltext.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
chime_kit_sqlbuf_vprintf(struct chime_kit_sqlbuf *b, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	if (b->failed)
		return;
	va_copy(aq, ap);
	n = vsnprintf(b->data != NULL ? b->data + b->len : NULL,
	              b->data != NULL ? b->size - b->len : 0, fmt, aq);
	va_end(aq);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if (b->data == NULL || b->len + (size_t)n + 1 > b->size) {
		size_t size = b->size > 0 ? b->size : 256;
		char *p;

		while (size < b->len + (size_t)n + 1)
			size *= 2;
		p = realloc(b->data, size);
		if (p == NULL) {
			b->failed = true;
			return;
		}
		b->data = p;
		b->size = size;
		(void)vsnprintf(b->data + b->len, b->size - b->len, fmt, ap);
	}
	b->len += (size_t)n;
}

void
chime_kit_sqlbuf_printf(struct chime_kit_sqlbuf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	chime_kit_sqlbuf_vprintf(b, fmt, ap);
	va_end(ap);
}

void
chime_kit_sqlbuf_done(struct chime_kit_sqlbuf *b)
{
	free(b->data);
	*b = (struct chime_kit_sqlbuf){0};
}

static char *
quote_part(PGconn *conn, const char *name, size_t len)
{
	char *q, *copy;

	q = PQescapeIdentifier(conn, name, len);
	if (q == NULL)
		return NULL;
	copy = strdup(q);
	PQfreemem(q);
	return copy;
}

char *
chime_kit_quote_ident(PGconn *conn, const char *name)
{
	const char *dot = strchr(name, '.');
	char *schema = NULL, *rel = NULL, *out = NULL;

	if (dot == NULL)
		return quote_part(conn, name, strlen(name));
	schema = quote_part(conn, name, (size_t)(dot - name));
	rel = quote_part(conn, dot + 1, strlen(dot + 1));
	if (schema != NULL && rel != NULL && asprintf(&out, "%s.%s", schema, rel) < 0)
		out = NULL;
	free(schema);
	free(rel);
	return out;
}

/* The length of the placeholder name at `p` (just after '{') when a '}'
 * closes it, else 0: the brace is text. */
static size_t
placeholder_len(const char *p)
{
	size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.");

	return p[n] == '}' ? n : 0;
}

/* Mark the template failed; its message says which placeholder and why,
 * as "<what> '<name>'<why>" (or only `what` when name is NULL). */
static int
template_fail(struct chime_kit_sqlbuf *out, int r, char *errbuf, size_t errsize, const char *what,
              const char *name, size_t len, const char *why)
{
	out->failed = true;
	if (errbuf != NULL && errsize > 0 && name == NULL)
		snprintf(errbuf, errsize, "%s", what);
	else if (errbuf != NULL && errsize > 0)
		snprintf(errbuf, errsize, "%s'%.*s'%s", what, (int)len, name, why);
	return r;
}

int
chime_kit_sql_template(struct chime_kit_sqlbuf *out, PGconn *conn, const char *tmpl,
                       const struct chime_kit_ident *ids, size_t n_ids, char *errbuf,
                       size_t errsize)
{
	const char *p = tmpl;

	if (out->failed)
		return -ENOMEM; /* an earlier append failed and said why */
	while (*p != '\0' && !out->failed) {
		const struct chime_kit_ident *id = NULL;
		size_t text = strcspn(p, "{"), n;
		char *q;

		chime_kit_sqlbuf_printf(out, "%.*s", (int)text, p);
		p += text;
		if (*p == '\0')
			break;
		n = placeholder_len(p + 1);
		if (n == 0) {
			chime_kit_sqlbuf_printf(out, "{");
			p++;
			continue;
		}
		for (size_t i = 0; i < n_ids && id == NULL; i++)
			if (strlen(ids[i].name) == n && strncmp(ids[i].name, p + 1, n) == 0)
				id = &ids[i];
		if (id == NULL)
			return template_fail(out, -ENOENT, errbuf, errsize, "unknown placeholder ",
			                     p, n + 2, "");
		if (id->ident == NULL)
			return template_fail(out, -EINVAL, errbuf, errsize, "placeholder ", p,
			                     n + 2, " is not mapped");
		q = chime_kit_quote_ident(conn, id->ident);
		if (q == NULL)
			return template_fail(out, -EILSEQ, errbuf, errsize,
			                     "cannot quote identifier ", id->ident,
			                     strlen(id->ident), "");
		chime_kit_sqlbuf_printf(out, "%s", q);
		free(q);
		p += n + 2;
	}
	if (out->failed)
		return template_fail(out, -ENOMEM, errbuf, errsize, "out of memory", NULL, 0, "");
	return 0;
}
