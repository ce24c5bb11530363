/* SPDX-License-Identifier: MIT */
/*
 * The status of a run, as the ledger records it. An enum everywhere in C;
 * text ("claimed", "running", ...) only at the SQL and JSON boundaries,
 * through chime_run_status_name() and chime_run_status_parse().
 */
#ifndef CHIME_RUN_STATUS_H
#define CHIME_RUN_STATUS_H

enum chime_run_status {
	CHIME_RUN_CLAIMED,
	CHIME_RUN_RUNNING,
	CHIME_RUN_SUCCEEDED,
	CHIME_RUN_FAILED,
	CHIME_RUN_TIMED_OUT,
	CHIME_RUN_CANCELLED,
	CHIME_RUN_SKIPPED,
	CHIME_RUN_LOST,
};

/* "claimed", "running", ...; NULL for an unknown value. */
const char *chime_run_status_name(enum chime_run_status status);
int chime_run_status_parse(const char *text, enum chime_run_status *ret_status);

#endif
