/* SPDX-License-Identifier: MIT */
/*
 * Diagnostics: a growable list of errors and warnings with their place,
 * and their compiler-style formatting "file:line:col: error: path: msg".
 * Pure: never logs; an allocation failure sets `oom` and drops the item
 * but still counts it, so a caller never mistakes a failed load for a
 * good one.
 */
#include "diag.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "mem.h"

#define DIAG_DEFAULT_LIMIT 1000

void
chime_diag_list_init(struct chime_diag_list *list)
{
	*list = (struct chime_diag_list){0};
}

void
chime_diag_list_done(struct chime_diag_list *list)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < list->count; i++) {
		chime_free_many(list->items[i].file, list->items[i].path, list->items[i].message);
	}
	free(list->items);
	*list = (struct chime_diag_list){0};
}

static int
diag_result(enum chime_diag_severity severity)
{
	return severity == CHIME_DIAG_ERROR ? -EINVAL : 0;
}

int
chime_diag_addv(struct chime_diag_list *list, enum chime_diag_severity severity, const char *file,
                unsigned line, unsigned column, const char *path, const char *fmt, va_list ap)
{
	struct chime_diag d = {.severity = severity, .line = line, .column = column};
	size_t limit;

	if (list == NULL)
		return diag_result(severity);
	if (severity == CHIME_DIAG_ERROR)
		list->errors++;
	else
		list->warnings++;
	limit = list->limit != 0 ? list->limit : DIAG_DEFAULT_LIMIT;
	if (list->count >= limit)
		return diag_result(severity);

	if (chime_grow(&list->items, &list->allocated, list->count + 1, sizeof(*list->items)) < 0)
		goto oom;
	if (vasprintf(&d.message, fmt, ap) < 0) {
		d.message = NULL;
		goto oom;
	}
	if (file != NULL && (d.file = strdup(file)) == NULL)
		goto oom;
	if (path != NULL && path[0] != '\0' && (d.path = strdup(path)) == NULL)
		goto oom;
	list->items[list->count++] = d;
	return diag_result(severity);
oom:
	chime_free_many(d.message, d.file, d.path);
	list->oom = true;
	return diag_result(severity);
}

int
chime_diag_add(struct chime_diag_list *list, enum chime_diag_severity severity, const char *file,
               unsigned line, unsigned column, const char *path, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = chime_diag_addv(list, severity, file, line, column, path, fmt, ap);
	va_end(ap);
	return r;
}

int
chime_diag_format(const struct chime_diag *d, char *buf, size_t size)
{
	char place[64] = "";
	const char *sev = d->severity == CHIME_DIAG_ERROR ? "error" : "warning";

	if (d->line != 0 && d->column != 0)
		snprintf(place, sizeof(place), "%u:%u:", d->line, d->column);
	else if (d->line != 0)
		snprintf(place, sizeof(place), "%u:", d->line);

	return snprintf(buf, size, "%s%s%s%s%s: %s%s%s", d->file != NULL ? d->file : "",
	                d->file != NULL ? ":" : "", place,
	                d->file != NULL || place[0] != '\0' ? " " : "", sev,
	                d->path != NULL ? d->path : "", d->path != NULL ? ": " : "", d->message);
}

static void
diag_print_one(const struct chime_diag *d, FILE *f)
{
	char small[512];
	int n = chime_diag_format(d, small, sizeof(small));
	char *big;

	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		fprintf(f, "%s\n", small);
		return;
	}
	big = malloc((size_t)n + 1);
	if (big == NULL) {
		fprintf(f, "%s\n", small);
		return;
	}
	chime_diag_format(d, big, (size_t)n + 1);
	fprintf(f, "%s\n", big);
	free(big);
}

void
chime_diag_list_print_severity(const struct chime_diag_list *list,
                               enum chime_diag_severity severity, FILE *f)
{
	size_t stored = 0, total;

	for (size_t i = 0; i < list->count; i++) {
		if (list->items[i].severity != severity)
			continue;
		diag_print_one(&list->items[i], f);
		stored++;
	}
	total = severity == CHIME_DIAG_ERROR ? list->errors : list->warnings;
	if (total > stored)
		fprintf(f, "... and %zu more %s%s not shown\n", total - stored,
		        severity == CHIME_DIAG_ERROR ? "error" : "warning",
		        total - stored == 1 ? "" : "s");
}

void
chime_diag_list_print(const struct chime_diag_list *list, FILE *f)
{
	size_t dropped;

	for (size_t i = 0; i < list->count; i++)
		diag_print_one(&list->items[i], f);
	dropped = list->errors + list->warnings - list->count;
	if (dropped > 0)
		fprintf(f, "... and %zu more diagnostic%s not shown\n", dropped,
		        dropped == 1 ? "" : "s");
}
