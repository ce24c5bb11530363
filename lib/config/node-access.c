/* SPDX-License-Identifier: MIT */
/*
 * The read side of the YAML node tree: the accessors and typed getters of
 * chime/plugin.h that plugins (and the config loader) use on options, and
 * their diagnostics placed at the node ("file:line:col: error:
 * jobs.x.options.key: ..."), with a "did you mean" hint for unknown keys.
 * Pure: never logs.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "node.h"
#include "timespan.h"

CHIME_EXPORT enum chime_node_kind
chime_node_kind(const struct chime_node *node)
{
	return node->kind;
}

CHIME_EXPORT const char *
chime_node_scalar(const struct chime_node *node)
{
	if (node == NULL || node->kind != CHIME_NODE_SCALAR)
		return NULL;
	return node->scalar;
}

CHIME_EXPORT const struct chime_node *
chime_node_get(const struct chime_node *map, const char *key)
{
	if (map == NULL || map->kind != CHIME_NODE_MAPPING)
		return NULL;
	for (size_t i = 0; i < map->count; i++)
		if (strcmp(map->keys[i], key) == 0)
			return map->items[i];
	return NULL;
}

CHIME_EXPORT size_t
chime_node_count(const struct chime_node *node)
{
	if (node == NULL || node->kind == CHIME_NODE_SCALAR)
		return 0;
	return node->count;
}

CHIME_EXPORT const struct chime_node *
chime_node_at(const struct chime_node *node, size_t i)
{
	if (node == NULL || node->kind == CHIME_NODE_SCALAR || i >= node->count)
		return NULL;
	return node->items[i];
}

CHIME_EXPORT const char *
chime_node_key_at(const struct chime_node *node, size_t i)
{
	if (node == NULL || node->kind != CHIME_NODE_MAPPING || i >= node->count)
		return NULL;
	return node->keys[i];
}

const struct chime_node *
chime_node_key_node_at(const struct chime_node *node, size_t i)
{
	if (node == NULL || node->kind != CHIME_NODE_MAPPING || i >= node->count)
		return NULL;
	return node->key_nodes[i];
}

bool
chime_node_is_null(const struct chime_node *node)
{
	const char *s;

	if (node == NULL || node->kind != CHIME_NODE_SCALAR || node->quoted)
		return false;
	s = node->scalar;
	return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	       strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

const char *
chime_node_kind_name(const struct chime_node *node)
{
	if (node == NULL)
		return "nothing";
	switch (node->kind) {
	case CHIME_NODE_SEQUENCE:
		return "a list";
	case CHIME_NODE_MAPPING:
		return "a mapping";
	default:
		return chime_node_is_null(node) ? "null" : "a scalar";
	}
}

static int node_diagv(struct chime_diag_list *diags, enum chime_diag_severity severity,
                      const struct chime_node *node, const char *fmt, va_list ap)
        CHIME_PRINTF(4, 0);

static int
node_diagv(struct chime_diag_list *diags, enum chime_diag_severity severity,
           const struct chime_node *node, const char *fmt, va_list ap)
{
	const char *path;
	char *msg = NULL;
	int r;

	if (node == NULL)
		return chime_diag_addv(diags, severity, NULL, 0, 0, NULL, fmt, ap);
	path = node->path != NULL && node->path[0] != '\0' ? node->path : NULL;
	if (node->merge_line == 0)
		return chime_diag_addv(diags, severity, node->file, node->line, node->column, path,
		                       fmt, ap);
	/* The text is in the anchor; say where the merge key brought it in. */
	if (vasprintf(&msg, fmt, ap) < 0)
		return chime_diag_add(diags, severity, node->file, node->line, node->column, path,
		                      "out of memory");
	r = chime_diag_add(diags, severity, node->file, node->line, node->column, path,
	                   "%s (merged at line %u, column %u)", msg, node->merge_line,
	                   node->merge_column);
	free(msg);
	return r;
}

CHIME_EXPORT int
chime_node_error(struct chime_diag_list *diags, const struct chime_node *node, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = node_diagv(diags, CHIME_DIAG_ERROR, node, fmt, ap);
	va_end(ap);
	return r;
}

CHIME_EXPORT int
chime_node_warning(struct chime_diag_list *diags, const struct chime_node *node, const char *fmt,
                   ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = node_diagv(diags, CHIME_DIAG_WARNING, node, fmt, ap);
	va_end(ap);
	return r;
}

/*
 * The value under `key`, NULL when absent or null (the getter then uses its
 * default). -EINVAL after a diagnostic when it is not a scalar.
 */
static int
node_get_scalar(const struct chime_node *map, const char *key, const char *what,
                struct chime_diag_list *diags, const struct chime_node **ret)
{
	const struct chime_node *v = chime_node_get(map, key);

	*ret = NULL;
	if (v == NULL || chime_node_is_null(v))
		return 0;
	if (v->kind != CHIME_NODE_SCALAR)
		return chime_node_error(diags, v, "expected %s, got %s", what,
		                        chime_node_kind_name(v));
	*ret = v;
	return 0;
}

CHIME_EXPORT int
chime_node_get_string(const struct chime_node *map, const char *key, const char *def,
                      struct chime_diag_list *diags, const char **ret)
{
	const struct chime_node *v;
	int r;

	r = node_get_scalar(map, key, "a string", diags, &v);
	if (r < 0)
		return r;
	*ret = v != NULL ? v->scalar : def;
	return 0;
}

