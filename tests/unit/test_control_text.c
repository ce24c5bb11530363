/* SPDX-License-Identifier: MIT */
/*
 * Golden tests of the tables chimectl prints (control-text.c): each
 * tests/data/control/NAME.json, a reply as chimed sends it, rendered at a
 * fixed instant must equal NAME.txt byte for byte. Times in each job's
 * zone with the offset, spans rounded, rows sorted by the next fire,
 * report items capped and control bytes escaped. CHIME_GOLDEN_UPDATE=1
 * rewrites the .txt files (review the diff before committing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "control-text.h"
#include "tz.h"

/* 2026-12-04T15:25:02Z */
#define NOW_USEC (INT64_C(1796397902) * 1000000)

typedef void render_fn(const struct chime_control_text *t, json_t *reply);

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;

	if (f == NULL)
		return NULL;
	if (getdelim(&buf, &len, '\0', f) < 0) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static void
golden(const char *name, render_fn *render, bool all_items)
{
	char in[256], want_path[256], *got = NULL, *want;
	struct chime_control_text t = {.now_usec = NOW_USEC, .all_items = all_items};
	json_error_t jerr;
	json_t *reply;
	size_t len = 0;

	snprintf(in, sizeof(in), "data/control/%s.json", name);
	snprintf(want_path, sizeof(want_path), "data/control/%s%s.txt", name,
	         all_items ? "-items" : "");
	reply = json_load_file(in, 0, &jerr);
	if (reply == NULL)
		fail_msg("%s:%d: %s", in, jerr.line, jerr.text);
	t.zones = chime_tz_cache_new();
	assert_non_null(t.zones);
	t.out = open_memstream(&got, &len);
	assert_non_null(t.out);
	render(&t, reply);
	fclose(t.out);
	if (getenv("CHIME_GOLDEN_UPDATE") != NULL) {
		FILE *f = fopen(want_path, "w");

		assert_non_null(f);
		fputs(got, f);
		fclose(f);
	}
	want = slurp(want_path);
	if (want == NULL)
		fail_msg("cannot read %s", want_path);
	if (strcmp(got, want) != 0)
		fail_msg("%s rendered differently from %s:\n--- got\n%s--- want\n%s", in, want_path,
		         got, want);
	free(want);
	free(got);
	json_decref(reply);
	chime_tz_cache_free(t.zones);
}

static void
test_status(void **state)
{
	(void)state;
	golden("status", chime_control_text_status, false);
}

static void
test_list(void **state)
{
	(void)state;
	golden("list", chime_control_text_list, false);
}

static void
test_history(void **state)
{
	(void)state;
	golden("history", chime_control_text_history, false);
	golden("history", chime_control_text_history, true);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_status),
	        cmocka_unit_test(test_list),
	        cmocka_unit_test(test_history),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
