/* SPDX-License-Identifier: MIT */
/*
 * The verdict of every slot (audit.h): the slots are expanded from the
 * job's expression, the rows are matched to them by their ledger key
 * (local wall time + occurrence), and the latest attempt decides, with
 * the skip reason the ledger wrote read back into who paused, which run
 * was in the way, or which policy dropped the slot.
 */
#include "audit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "text-table.h"
#include "timespan.h"
#include "tz.h"

#define USEC_PER_SEC INT64_C(1000000)
/* A slot due this recently may still be on its way to a claim (jitter,
 * a busy loop): not called missing yet. */
#define AUDIT_GRACE_USEC (INT64_C(60) * USEC_PER_SEC)

static const char *const verdict_names[CHIME_AUDIT_N_VERDICTS] = {
        "succeeded", "recovered", "failed",  "timed_out", "cancelled", "skipped",
        "lost",      "running",   "missing", "pending",   "pruned",
};

const char *
chime_audit_verdict_name(enum chime_audit_verdict verdict)
{
	return (unsigned)verdict < CHIME_AUDIT_N_VERDICTS ? verdict_names[verdict] : NULL;
}

const char *
chime_audit_skip_name(enum chime_audit_skip skip)
{
	static const char *const names[] = {NULL,      "paused",      "overlap", "misfire",
	                                    "dst-gap", "dst-overlap", "other"};

	return (unsigned)skip < sizeof(names) / sizeof(names[0]) ? names[skip] : NULL;
}

/* A civil (local wall) time as "2026-03-29 02:30:00", or its "HH:MM". */
void
chime_audit_wall_text(int64_t local_usec, bool time_only, char *buf, size_t size)
{
	int64_t sec = chime_floor_div(local_usec, USEC_PER_SEC), days = chime_floor_div(sec, 86400);
	int64_t tod = sec - days * 86400, y;
	unsigned m, d;

	chime_civil_from_days(days, &y, &m, &d);
	if (time_only)
		snprintf(buf, size, "%02d:%02d", (int)(tod / 3600), (int)(tod / 60 % 60));
	else
		snprintf(buf, size, "%04d-%02u-%02u %02d:%02d:%02d", (int)y, m, d,
		         (int)(tod / 3600), (int)(tod / 60 % 60), (int)(tod % 60));
}

void
chime_audit_pause_phrase(const char *by, const char *note, char *buf, size_t size)
{
	bool has_by = by != NULL && by[0] != '\0', has_note = note != NULL && note[0] != '\0';

	if (has_by && has_note)
		snprintf(buf, size, "paused by %s: %s", by, note);
	else if (has_by)
		snprintf(buf, size, "paused by %s", by);
	else if (has_note)
		snprintf(buf, size, "paused: %s", note);
	else
		snprintf(buf, size, "paused (who and why not recorded)");
}

/* ---- Expansion -------------------------------------------------------- */

static int
compare_key(int64_t la, int oa, int64_t lb, int ob)
{
	if (la != lb)
		return la < lb ? -1 : 1;
	return (oa > ob) - (oa < ob);
}

static int
compare_slot_key(const void *a, const void *b)
{
	const struct chime_slot *x = a, *y = b;

	return compare_key(x->local_usec, x->occurrence, y->local_usec, y->occurrence);
}

static int
compare_slot_time(const void *a, const void *b)
{
	const struct chime_audit_slot *x = a, *y = b;

	if (x->slot.instant_usec != y->slot.instant_usec)
		return x->slot.instant_usec < y->slot.instant_usec ? -1 : 1;
	return compare_slot_key(&x->slot, &y->slot);
}

static int
append_slot(struct chime_audit_slot **v, size_t *n, size_t *cap, size_t max,
            const struct chime_audit_slot *s)
{
	if (*n >= max)
		return -E2BIG;
	if (chime_grow(v, cap, *n + 1, sizeof(**v)) < 0)
		return -ENOMEM;
	(*v)[(*n)++] = *s;
	return 0;
}

