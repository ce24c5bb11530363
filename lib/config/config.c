/* SPDX-License-Identifier: MIT */
/*
 * The configuration loader: chime.yaml and its `include:` drop-ins, read
 * into node trees (node.c) and walked against one table of keys (name,
 * type, default, restart flag, offset, setter; config-table.c). The same
 * table supplies the defaults, the validation and the list of keys
 * (config-keys.c). Every problem is a diagnostic with its place; all of
 * them are collected, then the load fails. Never logs.
 */
#include "config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "array.h"
#include "config-keys.h"
#include "cron.h"
#include "diag.h"
#include "mem.h"
#include "node.h"
#include "timespan.h"
#include "tz.h"

#define CONFIG_MAX_DROPINS  1000
#define CONFIG_JOB_NAME_MAX 64

/* ---- Walking a mapping against a table ------------------------------ */

/* Apply the table's defaults to `target`. Defaults are trusted text. */
static int
cf_defaults(const struct cf_key *table, void *target)
{
	for (const struct cf_key *k = table; k->name != NULL; k++) {
		void *f = cf_field(target, k);
		int64_t usec;

		switch (k->type) {
		case CF_STRING:
			if (k->def != NULL && (*(char **)f = strdup(k->def)) == NULL)
				return -ENOMEM;
			break;
		case CF_INT:
			if (k->def != NULL)
				*(int *)f = atoi(k->def);
			break;
		case CF_BOOL:
			if (k->def != NULL)
				*(bool *)f = strcmp(k->def, "true") == 0;
			break;
		case CF_DURATION:
			if (k->def != NULL && chime_timespan_parse(k->def, &usec) == 0)
				*(int64_t *)f = usec;
			break;
		case CF_ENUM:
			for (size_t i = 0; k->def != NULL && k->names[i] != NULL; i++)
				if (strcmp(k->def, k->names[i]) == 0)
					*(int *)f = k->base + (int)i;
			break;
		case CF_SECTION:
			if (cf_defaults(k->sub, f) < 0)
				return -ENOMEM;
			break;
		case CF_CUSTOM:
			break;
		}
	}
	return 0;
}

static int
cf_enum(struct cf_ctx *ctx, const struct cf_key *k, const struct chime_node *v, void *f)
{
	char expected[128] = "";
	size_t len = 0;

	if (v->kind == CHIME_NODE_SCALAR)
		for (size_t i = 0; k->names[i] != NULL; i++)
			if (strcmp(v->scalar, k->names[i]) == 0) {
				*(int *)f = k->base + (int)i;
				return 0;
			}
	for (size_t i = 0; k->names[i] != NULL && len < sizeof(expected); i++)
		len += (size_t)snprintf(expected + len, sizeof(expected) - len, "%s%s",
		                        i == 0                    ? ""
		                        : k->names[i + 1] == NULL ? " or "
		                                                  : ", ",
		                        k->names[i]);
	if (v->kind != CHIME_NODE_SCALAR)
		return chime_node_error(ctx->diags, v, "expected %s, got %s", expected,
		                        chime_node_kind_name(v));
	return chime_node_error(ctx->diags, v, "invalid value '%s' (expected %s)", v->scalar,
	                        expected);
}

static int
cf_value(struct cf_ctx *ctx, const struct cf_key *k, const struct chime_node *map,
         const struct chime_node *v, void *target)
{
	void *f = cf_field(target, k);
	const char *s;
	int64_t i64;
	bool b;
	int r;

	switch (k->type) {
	case CF_STRING:
		r = chime_node_get_string(map, k->name, NULL, ctx->diags, &s);
		if (r < 0)
			return r;
		r = chime__config_set_string(ctx, f, s);
		if (r < 0)
			return r;
		break;
	case CF_INT:
		r = chime_node_get_int(map, k->name, k->min, k->max, 0, ctx->diags, &i64);
		if (r < 0)
			return r;
		*(int *)f = (int)i64;
		break;
	case CF_BOOL:
		r = chime_node_get_bool(map, k->name, false, ctx->diags, &b);
		if (r < 0)
			return r;
		*(bool *)f = b;
		break;
	case CF_DURATION:
		r = chime_node_get_duration(map, k->name, 0, ctx->diags, &i64);
		if (r < 0)
			return r;
		if (i64 < k->min) {
			char min[64];

			chime_timespan_format(k->min, min, sizeof(min));
			return chime_node_error(ctx->diags, v,
			                        "'%s' is too short: at least %s%s%s%s", v->scalar,
			                        min, k->min_why != NULL ? " (" : "",
			                        k->min_why != NULL ? k->min_why : "",
			                        k->min_why != NULL ? ")" : "");
		}
		*(int64_t *)f = i64;
		break;
	case CF_ENUM:
		r = cf_enum(ctx, k, v, f);
		if (r < 0)
			return r;
		break;
	case CF_SECTION:
		if (v->kind != CHIME_NODE_MAPPING)
			return chime_node_error(ctx->diags, v, "expected a mapping, got %s",
			                        chime_node_kind_name(v));
		return chime__config_apply(ctx, k->sub, NULL, v, f);
	case CF_CUSTOM:
		return k->set != NULL ? k->set(ctx, k, map, v, target) : 0;
	}
	/* For plain types, `set` is a check run after the value is stored. */
	return k->set != NULL ? k->set(ctx, k, map, v, target) : 0;
}

