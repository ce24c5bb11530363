/* SPDX-License-Identifier: MIT */
/*
 * The audit as text and JSON (audit.h): `chimectl audit` prints a table
 * with one row per slot and the rows of no slot apart; `chimectl why`
 * explains one slot in sentences. Every time is written in the job's
 * zone with its offset, like the other tables (text-table.h); text from
 * the ledger (errors, notes) has its control bytes escaped.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "clock.h"
#include "text-table.h"
#include "timespan.h"
#include "tz.h"

/* The slot as a cell: its instant in the zone, or for a wall time in a
 * DST gap (no instant has it) the wall time itself. */
static void
slot_cell(const struct chime_audit_entry *e, const struct chime_tz *tz, char *buf, size_t size)
{
	if (e->slot.dropped == CHIME_AUDIT_SKIP_DST_GAP) {
		char wall[32];

		chime_audit_wall_text(e->slot.slot.local_usec, false, wall, sizeof(wall));
		snprintf(buf, size, "%s (gap)", wall);
		return;
	}
	chime_text_time(e->slot.slot.instant_usec, tz, buf, size);
}

/* `text` with its control bytes as \xNN, in a new string (NULL on OOM). */
static char *
escaped(const char *text)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		return NULL;
	chime_text_put(f, text, strlen(text));
	fclose(f);
	return buf;
}

static void
print_others(FILE *out, const struct chime_audit *a, const struct chime_tz *tz)
{
	struct chime_table tb = {.n_cols = 6};

	fprintf(out, "\nRuns of no slot in the range (manual runs, slots of another schedule):\n");
	chime_table_add(&tb, (const char *const[]){"RUN", "SCHEDULED", "STATUS", "NODE", "MANUAL",
	                                           "ERROR"});
	for (size_t i = 0; i < a->n_others; i++) {
		const struct chime_run_record *r = a->others[i];
		char id[24], when[64], *error = escaped(r->error != NULL ? r->error : "");

		snprintf(id, sizeof(id), "%" PRId64, r->id);
		chime_text_time(r->scheduled_usec, tz, when, sizeof(when));
		chime_table_add(&tb,
		                (const char *const[]){id, when, chime_run_status_name(r->status),
		                                      r->node, r->manual ? "yes" : "no",
		                                      error != NULL ? error : "?"});
		free(error);
	}
	chime_table_print(out, &tb);
	chime_table_free(&tb);
}

static void
print_counts(FILE *out, const struct chime_audit *a)
{
	bool first = true;

	fprintf(out, "\n%zu slot%s", a->n_entries, a->n_entries == 1 ? "" : "s");
	for (int v = 0; v < CHIME_AUDIT_N_VERDICTS; v++) {
		if (a->counts[v] == 0)
			continue;
		fprintf(out, "%s %zu %s", first ? ":" : ",", a->counts[v],
		        chime_audit_verdict_name((enum chime_audit_verdict)v));
		first = false;
	}
	fputs(".\n", out);
}

void
chime_audit_print(FILE *out, const struct chime_audit *a, const struct chime_audit_report *rp)
{
	struct chime_table tb = {.n_cols = 5};
	char from[64], to[64];

	chime_text_time(rp->from_usec, rp->tz, from, sizeof(from));
	chime_text_time(rp->to_usec, rp->tz, to, sizeof(to));
	fprintf(out, "job '%s', schedule '%s' in %s, from %s to %s\n\n", rp->job, rp->schedule,
	        chime_tz_name(rp->tz), from, to);
	chime_table_add(&tb, (const char *const[]){"SLOT", "VERDICT", "RUN", "TRY", "REASON"});
	for (size_t i = 0; i < a->n_entries; i++) {
		const struct chime_audit_entry *e = &a->entries[i];
		char slot[64], id[24] = "-", tries[16] = "-", *reason = escaped(e->reason);

		slot_cell(e, rp->tz, slot, sizeof(slot));
		if (e->run != NULL) {
			snprintf(id, sizeof(id), "%" PRId64, e->run->id);
			snprintf(tries, sizeof(tries), "%d", e->attempts);
		}
		chime_table_add(&tb,
		                (const char *const[]){slot, chime_audit_verdict_name(e->verdict),
		                                      id, tries, reason != NULL ? reason : "?"});
		free(reason);
	}
	chime_table_print(out, &tb);
	chime_table_free(&tb);
	if (a->n_entries == 0)
		fprintf(out, "(no slot in the range)\n");
	if (a->n_others > 0)
		print_others(out, a, rp->tz);
	print_counts(out, a);
	if (rp->truncated)
		fprintf(out, "note: the ledger has more rows in the range than were read; narrow "
		             "the range\n");
}

