/* SPDX-License-Identifier: MIT */
/*
 * What the ledger holds for `chimectl audit JOB` over a range: every
 * attempt of the job's slots in it, the runs live during it (so an
 * overlap skip can name the run in its way), the pauses overlapping it
 * (who and why), and when the job's first kept row was. The SQL is
 * sql/audit.sql. Blocks on its connection (chimectl); never logs.
 */
#ifndef CHIME_LEDGER_AUDIT_H
#define CHIME_LEDGER_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "run-record.h"

struct chime_ledger_audit {
	struct chime_run_record *runs; /* oldest slot first, attempts in order */
	size_t n_runs;
	bool truncated;                    /* more than max_runs rows: the rest were not read */
	struct chime_pause_record *pauses; /* oldest first */
	size_t n_pauses;
	int64_t first_usec; /* the job's oldest kept row's slot; INT64_MIN: none */
};

/*
 * Read the job's rows for [from_usec, to_usec] (at most max_runs of them).
 * Returns 0 and fills *ret_audit (free with chime_ledger_audit_done()), or
 * a negative errno with the server's reason in `errbuf`; *ret_audit is
 * untouched on failure.
 */
int chime_ledger_audit_read(PGconn *conn, const char *job, int64_t from_usec, int64_t to_usec,
                            size_t max_runs, struct chime_ledger_audit *ret_audit, char *errbuf,
                            size_t errsize);
void chime_ledger_audit_done(struct chime_ledger_audit *audit);

#endif
