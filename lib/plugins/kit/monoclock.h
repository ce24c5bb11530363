/* SPDX-License-Identifier: MIT */
/*
 * The monotonic clock for plugins (deadlines, timeouts): a plugin cannot
 * include the base layer's headers, so the kit hands it the one clock of
 * lib/base (clock.h). Thread-safe; never logs.
 */
#ifndef CHIME_KIT_MONOCLOCK_H
#define CHIME_KIT_MONOCLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in microseconds (chime_clock_mono_usec()). */
int64_t chime_kit_mono_usec(void);

#endif
