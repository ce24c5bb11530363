/* SPDX-License-Identifier: MIT */
/*
 * The run context handed to a plugin's run(): the host side of chime/run.h
 * and the plugin-side accessors of chime/plugin.h. The parameters are
 * copied and read-only after creation; the cancel flag is atomic; the
 * failure reason and the report (counts, values, items) sit under one mutex
 * because a plugin may report from several threads of its own.
 */
#include "run.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "log.h"
#include "mem.h"

struct run_pair {
	char *name;
	int64_t count; /* counts */
	char *text;    /* values */
};

struct chime_run {
	char *job, *plugin, *timezone, *node;
	int64_t nominal_usec, previous_usec, run_id;
	int attempt;
	bool dry_run;
	PGconn *conn;
	atomic_bool cancelled;
	_Atomic int64_t cancel_grace_usec; /* INT64_MAX: no limit */
	int (*fence)(void *host, PGconn *conn, char *errbuf, size_t errsize);
	int (*record)(void *host, PGconn *conn, const char *summary_json, char *errbuf,
	              size_t errsize);
	void *host;
	atomic_bool recorded;
	atomic_bool fenced; /* a fence failed: its reason stays the run's */

	pthread_mutex_t lock; /* guards everything below */
	char *error;
	struct run_pair *counts, *values;
	size_t n_counts, n_values, counts_allocated, values_allocated;
	char **items;
	size_t n_items, items_allocated;
	int64_t items_dropped;
};

static char *
strdup_or(const char *s, const char *def)
{
	return strdup(s != NULL ? s : def);
}

struct chime_run *
chime_run_new(const struct chime_run_params *params)
{
	struct chime_run *run = calloc(1, sizeof(*run));

	if (run == NULL)
		return NULL;
	if (pthread_mutex_init(&run->lock, NULL) != 0) {
		free(run);
		return NULL;
	}
	run->job = strdup_or(params->job, "");
	run->plugin = strdup_or(params->plugin, "");
	run->timezone = strdup_or(params->timezone, "UTC");
	run->node = strdup_or(params->node, "");
	if (run->job == NULL || run->plugin == NULL || run->timezone == NULL || run->node == NULL)
		return chime_run_free(run);
	run->nominal_usec = params->nominal_usec;
	run->previous_usec = params->previous_usec;
	run->run_id = params->run_id;
	run->attempt = params->attempt > 0 ? params->attempt : 1;
	run->dry_run = params->dry_run;
	run->conn = params->conn;
	run->fence = params->fence;
	run->record = params->record;
	run->host = params->host;
	atomic_init(&run->recorded, false);
	atomic_init(&run->fenced, false);
	atomic_init(&run->cancelled, false);
	atomic_init(&run->cancel_grace_usec, INT64_MAX);
	return run;
}

struct chime_run *
chime_run_free(struct chime_run *run)
{
	if (run == NULL)
		return NULL;
	for (size_t i = 0; i < run->n_counts; i++)
		free(run->counts[i].name);
	for (size_t i = 0; i < run->n_values; i++) {
		free(run->values[i].name);
		free(run->values[i].text);
	}
	for (size_t i = 0; i < run->n_items; i++)
		free(run->items[i]);
	chime_free_many(run->counts, run->values, run->items, run->error, run->job, run->plugin,
	                run->timezone, run->node);
	pthread_mutex_destroy(&run->lock);
	free(run);
	return NULL;
}

void
chime_run_cancel(struct chime_run *run)
{
	chime_run_cancel_within(run, INT64_MAX);
}

void
chime_run_cancel_within(struct chime_run *run, int64_t grace_usec)
{
	int64_t old = atomic_load(&run->cancel_grace_usec);

	/* The shortest grace asked for wins; it is set before the flag, so
	 * a plugin that sees the flag sees its grace. */
	while (grace_usec < old &&
	       !atomic_compare_exchange_weak(&run->cancel_grace_usec, &old, grace_usec))
		;
	atomic_store(&run->cancelled, true);
}

const char *
chime_run_error(const struct chime_run *run)
{
	return run->error;
}

bool
chime_run_recorded(const struct chime_run *run)
{
	return atomic_load(&run->recorded);
}

/* ---- Plugin-side accessors ------------------------------------------ */

/* Without a ledger (no host hook), a dry run, or a run that has no row
 * (run id 0): nothing to fence or record, and no other node can recover
 * this run, so both succeed doing nothing. */
static bool
run_unrecorded(const struct chime_run *run)
{
	return run->dry_run || run->run_id <= 0;
}

CHIME_EXPORT int
chime_run_fence(struct chime_run *run, PGconn *conn)
{
	char err[512];
	int r;

	if (run->fence == NULL || run_unrecorded(run))
		return 0;
	if (conn == NULL) {
		chime_run_fail(run, "fence: no connection");
		return -EINVAL;
	}
	r = run->fence(run->host, conn, err, sizeof(err));
	if (r == -ESTALE) {
		/* The claim is gone: nothing more may commit. The reason
		 * stays the run's whatever the plugin says next, the run
		 * stops at its next cancel check, and it cannot succeed
		 * (chime_run_fenced()). */
		chime_run_fail(run, "%s", err);
		atomic_store(&run->fenced, true);
		chime_run_cancel(run);
	} else if (r < 0) {
		chime_run_fail(run, "%s", err);
	}
	return r;
}

