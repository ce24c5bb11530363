/* SPDX-License-Identifier: MIT */
/*
 * The schedule (chime/schedule.h): a binary min-heap of armed jobs ordered
 * by fire instant (then name, so ties pop in a stable order), each entry
 * knowing its heap index so removal and re-arming are O(log n). A hash
 * index by job name (chained through the entries) makes lookups O(1), so
 * loading or reloading n jobs is O(n log n), not O(n^2). The slot
 * arithmetic is the expression engine's (chime_expr_next/prev); this file
 * only decides which slot comes next, what was missed, and the jitter.
 */
#include "schedule.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "tz.h"

/* Counting missed slots stops here; beyond it the count is a floor. */
#define SCHEDULE_COUNT_CAP 100000u

struct sched_entry {
	const struct chime_job_config *job;
	struct chime_slot slot;    /* next nominal slot */
	int64_t fire_usec;         /* slot.instant_usec + jitter */
	int64_t last_usec;         /* the slot that fired last, or INT64_MIN */
	int64_t anchor_usec;       /* `slot` is the first after this instant */
	unsigned skipped;          /* passed over since the last fire */
	size_t index;              /* position in the heap */
	uint64_t hash;             /* of job->name */
	struct sched_entry *hnext; /* next in its name-index bucket */
};

struct chime_schedule {
	struct chime_clock clock; /* only its wall clock is read */
	struct chime_tz *utc;     /* for jobs without a zone */
	struct sched_entry **heap;
	size_t n, allocated;
	struct sched_entry **buckets; /* the name index; a power of two of them */
	size_t n_buckets;
};

static int64_t
schedule_now(const struct chime_schedule *s)
{
	return chime_clock_wall(&s->clock);
}

int
chime_schedule_new(const struct chime_clock *clock, struct chime_schedule **ret_schedule)
{
	struct chime_schedule *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	s->clock = clock != NULL ? *clock : chime_clock_system;
	s->utc = chime_tz_utc();
	*ret_schedule = s;
	return 0;
}

struct chime_schedule *
chime_schedule_free(struct chime_schedule *s)
{
	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		free(s->heap[i]);
	free(s->heap);
	free(s->buckets);
	chime_tz_unref(s->utc);
	free(s);
	return NULL;
}

/* ---- Jitter ---------------------------------------------------------- */

int64_t
chime_schedule_jitter_usec(const char *name, const struct chime_slot *slot, int64_t jitter_usec)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325); /* FNV-1a, then a splitmix64 finish */
	uint64_t v = (uint64_t)slot->instant_usec;

	if (jitter_usec <= 0)
		return 0;
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++)
		h = (h ^ *p) * UINT64_C(0x100000001b3);
	for (int i = 0; i < 8; i++, v >>= 8)
		h = (h ^ (v & 0xff)) * UINT64_C(0x100000001b3);
	h ^= (uint64_t)slot->occurrence;
	h ^= h >> 30;
	h *= UINT64_C(0xbf58476d1ce4e5b9);
	h ^= h >> 27;
	h *= UINT64_C(0x94d049bb133111eb);
	h ^= h >> 31;
	return (int64_t)(h % ((uint64_t)jitter_usec + 1));
}

/* ---- Name index ------------------------------------------------------ */

static uint64_t
name_hash(const char *name)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325); /* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++)
		h = (h ^ *p) * UINT64_C(0x100000001b3);
	return h;
}

/* Grow to at least twice the entries; 0 or -ENOMEM (index unchanged). */
static int
index_reserve(struct chime_schedule *s, size_t want)
{
	struct sched_entry **b;
	size_t nb = s->n_buckets ? s->n_buckets : 16;

	if (want * 2 <= s->n_buckets)
		return 0;
	while (nb < want * 2)
		nb *= 2;
	b = calloc(nb, sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_buckets; i++) {
		struct sched_entry *e, *next;

		for (e = s->buckets[i]; e != NULL; e = next) {
			next = e->hnext;
			e->hnext = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	}
	free(s->buckets);
	s->buckets = b;
	s->n_buckets = nb;
	return 0;
}

/* Link `e` (not in the index) into its bucket; room was reserved. */
static void
index_add(struct chime_schedule *s, struct sched_entry *e)
{
	struct sched_entry **head = &s->buckets[e->hash & (s->n_buckets - 1)];

	e->hnext = *head;
	*head = e;
}

static void
index_remove(struct chime_schedule *s, struct sched_entry *e)
{
	struct sched_entry **p = &s->buckets[e->hash & (s->n_buckets - 1)];

	while (*p != NULL && *p != e)
		p = &(*p)->hnext;
	if (*p == e)
		*p = e->hnext;
}

/* ---- Heap ------------------------------------------------------------ */

static bool
entry_before(const struct sched_entry *a, const struct sched_entry *b)
{
	if (a->fire_usec != b->fire_usec)
		return a->fire_usec < b->fire_usec;
	return strcmp(a->job->name, b->job->name) < 0;
}

static void
heap_set(struct chime_schedule *s, size_t i, struct sched_entry *e)
{
	s->heap[i] = e;
	e->index = i;
}

static void
heap_up(struct chime_schedule *s, size_t i)
{
	struct sched_entry *e = s->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!entry_before(e, s->heap[parent]))
			break;
		heap_set(s, i, s->heap[parent]);
		i = parent;
	}
	heap_set(s, i, e);
}

