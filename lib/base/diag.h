/* SPDX-License-Identifier: MIT */
/*
 * Diagnostics: errors and warnings with their place, collected by pure
 * modules (config, cron, plugin configure) and printed by the caller like
 * compiler output, so editors can jump to them:
 *
 *   /etc/chime/chime.yaml:14:12: error: jobs.nightly.schedule: minute '61' out of range 0-59
 *
 * Lines and columns are 1-based; 0 means "unknown" and is not printed.
 */
#ifndef CHIME_DIAG_H
#define CHIME_DIAG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "macro.h"

enum chime_diag_severity {
	CHIME_DIAG_ERROR,
	CHIME_DIAG_WARNING,
};

struct chime_diag {
	enum chime_diag_severity severity;
	char *file; /* may be NULL */
	unsigned line, column;
	char *path;    /* key path "jobs.x.schedule", may be NULL */
	char *message; /* never NULL */
};

struct chime_diag_list {
	struct chime_diag *items;
	size_t count, allocated;
	size_t errors, warnings;
	size_t limit; /* stop storing past this many (still counted); 0 = 1000 */
	bool oom;     /* an allocation failed: some diagnostics were lost */
};

void chime_diag_list_init(struct chime_diag_list *list);
void chime_diag_list_done(struct chime_diag_list *list);

/* Append a diagnostic. Returns -EINVAL for errors, 0 for warnings, so a
 * caller can `return chime_diag_add(...)`. Never logs. */
int chime_diag_add(struct chime_diag_list *list, enum chime_diag_severity severity,
                   const char *file, unsigned line, unsigned column, const char *path,
                   const char *fmt, ...) CHIME_PRINTF(7, 8);
int chime_diag_addv(struct chime_diag_list *list, enum chime_diag_severity severity,
                    const char *file, unsigned line, unsigned column, const char *path,
                    const char *fmt, va_list ap) CHIME_PRINTF(7, 0);

/* Format one diagnostic as "file:line:col: error: path: message" (no
 * newline) into buf; returns the length snprintf would have written. */
int chime_diag_format(const struct chime_diag *d, char *buf, size_t size);
/* Print every diagnostic, one per line, to `f`, then a line saying how
 * many were not stored when the limit was reached. */
void chime_diag_list_print(const struct chime_diag_list *list, FILE *f);
/* Print only the diagnostics of `severity`. */
void chime_diag_list_print_severity(const struct chime_diag_list *list,
                                    enum chime_diag_severity severity, FILE *f);

#endif
