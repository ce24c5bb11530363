/* SPDX-License-Identifier: MIT */
/*
 * Read-only queries of the ledger for chimectl and the control socket,
 * as jansson JSON. Every function blocks on its connection (worker
 * threads, chimectl) and never logs.
 */
#ifndef CHIME_LEDGER_QUERIES_H
#define CHIME_LEDGER_QUERIES_H

#include <jansson.h>
#include <stdint.h>

#include <libpq-fe.h>

/* `utc_usec` as an RFC 3339 UTC JSON string (clock.h); JSON null for
 * INT64_MIN or a value out of range. A new reference. */
json_t *chime_ledger_json_time(int64_t utc_usec);

/*
 * The job's latest `limit` rows of chime.runs, newest first, as a new JSON
 * array of objects: id, scheduled_for, attempt, node, status, manual,
 * claimed_at, started_at, finished_at (RFC 3339 UTC or null),
 * duration_seconds (or null) and error (or null). Blocks. Returns 0 and
 * *ret_runs, or a negative errno with the server's reason in `errbuf`.
 */
int chime_ledger_query_history(PGconn *conn, const char *job, int limit, json_t **ret_runs,
                                char *errbuf, size_t errsize);

/*
 * What the ledger says of every job with a row or a pause: a new JSON
 * object keyed by job name, each {"last_status", "last_finished_at",
 * "last_success_at", "paused", "paused_at", "paused_by", "pause_note"}
 * (times as the server's epoch seconds, a number, or null; who and why
 * a string or null). Blocks; 0 or a negative errno with the reason in
 * `errbuf`.
 */
int chime_ledger_query_jobs(PGconn *conn, json_t **ret_jobs, char *errbuf, size_t errsize);

#endif
