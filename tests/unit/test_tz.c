/* SPDX-License-Identifier: MIT */
/*
 * Time zone tests: civil calendar arithmetic, offsets and wall-time
 * resolution in zones on both sides of the equator (hand-checked against
 * the published rules), the POSIX footer past the table and in synthetic
 * TZif files (Jn, n, permanent DST), bad names and files, and a comparison
 * with every transition zdump prints for a dozen zones.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "tz.h"

static int64_t
utc(int64_t y, unsigned mo, unsigned d, int h, int mi, int s)
{
	return chime_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

static struct chime_tz *
load(const char *name)
{
	struct chime_tz *tz = NULL;
	int r = chime_tz_load(name, NULL, &tz);

	if (r != 0)
		fail_msg("chime_tz_load(%s) = %d", name, r);
	return tz;
}

static void
test_civil(void **state)
{
	static const struct {
		int64_t y;
		unsigned m, d;
		int64_t days;
		unsigned wday;
	} cases[] = {
	        {1970, 1, 1, 0, 4},       {1969, 12, 31, -1, 3},    {2000, 2, 29, 11016, 2},
	        {2000, 3, 1, 11017, 3},   {2026, 3, 29, 20541, 0},  {2100, 3, 1, 47541, 1},
	        {1900, 3, 1, -25508, 4},  {1600, 1, 1, -135140, 6}, {0, 3, 1, -719468, 3},
	        {-1, 12, 31, -719529, 5}, {2400, 2, 29, 157113, 2}, {9999, 12, 31, 2932896, 5},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t y;
		unsigned m, d;

		assert_int_equal(chime_days_from_civil(cases[i].y, cases[i].m, cases[i].d),
		                 cases[i].days);
		chime_civil_from_days(cases[i].days, &y, &m, &d);
		assert_int_equal(y, cases[i].y);
		assert_int_equal(m, cases[i].m);
		assert_int_equal(d, cases[i].d);
		assert_int_equal(chime_weekday_from_days(cases[i].days), cases[i].wday);
	}
	/* Round trip over every day from 1600 to 2400. */
	for (int64_t day = -135140; day < 157100; day++) {
		int64_t y;
		unsigned m, d;

		chime_civil_from_days(day, &y, &m, &d);
		assert_int_equal(chime_days_from_civil(y, m, d), day);
	}
}

struct offset_case {
	const char *zone;
	int64_t at;
	int32_t off;
};