/* For a gap slot under run-at-jump: the fired slot whose wall time is in
 * the same gap (it fired at the jump), or INT64_MIN. */
static int64_t
merged_into(const struct chime_audit_slot *fired, size_t n, const struct chime_tz *tz,
            int64_t jump_usec)
{
	for (size_t i = 0; i < n; i++) {
		int64_t utc[2], jump;

		if (fired[i].slot.instant_usec != jump_usec)
			continue;
		if (chime_tz_resolve(tz, chime_floor_div(fired[i].slot.local_usec, USEC_PER_SEC),
		                     utc, &jump, NULL) == 0)
			return fired[i].slot.local_usec;
	}
	return INT64_MIN;
}

/* The slots `all` has and the fired ones do not, appended to *v. */
static int
expand_dropped(const struct chime_expr *all, const struct chime_tz *tz, int64_t from_usec,
               int64_t to_usec, size_t max, struct chime_audit_slot **v, size_t *n, size_t *cap)
{
	size_t n_fired = *n;
	struct chime_slot *keys = calloc(n_fired + 1, sizeof(*keys)), s;
	int64_t t = from_usec - 1;
	int r = 0;

	if (keys == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n_fired; i++)
		keys[i] = (*v)[i].slot;
	qsort(keys, n_fired, sizeof(*keys), compare_slot_key);
	while (r == 0 && chime_expr_next(all, tz, t, &s) == 0 && s.instant_usec <= to_usec) {
		struct chime_audit_slot d = {.slot = s, .merged_local_usec = INT64_MIN};
		int64_t utc[2], jump;
		int k;

		t = s.instant_usec;
		if (bsearch(&s, keys, n_fired, sizeof(*keys), compare_slot_key) != NULL)
			continue;
		k = chime_tz_resolve(tz, chime_floor_div(s.local_usec, USEC_PER_SEC), utc, &jump,
		                     NULL);
		if (k == 0) {
			d.dropped = CHIME_AUDIT_SKIP_DST_GAP;
			d.merged_local_usec = merged_into(*v, n_fired, tz, jump * USEC_PER_SEC);
		} else if (k == 2 && s.occurrence == 1) {
			d.dropped = CHIME_AUDIT_SKIP_DST_OVERLAP;
		} else {
			continue;
		}
		r = append_slot(v, n, cap, max, &d);
	}
	free(keys);
	return r;
}

int
chime_audit_expand(const struct chime_expr *expr, const struct chime_expr *all,
                   const struct chime_tz *tz, int64_t from_usec, int64_t to_usec, size_t max,
                   struct chime_audit_slot **ret_slots, size_t *ret_n)
{
	struct chime_audit_slot *v = NULL;
	size_t n = 0, cap = 0;
	struct chime_slot s;
	int64_t t = from_usec - 1;
	int r = 0;

	while (chime_expr_next(expr, tz, t, &s) == 0 && s.instant_usec <= to_usec) {
		struct chime_audit_slot a = {.slot = s, .merged_local_usec = INT64_MIN};

		r = append_slot(&v, &n, &cap, max, &a);
		if (r < 0)
			goto fail;
		t = s.instant_usec;
	}
	if (all != NULL) {
		r = expand_dropped(all, tz, from_usec, to_usec, max, &v, &n, &cap);
		if (r < 0)
			goto fail;
	}
	qsort(v, n, sizeof(*v), compare_slot_time);
	*ret_slots = v;
	*ret_n = n;
	return 0;
fail:
	free(v);
	return r;
}

/* ---- Verdicts --------------------------------------------------------- */