bool
chime_run_fenced(const struct chime_run *run)
{
	return atomic_load(&run->fenced);
}

CHIME_EXPORT int
chime_run_record_succeeded(struct chime_run *run, PGconn *conn)
{
	char err[512];
	char *summary;
	int r;

	if (run->record == NULL || run_unrecorded(run))
		return 0;
	if (conn == NULL) {
		chime_run_fail(run, "recording the outcome: no connection");
		return -EINVAL;
	}
	summary = chime_run_report_json(run);
	if (summary == NULL) {
		chime_run_fail(run, "recording the outcome: out of memory");
		return -ENOMEM;
	}
	r = run->record(run->host, conn, summary, err, sizeof(err));
	free(summary);
	if (r < 0) {
		chime_run_fail(run, "recording the outcome: %s", err);
		return r;
	}
	atomic_store(&run->recorded, true);
	return 0;
}

CHIME_EXPORT PGconn *
chime_run_db(struct chime_run *run)
{
	return run->conn;
}

CHIME_EXPORT int64_t
chime_run_nominal_usec(const struct chime_run *run)
{
	return run->nominal_usec;
}

CHIME_EXPORT int64_t
chime_run_previous_usec(const struct chime_run *run)
{
	return run->previous_usec;
}

CHIME_EXPORT int64_t
chime_run_id(const struct chime_run *run)
{
	return run->run_id;
}

CHIME_EXPORT int
chime_run_attempt(const struct chime_run *run)
{
	return run->attempt;
}

CHIME_EXPORT const char *
chime_run_job(const struct chime_run *run)
{
	return run->job;
}

CHIME_EXPORT const char *
chime_run_timezone(const struct chime_run *run)
{
	return run->timezone;
}

CHIME_EXPORT const char *
chime_run_node(const struct chime_run *run)
{
	return run->node;
}

CHIME_EXPORT bool
chime_run_dry_run(const struct chime_run *run)
{
	return run->dry_run;
}

CHIME_EXPORT int64_t
chime_run_cancel_grace_usec(const struct chime_run *run)
{
	return atomic_load(&((struct chime_run *)(uintptr_t)run)->cancel_grace_usec);
}

bool
chime_run_cancelled(const struct chime_run *run)
{
	return atomic_load(&((struct chime_run *)(uintptr_t)run)->cancelled);
}

CHIME_EXPORT void
chime_run_log(struct chime_run *run, int priority, const char *fmt, ...)
{
	struct chime_log_run fields = {
	        .job = run->job,
	        .plugin = run->plugin,
	        .run_id = run->run_id,
	        .scheduled_for_usec = run->nominal_usec,
	};
	va_list ap;

	va_start(ap, fmt);
	chime_log_runv(priority, &fields, fmt, ap);
	va_end(ap);
}

CHIME_EXPORT void
chime_run_fail(struct chime_run *run, const char *fmt, ...)
{
	char *text;
	va_list ap;

	va_start(ap, fmt);
	text = chime_vformat(fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&run->lock);
	if (atomic_load(&run->fenced)) {
		/* What the plugin says after a failed fence (a failed unit, a
		 * cancel) follows from it: the fence's reason is the truth. */
		pthread_mutex_unlock(&run->lock);
		free(text);
		return;
	}
	free(run->error);
	/* Out of memory still leaves a reason rather than none. */
	run->error = text != NULL ? text : strdup("failed (out of memory formatting the reason)");
	pthread_mutex_unlock(&run->lock);
}

/* The pair named `name` in `*pairs`, appended when absent; NULL on OOM.
 * Called with the lock held. */
static struct run_pair *
pair_get(struct run_pair **pairs, size_t *n, size_t *allocated, const char *name)
{
	struct run_pair *p;

	for (size_t i = 0; i < *n; i++)
		if (strcmp((*pairs)[i].name, name) == 0)
			return &(*pairs)[i];
	if (chime_grow(pairs, allocated, *n + 1, sizeof(**pairs)) < 0)
		return NULL;
	p = &(*pairs)[*n];
	*p = (struct run_pair){.name = strdup(name)};
	if (p->name == NULL)
		return NULL;
	(*n)++;
	return p;
}

CHIME_EXPORT void
chime_run_count(struct chime_run *run, const char *name, int64_t delta)
{
	struct run_pair *p;

	pthread_mutex_lock(&run->lock);
	p = pair_get(&run->counts, &run->n_counts, &run->counts_allocated, name);
	if (p != NULL)
		p->count += delta;
	pthread_mutex_unlock(&run->lock);
}

