/* SPDX-License-Identifier: MIT */
/*
 * The control protocol's requests (lib/ops/control.c): a pause carries
 * who and why ("by", "note"), both optional, only on pause, bounded and
 * without control characters; format and parse agree.
 */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"

static int
parse(const char *line, struct chime_control_request *rq, char *err, size_t size)
{
	return chime_control_request_parse(line, strlen(line), rq, err, size);
}

static void
test_pause_note_round_trip(void **state)
{
	struct chime_control_request rq = {.cmd = CHIME_CONTROL_PAUSE}, back;
	char err[256], *line;

	(void)state;
	snprintf(rq.job, sizeof(rq.job), "renewals");
	snprintf(rq.by, sizeof(rq.by), "alice");
	snprintf(rq.note, sizeof(rq.note), "card processor outage, \"INC-4312\"");
	line = chime_control_request_format(&rq);
	assert_non_null(line);
	assert_int_equal(parse(line, &back, err, sizeof(err)), 0);
	assert_int_equal(back.cmd, CHIME_CONTROL_PAUSE);
	assert_string_equal(back.job, "renewals");
	assert_string_equal(back.by, "alice");
	assert_string_equal(back.note, "card processor outage, \"INC-4312\"");
	free(line);

	/* Without them: empty, and not sent. */
	rq.by[0] = rq.note[0] = '\0';
	line = chime_control_request_format(&rq);
	assert_non_null(line);
	assert_null(strstr(line, "note"));
	assert_int_equal(parse(line, &back, err, sizeof(err)), 0);
	assert_string_equal(back.by, "");
	assert_string_equal(back.note, "");
	free(line);
}

static void
test_pause_note_refused(void **state)
{
	static const struct {
		const char *line, *error;
	} cases[] = {
	        {"{\"cmd\":\"resume\",\"job\":\"a\",\"note\":\"x\"}", "'note' is only for 'pause'"},
	        {"{\"cmd\":\"history\",\"job\":\"a\",\"by\":\"x\"}", "'by' is only for 'pause'"},
	        {"{\"cmd\":\"pause\",\"job\":\"a\",\"note\":5}", "'note' must be a string"},
	        {"{\"cmd\":\"pause\",\"job\":\"a\",\"note\":\"two\\nlines\"}",
	         "'note' must not hold control characters"},
	        {"{\"cmd\":\"pause\",\"job\":\"a\",\"by\":\"\\u001b[31m\"}",
	         "'by' must not hold control characters"},
	};
	struct chime_control_request rq;
	char err[256], line[1024], note[CHIME_CONTROL_NOTE_MAX + 2];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		assert_int_equal(parse(cases[i].line, &rq, err, sizeof(err)), -EINVAL);
		if (strstr(err, cases[i].error) == NULL)
			fail_msg("%s: error '%s', want '%s'", cases[i].line, err, cases[i].error);
	}
	memset(note, 'x', sizeof(note) - 1);
	note[sizeof(note) - 1] = '\0';
	snprintf(line, sizeof(line), "{\"cmd\":\"pause\",\"job\":\"a\",\"note\":\"%s\"}", note);
	assert_int_equal(parse(line, &rq, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "at most 500 bytes"));
	note[sizeof(note) - 2] = '\0'; /* exactly 500 */
	snprintf(line, sizeof(line), "{\"cmd\":\"pause\",\"job\":\"a\",\"note\":\"%s\"}", note);
	assert_int_equal(parse(line, &rq, err, sizeof(err)), 0);
	assert_int_equal(strlen(rq.note), CHIME_CONTROL_NOTE_MAX);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_pause_note_round_trip),
	        cmocka_unit_test(test_pause_note_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