static void
cf_names(const struct cf_key *table, const char **names, size_t *n)
{
	for (const struct cf_key *k = table; k != NULL && k->name != NULL; k++)
		names[(*n)++] = k->name;
}

/*
 * Check the keys of mapping `map` against `table` (plus `more`, may be
 * NULL) and store each value into `target`. Custom keys without a setter
 * are left to the caller. Returns -EINVAL when a diagnostic was added.
 */
int
chime__config_apply(struct cf_ctx *ctx, const struct cf_key *table, const struct cf_key *more,
                    const struct chime_node *map, void *target)
{
	const struct cf_key *tables[] = {table, more};
	size_t errors = ctx->diags->errors;
	const char *names[48];
	size_t n = 0;

	cf_names(table, names, &n);
	cf_names(more, names, &n);
	names[n] = NULL;
	chime_node_check_keys(map, names, ctx->diags);

	for (size_t t = 0; t < 2; t++)
		for (const struct cf_key *k = tables[t]; k != NULL && k->name != NULL; k++) {
			const struct chime_node *v = chime_node_get(map, k->name);

			if (v != NULL && chime_node_is_null(v))
				v = NULL;
			if (v == NULL && (k->flags & CF_REQUIRED) != 0)
				chime_node_error(ctx->diags, map, "missing required key '%s'",
				                 k->name);
			if (v == NULL && k->type != CF_CUSTOM)
				continue;
			(void)cf_value(ctx, k, map, v, target);
		}
	return ctx->diags->errors > errors ? -EINVAL : 0;
}

/* ---- Jobs ----------------------------------------------------------- */

static struct chime_job_config *
job_free(const struct chime_config *cfg, struct chime_job_config *job)
{
	if (job == NULL)
		return NULL;
	if (job->hooked && cfg->has_hooks && cfg->hooks.release_job != NULL)
		cfg->hooks.release_job(job, cfg->hooks.userdata);
	chime_free_many(job->name, job->schedule, job->plugin_name, job->plugin_path);
	chime_expr_free(job->expr);
	chime_tz_unref(job->tz);
	free(job);
	return NULL;
}

static bool
job_name_valid(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > CONFIG_JOB_NAME_MAX)
		return false;
	if (!(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == len;
}

/* FNV-1a, 64 bits: the fingerprint only has to change when the job does. */
static void
fp_bytes(uint64_t *h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		*h ^= p[i];
		*h *= UINT64_C(0x100000001b3);
	}
}

static void
fp_str(uint64_t *h, const char *s)
{
	if (s == NULL) {
		fp_bytes(h, "\xff", 1);
		return;
	}
	fp_bytes(h, s, strlen(s) + 1);
}

static void
fp_int(uint64_t *h, int64_t v)
{
	fp_bytes(h, &v, sizeof(v));
}

static void
fp_node(uint64_t *h, const struct chime_node *n)
{
	if (n == NULL) {
		fp_int(h, -1);
		return;
	}
	fp_int(h, n->kind);
	fp_int(h, (int64_t)n->count);
	if (n->kind == CHIME_NODE_SCALAR) {
		fp_int(h, n->quoted);
		fp_str(h, n->scalar);
	}
	for (size_t i = 0; i < n->count; i++) {
		if (n->kind == CHIME_NODE_MAPPING)
			fp_str(h, n->keys[i]);
		fp_node(h, n->items[i]);
	}
}

