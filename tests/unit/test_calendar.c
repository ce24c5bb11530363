/* SPDX-License-Identifier: MIT */
/*
 * systemd calendar event tests: the grammar (weekdays, dates, "~", "/",
 * lists, optional seconds, keywords, a trailing zone), AND between fields,
 * errors with field and column, and the DST policy chosen from the hour
 * component's shape. Instants next to systemd-analyze's are in
 * tests/data/cron/calendar-systemd.txt (run by test_cron).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "cron.h"
#include "timespan.h"
#include "tz.h"

#define USEC INT64_C(1000000)

/* The first `n` instants after `from`, formatted in `tz`, joined by spaces. */
static void
nexts(const char *text, const char *zone, const char *from, int n, char *out, size_t size)
{
	struct chime_expr *e = NULL;
	struct chime_expr_error err;
	struct chime_tz *tz = NULL;
	struct chime_slot s;
	size_t len = 0;
	int64_t t;

	if (chime_expr_parse(text, NULL, &e, &err) < 0)
		fail_msg("'%s': %s:%u: %s", text, err.field, err.column, err.message);
	assert_int_equal(chime_expr_kind(e), CHIME_EXPR_CALENDAR);
	assert_int_equal(chime_tz_load(zone, NULL, &tz), 0);
	assert_int_equal(chime_time_parse(from, tz, &t), 0);
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		char buf[64];

		assert_int_equal(chime_expr_next(e, tz, t, &s), 0);
		assert_int_equal(chime_time_format(s.instant_usec, tz, buf, sizeof(buf)), 0);
		len += (size_t)snprintf(out + len, size - len, "%s%s", i ? " " : "", buf);
		t = s.instant_usec;
	}
	chime_tz_unref(tz);
	chime_expr_free(e);
}

static void
test_grammar(void **state)
{
	static const struct {
		const char *text, *from, *want;
	} cases[] = {
	        /* Omitted date is every day, omitted time midnight, omitted seconds :00. */
	        {"Mon", "2026-01-01T00:00:00Z",
	         "2026-01-05T00:00:00+00:00 2026-01-12T00:00:00+00:00"},
	        {"monday 12:00", "2026-01-01T00:00:00Z",
	         "2026-01-05T12:00:00+00:00 2026-01-12T12:00:00+00:00"},
	        {"Mon-Wed 12:00", "2026-01-06T13:00:00Z",
	         "2026-01-07T12:00:00+00:00 2026-01-12T12:00:00+00:00"},
	        {"12:00", "2026-01-01T12:00:00Z",
	         "2026-01-02T12:00:00+00:00 2026-01-03T12:00:00+00:00"},
	        {"2026-03-29 02:30:15", "2026-01-01T00:00:00Z", "2026-03-29T02:30:15+00:00"},
	        {"*-*-* *:*:0/20", "2026-01-01T00:00:00Z",
	         "2026-01-01T00:00:20+00:00 2026-01-01T00:00:40+00:00 2026-01-01T00:01:00+00:00"},
	        {"*-*-* 8..10:00,30", "2026-01-01T09:45:00Z",
	         "2026-01-01T10:00:00+00:00 2026-01-01T10:30:00+00:00 2026-01-02T08:00:00+00:00"},
	        /* Last day of February, also with the "-~" spelling. */
	        {"*-02-~1", "2026-01-01T00:00:00Z",
	         "2026-02-28T00:00:00+00:00 2027-02-28T00:00:00+00:00 2028-02-29T00:00:00+00:00"},
	        {"02~1 23:00", "2027-06-01T00:00:00Z", "2028-02-29T23:00:00+00:00"},
	        /* The third last day, and the last Monday of May. */
	        {"*-02~03", "2026-01-01T00:00:00Z",
	         "2026-02-26T00:00:00+00:00 2027-02-26T00:00:00+00:00 2028-02-27T00:00:00+00:00"},
	        {"Mon *-05~07/1", "2026-01-01T00:00:00Z",
	         "2026-05-25T00:00:00+00:00 2027-05-31T00:00:00+00:00 2028-05-29T00:00:00+00:00"},
	        /* AND between weekday and date: first Saturday of the month. */
	        {"Sat *-*-1..7 03:00", "2026-01-01T00:00:00Z",
	         "2026-01-03T03:00:00+00:00 2026-02-07T03:00:00+00:00 2026-03-07T03:00:00+00:00"},
	        /* Years: lists, ranges, repetitions, leap days. */
	        {"2028,2032-02-29", "2026-01-01T00:00:00Z",
	         "2028-02-29T00:00:00+00:00 2032-02-29T00:00:00+00:00"},
	        {"2030/5-01-01", "2026-01-01T00:00:00Z",
	         "2030-01-01T00:00:00+00:00 2035-01-01T00:00:00+00:00"},
	        {"Sun *-02-29", "2026-01-01T00:00:00Z",
	         "2032-02-29T00:00:00+00:00 2060-02-29T00:00:00+00:00"},
	        {"*-12-31 23:59:59", "2026-12-31T23:59:59Z", "2027-12-31T23:59:59+00:00"},
	        {"quarterly", "2026-11-15T00:00:00Z",
	         "2027-01-01T00:00:00+00:00 2027-04-01T00:00:00+00:00"},
	        {"semiannually", "2026-11-15T00:00:00Z",
	         "2027-01-01T00:00:00+00:00 2027-07-01T00:00:00+00:00"},
	        {"annually", "2026-11-15T00:00:00Z", "2027-01-01T00:00:00+00:00"},
	        {"minutely", "2026-11-15T00:00:30Z", "2026-11-15T00:01:00+00:00"},
	        {"*:*", "2026-11-15T00:00:30Z", "2026-11-15T00:01:00+00:00"},
	        /* An extension: systemd has no "*\/2"; chime reads it as "0/2". */
	        {"*/2:15", "2026-11-15T00:30:00Z",
	         "2026-11-15T02:15:00+00:00 2026-11-15T04:15:00+00:00"},
	        {"  daily   UTC ", "2026-11-15T00:30:00Z", "2026-11-16T00:00:00+00:00"},
	};
	char out[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = 1;

		for (const char *p = cases[i].want; *p; p++)
			n += *p == ' ';
		nexts(cases[i].text, "UTC", cases[i].from, n, out, sizeof(out));
		if (strcmp(out, cases[i].want) != 0)
			fail_msg("'%s' from %s: got %s, want %s", cases[i].text, cases[i].from, out,
			         cases[i].want);
	}
}