static int
compare_run(const void *a, const void *b)
{
	const struct chime_run_record *x = *(const struct chime_run_record *const *)a;
	const struct chime_run_record *y = *(const struct chime_run_record *const *)b;
	int c = compare_key(x->local_usec, x->occurrence, y->local_usec, y->occurrence);

	if (c != 0)
		return c;
	if (x->attempt != y->attempt)
		return x->attempt < y->attempt ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

/* The first index of `sorted` with the key (local, occurrence), or n. */
static size_t
runs_lower_bound(const struct chime_run_record *const *sorted, size_t n, int64_t local,
                 int occurrence)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (compare_key(sorted[mid]->local_usec, sorted[mid]->occurrence, local,
		                occurrence) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static const struct chime_pause_record *
pause_at(const struct chime_audit_input *in, int64_t t)
{
	const struct chime_pause_record *found = NULL;

	for (size_t i = 0; i < in->n_pauses; i++)
		if (in->pauses[i].paused_usec <= t && t <= in->pauses[i].resumed_usec)
			found = &in->pauses[i];
	return found;
}

/* The run that was live when the skip was recorded at `t`: the latest
 * claimed before it of another slot, not finished by then. */
static const struct chime_run_record *
overlap_blocker(const struct chime_audit_input *in, const struct chime_run_record *skip, int64_t t)
{
	const struct chime_run_record *found = NULL;

	for (size_t i = 0; i < in->n_runs; i++) {
		const struct chime_run_record *r = &in->runs[i];

		if (r == skip || r->status == CHIME_RUN_SKIPPED || r->claimed_usec > t ||
		    (r->finished_usec != INT64_MIN && r->finished_usec < t) ||
		    compare_key(r->local_usec, r->occurrence, skip->local_usec, skip->occurrence) ==
		            0)
			continue;
		if (found == NULL || r->claimed_usec > found->claimed_usec)
			found = r;
	}
	return found;
}

static void
late_text(int64_t late_usec, char *buf, size_t size)
{
	char span[64];

	if (late_usec < 60 * USEC_PER_SEC) {
		snprintf(buf, size, "%" PRId64 " ms", late_usec < 0 ? 0 : late_usec / 1000);
		return;
	}
	if (chime_timespan_format(late_usec - late_usec % USEC_PER_SEC, span, sizeof(span)) < 0)
		snprintf(span, sizeof(span), "?");
	snprintf(buf, size, "%s", span);
}

static const char *
text_or(const char *s, const char *fallback)
{
	return s != NULL && s[0] != '\0' ? s : fallback;
}

static void
judge_skipped(const struct chime_audit_input *in, struct chime_audit_entry *e, char *buf,
              size_t size)
{
	const struct chime_run_record *run = e->run;
	const char *error = text_or(run->error, "");
	int64_t t = run->claimed_usec != INT64_MIN ? run->claimed_usec : run->scheduled_usec;
	char when[64];

	if (strncmp(error, "paused", 6) == 0) {
		const struct chime_pause_record *p = pause_at(in, t);

		if (p == NULL)
			p = pause_at(in, run->scheduled_usec);
		e->skip = CHIME_AUDIT_SKIP_PAUSED;
		if (p == NULL) {
			chime_audit_pause_phrase(NULL, NULL, buf, size);
			return;
		}
		chime_audit_pause_phrase(p->by, p->note, buf, size);
		chime_text_time(p->paused_usec, in->tz, when, sizeof(when));
		snprintf(buf + strlen(buf), size - strlen(buf), " (since %s)", when);
	} else if (strncmp(error, "overlap", 7) == 0) {
		const struct chime_run_record *b = overlap_blocker(in, run, t);

		e->skip = CHIME_AUDIT_SKIP_OVERLAP;
		if (b == NULL) {
			snprintf(buf, size, "overlap: the previous run was still running");
			return;
		}
		e->blocker_id = b->id;
		chime_text_time(b->scheduled_usec, in->tz, when, sizeof(when));
		snprintf(buf, size,
		         "overlap: run %" PRId64 " (slot %s) was still running on node %s", b->id,
		         when, text_or(b->node, "?"));
	} else if (strncmp(error, "misfire", 7) == 0) {
		e->skip = CHIME_AUDIT_SKIP_MISFIRE;
		chime_text_time(t, in->tz, when, sizeof(when));
		snprintf(
		        buf, size,
		        "misfire policy %s: missed while no node could run it; recorded skipped by "
		        "node %s at %s",
		        text_or(in->misfire, "?"), text_or(run->node, "?"), when);
	} else {
		e->skip = CHIME_AUDIT_SKIP_OTHER;
		snprintf(buf, size, "skipped by node %s: %s", text_or(run->node, "?"),
		         text_or(run->error, "no reason recorded"));
	}
}

/* A slot whose wall time is in a DST gap and fired at the jump says so:
 * its instant is not its wall time. */
static void
note_jump(const struct chime_audit_input *in, const struct chime_audit_entry *e, char *buf,
          size_t size)
{
	int64_t utc[2], jump;
	char wall[32];

	if (in->tz == NULL || e->slot.dropped != CHIME_AUDIT_SKIP_NONE ||
	    chime_tz_resolve(in->tz, chime_floor_div(e->slot.slot.local_usec, USEC_PER_SEC), utc,
	                     &jump, NULL) != 0)
		return;
	chime_audit_wall_text(e->slot.slot.local_usec, true, wall, sizeof(wall));
	snprintf(buf + strlen(buf), size - strlen(buf),
	         "; the slot %s does not exist that night: the DST policy ran it at the jump",
	         wall);
}

/* The verdict of a slot with rows[0..n) (its attempts, oldest first). */
static void
judge_runs(const struct chime_audit_input *in, struct chime_audit_entry *e,
           const struct chime_run_record *const *rows, size_t n, char *buf, size_t size)
{
	const struct chime_run_record *run = rows[n - 1], *lost = NULL;
	const char *node = text_or(run->node, "?"), *error = text_or(run->error, "no error text");
	char late[64], when[64], tries[48] = "";

	e->run = run;
	e->attempts = (int)n;
	if (run->started_usec != INT64_MIN)
		e->late_usec = run->started_usec - run->scheduled_usec;
	for (size_t i = 0; i + 1 < n; i++)
		if (rows[i]->status == CHIME_RUN_LOST ||
		    (rows[i]->error != NULL && strncmp(rows[i]->error, "lost:", 5) == 0))
			lost = rows[i];
	if (n > 1)
		snprintf(tries, sizeof(tries), " after %zu attempts", n);
	late_text(e->late_usec == INT64_MIN ? 0 : e->late_usec, late, sizeof(late));
	switch (run->status) {
	case CHIME_RUN_SUCCEEDED:
		e->verdict = lost != NULL ? CHIME_AUDIT_RECOVERED : CHIME_AUDIT_SUCCEEDED;
		snprintf(buf, size, "succeeded on node %s, late by %s%s", node, late, tries);
		if (lost != NULL)
			snprintf(buf + strlen(buf), size - strlen(buf),
			         " (attempt %d was lost on node %s)", lost->attempt,
			         text_or(lost->node, "?"));
		break;
	case CHIME_RUN_FAILED:
		e->verdict =
		        strncmp(error, "lost:", 5) == 0 ? CHIME_AUDIT_LOST : CHIME_AUDIT_FAILED;
		snprintf(buf, size, "failed on node %s%s: %s", node, tries, error);
		break;
	case CHIME_RUN_LOST:
		e->verdict = CHIME_AUDIT_LOST;
		snprintf(buf, size, "lost on node %s%s: %s", node, tries, error);
		break;
	case CHIME_RUN_TIMED_OUT:
		e->verdict = CHIME_AUDIT_TIMED_OUT;
		snprintf(buf, size, "timed out on node %s%s: %s", node, tries, error);
		break;
	case CHIME_RUN_CANCELLED:
		e->verdict = CHIME_AUDIT_CANCELLED;
		snprintf(buf, size, "cancelled on node %s%s: %s", node, tries, error);
		break;
	case CHIME_RUN_SKIPPED:
		e->verdict = CHIME_AUDIT_SKIPPED;
		judge_skipped(in, e, buf, size);
		break;
	case CHIME_RUN_RUNNING:
		e->verdict = CHIME_AUDIT_RUNNING;
		chime_text_time(run->started_usec, in->tz, when, sizeof(when));
		snprintf(buf, size, "running on node %s since %s, late by %s", node, when, late);
		break;
	case CHIME_RUN_CLAIMED:
	default:
		e->verdict = CHIME_AUDIT_RUNNING;
		chime_text_time(run->claimed_usec, in->tz, when, sizeof(when));
		snprintf(buf, size, "claimed by node %s at %s, not started yet", node, when);
		break;
	}
	if (run->manual)
		snprintf(buf + strlen(buf), size - strlen(buf), " (a manual run)");
	note_jump(in, e, buf, size);
}

/* A slot without a row, or one the DST policy dropped. */
static void
judge_empty(const struct chime_audit_input *in, struct chime_audit_entry *e, char *buf, size_t size)
{
	const struct chime_audit_slot *s = &e->slot;
	int64_t at = s->slot.instant_usec;
	char when[64], wall[32], merged[32];

	if (s->dropped == CHIME_AUDIT_SKIP_DST_GAP) {
		e->verdict = CHIME_AUDIT_SKIPPED;
		e->skip = CHIME_AUDIT_SKIP_DST_GAP;
		chime_audit_wall_text(s->slot.local_usec, true, wall, sizeof(wall));
		if (s->merged_local_usec == INT64_MIN) {
			snprintf(buf, size,
			         "dst gap: %s does not exist that night (the clocks jump forward); "
			         "the DST policy (gap: skip) does not run it",
			         wall);
		} else {
			chime_audit_wall_text(s->merged_local_usec, true, merged, sizeof(merged));
			snprintf(buf, size,
			         "dst gap: %s does not exist that night (the clocks jump forward); "
			         "the DST policy (gap: run-at-jump) runs the gap once, as the slot "
			         "%s",
			         wall, merged);
		}
		return;
	}
	if (s->dropped == CHIME_AUDIT_SKIP_DST_OVERLAP) {
		e->verdict = CHIME_AUDIT_SKIPPED;
		e->skip = CHIME_AUDIT_SKIP_DST_OVERLAP;
		chime_audit_wall_text(s->slot.local_usec, true, wall, sizeof(wall));
		snprintf(buf, size,
		         "dst overlap: %s happens twice that night (the clocks fall back); the DST "
		         "policy (overlap: once) runs only the first",
		         wall);
		return;
	}
	if (at > in->now_usec - AUDIT_GRACE_USEC) {
		e->verdict = CHIME_AUDIT_PENDING;
		snprintf(buf, size,
		         at > in->now_usec ? "not due yet" : "due just now, not claimed yet");
		return;
	}
	if (in->history_usec > 0 && at < in->now_usec - in->history_usec) {
		e->verdict = CHIME_AUDIT_PRUNED;
		snprintf(buf, size, "older than the job's history: its rows were pruned");
		return;
	}
	e->verdict = CHIME_AUDIT_MISSING;
	if (in->first_row_usec == INT64_MIN) {
		snprintf(buf, size, "no row: the ledger has no row of this job at all");
	} else if (at < in->first_row_usec) {
		chime_text_time(in->first_row_usec, in->tz, when, sizeof(when));
		snprintf(buf, size,
		         "no row: before the job's first row in the ledger (%s): not configured "
		         "yet, or no node was up",
		         when);
	} else {
		const struct chime_pause_record *p = pause_at(in, at);

		snprintf(buf, size,
		         "no row: no node claimed it (no chimed was running, or none could reach "
		         "the database)%s",
		         p != NULL ? "; the job was paused then" : "");
	}
}

/* Consecutive missing slots read as one outage: say how long it lasted. */
static int
note_outages(const struct chime_audit_input *in, struct chime_audit *a)
{
	for (size_t i = 0; i < a->n_entries;) {
		size_t j = i;
		char from[64], to[64], *text;

		while (j < a->n_entries && a->entries[j].verdict == CHIME_AUDIT_MISSING &&
		       a->entries[j].slot.slot.instant_usec >= in->first_row_usec)
			j++;
		if (j - i < 2) {
			i = j + 1;
			continue;
		}
		chime_text_time(a->entries[i].slot.slot.instant_usec, in->tz, from, sizeof(from));
		chime_text_time(a->entries[j - 1].slot.slot.instant_usec, in->tz, to, sizeof(to));
		for (size_t k = i; k < j; k++) {
			if (asprintf(&text, "%s; %zu slots in a row missing, %s to %s",
			             a->entries[k].reason, j - i, from, to) < 0)
				return -ENOMEM;
			free(a->entries[k].reason);
			a->entries[k].reason = text;
		}
		i = j;
	}
	return 0;
}

/* Rows of no slot in the range, scheduled in it: manual runs at other
 * times, slots of an older schedule. Live rows from before the range
 * (read for overlaps) are not listed. */
static int
collect_others(const struct chime_audit_input *in, const bool *used, struct chime_audit *a)
{
	a->others = calloc(in->n_runs + 1, sizeof(*a->others));
	if (a->others == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < in->n_runs; i++)
		if (!used[i] && in->runs[i].scheduled_usec >= in->from_usec &&
		    in->runs[i].scheduled_usec <= in->to_usec)
			a->others[a->n_others++] = &in->runs[i];
	return 0;
}

int
chime_audit_plan(const struct chime_audit_input *in, struct chime_audit *ret_audit)
{
	struct chime_audit a = {0};
	const struct chime_run_record **sorted = calloc(in->n_runs + 1, sizeof(*sorted));
	bool *used = calloc(in->n_runs + 1, sizeof(*used));
	char buf[1024];
	int r = -ENOMEM;

	a.entries = calloc(in->n_slots + 1, sizeof(*a.entries));
	if (sorted == NULL || used == NULL || a.entries == NULL)
		goto fail;
	for (size_t i = 0; i < in->n_runs; i++)
		sorted[i] = &in->runs[i];
	qsort(sorted, in->n_runs, sizeof(*sorted), compare_run);
	for (size_t i = 0; i < in->n_slots; i++) {
		struct chime_audit_entry *e = &a.entries[a.n_entries++];
		const struct chime_slot *s = &in->slots[i].slot;
		size_t lo = runs_lower_bound(sorted, in->n_runs, s->local_usec, s->occurrence),
		       hi = lo;

		*e = (struct chime_audit_entry){.slot = in->slots[i], .late_usec = INT64_MIN};
		while (hi < in->n_runs &&
		       compare_key(sorted[hi]->local_usec, sorted[hi]->occurrence, s->local_usec,
		                   s->occurrence) == 0) {
			used[sorted[hi] - in->runs] = true;
			hi++;
		}
		if (hi > lo)
			judge_runs(in, e, sorted + lo, hi - lo, buf, sizeof(buf));
		else
			judge_empty(in, e, buf, sizeof(buf));
		e->reason = strdup(buf);
		if (e->reason == NULL)
			goto fail;
		a.counts[e->verdict]++;
	}
	r = note_outages(in, &a);
	if (r == 0)
		r = collect_others(in, used, &a);
	if (r < 0)
		goto fail;
	free(sorted);
	free(used);
	*ret_audit = a;
	return 0;
fail:
	free(sorted);
	free(used);
	chime_audit_done(&a);
	return r;
}

void
chime_audit_done(struct chime_audit *audit)
{
	if (audit == NULL)
		return;
	for (size_t i = 0; i < audit->n_entries; i++)
		free(audit->entries[i].reason);
	free(audit->entries);
	free(audit->others);
	*audit = (struct chime_audit){0};
}
