/* SPDX-License-Identifier: MIT */
/*
 * chimectl subcommands. Each lives in daemon/chimectl-<name>.c and is
 * listed in the table in chimectl.c. A subcommand gets argv starting at its
 * own name and returns the process exit code: 0 success, 1 the work failed
 * or the input is invalid, 2 usage error.
 */
#ifndef CHIMECTL_H
#define CHIMECTL_H

#define CHIMECTL_EXIT_OK      0
#define CHIMECTL_EXIT_FAILURE 1
#define CHIMECTL_EXIT_USAGE   2

int chimectl_check_main(int argc, char **argv);
int chimectl_next_main(int argc, char **argv);
int chimectl_run_main(int argc, char **argv);
int chimectl_import_main(int argc, char **argv); /* import-crontab */
int chimectl_control_main(int argc,
                          char **argv); /* status list history trigger pause resume reload */

#endif