static void
test_zone(void **state)
{
	static const struct {
		const char *text, *zone;
	} cases[] = {
	        {"*-*-* 02:30 Europe/Berlin", "Europe/Berlin"},
	        {"Mon..Fri 09:00 America/New_York", "America/New_York"},
	        {"daily UTC", "UTC"},
	        {"hourly Australia/Lord_Howe", "Australia/Lord_Howe"},
	        {"*-*-* 02:30", NULL},
	};
	struct chime_expr *e = NULL;
	struct chime_expr_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(chime_expr_parse(cases[i].text, NULL, &e, &err), 0);
		if (cases[i].zone == NULL)
			assert_null(chime_expr_zone(e));
		else
			assert_string_equal(chime_expr_zone(e), cases[i].zone);
		assert_false(chime_expr_days_ambiguous(e));
		e = chime_expr_free(e);
	}
}

static void
test_dst(void **state)
{
	char out[512];

	(void)state;
	/* A fixed hour runs at the jump, keyed by its slot; '*' hours follow real time. */
	nexts("*-*-* 02:30", "Europe/Berlin", "2026-03-29T00:00:00+01:00", 2, out, sizeof(out));
	assert_string_equal(out, "2026-03-29T03:00:00+02:00 2026-03-30T02:30:00+02:00");
	nexts("*-*-* *:30", "Europe/Berlin", "2026-03-29T01:00:00+01:00", 2, out, sizeof(out));
	assert_string_equal(out, "2026-03-29T01:30:00+01:00 2026-03-29T03:30:00+02:00");
	nexts("*-*-* 02:30", "Europe/Berlin", "2026-10-25T00:00:00+02:00", 2, out, sizeof(out));
	assert_string_equal(out, "2026-10-25T02:30:00+02:00 2026-10-26T02:30:00+01:00");
	nexts("*:30", "Europe/Berlin", "2026-10-25T02:00:00+02:00", 3, out, sizeof(out));
	assert_string_equal(
	        out,
	        "2026-10-25T02:30:00+02:00 2026-10-25T02:30:00+01:00 2026-10-25T03:30:00+01:00");
	nexts("0/2:00", "America/New_York", "2026-11-01T00:30:00-04:00", 3, out, sizeof(out));
	assert_string_equal(
	        out,
	        "2026-11-01T02:00:00-05:00 2026-11-01T04:00:00-05:00 2026-11-01T06:00:00-05:00");
	nexts("Sun 02:15", "Australia/Lord_Howe", "2026-10-01T00:00:00+10:30", 2, out, sizeof(out));
	assert_string_equal(out, "2026-10-04T02:30:00+11:00 2026-10-11T02:15:00+11:00");
	nexts("*-*-* 02:30", "Asia/Kolkata", "2026-10-25T00:00:00+05:30", 1, out, sizeof(out));
	assert_string_equal(out, "2026-10-25T02:30:00+05:30");
}

