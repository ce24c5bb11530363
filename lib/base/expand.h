/* SPDX-License-Identifier: MIT */
/*
 * The one ${VAR} expander: config paths (database.password_file) and the
 * plugins' secret paths (through the kit's chime_kit_expand_env()) follow
 * the same rules, documented in chime.yaml(5):
 *
 *   ${NAME}   replaced by the variable's value; NAME is a letter or '_'
 *             then letters, digits and '_' (at most 255 bytes);
 *   $         not followed by '{' is kept as it is ("$HOME", "a$b", "$$");
 *   an unset variable is an error that names it; a variable set to the
 *   empty string expands to nothing; a value is never expanded again.
 *
 * Pure and thread-safe as long as `lookup` is; never logs.
 */
#ifndef CHIME_EXPAND_H
#define CHIME_EXPAND_H

#include <stddef.h>

/* The value of variable `name`, or NULL when it is unset; borrowed. */
typedef const char *(*chime_expand_lookup_fn)(const char *name, void *userdata);

/*
 * Expand every ${NAME} of `in` through `lookup` (NULL: the process
 * environment, getenv()). Returns 0 and a new string in *ret_out (free()
 * it), or a negative errno with the reason in `errbuf` (which may be NULL):
 *   -EINVAL  a '${' without '}' ("unterminated '${' in 'IN'"), or a bad
 *            name ("invalid variable name 'NAME' in 'IN'");
 *   -ENOENT  an unset variable ("environment variable 'NAME' is not set");
 *   -ENOMEM  out of memory.
 * *ret_out is not touched on failure.
 */
int chime_expand_env(const char *in, chime_expand_lookup_fn lookup, void *userdata, char **ret_out,
                     char *errbuf, size_t errsize);

#endif
