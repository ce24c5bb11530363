/* SPDX-License-Identifier: MIT */
/*
 * The body shared by the schedule expression fuzz targets (fuzz_cron.c,
 * fuzz_calendar.c): parse under two option sets and, when the text
 * compiles, walk next and prev a few steps in UTC and in Europe/Berlin,
 * checking that next moves forward and prev backward. Each target includes
 * this header once and calls fuzz_expr_one(); the targets differ only by
 * their seed corpora.
 */
#ifndef CHIME_FUZZ_EXPR_COMMON_H
#define CHIME_FUZZ_EXPR_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"
#include "tz.h"

static void
fuzz_expr_walk(const struct chime_expr *e, const struct chime_tz *tz, int64_t t)
{
	struct chime_slot s;
	int64_t u = t;

	for (int i = 0; i < 4; i++) {
		if (chime_expr_next(e, tz, u, &s) < 0)
			break;
		if (s.instant_usec <= u)
			abort();
		u = s.instant_usec;
	}
	u = t;
	for (int i = 0; i < 4; i++) {
		if (chime_expr_prev(e, tz, u, &s) < 0)
			break;
		if (s.instant_usec > u)
			abort();
		u = s.instant_usec - 1;
	}
}

static int
fuzz_expr_one(const uint8_t *data, size_t size)
{
	static struct chime_tz *berlin;
	static const struct chime_expr_options opts[2] = {
	        {CHIME_DAYS_ANY, CHIME_DST_GAP_AUTO, CHIME_DST_OVERLAP_AUTO},
	        {CHIME_DAYS_ALL, CHIME_DST_GAP_SHIFT, CHIME_DST_OVERLAP_BOTH},
	};
	/* Around the 2026 DST nights in Berlin, the epoch, and far out. */
	static const int64_t starts[] = {INT64_C(1774742400000000), INT64_C(1792886400000000),
	                                 INT64_C(0), INT64_C(253402000000000000),
	                                 INT64_C(-62135000000000000)};
	struct chime_expr_error err;
	struct chime_tz *utc;
	char *text;

	if (size > 4096)
		return 0;
	if (berlin == NULL && chime_tz_load("Europe/Berlin", NULL, &berlin) < 0)
		berlin = NULL;
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	utc = chime_tz_utc();
	for (int k = 0; k < 2; k++) {
		struct chime_expr *e = NULL;

		if (chime_expr_parse(text, &opts[k], &e, &err) < 0) {
			if (err.message[0] == '\0' || err.field[0] == '\0')
				abort();
			continue;
		}
		(void)chime_expr_kind(e);
		(void)chime_expr_zone(e);
		for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
			fuzz_expr_walk(e, utc, starts[i]);
			if (berlin != NULL)
				fuzz_expr_walk(e, berlin, starts[i]);
		}
		chime_expr_free(e);
	}
	chime_tz_unref(utc);
	free(text);
	return 0;
}

#endif
