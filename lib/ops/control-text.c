/* SPDX-License-Identifier: MIT */
/*
 * The control replies as tables (control-text.h). A table is collected
 * whole, then printed with each column as wide as its widest cell, so a
 * long job name or error never shifts the columns after it; the last
 * column is not padded. Missing or malformed members print as "-": the
 * daemon may be older or newer than chimectl.
 */
#include "control-text.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "audit.h"
#include "clock.h"
#include "text-table.h"
#include "timespan.h"
#include "tz.h"

/* ---- Cells ------------------------------------------------------------ */

static const char *
member_text(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* An RFC 3339 member as a usec instant, or CHIME_NEVER. */
static int64_t
member_time(json_t *obj, const char *key)
{
	const char *text = member_text(obj, key);
	int64_t usec;

	if (text == NULL || chime_time_parse(text, NULL, &usec) < 0)
		return INT64_MIN;
	return usec;
}

/* "2026-12-04 16:20:00 +01:00": the instant in ZONE (NULL or unknown:
 * UTC), to the second. */
static void
cell_time(const struct chime_control_text *t, const char *zone, int64_t usec, char *buf,
          size_t size)
{
	struct chime_tz *tz = NULL;

	if (usec == INT64_MIN) {
		snprintf(buf, size, "-");
		return;
	}
	if (t->zones != NULL && zone != NULL)
		(void)chime_tz_cache_get(t->zones, zone, &tz);
	chime_text_time(usec, tz, buf, size);
	chime_tz_unref(tz);
}

/* A span rounded the way people read one: seconds under an hour, minutes
 * under a day, hours beyond. */
static void
cell_span(int64_t usec, const char *suffix, char *buf, size_t size)
{
	int64_t unit = usec < INT64_C(3600000000)    ? INT64_C(1000000)
	               : usec < INT64_C(86400000000) ? INT64_C(60000000)
	                                             : INT64_C(3600000000);
	char span[64];

	if (usec < 0) {
		snprintf(buf, size, "-");
		return;
	}
	if (usec < unit)
		snprintf(span, sizeof(span), "0s");
	else if (chime_timespan_format(usec - usec % unit, span, sizeof(span)) < 0)
		snprintf(span, sizeof(span), "?");
	snprintf(buf, size, "%s%s", span, suffix);
}

/* ---- pauses ----------------------------------------------------------- */

/* "renewals: paused by alice: card processor outage (since ...)": who
 * paused the job `name` and why, from a list or status member. */
static void
pause_line(const struct chime_control_text *t, const char *prefix, bool in_status, const char *name,
           json_t *o)
{
	char phrase[768], since[64];

	chime_audit_pause_phrase(member_text(o, "paused_by"), member_text(o, "pause_note"), phrase,
	                         sizeof(phrase));
	cell_time(t, member_text(o, "timezone"), member_time(o, "paused_at"), since, sizeof(since));
	/* Under "paused:" the phrase goes on after its first word. */
	fprintf(t->out, "%s%s%s", prefix, name != NULL ? name : "-", in_status ? "" : ": ");
	chime_text_put(t->out, in_status ? phrase + 6 : phrase,
	               strlen(phrase) - (in_status ? 6 : 0));
	fprintf(t->out, "%s%s%s\n", strcmp(since, "-") != 0 ? " (since " : "",
	        strcmp(since, "-") != 0 ? since : "", strcmp(since, "-") != 0 ? ")" : "");
}

/* ---- status ----------------------------------------------------------- */

static int
compare_fire(const void *a, const void *b)
{
	int64_t x = member_time(*(json_t *const *)a, "fire");
	int64_t y = member_time(*(json_t *const *)b, "fire");

	return x < y ? -1 : x > y;
}

/* The next fires, soonest first. The slot is already in the job's zone. */
static void
status_next(const struct chime_control_text *t, json_t *next)
{
	size_t n = json_array_size(next);
	json_t **sorted = n > 0 ? calloc(n, sizeof(*sorted)) : NULL;
	struct chime_table tb = {.n_cols = 3};

	if (n == 0 || sorted == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		sorted[i] = json_array_get(next, i);
	qsort(sorted, n, sizeof(*sorted), compare_fire);
	chime_table_add(&tb, (const char *const[]){"NEXT", "LEFT", "JOB"});
	for (size_t i = 0; i < n; i++) {
		int64_t fire = member_time(sorted[i], "fire"),
		        slot = member_time(sorted[i], "slot");
		const char *text = member_text(sorted[i], "slot");
		char when[64], left[64];

		/* The slot keeps the offset the daemon wrote (the job's zone). */
		if (text != NULL && slot != INT64_MIN)
			chime_text_rfc3339_cell(text, when, sizeof(when));
		else
			cell_time(t, NULL, slot, when, sizeof(when));
		cell_span(fire == INT64_MIN ? -1 : fire - t->now_usec, "", left, sizeof(left));
		chime_table_add(&tb,
		                (const char *const[]){when, left, member_text(sorted[i], "job")});
	}
	fputc('\n', t->out);
	chime_table_print(t->out, &tb);
	chime_table_free(&tb);
	free(sorted);
}

static json_int_t
member_int(json_t *obj, const char *key)
{
	return json_integer_value(json_object_get(obj, key));
}

void
chime_control_text_status(const struct chime_control_text *t, json_t *reply)
{
	json_t *db = json_object_get(reply, "database"), *runs = json_object_get(reply, "runs");
	const char *state = member_text(db, "state"), *detail = member_text(db, "detail");
	char up[64];
	json_t *p;
	size_t i;

	cell_span(member_int(reply, "uptime_seconds") * INT64_C(1000000), "", up, sizeof(up));
	fprintf(t->out, "state:     %s (pid %lld, up %s, version %s)\n",
	        member_text(reply, "state") ? member_text(reply, "state") : "-",
	        (long long)member_int(reply, "pid"), up,
	        member_text(reply, "version") ? member_text(reply, "version") : "-");
	fprintf(t->out, "node:      %s\n",
	        member_text(reply, "node") ? member_text(reply, "node") : "-");
	fprintf(t->out, "config:    %s\n",
	        member_text(reply, "config") ? member_text(reply, "config") : "-");
	/* The daemon's detail repeats "database: "; say it once. */
	if (detail != NULL && strncmp(detail, "database: ", 10) == 0)
		detail += 10;
	if (state == NULL || strcmp(state, "none") == 0)
		fprintf(t->out, "database:  none (no ledger)\n");
	else
		fprintf(t->out, "database:  %s\n",
		        detail != NULL && detail[0] != '\0' ? detail : state);
	fprintf(t->out, "jobs:      %lld, %lld run%s in flight\n",
	        (long long)member_int(reply, "jobs"),
	        (long long)member_int(reply, "runs_in_flight"),
	        member_int(reply, "runs_in_flight") == 1 ? "" : "s");
	fprintf(t->out,
	        "runs:      %lld started, %lld succeeded, %lld failed, %lld timed out, "
	        "%lld cancelled, %lld skipped since start\n",
	        (long long)member_int(runs, "started"), (long long)member_int(runs, "succeeded"),
	        (long long)member_int(runs, "failed"), (long long)member_int(runs, "timed_out"),
	        (long long)member_int(runs, "cancelled"), (long long)member_int(runs, "skipped"));
	if (json_is_true(json_object_get(reply, "reload_failed")))
		fprintf(t->out, "reload:    the last reload failed; the previous configuration "
		                "runs (journalctl -u chimed)\n");
	json_array_foreach(json_object_get(reply, "paused"), i, p)
	        pause_line(t, "paused:    ", true, member_text(p, "job"), p);
	status_next(t, json_object_get(reply, "next"));
}

/* ---- list ------------------------------------------------------------- */

static int
compare_next(const void *a, const void *b)
{
	int64_t x = member_time(*(json_t *const *)a, "next");
	int64_t y = member_time(*(json_t *const *)b, "next");

	/* Jobs that never fire again go last. */
	if (x == INT64_MIN || y == INT64_MIN)
		return (x == INT64_MIN) - (y == INT64_MIN);
	return x < y ? -1 : x > y;
}

static void
list_row(const struct chime_control_text *t, struct chime_table *tb, json_t *job)
{
	const char *zone = member_text(job, "timezone"), *last = member_text(job, "last_status");
	const char *flag;
	int64_t next = member_time(job, "next"), done = member_time(job, "last_finished_at");
	char c_next[64], c_left[64], c_last[64], c_passed[64], c_status[64];

	cell_time(t, zone, next, c_next, sizeof(c_next));
	cell_span(next == INT64_MIN ? -1 : next - t->now_usec, "", c_left, sizeof(c_left));
	cell_time(t, zone, done, c_last, sizeof(c_last));
	cell_span(done == INT64_MIN ? -1 : t->now_usec - done, " ago", c_passed, sizeof(c_passed));
	flag = json_is_true(json_object_get(job, "paused"))     ? "paused"
	       : json_is_false(json_object_get(job, "enabled")) ? "disabled"
	                                                        : NULL;
	if (flag == NULL)
		snprintf(c_status, sizeof(c_status), "%s", last != NULL ? last : "-");
	else if (last == NULL)
		snprintf(c_status, sizeof(c_status), "%s", flag);
	else
		snprintf(c_status, sizeof(c_status), "%s (%s)", last, flag);
	chime_table_add(tb,
	                (const char *const[]){c_next, c_left, c_last, c_passed, c_status,
	                                      member_text(job, "name"), member_text(job, "plugin"),
	                                      member_text(job, "schedule")});
}

void
chime_control_text_list(const struct chime_control_text *t, json_t *reply)
{
	json_t *jobs = json_object_get(reply, "jobs");
	size_t n = json_array_size(jobs);
	json_t **sorted = calloc(n + 1, sizeof(*sorted));
	struct chime_table tb = {.n_cols = 8};

	if (sorted == NULL) {
		fprintf(t->out, "(out of memory)\n");
		return;
	}
	for (size_t i = 0; i < n; i++)
		sorted[i] = json_array_get(jobs, i);
	qsort(sorted, n, sizeof(*sorted), compare_next);
	chime_table_add(&tb, (const char *const[]){"NEXT", "LEFT", "LAST", "PASSED", "STATUS",
	                                           "JOB", "PLUGIN", "SCHEDULE"});
	for (size_t i = 0; i < n; i++)
		list_row(t, &tb, sorted[i]);
	chime_table_print(t->out, &tb);
	chime_table_free(&tb);
	for (size_t i = 0, shown = 0; i < n; i++)
		if (json_is_true(json_object_get(sorted[i], "paused")))
			pause_line(t, shown++ == 0 ? "\n" : "", false,
			           member_text(sorted[i], "name"), sorted[i]);
	free(sorted);
	fprintf(t->out, "\n%zu job%s listed.\n", n, n == 1 ? "" : "s");
}

/* ---- history ---------------------------------------------------------- */

/* A multi-line value (exec's output_tail) as a block of "| " lines. */
static void
notes_block(FILE *f, const char *key, const char *text)
{
	fprintf(f, "    %s:\n", key);
	while (*text != '\0') {
		size_t n = strcspn(text, "\n");

		fputs("      | ", f);
		chime_text_put(f, text, n);
		fputc('\n', f);
		text += n + (text[n] == '\n');
	}
}

/* "    counts: expired 3, skipped 0\n" for an object of scalars; a value
 * of several lines follows as a block of its own. */
static void
notes_pairs(FILE *f, const char *label, json_t *obj)
{
	const char *key;
	json_t *v;
	bool first = true;

	json_object_foreach(obj, key, v)
	{
		if (json_is_string(v) && strchr(json_string_value(v), '\n') != NULL)
			continue;
		if (first)
			fprintf(f, "    %s: ", label);
		else
			fputs(", ", f);
		first = false;
		fprintf(f, "%s ", key);
		if (json_is_string(v))
			chime_text_put(f, json_string_value(v), strlen(json_string_value(v)));
		else if (json_is_integer(v))
			fprintf(f, "%lld", (long long)json_integer_value(v));
		else
			fputs("?", f);
	}
	if (!first)
		fputc('\n', f);
	json_object_foreach(obj, key, v)
	{
		if (json_is_string(v) && strchr(json_string_value(v), '\n') != NULL)
			notes_block(f, key, json_string_value(v));
	}
}

/* What a run reported, as indented lines under its row. */
static char *
history_notes(const struct chime_control_text *t, json_t *run)
{
	json_t *summary = json_object_get(run, "summary"), *items, *v;
	size_t n_items, shown, i;
	json_int_t dropped;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (!json_is_object(summary))
		return NULL;
	f = open_memstream(&buf, &len);
	if (f == NULL)
		return NULL;
	notes_pairs(f, "counts", json_object_get(summary, "counts"));
	notes_pairs(f, "values", json_object_get(summary, "values"));
	items = json_object_get(summary, "items");
	n_items = json_array_size(items);
	dropped = json_integer_value(json_object_get(summary, "items_dropped"));
	shown = t->all_items || n_items <= CHIME_CONTROL_TEXT_ITEMS ? n_items
	                                                            : CHIME_CONTROL_TEXT_ITEMS;
	if (n_items > 0)
		fprintf(f, "    items:\n");
	json_array_foreach(items, i, v)
	{
		if (i >= shown)
			break;
		fputs("      - ", f);
		if (json_is_string(v))
			chime_text_put(f, json_string_value(v), strlen(json_string_value(v)));
		fputc('\n', f);
	}
	if (shown < n_items)
		fprintf(f, "      ... %zu more item%s (--items shows all)\n", n_items - shown,
		        n_items - shown == 1 ? "" : "s");
	if (dropped > 0)
		fprintf(f, "      ... %lld more not kept in the ledger\n", (long long)dropped);
	fclose(f);
	if (len == 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

void
chime_control_text_history(const struct chime_control_text *t, json_t *reply)
{
	const char *zone = member_text(reply, "timezone");
	json_t *runs = json_object_get(reply, "runs"), *run;
	struct chime_table tb = {.n_cols = 8};
	size_t i;

	chime_table_add(&tb, (const char *const[]){"ID", "SCHEDULED", "STATUS", "TRY", "NODE",
	                                           "MANUAL", "DURATION", "ERROR"});
	json_array_foreach(runs, i, run)
	{
		json_t *d = json_object_get(run, "duration_seconds");
		char id[24], slot[64], try[16], dur[32];
		struct chime_table_row *row;

		snprintf(id, sizeof(id), "%lld", (long long)member_int(run, "id"));
		cell_time(t, zone, member_time(run, "scheduled_for"), slot, sizeof(slot));
		snprintf(try, sizeof(try), "%lld", (long long)member_int(run, "attempt"));
		if (json_is_number(d))
			snprintf(dur, sizeof(dur), "%.3fs", json_number_value(d));
		else
			snprintf(dur, sizeof(dur), "-");
		row = chime_table_add(
		        &tb,
		        (const char *const[]){
		                id, slot, member_text(run, "status"), try, member_text(run, "node"),
		                json_is_true(json_object_get(run, "manual")) ? "yes" : "no", dur,
		                member_text(run, "error") ? member_text(run, "error") : ""});
		if (row != NULL)
			row->notes = history_notes(t, run);
	}
	chime_table_print(t->out, &tb);
	chime_table_free(&tb);
	if (json_array_size(runs) == 0)
		fprintf(t->out, "(no runs recorded)\n");
}