static void
heap_down(struct chime_schedule *s, size_t i)
{
	struct sched_entry *e = s->heap[i];

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		const struct sched_entry *best = e;

		if (l < s->n && entry_before(s->heap[l], best)) {
			m = l;
			best = s->heap[l];
		}
		if (r < s->n && entry_before(s->heap[r], best))
			m = r;
		if (m == i)
			break;
		heap_set(s, i, s->heap[m]);
		i = m;
	}
	heap_set(s, i, e);
}

/* Restore order after entry `e` changed its fire instant. */
static void
heap_fix(struct chime_schedule *s, struct sched_entry *e)
{
	heap_up(s, e->index);
	heap_down(s, e->index);
}

static int
heap_push(struct chime_schedule *s, struct sched_entry *e)
{
	if (index_reserve(s, s->n + 1) < 0)
		return -ENOMEM;
	if (chime_grow(&s->heap, &s->allocated, s->n + 1, sizeof(*s->heap)) < 0)
		return -ENOMEM;
	heap_set(s, s->n++, e);
	heap_up(s, e->index);
	index_add(s, e);
	return 0;
}

/* Take `e` out of the heap and free it. */
static void
heap_delete(struct chime_schedule *s, struct sched_entry *e)
{
	size_t i = e->index;

	index_remove(s, e);
	s->n--;
	if (i != s->n) {
		heap_set(s, i, s->heap[s->n]);
		heap_fix(s, s->heap[i]);
	}
	free(e);
}

static struct sched_entry *
find_entry(const struct chime_schedule *s, const char *name)
{
	uint64_t h;

	if (s->n_buckets == 0)
		return NULL;
	h = name_hash(name);
	for (struct sched_entry *e = s->buckets[h & (s->n_buckets - 1)]; e != NULL; e = e->hnext)
		if (e->hash == h && strcmp(e->job->name, name) == 0)
			return e;
	return NULL;
}

/* A copy of the heap's entry pointers (NULL when empty or on OOM). */
static struct sched_entry **
snapshot(const struct chime_schedule *s)
{
	struct sched_entry **snap;

	if (s->n == 0)
		return NULL;
	snap = malloc(s->n * sizeof(*snap));
	if (snap != NULL)
		memcpy(snap, s->heap, s->n * sizeof(*snap));
	return snap;
}

/* ---- Slots ----------------------------------------------------------- */

static const struct chime_tz *
job_tz(const struct chime_schedule *s, const struct chime_job_config *job)
{
	return job->tz != NULL ? job->tz : s->utc;
}

static bool
job_fires(const struct chime_job_config *job)
{
	return job->enabled && job->expr != NULL && chime_expr_kind(job->expr) != CHIME_EXPR_REBOOT;
}

static int
job_next(const struct chime_schedule *s, const struct chime_job_config *job, int64_t after_usec,
         struct chime_slot *ret_slot)
{
	return chime_expr_next(job->expr, job_tz(s, job), after_usec, ret_slot);
}

/* Point `e` at `slot` (the first after `anchor_usec`), with its jitter. */
static void
entry_set_slot(struct sched_entry *e, const struct chime_slot *slot, int64_t anchor_usec)
{
	int64_t jitter = chime_schedule_jitter_usec(e->job->name, slot, e->job->jitter_usec);

	e->slot = *slot;
	e->anchor_usec = anchor_usec;
	e->fire_usec =
	        slot->instant_usec > INT64_MAX - jitter ? INT64_MAX : slot->instant_usec + jitter;
}

/* Slots with instant in (from, to], counted up to SCHEDULE_COUNT_CAP. */
static unsigned
count_slots(const struct chime_schedule *s, const struct chime_job_config *job, int64_t from_usec,
            int64_t to_usec)
{
	struct chime_slot slot;
	unsigned n = 0;

	while (n < SCHEDULE_COUNT_CAP && job_next(s, job, from_usec, &slot) == 0 &&
	       slot.instant_usec <= to_usec) {
		n++;
		from_usec = slot.instant_usec;
	}
	return n;
}

