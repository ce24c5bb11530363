/* SPDX-License-Identifier: MIT */
/* The kit's face of the one ${VAR} expander (env.h, lib/base/expand.h). */
#include "env.h"

#include "expand.h"

int
chime_kit_expand_env(const char *in, char **ret_out, char *errbuf, size_t errsize)
{
	return chime_expand_env(in, NULL, NULL, ret_out, errbuf, errsize);
}
