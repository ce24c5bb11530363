/* SPDX-License-Identifier: MIT */
/*
 * ${VAR} in plugin options (secret files: billing's token_file), by the
 * same rules as the daemon's own config (chime.yaml(5), ENVIRONMENT): a
 * plugin cannot include the base layer's headers, so the kit hands it the
 * one expander of lib/base, compiled once and linked into the kit. Pure
 * apart from reading the environment; never logs.
 */
#ifndef CHIME_KIT_ENV_H
#define CHIME_KIT_ENV_H

#include <stddef.h>

/*
 * Expand every ${NAME} of `in` from the environment. Returns 0 and a new
 * string in *ret_out (free() it), or -EINVAL (syntax), -ENOENT (unset
 * variable: "environment variable 'NAME' is not set"), -ENOMEM, with the
 * reason in `errbuf`; *ret_out is not touched on failure.
 */
int chime_kit_expand_env(const char *in, char **ret_out, char *errbuf, size_t errsize);

#endif
