/* SPDX-License-Identifier: MIT */
/*
 * A run and a pause as the ledger recorded them, in plain C: the ledger
 * reads them (lib/ledger/ledger-audit.c) and `chimectl audit` judges them
 * (lib/ops/audit.c), two layers that do not see each other's headers.
 * Times are UTC usec; INT64_MIN stands for SQL NULL. Data only.
 */
#ifndef CHIME_RUN_RECORD_H
#define CHIME_RUN_RECORD_H

#include <stdbool.h>
#include <stdint.h>

#include "run-status.h"

/* One row of chime.runs: one attempt of one slot. Strings are owned by
 * whoever filled the record (chime_ledger_audit_done() frees them). */
struct chime_run_record {
	int64_t id;
	int64_t local_usec; /* slot_local, civil usec (tz.h) */
	int occurrence;     /* slot_occurrence */
	int64_t scheduled_usec;
	int attempt;
	char *node;
	enum chime_run_status status;
	bool manual;
	int64_t claimed_usec;
	int64_t started_usec;  /* INT64_MIN: never started */
	int64_t finished_usec; /* INT64_MIN: not finished */
	char *error;           /* NULL: none */
};

/* One pause of a job (chime.pause_log). */
struct chime_pause_record {
	int64_t paused_usec;
	int64_t resumed_usec; /* INT64_MAX: still paused */
	char *by;             /* NULL: not recorded */
	char *note;           /* NULL: none given */
	char *node;
};

#endif
