/* SPDX-License-Identifier: MIT */
/*
 * The one clock: wall time (CLOCK_REALTIME) and monotonic time
 * (CLOCK_MONOTONIC) in microseconds, and the one way chime writes an
 * instant as text. Pure and thread-safe; never logs.
 *
 * Modules that must be testable with a fake clock take a
 * struct chime_clock (a pair of function pointers) instead of calling
 * these directly; chime_clock_system is the real one.
 */
#ifndef CHIME_CLOCK_H
#define CHIME_CLOCK_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

int64_t chime_clock_wall_usec(void);
int64_t chime_clock_mono_usec(void);

struct chime_clock {
	int64_t (*wall_usec)(void *userdata);
	int64_t (*mono_usec)(void *userdata);
	void *userdata;
};

/* The system's clocks. */
extern const struct chime_clock chime_clock_system;

static inline int64_t
chime_clock_wall(const struct chime_clock *c)
{
	return c->wall_usec(c->userdata);
}

static inline int64_t
chime_clock_mono(const struct chime_clock *c)
{
	return c->mono_usec(c->userdata);
}

/*
 * A clock for tests: both times stand still until the test moves them
 * with chime_fake_clock_advance(). Readable from any thread.
 */
struct chime_fake_clock {
	_Atomic int64_t wall_usec, mono_usec;
};

/* Start `fake` at `wall_usec` (monotonic 0) and fill *ret_clock with a
 * clock reading it (`fake` must outlive every user of the clock). */
void chime_fake_clock_init(struct chime_fake_clock *fake, int64_t wall_usec,
                           struct chime_clock *ret_clock);
/* Move both times forward by `usec`. */
void chime_fake_clock_advance(struct chime_fake_clock *fake, int64_t usec);

/*
 * `utc_usec` as RFC 3339 in UTC: "2026-11-21T10:03:30Z", with a fraction
 * (".5", ".123456") before the Z only when it is not zero. Returns the
 * length, or -ENOBUFS when `size` is too small, -ERANGE for a year outside
 * 0000-9999. The one timestamp formatter: the ledger's SQL literals, the
 * log, JSON and (through chime_clock_format_offset) every zone's local
 * time are written by it.
 */
#define CHIME_CLOCK_FORMAT_MAX 40
int chime_clock_format_utc(int64_t utc_usec, char *buf, size_t size);

/*
 * The same instant as the local time `offset_sec` east of UTC, with the
 * offset written out even when it is 0: "2026-03-29T03:00:00+02:00",
 * "1970-01-01T00:00:01.5+00:00". Returns as chime_clock_format_utc().
 */
int chime_clock_format_offset(int64_t utc_usec, int32_t offset_sec, char *buf, size_t size);

#endif
