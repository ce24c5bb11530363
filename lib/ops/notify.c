/* SPDX-License-Identifier: MIT */
/*
 * sd_notify wrappers (chime/notify.h). libsystemd does the socket work,
 * including abstract sockets and the absence of $NOTIFY_SOCKET.
 */
#include "notify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <systemd/sd-daemon.h>

#include "clock.h"
#include "mem.h"

int
chime_notify_ready(void)
{
	return sd_notify(0, "READY=1");
}

int
chime_notify_ready_status(const char *status)
{
	return sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

int
chime_notify_reloading(void)
{
	return sd_notifyf(0, "RELOADING=1\nSTATUS=reloading configuration\nMONOTONIC_USEC=%" PRId64,
	                  chime_clock_mono_usec());
}

int
chime_notify_stopping(void)
{
	return sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

int
chime_notify_status(const char *fmt, ...)
{
	char *text;
	va_list ap;
	int r;

	va_start(ap, fmt);
	text = chime_vformat(fmt, ap);
	va_end(ap);
	if (text == NULL)
		return -ENOMEM;
	r = sd_notifyf(0, "STATUS=%s", text);
	free(text);
	return r;
}

int
chime_notify_watchdog(void)
{
	return sd_notify(0, "WATCHDOG=1");
}

int64_t
chime_notify_watchdog_usec(void)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0)
		return 0;
	return usec > INT64_MAX ? INT64_MAX : (int64_t)usec;
}
