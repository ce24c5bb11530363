/* SPDX-License-Identifier: MIT */
/*
 * chimectl audit JOB [--from T] [--to T] [--json] [--force] [--config FILE]
 * chimectl why JOB [--at T] [--json] [--config FILE]
 *
 * An account of every slot: the job's nominal slots in the range (from
 * its schedule in its zone, as chimed expands them, with the slots its
 * DST policy drops), each with its verdict from the ledger (every
 * attempt, the pauses, the runs in the way), read directly from the
 * database of --config FILE: chimed need not run. `why` explains the one
 * slot at or nearest before T. The planning is lib/ops/audit.c.
 *
 * Exit 0 when it printed the account, 1 when it could not (unknown job,
 * no database), 2 on usage (a bad time, from after to, a range over the
 * slot limit without --force).
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "audit.h"
#include "chimectl.h"
#include "clock.h"
#include "config.h"
#include "cron.h"
#include "db.h"
#include "diag.h"
#include "ledger-audit.h"
#include "ledger.h"
#include "timespan.h"
#include "tz.h"

#define AUDIT_DEFAULT_SPAN_USEC (INT64_C(24) * 3600 * 1000000)
#define AUDIT_FORCE_MAX_SLOTS   5000000 /* even --force stops here (memory) */
#define WHY_CONTEXT_USEC        (INT64_C(24) * 3600 * 1000000)

struct audit_args {
	bool why;
	const char *name; /* "audit" or "why", for messages */
	const char *job, *config, *from, *to, *at;
	bool json, force;
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: chimectl audit JOB [--from TIME] [--to TIME] [--json] [--force] "
	           "[--config FILE]\n"
	           "       chimectl why JOB [--at TIME] [--json] [--config FILE]\n"
	           "\n"
	           "TIME is RFC 3339 (2026-03-29T01:59:55+01:00) or a local time in the job's\n"
	           "zone ('2026-03-29 01:59'). audit: default the last 24 h up to now; why:\n"
	           "default now.\n");
}

static int
parse_args(int argc, char **argv, struct audit_args *a)
{
	static const struct option options[] = {
	        {"from", required_argument, NULL, 'f'}, {"to", required_argument, NULL, 't'},
	        {"at", required_argument, NULL, 'a'},   {"config", required_argument, NULL, 'c'},
	        {"json", no_argument, NULL, 'j'},       {"force", no_argument, NULL, 'F'},
	        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
	};
	int c;

	a->name = argv[0];
	a->why = strcmp(argv[0], "why") == 0;
	a->config = CHIME_DEFAULT_CONFIG;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:jh", options, NULL)) != -1) {
		switch (c) {
		case 'f':
		case 't':
		case 'F':
			if (a->why)
				goto bad;
			if (c == 'F')
				a->force = true;
			else
				*(c == 'f' ? &a->from : &a->to) = optarg;
			break;
		case 'a':
			if (!a->why)
				goto bad;
			a->at = optarg;
			break;
		case 'c':
			a->config = optarg;
			break;
		case 'j':
			a->json = true;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			goto bad;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "chimectl %s: needs one job name\n", a->name);
		goto bad;
	}
	a->job = argv[optind];
	return 0;
bad:
	usage(stderr);
	return -EINVAL;
}

/* TIME in the job's zone into *ret; says why on error. */
static int
parse_time(const struct audit_args *a, const char *option, const char *text,
           const struct chime_tz *tz, int64_t *ret)
{
	if (chime_time_parse(text, tz, ret) == 0)
		return 0;
	fprintf(stderr,
	        "chimectl %s: %s '%s': not a time (RFC 3339 such as 2026-03-29T01:59:55+01:00, "
	        "or 'YYYY-MM-DD HH:MM' in the job's zone %s)\n",
	        a->name, option, text, chime_tz_name(tz));
	return -EINVAL;
}

/* The slots of the range; -E2BIG and -EINVAL after saying why. */
static int
expand(const struct audit_args *a, const struct chime_job_config *job, int64_t from, int64_t to,
       struct chime_audit_slot **ret_slots, size_t *ret_n)
{
	struct chime_expr_options opts = job->expr_options;
	struct chime_expr *all = NULL;
	size_t max = a->force ? AUDIT_FORCE_MAX_SLOTS : CHIME_AUDIT_MAX_SLOTS;
	int r;