/* Parse a decimal integer with an optional sign; -EINVAL or -ERANGE. */
static int
parse_int64(const char *s, int64_t *ret)
{
	char *end;
	long long v;

	if (s[0] == '\0' || isspace((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0')
		return -EINVAL;
	if (errno == ERANGE)
		return -ERANGE;
	*ret = (int64_t)v;
	return 0;
}

CHIME_EXPORT int
chime_node_get_int(const struct chime_node *map, const char *key, int64_t min, int64_t max,
                   int64_t def, struct chime_diag_list *diags, int64_t *ret)
{
	const struct chime_node *v;
	int64_t value;
	int r;

	r = node_get_scalar(map, key, "an integer", diags, &v);
	if (r < 0)
		return r;
	if (v == NULL) {
		*ret = def;
		return 0;
	}
	r = v->quoted ? -EINVAL : parse_int64(v->scalar, &value);
	if (r == -EINVAL)
		return chime_node_error(diags, v, "expected an integer, got '%s'", v->scalar);
	if (r < 0 || value < min || value > max)
		return chime_node_error(diags, v, "%s is out of range %" PRId64 "..%" PRId64,
		                        v->scalar, min, max);
	*ret = value;
	return 0;
}

CHIME_EXPORT int
chime_node_get_bool(const struct chime_node *map, const char *key, bool def,
                    struct chime_diag_list *diags, bool *ret)
{
	static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes",
	                                  "YES",  "on",   "On",   "ON",  NULL};
	static const char *const no[] = {"false", "False", "FALSE", "no",  "No",
	                                 "NO",    "off",   "Off",   "OFF", NULL};
	const struct chime_node *v;
	int r;

	r = node_get_scalar(map, key, "a boolean", diags, &v);
	if (r < 0)
		return r;
	if (v == NULL) {
		*ret = def;
		return 0;
	}
	if (!v->quoted) {
		for (size_t i = 0; yes[i] != NULL; i++)
			if (strcmp(v->scalar, yes[i]) == 0) {
				*ret = true;
				return 0;
			}
		for (size_t i = 0; no[i] != NULL; i++)
			if (strcmp(v->scalar, no[i]) == 0) {
				*ret = false;
				return 0;
			}
	}
	return chime_node_error(diags, v, "expected true or false, got '%s'", v->scalar);
}

CHIME_EXPORT int
chime_node_get_duration(const struct chime_node *map, const char *key, int64_t def_usec,
                        struct chime_diag_list *diags, int64_t *ret_usec)
{
	const struct chime_node *v;
	const char *s;
	int64_t usec;
	int r;

	r = node_get_scalar(map, key, "a duration", diags, &v);
	if (r < 0)
		return r;
	if (v == NULL) {
		*ret_usec = def_usec;
		return 0;
	}
	s = v->scalar;
	while (isspace((unsigned char)*s))
		s++;
	if (*s == '-')
		return chime_node_error(diags, v, "negative duration '%s'", v->scalar);
	r = chime_timespan_parse(v->scalar, &usec);
	if (r == -ERANGE)
		return chime_node_error(diags, v, "duration '%s' is too large", v->scalar);
	if (r < 0)
		return chime_node_error(diags, v,
		                        "invalid duration '%s' (expected a time span like 30s, "
		                        "5min, 2h, 1d)",
		                        v->scalar);
	*ret_usec = usec;
	return 0;
}

static bool
identifier_part_valid(const char *s, size_t len)
{
	if (len == 0 || len > 63)
		return false;
	if (!(isalpha((unsigned char)s[0]) || s[0] == '_') || (unsigned char)s[0] >= 0x80)
		return false;
	for (size_t i = 1; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x80 || !(isalnum(c) || c == '_' || c == '$'))
			return false;
	}
	return true;
}

CHIME_EXPORT int
chime_node_get_identifier(const struct chime_node *map, const char *key, const char *def,
                          struct chime_diag_list *diags, const char **ret)
{
	const struct chime_node *v;
	const char *s, *dot;
	bool ok;
	int r;

	r = node_get_scalar(map, key, "an SQL identifier", diags, &v);
	if (r < 0)
		return r;
	if (v == NULL) {
		*ret = def;
		return 0;
	}
	s = v->scalar;
	dot = strchr(s, '.');
	if (dot == NULL)
		ok = identifier_part_valid(s, strlen(s));
	else
		ok = identifier_part_valid(s, (size_t)(dot - s)) &&
		     identifier_part_valid(dot + 1, strlen(dot + 1));
	if (!ok)
		return chime_node_error(
		        diags, v,
		        "invalid SQL identifier '%s' (expected [A-Za-z_][A-Za-z0-9_$]*, "
		        "at most 63 bytes, optionally schema.name)",
		        s);
	*ret = s;
	return 0;
}

/* Edit distance of two short strings, capped: for "did you mean" hints. */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[65];

	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

CHIME_EXPORT int
chime_node_check_keys(const struct chime_node *map, const char *const *known,
                      struct chime_diag_list *diags)
{
	int r = 0;

	if (map == NULL || map->kind != CHIME_NODE_MAPPING)
		return 0;
	for (size_t i = 0; i < map->count; i++) {
		const char *key = map->keys[i];
		const char *hint = NULL;
		size_t best = 3;
		bool found = false;

		for (size_t k = 0; !found && known[k] != NULL; k++)
			found = strcmp(key, known[k]) == 0;
		for (size_t k = 0; !found && known[k] != NULL; k++) {
			size_t d = edit_distance(key, known[k]);

			if (d < best) {
				best = d;
				hint = known[k];
			}
		}
		if (found)
			continue;
		if (hint != NULL)
			r = chime_node_error(diags, map->key_nodes[i],
			                     "unknown key '%s' (did you mean '%s'?)", key, hint);
		else
			r = chime_node_error(diags, map->key_nodes[i], "unknown key '%s'", key);
	}
	return r;
}