static uint64_t
job_fingerprint(const struct chime_job_config *job)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	fp_str(&h, job->name);
	fp_str(&h, job->schedule);
	fp_str(&h, job->tz != NULL ? chime_tz_name(job->tz) : NULL);
	fp_int(&h, job->expr_options.days);
	fp_int(&h, job->expr_options.gap);
	fp_int(&h, job->expr_options.overlap);
	fp_str(&h, job->plugin_name);
	fp_str(&h, job->plugin_path);
	fp_node(&h, job->options);
	fp_int(&h, job->timeout_usec);
	fp_int(&h, job->overlap);
	fp_int(&h, job->misfire);
	fp_int(&h, job->catchup_window_usec);
	fp_int(&h, job->max_catchup);
	fp_int(&h, job->retry.attempts);
	fp_int(&h, job->retry.backoff_usec);
	fp_int(&h, job->retry.max_backoff_usec);
	fp_int(&h, job->jitter_usec);
	fp_int(&h, job->expect_usec);
	fp_int(&h, job->history_usec);
	fp_int(&h, job->lease_usec);
	fp_int(&h, job->on_lost);
	fp_int(&h, job->enabled);
	return h;
}

/* Compile the schedule; an error column inside the expression is mapped
 * onto the file when the scalar is written on one line without escapes. */
/*
 * A six-field line is seconds first, but Quartz, AWS and Spring users
 * write six fields meaning "minute hour ... year": "0 2 * * * *" looks like
 * daily at 02:00 and fires every hour at :02. Warn when the seconds are 0,
 * the minute is a plain number and the hours are "*", with the fires it
 * really has.
 */
static void
warn_seconds_habit(struct cf_ctx *ctx, const struct chime_node *v, const char *schedule)
{
	char fields[6][16];
	int n = 0, minute;
	const char *p = schedule;
	char *end;

	while (*p != '\0' && n < 6) {
		size_t len = strcspn(p, " \t");

		if (len >= sizeof(fields[0]))
			return;
		memcpy(fields[n], p, len);
		fields[n++][len] = '\0';
		p += len;
		p += strspn(p, " \t");
	}
	if (n != 6 || *p != '\0' || strcmp(fields[0], "0") != 0 || strcmp(fields[2], "*") != 0)
		return;
	minute = (int)strtol(fields[1], &end, 10);
	if (*end != '\0' || end == fields[1] || minute < 0 || minute > 23)
		return;
	chime_node_warning(ctx->diags, v,
	                   "'%s' has six fields, so the first is seconds: it fires every hour at "
	                   "minute %d (00:%02d:00, 01:%02d:00, 02:%02d:00, ...); for daily at "
	                   "%02d:00 write '0 %d %s %s %s' (five fields, minute first)",
	                   schedule, minute, minute, minute, minute, minute, minute, fields[3],
	                   fields[4], fields[5]);
}

static int
job_compile(struct cf_ctx *ctx, struct chime_job_config *job, const struct chime_node *map)
{
	const struct chime_node *v = chime_node_get(map, "schedule");
	struct chime_expr_error err = {0};
	size_t lead = strspn(job->schedule, " \t\n"), len;
	const char *zone;
	unsigned column;
	int r;

	/* Surrounding white space (a block scalar's final newline) is not
	 * part of the expression. */
	len = strlen(job->schedule + lead);
	while (len > 0 && strchr(" \t\n", job->schedule[lead + len - 1]) != NULL)
		len--;
	memmove(job->schedule, job->schedule + lead, len);
	job->schedule[len] = '\0';

	r = chime_expr_parse(job->schedule, &job->expr_options, &job->expr, &err);
	if (r == -ENOMEM) {
		ctx->oom = true;
		return r;
	}
	if (r < 0) {
		column = v->column;
		if (v->value_column != 0 && err.column != 0)
			column = v->value_column + (unsigned)lead + err.column - 1;
		return chime_diag_add(ctx->diags, CHIME_DIAG_ERROR, v->file, v->line, column,
		                      v->path, "%s",
		                      err.message[0] != '\0' ? err.message : "invalid schedule");
	}
	zone = chime_expr_zone(job->expr);
	if (zone != NULL) {
		struct chime_tz *tz;

		r = chime__config_zone(ctx, v, zone, &tz);
		if (r < 0)
			return r;
		chime_tz_unref(job->tz);
		job->tz = tz;
	}
	if (!job->days_set && chime_expr_days_ambiguous(job->expr))
		chime_node_warning(ctx->diags, v,
		                   "both day-of-month and day-of-week are restricted, so the job "
		                   "runs on days matching either (Vixie cron); say 'days: any' "
		                   "to keep that or 'days: all' to require both");
	if (chime_expr_kind(job->expr) == CHIME_EXPR_CRON)
		warn_seconds_habit(ctx, v, job->schedule);
	return 0;
}

