/* SPDX-License-Identifier: MIT */
/*
 * The schedule: a min-heap of (next fire instant, job). The loop arms one
 * wall-clock timer for the earliest entry (chime_schedule_next()), pops
 * every due slot (chime_schedule_pop_due()) and hands it to the runner.
 *
 * Slots advance from the slot that fired, never from "now", so a late wake
 * or a clock set backwards never doubles a slot. When the wall clock moved
 * forward past several slots of a job (a clock jump, a suspend, a stalled
 * loop), the job's misfire policy decides: `run-all` fires each missed
 * slot oldest first within catchup_window and at most max_catchup of them;
 * `run-once` and `skip` fire only the newest due slot; the others are
 * counted in chime_due.skipped. A clock set back by more than
 * CHIME_SCHEDULE_JUMP_USEC recomputes from the new time on
 * chime_schedule_clock_changed() (cron's large-jump case); smaller
 * backward steps wait for the slot that was already next.
 *
 * Jitter delays each slot's fire instant by a deterministic amount in
 * [0, job->jitter_usec], a hash of the job name and the slot, so every node
 * and every restart agree on it.
 *
 * Jobs are borrowed from the config they came from: the caller keeps that
 * config alive while the schedule holds them (chime_schedule_reload()
 * swaps them). Pure: never logs, no globals; the clock is injectable for
 * tests. Not thread-safe: the loop thread owns it.
 */
#ifndef CHIME_SCHEDULE_H
#define CHIME_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "config.h"
#include "cron.h"

/* A clock set back by more than this re-evaluates every job from "now". */
#define CHIME_SCHEDULE_JUMP_USEC (INT64_C(3) * 3600 * 1000000)

struct chime_schedule;

/* One due slot, as popped. */
struct chime_due {
	const struct chime_job_config *job; /* borrowed, like the schedule's jobs */
	struct chime_slot slot;             /* the nominal slot */
	int64_t fire_usec;                  /* slot.instant_usec + jitter */
	int64_t previous_usec;              /* the job's previous nominal slot, or INT64_MIN */
	unsigned skipped;                   /* slots passed over before this one (misfire) */
};

/* Counts from chime_schedule_reload(). */
struct chime_schedule_diff {
	size_t kept, added, removed, changed;
};

/* `clock` is copied (only its wall clock is read); NULL means the system's.
 * Returns 0 or -ENOMEM. */
int chime_schedule_new(const struct chime_clock *clock, struct chime_schedule **ret_schedule);
struct chime_schedule *chime_schedule_free(struct chime_schedule *schedule); /* NULL-safe */

/*
 * Arm `job` (borrowed) at its first slot strictly after now. Returns 0;
 * -EEXIST when a job of that name is armed; -ENOENT when the job never
 * fires on a timer (disabled, @reboot, no slot before year 9999): it is
 * not added.
 */
int chime_schedule_add_job(struct chime_schedule *schedule, const struct chime_job_config *job);
/* Disarm the job named `name`: 0, or -ENOENT. */
int chime_schedule_remove_job(struct chime_schedule *schedule, const char *name);
/*
 * Replace the definition of the armed job of the same name. An unchanged
 * fingerprint keeps its next slot (only the pointer moves); a changed one
 * is re-armed from now. Returns 1 when re-armed, 0 when kept, -ENOENT when
 * no such job is armed (or the new definition never fires: it is removed).
 */
int chime_schedule_update_job(struct chime_schedule *schedule, const struct chime_job_config *job);
/*
 * Make the schedule match `config`'s jobs: unchanged jobs (same name and
 * fingerprint) keep their next slot, changed ones are re-armed from now,
 * new ones armed, missing ones removed. Fills *ret_diff when not NULL.
 * Returns 0 or -ENOMEM (the schedule may then hold a mix; reload again).
 */
int chime_schedule_reload(struct chime_schedule *schedule, const struct chime_config *config,
                          struct chime_schedule_diff *ret_diff);

/* Number of armed jobs. */
size_t chime_schedule_count(const struct chime_schedule *schedule);
/* The earliest fire instant, or CHIME_NEVER when nothing is armed; its job
 * in *ret_job when not NULL. */
int64_t chime_schedule_next(const struct chime_schedule *schedule,
                            const struct chime_job_config **ret_job);
/* The next slot and fire instant of job `name`: 0 or -ENOENT. */
int chime_schedule_job_next(const struct chime_schedule *schedule, const char *name,
                            struct chime_slot *ret_slot, int64_t *ret_fire_usec);

/*
 * Take the earliest slot whose fire instant is at or before now: returns 1
 * and fills *ret_due, and advances that job to its following slot; returns
 * 0 when nothing is due. Call until it returns 0 after every wake.
 */
int chime_schedule_pop_due(struct chime_schedule *schedule, struct chime_due *ret_due);

/*
 * The wall clock was set (timerfd reported ECANCELED): re-evaluate every
 * job against the clock. Returns how many jobs were re-armed from now.
 */
size_t chime_schedule_clock_changed(struct chime_schedule *schedule);

/* The jitter of `slot` for job `name` in [0, jitter_usec]; pure. */
int64_t chime_schedule_jitter_usec(const char *name, const struct chime_slot *slot,
                                   int64_t jitter_usec);

#endif
