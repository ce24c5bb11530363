/* SPDX-License-Identifier: MIT */
/* libpq helpers shared by the ledger and the plugins (pgutil.h). */
#include "pgutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"

/* A timestamptz literal PostgreSQL accepts: the one formatter, clock.h. */
int
chime__sql_format_timestamptz(int64_t utc_usec, char *buf, size_t size)
{
	return chime_clock_format_utc(utc_usec, buf, size);
}

static void
copy_first_line(char *buf, size_t size, const char *msg)
{
	if (buf != NULL && size > 0)
		snprintf(buf, size, "%.*s", (int)strcspn(msg, "\n"), msg);
}

int
chime__sql_result_errno(PGconn *conn, const PGresult *res, char *errbuf, size_t errsize)
{
	const char *state;
	ExecStatusType st;

	if (res == NULL) {
		copy_first_line(errbuf, errsize, conn != NULL ? PQerrorMessage(conn) : "no result");
		return conn != NULL && PQstatus(conn) == CONNECTION_BAD ? -ENOTCONN : -ENOMEM;
	}
	st = PQresultStatus(res);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_SINGLE_TUPLE)
		return 0;
	copy_first_line(errbuf, errsize, PQresultErrorMessage(res));
	if (conn != NULL && PQstatus(conn) == CONNECTION_BAD)
		return -ENOTCONN;
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (state == NULL)
		return -EIO;
	if (strcmp(state, "57014") == 0)
		return -ECANCELED;
	if (strcmp(state, "23505") == 0)
		return -EEXIST;
	if (strcmp(state, "42501") == 0)
		return -EACCES;
	if (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0)
		return -ENOTCONN;
	return -EIO;
}
