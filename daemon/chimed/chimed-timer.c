/* SPDX-License-Identifier: MIT */
/*
 * The wall-clock timer: one timerfd on CLOCK_REALTIME armed with
 * TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET and watched by uv_poll. It
 * wakes within about 0.1 ms of the instant (libuv's own timers have
 * millisecond resolution on the monotonic clock) and reports ECANCELED when
 * the wall clock is set, so the schedule is re-evaluated at once.
 */
#include <sys/timerfd.h>

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "cron.h"

#include "chimed.h"

/* "Never" is 2200-01-01: far enough, and representable in every time_t. */
#define WALL_TIMER_FAR_SEC INT64_C(7258118400)

static void
wall_timer_poll_cb(uv_poll_t *poll, int status, int events)
{
	struct chimed_wall_timer *timer = poll->data;
	uint64_t expirations;
	ssize_t n;

	n = read(timer->fd, &expirations, sizeof(expirations));
	if (n < 0 && errno == ECANCELED) {
		timer->cb(timer, true);
		return;
	}
	if (n == (ssize_t)sizeof(expirations))
		timer->cb(timer, false);
	/* EAGAIN: another wake consumed it; nothing to do. */
}

int
chimed_wall_timer_init(uv_loop_t *loop, struct chimed_wall_timer *timer,
                       void (*cb)(struct chimed_wall_timer *timer, bool clock_set))
{
	int r;

	timer->cb = cb;
	timer->fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	if (timer->fd < 0)
		return -errno;
	r = uv_poll_init(loop, &timer->poll, timer->fd);
	if (r < 0) {
		close(timer->fd);
		timer->fd = -1;
		return r;
	}
	timer->poll.data = timer;
	r = uv_poll_start(&timer->poll, UV_READABLE, wall_timer_poll_cb);
	if (r < 0)
		return r;
	return chimed_wall_timer_arm(timer, CHIME_NEVER);
}

int
chimed_wall_timer_arm(struct chimed_wall_timer *timer, int64_t wall_usec)
{
	struct itimerspec its = {0};
	int64_t sec = wall_usec / 1000000, usec = wall_usec % 1000000;

	if (wall_usec == CHIME_NEVER || sec > WALL_TIMER_FAR_SEC) {
		sec = WALL_TIMER_FAR_SEC;
		usec = 0;
	}
	if (sec <= 0 && usec <= 0) {
		sec = 0; /* the epoch has passed: fires at once */
		usec = 1;
	}
	its.it_value.tv_sec = (time_t)sec;
	its.it_value.tv_nsec = (long)usec * 1000;
	if (timerfd_settime(timer->fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL) < 0)
		return -errno;
	return 0;
}

static void
wall_timer_closed(uv_handle_t *handle)
{
	struct chimed_wall_timer *timer = handle->data;

	close(timer->fd);
	timer->fd = -1;
}

void
chimed_wall_timer_close(struct chimed_wall_timer *timer)
{
	uv_close((uv_handle_t *)&timer->poll, wall_timer_closed);
}
