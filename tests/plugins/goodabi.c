/* SPDX-License-Identifier: MIT */
/*
 * A well-formed third-party plugin: the right ABI version and a full
 * descriptor. configure() accepts an optional integer option `add`;
 * run() adds it to the count "good" through the host's accessors.
 */
#include <errno.h>
#include <stdlib.h>

#include "chime/plugin.h"

struct good_state {
	int64_t add;
};

static int
good_configure(const struct chime_node *options, struct chime_diag_list *diags, void **ret_state)
{
	struct good_state *st;
	const struct chime_node *add = chime_node_get(options, "add");
	const char *text = chime_node_scalar(add);
	char *end;
	long long v = 1;

	if (add != NULL) {
		v = text != NULL ? strtoll(text, &end, 10) : 0;
		if (text == NULL || *end != '\0' || end == text)
			return chime_node_error(diags, add, "want an integer");
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -ENOMEM;
	st->add = v;
	*ret_state = st;
	return 0;
}

static int
good_run(void *state, struct chime_run *run)
{
	const struct good_state *st = state;

	chime_run_count(run, "good", st->add);
	return 0;
}

static void
good_release(void *state)
{
	free(state);
}

static const struct chime_plugin good = {
        CHIME_PLUGIN_INIT("good", good_configure, good_run, good_release),
        .idempotent = true,
};

CHIME_EXPORT const struct chime_plugin *
chime_plugin_entry(void)
{
	return &good;
}
