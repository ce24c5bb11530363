/* SPDX-License-Identifier: MIT */
/* The one clock (clock.h). */
#include "clock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "civil.h"

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

static int64_t
fake_wall(void *userdata)
{
	struct chime_fake_clock *fake = userdata;

	return atomic_load(&fake->wall_usec);
}

static int64_t
fake_mono(void *userdata)
{
	struct chime_fake_clock *fake = userdata;

	return atomic_load(&fake->mono_usec);
}

void
chime_fake_clock_init(struct chime_fake_clock *fake, int64_t wall_usec,
                      struct chime_clock *ret_clock)
{
	atomic_init(&fake->wall_usec, wall_usec);
	atomic_init(&fake->mono_usec, 0);
	*ret_clock = (struct chime_clock){
	        .wall_usec = fake_wall,
	        .mono_usec = fake_mono,
	        .userdata = fake,
	};
}

void
chime_fake_clock_advance(struct chime_fake_clock *fake, int64_t usec)
{
	atomic_fetch_add(&fake->wall_usec, usec);
	atomic_fetch_add(&fake->mono_usec, usec);
}

/*
 * The one RFC 3339 writer: the local time `offset_sec` east of UTC, the
 * fraction with its trailing zeros cut, then "Z" (`zulu`, offset 0) or the
 * offset as +hh:mm (+hh:mm:ss for the odd historic zone). Years outside
 * 0000-9999 have no RFC 3339 form: -ERANGE.
 */
static int
format_rfc3339(int64_t utc_usec, int32_t offset_sec, bool zulu, char *buf, size_t size)
{
	int64_t sec = chime_floor_div(utc_usec, 1000000);
	int64_t frac = utc_usec - sec * 1000000;
	int64_t local = sec + offset_sec, days, secs, y;
	int32_t aoff = offset_sec < 0 ? -offset_sec : offset_sec;
	char fbuf[8] = "", obuf[16] = "Z";
	unsigned m, d;
	int n;

	days = chime_floor_div(local, CHIME_SEC_PER_DAY);
	secs = local - days * CHIME_SEC_PER_DAY;
	chime_civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999)
		return -ERANGE;
	if (frac != 0) {
		int digits = 6;

		while (frac % 10 == 0) {
			frac /= 10;
			digits--;
		}
		snprintf(fbuf, sizeof(fbuf), ".%0*" PRId64, digits, frac);
	}
	if (aoff % 60 != 0)
		snprintf(obuf, sizeof(obuf), "%c%02d:%02d:%02d", offset_sec < 0 ? '-' : '+',
		         aoff / 3600, aoff / 60 % 60, aoff % 60);
	else if (!zulu || offset_sec != 0)
		snprintf(obuf, sizeof(obuf), "%c%02d:%02d", offset_sec < 0 ? '-' : '+', aoff / 3600,
		         aoff / 60 % 60);
	n = snprintf(buf, size, "%04" PRId64 "-%02u-%02uT%02d:%02d:%02d%s%s", y, m, d,
	             (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60), fbuf, obuf);
	if (n < 0 || (size_t)n >= size)
		return -ENOBUFS;
	return n;
}

int
chime_clock_format_utc(int64_t utc_usec, char *buf, size_t size)
{
	return format_rfc3339(utc_usec, 0, true, buf, size);
}

int
chime_clock_format_offset(int64_t utc_usec, int32_t offset_sec, char *buf, size_t size)
{
	return format_rfc3339(utc_usec, offset_sec, false, buf, size);
}
