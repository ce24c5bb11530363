/* SPDX-License-Identifier: MIT */
/*
 * Time spans (systemd.time(7) units) and RFC 3339 timestamps: parse,
 * format, bad input, and round trips in DST zones.
 */
#include <errno.h>
#include <stdbool.h>
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

#include "timespan.h"
#include "tz.h"

#define SEC  INT64_C(1000000)
#define MIN  (60 * SEC)
#define HOUR (60 * MIN)
#define DAY  (24 * HOUR)

static int64_t
utc_usec(int64_t y, unsigned mo, unsigned d, int h, int mi, int s)
{
	return (chime_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) * SEC;
}

static void
test_span_parse(void **state)
{
	const struct {
		const char *text;
		int r;
		int64_t usec;
	} cases[] = {
	        {"30s", 0, 30 * SEC},
	        {"5min", 0, 5 * MIN},
	        {"1h 30min", 0, 90 * MIN},
	        {"1h30min", 0, 90 * MIN},
	        {"  2d ", 0, 2 * DAY},
	        {"500ms", 0, 500000},
	        {"1w", 0, 7 * DAY},
	        {"3 weeks", 0, 21 * DAY},
	        {"90", 0, 90 * SEC},
	        {"0", 0, 0},
	        {"1.5h", 0, 90 * MIN},
	        {"0.5s", 0, 500000},
	        {".25s", 0, 250000},
	        {"2 hours 1 minute 5 seconds", 0, 2 * HOUR + MIN + 5 * SEC},
	        {"1m", 0, MIN},
	        {"1M", 0, INT64_C(2629800) * SEC},
	        {"1y", 0, INT64_C(31557600) * SEC},
	        {"2 years", 0, INT64_C(63115200) * SEC},
	        {"10us", 0, 10},
	        {"10usec", 0, 10},
	        {"10\xc2\xb5s", 0, 10},
	        {"7msec", 0, 7000},
	        {"1hr", 0, HOUR},
	        {"1d 1us", 0, DAY + 1},
	        {"", -EINVAL, 0},
	        {"   ", -EINVAL, 0},
	        {"-5s", -EINVAL, 0},
	        {"5x", -EINVAL, 0},
	        {"5 parsecs", -EINVAL, 0},
	        {"s", -EINVAL, 0},
	        {"1e3", -EINVAL, 0},
	        {"5s,", -EINVAL, 0},
	        {"5sec5", 0, 10 * SEC},
	        {"5mins", -EINVAL, 0},
	        {".", -EINVAL, 0},
	        {"99999999999999999999s", -ERANGE, 0},
	        {"300000y", -ERANGE, 0},
	        {"9223372036854s", 0, INT64_C(9223372036854) * SEC},
	        {"9223372036855s", -ERANGE, 0},
	        /* Found by fuzz_cron: long fractions of large units overflowed. */
	        {"1h0000000.500000000000000000000000min", 0, HOUR + 30 * SEC},
	        {"1.999999999999999y", 0, INT64_C(63115199968442)},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t usec = -42;
		int r = chime_timespan_parse(cases[i].text, &usec);

		if (r != cases[i].r)
			fail_msg("chime_timespan_parse('%s') = %d, want %d", cases[i].text, r,
			         cases[i].r);
		if (r == 0 && usec != cases[i].usec)
			fail_msg("chime_timespan_parse('%s') gave %lld, want %lld", cases[i].text,
			         (long long)usec, (long long)cases[i].usec);
		if (r != 0)
			assert_int_equal(usec, -42);
	}
}