/*
 * Apply the misfire policy to a due entry whose later slots are due too.
 * Moves the entry to the slot that should fire and counts the ones passed
 * over. Returns true when it moved (the caller re-checks the heap top).
 */
static bool
entry_misfire(struct chime_schedule *s, struct sched_entry *e, int64_t now)
{
	const struct chime_job_config *job = e->job;
	struct chime_slot newest, first;
	unsigned behind;

	if (chime_expr_prev(job->expr, job_tz(s, job), now, &newest) < 0 ||
	    newest.instant_usec <= e->slot.instant_usec)
		return false; /* only this slot is due: no misfire */

	if (job->misfire != CHIME_MISFIRE_RUN_ALL) {
		/* run-once and skip: the newest slot stands for all of them. */
		e->skipped +=
		        1 + count_slots(s, job, e->slot.instant_usec, newest.instant_usec - 1);
		entry_set_slot(e, &newest, newest.instant_usec - 1);
		return true;
	}

	/* run-all: oldest first, but nothing older than catchup_window and
	 * at most max_catchup slots (counting the newest). */
	if (job->catchup_window_usec > 0 && e->slot.instant_usec < now - job->catchup_window_usec &&
	    job_next(s, job, now - job->catchup_window_usec - 1, &first) == 0 &&
	    first.instant_usec > e->slot.instant_usec) {
		e->skipped += 1 + count_slots(s, job, e->slot.instant_usec, first.instant_usec - 1);
		entry_set_slot(e, &first, first.instant_usec - 1);
		return true;
	}
	if (job->max_catchup > 0) {
		behind = 1 + count_slots(s, job, e->slot.instant_usec, newest.instant_usec);
		if (behind > (unsigned)job->max_catchup) {
			int64_t from = e->slot.instant_usec;
			unsigned drop = behind - (unsigned)job->max_catchup;

			/* Walk to the first slot that is kept. */
			for (unsigned i = 0; i < drop && job_next(s, job, from, &first) == 0; i++)
				from = first.instant_usec;
			e->skipped += drop;
			entry_set_slot(e, &first, from);
			return true;
		}
	}
	return false;
}

/* ---- Public ---------------------------------------------------------- */

static int
entry_new(struct chime_schedule *s, const struct chime_job_config *job, int64_t now,
          struct sched_entry **ret_entry)
{
	struct sched_entry *e;
	struct chime_slot slot;

	if (!job_fires(job) || job_next(s, job, now, &slot) < 0)
		return -ENOENT;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	e->job = job;
	e->hash = name_hash(job->name);
	e->last_usec = INT64_MIN;
	entry_set_slot(e, &slot, now);
	*ret_entry = e;
	return 0;
}

int
chime_schedule_add_job(struct chime_schedule *s, const struct chime_job_config *job)
{
	struct sched_entry *e;
	int r;

	if (find_entry(s, job->name) != NULL)
		return -EEXIST;
	r = entry_new(s, job, schedule_now(s), &e);
	if (r < 0)
		return r;
	r = heap_push(s, e);
	if (r < 0)
		free(e);
	return r;
}

int
chime_schedule_remove_job(struct chime_schedule *s, const char *name)
{
	struct sched_entry *e = find_entry(s, name);

	if (e == NULL)
		return -ENOENT;
	heap_delete(s, e);
	return 0;
}

int
chime_schedule_update_job(struct chime_schedule *s, const struct chime_job_config *job)
{
	struct sched_entry *e = find_entry(s, job->name);
	struct chime_slot slot;
	int64_t now;

	if (e == NULL)
		return -ENOENT;
	if (e->job->fingerprint == job->fingerprint && job_fires(job)) {
		e->job = job;
		return 0;
	}
	now = schedule_now(s);
	if (!job_fires(job) || job_next(s, job, now, &slot) < 0) {
		heap_delete(s, e);
		return -ENOENT;
	}
	e->job = job;
	e->skipped = 0;
	entry_set_slot(e, &slot, now);
	heap_fix(s, e);
	return 1;
}

/* The jobs of a config by name, for one reload: open addressing. */
struct job_index {
	const struct chime_job_config **slots;
	size_t mask;
};

static int
job_index_build(struct job_index *x, const struct chime_config *config)
{
	size_t n = 16;

	while (n < config->n_jobs * 2)
		n *= 2;
	x->slots = calloc(n, sizeof(*x->slots));
	if (x->slots == NULL)
		return -ENOMEM;
	x->mask = n - 1;
	for (size_t i = 0; i < config->n_jobs; i++) {
		size_t k = name_hash(config->jobs[i]->name) & x->mask;

		while (x->slots[k] != NULL)
			k = (k + 1) & x->mask;
		x->slots[k] = config->jobs[i];
	}
	return 0;
}