CHIME_EXPORT void
chime_run_value(struct chime_run *run, const char *key, const char *value)
{
	struct run_pair *p;
	char *text = strdup(value != NULL ? value : "");

	if (text == NULL)
		return;
	pthread_mutex_lock(&run->lock);
	p = pair_get(&run->values, &run->n_values, &run->values_allocated, key);
	if (p != NULL) {
		free(p->text);
		p->text = text;
		text = NULL;
	}
	pthread_mutex_unlock(&run->lock);
	free(text);
}

CHIME_EXPORT void
chime_run_item(struct chime_run *run, const char *fmt, ...)
{
	char *text;
	va_list ap;

	pthread_mutex_lock(&run->lock);
	if (run->n_items >= CHIME_RUN_ITEMS_MAX)
		goto dropped;
	va_start(ap, fmt);
	text = chime_vformat(fmt, ap);
	va_end(ap);
	if (text == NULL)
		goto dropped;
	if (chime_grow(&run->items, &run->items_allocated, run->n_items + 1, sizeof(*run->items)) <
	    0) {
		free(text);
		goto dropped;
	}
	run->items[run->n_items++] = text;
	pthread_mutex_unlock(&run->lock);
	return;
dropped:
	run->items_dropped++;
	pthread_mutex_unlock(&run->lock);
}

/* ---- Reading the report back (host side) ---------------------------- */

/* The lock is taken on a const run: the report is logically const. */
static pthread_mutex_t *
run_lock(const struct chime_run *run)
{
	return &((struct chime_run *)(uintptr_t)run)->lock;
}

int64_t
chime_run_report_count(const struct chime_run *run, const char *name)
{
	int64_t v = 0;

	pthread_mutex_lock(run_lock(run));
	for (size_t i = 0; i < run->n_counts; i++)
		if (strcmp(run->counts[i].name, name) == 0)
			v = run->counts[i].count;
	pthread_mutex_unlock(run_lock(run));
	return v;
}

/* A JSON string for `s`; bytes that are not valid UTF-8 become '?' (a
 * plugin may report raw column data), so one bad byte never loses the
 * report. NULL only on OOM. */
static json_t *
json_text(const char *s)
{
	json_t *j = json_string(s);
	char *copy;

	if (j != NULL)
		return j;
	copy = strdup(s);
	if (copy == NULL)
		return NULL;
	for (unsigned char *p = (unsigned char *)copy; *p != '\0'; p++)
		if (*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

char *
chime_run_report_json(const struct chime_run *run)
{
	json_t *root = NULL, *counts, *values, *items;
	char *text = NULL;
	bool ok = true;

	pthread_mutex_lock(run_lock(run));
	root = json_object();
	counts = json_object();
	values = json_object();
	items = json_array();
	if (root == NULL || counts == NULL || values == NULL || items == NULL) {
		json_decref(counts);
		json_decref(values);
		json_decref(items);
		goto out;
	}
	ok = json_object_set_new(root, "counts", counts) == 0 &&
	     json_object_set_new(root, "values", values) == 0 &&
	     json_object_set_new(root, "items", items) == 0 &&
	     json_object_set_new(root, "items_dropped", json_integer(run->items_dropped)) == 0;
	for (size_t i = 0; ok && i < run->n_counts; i++)
		ok = json_object_set_new(counts, run->counts[i].name,
		                         json_integer(run->counts[i].count)) == 0;
	for (size_t i = 0; ok && i < run->n_values; i++)
		ok = json_object_set_new(values, run->values[i].name,
		                         json_text(run->values[i].text)) == 0;
	for (size_t i = 0; ok && i < run->n_items; i++)
		ok = json_array_append_new(items, json_text(run->items[i])) == 0;
	if (ok)
		text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
out:
	pthread_mutex_unlock(run_lock(run));
	json_decref(root);
	return text;
}

/* TEXT with control bytes as \xNN (a value may hold what a command
 * printed), each line after the first as "  | LINE". */
static void
report_put_value(FILE *f, const char *text)
{
	fputs(strchr(text, '\n') != NULL ? "\n  | " : " ", f);
	for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
		if (*p == '\n')
			fputs("\n  | ", f);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
	fputc('\n', f);
}

void
chime_run_report_print(const struct chime_run *run, FILE *f)
{
	pthread_mutex_lock(run_lock(run));
	for (size_t i = 0; i < run->n_counts; i++)
		fprintf(f, "%s: %" PRId64 "\n", run->counts[i].name, run->counts[i].count);
	for (size_t i = 0; i < run->n_values; i++) {
		fprintf(f, "%s:", run->values[i].name);
		report_put_value(f, run->values[i].text);
	}
	for (size_t i = 0; i < run->n_items; i++)
		fprintf(f, "  %s\n", run->items[i]);
	if (run->items_dropped > 0)
		fprintf(f, "  (%" PRId64 " more items not kept)\n", run->items_dropped);
	pthread_mutex_unlock(run_lock(run));
}
