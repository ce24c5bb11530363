/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "run-status.h"

static const char *const status_names[] = {
        [CHIME_RUN_CLAIMED] = "claimed",     [CHIME_RUN_RUNNING] = "running",
        [CHIME_RUN_SUCCEEDED] = "succeeded", [CHIME_RUN_FAILED] = "failed",
        [CHIME_RUN_TIMED_OUT] = "timed_out", [CHIME_RUN_CANCELLED] = "cancelled",
        [CHIME_RUN_SKIPPED] = "skipped",     [CHIME_RUN_LOST] = "lost",
};

const char *
chime_run_status_name(enum chime_run_status status)
{
	if ((size_t)status >= sizeof(status_names) / sizeof(status_names[0]))
		return NULL;
	return status_names[status];
}

int
chime_run_status_parse(const char *text, enum chime_run_status *ret_status)
{
	for (size_t i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (text != NULL && strcmp(text, status_names[i]) == 0) {
			*ret_status = (enum chime_run_status)i;
			return 0;
		}
	return -EINVAL;
}
