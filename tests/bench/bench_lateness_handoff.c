/* SPDX-License-Identifier: MIT */
/*
 * bench_lateness_handoff: what the runner's hand-off of a batch of due
 * slots to worker threads costs, the two ways: a detached pthread_create()
 * per run (lib/runner.c today) against a queue push and one condition
 * broadcast to idle pool threads. Prints, over ROUNDS batches of BATCH
 * runs, p50/p99 of the time from the first hand-off until the last worker
 * of the batch started.
 *
 *   bench_lateness_handoff [ROUNDS] [BATCH]      (default 200 10)
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define MAX_BATCH 64

static int64_t entered[MAX_BATCH];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int queue[MAX_BATCH], head, tail;

static int64_t
mono_nsec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *
created_worker(void *userdata)
{
	entered[(intptr_t)userdata] = mono_nsec();
	return NULL;
}

static void *
pool_worker(void *userdata)
{
	(void)userdata;
	pthread_mutex_lock(&lock);
	for (;;) {
		int k;

		while (head == tail)
			pthread_cond_wait(&cond, &lock);
		k = queue[head++ % MAX_BATCH];
		pthread_mutex_unlock(&lock);
		entered[k] = mono_nsec();
		pthread_mutex_lock(&lock);
	}
	return NULL;
}

static int
cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int64_t
last_of(int batch, int64_t t0)
{
	int64_t m = 0;

	for (int k = 0; k < batch; k++)
		if (entered[k] - t0 > m)
			m = entered[k] - t0;
	return m;
}

int
main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 200, batch = argc > 2 ? atoi(argv[2]) : 10;
	int64_t *create, *pool, t0;
	pthread_attr_t attr;
	pthread_t thread;

	if (rounds < 1 || batch < 1 || batch > MAX_BATCH) {
		fprintf(stderr, "usage: bench_lateness_handoff [ROUNDS] [BATCH<=%d]\n", MAX_BATCH);
		return 2;
	}
	create = calloc((size_t)rounds, sizeof(*create));
	pool = calloc((size_t)rounds, sizeof(*pool));
	if (create == NULL || pool == NULL)
		return 1;
	for (int i = 0; i < batch; i++)
		if (pthread_create(&thread, NULL, pool_worker, NULL) != 0)
			return 1;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (int r = 0; r < rounds; r++) {
		t0 = mono_nsec();
		for (intptr_t k = 0; k < batch; k++)
			if (pthread_create(&thread, &attr, created_worker, (void *)k) != 0)
				return 1;
		usleep(20000);
		create[r] = last_of(batch, t0);

		t0 = mono_nsec();
		pthread_mutex_lock(&lock);
		for (int k = 0; k < batch; k++)
			queue[tail++ % MAX_BATCH] = k;
		pthread_mutex_unlock(&lock);
		pthread_cond_broadcast(&cond);
		usleep(20000);
		pool[r] = last_of(batch, t0);
	}
	qsort(create, (size_t)rounds, sizeof(*create), cmp);
	qsort(pool, (size_t)rounds, sizeof(*pool), cmp);
	printf("batch of %d runs, %d rounds: until the last worker started\n", batch, rounds);
	printf("pthread_create per run: p50 %.3f ms  p99 %.3f ms\n", create[rounds / 2] / 1e6,
	       create[(rounds * 99 + 99) / 100 - 1] / 1e6);
	printf("idle pool, one signal:  p50 %.3f ms  p99 %.3f ms\n", pool[rounds / 2] / 1e6,
	       pool[(rounds * 99 + 99) / 100 - 1] / 1e6);
	free(create);
	free(pool);
	return 0;
}
