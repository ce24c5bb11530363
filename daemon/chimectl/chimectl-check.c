/* SPDX-License-Identifier: MIT */
/*
 * chimectl check [FILE] [--no-db | --apply]: load the configuration as chimed would,
 * plugins included, and print every diagnostic (exit 1) or the warnings and
 * "configuration OK" (exit 0). A valid configuration is then checked
 * against the database the way chimed would use it (chimectl-check-db.c):
 * the connection, the ledger's privileges and each job's tables, in
 * transactions rolled back; only a server that cannot be reached at all is
 * a note rather than a failure.
 *
 * `chimed --check` stays configuration-only: it runs as ExecStartPre and
 * must not depend on the database being up (chimed itself waits for it).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "builtin.h"
#include "chimectl.h"
#include "config.h"
#include "diag.h"
#include "plugin_host.h"

static void
check_usage(FILE *f)
{
	fprintf(f, "usage: chimectl check [FILE] [--no-db | --apply]\n\n"
	           "Check the configuration FILE (default " CHIME_DEFAULT_CONFIG ") and the\n"
	           "options of every job's plugin; print every problem, or \"configuration OK\".\n"
	           "Then connect to the database as chimed would and try, without changing\n"
	           "anything, what chimed needs: the password, the ledger's privileges, each\n"
	           "job's tables, columns and triggers; --no-db skips that. --apply first\n"
	           "installs what a job's first run would (the on_save triggers), so that\n"
	           "saves are checked before that run.\n");
}

int
chimectl_check_main(int argc, char **argv)
{
	struct chime_plugin_host *host = NULL;
	struct chime_config *config = NULL;
	struct chime_config_hooks hooks;
	struct chime_diag_list diags;
	const char *path = NULL;
	bool no_db = false, apply = false;
	int r;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			check_usage(stdout);
			return CHIMECTL_EXIT_OK;
		}
		if (strcmp(argv[i], "--no-db") == 0) {
			no_db = true;
			continue;
		}
		if (strcmp(argv[i], "--apply") == 0) {
			apply = true;
			continue;
		}
		if (strcmp(argv[i], "--") == 0 && i + 1 < argc && path == NULL && i + 2 == argc) {
			path = argv[++i];
			continue;
		}
		if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "chimectl check: unknown option '%s'\n", argv[i]);
			check_usage(stderr);
			return CHIMECTL_EXIT_USAGE;
		}
		if (path != NULL) {
			fprintf(stderr, "chimectl check: only one FILE may be given\n");
			check_usage(stderr);
			return CHIMECTL_EXIT_USAGE;
		}
		path = argv[i];
	}
	if (path == NULL)
		path = CHIME_DEFAULT_CONFIG;
	if (no_db && apply) {
		fprintf(stderr, "chimectl check: --apply needs the database; drop --no-db\n");
		check_usage(stderr);
		return CHIMECTL_EXIT_USAGE;
	}

	r = chime_plugin_host_new(chime_plugins_builtin, chime_plugins_builtin_count, &host);
	if (r < 0) {
		fprintf(stderr, "chimectl check: %s\n", strerror(-r));
		return CHIMECTL_EXIT_FAILURE;
	}
	chime_plugin_host_hooks(host, &hooks);
	chime_diag_list_init(&diags);
	r = chime_config_load(path, &hooks, &diags, &config);
	chime_diag_list_print(&diags, stderr);
	if (r < 0 && diags.errors == 0)
		fprintf(stderr, "%s: error: %s\n", path, strerror(-r));
	chime_diag_list_done(&diags);
	if (r == 0)
		r = chimectl_check_database(config, no_db, apply, stderr);
	if (r == 0)
		fprintf(stdout, "configuration OK\n");
	chime_config_unref(config);
	chime_plugin_host_free(host);
	return r == 0 ? CHIMECTL_EXIT_OK : CHIMECTL_EXIT_FAILURE;
}