static int
cf_add_job(struct cf_ctx *ctx, struct chime_job_config *job)
{
	if (chime_grow(&ctx->jobs, &ctx->allocated_jobs, ctx->n_jobs + 1, sizeof(*ctx->jobs)) < 0)
		return -ENOMEM;
	ctx->jobs[ctx->n_jobs] = (struct cf_job_entry){.job = job, .seq = ctx->n_jobs};
	ctx->n_jobs++;
	return 0;
}

static void
cf_job(struct cf_ctx *ctx, const struct chime_node *key, const struct chime_node *map)
{
	const struct chime_config *cfg = ctx->cfg;
	struct chime_job_config *job;
	size_t errors = ctx->diags->errors;

	job = calloc(1, sizeof(*job));
	if (job == NULL) {
		ctx->oom = true;
		return;
	}
	*job = ctx->tmpl;
	job->name = strdup(key->scalar);
	job->file = key->file;
	job->line = key->line;
	job->column = key->column;
	if (job->name == NULL || cf_defaults(chime__config_job_keys, job) < 0 ||
	    cf_add_job(ctx, job) < 0) {
		ctx->oom = true;
		job_free(cfg, job);
		return;
	}
	if (!job_name_valid(job->name))
		chime_node_error(ctx->diags, key,
		                 "invalid job name '%s' (expected [a-z0-9][a-z0-9_-]*, at most %d "
		                 "bytes)",
		                 job->name, CONFIG_JOB_NAME_MAX);
	if (map->kind != CHIME_NODE_MAPPING) {
		chime_node_error(ctx->diags, map, "expected a mapping, got %s",
		                 chime_node_kind_name(map));
		return;
	}
	(void)chime__config_apply(ctx, chime__config_job_keys, chime__config_policy_keys, map, job);
	if (job->plugin_name == NULL && job->plugin_path == NULL)
		chime_node_error(ctx->diags, map, "missing required key 'plugin'");
	if (job->tz == NULL && cfg->tz != NULL)
		job->tz = chime_tz_ref(cfg->tz);
	if (job->schedule != NULL && chime_node_get(map, "schedule")->kind == CHIME_NODE_SCALAR)
		(void)job_compile(ctx, job, map);
	job->fingerprint = job_fingerprint(job);

	if (ctx->diags->errors == errors && cfg->has_hooks && cfg->hooks.check_job != NULL) {
		int r = cfg->hooks.check_job(job, ctx->diags, cfg->hooks.userdata);

		if (r == -ENOMEM)
			ctx->oom = true;
		/* release_job() undoes whatever check_job() set, even in part. */
		job->hooked = true;
	}
}

static void
cf_jobs(struct cf_ctx *ctx, const struct chime_node *jobs)
{
	if (jobs == NULL || chime_node_is_null(jobs))
		return;
	if (jobs->kind != CHIME_NODE_MAPPING) {
		chime_node_error(ctx->diags, jobs,
		                 "expected a mapping of job names to jobs, got %s",
		                 chime_node_kind_name(jobs));
		return;
	}
	for (size_t i = 0; i < jobs->count; i++)
		cf_job(ctx, jobs->key_nodes[i], jobs->items[i]);
}

