/* SPDX-License-Identifier: MIT */
/*
 * sd_notify(3) for a Type=notify service: READY, RELOADING (with
 * MONOTONIC_USEC, as systemd 253's Type=notify-reload expects), STOPPING,
 * STATUS and WATCHDOG. Each call sends one datagram to $NOTIFY_SOCKET and
 * does nothing when it is unset. Returns what sd_notify() returns: > 0
 * sent, 0 no socket, negative errno on failure. Never logs.
 */
#ifndef CHIME_NOTIFY_H
#define CHIME_NOTIFY_H

#include <stdint.h>

#include "macro.h"

int chime_notify_ready(void);
/* "READY=1" and "STATUS=<status>" in one datagram. */
int chime_notify_ready_status(const char *status);
/* "RELOADING=1", "STATUS=reloading configuration" and
 * "MONOTONIC_USEC=<CLOCK_MONOTONIC now>". */
int chime_notify_reloading(void);
int chime_notify_stopping(void);
int chime_notify_status(const char *fmt, ...) CHIME_PRINTF(1, 2);
int chime_notify_watchdog(void);
/* The watchdog interval systemd expects pings within ($WATCHDOG_USEC for
 * this process), or 0 when the watchdog is off. Ping at half of it. */
int64_t chime_notify_watchdog_usec(void);

#endif
