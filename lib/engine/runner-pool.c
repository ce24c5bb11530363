/* SPDX-License-Identifier: MIT */
/*
 * The runner's worker threads: a small pool of idle threads that take due
 * runs from a queue, so a dispatch costs a queue push and a condition
 * signal instead of a pthread_create() per run (see docs/performance.md).
 *
 * Two threads are started with the runner; the pool grows on demand when
 * a run is queued and no pool thread is free, up to CHIME_RUNNER_WORKERS_CAP
 * (or the database pool size, if larger), and idle threads are kept. Past
 * the cap, a run gets a dedicated thread that exits after it: a plugin
 * blocking for hours never holds a queued run back. The loop queues every
 * run of a batch (one timer wake, a catch-up) first and wakes the workers
 * once from a uv_idle callback after it, so the first run does not compete
 * with the dispatch of the ones after it. Every thread is joined: exited
 * dedicated ones on the next submit, the rest at chime__pool_stop().
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "runner-internal.h"

struct runner_worker {
	struct chime_runner *runner;
	pthread_t thread;
	struct chime_runner_run *dedicated; /* the one run of a dedicated thread */
	bool exited;                        /* under pool.lock */
	struct runner_worker *next;         /* pool.workers, loop-owned */
};

static void *
pool_thread(void *userdata)
{
	struct runner_worker *w = userdata;
	struct runner_pool *pool = &w->runner->pool;
	struct chime_runner_run *rr;

	if (w->dedicated != NULL) {
		chime__runner_worker(w->dedicated);
		pthread_mutex_lock(&pool->lock);
		w->exited = true;
		pthread_mutex_unlock(&pool->lock);
		return NULL;
	}
	pthread_mutex_lock(&pool->lock);
	for (;;) {
		while (!pool->stop && pool->head == NULL)
			pthread_cond_wait(&pool->cond, &pool->lock);
		if (pool->head == NULL)
			break;
		rr = pool->head;
		pool->head = rr->work_next;
		if (pool->head == NULL)
			pool->tail = NULL;
		pool->queued--;
		pool->free--;
		pthread_mutex_unlock(&pool->lock);
		/* The run is the loop's again once its worker posted it. */
		chime__runner_worker(rr);
		pthread_mutex_lock(&pool->lock);
		pool->free++;
	}
	pool->threads--;
	pool->free--;
	w->exited = true;
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

/* Start a pool thread, or a dedicated one for `dedicated`; with pool.lock held. */
static int
pool_spawn(struct chime_runner *runner, struct chime_runner_run *dedicated)
{
	struct runner_pool *pool = &runner->pool;
	struct runner_worker *w = calloc(1, sizeof(*w));
	int r;

	if (w == NULL)
		return -ENOMEM;
	w->runner = runner;
	w->dedicated = dedicated;
	r = pthread_create(&w->thread, NULL, pool_thread, w);
	if (r != 0) {
		free(w);
		return -r;
	}
	if (dedicated == NULL) {
		pool->threads++;
		pool->free++;
	}
	w->next = pool->workers;
	pool->workers = w;
	return 0;
}

/* Join the threads that exited (all of them with `all`, after stop). */
static void
pool_reap(struct runner_pool *pool, bool all)
{
	struct runner_worker **p = &pool->workers, *w, *reaped = NULL;

	pthread_mutex_lock(&pool->lock);
	while ((w = *p) != NULL) {
		if (all || w->exited) {
			*p = w->next;
			w->next = reaped;
			reaped = w;
		} else {
			p = &w->next;
		}
	}
	pthread_mutex_unlock(&pool->lock);
	while ((w = reaped) != NULL) {
		reaped = w->next;
		(void)pthread_join(w->thread, NULL);
		free(w);
	}
}

static void
pool_wake_cb(uv_idle_t *idle)
{
	struct chime_runner *runner = idle->data;
	struct runner_pool *pool = &runner->pool;

	uv_idle_stop(idle);
	pthread_mutex_lock(&pool->lock);
	for (size_t i = 0; i < pool->queued; i++)
		pthread_cond_signal(&pool->cond);
	pthread_mutex_unlock(&pool->lock);
}

int
chime__pool_init(struct chime_runner *runner, size_t cap)
{
	struct runner_pool *pool = &runner->pool;
	int r;

	pool->cap = cap;
	r = pthread_mutex_init(&pool->lock, NULL);
	if (r != 0)
		return -r;
	r = pthread_cond_init(&pool->cond, NULL);
	if (r != 0) {
		pthread_mutex_destroy(&pool->lock);
		return -r;
	}
	r = uv_idle_init(runner->options.loop, &pool->wake);
	if (r < 0) {
		pthread_cond_destroy(&pool->cond);
		pthread_mutex_destroy(&pool->lock);
		return r;
	}
	pool->wake.data = runner;
	pool->initialised = true;
	pthread_mutex_lock(&pool->lock);
	for (size_t i = 0; i < CHIME_RUNNER_WORKERS_START && i < cap; i++)
		if (pool_spawn(runner, NULL) < 0)
			break;
	pthread_mutex_unlock(&pool->lock);
	return 0;
}

int
chime__pool_submit(struct chime_runner *runner, struct chime_runner_run *rr)
{
	struct runner_pool *pool = &runner->pool;
	int r = 0;

	pool_reap(pool, false);
	pthread_mutex_lock(&pool->lock);
	if (pool->free <= pool->queued) {
		/* Every pool thread is busy or spoken for: grow, or past the
		 * cap give the run a thread of its own. */
		if (pool->threads < pool->cap) {
			r = pool_spawn(runner, NULL);
		} else {
			r = pool_spawn(runner, rr);
			pthread_mutex_unlock(&pool->lock);
			return r;
		}
		/* A pool that cannot grow still serves the run later. */
		if (r < 0 && pool->threads > 0)
			r = 0;
	}
	if (r == 0) {
		rr->work_next = NULL;
		if (pool->tail != NULL)
			pool->tail->work_next = rr;
		else
			pool->head = rr;
		pool->tail = rr;
		pool->queued++;
	}
	pthread_mutex_unlock(&pool->lock);
	if (r == 0 && !uv_is_active((uv_handle_t *)&pool->wake))
		uv_idle_start(&pool->wake, pool_wake_cb);
	return r;
}

void
chime__pool_stop(struct chime_runner *runner, uv_close_cb closed_cb)
{
	struct runner_pool *pool = &runner->pool;

	if (!pool->initialised)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->stop = true;
	pthread_cond_broadcast(&pool->cond);
	pthread_mutex_unlock(&pool->lock);
	pool_reap(pool, true);
	uv_close((uv_handle_t *)&pool->wake, closed_cb);
}

void
chime__pool_free(struct chime_runner *runner)
{
	struct runner_pool *pool = &runner->pool;

	if (!pool->initialised)
		return;
	pthread_cond_destroy(&pool->cond);
	pthread_mutex_destroy(&pool->lock);
	pool->initialised = false;
}
