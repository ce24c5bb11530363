/* SPDX-License-Identifier: MIT */
/*
 * Schedule expressions: crontab (5 or 6 fields, names, L W # ?, macros),
 * systemd calendar events ("Mon *-*-16..22 02:00"), and "@every SPAN".
 * The grammar is recognised by shape; all compile to one matcher (bitsets
 * per field plus calendar arithmetic) and answer next/prev in any zone with
 * a per-job DST policy. Pure: no globals, no logging, no TZ tricks; a
 * compiled expression is immutable and safe from any thread.
 *
 * Slots. Every fire has a nominal local slot: the local wall time the
 * expression matched, plus an occurrence number (0, or 1 for the second
 * pass through a repeated wall time at fall-back). The ledger keys runs by
 * it, so "at most once per slot" survives DST nights, restarts and nodes.
 *
 * DST policy (DESIGN.md section 4):
 *   gap (a matched wall time that does not exist, spring forward):
 *     RUN_AT_JUMP  fire at the first instant after the jump (the
 *                  transition instant); several matched wall times in one
 *                  gap fire once, as the earliest of them
 *     SKIP         do not fire
 *     SHIFT        fire at the wall time shifted by the gap's length
 *                  (02:30 in a one-hour gap fires at 03:30)
 *   overlap (a wall time that happens twice, fall back):
 *     ONCE         fire at its first occurrence only
 *     BOTH         fire at both (occurrence 0 and 1)
 *   AUTO defaults: a fixed hour field (a single hour or a short list, no
 *   `*` or step) gets RUN_AT_JUMP + ONCE (what Vixie cron documents); an
 *   hour field of `*` or a step follows real time: SKIP + BOTH. "@every"
 *   runs on elapsed time and has no local slots.
 */
#ifndef CHIME_CRON_H
#define CHIME_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct chime_tz;

#define CHIME_NEVER INT64_MAX

enum chime_days_mode {
	CHIME_DAYS_ANY, /* day-of-month OR day-of-week when both restricted (Vixie) */
	CHIME_DAYS_ALL, /* both must match */
};

enum chime_dst_gap {
	CHIME_DST_GAP_AUTO,
	CHIME_DST_GAP_RUN_AT_JUMP,
	CHIME_DST_GAP_SKIP,
	CHIME_DST_GAP_SHIFT,
};

enum chime_dst_overlap {
	CHIME_DST_OVERLAP_AUTO,
	CHIME_DST_OVERLAP_ONCE,
	CHIME_DST_OVERLAP_BOTH,
};

enum chime_expr_kind {
	CHIME_EXPR_CRON,     /* crontab line (or macro) */
	CHIME_EXPR_CALENDAR, /* systemd calendar event */
	CHIME_EXPR_EVERY,    /* @every SPAN, elapsed time */
	CHIME_EXPR_REBOOT,   /* @reboot: once when the daemon starts, no slots */
};

struct chime_expr_options {
	enum chime_days_mode days;
	enum chime_dst_gap gap;
	enum chime_dst_overlap overlap;
};

/* Where and why a parse failed: shown as "minute '61' out of range 0-59". */
struct chime_expr_error {
	unsigned column; /* 1-based column in the expression text, 0 unknown */
	char field[24];  /* "minute", "day-of-week", "calendar time", ... */
	char message[200];
};

struct chime_expr;

struct chime_slot {
	int64_t instant_usec; /* when it fires: UTC microseconds since the epoch */
	int64_t local_usec;   /* nominal local wall time as civil microseconds (see tz.h) */
	int occurrence;       /* 0, or 1 for the second pass of a repeated wall time */
};

/*
 * Compile `text` with `options` (NULL: ANY days, AUTO DST). Returns 0 and a
 * new expression in *ret_expr, or -EINVAL with *ret_error filled (when not
 * NULL). Expressions that can never fire ("0 0 30 2 *") are rejected with
 * -EINVAL and a message. Texts longer than 1024 bytes are rejected. A
 * trailing zone name in a calendar event ("... Europe/Berlin") overrides the
 * job's zone (see chime_expr_zone()).
 */
int chime_expr_parse(const char *text, const struct chime_expr_options *options,
                     struct chime_expr **ret_expr, struct chime_expr_error *ret_error);
struct chime_expr *chime_expr_free(struct chime_expr *expr); /* NULL-safe, returns NULL */

enum chime_expr_kind chime_expr_kind(const struct chime_expr *expr);
/* The interval of an @every expression in microseconds, else 0. */
int64_t chime_expr_interval_usec(const struct chime_expr *expr);
/* The zone named inside a calendar event, or NULL. Borrowed. */
const char *chime_expr_zone(const struct chime_expr *expr);
/* True when crontab day-of-month and day-of-week are both restricted and
 * the caller did not choose a days mode (chimectl check warns). */
bool chime_expr_days_ambiguous(const struct chime_expr *expr);

/*
 * The first slot whose instant is strictly after `after_usec`, evaluated in
 * `tz`. Returns 0 and fills *ret_slot, or -ENOENT when there is none
 * (@reboot; no match before year 9999). Bounded time for every expression.
 * @every slots are the multiples of the interval since the Unix epoch, so
 * every node computes the same slots.
 */
int chime_expr_next(const struct chime_expr *expr, const struct chime_tz *tz, int64_t after_usec,
                    struct chime_slot *ret_slot);
/* The last slot whose instant is at or before `at_usec`; -ENOENT if none. */
int chime_expr_prev(const struct chime_expr *expr, const struct chime_tz *tz, int64_t at_usec,
                    struct chime_slot *ret_slot);

#endif