static int
job_entry_cmp(const void *a, const void *b)
{
	const struct cf_job_entry *x = a, *y = b;
	int c = strcmp(x->job->name, y->job->name);

	if (c != 0)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sort the jobs by name into the config; a name defined twice (in two
 * files: one mapping cannot hold it twice) is an error naming both. */
static int
cf_finish_jobs(struct cf_ctx *ctx)
{
	struct chime_config *cfg = ctx->cfg;
	size_t n = 0;

	if (ctx->n_jobs > 0)
		qsort(ctx->jobs, ctx->n_jobs, sizeof(*ctx->jobs), job_entry_cmp);
	cfg->jobs = calloc(ctx->n_jobs + 1, sizeof(*cfg->jobs));
	if (cfg->jobs == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < ctx->n_jobs; i++) {
		struct chime_job_config *job = ctx->jobs[i].job;

		if (n > 0 && strcmp(cfg->jobs[n - 1]->name, job->name) == 0) {
			const struct chime_job_config *first = cfg->jobs[n - 1];
			char path[128];

			snprintf(path, sizeof(path), "jobs.%s", job->name);
			chime_diag_add(ctx->diags, CHIME_DIAG_ERROR, job->file, job->line,
			               job->column, path, "job '%s' is already defined at %s:%u:%u",
			               job->name, first->file, first->line, first->column);
			job_free(cfg, job);
			continue;
		}
		cfg->jobs[n++] = job;
	}
	cfg->n_jobs = n;
	ctx->n_jobs = 0;
	return 0;
}

/* ---- Files and includes --------------------------------------------- */

/* Record a file about to be read: diagnostics are sorted by it. */
static int
cf_add_file(struct chime_config *cfg, const char *path)
{
	char **files, *copy;

	copy = strdup(path);
	files = reallocarray(cfg->files, cfg->n_files + 1, sizeof(*files));
	if (files != NULL)
		cfg->files = files;
	if (copy == NULL || files == NULL) {
		free(copy);
		return -ENOMEM;
	}
	cfg->files[cfg->n_files++] = copy;
	return 0;
}

/* Keep a parsed tree: jobs point into it. Takes ownership of `tree`. */
static int
cf_add_tree(struct chime_config *cfg, struct chime_node *tree)
{
	struct chime_node **trees;

	trees = reallocarray(cfg->trees, cfg->n_trees + 1, sizeof(*trees));
	if (trees == NULL) {
		chime_node_free(tree);
		return -ENOMEM;
	}
	cfg->trees = trees;
	cfg->trees[cfg->n_trees++] = tree;
	return 0;
}

static int
path_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Expand one `include:` pattern into `list`. */
static int
cf_glob(struct cf_ctx *ctx, const struct chime_node *pattern, glob_t *g, bool *appended)
{
	const char *slash = strrchr(ctx->cfg->path, '/');
	char *full = NULL;
	int r;

	if (pattern->kind != CHIME_NODE_SCALAR || chime_node_is_null(pattern))
		return chime_node_error(ctx->diags, pattern, "expected a glob, got %s",
		                        chime_node_kind_name(pattern));
	if (pattern->scalar[0] == '\0')
		return chime_node_error(ctx->diags, pattern, "an empty glob");
	if (pattern->scalar[0] != '/' && slash != NULL) {
		if (asprintf(&full, "%.*s/%s", (int)(slash - ctx->cfg->path), ctx->cfg->path,
		             pattern->scalar) < 0)
			return -ENOMEM;
	}
	r = glob(full != NULL ? full : pattern->scalar, *appended ? GLOB_APPEND : 0, NULL, g);
	*appended = *appended || r == 0;
	if (r == GLOB_NOMATCH && strpbrk(pattern->scalar, "*?[") == NULL)
		r = chime_node_error(ctx->diags, pattern, "include file '%s' does not exist",
		                     full != NULL ? full : pattern->scalar);
	else if (r == GLOB_NOSPACE)
		r = -ENOMEM;
	else
		r = 0;
	free(full);
	return r;
}

static void
cf_dropin(struct cf_ctx *ctx, const char *path)
{
	struct chime_node *tree = NULL;
	const struct chime_node *root;

	if (cf_add_file(ctx->cfg, path) < 0) {
		ctx->oom = true;
		return;
	}
	if (chime_node_load_file(path, NULL, ctx->diags, &tree) < 0)
		return;
	if (cf_add_tree(ctx->cfg, tree) < 0) {
		ctx->oom = true;
		return;
	}
	root = tree;
	if (root->kind != CHIME_NODE_MAPPING) {
		chime_node_error(ctx->diags, root, "the top level must be a mapping, got %s",
		                 chime_node_kind_name(root));
		return;
	}
	for (size_t i = 0; i < root->count; i++)
		if (strcmp(root->keys[i], "jobs") != 0)
			chime_node_error(
			        ctx->diags, root->key_nodes[i],
			        "unknown key '%s' (a drop-in file may only contain 'jobs')",
			        root->keys[i]);
	cf_jobs(ctx, chime_node_get(root, "jobs"));
}

static void
cf_include(struct cf_ctx *ctx, const struct chime_node *inc)
{
	struct stat main_st, st;
	bool appended = false, have_main;
	glob_t g = {0};
	size_t n;

	if (inc == NULL || chime_node_is_null(inc))
		return;
	if (inc->kind == CHIME_NODE_MAPPING) {
		chime_node_error(ctx->diags, inc, "expected a glob or a list of globs, got %s",
		                 chime_node_kind_name(inc));
		return;
	}
	if (inc->kind == CHIME_NODE_SCALAR) {
		if (cf_glob(ctx, inc, &g, &appended) == -ENOMEM)
			ctx->oom = true;
	} else {
		for (size_t i = 0; i < inc->count; i++)
			if (cf_glob(ctx, inc->items[i], &g, &appended) == -ENOMEM)
				ctx->oom = true;
	}
	if (!appended)
		return;
	n = g.gl_pathc;
	if (n > CONFIG_MAX_DROPINS) {
		chime_node_error(ctx->diags, inc, "more than %d drop-in files", CONFIG_MAX_DROPINS);
		globfree(&g);
		return;
	}
	qsort(g.gl_pathv, n, sizeof(*g.gl_pathv), path_cmp);
	have_main = stat(ctx->cfg->path, &main_st) == 0;
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && strcmp(g.gl_pathv[i], g.gl_pathv[i - 1]) == 0)
			continue;
		/* A pattern like *.yaml next to the main file must not load it twice. */
		if (have_main && stat(g.gl_pathv[i], &st) == 0 && st.st_dev == main_st.st_dev &&
		    st.st_ino == main_st.st_ino)
			continue;
		cf_dropin(ctx, g.gl_pathv[i]);
	}
	globfree(&g);
}

