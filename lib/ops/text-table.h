/* SPDX-License-Identifier: MIT */
/*
 * The tables chimectl prints (control-text.c, audit-text.c): a table is
 * collected whole, then printed with each column as wide as its widest
 * cell, so a long job name or error never shifts the columns after it;
 * the last column is not padded. And text from outside (a run's error, a
 * command's output, a pause note) written with its control bytes escaped,
 * so it cannot drive the operator's terminal. Pure: no logging.
 */
#ifndef CHIME_TEXT_TABLE_H
#define CHIME_TEXT_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct chime_tz;

#define CHIME_TABLE_COLS_MAX 9

struct chime_table_row {
	char *cells[CHIME_TABLE_COLS_MAX];
	char *notes; /* lines printed under the row ("  counts: ..."), or NULL */
};

struct chime_table {
	size_t n_cols, n_rows, cap;
	struct chime_table_row *rows;
	bool oom; /* a row is missing: printed as a note */
};

/* Append a row of n_cols cells (copied; NULL prints as "-"); the caller
 * may set its notes (a malloc'd string) after. NULL on OOM. */
struct chime_table_row *chime_table_add(struct chime_table *tb, const char *const *cells);
void chime_table_print(FILE *out, struct chime_table *tb);
void chime_table_free(struct chime_table *tb);

/* TEXT up to LEN bytes, with control bytes as \xNN. */
void chime_text_put(FILE *f, const char *text, size_t len);

/* An RFC 3339 time as a cell, keeping its offset: "2026-12-04T16:20:00+01:00"
 * becomes "2026-12-04 16:20:00 +01:00" ("Z" becomes "+00:00"). */
void chime_text_rfc3339_cell(const char *rfc, char *buf, size_t size);
/* The instant in `tz` (NULL: UTC), to the second, as such a cell; "-" for
 * INT64_MIN (no such time), "?" when it cannot be written. */
void chime_text_time(int64_t utc_usec, const struct chime_tz *tz, char *buf, size_t size);

#endif
