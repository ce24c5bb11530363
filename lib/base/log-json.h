/* SPDX-License-Identifier: MIT */
/*
 * One log event as one JSON line (`chimed --log-format=json`), for log
 * shippers that want fields rather than text:
 *
 *   {"time":"2026-12-04T16:20:00.123Z","level":"info","message":"...",
 *    "job":"sync-emails","plugin":"exec","run_id":812,
 *    "scheduled_for":"2026-12-04T16:20:00Z","status":"succeeded",
 *    "message_id":"5b6f...","summary":{...}}
 *
 * Members that are not set are left out. Strings are valid JSON whatever
 * the bytes (control bytes escaped, invalid UTF-8 replaced by U+FFFD), so
 * a job printing binary cannot break the stream. Pure.
 */
#ifndef CHIME_LOG_JSON_H
#define CHIME_LOG_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"

/* "2026-12-04T16:20:00.120Z": a log line's time, UTC, always three
 * fraction digits so the lines of a file align. */
void chime__log_time(int64_t wall_usec, char *buf, size_t size);

/* A new string ending in "\n" (free()), or NULL on OOM. */
char *chime__log_json_line(int priority, const struct chime_log_run *run, const char *msg,
                           int64_t wall_usec);

#endif
