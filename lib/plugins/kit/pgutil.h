/* SPDX-License-Identifier: MIT */
/*
 * libpq helpers of the kit that need no run context, so that the ledger
 * and the plugins share them: the SQLSTATE-to-errno map and the
 * timestamptz literal. Pure, thread-safe, never log.
 */
#ifndef CHIME_KIT_PGUTIL_H
#define CHIME_KIT_PGUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

/* `utc_usec` as a timestamptz literal PostgreSQL accepts (RFC 3339 UTC,
 * fraction only when not zero). Returns the length, or -ENOBUFS. */
int chime__sql_format_timestamptz(int64_t utc_usec, char *buf, size_t size);

/*
 * Map a failed result to an errno and copy its message (first line,
 * without the trailing newline) to errbuf: -ENOTCONN when the connection
 * is gone, -ECANCELED for SQLSTATE 57014 (statement timeout, cancel),
 * -EEXIST for 23505 (unique violation), -EACCES for 42501, -EIO otherwise.
 * `res` may be NULL (PQexec returned NULL). Returns 0 for a successful
 * result.
 */
int chime__sql_result_errno(PGconn *conn, const PGresult *res, char *errbuf, size_t errsize);

#endif
