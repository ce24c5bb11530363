/* SPDX-License-Identifier: MIT */
/*
 * The config key table: every key chime.yaml accepts, with its type,
 * default (as YAML text), restart flag, field offset and setter or check,
 * and the setters for keys that need more than a type (zones, the host
 * name, ${VAR} paths, options). config.c walks it; config-keys.c lists
 * it. Never logs.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config-keys.h"
#include "config.h"
#include "cron.h"
#include "diag.h"
#include "expand.h"
#include "node.h"
#include "timespan.h"
#include "tz.h"

/* ---- Setters -------------------------------------------------------- */

int
chime__config_set_string(struct cf_ctx *ctx, char **out, const char *value)
{
	char *copy = strdup(value);

	if (copy == NULL) {
		ctx->oom = true;
		return -ENOMEM;
	}
	free(*out);
	*out = copy;
	return 0;
}

/* Load zone `name` through the cache; a diagnostic at `node` on failure. */
int
chime__config_zone(struct cf_ctx *ctx, const struct chime_node *node, const char *name,
                   struct chime_tz **ret_tz)
{
	int r = chime_tz_cache_get(ctx->cfg->tz_cache, name, ret_tz);

	switch (r) {
	case 0:
		return 0;
	case -ENOMEM:
		ctx->oom = true;
		return r;
	case -ENOENT:
		return chime_node_error(ctx->diags, node, "unknown time zone '%s'", name);
	case -EINVAL:
		return chime_node_error(ctx->diags, node, "invalid time zone name '%s'", name);
	default:
		return chime_node_error(ctx->diags, node, "cannot load time zone '%s': %s", name,
		                        strerror(-r));
	}
}

static int
set_global_zone(struct cf_ctx *ctx, const struct cf_key *key, const struct chime_node *map,
                const struct chime_node *v, void *target)
{
	struct chime_config *cfg = target;
	struct chime_tz *tz = NULL;
	const char *name;
	int r;

	if (v != NULL) {
		r = chime_node_get_string(map, key->name, NULL, ctx->diags, &name);
		if (r < 0)
			return r;
		r = chime__config_zone(ctx, v, name, &tz);
		if (r < 0)
			return r;
	} else if (chime_tz_load_system(&tz) < 0) {
		tz = chime_tz_utc();
	}
	cfg->tz = tz;
	(void)chime__config_set_string(ctx, &cfg->timezone, chime_tz_name(tz));
	return 0;
}

static int
set_node(struct cf_ctx *ctx, const struct cf_key *key, const struct chime_node *map,
         const struct chime_node *v, void *target)
{
	char **out = cf_field(target, key);
	char host[256];
	const char *name;
	int r;

	if (v != NULL) {
		r = chime_node_get_string(map, key->name, NULL, ctx->diags, &name);
		if (r < 0)
			return r;
		if (name[0] == '\0' || strlen(name) > 255)
			return chime_node_error(ctx->diags, v,
			                        "a node name of 1 to 255 bytes is "
			                        "required");
	} else {
		/* The one impure read besides files and zones: the default
		 * node name is the host name. */
		if (gethostname(host, sizeof(host)) < 0 || host[0] == '\0')
			return chime_node_error(ctx->diags, map,
			                        "cannot determine the host name; set 'node'");
		host[sizeof(host) - 1] = '\0';
		name = host;
	}
	(void)chime__config_set_string(ctx, out, name);
	return 0;
}

static int
set_expanded_path(struct cf_ctx *ctx, const struct cf_key *key, const struct chime_node *map,
                  const struct chime_node *v, void *target)
{
	char **out = cf_field(target, key);
	const char *text;
	char err[512], *s;
	int r;

	if (v == NULL)
		return 0;
	r = chime_node_get_string(map, key->name, NULL, ctx->diags, &text);
	if (r < 0)
		return r;
	r = chime_expand_env(text, NULL, NULL, &s, err, sizeof(err));
	if (r == -ENOMEM) {
		ctx->oom = true;
		return r;
	}
	if (r < 0)
		return chime_node_error(ctx->diags, v, "%s", err);
	if (s[0] == '\0') {
		free(s);
		return chime_node_error(ctx->diags, v, "an empty path");
	}
	free(*out);
	*out = s;
	return 0;
}

/* `control_socket: ""` turns the control socket off. */
static int
check_empty_is_off(struct cf_ctx *ctx, const struct cf_key *key, const struct chime_node *map,
                   const struct chime_node *v, void *target)
{
	char **out = cf_field(target, key);

	if (*out != NULL && (*out)[0] == '\0')
		*out = (free(*out), NULL);
	return 0;
}

