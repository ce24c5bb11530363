/* SPDX-License-Identifier: MIT */
/*
 * Ledgered runs per second, end to end through the ledger with the noop
 * plugin: claim (INSERT ... ON CONFLICT DO NOTHING RETURNING, straight to
 * running), the plugin's run() with a run context, the report as JSON,
 * and the outcome recorded (UPDATE). Each thread has its own connection,
 * as the daemon's workers do. Also prints resident memory.
 *
 *   bench_ledger [-n RUNS_PER_THREAD] [-t THREADS] [CONNINFO]
 *
 * CONNINFO defaults to libpq's environment (PGHOST, PGPORT, ...). The rows
 * it writes (job "bench-PID-N") are deleted at the end.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "config.h"
#include "db.h"
#include "ledger.h"
#include "plugin_host.h"
#include "builtin.h"
#include "run.h"

struct worker {
	pthread_t thread;
	int index;
	int runs;
	struct chime_database_config db;
	const struct chime_plugin *plugin;
	void *state;
	int failed;
	char error[512];
};

static int64_t
now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long
rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "re");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static void *
worker_main(void *userdata)
{
	struct worker *w = userdata;
	char job[64];
	PGconn *conn = NULL;
	int64_t base = INT64_C(1767225600) * 1000000; /* 2026-01-01T00:00:00Z */

	snprintf(job, sizeof(job), "bench-%d-%d", (int)getpid(), w->index);
	if (chime_db_connect(&w->db, &conn, w->error, sizeof(w->error)) < 0) {
		w->failed = w->runs;
		return NULL;
	}
	for (int i = 0; i < w->runs; i++) {
		struct chime_ledger_slot slot = {
		        .job = job,
		        .local_usec = base + (int64_t)i * 1000000,
		        .instant_usec = base + (int64_t)i * 1000000,
		        .previous_usec = i > 0 ? base + (int64_t)(i - 1) * 1000000 : INT64_MIN,
		};
		struct chime_ledger_claim claim = {
		        .slot = &slot,
		        .attempt = 1,
		        .node = "bench",
		        .lease_usec = INT64_C(60) * 1000000,
		        .start = true,
		};
		struct chime_run *run;
		char *summary;
		int64_t id;
		int r;

		if (chime_ledger_claim(conn, &claim, &id, NULL, w->error, sizeof(w->error)) < 0) {
			w->failed++;
			continue;
		}
		run = chime_run_new(&(struct chime_run_params){
		        .job = job,
		        .plugin = "noop",
		        .nominal_usec = slot.instant_usec,
		        .previous_usec = slot.previous_usec,
		        .run_id = id,
		        .attempt = 1,
		        .conn = conn,
		});
		r = w->plugin->run(w->state, run);
		summary = chime_run_report_json(run);
		if (chime_ledger_finish(conn, id, r == 0 ? CHIME_RUN_SUCCEEDED : CHIME_RUN_FAILED,
		                        summary, chime_run_error(run), w->error,
		                        sizeof(w->error)) < 0)
			w->failed++;
		free(summary);
		chime_run_free(run);
	}
	PQclear(PQexecParams(conn, "DELETE FROM chime.runs WHERE job = $1", 1, NULL,
	                     (const char *const[]){job}, NULL, NULL, 0));
	PQfinish(conn);
	return NULL;
}

int
main(int argc, char **argv)
{
	static char empty[] = "";
	struct chime_database_config db = {.conninfo = empty, .pool = 1};
	const struct chime_plugin *noop;
	struct worker *workers;
	int runs = 5000, threads = 1, opt, failed = 0;
	int64_t t0, t1;
	long rss0, rss1;
	char err[512];
	PGconn *conn;
	void *state = NULL;

	while ((opt = getopt(argc, argv, "n:t:")) != -1) {
		if (opt == 'n')
			runs = atoi(optarg);
		else if (opt == 't')
			threads = atoi(optarg);
		else {
			fprintf(stderr, "usage: bench_ledger [-n RUNS] [-t THREADS] [CONNINFO]\n");
			return 2;
		}
	}
	if (optind < argc)
		db.conninfo = argv[optind];
	if (runs < 1 || threads < 1 || threads > 64)
		return 2;

	noop = chime_plugins_find("noop");
	if (noop == NULL || noop->configure(NULL, NULL, &state) < 0) {
		fprintf(stderr, "bench_ledger: no noop plugin\n");
		return 1;
	}
	if (chime_db_connect(&db, &conn, err, sizeof(err)) < 0 ||
	    chime_ledger_migrate(conn, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_ledger: %s\n", err);
		return 1;
	}
	PQfinish(conn);

	rss0 = rss_kib();
	workers = calloc((size_t)threads, sizeof(*workers));
	if (workers == NULL)
		return 1;
	t0 = now_usec();
	for (int i = 0; i < threads; i++) {
		workers[i] = (struct worker){
		        .index = i, .runs = runs, .db = db, .plugin = noop, .state = state};
		pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(workers[i].thread, NULL);
		failed += workers[i].failed;
		if (workers[i].failed > 0)
			fprintf(stderr, "bench_ledger: thread %d: %s\n", i, workers[i].error);
	}
	t1 = now_usec();
	rss1 = rss_kib();
	printf("ledgered runs (claim + noop run + record): %d threads x %d runs\n", threads, runs);
	printf("  total %.3f s, %.0f runs/s, %.1f us/run per thread, %d failed\n",
	       (double)(t1 - t0) / 1e6, (double)threads * runs * 1e6 / (double)(t1 - t0),
	       (double)(t1 - t0) / runs, failed);
	printf("  resident memory: %ld KiB before, %ld KiB after\n", rss0, rss1);
	noop->release(state);
	free(workers);
	return failed > 0 ? 1 : 0;
}
