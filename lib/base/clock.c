/* SPDX-License-Identifier: MIT */
/* The one clock (clock.h). */
#include "clock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

static int64_t
clock_usec(clockid_t id)
{
	struct timespec ts;

	(void)clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
chime_clock_wall_usec(void)
{
	return clock_usec(CLOCK_REALTIME);
}

int64_t
chime_clock_mono_usec(void)
{
	return clock_usec(CLOCK_MONOTONIC);
}

static int64_t
system_wall(void *userdata)
{
	(void)userdata;
	return chime_clock_wall_usec();
}

static int64_t
system_mono(void *userdata)
{
	(void)userdata;
	return chime_clock_mono_usec();
}

const struct chime_clock chime_clock_system = {
        .wall_usec = system_wall,
        .mono_usec = system_mono,
};

int
chime_clock_format_utc(int64_t utc_usec, char *buf, size_t size)
{
	int64_t sec = utc_usec / 1000000, frac = utc_usec % 1000000;
	struct tm tm;
	time_t t;
	int n;

	if (frac < 0) {
		frac += 1000000;
		sec--;
	}
	t = (time_t)sec;
	if (gmtime_r(&t, &tm) == NULL)
		return -EINVAL;
	if (frac != 0)
		n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06" PRId64 "Z",
		             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		             tm.tm_sec, frac);
	else
		n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
		             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (n < 0 || (size_t)n >= size)
		return -ENOBUFS;
	return n;
}
