/* SPDX-License-Identifier: MIT */
/*
 * `--log-format=json` lines (log-json.c): each is one valid JSON object
 * whatever the message bytes (quotes, control bytes, invalid UTF-8), with
 * the run's fields when there is a run, and times to the millisecond.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "log-json.h"

/* 2026-12-04T16:20:00.120456Z */
#define T (INT64_C(1796401200) * 1000000 + 120456)

static json_t *
parse_line(char *line)
{
	json_error_t err;
	json_t *v;
	size_t n;

	assert_non_null(line);
	n = strlen(line);
	assert_true(n > 0 && line[n - 1] == '\n');
	assert_null(memchr(line, '\n', n - 1)); /* one event, one line */
	v = json_loadb(line, n, 0, &err);
	if (v == NULL)
		fail_msg("not JSON (%s): %s", err.text, line);
	free(line);
	return v;
}

static void
test_plain_event(void **state)
{
	json_t *v = parse_line(chime__log_json_line(6, NULL, "chimed 0.1.0 ready", T));

	(void)state;
	assert_string_equal(json_string_value(json_object_get(v, "time")),
	                    "2026-12-04T16:20:00.120Z");
	assert_string_equal(json_string_value(json_object_get(v, "level")), "info");
	assert_string_equal(json_string_value(json_object_get(v, "message")), "chimed 0.1.0 ready");
	assert_int_equal(json_object_size(v), 3);
	json_decref(v);
}

static void
test_run_event(void **state)
{
	struct chime_log_run run = {.job = "sync-emails",
	                            .plugin = "exec",
	                            .run_id = 812,
	                            .scheduled_for_usec = INT64_C(1796401200) * 1000000,
	                            .status = "failed",
	                            .message_id = CHIME_MESSAGE_RUN_FAILED,
	                            .summary = "{\"counts\":{\"rows\":3}}"};
	json_t *v = parse_line(chime__log_json_line(3, &run, "boom", T));

	(void)state;
	assert_string_equal(json_string_value(json_object_get(v, "level")), "error");
	assert_string_equal(json_string_value(json_object_get(v, "job")), "sync-emails");
	assert_string_equal(json_string_value(json_object_get(v, "plugin")), "exec");
	assert_int_equal(json_integer_value(json_object_get(v, "run_id")), 812);
	assert_string_equal(json_string_value(json_object_get(v, "scheduled_for")),
	                    "2026-12-04T16:20:00Z");
	assert_string_equal(json_string_value(json_object_get(v, "status")), "failed");
	assert_int_equal(json_integer_value(
	                         json_object_get(json_object_get(json_object_get(v, "summary"),
	                                                         "counts"),
	                                         "rows")),
	                 3);
	json_decref(v);
}

/* What a job prints goes into messages: the line stays valid JSON. */
static void
test_hostile_bytes(void **state)
{
	const char msg[] = "q\"b\\s\nnl\ttab\x1b[31mesc\x7f del \xc3\xa9 ok \xff\xfe bad "
	                   "\xe2\x82 cut \xed\xa0\x80 surrogate \xf0\x9f\x98\x80 emoji";
	json_t *v = parse_line(chime__log_json_line(6, NULL, msg, T));

	(void)state;
	assert_string_equal(json_string_value(json_object_get(v, "message")),
	                    "q\"b\\s\nnl\ttab\x1b[31mesc\x7f del \xc3\xa9 ok \xef\xbf\xbd\xef\xbf\xbd"
	                    " bad \xef\xbf\xbd\xef\xbf\xbd cut \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	                    " surrogate \xf0\x9f\x98\x80 emoji");
	json_decref(v);
}

static void
test_log_time(void **state)
{
	char buf[64];

	(void)state;
	chime__log_time(T, buf, sizeof(buf));
	assert_string_equal(buf, "2026-12-04T16:20:00.120Z");
	chime__log_time(INT64_C(1796401200) * 1000000, buf, sizeof(buf));
	assert_string_equal(buf, "2026-12-04T16:20:00.000Z");
	chime__log_time(-1, buf, sizeof(buf)); /* just before the epoch */
	assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_plain_event),
	        cmocka_unit_test(test_run_event),
	        cmocka_unit_test(test_hostile_bytes),
	        cmocka_unit_test(test_log_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