static int
check_listen(struct cf_ctx *ctx, const struct cf_key *key, const struct chime_node *map,
             const struct chime_node *v, void *target)
{
	const char *s = *(char **)cf_field(target, key);
	const char *colon = s != NULL ? strrchr(s, ':') : NULL;
	char *end;
	long port;

	if (s == NULL)
		return 0;
	if (colon == NULL || colon == s)
		return chime_node_error(ctx->diags, v, "expected HOST:PORT, got '%s'", s);
	port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || port < 1 || port > 65535)
		return chime_node_error(ctx->diags, v, "invalid port in '%s' (expected 1..65535)",
		                        s);
	return 0;
}

static int
check_plugin_name(struct cf_ctx *ctx, const struct cf_key *key, const struct chime_node *map,
                  const struct chime_node *v, void *target)
{
	const char *s = *(char **)cf_field(target, key);

	if (s == NULL)
		return 0;
	if (s[0] == '\0' || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(s))
		return chime_node_error(ctx->diags, v,
		                        "invalid plugin name '%s' (expected [a-z0-9_]+)", s);
	return 0;
}

static int
check_days(struct cf_ctx *ctx, const struct cf_key *key, const struct chime_node *map,
           const struct chime_node *v, void *target)
{
	struct chime_job_config *job = target;

	job->days_set = true;
	return 0;
}

/* Where on_lost was said, for the plugin host's check of rerun. */
static int
note_on_lost(struct cf_ctx *ctx, const struct cf_key *key, const struct chime_node *map,
             const struct chime_node *v, void *target)
{
	struct chime_job_config *job = target;

	job->on_lost_node = v;
	return 0;
}

static int
set_job_zone(struct cf_ctx *ctx, const struct cf_key *key, const struct chime_node *map,
             const struct chime_node *v, void *target)
{
	struct chime_job_config *job = target;
	struct chime_tz *tz;
	const char *name;
	int r;

	if (v == NULL)
		return 0;
	r = chime_node_get_string(map, key->name, NULL, ctx->diags, &name);
	if (r < 0)
		return r;
	r = chime__config_zone(ctx, v, name, &tz);
	if (r < 0)
		return r;
	chime_tz_unref(job->tz);
	job->tz = tz;
	return 0;
}

static int
set_options(struct cf_ctx *ctx, const struct cf_key *key, const struct chime_node *map,
            const struct chime_node *v, void *target)
{
	struct chime_job_config *job = target;

	if (v == NULL)
		return 0;
	if (v->kind != CHIME_NODE_MAPPING)
		return chime_node_error(ctx->diags, v, "expected a mapping, got %s",
		                        chime_node_kind_name(v));
	job->options = v;
	return 0;
}

static int
set_defaults(struct cf_ctx *ctx, const struct cf_key *key, const struct chime_node *map,
             const struct chime_node *v, void *target)
{
	if (v == NULL)
		return 0;
	if (v->kind != CHIME_NODE_MAPPING)
		return chime_node_error(ctx->diags, v, "expected a mapping, got %s",
		                        chime_node_kind_name(v));
	return chime__config_apply(ctx, key->sub, NULL, v, &ctx->tmpl);
}

/* ---- The key table -------------------------------------------------- */

static const char *const overlap_names[] = {"skip", "queue", "replace", NULL};
static const char *const misfire_names[] = {"skip", "run-once", "run-all", NULL};
static const char *const lost_names[] = {"auto", "rerun", "fail", NULL};
static const char *const days_names[] = {"any", "all", NULL};
static const char *const gap_names[] = {"run-at-jump", "skip", "shift", NULL};
static const char *const dst_overlap_names[] = {"once", "both", NULL};

/* The common shapes of a key: a duration, a bounded integer, an enum. */
#define DURATION(n, d, s, f)                                                                       \
	{                                                                                          \
		.name = n, .type = CF_DURATION, .def = d, .offset = offsetof(s, f)                 \
	}
#define INTEGER(n, d, s, f, lo, hi)                                                                \
	{                                                                                          \
		.name = n, .type = CF_INT, .def = d, .offset = offsetof(s, f), .min = lo,          \
		.max = hi                                                                          \
	}
#define ENUM(n, d, s, f, names_)                                                                   \
	{                                                                                          \
		.name = n, .type = CF_ENUM, .def = d, .offset = offsetof(s, f), .names = names_    \
	}

static const struct cf_key retry_keys[] = {
        INTEGER("attempts", "1", struct chime_retry_policy, attempts, 1, 100),
        DURATION("backoff", "30s", struct chime_retry_policy, backoff_usec),
        DURATION("max_backoff", "10min", struct chime_retry_policy, max_backoff_usec),
        {0},
};

