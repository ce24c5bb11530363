/* SPDX-License-Identifier: MIT */
/*
 * chimectl: the operator's command. Dispatches to one subcommand per file.
 */
#include "chimectl.h"

#include <stdio.h>
#include <string.h>

#include "control.h"

struct chimectl_command {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *usage;
	const char *what; /* one line for --help */
};

static const struct chimectl_command commands[] = {
        {"check", chimectl_check_main, "check [FILE] [--no-db]",
         "check the configuration, the database and each plugin's tables"},
        {"next", chimectl_next_main,
         "next EXPR [-n N] [--tz ZONE] [--from TIME] [--days any|all] | next --job NAME [--config "
         "FILE]",
         "the next fires of an expression or a configured job"},
        {"run", chimectl_run_main, "run JOB [--config FILE] [--dry-run] [--at TIME] [--json]",
         "run one slot of a job now, recorded in the ledger, and print its report"},
        {"import-crontab", chimectl_import_main, "import-crontab FILE [--user USER]",
         "convert a crontab into exec jobs (YAML on stdout)"},
        {"status", chimectl_control_main, "status [--json] [--socket PATH | --config FILE]",
         "the daemon: state, database, runs, and the next fires"},
        {"list", chimectl_control_main, "list [--json] [--socket PATH | --config FILE]",
         "every job: next fire, time left, last run, time passed, status"},
        {"history", chimectl_control_main,
         "history JOB [LIMIT] [--items] [--json] [--socket PATH | --config FILE]",
         "a job's recorded runs with what each did (its report)"},
        {"audit", chimectl_audit_main,
         "audit JOB [--from TIME] [--to TIME] [--json] [--force] [--config FILE]",
         "every slot of a job in a range with its verdict and why (from the ledger)"},
        {"why", chimectl_audit_main, "why JOB [--at TIME] [--json] [--config FILE]",
         "explain one slot of a job: what was scheduled, what happened, why"},
        {"trigger", chimectl_control_main, "trigger JOB [--socket PATH | --config FILE]",
         "ask the daemon to run a job now (recorded manual)"},
        {"pause", chimectl_control_main,
         "pause JOB [--note TEXT] [--by WHO] [--socket PATH | --config FILE]",
         "skip a job's slots on every node until resumed (kept in the ledger)"},
        {"resume", chimectl_control_main, "resume JOB [--socket PATH | --config FILE]",
         "undo pause"},
        {"reload", chimectl_control_main, "reload [--socket PATH | --config FILE]",
         "reload the configuration and wait for the verdict (ExecReload=)"},
        {NULL, NULL, NULL, NULL},
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: chimectl COMMAND [ARGS...]\n\ncommands:\n");
	for (const struct chimectl_command *c = commands; c->name != NULL; c++)
		fprintf(f, "  %-15s %s\n", c->name, c->what);
	fprintf(f, "\nusage of each:\n");
	for (const struct chimectl_command *c = commands; c->name != NULL; c++)
		fprintf(f, "    chimectl %s\n", c->usage);
	fprintf(f, "\nThe daemon's socket: --socket PATH, else $CHIME_SOCKET, else control_socket\n"
	           "of --config FILE (or of " CHIME_DEFAULT_CONFIG
	           "), else " CHIME_CONTROL_DEFAULT_SOCKET ".\n"
	           "\n  --version, --help\n");
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
