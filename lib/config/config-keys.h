/* SPDX-License-Identifier: MIT */
/*
 * Internal to the config loader: the key table (config-table.c) shared by
 * config.c, which walks it, and config-keys.c, which lists it and compares
 * configs; and the walk's state that the table's setters use.
 */
#ifndef CHIME_CONFIG_KEYS_H
#define CHIME_CONFIG_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "node.h"

#define CF_RESTART   0x1u /* a change takes effect only after a restart */
#define CF_REQUIRED  0x2u /* the key must be given */
#define CF_STR_FIELD 0x4u /* a custom key whose field at `offset` is a char * */

enum cf_type {
	CF_STRING,   /* char *, strdup'ed */
	CF_INT,      /* int within min..max */
	CF_BOOL,     /* bool */
	CF_DURATION, /* int64_t microseconds, at least `min` */
	CF_ENUM,     /* an enum: names[i] is the value base + i */
	CF_SECTION,  /* a mapping described by `sub`, stored at `offset` */
	CF_CUSTOM,   /* `set` does everything; called also when the key is absent */
};

struct cf_ctx;
struct cf_key;

/* Store (CF_CUSTOM) or check (other types, after storing) the value `v`
 * of `key` in mapping `map` into `target`. `v` is NULL when the key is
 * absent (only CF_CUSTOM setters see that). Returns 0 or -EINVAL after a
 * diagnostic. */
typedef int (*cf_set_fn)(struct cf_ctx *ctx, const struct cf_key *key, const struct chime_node *map,
                         const struct chime_node *v, void *target);

struct cf_key {
	const char *name;
	enum cf_type type;
	const char *def; /* the default as one would write it in YAML; NULL: zero/none */
	unsigned flags;  /* CF_RESTART, CF_REQUIRED, CF_STR_FIELD */
	size_t offset;   /* of the field in the section's struct */
	int64_t min, max;
	const char *min_why;      /* CF_DURATION: said after "at least MIN" */
	const char *const *names; /* CF_ENUM */
	int base;                 /* CF_ENUM */
	const struct cf_key *sub; /* CF_SECTION, and the tables of `defaults` and `jobs` */
	cf_set_fn set;
};

/* The tables, terminated by an entry whose name is NULL: the top level
 * (sections nest through `sub`), a job's own keys, and the policy keys
 * that `defaults:` sets and every job may override. */
extern const struct cf_key chime__config_top_keys[];
extern const struct cf_key chime__config_job_keys[];
extern const struct cf_key chime__config_policy_keys[];

struct cf_job_entry {
	struct chime_job_config *job;
	size_t seq; /* definition order, for stable duplicate detection */
};

/* The state of one load. */
struct cf_ctx {
	struct chime_config *cfg;
	struct chime_diag_list *diags;
	struct chime_job_config tmpl; /* policy defaults for every job */
	struct cf_job_entry *jobs;
	size_t n_jobs, allocated_jobs;
	bool oom;
};

/* The field of `key` in `target`. */
static inline void *
cf_field(void *target, const struct cf_key *key)
{
	return (char *)target + key->offset;
}

/*
 * Check the keys of mapping `map` against `table` (plus `more`, may be
 * NULL) and store each value into `target` (config.c). Returns -EINVAL
 * when a diagnostic was added.
 */
int chime__config_apply(struct cf_ctx *ctx, const struct cf_key *table, const struct cf_key *more,
                        const struct chime_node *map, void *target);
/* Replace the string *out by a copy of `value`; out of memory sets
 * ctx->oom and returns -ENOMEM (config-table.c). */
int chime__config_set_string(struct cf_ctx *ctx, char **out, const char *value);
/* Load zone `name` through the config's cache; a diagnostic placed at
 * `node` on failure (config-table.c). */
int chime__config_zone(struct cf_ctx *ctx, const struct chime_node *node, const char *name,
                       struct chime_tz **ret_tz);

#endif
