/* SPDX-License-Identifier: MIT */
/* The one ${VAR} expander (expand.h). */
#include "expand.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"

#define EXPAND_NAME_MAX 255

static bool
is_name_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool
is_name_char(char c)
{
	return is_name_start(c) || (c >= '0' && c <= '9');
}

static const char *
lookup_environ(const char *name, void *userdata)
{
	(void)userdata;
	return getenv(name);
}

/*
 * Check the name of the reference that starts at `p` ("${" already seen)
 * and copy it to `name`. Returns the '}' that ends it, or NULL with the
 * error in errbuf and *ret_r.
 */
static const char *
expand_name(const char *in, const char *p, char name[static EXPAND_NAME_MAX + 1], int *ret_r,
            char *errbuf, size_t errsize)
{
	const char *end = strchr(p + 2, '}');
	size_t n;

	if (end == NULL) {
		*ret_r =
		        chime_errbuf_set(errbuf, errsize, -EINVAL, "unterminated '${' in '%s'", in);
		return NULL;
	}
	n = (size_t)(end - (p + 2));
	for (size_t i = 0; i < n; i++)
		if (!is_name_char(p[2 + i]))
			n = 0;
	if (n == 0 || n > EXPAND_NAME_MAX || !is_name_start(p[2])) {
		*ret_r = chime_errbuf_set(errbuf, errsize, -EINVAL,
		                          "invalid variable name '%.*s' in '%s'",
		                          (int)(end - (p + 2)), p + 2, in);
		return NULL;
	}
	memcpy(name, p + 2, n);
	name[n] = '\0';
	return end;
}

int
chime_expand_env(const char *in, chime_expand_lookup_fn lookup, void *userdata, char **ret_out,
                 char *errbuf, size_t errsize)
{
	char *out = NULL, name[EXPAND_NAME_MAX + 1];
	size_t len = 0;
	FILE *f;
	int r = 0;

	if (lookup == NULL)
		lookup = lookup_environ;
	f = open_memstream(&out, &len);
	if (f == NULL)
		return chime_errbuf_set(errbuf, errsize, -ENOMEM, "out of memory");
	for (const char *p = in; *p != '\0' && r == 0;) {
		const char *end, *value;

		if (p[0] != '$' || p[1] != '{') {
			fputc(*p++, f);
			continue;
		}
		end = expand_name(in, p, name, &r, errbuf, errsize);
		if (end == NULL)
			break;
		value = lookup(name, userdata);
		if (value == NULL) {
			r = chime_errbuf_set(errbuf, errsize, -ENOENT,
			                     "environment variable '%s' is not set", name);
			break;
		}
		fputs(value, f);
		p = end + 1;
	}
	if (fclose(f) != 0 && r == 0)
		r = chime_errbuf_set(errbuf, errsize, -ENOMEM, "out of memory");
	if (r < 0) {
		free(out);
		return r;
	}
	*ret_out = out;
	return 0;
}
