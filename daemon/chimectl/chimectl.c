/* SPDX-License-Identifier: MIT */
/*
 * chimectl: the operator's command. Dispatches to one subcommand per file.
 */
#include "chimectl.h"

#include <stdio.h>
#include <string.h>

struct chimectl_command {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *usage;
};

static const struct chimectl_command commands[] = {
        {"check", chimectl_check_main, "check [FILE]"},
        {"next", chimectl_next_main,
         "next EXPR [-n N] [--tz ZONE] [--from TIME] [--days any|all] | next --job NAME [--config "
         "FILE]"},
        {"run", chimectl_run_main, "run JOB [--config FILE] [--dry-run] [--at TIME] [--json]"},
        {"import-crontab", chimectl_import_main, "import-crontab FILE [--user USER]"},
        {"status", chimectl_control_main, "status [--json] [--socket PATH]"},
        {"list", chimectl_control_main, "list [--json] [--socket PATH]"},
        {"history", chimectl_control_main, "history JOB [LIMIT] [--json] [--socket PATH]"},
        {"trigger", chimectl_control_main, "trigger JOB [--socket PATH]"},
        {"pause", chimectl_control_main, "pause JOB [--socket PATH]"},
        {"resume", chimectl_control_main, "resume JOB [--socket PATH]"},
        {"reload", chimectl_control_main, "reload [--socket PATH]"},
        /* Entries are added as each subcommand's file lands. */
        {NULL, NULL, NULL},
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: chimectl COMMAND [ARGS...]\n\ncommands:\n");
	for (const struct chimectl_command *c = commands; c->name != NULL; c++)
		fprintf(f, "  %s\n", c->usage);
	fprintf(f, "\n  --version, --help\n");
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return CHIMECTL_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return CHIMECTL_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("chimectl %s\n", CHIME_VERSION);
		return CHIMECTL_EXIT_OK;
	}
	for (const struct chimectl_command *c = commands; c->name != NULL; c++)
		if (strcmp(argv[1], c->name) == 0)
			return c->main(argc - 1, argv + 1);
	fprintf(stderr, "chimectl: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return CHIMECTL_EXIT_USAGE;
}
