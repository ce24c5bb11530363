/* SPDX-License-Identifier: MIT */
/*
 * Tables for people (text-table.h): collected whole, then printed with
 * each column as wide as its widest cell.
 */
#include "text-table.h"

#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "clock.h"
#include "timespan.h"

/* Append a row of n_cols cells (copied); the caller fills notes after. */
struct chime_table_row *
chime_table_add(struct chime_table *tb, const char *const *cells)
{
	struct chime_table_row *row;

	if (chime_grow(&tb->rows, &tb->cap, tb->n_rows + 1, sizeof(*tb->rows)) < 0) {
		tb->oom = true;
		return NULL;
	}
	row = &tb->rows[tb->n_rows++];
	memset(row, 0, sizeof(*row));
	for (size_t i = 0; i < tb->n_cols; i++) {
		row->cells[i] = strdup(cells[i] != NULL ? cells[i] : "-");
		if (row->cells[i] == NULL)
			tb->oom = true;
	}
	return row;
}

void
chime_table_print(FILE *out, struct chime_table *tb)
{
	size_t width[CHIME_TABLE_COLS_MAX] = {0};

	for (size_t r = 0; r < tb->n_rows; r++)
		for (size_t c = 0; c < tb->n_cols; c++)
			if (tb->rows[r].cells[c] != NULL && strlen(tb->rows[r].cells[c]) > width[c])
				width[c] = strlen(tb->rows[r].cells[c]);
	for (size_t r = 0; r < tb->n_rows; r++) {
		size_t last = tb->n_cols; /* cells after the last non-empty one: no padding */

		while (last > 1 && tb->rows[r].cells[last - 1] != NULL &&
		       tb->rows[r].cells[last - 1][0] == '\0')
			last--;
		for (size_t c = 0; c < last; c++) {
			const char *cell =
			        tb->rows[r].cells[c] != NULL ? tb->rows[r].cells[c] : "?";

			if (c + 1 < last)
				fprintf(out, "%-*s  ", (int)width[c], cell);
			else
				fprintf(out, "%s\n", cell);
		}
		if (tb->rows[r].notes != NULL)
			fputs(tb->rows[r].notes, out);
	}
	if (tb->oom)
		fprintf(out, "(out of memory: rows are missing)\n");
}

void
chime_table_free(struct chime_table *tb)
{
	for (size_t r = 0; r < tb->n_rows; r++) {
		for (size_t c = 0; c < tb->n_cols; c++)
			free(tb->rows[r].cells[c]);
		free(tb->rows[r].notes);
	}
	free(tb->rows);
}

/* TEXT up to LEN bytes, with control bytes as \xNN: a report holds what a
 * command printed, which must not drive the operator's terminal. */
void
chime_text_put(FILE *f, const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
}

/* "YYYY-MM-DDTHH:MM:SS" then "Z" or "+HH:MM" becomes "YYYY-MM-DD HH:MM:SS
 * +HH:MM"; anything shorter is copied. */
void
chime_text_rfc3339_cell(const char *rfc, char *buf, size_t size)
{
	size_t n = strlen(rfc);

	if (n < 20) {
		snprintf(buf, size, "%s", rfc);
		return;
	}
	snprintf(buf, size, "%.10s %.8s %s", rfc, rfc + 11,
	         rfc[n - 1] == 'Z' ? "+00:00" : rfc + n - 6);
}

void
chime_text_time(int64_t utc_usec, const struct chime_tz *tz, char *buf, size_t size)
{
	char rfc[CHIME_CLOCK_FORMAT_MAX];
	int64_t frac;

	/* INT64_MIN is the ledger's "no such time" (a run never started). */
	if (utc_usec == INT64_MIN) {
		snprintf(buf, size, "-");
		return;
	}
	frac = utc_usec % 1000000;
	utc_usec -= frac < 0 ? frac + 1000000 : frac;
	if (chime_time_format(utc_usec, tz, rfc, sizeof(rfc)) < 0) {
		snprintf(buf, size, "?");
		return;
	}
	chime_text_rfc3339_cell(rfc, buf, size);
}
