/* SPDX-License-Identifier: MIT */
/*
 * The one clock and the one timestamp formatter (clock.h), and the civil
 * calendar every layer shares (civil.h): fixed cases, bad sizes and
 * years, and a cross-check against the C library's gmtime_r() over the
 * whole range RFC 3339 can write.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "civil.h"
#include "clock.h"

#define SEC INT64_C(1000000)

static void
test_format_utc(void **state)
{
	const struct {
		int64_t usec;
		const char *text;
	} cases[] = {
	        {0, "1970-01-01T00:00:00Z"},
	        {1500000, "1970-01-01T00:00:01.5Z"},
	        {1000001, "1970-01-01T00:00:01.000001Z"},
	        {-1, "1969-12-31T23:59:59.999999Z"},
	        {-SEC, "1969-12-31T23:59:59Z"},
	        {INT64_C(1795255410) * SEC, "2026-11-21T10:03:30Z"},
	        {INT64_C(1795255410) * SEC + 123456, "2026-11-21T10:03:30.123456Z"},
	        {INT64_C(951782400) * SEC, "2000-02-29T00:00:00Z"},
	        {INT64_C(-62167219200) * SEC, "0000-01-01T00:00:00Z"},
	        {INT64_C(253402300799) * SEC, "9999-12-31T23:59:59Z"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[CHIME_CLOCK_FORMAT_MAX];
		int n = chime_clock_format_utc(cases[i].usec, buf, sizeof(buf));

		if (n != (int)strlen(cases[i].text) || strcmp(buf, cases[i].text) != 0)
			fail_msg("chime_clock_format_utc(%" PRId64 ") = %d '%s', want '%s'",
			         cases[i].usec, n, n > 0 ? buf : "", cases[i].text);
	}
}

static void
test_format_offset(void **state)
{
	const struct {
		int64_t usec;
		int32_t offset;
		const char *text;
	} cases[] = {
	        {0, 0, "1970-01-01T00:00:00+00:00"},
	        {1500000, 0, "1970-01-01T00:00:01.5+00:00"},
	        {0, 3600, "1970-01-01T01:00:00+01:00"},
	        {0, -(3 * 3600 + 1800), "1969-12-31T20:30:00-03:30"},
	        {INT64_C(1774746000) * SEC, 7200, "2026-03-29T03:00:00+02:00"},
	        /* Amsterdam until 1937: +00:19:32. */
	        {INT64_C(-1500000000) * SEC, 1172, "1922-06-20T21:39:32+00:19:32"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[CHIME_CLOCK_FORMAT_MAX];
		int n = chime_clock_format_offset(cases[i].usec, cases[i].offset, buf, sizeof(buf));

		if (n != (int)strlen(cases[i].text) || strcmp(buf, cases[i].text) != 0)
			fail_msg("chime_clock_format_offset(%" PRId64 ", %d) = %d '%s', want '%s'",
			         cases[i].usec, (int)cases[i].offset, n, n > 0 ? buf : "",
			         cases[i].text);
	}
}

static void
test_format_bad(void **state)
{
	char buf[CHIME_CLOCK_FORMAT_MAX];

	/* The text and its NUL must fit: 20 bytes are one too few. */
	assert_int_equal(chime_clock_format_utc(0, buf, 20), -ENOBUFS);
	assert_int_equal(chime_clock_format_utc(0, buf, 21), 20);
	assert_int_equal(chime_clock_format_utc(INT64_C(253402300800) * SEC, buf, sizeof(buf)),
	                 -ERANGE);
	assert_int_equal(chime_clock_format_utc(INT64_C(-62167219201) * SEC, buf, sizeof(buf)),
	                 -ERANGE);
	assert_int_equal(chime_clock_format_offset(INT64_C(253402300799) * SEC, 3600, buf,
	                                           sizeof(buf)),
	                 -ERANGE);
}

/* Every 5 days, 7 hours and 13 seconds from year 1 to 9999, as gmtime_r() reads it. */
static void
test_format_against_libc(void **state)
{
	const int64_t first = INT64_C(-62135596800), last = INT64_C(253402300799);

	for (int64_t t = first; t <= last; t += 5 * CHIME_SEC_PER_DAY + 7 * 3600 + 13) {
		char buf[CHIME_CLOCK_FORMAT_MAX], want[CHIME_CLOCK_FORMAT_MAX];
		time_t tt = (time_t)t;
		struct tm tm;

		assert_non_null(gmtime_r(&tt, &tm));
		snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
		         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		assert_int_equal(chime_clock_format_utc(t * SEC, buf, sizeof(buf)), 20);
		if (strcmp(buf, want) != 0)
			fail_msg("chime_clock_format_utc(%" PRId64 ") = '%s', want '%s'", t * SEC,
			         buf, want);
	}
}

/* The civil calendar against gmtime_r(), a day at a time over 1600-2500. */
static void
test_civil(void **state)
{
	int64_t first = chime_days_from_civil(1600, 1, 1), last = chime_days_from_civil(2500, 12, 31);

	assert_int_equal(chime_days_from_civil(1970, 1, 1), 0);
	assert_int_equal(chime_floor_div(-1, 86400), -1);
	assert_int_equal(chime_floor_div(86400, 86400), 1);
	assert_int_equal(chime_days_in_month(2000, 2), 29);
	assert_int_equal(chime_days_in_month(1900, 2), 28);
	assert_int_equal(chime_days_in_month(2026, 12), 31);
	for (int64_t days = first; days <= last; days++) {
		time_t tt = (time_t)(days * CHIME_SEC_PER_DAY);
		unsigned m, d;
		struct tm tm;
		int64_t y;

		assert_non_null(gmtime_r(&tt, &tm));
		chime_civil_from_days(days, &y, &m, &d);
		if (y != tm.tm_year + 1900 || (int)m != tm.tm_mon + 1 || (int)d != tm.tm_mday ||
		    (int)chime_weekday_from_days(days) != tm.tm_wday)
			fail_msg("day %" PRId64 " = %" PRId64 "-%u-%u wd %u, want %d-%d-%d wd %d",
			         days, y, m, d, chime_weekday_from_days(days), tm.tm_year + 1900,
			         tm.tm_mon + 1, tm.tm_mday, tm.tm_wday);
		assert_int_equal(chime_days_from_civil(y, m, d), days);
	}
}

static void
test_clocks(void **state)
{
	int64_t mono = chime_clock_mono_usec(), wall = chime_clock_wall_usec();
	time_t now = time(NULL);

	/* The wall clock in microseconds agrees with time(2) to a second or two. */
	assert_true(wall / SEC >= (int64_t)now - 2 && wall / SEC <= (int64_t)now + 2);
	assert_true(chime_clock_mono_usec() >= mono);
	assert_true(chime_clock_wall(&chime_clock_system) >= wall);
	assert_true(chime_clock_mono(&chime_clock_system) >= mono);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_format_utc),   cmocka_unit_test(test_format_offset),
	        cmocka_unit_test(test_format_bad),   cmocka_unit_test(test_format_against_libc),
	        cmocka_unit_test(test_civil),        cmocka_unit_test(test_clocks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
