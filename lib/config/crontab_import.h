/* SPDX-License-Identifier: MIT */
/*
 * crontab(5) -> chime.yaml: the converter behind `chimectl import-crontab`.
 * Pure: no globals, never logs; it reads text and writes YAML text.
 *
 * What each crontab line becomes:
 *   # comment          a YAML comment above the next job
 *   NAME=VALUE         `env:` of every following job (quotes stripped, no
 *                      expansion, as cron does); SHELL also picks the shell
 *                      of the following shell commands
 *   CRON_TZ=ZONE       `timezone:` of every following job
 *   MAILTO=, MAILFROM= ignored, with a YAML comment saying why
 *   m h dom mon dow C  an `exec` job; `@reboot`, `@daily`, ... likewise
 *                      (`@annually` and `@midnight` spelled `@yearly` and
 *                      `@daily`)
 * A command that uses shell syntax (&&, redirections, quotes, $VAR, globs,
 * a builtin such as cd) stays one string with `shell: true`; any other is
 * split into an argv list. An unescaped `%` ends the command: cron fed the
 * rest to its stdin, which chime does not do, so such a job is written with
 * `enabled: false` and the stdin text in a comment. Job names come from the
 * command (`manage.py sync_emails` -> sync-emails) and are made unique.
 */
#ifndef CHIME_CRONTAB_IMPORT_H
#define CHIME_CRONTAB_IMPORT_H

#include <stddef.h>
#include <stdio.h>

#include "diag.h"

struct chime_crontab_import_options {
	const char *file; /* name in diagnostics and in the header comment; may be NULL */
	const char *user; /* `options.user` of every job, or NULL */
};

/*
 * Convert the NUL-terminated crontab `text` and write a YAML document whose
 * only key is `jobs:` to `out`. Lines that do not parse are errors in
 * `diags` ("FILE:LINE:COL: error: ..."), and are left out; notes about
 * changed behaviour (stdin, MAILTO) are warnings. *ret_jobs is the number
 * of jobs written. Returns 0, or -ENOMEM (nothing written). Never logs.
 */
int chime_crontab_import(const char *text, const struct chime_crontab_import_options *options,
                         struct chime_diag_list *diags, FILE *out, size_t *ret_jobs);

#endif