/* ---- Loading -------------------------------------------------------- */

static struct chime_config *
config_new(const char *path, const struct chime_config_hooks *hooks)
{
	struct chime_config *cfg = calloc(1, sizeof(*cfg));

	if (cfg == NULL)
		return NULL;
	cfg->refcount = 1;
	if (hooks != NULL) {
		cfg->hooks = *hooks;
		cfg->has_hooks = true;
	}
	cfg->path = strdup(path);
	cfg->tz_cache = chime_tz_cache_new();
	if (cfg->path == NULL || cfg->tz_cache == NULL ||
	    cf_defaults(chime__config_top_keys, cfg) < 0)
		return chime_config_unref(cfg);
	return cfg;
}

/* Walk the main file's tree (already stored in cfg->trees[0]). */
static int
config_walk(struct chime_config *cfg, struct chime_diag_list *diags)
{
	const struct chime_node *root = cfg->trees[0];
	struct cf_ctx ctx = {.cfg = cfg, .diags = diags};
	size_t errors = diags->errors;
	int r;

	if (cf_defaults(chime__config_policy_keys, &ctx.tmpl) < 0)
		return -ENOMEM;
	if (root->kind != CHIME_NODE_MAPPING) {
		chime_node_error(diags, root, "the top level must be a mapping, got %s",
		                 chime_node_kind_name(root));
		return -EINVAL;
	}
	(void)chime__config_apply(&ctx, chime__config_top_keys, NULL, root, cfg);
	cf_jobs(&ctx, chime_node_get(root, "jobs"));
	cf_include(&ctx, chime_node_get(root, "include"));
	r = cf_finish_jobs(&ctx);
	for (size_t i = 0; i < ctx.n_jobs; i++)
		job_free(cfg, ctx.jobs[i].job);
	free(ctx.jobs);
	if (r < 0 || ctx.oom)
		return -ENOMEM;
	return diags->errors > errors ? -EINVAL : 0;
}

struct diag_sort {
	struct chime_diag d;
	size_t rank, seq;
};

