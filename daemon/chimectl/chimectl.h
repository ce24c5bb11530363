/* SPDX-License-Identifier: MIT */
/*
 * chimectl subcommands. Each lives in daemon/chimectl-<name>.c and is
 * listed in the table in chimectl.c. A subcommand gets argv starting at its
 * own name and returns the process exit code: 0 success, 1 the work failed
 * or the input is invalid, 2 usage error.
 */
#ifndef CHIMECTL_H
#define CHIMECTL_H

#include <stdbool.h>
#include <stdio.h>

struct chime_config;

#define CHIMECTL_EXIT_OK      0
#define CHIMECTL_EXIT_FAILURE 1
#define CHIMECTL_EXIT_USAGE   2

int chimectl_check_main(int argc, char **argv);
int chimectl_next_main(int argc, char **argv);
int chimectl_run_main(int argc, char **argv);
int chimectl_import_main(int argc, char **argv); /* import-crontab */
int chimectl_audit_main(int argc, char **argv);  /* audit, why */
int chimectl_control_main(int argc,
                          char **argv); /* status list history trigger pause resume reload */

/*
 * The database part of `chimectl check` (chimectl-check-db.c) for a
 * configuration that loaded: jobs needing a database without a `database:`
 * section; unless `no_db`, the connection as chimed makes it, the ledger's
 * privileges and each plugin's check(), in transactions rolled back; with
 * `apply`, first each plugin's apply() (committed: the on_save triggers),
 * printing what it installed to stdout. Prints the diagnostics (and the note when the server cannot
 * be reached at all) to `err`. Returns 0, or -EINVAL when it printed an error.
 */
int chimectl_check_database(const struct chime_config *config, bool no_db, bool apply, FILE *err);

#endif