	/* The same schedule firing every wall time it matches: its extra
	 * slots are what the DST policy drops. */
	opts.gap = CHIME_DST_GAP_SHIFT;
	opts.overlap = CHIME_DST_OVERLAP_BOTH;
	if (chime_expr_kind(job->expr) != CHIME_EXPR_EVERY &&
	    chime_expr_parse(job->schedule, &opts, &all, NULL) < 0)
		all = NULL; /* it parsed once; only the DST drops are then not listed */
	r = chime_audit_expand(job->expr, all, job->tz, from, to, max, ret_slots, ret_n);
	chime_expr_free(all);
	if (r == -E2BIG)
		fprintf(stderr,
		        "chimectl %s: job '%s': the range holds more than %zu slots: narrow it%s\n",
		        a->name, job->name, max, a->force ? "" : ", or add --force");
	else if (r < 0)
		fprintf(stderr, "chimectl %s: %s\n", a->name, strerror(-r));
	return r;
}

/* The ledger's rows for [from, to] and the plan; 0, or -1 after saying why. */
static int
plan(const struct audit_args *a, const struct chime_config *cfg, const struct chime_job_config *job,
     const struct chime_audit_slot *slots, size_t n, int64_t from, int64_t to,
     struct chime_ledger_audit *rows, struct chime_audit *ret)
{
	static const char *const misfire[] = {"skip", "run-once", "run-all"};
	struct chime_audit_input in = {
	        .slots = slots,
	        .n_slots = n,
	        .from_usec = from,
	        .to_usec = to,
	        .now_usec = chime_clock_wall_usec(),
	        .history_usec = job->history_usec,
	        .misfire = (unsigned)job->misfire < 3 ? misfire[job->misfire] : "?",
	        .tz = job->tz,
	};
	PGconn *conn = NULL;
	char err[512];
	int r;

	r = chime_db_connect(&cfg->database, &conn, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "chimectl %s: cannot connect to the database: %s\n", a->name, err);
		return -1;
	}
	r = chime_ledger_migrate(conn, err, sizeof(err));
	if (r == 0)
		r = chime_ledger_audit_read(conn, job->name, from, to, 4 * n + 10000, rows, err,
		                            sizeof(err));
	PQfinish(conn);
	if (r < 0) {
		fprintf(stderr, "chimectl %s: ledger: %s\n", a->name, err);
		return -1;
	}
	in.runs = rows->runs;
	in.n_runs = rows->n_runs;
	in.pauses = rows->pauses;
	in.n_pauses = rows->n_pauses;
	in.first_row_usec = rows->first_usec;
	if (chime_audit_plan(&in, ret) < 0) {
		fprintf(stderr, "chimectl %s: out of memory\n", a->name);
		return -1;
	}
	return 0;
}

static void
print_json(json_t *o)
{
	char *text = o != NULL ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;

	if (text != NULL)
		printf("%s\n", text);
	else
		fprintf(stderr, "chimectl: out of memory\n");
	free(text);
	json_decref(o);
}

/* The range asked for: [from, to] for audit; for why, a day either side
 * of the slot at or before --at (so an outage it is part of shows). */
static int
audit_range(const struct audit_args *a, const struct chime_job_config *job, int64_t *ret_from,
            int64_t *ret_to, int64_t *ret_at)
{
	int64_t now = chime_clock_wall_usec();
	struct chime_slot s;

	*ret_to = now;
	if (a->why) {
		if (a->at != NULL && parse_time(a, "--at", a->at, job->tz, ret_to) < 0)
			return CHIMECTL_EXIT_USAGE;
		*ret_at = *ret_to;
		if (chime_expr_prev(job->expr, job->tz, *ret_to, &s) < 0)
			s.instant_usec = *ret_to;
		*ret_from =
		        (s.instant_usec < *ret_to ? s.instant_usec : *ret_to) - WHY_CONTEXT_USEC;
		*ret_to += WHY_CONTEXT_USEC;
		return 0;
	}
	if (a->to != NULL && parse_time(a, "--to", a->to, job->tz, ret_to) < 0)
		return CHIMECTL_EXIT_USAGE;
	*ret_from = *ret_to - AUDIT_DEFAULT_SPAN_USEC;
	if (a->from != NULL && parse_time(a, "--from", a->from, job->tz, ret_from) < 0)
		return CHIMECTL_EXIT_USAGE;
	if (*ret_from > *ret_to) {
		fprintf(stderr, "chimectl audit: --from %s is after --to %s\n",
		        a->from != NULL ? a->from : "(a day before --to)",
		        a->to != NULL ? a->to : "(now)");
		return CHIMECTL_EXIT_USAGE;
	}
	*ret_at = *ret_to;
	return 0;
}

/* `why --at` given as a local wall time that a DST gap skips ("02:30" on
 * the spring-forward night): its civil usec; else INT64_MIN. */
