/* SPDX-License-Identifier: MIT */
/*
 * What the config key table answers besides loading: the list of every
 * key path (for the man page check), which keys need a restart and which
 * of those changed between two configs (for reload), and the shared body
 * of `chimed --check` and `chimectl check`. Never logs.
 */
#include "config-keys.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "diag.h"

struct key_list {
	char **paths;
	unsigned *flags;
	size_t n, allocated;
	bool oom;
};

static void
keys_add(struct key_list *l, const char *prefix, const char *name, unsigned flags)
{
	char *path;

	if (l->oom)
		return;
	if (l->n + 1 >= l->allocated) {
		size_t cap = l->allocated != 0 ? l->allocated * 2 : 64;
		char **p = reallocarray(l->paths, cap, sizeof(*p));
		unsigned *f;

		if (p == NULL) {
			l->oom = true;
			return;
		}
		l->paths = p;
		f = reallocarray(l->flags, cap, sizeof(*f));
		if (f == NULL) {
			l->oom = true;
			return;
		}
		l->flags = f;
		l->allocated = cap;
	}
	if (asprintf(&path, "%s%s", prefix, name) < 0) {
		l->oom = true;
		return;
	}
	l->paths[l->n] = path;
	l->flags[l->n] = flags;
	l->n++;
	l->paths[l->n] = NULL;
}

static void
keys_walk(struct key_list *l, const char *prefix, const struct cf_key *table, unsigned flags)
{
	for (const struct cf_key *k = table; k->name != NULL; k++) {
		unsigned f = flags | (k->flags & CF_RESTART);
		char sub[128];

		snprintf(sub, sizeof(sub), "%s%s.", prefix, k->name);
		if (k->type == CF_SECTION) {
			keys_walk(l, sub, k->sub, f);
		} else if (k->sub == chime__config_policy_keys) {
			keys_walk(l, sub, k->sub, f); /* defaults.* */
		} else if (k->sub == chime__config_job_keys) {
			snprintf(sub, sizeof(sub), "%s%s.NAME.", prefix, k->name);
			keys_walk(l, sub, chime__config_job_keys, f);
			keys_walk(l, sub, chime__config_policy_keys, f);
		} else {
			keys_add(l, prefix, k->name, f);
		}
	}
}

static void
key_list_done(struct key_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->paths[i]);
	free(l->paths);
	free(l->flags);
}

char **
chime_config_keys(void)
{
	struct key_list l = {0};

	keys_walk(&l, "", chime__config_top_keys, 0);
	if (l.oom || l.paths == NULL) {
		key_list_done(&l);
		return NULL;
	}
	free(l.flags);
	return l.paths;
}

char **
chime_config_keys_free(char **keys)
{
	if (keys == NULL)
		return NULL;
	for (size_t i = 0; keys[i] != NULL; i++)
		free(keys[i]);
	free(keys);
	return NULL;
}

bool
chime_config_key_needs_restart(const char *path)
{
	struct key_list l = {0};
	bool restart = false;

	keys_walk(&l, "", chime__config_top_keys, 0);
	for (size_t i = 0; i < l.n; i++)
		if (strcmp(l.paths[i], path) == 0)
			restart = (l.flags[i] & CF_RESTART) != 0;
	key_list_done(&l);
	return restart;
}

static bool
str_differ(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

static int
diff_walk(const struct cf_key *table, const char *prefix, const void *a, const void *b,
          unsigned flags, const char *file, struct chime_diag_list *diags)
{
	int changed = 0;

	for (const struct cf_key *k = table; k->name != NULL; k++) {
		const char *fa = (const char *)a + k->offset, *fb = (const char *)b + k->offset;
		unsigned f = flags | (k->flags & CF_RESTART);
		bool differ = false;
		char path[128];

		snprintf(path, sizeof(path), "%s%s", prefix, k->name);
		if (k->type == CF_SECTION) {
			char sub[160];

			snprintf(sub, sizeof(sub), "%s.", path);
			changed += diff_walk(k->sub, sub, fa, fb, f, file, diags);
			continue;
		}
		if ((f & CF_RESTART) == 0)
			continue;
		switch (k->type) {
		case CF_STRING:
			differ = str_differ(*(char *const *)fa, *(char *const *)fb);
			break;
		case CF_CUSTOM:
			if ((k->flags & CF_STR_FIELD) != 0)
				differ = str_differ(*(char *const *)fa, *(char *const *)fb);
			break;
		case CF_INT:
		case CF_ENUM:
			differ = *(const int *)fa != *(const int *)fb;
			break;
		case CF_BOOL:
			differ = *(const bool *)fa != *(const bool *)fb;
			break;
		case CF_DURATION:
			differ = *(const int64_t *)fa != *(const int64_t *)fb;
			break;
		case CF_SECTION:
			break;
		}
		if (!differ)
			continue;
		chime_diag_add(diags, CHIME_DIAG_WARNING, file, 0, 0, path,
		               "changed, but takes effect only after a restart");
		changed++;
	}
	return changed;
}

int
chime_config_restart_changes(const struct chime_config *old_config,
                             const struct chime_config *new_config, struct chime_diag_list *diags)
{
	return diff_walk(chime__config_top_keys, "", old_config, new_config, 0, new_config->path,
	                 diags);
}

int
chime_config_check_file(const char *path, const struct chime_config_hooks *hooks, FILE *out,
                        FILE *err)
{
	struct chime_diag_list diags;
	struct chime_config *config = NULL;
	int r;

	chime_diag_list_init(&diags);
	r = chime_config_load(path, hooks, &diags, &config);
	chime_diag_list_print(&diags, err);
	if (r < 0 && diags.errors == 0)
		fprintf(err, "%s: error: %s\n", path, strerror(-r));
	if (r == 0)
		fprintf(out, "configuration OK\n");
	chime_config_unref(config);
	chime_diag_list_done(&diags);
	return r;
}
