/* SPDX-License-Identifier: MIT */
/*
 * Benchmark: nanoseconds per chime_expr_next() for a fixed mix of
 * expressions from random starts (2020-2035), in UTC and in Europe/Berlin,
 * median and 99th percentile of individually timed calls (the timer's own
 * cost subtracted); parse time; and Debian's croniter timed on the same
 * expressions in the same run (get_next() after set_current() to a random
 * start, with Python's timeit). Prints a table; not a test.
 *
 *   bench_next [CALLS_PER_CASE]
 */
#include <sys/wait.h>

#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cron.h"
#include "tz.h"

extern char **environ;

struct bench_expr {
	const char *text;      /* chime */
	const char *croniter;  /* the same schedule for croniter, or NULL */
	bool croniter_day_and; /* croniter day_or=False */
};

static const struct bench_expr exprs[] = {
        {"0 0 29 2 *", "0 0 29 2 *", false},
        {"*/5 * * * *", "*/5 * * * *", false},
        {"0 2 * * MON#1", "0 2 * * MON#1", false},
        {"Mon *-*-16..22 02:00", "0 2 16-22 * MON", true},
        {"0 0 L * *", "0 0 L * *", false},
        {"*/10 0 9-17 * * MON-FRI", "0 9-17 * * MON-FRI */10", false},
        {"30 4 1,15 * 5", "30 4 1,15 * 5", false},
        {"0 9 * * 1-5", "0 9 * * 1-5", false},
        {"@hourly", "@hourly", false},
        {"15 3 * * *", "15 3 * * *", false},
};

#define N_EXPRS (sizeof(exprs) / sizeof(exprs[0]))

static const char croniter_script[] =
        "import sys, random, timeit, datetime as dt\n"
        "from zoneinfo import ZoneInfo\n"
        "from croniter import croniter\n"
        "zone, n = sys.argv[1], int(sys.argv[2])\n"
        "tz = ZoneInfo(zone)\n"
        "rng = random.Random(7)\n"
        "lo = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc).timestamp()\n"
        "hi = dt.datetime(2035, 1, 1, tzinfo=dt.timezone.utc).timestamp()\n"
        "for arg in sys.argv[3:]:\n"
        "    and_, expr = arg.split(':', 1)\n"
        "    starts = [dt.datetime.fromtimestamp(rng.uniform(lo, hi), tz) for _ in range(n)]\n"
        "    it = croniter(expr, starts[0], day_or=(and_ == '0'))\n"
        "    i = [0]\n"
        "    def one():\n"
        "        it.set_current(starts[i[0] % n], force=True)\n"
        "        i[0] += 1\n"
        "        it.get_next(float)\n"
        "    per = timeit.timeit(one, number=n) / n\n"
        "    parse = timeit.timeit(lambda: croniter(expr, starts[0], day_or=(and_ == '0')),\n"
        "                          number=max(1, n // 4)) / max(1, n // 4)\n"
        "    print('%.0f %.0f' % (per * 1e9, parse * 1e9), flush=True)\n";

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t
xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The cost of two clock reads, subtracted from every sample. */
static int64_t
timer_overhead(void)
{
	int64_t best = INT64_MAX;

	for (int i = 0; i < 100000; i++) {
		int64_t a = now_ns(), b = now_ns();

		if (b - a < best)
			best = b - a;
	}
	return best;
}

static void
bench_zone(const struct chime_tz *tz, int calls, int64_t overhead, int64_t *ret_median,
           int64_t *ret_p99, size_t e)
{
	struct chime_expr *expr = NULL;
	struct chime_expr_error err;
	int64_t *samples = malloc(sizeof(*samples) * (size_t)calls);
	int64_t lo = chime_days_from_civil(2020, 1, 1) * 86400 * INT64_C(1000000);
	int64_t span = chime_days_from_civil(2035, 1, 1) * 86400 * INT64_C(1000000) - lo;
	uint64_t seed = 0x2545f4914f6cdd1du;
	volatile int64_t sink = 0;

	if (samples == NULL || chime_expr_parse(exprs[e].text, NULL, &expr, &err) < 0) {
		fprintf(stderr, "bench_next: cannot parse '%s': %s\n", exprs[e].text, err.message);
		exit(1);
	}
	for (int i = 0; i < calls; i++) {
		int64_t from = lo + (int64_t)(xorshift(&seed) % (uint64_t)span), t0, t1;
		struct chime_slot slot;

		t0 = now_ns();
		if (chime_expr_next(expr, tz, from, &slot) == 0)
			sink += slot.instant_usec;
		t1 = now_ns();
		samples[i] = t1 - t0 - overhead;
	}
	(void)sink;
	qsort(samples, (size_t)calls, sizeof(*samples), cmp_i64);
	*ret_median = samples[calls / 2];
	*ret_p99 = samples[(size_t)calls * 99 / 100];
	free(samples);
	chime_expr_free(expr);
}

