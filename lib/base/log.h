/* SPDX-License-Identifier: MIT */
/*
 * Logging for the daemon and stateful services. Three targets, chosen at
 * chime_log_open(): native journald fields when stderr is the journal
 * ($JOURNAL_STREAM matches fstat(2) of stderr), "<N>" priority-prefixed
 * lines on stderr under systemd otherwise, plain lines on a terminal.
 * Pure modules never call this.
 *
 * Lines read "what failed: why" with user values in single quotes; run
 * lines carry CHIME_JOB, CHIME_RUN_ID, CHIME_PLUGIN, CHIME_SCHEDULED_FOR,
 * CHIME_STATUS and a stable MESSAGE_ID so `journalctl CHIME_JOB=x` works.
 */
#ifndef CHIME_LOG_H
#define CHIME_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

#define CHIME_LOG_ERR     3
#define CHIME_LOG_WARNING 4
#define CHIME_LOG_NOTICE  5
#define CHIME_LOG_INFO    6
#define CHIME_LOG_DEBUG   7

/* Stable MESSAGE_IDs (sd-id128) for run events. */
#define CHIME_MESSAGE_RUN_STARTED  "5b6f1c9e2d8a4f07a3c1e6b2d4f8a901"
#define CHIME_MESSAGE_RUN_FINISHED "5b6f1c9e2d8a4f07a3c1e6b2d4f8a902"
#define CHIME_MESSAGE_RUN_FAILED   "5b6f1c9e2d8a4f07a3c1e6b2d4f8a903"
#define CHIME_MESSAGE_RUN_SKIPPED  "5b6f1c9e2d8a4f07a3c1e6b2d4f8a904"
#define CHIME_MESSAGE_RELOAD       "5b6f1c9e2d8a4f07a3c1e6b2d4f8a905"

/* Fields attached to a run's log lines; any member may be NULL/0. */
struct chime_log_run {
	const char *job;
	const char *plugin;
	int64_t run_id;
	int64_t scheduled_for_usec; /* 0: none */
	const char *status;         /* "succeeded", "failed", ... */
	const char *message_id;
	const char *summary; /* CHIME_SUMMARY=: the run's report JSON; journal only */
};

/* Choose the target from the environment; `max_priority` filters
 * (CHIME_LOG_INFO by default). Not thread-safe; call once at start. */
void chime_log_open(int max_priority);

/* `--log-format`: auto (the target above), text (lines, never the native
 * journal protocol) or json (one JSON object per line on stderr, see
 * log-json.h). */
enum chime_log_format {
	CHIME_LOG_FORMAT_AUTO,
	CHIME_LOG_FORMAT_TEXT,
	CHIME_LOG_FORMAT_JSON,
};
int chime_log_format_parse(const char *text, enum chime_log_format *ret_format);
/* After chime_log_open(). `timestamps`: plain lines (a terminal, a file:
 * no journal to stamp them) start with the UTC time to the millisecond. */
void chime_log_set_format(enum chime_log_format format, bool timestamps);
void chime_log_set_level(int max_priority);
/* Parse "err|error|warning|notice|info|debug" (or 3..7); -EINVAL. */
int chime_log_level_parse(const char *text, int *ret_priority);

/* Thread-safe. */
void chime_log(int priority, const char *fmt, ...) CHIME_PRINTF(2, 3);
void chime_logv(int priority, const char *fmt, va_list ap) CHIME_PRINTF(2, 0);
/* A line about a run: prefixed "job 'NAME' (PLUGIN): " and carrying the
 * run's journal fields. */
void chime_log_run(int priority, const struct chime_log_run *run, const char *fmt, ...)
        CHIME_PRINTF(3, 4);
void chime_log_runv(int priority, const struct chime_log_run *run, const char *fmt, va_list ap)
        CHIME_PRINTF(3, 0);

#define chime_log_error(...)   chime_log(CHIME_LOG_ERR, __VA_ARGS__)
#define chime_log_warning(...) chime_log(CHIME_LOG_WARNING, __VA_ARGS__)
#define chime_log_notice(...)  chime_log(CHIME_LOG_NOTICE, __VA_ARGS__)
#define chime_log_info(...)    chime_log(CHIME_LOG_INFO, __VA_ARGS__)
#define chime_log_debug(...)   chime_log(CHIME_LOG_DEBUG, __VA_ARGS__)

#endif
