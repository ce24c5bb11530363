/* SPDX-License-Identifier: MIT */
/*
 * The metrics registry (chime/metrics.h): per-job run counters and
 * duration/lateness histograms fed by the loop, a snapshot of gauges the
 * loop publishes, and the Prometheus text format read by the HTTP thread,
 * all under one mutex. Never logs.
 */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"

/* The outcomes counted, in the order they are written. */
static const enum chime_run_status statuses[] = {CHIME_RUN_SUCCEEDED, CHIME_RUN_FAILED,
                                                 CHIME_RUN_TIMED_OUT, CHIME_RUN_CANCELLED,
                                                 CHIME_RUN_SKIPPED};
#define N_STATUSES (sizeof(statuses) / sizeof(statuses[0]))

/* Upper bounds in seconds: runs last from milliseconds to hours; a wake
 * is late by well under a millisecond when all is well. */
static const double duration_le[] = {0.005, 0.01, 0.05, 0.1, 0.5,  1,   5,
                                     10,    30,   60,   300, 1800, 3600};
static const double lateness_le[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 60, 300};
#define N_DURATION (sizeof(duration_le) / sizeof(duration_le[0]))
#define N_LATENESS (sizeof(lateness_le) / sizeof(lateness_le[0]))

struct histogram {
	uint64_t buckets[16]; /* cumulative is computed when formatting */
	uint64_t count;
	double sum;
};

struct metrics_job {
	char *name;
	uint64_t runs[N_STATUSES];
	struct histogram duration, lateness;
	/* Published by the loop; `current` false once the job left the config. */
	bool current, expect_set, expect_violated;
	int64_t last_success_usec;
};

struct chime_metrics {
	pthread_mutex_t lock;
	char *version;
	struct metrics_job *jobs;
	size_t n_jobs, allocated_jobs;
	struct chime_metrics_state state;
	bool published;
};

int
chime_metrics_new(const char *version, struct chime_metrics **ret_metrics)
{
	struct chime_metrics *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return -ENOMEM;
	m->version = strdup(version != NULL ? version : "unknown");
	if (m->version == NULL) {
		free(m);
		return -ENOMEM;
	}
	pthread_mutex_init(&m->lock, NULL);
	m->state.database_up = -1;
	*ret_metrics = m;
	return 0;
}

struct chime_metrics *
chime_metrics_free(struct chime_metrics *m)
{
	if (m == NULL)
		return NULL;
	for (size_t i = 0; i < m->n_jobs; i++)
		free(m->jobs[i].name);
	free(m->jobs);
	free(m->version);
	pthread_mutex_destroy(&m->lock);
	free(m);
	return NULL;
}

/* The job's entry, added when missing; NULL on OOM. Under the lock. */
static struct metrics_job *
job_get(struct chime_metrics *m, const char *name)
{
	struct metrics_job *nj;

	for (size_t i = 0; i < m->n_jobs; i++)
		if (strcmp(m->jobs[i].name, name) == 0)
			return &m->jobs[i];
	if (chime_grow(&m->jobs, &m->allocated_jobs, m->n_jobs + 1, sizeof(*m->jobs)) < 0)
		return NULL;
	nj = &m->jobs[m->n_jobs];
	memset(nj, 0, sizeof(*nj));
	nj->name = strdup(name);
	if (nj->name == NULL)
		return NULL;
	nj->last_success_usec = INT64_MIN;
	m->n_jobs++;
	return nj;
}

static void
histogram_add(struct histogram *h, const double *le, size_t n, double value)
{
	for (size_t i = 0; i < n; i++)
		if (value <= le[i]) {
			h->buckets[i]++;
			break;
		}
	h->count++;
	h->sum += value;
}

int
chime_metrics_run_finished(struct chime_metrics *m, const char *job, enum chime_run_status status,
                           int64_t duration_usec, int64_t lateness_usec)
{
	struct metrics_job *j;
	size_t s;
	int r = 0;

	for (s = 0; s < N_STATUSES; s++)
		if (status == statuses[s])
			break;
	if (s == N_STATUSES)
		return 0;
	pthread_mutex_lock(&m->lock);
	j = job_get(m, job);
	if (j == NULL) {
		r = -ENOMEM;
		goto out;
	}
	j->runs[s]++;
	if (duration_usec >= 0)
		histogram_add(&j->duration, duration_le, N_DURATION, (double)duration_usec / 1e6);
	if (lateness_usec != INT64_MIN)
		histogram_add(&j->lateness, lateness_le, N_LATENESS,
		              lateness_usec > 0 ? (double)lateness_usec / 1e6 : 0.0);
out:
	pthread_mutex_unlock(&m->lock);
	return r;
}

int
chime_metrics_publish(struct chime_metrics *m, const struct chime_metrics_state *state,
                      const struct chime_metrics_job *jobs, size_t n_jobs)
{
	int r = 0;

	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n_jobs; i++)
		m->jobs[i].current = false;
	for (size_t i = 0; i < n_jobs; i++) {
		struct metrics_job *j = job_get(m, jobs[i].name);

		if (j == NULL) {
			r = -ENOMEM;
			break;
		}
		j->current = true;
		j->expect_set = jobs[i].expect_set;
		j->expect_violated = jobs[i].expect_violated;
		if (jobs[i].last_success_usec > j->last_success_usec)
			j->last_success_usec = jobs[i].last_success_usec;
	}
	m->state = *state;
	m->published = true;
	pthread_mutex_unlock(&m->lock);
	return r;
}

