/* SPDX-License-Identifier: MIT */
/* The kit's face of the one clock (monoclock.h, lib/base/clock.h). */
#include "monoclock.h"

#include "clock.h"

int64_t
chime_kit_mono_usec(void)
{
	return chime_clock_mono_usec();
}