static int
diag_sort_cmp(const void *a, const void *b)
{
	const struct diag_sort *x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->d.line != y->d.line)
		return x->d.line < y->d.line ? -1 : 1;
	if (x->d.column != y->d.column)
		return x->d.column < y->d.column ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * Put the diagnostics added since `start` in source order: by file (the
 * main file, then the drop-ins as read), line and column; the walk adds
 * them in key-table order. Left as they are when memory is short.
 */
static void
diags_sort(const struct chime_config *cfg, struct chime_diag_list *diags, size_t start)
{
	size_t n = diags->count - start;
	struct diag_sort *v;

	if (n < 2 || (v = calloc(n, sizeof(*v))) == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		const struct chime_diag *d = &diags->items[start + i];

		v[i] = (struct diag_sort){.d = *d, .rank = cfg->n_files, .seq = i};
		for (size_t f = 0; d->file != NULL && f < cfg->n_files; f++)
			if (strcmp(d->file, cfg->files[f]) == 0) {
				v[i].rank = f;
				break;
			}
	}
	qsort(v, n, sizeof(*v), diag_sort_cmp);
	for (size_t i = 0; i < n; i++)
		diags->items[start + i] = v[i].d;
	free(v);
}

static int
config_finish(struct chime_config *cfg, struct chime_node *tree, struct chime_diag_list *diags,
              struct chime_config **ret_config)
{
	size_t start = diags->count;
	int r;

	r = cf_add_file(cfg, cfg->path);
	if (r < 0) {
		chime_node_free(tree);
		goto out;
	}
	r = cf_add_tree(cfg, tree);
	if (r < 0)
		goto out;
	r = config_walk(cfg, diags);
	diags_sort(cfg, diags, start);
	if (r < 0)
		goto out;
	*ret_config = cfg;
	cfg = NULL;
out:
	chime_config_unref(cfg);
	return r;
}

int
chime_config_load(const char *path, const struct chime_config_hooks *hooks,
                  struct chime_diag_list *diags, struct chime_config **ret_config)
{
	struct chime_config *cfg;
	struct chime_node *tree = NULL;
	int r;

	r = chime_node_load_file(path, NULL, diags, &tree);
	if (r < 0)
		return r;
	cfg = config_new(path, hooks);
	if (cfg == NULL) {
		chime_node_free(tree);
		return -ENOMEM;
	}
	return config_finish(cfg, tree, diags, ret_config);
}

int
chime_config_parse_string(const char *name, const char *text, size_t len,
                          const struct chime_config_hooks *hooks, struct chime_diag_list *diags,
                          struct chime_config **ret_config)
{
	struct chime_config *cfg;
	struct chime_node *tree = NULL;
	int r;

	r = chime_node_parse_string(name, text, len, NULL, diags, &tree);
	if (r < 0)
		return r;
	cfg = config_new(name, hooks);
	if (cfg == NULL) {
		chime_node_free(tree);
		return -ENOMEM;
	}
	return config_finish(cfg, tree, diags, ret_config);
}

struct chime_config *
chime_config_ref(struct chime_config *config)
{
	if (config != NULL)
		config->refcount++;
	return config;
}

struct chime_config *
chime_config_unref(struct chime_config *config)
{
	if (config == NULL || --config->refcount > 0)
		return NULL;
	for (size_t i = 0; i < config->n_jobs; i++)
		job_free(config, config->jobs[i]);
	chime_free_many(config->jobs, config->database.conninfo, config->database.password_file,
	                config->timezone);
	chime_tz_unref(config->tz);
	chime_free_many(config->node, config->control_socket, config->metrics_listen);
	for (size_t i = 0; i < config->n_trees; i++)
		chime_node_free(config->trees[i]);
	free(config->trees);
	for (size_t i = 0; i < config->n_files; i++)
		free(config->files[i]);
	free(config->files);
	chime_tz_cache_free(config->tz_cache);
	free(config->path);
	free(config);
	return NULL;
}

static int
job_name_cmp(const void *key, const void *elem)
{
	return strcmp(key, (*(struct chime_job_config *const *)elem)->name);
}

const struct chime_job_config *
chime_config_find_job(const struct chime_config *config, const char *name)
{
	struct chime_job_config *const *job;

	if (config == NULL || config->n_jobs == 0)
		return NULL;
	job = bsearch(name, config->jobs, config->n_jobs, sizeof(*config->jobs), job_name_cmp);
	return job != NULL ? *job : NULL;
}