static void
test_span_format(void **state)
{
	const struct {
		int64_t usec;
		const char *text;
	} cases[] = {
	        {0, "0"},
	        {30 * SEC, "30s"},
	        {90 * MIN, "1h 30min"},
	        {250000, "250ms"},
	        {DAY + 1, "1d 1us"},
	        {7 * DAY, "1w"},
	        {9 * DAY + 5 * SEC, "1w 2d 5s"},
	        {INT64_C(31557600) * SEC, "1y"},
	        {INT64_C(2629800) * SEC, "1month"},
	};
	char buf[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t back = -1;

		assert_int_equal(chime_timespan_format(cases[i].usec, buf, sizeof(buf)), 0);
		assert_string_equal(buf, cases[i].text);
		assert_int_equal(chime_timespan_parse(buf, &back), 0);
		assert_int_equal(back, cases[i].usec);
	}
	assert_int_equal(chime_timespan_format(90 * MIN, buf, 5), -ENOBUFS);
	assert_int_equal(chime_timespan_format(-1, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(chime_timespan_format(INT64_MAX, buf, sizeof(buf)), 0);
	{
		int64_t back = 0;

		assert_int_equal(chime_timespan_parse(buf, &back), 0);
		assert_int_equal(back, INT64_MAX);
	}
}

static struct chime_tz *
load(const char *name)
{
	struct chime_tz *tz = NULL;

	assert_int_equal(chime_tz_load(name, NULL, &tz), 0);
	return tz;
}

static void
test_time_format(void **state)
{
	const struct {
		const char *zone; /* NULL: UTC */
		int64_t usec;
		const char *text;
	} cases[] = {
	        {NULL, 0, "1970-01-01T00:00:00+00:00"},
	        {"UTC", 0, "1970-01-01T00:00:00+00:00"},
	        {NULL, 1500000, "1970-01-01T00:00:01.5+00:00"},
	        {NULL, 1000001, "1970-01-01T00:00:01.000001+00:00"},
	        {NULL, -1, "1969-12-31T23:59:59.999999+00:00"},
	        {"Asia/Dubai", utc_usec(2026, 11, 22, 22, 0, 0), "2026-11-23T02:00:00+04:00"},
	        {"Europe/Berlin", utc_usec(2026, 3, 29, 0, 59, 59), "2026-03-29T01:59:59+01:00"},
	        {"Europe/Berlin", utc_usec(2026, 3, 29, 1, 0, 0), "2026-03-29T03:00:00+02:00"},
	        {"Europe/Berlin", utc_usec(2026, 10, 25, 0, 30, 0), "2026-10-25T02:30:00+02:00"},
	        {"Europe/Berlin", utc_usec(2026, 10, 25, 1, 30, 0), "2026-10-25T02:30:00+01:00"},
	        {"America/New_York", utc_usec(2026, 11, 1, 6, 30, 0), "2026-11-01T01:30:00-05:00"},
	        {"Australia/Lord_Howe", utc_usec(2026, 7, 1, 0, 0, 0), "2026-07-01T10:30:00+10:30"},
	        {"Asia/Kolkata", utc_usec(2024, 2, 28, 20, 0, 0), "2024-02-29T01:30:00+05:30"},
	        {"America/St_Johns", utc_usec(2026, 1, 1, 3, 30, 0), "2026-01-01T00:00:00-03:30"},
	};
	char buf[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct chime_tz *tz = cases[i].zone == NULL ? NULL : load(cases[i].zone);
		int64_t back = 0;

		assert_int_equal(chime_time_format(cases[i].usec, tz, buf, sizeof(buf)), 0);
		assert_string_equal(buf, cases[i].text);
		assert_int_equal(chime_time_parse(buf, tz, &back), 0);
		assert_int_equal(back, cases[i].usec);
		chime_tz_unref(tz);
	}
	assert_int_equal(chime_time_format(0, NULL, buf, 25), -ENOBUFS);
	assert_int_equal(chime_time_format(0, NULL, buf, 26), 0);
}

static void
test_time_parse(void **state)
{
	struct chime_tz *berlin = load("Europe/Berlin");
	const struct {
		bool berlin;
		const char *text;
		int r;
		int64_t usec;
	} cases[] = {
	        {false, "2026-03-29T01:59:55+01:00", 0, utc_usec(2026, 3, 29, 0, 59, 55)},
	        {true, "2026-03-29T01:59:55+01:00", 0, utc_usec(2026, 3, 29, 0, 59, 55)},
	        {false, "2026-03-29T00:59:55Z", 0, utc_usec(2026, 3, 29, 0, 59, 55)},
	        {false, "2026-03-29t00:59:55z", 0, utc_usec(2026, 3, 29, 0, 59, 55)},
	        {false, "2026-03-29T00:59:55.25Z", 0, utc_usec(2026, 3, 29, 0, 59, 55) + 250000},
	        {false, "2026-03-29T05:29:55-05:30", 0, utc_usec(2026, 3, 29, 10, 59, 55)},
	        {false, "2026-03-29T05:29:55+00:00:30", 0, utc_usec(2026, 3, 29, 5, 29, 25)},
	        {false, "2026-03-29T01:59:55", 0, utc_usec(2026, 3, 29, 1, 59, 55)},
	        {false, "2026-03-29", 0, utc_usec(2026, 3, 29, 0, 0, 0)},
	        {true, "2026-03-29T01:59:55", 0, utc_usec(2026, 3, 29, 0, 59, 55)},
	        {true, "2026-03-29", 0, utc_usec(2026, 3, 28, 23, 0, 0)},
	        /* In the gap: the jump; in the overlap: the first occurrence. */
	        {true, "2026-03-29 02:30", 0, utc_usec(2026, 3, 29, 1, 0, 0)},
	        {true, "2026-03-29T02:00:00", 0, utc_usec(2026, 3, 29, 1, 0, 0)},
	        {true, "2026-10-25T02:30:00", 0, utc_usec(2026, 10, 25, 0, 30, 0)},
	        {true, "2026-07-01 12:00", 0, utc_usec(2026, 7, 1, 10, 0, 0)},
	        {false, "2024-02-29T00:00:00Z", 0, utc_usec(2024, 2, 29, 0, 0, 0)},
	        {false, "", -EINVAL, 0},
	        {false, "2025-02-29", -EINVAL, 0},
	        {false, "2026-02-30", -EINVAL, 0},
	        {false, "2026-04-31", -EINVAL, 0},
	        {false, "2026-13-01", -EINVAL, 0},
	        {false, "2026-00-01", -EINVAL, 0},
	        {false, "2026-01-00", -EINVAL, 0},
	        {false, "2026-3-29", -EINVAL, 0},
	        {false, "2026-03-29T24:00", -EINVAL, 0},
	        {false, "2026-03-29T01:60", -EINVAL, 0},
	        {false, "2026-03-29T01:59:60Z", -EINVAL, 0},
	        {false, "2026-03-29T", -EINVAL, 0},
	        {false, "2026-03-29T01", -EINVAL, 0},
	        {false, "2026-03-29T01:59:55+1:00", -EINVAL, 0},
	        {false, "2026-03-29T01:59:55+01", -EINVAL, 0},
	        {false, "2026-03-29T01:59:55+24:00", -EINVAL, 0},
	        {false, "2026-03-29T01:59:55Z extra", -EINVAL, 0},
	        {false, "2026-03-29T01:59:55.Z", -EINVAL, 0},
	        {false, "2026-03-29T01:59.5Z", -EINVAL, 0},
	        {false, "2026-03-29T01:59:55+01:00:60", -EINVAL, 0},
	        {false, "now", -EINVAL, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t usec = -42;
		int r = chime_time_parse(cases[i].text, cases[i].berlin ? berlin : NULL, &usec);

		if (r != cases[i].r)
			fail_msg("chime_time_parse('%s') = %d, want %d", cases[i].text, r,
			         cases[i].r);
		if (r == 0 && usec != cases[i].usec)
			fail_msg("chime_time_parse('%s') gave %lld, want %lld", cases[i].text,
			         (long long)usec, (long long)cases[i].usec);
		if (r != 0)
			assert_int_equal(usec, -42);
	}
	chime_tz_unref(berlin);
}

/* format then parse gives the same instant, every 17 minutes for years. */
static void
test_time_roundtrip(void **state)
{
	static const char *const zones[] = {"Europe/Berlin", "Australia/Lord_Howe",
	                                    "America/New_York"};

	for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
		struct chime_tz *tz = load(zones[z]);

		for (int64_t t = utc_usec(2020, 1, 1, 0, 0, 0); t < utc_usec(2030, 1, 1, 0, 0, 0);
		     t += 17 * MIN + 123) {
			char buf[64];
			int64_t back = 0;

			assert_int_equal(chime_time_format(t, tz, buf, sizeof(buf)), 0);
			assert_int_equal(chime_time_parse(buf, tz, &back), 0);
			if (back != t)
				fail_msg("%s: %lld -> '%s' -> %lld", zones[z], (long long)t, buf,
				         (long long)back);
		}
		chime_tz_unref(tz);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_span_parse),     cmocka_unit_test(test_span_format),
	        cmocka_unit_test(test_time_format),    cmocka_unit_test(test_time_parse),
	        cmocka_unit_test(test_time_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