static void
test_offsets(void **state)
{
	const struct offset_case cases[] = {
	        /* Europe/Berlin: last Sunday of March and October, 01:00 UTC. */
	        {"Europe/Berlin", utc(2026, 1, 15, 12, 0, 0), 3600},
	        {"Europe/Berlin", utc(2026, 3, 29, 0, 59, 59), 3600},
	        {"Europe/Berlin", utc(2026, 3, 29, 1, 0, 0), 7200},
	        {"Europe/Berlin", utc(2026, 10, 25, 0, 59, 59), 7200},
	        {"Europe/Berlin", utc(2026, 10, 25, 1, 0, 0), 3600},
	        /* America/New_York: second Sunday of March, first of November. */
	        {"America/New_York", utc(2026, 3, 8, 6, 59, 59), -18000},
	        {"America/New_York", utc(2026, 3, 8, 7, 0, 0), -14400},
	        {"America/New_York", utc(2026, 11, 1, 5, 59, 59), -14400},
	        {"America/New_York", utc(2026, 11, 1, 6, 0, 0), -18000},
	        /* Australia/Sydney: ends first Sunday of April, starts first of October. */
	        {"Australia/Sydney", utc(2026, 4, 4, 15, 59, 59), 39600},
	        {"Australia/Sydney", utc(2026, 4, 4, 16, 0, 0), 36000},
	        {"Australia/Sydney", utc(2026, 10, 3, 15, 59, 59), 36000},
	        {"Australia/Sydney", utc(2026, 10, 3, 16, 0, 0), 39600},
	        {"Australia/Sydney", utc(2026, 7, 1, 0, 0, 0), 36000},
	        /* Australia/Lord_Howe: +10:30, half an hour of DST. */
	        {"Australia/Lord_Howe", utc(2026, 4, 4, 14, 59, 59), 39600},
	        {"Australia/Lord_Howe", utc(2026, 4, 4, 15, 0, 0), 37800},
	        {"Australia/Lord_Howe", utc(2026, 10, 3, 15, 29, 59), 37800},
	        {"Australia/Lord_Howe", utc(2026, 10, 3, 15, 30, 0), 39600},
	        /* Asia/Kolkata: +05:30 all year. */
	        {"Asia/Kolkata", utc(2026, 1, 1, 0, 0, 0), 19800},
	        {"Asia/Kolkata", utc(2026, 7, 1, 0, 0, 0), 19800},
	        {"Asia/Kolkata", utc(2300, 7, 1, 0, 0, 0), 19800},
	        {"UTC", utc(2026, 7, 1, 0, 0, 0), 0},
	        {"Etc/GMT+3", utc(2026, 7, 1, 0, 0, 0), -10800},
	        /* Past the table and past 2200: the footer rule. 2300-03-25 and
	         * 2300-10-28 are the last Sundays of March and October 2300. */
	        {"Europe/Berlin", utc(2300, 3, 25, 0, 59, 59), 3600},
	        {"Europe/Berlin", utc(2300, 3, 25, 1, 0, 0), 7200},
	        {"Europe/Berlin", utc(2300, 10, 28, 0, 59, 59), 7200},
	        {"Europe/Berlin", utc(2300, 10, 28, 1, 0, 0), 3600},
	        {"America/New_York", utc(2300, 3, 11, 7, 0, 0), -14400},
	        {"America/New_York", utc(2300, 11, 4, 5, 59, 59), -14400},
	        {"America/New_York", utc(2300, 11, 4, 6, 0, 0), -18000},
	        {"Australia/Sydney", utc(2300, 3, 31, 15, 59, 59), 39600},
	        {"Australia/Sydney", utc(2300, 3, 31, 16, 0, 0), 36000},
	        {"Australia/Lord_Howe", utc(2300, 10, 6, 15, 30, 0), 39600},
	        {"Australia/Lord_Howe", utc(2300, 10, 6, 15, 29, 59), 37800},
	        /* Negative rule times: <-02>2<-01>,M3.5.0/-1,M10.5.0/0. */
	        {"America/Godthab", utc(2300, 3, 25, 0, 59, 59), -7200},
	        {"America/Godthab", utc(2300, 3, 25, 1, 0, 0), -3600},
	        {"America/Godthab", utc(2300, 10, 28, 1, 0, 0), -7200},
	        /* Over 24 hours: IST-2IDT,M3.4.4/26,M10.5.0 (Friday 02:00). */
	        {"Asia/Jerusalem", utc(2026, 3, 26, 23, 59, 59), 7200},
	        {"Asia/Jerusalem", utc(2026, 3, 27, 0, 0, 0), 10800},
	        {"Asia/Jerusalem", utc(2300, 3, 23, 0, 0, 0), 10800},
	        {"Asia/Jerusalem", utc(2300, 3, 22, 23, 59, 59), 7200},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct chime_tz *tz = load(cases[i].zone);
		int32_t off = chime_tz_offset_at(tz, cases[i].at);

		if (off != cases[i].off)
			fail_msg("case %zu: chime_tz_offset_at(%s, %lld) = %d, want %d", i,
			         cases[i].zone, (long long)cases[i].at, off, cases[i].off);
		assert_int_equal(chime_tz_to_local(tz, cases[i].at), cases[i].at + cases[i].off);
		chime_tz_unref(tz);
	}
}

struct resolve_case {
	const char *zone;
	int64_t local;
	int n;
	int64_t utc0, utc1; /* for n = 0: the jump instant and the gap length */
};