/* Keys of `defaults:` that every job may override. */
const struct cf_key chime__config_policy_keys[] = {
        DURATION("timeout", "15min", struct chime_job_config, timeout_usec),
        ENUM("overlap", "skip", struct chime_job_config, overlap, overlap_names),
        ENUM("misfire", "run-once", struct chime_job_config, misfire, misfire_names),
        DURATION("catchup_window", "6h", struct chime_job_config, catchup_window_usec),
        INTEGER("max_catchup", "10", struct chime_job_config, max_catchup, 0, 100000),
        {.name = "retry",
         .type = CF_SECTION,
         .offset = offsetof(struct chime_job_config, retry),
         .sub = retry_keys},
        DURATION("jitter", "0", struct chime_job_config, jitter_usec),
        DURATION("history", "90d", struct chime_job_config, history_usec),
        {.name = "lease",
         .type = CF_DURATION,
         .def = "1min",
         .offset = offsetof(struct chime_job_config, lease_usec),
         .min = CHIME_LEASE_MIN_USEC,
         .min_why = "heartbeats renew a claim every quarter of its lease, and 500ms "
                    "is the shortest period they can keep"},
        {.name = "on_lost",
         .type = CF_ENUM,
         .def = "auto",
         .offset = offsetof(struct chime_job_config, on_lost),
         .names = lost_names,
         .set = note_on_lost},
        DURATION("expect", NULL, struct chime_job_config, expect_usec),
        {0},
};

static const struct cf_key dst_keys[] = {
        {.name = "gap",
         .type = CF_ENUM,
         .offset = offsetof(struct chime_expr_options, gap),
         .names = gap_names,
         .base = CHIME_DST_GAP_RUN_AT_JUMP},
        {.name = "overlap",
         .type = CF_ENUM,
         .offset = offsetof(struct chime_expr_options, overlap),
         .names = dst_overlap_names,
         .base = CHIME_DST_OVERLAP_ONCE},
        {0},
};

/* Keys only a job has; a job also takes every policy key. */
const struct cf_key chime__config_job_keys[] = {
        {.name = "schedule",
         .type = CF_STRING,
         .flags = CF_REQUIRED,
         .offset = offsetof(struct chime_job_config, schedule)},
        {.name = "timezone", .type = CF_CUSTOM, .set = set_job_zone},
        {.name = "days",
         .type = CF_ENUM,
         .offset = offsetof(struct chime_job_config, expr_options.days),
         .names = days_names,
         .set = check_days},
        {.name = "dst",
         .type = CF_SECTION,
         .offset = offsetof(struct chime_job_config, expr_options),
         .sub = dst_keys},
        {.name = "plugin",
         .type = CF_STRING,
         .offset = offsetof(struct chime_job_config, plugin_name),
         .set = check_plugin_name},
        {.name = "plugin_path",
         .type = CF_STRING,
         .offset = offsetof(struct chime_job_config, plugin_path)},
        {.name = "options", .type = CF_CUSTOM, .set = set_options},
        {.name = "enabled",
         .type = CF_BOOL,
         .def = "true",
         .offset = offsetof(struct chime_job_config, enabled)},
        {0},
};

static const struct cf_key database_keys[] = {
        {.name = "conninfo",
         .type = CF_STRING,
         .def = "",
         .offset = offsetof(struct chime_database_config, conninfo)},
        {.name = "password_file",
         .type = CF_CUSTOM,
         .flags = CF_STR_FIELD,
         .offset = offsetof(struct chime_database_config, password_file),
         .set = set_expanded_path},
        INTEGER("pool", "4", struct chime_database_config, pool, 1, 64),
        DURATION("connect_timeout", "10s", struct chime_database_config, connect_timeout_usec),
        {0},
};

static const struct cf_key metrics_keys[] = {
        {.name = "listen",
         .type = CF_STRING,
         .offset = offsetof(struct chime_config, metrics_listen),
         .set = check_listen},
        {0},
};

const struct cf_key chime__config_top_keys[] = {
        {.name = "timezone", .type = CF_CUSTOM, .set = set_global_zone},
        {.name = "node",
         .type = CF_CUSTOM,
         .flags = CF_RESTART | CF_STR_FIELD,
         .offset = offsetof(struct chime_config, node),
         .set = set_node},
        {.name = "database",
         .type = CF_SECTION,
         .flags = CF_RESTART,
         .offset = offsetof(struct chime_config, database),
         .sub = database_keys},
        DURATION("shutdown_timeout", "30s", struct chime_config, shutdown_timeout_usec),
        {.name = "control_socket",
         .type = CF_STRING,
         .flags = CF_RESTART,
         .def = "/run/chime/control.sock",
         .offset = offsetof(struct chime_config, control_socket),
         .set = check_empty_is_off},
        {.name = "metrics", .type = CF_SECTION, .flags = CF_RESTART, .sub = metrics_keys},
        {.name = "defaults",
         .type = CF_CUSTOM,
         .sub = chime__config_policy_keys,
         .set = set_defaults},
        /* Handled by the loader itself, after the keys above. */
        {.name = "include", .type = CF_CUSTOM},
        {.name = "jobs", .type = CF_CUSTOM, .sub = chime__config_job_keys},
        {0},
};
