/* SPDX-License-Identifier: MIT */
/*
 * bench_lateness_peer: the peers chimed's lateness is compared with, run
 * by bench_lateness.sh at the same time as chimed and aimed at the same
 * wall-clock instants (every whole second + OFFSET_USEC):
 *
 *   uv     a libuv uv_timer, re-armed after each wake with the delay to
 *          the next instant rounded up to whole milliseconds (libuv's
 *          timeout unit), the way an event-loop scheduler without a
 *          wall-clock timer aims at an instant;
 *   sleep  a thread in clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME).
 *
 * Prints one line per wake, "uv|sleep NOMINAL_USEC ENTERED_USEC", for
 * SECONDS seconds, then exits.
 *
 *   bench_lateness_peer SECONDS [OFFSET_USEC]
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <uv.h>

struct peer {
	int64_t first_usec, last_usec, offset_usec, next_usec;
	pthread_mutex_t out_lock;
};

static int64_t
wall_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
emit(struct peer *p, const char *who, int64_t nominal, int64_t entered)
{
	pthread_mutex_lock(&p->out_lock);
	printf("%s %" PRId64 " %" PRId64 "\n", who, nominal, entered);
	pthread_mutex_unlock(&p->out_lock);
}

static void *
sleep_thread(void *userdata)
{
	struct peer *p = userdata;

	for (int64_t t = p->first_usec; t <= p->last_usec; t += 1000000) {
		struct timespec ts = {.tv_sec = t / 1000000, .tv_nsec = (long)(t % 1000000) * 1000};
		int r;

		while ((r = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL)) == EINTR)
			;
		if (r != 0)
			return NULL;
		emit(p, "sleep", t, wall_usec());
	}
	return NULL;
}

static void
uv_timer_fired(uv_timer_t *timer)
{
	struct peer *p = timer->data;
	int64_t now = wall_usec(), delay;

	if (now < p->next_usec) {
		/* Early (a rounded-down wake): aim again at the same instant. */
		delay = p->next_usec - now;
		uv_timer_start(timer, uv_timer_fired, (uint64_t)((delay + 999) / 1000), 0);
		return;
	}
	emit(p, "uv", p->next_usec, now);
	p->next_usec += 1000000;
	if (p->next_usec > p->last_usec)
		return;
	uv_update_time(timer->loop);
	delay = p->next_usec - wall_usec();
	uv_timer_start(timer, uv_timer_fired, delay > 0 ? (uint64_t)((delay + 999) / 1000) : 0, 0);
}

int
main(int argc, char **argv)
{
	struct peer p = {.out_lock = PTHREAD_MUTEX_INITIALIZER};
	uv_timer_t timer;
	pthread_t thread;
	int64_t seconds, delay;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: bench_lateness_peer SECONDS [OFFSET_USEC]\n");
		return 2;
	}
	seconds = strtoll(argv[1], NULL, 10);
	p.offset_usec = argc == 3 ? strtoll(argv[2], NULL, 10) : 0;
	p.first_usec = (wall_usec() / 1000000 + 1) * 1000000 + p.offset_usec;
	p.last_usec = p.first_usec + (seconds - 1) * 1000000;
	p.next_usec = p.first_usec;
	if (pthread_create(&thread, NULL, sleep_thread, &p) != 0)
		return 1;

	uv_timer_init(uv_default_loop(), &timer);
	timer.data = &p;
	uv_update_time(uv_default_loop());
	delay = p.next_usec - wall_usec();
	uv_timer_start(&timer, uv_timer_fired, (uint64_t)((delay + 999) / 1000), 0);
	uv_run(uv_default_loop(), UV_RUN_DEFAULT);
	pthread_join(thread, NULL);
	return 0;
}
