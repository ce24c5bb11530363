/* SPDX-License-Identifier: MIT */
/*
 * chimectl check [FILE]: load the configuration as chimed would, plugins
 * included, and print every diagnostic (exit 1) or the warnings and
 * "configuration OK" (exit 0). The work is chime_config_check_file(),
 * shared with `chimed --check`.
 */
#include <stdio.h>
#include <string.h>

#include "chime/config.h"
#include "chime/plugin_host.h"

#include "chimectl.h"

#define CHECK_DEFAULT_CONFIG "/etc/chime/chime.yaml"

static void
check_usage(FILE *f)
{
	fprintf(f,
	        "usage: chimectl check [FILE]\n\n"
	        "Check the configuration FILE (default " CHECK_DEFAULT_CONFIG ") and the\n"
	        "options of every job's plugin; print every problem, or \"configuration OK\".\n");
}

int
chimectl_check_main(int argc, char **argv)
{
	struct chime_plugin_host *host = NULL;
	struct chime_config_hooks hooks;
	const char *path = NULL;
	int r;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			check_usage(stdout);
			return CHIMECTL_EXIT_OK;
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
		path = CHECK_DEFAULT_CONFIG;

	r = chime_plugin_host_new(&host);
	if (r < 0) {
		fprintf(stderr, "chimectl check: %s\n", strerror(-r));
		return CHIMECTL_EXIT_FAILURE;
	}
	chime_plugin_host_hooks(host, &hooks);
	r = chime_config_check_file(path, &hooks, stdout, stderr);
	chime_plugin_host_free(host);
	return r == 0 ? CHIMECTL_EXIT_OK : CHIMECTL_EXIT_FAILURE;
}