static const struct chime_job_config *
job_index_find(const struct job_index *x, const char *name)
{
	for (size_t k = name_hash(name) & x->mask; x->slots[k] != NULL; k = (k + 1) & x->mask)
		if (strcmp(x->slots[k]->name, name) == 0)
			return x->slots[k];
	return NULL;
}

int
chime_schedule_reload(struct chime_schedule *s, const struct chime_config *config,
                      struct chime_schedule_diff *ret_diff)
{
	struct chime_schedule_diff diff = {0};
	struct sched_entry **snap;
	struct job_index jobs;
	size_t n = s->n;
	int r = 0;

	if (job_index_build(&jobs, config) < 0)
		return -ENOMEM;
	/* Removing and re-arming reorders the heap: walk a snapshot. */
	snap = snapshot(s);
	if (snap == NULL && n > 0) {
		free(jobs.slots);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct sched_entry *e = snap[i];
		const struct chime_job_config *job = job_index_find(&jobs, e->job->name);

		if (job == NULL) {
			heap_delete(s, e);
			diff.removed++;
			continue;
		}
		r = chime_schedule_update_job(s, job);
		if (r == 0)
			diff.kept++;
		else if (r == 1)
			diff.changed++;
		else
			diff.removed++;
	}
	free(snap);
	free(jobs.slots);
	r = 0;
	for (size_t i = 0; i < config->n_jobs; i++) {
		int q;

		if (find_entry(s, config->jobs[i]->name) != NULL)
			continue;
		q = chime_schedule_add_job(s, config->jobs[i]);
		if (q == 0)
			diff.added++;
		else if (q == -ENOMEM)
			r = q;
	}
	if (ret_diff != NULL)
		*ret_diff = diff;
	return r;
}

size_t
chime_schedule_count(const struct chime_schedule *s)
{
	return s->n;
}

int64_t
chime_schedule_next(const struct chime_schedule *s, const struct chime_job_config **ret_job)
{
	if (s->n == 0)
		return CHIME_NEVER;
	if (ret_job != NULL)
		*ret_job = s->heap[0]->job;
	return s->heap[0]->fire_usec;
}

int
chime_schedule_job_next(const struct chime_schedule *s, const char *name,
                        struct chime_slot *ret_slot, int64_t *ret_fire_usec)
{
	const struct sched_entry *e = find_entry(s, name);

	if (e == NULL)
		return -ENOENT;
	if (ret_slot != NULL)
		*ret_slot = e->slot;
	if (ret_fire_usec != NULL)
		*ret_fire_usec = e->fire_usec;
	return 0;
}

int
chime_schedule_pop_due(struct chime_schedule *s, struct chime_due *ret_due)
{
	int64_t now = schedule_now(s);
	struct sched_entry *e;
	struct chime_slot next, prev;

	for (;;) {
		if (s->n == 0 || s->heap[0]->fire_usec > now)
			return 0;
		e = s->heap[0];
		if (!entry_misfire(s, e, now))
			break;
		heap_fix(s, e);
	}

	*ret_due = (struct chime_due){
	        .job = e->job,
	        .slot = e->slot,
	        .fire_usec = e->fire_usec,
	        .previous_usec = e->last_usec,
	        .skipped = e->skipped,
	};
	if (e->last_usec == INT64_MIN &&
	    chime_expr_prev(e->job->expr, job_tz(s, e->job), e->slot.instant_usec - 1, &prev) == 0)
		ret_due->previous_usec = prev.instant_usec;
	e->last_usec = e->slot.instant_usec;
	e->skipped = 0;
	if (job_next(s, e->job, e->slot.instant_usec, &next) < 0) {
		heap_delete(s, e); /* no slot left before year 9999 */
		return 1;
	}
	entry_set_slot(e, &next, e->slot.instant_usec);
	heap_fix(s, e);
	return 1;
}

size_t
chime_schedule_clock_changed(struct chime_schedule *s)
{
	int64_t now = schedule_now(s);
	struct chime_slot slot;
	struct sched_entry **snap = snapshot(s);
	size_t n = 0, count = s->n;

	if (snap == NULL)
		return 0;
	for (size_t i = 0; i < count; i++) {
		struct sched_entry *e = snap[i];

		if (e->anchor_usec <= now + CHIME_SCHEDULE_JUMP_USEC)
			continue;
		/* The clock went back a long way: waiting for the old next
		 * slot would stall the job for that long. Start over. */
		if (job_next(s, e->job, now, &slot) < 0) {
			heap_delete(s, e);
			continue;
		}
		entry_set_slot(e, &slot, now);
		e->last_usec = INT64_MIN;
		e->skipped = 0;
		heap_fix(s, e);
		n++;
	}
	free(snap);
	return n;
}
