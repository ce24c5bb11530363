/* SPDX-License-Identifier: MIT */
/* billing, `action: status`: placeholder while the action is written. */
#include <errno.h>

#include "billing.h"

int
billing_status_run(const struct billing_state *state, struct chime_run *run)
{
	chime_run_fail(run, "action 'status' is not implemented yet");
	return -ENOSYS;
}