static int64_t
bench_parse(size_t e)
{
	int64_t samples[2001];

	for (int i = 0; i < 2001; i++) {
		struct chime_expr *expr = NULL;
		int64_t t0 = now_ns();

		chime_expr_parse(exprs[e].text, NULL, &expr, NULL);
		chime_expr_free(expr);
		samples[i] = now_ns() - t0;
	}
	qsort(samples, 2001, sizeof(samples[0]), cmp_i64);
	return samples[1000];
}

/* croniter's ns per get_next and per construction for each expression, or -1. */
static void
bench_croniter(const char *zone, int calls, int64_t next_ns[N_EXPRS], int64_t parse_ns[N_EXPRS])
{
	char *argv[N_EXPRS + 8], count[32], args[N_EXPRS][160], line[128];
	posix_spawn_file_actions_t fa;
	int fd[2], status, n = 0;
	size_t k = 0;
	pid_t pid;
	FILE *f;

	for (size_t e = 0; e < N_EXPRS; e++)
		next_ns[e] = parse_ns[e] = -1;
	if (access("/usr/bin/python3", X_OK) != 0 || pipe(fd) < 0)
		return;
	snprintf(count, sizeof(count), "%d", calls);
	argv[n++] = (char *)(uintptr_t) "/usr/bin/python3";
	argv[n++] = (char *)(uintptr_t) "-c";
	argv[n++] = (char *)(uintptr_t)croniter_script;
	argv[n++] = (char *)(uintptr_t)zone;
	argv[n++] = count;
	for (size_t e = 0; e < N_EXPRS; e++) {
		snprintf(args[e], sizeof(args[e]), "%d:%s", exprs[e].croniter_day_and ? 1 : 0,
		         exprs[e].croniter);
		argv[n++] = args[e];
	}
	argv[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
	posix_spawn_file_actions_addclose(&fa, fd[0]);
	if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		close(fd[0]);
		close(fd[1]);
		return;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(fd[1]);
	f = fdopen(fd[0], "r");
	while (f != NULL && k < N_EXPRS && fgets(line, sizeof(line), f) != NULL) {
		long long a, b;

		if (sscanf(line, "%lld %lld", &a, &b) == 2) {
			next_ns[k] = a;
			parse_ns[k] = b;
			k++;
		}
	}
	if (f != NULL)
		fclose(f);
	waitpid(pid, &status, 0);
}

int
main(int argc, char **argv)
{
	int calls = argc > 1 ? atoi(argv[1]) : 200000;
	const char *zones[] = {"UTC", "Europe/Berlin"};
	int64_t overhead = timer_overhead();

	if (calls < 100)
		calls = 100;
	printf("chime_expr_next from random starts 2020-2035, %d calls per case; "
	       "timer overhead %lld ns subtracted\n",
	       calls, (long long)overhead);
	for (size_t z = 0; z < 2; z++) {
		struct chime_tz *tz = NULL;
		int64_t cn[N_EXPRS], cp[N_EXPRS];

		if (chime_tz_load(zones[z], NULL, &tz) < 0) {
			fprintf(stderr, "bench_next: cannot load %s\n", zones[z]);
			return 1;
		}
		bench_croniter(zones[z], calls / 20 > 20000 ? 20000 : calls / 20, cn, cp);
		printf("\nzone %s\n%-26s %10s %10s %10s %12s %10s %15s\n", zones[z], "expression",
		       "median ns", "p99 ns", "parse ns", "croniter ns", "ratio", "croniter parse");
		for (size_t e = 0; e < N_EXPRS; e++) {
			int64_t med, p99;

			bench_zone(tz, calls, overhead, &med, &p99, e);
			printf("%-26s %10lld %10lld %10lld", exprs[e].text, (long long)med,
			       (long long)p99, (long long)bench_parse(e));
			if (cn[e] >= 0)
				printf(" %12lld %9.0fx %15lld\n", (long long)cn[e],
				       (double)cn[e] / (double)(med > 0 ? med : 1),
				       (long long)cp[e]);
			else
				printf(" %12s %10s %15s\n", "-", "-", "-");
		}
		chime_tz_unref(tz);
	}
	return 0;
}
