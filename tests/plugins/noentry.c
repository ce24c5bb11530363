/* SPDX-License-Identifier: MIT */
/*
 * A shared object without chime_plugin_entry(): not a chime plugin.
 */
#include "chime/plugin.h"

CHIME_EXPORT int chime_not_a_plugin(void);

CHIME_EXPORT int
chime_not_a_plugin(void)
{
	return 1;
}