static void
test_errors(void **state)
{
	static const struct {
		const char *text, *field;
		unsigned column;
		const char *message;
	} cases[] = {
	        {"Mon *-*-32", "calendar day", 9, "calendar day '32' out of range 1-31"},
	        {"*-13-01", "calendar month", 3, "calendar month '13' out of range 1-12"},
	        {"*-*-* 24:00", "calendar hour", 7, "calendar hour '24' out of range 0-23"},
	        {"*-*-* 12:60", "calendar minute", 10, "out of range 0-59"},
	        {"*-*-* 12:00:61", "calendar second", 13, "out of range 0-59"},
	        {"*-*-* 12:00:00.5", "calendar second", 15, "fractional"},
	        {"*-*-22..16", "calendar day", 5, "goes backwards"},
	        {"*-*-1/0", "calendar day", 7, "out of range 1-31"},
	        {"Fun 12:00", "calendar weekday", 1, "'Fun' is not a weekday"},
	        {"Sat..Mon 12:00", "calendar weekday", 1, "goes backwards"},
	        {"Fri..Mon", "calendar weekday", 1, "goes backwards"},
	        {"*-*-* 12:00 Mars/Olympus", "calendar zone", 13, "is not a known time zone"},
	        {"*-*-* 12:00 ../etc/passwd", "calendar", 13, "is not a weekday, date"},
	        {"*-*-* 12:00 UTC extra", "calendar", 17, "follows the time zone"},
	        {"*-*-*-* 12:00", "calendar date", 1, "too many parts"},
	        {"*-*-* 1:2:3:4", "calendar time", 7, "too many parts"},
	        {"*-*-*,", "calendar day", 7, "empty item"},
	        {"*-02-30", "calendar date", 1, "never matches"},
	        {"2027-02-29", "calendar date", 1, "never matches"},
	        {"Mon 2026-03-03", "calendar date", 1, "never matches"},
	        {"daily 12:00", "calendar zone", 7, "time zone"},
	        {"Mon *-*-~*", "calendar day", 10, "from the end"},
	        {"1..5", "calendar", 1, "is not a weekday, date"},
	};
	struct chime_expr *e = NULL;
	struct chime_expr_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(chime_expr_parse(cases[i].text, NULL, &e, &err), -EINVAL);
		assert_null(e);
		if (strcmp(err.field, cases[i].field) != 0 || err.column != cases[i].column ||
		    strstr(err.message, cases[i].message) == NULL)
			fail_msg("'%s': got %s:%u: %s; want %s:%u: %s", cases[i].text, err.field,
			         err.column, err.message, cases[i].field, cases[i].column,
			         cases[i].message);
	}
}

static void
test_prev(void **state)
{
	struct chime_expr *e = NULL;
	struct chime_expr_error err;
	struct chime_slot s;
	int64_t t;
	char buf[64];

	(void)state;
	assert_int_equal(chime_expr_parse("Mon *-*-16..22 02:00", NULL, &e, &err), 0);
	assert_int_equal(chime_time_parse("2026-04-20T02:00:00Z", NULL, &t), 0);
	assert_int_equal(chime_expr_prev(e, NULL, t, &s), 0);
	assert_int_equal(chime_time_format(s.instant_usec, NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2026-04-20T02:00:00+00:00");
	assert_int_equal(chime_expr_prev(e, NULL, t - 1, &s), 0);
	assert_int_equal(chime_time_format(s.instant_usec, NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2026-03-16T02:00:00+00:00");
	e = chime_expr_free(e);

	assert_int_equal(chime_expr_parse("2026..2027-*~1 12:00", NULL, &e, &err), 0);
	assert_int_equal(chime_time_parse("2030-01-01T00:00:00Z", NULL, &t), 0);
	assert_int_equal(chime_expr_prev(e, NULL, t, &s), 0);
	assert_int_equal(chime_time_format(s.instant_usec, NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2027-12-31T12:00:00+00:00");
	assert_int_equal(chime_time_parse("2026-01-31T11:59:59Z", NULL, &t), 0);
	assert_int_equal(chime_expr_prev(e, NULL, t, &s), -ENOENT);
	assert_int_equal(chime_time_parse("2027-12-31T12:00:00Z", NULL, &t), 0);
	assert_int_equal(chime_expr_next(e, NULL, t, &s), -ENOENT);
	e = chime_expr_free(e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_grammar), cmocka_unit_test(test_zone),
	        cmocka_unit_test(test_dst),     cmocka_unit_test(test_errors),
	        cmocka_unit_test(test_prev),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