static int64_t
gap_wall_time(const struct audit_args *a, const struct chime_tz *tz)
{
	size_t n = a->at != NULL ? strlen(a->at) : 0;
	int64_t civil, utc[2], jump;

	if (n == 0 || a->at[n - 1] == 'Z' || a->at[n - 1] == 'z' ||
	    (n > 19 && (a->at[n - 6] == '+' || a->at[n - 6] == '-')))
		return INT64_MIN; /* an instant, not a wall time */
	if (chime_time_parse(a->at, NULL, &civil) < 0 ||
	    chime_tz_resolve(tz, civil / 1000000, utc, &jump, NULL) != 0)
		return INT64_MIN;
	return civil;
}

/* Print the audit, or the slot `why` asks about. */
static int
report(const struct audit_args *a, const struct chime_job_config *job,
       const struct chime_audit *plan, const struct chime_audit_report *rp, int64_t at,
       int64_t gap_local)
{
	size_t i = plan->n_entries;

	if (!a->why) {
		if (a->json)
			print_json(chime_audit_json(plan, rp));
		else
			chime_audit_print(stdout, plan, rp);
		return CHIMECTL_EXIT_OK;
	}
	/* The last slot at or before --at; a wall time in a DST gap asks for
	 * the gap's slots (all at the jump) up to that wall time. */
	while (i > 0 && (plan->entries[i - 1].slot.slot.instant_usec > at ||
	                 (gap_local != INT64_MIN &&
	                  (plan->entries[i - 1].slot.dropped != CHIME_AUDIT_SKIP_DST_GAP ||
	                   plan->entries[i - 1].slot.slot.local_usec > gap_local))))
		i--;
	if (i == 0 && gap_local != INT64_MIN)
		return report(a, job, plan, rp, at, INT64_MIN);
	if (i == 0) {
		fprintf(stderr, "chimectl why: job '%s' has no slot at or before that time\n",
		        job->name);
		return CHIMECTL_EXIT_FAILURE;
	}
	if (a->json)
		print_json(chime_audit_json_why(plan, i - 1, at, rp));
	else
		chime_audit_print_why(stdout, plan, i - 1, at, rp);
	return CHIMECTL_EXIT_OK;
}

int
chimectl_audit_main(int argc, char **argv)
{
	struct audit_args a = {0};
	struct chime_config *cfg = NULL;
	const struct chime_job_config *job;
	struct chime_diag_list diags;
	struct chime_audit_slot *slots = NULL;
	struct chime_ledger_audit rows = {.first_usec = INT64_MIN};
	struct chime_audit result = {0};
	size_t n = 0;
	int64_t from, to, at;
	int r, ret = CHIMECTL_EXIT_FAILURE;

	r = parse_args(argc, argv, &a);
	if (r != 0)
		return r > 0 ? CHIMECTL_EXIT_OK : CHIMECTL_EXIT_USAGE;
	chime_diag_list_init(&diags);
	r = chime_config_load(a.config, NULL, &diags, &cfg);
	chime_diag_list_print(&diags, stderr);
	chime_diag_list_done(&diags);
	if (r < 0)
		return CHIMECTL_EXIT_FAILURE;
	job = chime_config_find_job(cfg, a.job);
	if (job == NULL) {
		fprintf(stderr, "chimectl %s: no job '%s' in '%s'\n", a.name, a.job, a.config);
		goto out;
	}
	if (job->expr == NULL || chime_expr_kind(job->expr) == CHIME_EXPR_REBOOT) {
		fprintf(stderr, "chimectl %s: job '%s' has no slots (schedule '%s')\n", a.name,
		        job->name, job->schedule);
		goto out;
	}
	r = audit_range(&a, job, &from, &to, &at);
	if (r != 0) {
		ret = r;
		goto out;
	}
	r = expand(&a, job, from, to, &slots, &n);
	if (r < 0) {
		ret = r == -E2BIG ? CHIMECTL_EXIT_USAGE : CHIMECTL_EXIT_FAILURE;
		goto out;
	}
	if (plan(&a, cfg, job, slots, n, from, to, &rows, &result) < 0)
		goto out;
	ret = report(&a, job, &result,
	             &(struct chime_audit_report){.job = job->name,
	                                          .schedule = job->schedule,
	                                          .tz = job->tz,
	                                          .from_usec = from,
	                                          .to_usec = to,
	                                          .truncated = rows.truncated},
	             at, gap_wall_time(&a, job->tz));
out:
	chime_audit_done(&result);
	chime_ledger_audit_done(&rows);
	free(slots);
	chime_config_unref(cfg);
	return ret;
}