/* Prometheus label value escaping: backslash, double quote, newline. */
static void
put_label(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*s, f);
	}
}

static void
put_histogram(FILE *f, const char *name, const struct metrics_job *j, const struct histogram *h,
              const double *le, size_t n)
{
	uint64_t cumulative = 0;

	for (size_t i = 0; i < n; i++) {
		cumulative += h->buckets[i];
		fprintf(f, "%s_bucket{job=\"", name);
		put_label(f, j->name);
		fprintf(f, "\",le=\"%g\"} %" PRIu64 "\n", le[i], cumulative);
	}
	fprintf(f, "%s_bucket{job=\"", name);
	put_label(f, j->name);
	fprintf(f, "\",le=\"+Inf\"} %" PRIu64 "\n", h->count);
	fprintf(f, "%s_sum{job=\"", name);
	put_label(f, j->name);
	fprintf(f, "\"} %.6f\n", h->sum);
	fprintf(f, "%s_count{job=\"", name);
	put_label(f, j->name);
	fprintf(f, "\"} %" PRIu64 "\n", h->count);
}

static void
put_header(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
format_locked(struct chime_metrics *m, FILE *f)
{
	put_header(f, "chime_build_info", "gauge", "chimed's version.");
	fprintf(f, "chime_build_info{version=\"");
	put_label(f, m->version);
	fprintf(f, "\"} 1\n");

	put_header(f, "chime_runs_total", "counter", "Runs ended on this node, by job and status.");
	for (size_t i = 0; i < m->n_jobs; i++)
		for (size_t s = 0; s < N_STATUSES; s++) {
			fprintf(f, "chime_runs_total{job=\"");
			put_label(f, m->jobs[i].name);
			fprintf(f, "\",status=\"%s\"} %" PRIu64 "\n",
			        chime_run_status_name(statuses[s]), m->jobs[i].runs[s]);
		}

	put_header(f, "chime_run_duration_seconds", "histogram",
	           "Wall-clock time of runs that reached their plugin.");
	for (size_t i = 0; i < m->n_jobs; i++)
		put_histogram(f, "chime_run_duration_seconds", &m->jobs[i], &m->jobs[i].duration,
		              duration_le, N_DURATION);

	put_header(f, "chime_run_lateness_seconds", "histogram",
	           "How long after its scheduled instant a run started.");
	for (size_t i = 0; i < m->n_jobs; i++)
		put_histogram(f, "chime_run_lateness_seconds", &m->jobs[i], &m->jobs[i].lateness,
		              lateness_le, N_LATENESS);

	put_header(f, "chime_job_last_success_timestamp_seconds", "gauge",
	           "When the job last succeeded on any node (from the ledger).");
	for (size_t i = 0; i < m->n_jobs; i++) {
		if (!m->jobs[i].current || m->jobs[i].last_success_usec == INT64_MIN)
			continue;
		fprintf(f, "chime_job_last_success_timestamp_seconds{job=\"");
		put_label(f, m->jobs[i].name);
		fprintf(f, "\"} %.6f\n", (double)m->jobs[i].last_success_usec / 1e6);
	}

	put_header(f, "chime_job_expect_violated", "gauge",
	           "1 when a job with expect: had no success within it.");
	for (size_t i = 0; i < m->n_jobs; i++) {
		if (!m->jobs[i].current || !m->jobs[i].expect_set)
			continue;
		fprintf(f, "chime_job_expect_violated{job=\"");
		put_label(f, m->jobs[i].name);
		fprintf(f, "\"} %d\n", m->jobs[i].expect_violated ? 1 : 0);
	}

	if (m->state.database_up >= 0) {
		put_header(f, "chime_database_up", "gauge",
		           "1 when the ledger database is reachable.");
		fprintf(f, "chime_database_up %d\n", m->state.database_up);
	}
	put_header(f, "chime_jobs", "gauge", "Jobs in the running configuration.");
	fprintf(f, "chime_jobs %zu\n", m->state.jobs);
	put_header(f, "chime_runs_in_flight", "gauge", "Runs claimed or running on this node.");
	fprintf(f, "chime_runs_in_flight %zu\n", m->state.in_flight);
}

int
chime_metrics_format(struct chime_metrics *m, char **ret_text, size_t *ret_len)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	f = open_memstream(&text, &len);
	if (f == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&m->lock);
	format_locked(m, f);
	pthread_mutex_unlock(&m->lock);
	if (fclose(f) != 0 || text == NULL) {
		free(text);
		return -ENOMEM;
	}
	*ret_text = text;
	*ret_len = len;
	return 0;
}

bool
chime_metrics_healthy(struct chime_metrics *m, int64_t now_mono_usec, int64_t max_age_usec,
                      char *reason, size_t size)
{
	bool ok = false;
	int64_t age;

	pthread_mutex_lock(&m->lock);
	age = now_mono_usec - m->state.now_mono_usec;
	if (!m->published)
		snprintf(reason, size, "starting: no state published yet");
	else if (age > max_age_usec)
		snprintf(reason, size, "event loop stalled: last update %.1f s ago",
		         (double)age / 1e6);
	else if (m->state.database_up == 0)
		snprintf(reason, size, "database down%s%s",
		         m->state.db_reason[0] != '\0' ? " " : "", m->state.db_reason);
	else
		ok = true;
	pthread_mutex_unlock(&m->lock);
	return ok;
}