static void
test_resolve(void **state)
{
	const struct resolve_case cases[] = {
	        {"Europe/Berlin", utc(2026, 7, 1, 12, 0, 0), 1, utc(2026, 7, 1, 10, 0, 0), 0},
	        {"Europe/Berlin", utc(2026, 3, 29, 1, 59, 59), 1, utc(2026, 3, 29, 0, 59, 59), 0},
	        {"Europe/Berlin", utc(2026, 3, 29, 2, 0, 0), 0, utc(2026, 3, 29, 1, 0, 0), 3600},
	        {"Europe/Berlin", utc(2026, 3, 29, 2, 30, 0), 0, utc(2026, 3, 29, 1, 0, 0), 3600},
	        {"Europe/Berlin", utc(2026, 3, 29, 3, 0, 0), 1, utc(2026, 3, 29, 1, 0, 0), 0},
	        {"Europe/Berlin", utc(2026, 10, 25, 1, 59, 59), 1, utc(2026, 10, 24, 23, 59, 59),
	         0},
	        {"Europe/Berlin", utc(2026, 10, 25, 2, 0, 0), 2, utc(2026, 10, 25, 0, 0, 0),
	         utc(2026, 10, 25, 1, 0, 0)},
	        {"Europe/Berlin", utc(2026, 10, 25, 2, 30, 0), 2, utc(2026, 10, 25, 0, 30, 0),
	         utc(2026, 10, 25, 1, 30, 0)},
	        {"Europe/Berlin", utc(2026, 10, 25, 3, 0, 0), 1, utc(2026, 10, 25, 2, 0, 0), 0},
	        {"America/New_York", utc(2026, 3, 8, 2, 30, 0), 0, utc(2026, 3, 8, 7, 0, 0), 3600},
	        {"America/New_York", utc(2026, 11, 1, 1, 30, 0), 2, utc(2026, 11, 1, 5, 30, 0),
	         utc(2026, 11, 1, 6, 30, 0)},
	        {"Australia/Sydney", utc(2026, 10, 4, 2, 30, 0), 0, utc(2026, 10, 3, 16, 0, 0),
	         3600},
	        {"Australia/Sydney", utc(2026, 4, 5, 2, 30, 0), 2, utc(2026, 4, 4, 15, 30, 0),
	         utc(2026, 4, 4, 16, 30, 0)},
	        {"Australia/Lord_Howe", utc(2026, 10, 4, 2, 15, 0), 0, utc(2026, 10, 3, 15, 30, 0),
	         1800},
	        {"Australia/Lord_Howe", utc(2026, 10, 4, 2, 30, 0), 1, utc(2026, 10, 3, 15, 30, 0),
	         0},
	        {"Australia/Lord_Howe", utc(2026, 4, 5, 1, 45, 0), 2, utc(2026, 4, 4, 14, 45, 0),
	         utc(2026, 4, 4, 15, 15, 0)},
	        {"Australia/Lord_Howe", utc(2026, 4, 5, 1, 29, 59), 1, utc(2026, 4, 4, 14, 29, 59),
	         0},
	        {"Asia/Kolkata", utc(2026, 3, 29, 2, 30, 0), 1, utc(2026, 3, 28, 21, 0, 0), 0},
	        {"UTC", utc(2026, 3, 29, 2, 30, 0), 1, utc(2026, 3, 29, 2, 30, 0), 0},
	        /* From the footer rule, past the table. */
	        {"Europe/Berlin", utc(2300, 3, 25, 2, 30, 0), 0, utc(2300, 3, 25, 1, 0, 0), 3600},
	        {"Europe/Berlin", utc(2300, 10, 28, 2, 30, 0), 2, utc(2300, 10, 28, 0, 30, 0),
	         utc(2300, 10, 28, 1, 30, 0)},
	        {"Europe/Berlin", utc(2300, 7, 1, 12, 0, 0), 1, utc(2300, 7, 1, 10, 0, 0), 0},
	        {"Australia/Lord_Howe", utc(2300, 10, 7, 2, 10, 0), 0, utc(2300, 10, 6, 15, 30, 0),
	         1800},
	        {"America/Godthab", utc(2300, 3, 24, 23, 30, 0), 0, utc(2300, 3, 25, 1, 0, 0),
	         3600},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct chime_tz *tz = load(cases[i].zone);
		int64_t out[2] = {-1, -1}, jump = -1;
		int32_t gap = -1;
		int n = chime_tz_resolve(tz, cases[i].local, out, &jump, &gap);

		if (n != cases[i].n)
			fail_msg("case %zu: chime_tz_resolve(%s, %lld) = %d, want %d", i,
			         cases[i].zone, (long long)cases[i].local, n, cases[i].n);
		if (n == 0) {
			assert_int_equal(jump, cases[i].utc0);
			assert_int_equal(gap, cases[i].utc1);
		} else {
			assert_int_equal(out[0], cases[i].utc0);
		}
		if (n == 2)
			assert_int_equal(out[1], cases[i].utc1);
		/* NULL out-params are allowed. */
		assert_int_equal(chime_tz_resolve(tz, cases[i].local, out, NULL, NULL), n);
		chime_tz_unref(tz);
	}
}

