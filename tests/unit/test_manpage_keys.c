/* SPDX-License-Identifier: MIT */
/*
 * docs/chime.yaml.5 documents exactly the keys the loader knows: every
 * path chime_config_keys() lists has a ".It Cm PATH" entry whose text says
 * "needs a restart" when the key table flags it so and "reloadable"
 * otherwise, and every ".It Cm" entry names a known key. Runs with the
 * working directory tests/ (ctest sets it), so the page is ../docs/.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "config.h"

#define MANPAGE "../docs/chime.yaml.5"

struct entry {
	char *names; /* the ".It Cm" line after "Cm", e.g. "defaults.timeout , jobs.NAME.timeout" */
	char *body;  /* the lines up to the next .It or .El */
};

struct page {
	struct entry *entries;
	size_t n;
};

static char *
read_file(const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *in = fopen(path, "re"), *out;
	char chunk[4096];
	size_t n;

	if (in == NULL)
		fail_msg("cannot open %s (run from tests/): %m", path);
	out = open_memstream(&buf, &len);
	assert_non_null(out);
	while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0)
		fwrite(chunk, 1, n, out);
	fclose(in);
	assert_int_equal(fclose(out), 0);
	return buf;
}

static void
page_load(struct page *p)
{
	char *text = read_file(MANPAGE), *save = NULL;
	struct entry *cur = NULL;

	p->entries = NULL;
	p->n = 0;
	for (char *line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, ".It ", 4) == 0 || strncmp(line, ".El", 3) == 0)
			cur = NULL;
		if (strncmp(line, ".It Cm ", 7) == 0) {
			p->entries = reallocarray(p->entries, p->n + 1, sizeof(*p->entries));
			assert_non_null(p->entries);
			cur = &p->entries[p->n++];
			cur->names = strdup(line + 7);
			cur->body = strdup("");
			assert_non_null(cur->names);
			assert_non_null(cur->body);
			continue;
		}
		if (cur != NULL) {
			char *b = NULL;

			assert_true(asprintf(&b, "%s%s\n", cur->body, line) > 0);
			free(cur->body);
			cur->body = b;
		}
	}
	free(text);
}

static void
page_free(struct page *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->entries[i].names);
		free(p->entries[i].body);
	}
	free(p->entries);
}

/* True when `key` is one of the words of `names`. */
static bool
names_have(const char *names, const char *key)
{
	size_t n = strlen(key);

	for (const char *s = strstr(names, key); s != NULL; s = strstr(s + 1, key))
		if ((s == names || s[-1] == ' ') && (s[n] == '\0' || s[n] == ' '))
			return true;
	return false;
}

static bool
key_known(char **keys, const char *word, size_t n)
{
	for (size_t i = 0; keys[i] != NULL; i++)
		if (strlen(keys[i]) == n && strncmp(keys[i], word, n) == 0)
			return true;
	return false;
}

static void
test_every_key_documented(void **state)
{
	char **keys = chime_config_keys();
	char missing[4096] = "", wrong[4096] = "";
	struct page p;

	assert_non_null(keys);
	page_load(&p);
	assert_true(p.n > 0);
	for (size_t i = 0; keys[i] != NULL; i++) {
		const struct entry *e = NULL;
		bool restart = chime_config_key_needs_restart(keys[i]);

		for (size_t j = 0; j < p.n && e == NULL; j++)
			if (names_have(p.entries[j].names, keys[i]))
				e = &p.entries[j];
		if (e == NULL) {
			strncat(missing, " ", sizeof(missing) - strlen(missing) - 1);
			strncat(missing, keys[i], sizeof(missing) - strlen(missing) - 1);
			continue;
		}
		if (strstr(e->body, restart ? "needs a restart" : "reloadable") == NULL) {
			strncat(wrong, " ", sizeof(wrong) - strlen(wrong) - 1);
			strncat(wrong, keys[i], sizeof(wrong) - strlen(wrong) - 1);
			strncat(wrong, restart ? " (needs a restart)" : " (reloadable)",
			        sizeof(wrong) - strlen(wrong) - 1);
		}
	}
	page_free(&p);
	chime_config_keys_free(keys);
	if (missing[0] != '\0')
		fail_msg(MANPAGE " lacks an '.It Cm KEY' entry for:%s", missing);
	if (wrong[0] != '\0')
		fail_msg(MANPAGE " entries that do not say how a reload treats them:%s", wrong);
}

static void
test_no_stale_keys(void **state)
{
	char **keys = chime_config_keys();
	char stale[4096] = "";
	struct page p;

	assert_non_null(keys);
	page_load(&p);
	for (size_t j = 0; j < p.n; j++) {
		const char *s = p.entries[j].names;

		while (*s != '\0') {
			size_t n = strcspn(s, " ");

			if (n > 0 && !(n == 1 && s[0] == ',') &&
			    !(n == 2 && strncmp(s, "Cm", 2) == 0) && !key_known(keys, s, n)) {
				strncat(stale, " ", sizeof(stale) - strlen(stale) - 1);
				strncat(stale, s,
				        n < sizeof(stale) - strlen(stale) - 1
				                ? n
				                : sizeof(stale) - strlen(stale) - 1);
			}
			s += n;
			s += strspn(s, " ");
		}
	}
	page_free(&p);
	chime_config_keys_free(keys);
	if (stale[0] != '\0')
		fail_msg(MANPAGE " documents keys the loader does not know:%s", stale);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_every_key_documented),
	        cmocka_unit_test(test_no_stale_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
