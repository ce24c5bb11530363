/* SPDX-License-Identifier: MIT */
/*
 * An account of every slot (`chimectl audit JOB`, `chimectl why JOB`):
 * the nominal slots of a job's schedule in a range, each with a verdict
 * and the reason, from the ledger's rows.
 *
 * chime_audit_expand() lists the slots: those the schedule fires (the
 * expander chimed uses) and those its DST policy drops (a wall time in a
 * spring-forward gap, the repeat of a fall-back hour), found by expanding
 * the same expression once more with `gap: shift, overlap: both`.
 * chime_audit_plan() joins them with the rows (every attempt) and the
 * pauses: succeeded on node X late by N ms, failed, timed out, skipped
 * (paused by whom and why, overlap with run N, misfire policy, DST
 * policy), lost or recovered, running, missing (no row: no node claimed
 * it), pending; rows of no slot in the range (manual runs, slots of an
 * older schedule) are listed apart.
 *
 * Pure: no database, no logging, no globals; the expressions, zone, rows
 * and the current instant are handed in, so it is unit-tested without a
 * database (tests/unit/test_audit.c).
 */
#ifndef CHIME_AUDIT_H
#define CHIME_AUDIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cron.h"
#include "run-record.h"

struct chime_tz;

#define CHIME_AUDIT_MAX_SLOTS 100000 /* a range holding more needs --force */

enum chime_audit_verdict {
	CHIME_AUDIT_SUCCEEDED,
	CHIME_AUDIT_RECOVERED, /* succeeded after an attempt was lost */
	CHIME_AUDIT_FAILED,
	CHIME_AUDIT_TIMED_OUT,
	CHIME_AUDIT_CANCELLED,
	CHIME_AUDIT_SKIPPED,
	CHIME_AUDIT_LOST,
	CHIME_AUDIT_RUNNING, /* claimed or running */
	CHIME_AUDIT_MISSING, /* due, and no row */
	CHIME_AUDIT_PENDING, /* not due yet (or just due) */
	CHIME_AUDIT_PRUNED,  /* older than the job's history: rows deleted */
	CHIME_AUDIT_N_VERDICTS,
};

/* Why a skipped slot did not run. */
enum chime_audit_skip {
	CHIME_AUDIT_SKIP_NONE,
	CHIME_AUDIT_SKIP_PAUSED,
	CHIME_AUDIT_SKIP_OVERLAP,
	CHIME_AUDIT_SKIP_MISFIRE,
	CHIME_AUDIT_SKIP_DST_GAP,
	CHIME_AUDIT_SKIP_DST_OVERLAP,
	CHIME_AUDIT_SKIP_OTHER,
};

/* "succeeded", "recovered", ..., "pruned"; "skip" names: "paused",
 * "overlap", "misfire", "dst-gap", "dst-overlap", "other" (NULL for NONE). */
const char *chime_audit_verdict_name(enum chime_audit_verdict verdict);
const char *chime_audit_skip_name(enum chime_audit_skip skip);

/* One nominal slot. */
struct chime_audit_slot {
	struct chime_slot slot; /* a dropped gap slot: instant is where `shift` would put it */
	enum chime_audit_skip dropped; /* NONE, DST_GAP or DST_OVERLAP */
	int64_t merged_local_usec;     /* DST_GAP under run-at-jump: the slot that fired for it at
	                                * the jump; INT64_MIN: none (gap: skip) */
};

/*
 * The slots of `expr` in `tz` whose instant is in [from_usec, to_usec],
 * oldest first; `all` (may be NULL) is the same schedule compiled with
 * `gap: shift, overlap: both`, whose extra slots are the DST policy's
 * drops. At most `max` slots: -E2BIG when the range holds more. Returns 0
 * and a new array in *ret_slots (free()) and its length, or -ENOMEM.
 */
int chime_audit_expand(const struct chime_expr *expr, const struct chime_expr *all,
                       const struct chime_tz *tz, int64_t from_usec, int64_t to_usec, size_t max,
                       struct chime_audit_slot **ret_slots, size_t *ret_n);

struct chime_audit_input {
	const struct chime_audit_slot *slots;
	size_t n_slots;
	const struct chime_run_record *runs; /* the ledger's rows, any order */
	size_t n_runs;
	const struct chime_pause_record *pauses;
	size_t n_pauses;
	int64_t from_usec, to_usec; /* the range, for the rows of no slot */
	int64_t first_row_usec;     /* the job's oldest kept row; INT64_MIN: none */
	int64_t now_usec;
	int64_t history_usec;      /* the job's retention (`history:`); <= 0: forever */
	const char *misfire;       /* the job's misfire policy by name, for the reason */
	const struct chime_tz *tz; /* the times in reasons are written in it */
};

struct chime_audit_entry {
	struct chime_audit_slot slot;
	enum chime_audit_verdict verdict;
	enum chime_audit_skip skip;
	const struct chime_run_record *run; /* the latest attempt (borrowed), or NULL */
	int attempts;
	int64_t late_usec;  /* started - scheduled; INT64_MIN: did not start */
	int64_t blocker_id; /* overlap: the run in the way; 0: unknown */
	char *reason;       /* one line, owned */
};

struct chime_audit {
	struct chime_audit_entry *entries; /* one per slot, in slot order */
	size_t n_entries;
	const struct chime_run_record **others; /* rows of no slot here, borrowed */
	size_t n_others;
	size_t counts[CHIME_AUDIT_N_VERDICTS];
};

/*
 * Judge every slot of `in`. Returns 0 and fills *ret_audit (free with
 * chime_audit_done(); it borrows the input's rows), or -ENOMEM.
 */
int chime_audit_plan(const struct chime_audit_input *in, struct chime_audit *ret_audit);
void chime_audit_done(struct chime_audit *audit);

/* "paused by alice: deploy freeze", "paused by alice", "paused: NOTE" or
 * "paused (who and why not recorded)" into buf. */
void chime_audit_pause_phrase(const char *by, const char *note, char *buf, size_t size);

/* A local wall time (civil usec) as "2026-03-29 02:30:00", or "02:30". */
void chime_audit_wall_text(int64_t local_usec, bool time_only, char *buf, size_t size);

/* ---- Output (audit-text.c) ------------------------------------------ */

/* What the output says of the audit besides its entries. Borrowed. */
struct chime_audit_report {
	const char *job;
	const char *schedule;      /* as written */
	const struct chime_tz *tz; /* the job's zone: times are written in it */
	int64_t from_usec, to_usec;
	bool truncated; /* the ledger had more rows than were read */
};

/* The audit as a table for people: one row per slot (SLOT VERDICT RUN TRY
 * REASON), the rows of no slot apart, and the counts. */
void chime_audit_print(FILE *out, const struct chime_audit *audit,
                       const struct chime_audit_report *report);
/* The same as JSON (docs/chimectl.1 lists the members); a new reference,
 * NULL on OOM. */
json_t *chime_audit_json(const struct chime_audit *audit, const struct chime_audit_report *report);
/* One slot explained in a few sentences: what was scheduled, which node,
 * what happened, why. `at_usec` is the time asked about. */
void chime_audit_print_why(FILE *out, const struct chime_audit *audit, size_t index,
                           int64_t at_usec, const struct chime_audit_report *report);
/* The entry as JSON with the explanation as "explanation"; NULL on OOM. */
json_t *chime_audit_json_why(const struct chime_audit *audit, size_t index, int64_t at_usec,
                             const struct chime_audit_report *report);

#endif