/* resolve(to_local(u)) contains u, for pseudo-random u from 1900 to 2500. */
static void
test_resolve_roundtrip(void **state)
{
	static const char *const zones[] = {
	        "Europe/Berlin", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe",
	        "Asia/Kolkata",  "America/Godthab",  "Europe/Dublin",    "Pacific/Apia"};
	uint64_t x = 0x9e3779b97f4a7c15u;
	int64_t lo = utc(1900, 1, 1, 0, 0, 0), span = utc(2500, 1, 1, 0, 0, 0) - lo;

	for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
		struct chime_tz *tz = load(zones[z]);

		for (int i = 0; i < 200000; i++) {
			int64_t u, l, out[2];
			int n;

			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			u = lo + (int64_t)(x % (uint64_t)span);
			l = chime_tz_to_local(tz, u);
			n = chime_tz_resolve(tz, l, out, NULL, NULL);
			if (!((n >= 1 && out[0] == u) || (n == 2 && out[1] == u)))
				fail_msg("%s: resolve(to_local(%lld)) = %d [%lld]", zones[z],
				         (long long)u, n, (long long)out[0]);
		}
		chime_tz_unref(tz);
	}
}

static void
test_names(void **state)
{
	static const struct {
		const char *name;
		int r;
	} cases[] = {
	        {"", -EINVAL},
	        {"../etc/passwd", -EINVAL},
	        {"/etc/passwd", -EINVAL},
	        {"Europe/../../etc/passwd", -EINVAL},
	        {"Europe/Berlin ", -EINVAL},
	        {"Europe/Ber*in", -EINVAL},
	        {"Nope/Zone", -ENOENT},
	        {"Europe", -ENOENT},
	        {"Europe/Berlin/x", -ENOENT},
	        {"Europe/Berlin", 0},
	        {"Etc/GMT+3", 0},
	        {"UTC", 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct chime_tz *tz = NULL;
		int r = chime_tz_load(cases[i].name, NULL, &tz);

		if (r != cases[i].r)
			fail_msg("chime_tz_load('%s') = %d, want %d", cases[i].name, r, cases[i].r);
		if (r == 0) {
			assert_string_equal(chime_tz_name(tz), cases[i].name);
			chime_tz_unref(tz);
		} else {
			assert_null(tz);
		}
	}
}

static void
test_utc_and_refs(void **state)
{
	struct chime_tz *u = chime_tz_utc(), *b = load("Europe/Berlin"), *k = load("Asia/Kolkata");
	struct chime_tz *e = load("Etc/UTC"), *s = NULL;

	assert_string_equal(chime_tz_name(u), "UTC");
	assert_true(chime_tz_is_utc(u));
	assert_true(chime_tz_is_utc(e));
	assert_false(chime_tz_is_utc(b));
	assert_false(chime_tz_is_utc(k));
	assert_int_equal(chime_tz_offset_at(u, 1800000000), 0);
	assert_ptr_equal(chime_tz_ref(u), u);
	assert_null(chime_tz_unref(u));
	assert_null(chime_tz_unref(u));
	assert_ptr_equal(chime_tz_ref(b), b);
	assert_null(chime_tz_unref(b));
	assert_int_equal(chime_tz_offset_at(b, utc(2026, 7, 1, 0, 0, 0)), 7200);
	assert_null(chime_tz_unref(b));
	assert_null(chime_tz_unref(k));
	assert_null(chime_tz_unref(e));
	assert_null(chime_tz_unref(NULL));
	assert_int_equal(chime_tz_load_system(&s), 0);
	assert_non_null(s);
	assert_non_null(chime_tz_name(s));
	chime_tz_unref(s);
}

static void
test_cache(void **state)
{
	struct chime_tz_cache *c = chime_tz_cache_new();
	struct chime_tz *a = NULL, *b = NULL, *d = NULL;

	assert_non_null(c);
	assert_int_equal(chime_tz_cache_get(c, "Europe/Berlin", &a), 0);
	assert_int_equal(chime_tz_cache_get(c, "Europe/Berlin", &b), 0);
	assert_ptr_equal(a, b);
	assert_int_equal(chime_tz_cache_get(c, "Nope/Zone", &d), -ENOENT);
	assert_int_equal(chime_tz_cache_get(c, "../x", &d), -EINVAL);
	assert_null(d);
	assert_null(chime_tz_cache_free(c));
	/* The references handed out outlive the cache. */
	assert_int_equal(chime_tz_offset_at(a, utc(2026, 1, 1, 0, 0, 0)), 3600);
	chime_tz_unref(a);
	chime_tz_unref(b);
	assert_null(chime_tz_cache_free(NULL));
}

/* A minimal TZif v2 file with no transitions, one type, and `footer`. */
static void
write_tzif(const char *path, int32_t utoff, const char *footer)
{
	unsigned char hdr[44] = "TZif2", data[10];
	FILE *f = fopen(path, "we");

	assert_non_null(f);
	hdr[39] = 1; /* typecnt */
	hdr[43] = 4; /* charcnt */
	data[0] = (unsigned char)((uint32_t)utoff >> 24);
	data[1] = (unsigned char)((uint32_t)utoff >> 16);
	data[2] = (unsigned char)((uint32_t)utoff >> 8);
	data[3] = (unsigned char)utoff;
	data[4] = 0;
	data[5] = 0;
	memcpy(data + 6, "XXX", 4);
	for (int k = 0; k < 2; k++) {
		assert_int_equal(fwrite(hdr, 1, sizeof(hdr), f), sizeof(hdr));
		assert_int_equal(fwrite(data, 1, sizeof(data), f), sizeof(data));
	}
	fprintf(f, "\n%s\n", footer);
	assert_int_equal(fclose(f), 0);
}

static void
test_synthetic_footers(void **state)
{
	char dir[] = "/tmp/chime-tz-XXXXXX", path[256];
	struct chime_tz *tz = NULL;
	int64_t out[2];

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/Julian", dir);
	/* J60 is March 1 in every year; day 300 (0-based, Feb 29 counted)
	 * is October 27 in 2024 and October 28 in 2025. */
	write_tzif(path, -18000, "EST5EDT,J60/2,300");
	assert_int_equal(chime_tz_load("Julian", dir, &tz), 0);
	assert_int_equal(chime_tz_offset_at(tz, utc(2024, 3, 1, 6, 59, 59)), -18000);
	assert_int_equal(chime_tz_offset_at(tz, utc(2024, 3, 1, 7, 0, 0)), -14400);
	assert_int_equal(chime_tz_offset_at(tz, utc(2024, 10, 27, 5, 59, 59)), -14400);
	assert_int_equal(chime_tz_offset_at(tz, utc(2024, 10, 27, 6, 0, 0)), -18000);
	assert_int_equal(chime_tz_offset_at(tz, utc(2025, 3, 1, 7, 0, 0)), -14400);
	assert_int_equal(chime_tz_offset_at(tz, utc(2025, 10, 28, 5, 59, 59)), -14400);
	assert_int_equal(chime_tz_offset_at(tz, utc(2025, 10, 28, 6, 0, 0)), -18000);
	assert_int_equal(chime_tz_offset_at(tz, utc(2400, 3, 1, 7, 0, 0)), -14400);
	assert_int_equal(chime_tz_offset_at(tz, utc(2400, 10, 27, 6, 0, 0)), -18000);
	assert_false(chime_tz_is_utc(tz));
	tz = chime_tz_unref(tz);

	/* Permanent daylight time: the year's end and the next start coincide. */
	snprintf(path, sizeof(path), "%s/Permanent", dir);
	write_tzif(path, -10800, "<-03>3<-02>,0/0,J365/25");
	assert_int_equal(chime_tz_load("Permanent", dir, &tz), 0);
	assert_int_equal(chime_tz_offset_at(tz, utc(2024, 6, 1, 0, 0, 0)), -7200);
	assert_int_equal(chime_tz_offset_at(tz, utc(2025, 1, 1, 2, 0, 0)), -7200);
	assert_int_equal(chime_tz_offset_at(tz, utc(2024, 12, 31, 23, 0, 0)), -7200);
	assert_int_equal(chime_tz_offset_at(tz, utc(2300, 1, 1, 2, 0, 0)), -7200);
	assert_int_equal(chime_tz_resolve(tz, utc(2025, 1, 1, 0, 30, 0), out, NULL, NULL), 1);
	assert_int_equal(out[0], utc(2025, 1, 1, 2, 30, 0));
	assert_int_equal(chime_tz_resolve(tz, utc(2300, 1, 1, 0, 30, 0), out, NULL, NULL), 1);
	tz = chime_tz_unref(tz);

	/* Fixed offset footer only. */
	snprintf(path, sizeof(path), "%s/Fixed", dir);
	write_tzif(path, 20700, "<+0545>-5:45");
	assert_int_equal(chime_tz_load("Fixed", dir, &tz), 0);
	assert_int_equal(chime_tz_offset_at(tz, utc(2500, 1, 1, 0, 0, 0)), 20700);
	tz = chime_tz_unref(tz);

	/* Bad files. */
	snprintf(path, sizeof(path), "%s/BadFooter", dir);
	write_tzif(path, 0, "EST5EDT,M13.1.0,M11.1.0");
	assert_int_equal(chime_tz_load("BadFooter", dir, &tz), -EBADMSG);
	snprintf(path, sizeof(path), "%s/Garbage", dir);
	{
		FILE *f = fopen(path, "we");

		assert_non_null(f);
		fputs("not a zone file at all, but long enough to have a header......", f);
		fclose(f);
	}
	assert_int_equal(chime_tz_load("Garbage", dir, &tz), -EBADMSG);
	snprintf(path, sizeof(path), "%s/Truncated", dir);
	{
		FILE *f = fopen(path, "we");
		unsigned char hdr[44] = "TZif2";

		assert_non_null(f);
		hdr[35] = 10; /* ten transitions that are not there */
		hdr[39] = 1;
		fwrite(hdr, 1, sizeof(hdr), f);
		fclose(f);
	}
	assert_int_equal(chime_tz_load("Truncated", dir, &tz), -EBADMSG);
	assert_null(tz);

	unlink(path);
	snprintf(path, sizeof(path), "%s/Garbage", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/BadFooter", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/Fixed", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/Permanent", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/Julian", dir);
	unlink(path);
	rmdir(dir);
}

static int
month_of(const char *s)
{
	static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	const char *p = strstr(names, s);

	return p == NULL || strlen(s) != 3 ? 0 : (int)(p - names) / 3 + 1;
}

/*
 * zdump -v prints, for each transition, the last second before it and the
 * first at it, as "ZONE  Sun Mar 29 00:59:59 2026 UT = ... isdst=0 gmtoff=3600".
 */
static void
test_zdump(void **state)
{
	static const char *const zones[] = {
	        "Europe/Berlin", "America/New_York",  "Australia/Sydney",  "Australia/Lord_Howe",
	        "Asia/Kolkata",  "America/Godthab",   "Asia/Jerusalem",    "Europe/Dublin",
	        "Pacific/Apia",  "Africa/Casablanca", "America/Sao_Paulo", "Pacific/Chatham",
	};
	int total = 0;

	if (access("/usr/bin/zdump", X_OK) != 0 && system("command -v zdump >/dev/null") != 0) {
		print_message("skipped: zdump is not installed\n");
		skip();
	}
	for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
		struct chime_tz *tz = load(zones[z]);
		char cmd[256], line[512];
		int lines = 0;
		FILE *f;

		snprintf(cmd, sizeof(cmd), "zdump -v -c 1970,2040 %s", zones[z]);
		f = popen(cmd, "r");
		assert_non_null(f);
		while (fgets(line, sizeof(line), f) != NULL) {
			char wd[8], mo[8], wd2[8], mo2[8], abbr[32];
			int d, h, mi, s, y, d2, h2, mi2, s2, y2, isdst, m1, m2;
			long gmtoff;
			int64_t at, local;

			if (sscanf(line + strlen(zones[z]),
			           " %7s %7s %d %d:%d:%d %d UT = %7s %7s %d %d:%d:%d %d %31s "
			           "isdst=%d gmtoff=%ld",
			           wd, mo, &d, &h, &mi, &s, &y, wd2, mo2, &d2, &h2, &mi2, &s2, &y2,
			           abbr, &isdst, &gmtoff) != 17)
				continue;
			m1 = month_of(mo);
			m2 = month_of(mo2);
			assert_true(m1 > 0 && m2 > 0);
			at = utc(y, (unsigned)m1, (unsigned)d, h, mi, s);
			local = utc(y2, (unsigned)m2, (unsigned)d2, h2, mi2, s2);
			if (chime_tz_offset_at(tz, at) != gmtoff)
				fail_msg("%s: at %lld offset %d, zdump says %ld: %s", zones[z],
				         (long long)at, chime_tz_offset_at(tz, at), gmtoff, line);
			assert_int_equal(local - at, gmtoff);
			lines++;
		}
		assert_int_equal(pclose(f), 0);
		/* Every zone here but Kolkata changed offset in 1970-2040. */
		if (strcmp(zones[z], "Asia/Kolkata") != 0)
			assert_true(lines >= 2);
		total += lines;
		chime_tz_unref(tz);
	}
	print_message("compared %d zdump lines\n", total);
	assert_true(total > 1000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_civil),   cmocka_unit_test(test_offsets),
	        cmocka_unit_test(test_resolve), cmocka_unit_test(test_resolve_roundtrip),
	        cmocka_unit_test(test_names),   cmocka_unit_test(test_utc_and_refs),
	        cmocka_unit_test(test_cache),   cmocka_unit_test(test_synthetic_footers),
	        cmocka_unit_test(test_zdump),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