/* ---- JSON ------------------------------------------------------------- */

static json_t *
json_time(int64_t usec, const struct chime_tz *tz)
{
	char buf[CHIME_CLOCK_FORMAT_MAX];

	if (usec == INT64_MIN || usec == INT64_MAX ||
	    chime_time_format(usec, tz, buf, sizeof(buf)) < 0)
		return json_null();
	return json_string(buf);
}

static json_t *
json_text(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *
run_json(const struct chime_run_record *r, const struct chime_tz *tz)
{
	return json_pack("{s:I, s:o, s:i, s:o, s:s, s:b, s:o, s:o, s:o, s:o}", "id",
	                 (json_int_t)r->id, "scheduled_for", json_time(r->scheduled_usec, tz),
	                 "attempt", r->attempt, "node", json_text(r->node), "status",
	                 chime_run_status_name(r->status), "manual", r->manual, "claimed_at",
	                 json_time(r->claimed_usec, tz), "started_at",
	                 json_time(r->started_usec, tz), "finished_at",
	                 json_time(r->finished_usec, tz), "error", json_text(r->error));
}

static json_t *
entry_json(const struct chime_audit_entry *e, const struct chime_tz *tz)
{
	char wall[32];
	const char *skip = chime_audit_skip_name(e->skip);

	chime_audit_wall_text(e->slot.slot.local_usec, false, wall, sizeof(wall));
	wall[10] = 'T';
	return json_pack("{s:o, s:s, s:i, s:s, s:o, s:s, s:i, s:o, s:o, s:o}", "slot",
	                 e->slot.dropped == CHIME_AUDIT_SKIP_DST_GAP
	                         ? json_null()
	                         : json_time(e->slot.slot.instant_usec, tz),
	                 "local", wall, "occurrence", e->slot.slot.occurrence, "verdict",
	                 chime_audit_verdict_name(e->verdict), "skip", json_text(skip), "reason",
	                 e->reason, "attempts", e->attempts, "late_ms",
	                 e->late_usec == INT64_MIN
	                         ? json_null()
	                         : json_integer((json_int_t)(e->late_usec / 1000)),
	                 "overlap_run",
	                 e->blocker_id > 0 ? json_integer((json_int_t)e->blocker_id) : json_null(),
	                 "run", e->run != NULL ? run_json(e->run, tz) : json_null());
}

json_t *
chime_audit_json(const struct chime_audit *a, const struct chime_audit_report *rp)
{
	json_t *slots = json_array(), *others = json_array(), *counts = json_object();

	for (size_t i = 0; slots != NULL && i < a->n_entries; i++)
		json_array_append_new(slots, entry_json(&a->entries[i], rp->tz));
	for (size_t i = 0; others != NULL && i < a->n_others; i++)
		json_array_append_new(others, run_json(a->others[i], rp->tz));
	for (int v = 0; counts != NULL && v < CHIME_AUDIT_N_VERDICTS; v++)
		json_object_set_new(counts, chime_audit_verdict_name((enum chime_audit_verdict)v),
		                    json_integer((json_int_t)a->counts[v]));
	return json_pack("{s:s, s:s, s:s, s:o, s:o, s:b, s:o, s:o, s:o}", "job", rp->job,
	                 "schedule", rp->schedule, "timezone", chime_tz_name(rp->tz), "from",
	                 json_time(rp->from_usec, rp->tz), "to", json_time(rp->to_usec, rp->tz),
	                 "truncated", rp->truncated, "counts", counts, "slots", slots, "other_runs",
	                 others);
}

/* ---- why -------------------------------------------------------------- */

/* What was scheduled. */
static void
why_scheduled(FILE *f, const struct chime_audit_entry *e, const struct chime_audit_report *rp)
{
	char when[64], wall[32];

	chime_audit_wall_text(e->slot.slot.local_usec, false, wall, sizeof(wall));
	chime_text_time(e->slot.slot.instant_usec, rp->tz, when, sizeof(when));
	if (e->slot.dropped == CHIME_AUDIT_SKIP_DST_GAP)
		fprintf(f,
		        "The schedule '%s' matches %s in %s, a wall time that does not exist: the "
		        "clocks jump forward over it.",
		        rp->schedule, wall, chime_tz_name(rp->tz));
	else if (e->slot.dropped == CHIME_AUDIT_SKIP_DST_OVERLAP)
		fprintf(f,
		        "The schedule '%s' matches %s in %s a second time (%s), when the clocks "
		        "fall back.",
		        rp->schedule, wall, chime_tz_name(rp->tz), when);
	else
		fprintf(f, "The schedule '%s' in %s put a slot at %s%s.", rp->schedule,
		        chime_tz_name(rp->tz), when,
		        e->slot.slot.occurrence == 1 ? " (the repeat of that wall time)" : "");
}

/* Which node, what happened. */
static void
why_happened(FILE *f, const struct chime_audit_entry *e, const struct chime_audit_report *rp)
{
	const struct chime_run_record *r = e->run;
	char claimed[64], started[64], finished[64];

	if (r == NULL) {
		fprintf(f, " No node recorded anything for it in the ledger.");
		return;
	}
	chime_text_time(r->claimed_usec, rp->tz, claimed, sizeof(claimed));
	chime_text_time(r->started_usec, rp->tz, started, sizeof(started));
	chime_text_time(r->finished_usec, rp->tz, finished, sizeof(finished));
	if (r->status == CHIME_RUN_SKIPPED) {
		fprintf(f, " Node %s recorded it skipped at %s (run %" PRId64 ").", r->node,
		        claimed, r->id);
		return;
	}
	fprintf(f, " Node %s claimed it at %s (run %" PRId64 ", attempt %d", r->node, claimed,
	        r->id, r->attempt);
	if (e->attempts > 1)
		fprintf(f, "; %d attempts in all", e->attempts);
	fputs(")", f);
	if (r->started_usec != INT64_MIN)
		fprintf(f, ", started it at %s", started);
	if (r->finished_usec != INT64_MIN)
		fprintf(f, " and finished at %s: %s", finished, chime_run_status_name(r->status));
	fputs(".", f);
}

/* For a slot without a row: the nearest slots either side that a node
 * did record, which bound the time no node was claiming. */
static void
why_around(FILE *f, const struct chime_audit *a, size_t i, const struct chime_audit_report *rp)
{
	const struct chime_audit_entry *before = NULL, *after = NULL;
	char when[64];

	for (size_t k = i; k > 0 && before == NULL; k--)
		if (a->entries[k - 1].run != NULL)
			before = &a->entries[k - 1];
	for (size_t k = i + 1; k < a->n_entries && after == NULL; k++)
		if (a->entries[k].run != NULL)
			after = &a->entries[k];
	if (before != NULL) {
		chime_text_time(before->slot.slot.instant_usec, rp->tz, when, sizeof(when));
		fprintf(f, " The slot before it with a row, %s, was %s by node %s.", when,
		        before->run->status == CHIME_RUN_SKIPPED ? "skipped" : "claimed",
		        before->run->node);
	}
	if (after != NULL) {
		chime_text_time(after->slot.slot.instant_usec, rp->tz, when, sizeof(when));
		fprintf(f, " The next slot with a row, %s, was %s by node %s.", when,
		        after->run->status == CHIME_RUN_SKIPPED ? "skipped" : "claimed",
		        after->run->node);
	}
}

/* The explanation as one string (NULL on OOM). */
static char *
why_text(const struct chime_audit *a, size_t i, int64_t at_usec,
         const struct chime_audit_report *rp)
{
	const struct chime_audit_entry *e = &a->entries[i];
	char *buf = NULL, asked[64];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		return NULL;
	why_scheduled(f, e, rp);
	why_happened(f, e, rp);
	fprintf(f, " Verdict: %s: ", chime_audit_verdict_name(e->verdict));
	chime_text_put(f, e->reason, strlen(e->reason));
	fputs(".", f);
	if (e->verdict == CHIME_AUDIT_MISSING)
		why_around(f, a, i, rp);
	if (e->slot.dropped != CHIME_AUDIT_SKIP_DST_GAP && e->slot.slot.instant_usec != at_usec) {
		chime_text_time(at_usec, rp->tz, asked, sizeof(asked));
		fprintf(f, " (The nearest slot at or before %s.)", asked);
	}
	fclose(f);
	return buf;
}

void
chime_audit_print_why(FILE *out, const struct chime_audit *a, size_t i, int64_t at_usec,
                      const struct chime_audit_report *rp)
{
	char *text = why_text(a, i, at_usec, rp);

	fprintf(out, "job '%s': %s\n", rp->job, text != NULL ? text : "(out of memory)");
	free(text);
}

json_t *
chime_audit_json_why(const struct chime_audit *a, size_t i, int64_t at_usec,
                     const struct chime_audit_report *rp)
{
	char *text = why_text(a, i, at_usec, rp);
	json_t *o = entry_json(&a->entries[i], rp->tz);

	if (o != NULL) {
		json_object_set_new(o, "job", json_string(rp->job));
		json_object_set_new(o, "explanation", json_text(text));
	}
	free(text);
	return o;
}
