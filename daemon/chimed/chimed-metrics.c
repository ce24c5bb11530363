/* SPDX-License-Identifier: MIT */
/*
 * /metrics and /healthz on `metrics.listen` (a loopback HOST:PORT; off by
 * default), served by libmicrohttpd from its own thread. The loop feeds
 * the registry (chime/metrics.h) as runs end and publishes a snapshot of
 * its state every second; the HTTP thread only formats that snapshot, so
 * a scrape never touches loop state and a scrape flood never slows the
 * loop. MHD bounds connections overall and per address and drops idle
 * ones after a few seconds.
 *
 * /healthz: 200 "ok" while the loop published within HEALTH_MAX_AGE and
 * the database is up (or none is configured); 503 with the reason
 * otherwise.
 */
#include <netinet/in.h>
#include <sys/socket.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef CHIME_HAVE_MHD
#include <microhttpd.h>
#endif

#include "chimed.h"
#include "log.h"
#include "metrics.h"

#define PUBLISH_MSEC        1000
#define HEALTH_MAX_AGE_USEC (INT64_C(5) * 1000000)
/* The listener is loopback by default, where every client has the same
 * address: a per-address limit would let a few idle connections (a
 * scraper's keep-alive pool, a stuck probe) lock out /healthz. So no
 * per-address limit; idle connections are closed after HTTP_TIMEOUT_SEC,
 * and the total is bounded well inside the daemon's file descriptors
 * (systemd's soft LimitNOFILE= is 1024). */
#define HTTP_CONNECTION_LIMIT 256
#define HTTP_TIMEOUT_SEC      5

struct chimed_metrics {
	struct chimed *d;
	struct chime_metrics *registry;
	uv_timer_t publish;
#ifdef CHIME_HAVE_MHD
	struct MHD_Daemon *http;
#endif
};

static int64_t
mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t
wall_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
chimed_metrics_run_finished(const struct chime_runner_run *rr, void *userdata)
{
	struct chimed *d = userdata;
	int64_t duration, lateness = INT64_MIN;
	enum chime_run_status status;

	if (d->metrics == NULL || !chime_runner_run_status(rr, &status))
		return;
	duration = chime_runner_run_duration_usec(rr);
	if (duration <= 0 || status == CHIME_RUN_SKIPPED)
		duration = -1; /* never reached its plugin */
	else if (!chime_runner_run_manual(rr) && chime_runner_run_attempt(rr) == 1)
		lateness = wall_usec() - duration - chime_runner_run_slot(rr)->instant_usec;
	(void)chime_metrics_run_finished(d->metrics->registry, chime_runner_run_job(rr)->name,
	                                 status, duration, lateness);
}

static void
publish_cb(uv_timer_t *timer)
{
	struct chimed_metrics *m = timer->data;
	struct chimed *d = m->d;
	struct chime_metrics_state state = {0};
	struct chime_metrics_job *jobs;
	int64_t now = wall_usec();
	char db[400];

	state.database_up = chimed_database_up(d);
	if (state.database_up < 0)
		state.database_up = -1;
	else if (state.database_up == 0 && chimed_database_status(d, db, sizeof(db)) == 0) {
		const char *text = strncmp(db, "database: ", 10) == 0 ? db + 10 : db;

		if (strncmp(text, "down ", 5) == 0)
			text += 5; /* "/healthz: database down (since ...)" */
		size_t n = strnlen(text, sizeof(state.db_reason) - 1);

		memcpy(state.db_reason, text, n);
		state.db_reason[n] = '\0';
	}
	state.jobs = d->config->n_jobs;
	state.in_flight = chime_runner_running(d->runner);
	state.now_mono_usec = mono_usec();

	jobs = calloc(d->config->n_jobs + 1, sizeof(*jobs));
	if (jobs == NULL)
		return;
	for (size_t i = 0; i < d->config->n_jobs; i++) {
		const struct chime_job_config *job = d->config->jobs[i];
		struct chime_ledger_job_state js = {.last_success_usec = INT64_MIN};
		int64_t last;

		/* The ledger service's view: the same one `chimectl list` shows,
		 * with or without a control socket. */
		if (d->ledger != NULL)
			(void)chime_ledger_service_job_state(d->ledger, job->name, &js);
		last = js.last_success_usec;
		jobs[i].name = job->name;
		jobs[i].last_success_usec = last;
		jobs[i].expect_set = job->enabled && job->expect_usec > 0;
		jobs[i].expect_violated =
		        jobs[i].expect_set &&
		        now - (last != INT64_MIN ? last : d->started_wall_usec) > job->expect_usec;
	}
	(void)chime_metrics_publish(m->registry, &state, jobs, d->config->n_jobs);
	free(jobs);
}

#ifdef CHIME_HAVE_MHD
static enum MHD_Result
respond(struct MHD_Connection *conn, unsigned code, char *body, size_t len, const char *type)
{
	struct MHD_Response *res;
	enum MHD_Result ret;

	res = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (res == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(res, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ret = MHD_queue_response(conn, code, res);
	MHD_destroy_response(res);
	return ret;
}

static enum MHD_Result
respond_text(struct MHD_Connection *conn, unsigned code, const char *text)
{
	char *body = strdup(text);

	if (body == NULL)
		return MHD_NO;
	return respond(conn, code, body, strlen(body), "text/plain; charset=utf-8");
}

/* On MHD's thread: reads only the registry. */
static enum MHD_Result
http_cb(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
        const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct chimed_metrics *m = cls;
	char reason[400], line[420];
	char *text;
	size_t len;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return respond_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only\n");
	if (strcmp(url, "/metrics") == 0) {
		if (chime_metrics_format(m->registry, &text, &len) < 0)
			return respond_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
			                    "out of memory\n");
		return respond(conn, MHD_HTTP_OK, text, len,
		               "text/plain; version=0.0.4; charset=utf-8");
	}
	if (strcmp(url, "/healthz") == 0) {
		if (chime_metrics_healthy(m->registry, mono_usec(), HEALTH_MAX_AGE_USEC, reason,
		                          sizeof(reason)))
			return respond_text(conn, MHD_HTTP_OK, "ok\n");
		snprintf(line, sizeof(line), "%s\n", reason);
		return respond_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, line);
	}
	return respond_text(conn, MHD_HTTP_NOT_FOUND, "not found: try /metrics or /healthz\n");
}

static bool
is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr) >>
		        24) == 127;
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(
		        &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr);
	return false;
}

/* "127.0.0.1:9187", "[::1]:9187", "localhost:9187". */
static int
resolve(const char *listen, struct sockaddr_storage *ret_sa, unsigned short *ret_port)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	char host[256];
	const char *colon = strrchr(listen, ':');
	size_t n;
	int r;

	if (colon == NULL)
		return -EINVAL;
	n = (size_t)(colon - listen);
	if (n >= 2 && listen[0] == '[' && listen[n - 1] == ']') {
		listen++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(host))
		return -EINVAL;
	memcpy(host, listen, n);
	host[n] = '\0';
	r = getaddrinfo(host, colon + 1, &hints, &ai);
	if (r != 0)
		return -EADDRNOTAVAIL;
	memcpy(ret_sa, ai->ai_addr, ai->ai_addrlen);
	*ret_port = (unsigned short)atoi(colon + 1);
	freeaddrinfo(ai);
	return 0;
}
#endif

int
chimed_metrics_start(struct chimed *d)
{
	const char *listen = d->config->metrics_listen;
	struct chimed_metrics *m;
	int r;

	if (listen == NULL)
		return 0;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	m->d = d;
	r = chime_metrics_new(CHIME_VERSION, &m->registry);
	if (r < 0) {
		free(m);
		return r;
	}
#ifdef CHIME_HAVE_MHD
	{
		struct sockaddr_storage sa;
		unsigned short port = 0;

		r = resolve(listen, &sa, &port);
		if (r < 0 || !is_loopback((struct sockaddr *)&sa)) {
			chime_log_error("metrics.listen '%s': %s, metrics off", listen,
			                r < 0 ? "cannot resolve the address"
			                      : "not a loopback address (127.0.0.0/8 or ::1)");
			chime_metrics_free(m->registry);
			free(m);
			return 0;
		}
		m->http = MHD_start_daemon(
		        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
		                (sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
		        port, NULL, NULL, http_cb, m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		        MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTION_LIMIT,
		        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_SEC, MHD_OPTION_END);
		if (m->http == NULL) {
			chime_log_error("metrics.listen '%s': cannot listen (address in use?), "
			                "metrics off",
			                listen);
			chime_metrics_free(m->registry);
			free(m);
			return 0;
		}
	}
#else
	chime_log_error("metrics.listen '%s': chimed was built without libmicrohttpd, metrics off",
	                listen);
	chime_metrics_free(m->registry);
	free(m);
	return 0;
#endif
	uv_timer_init(d->loop, &m->publish);
	m->publish.data = m;
	uv_timer_start(&m->publish, publish_cb, 0, PUBLISH_MSEC);
	uv_unref((uv_handle_t *)&m->publish);
	d->metrics = m;
	chime_log_info("metrics and health on http://%s/metrics and /healthz", listen);
	return 0;
}

static void
publish_closed(uv_handle_t *handle)
{
	struct chimed_metrics *m = handle->data;

	m->registry = chime_metrics_free(m->registry);
	free(m);
}

void
chimed_metrics_close(struct chimed *d)
{
	struct chimed_metrics *m = d->metrics;

	if (m == NULL)
		return;
	d->metrics = NULL;
#ifdef CHIME_HAVE_MHD
	MHD_stop_daemon(m->http); /* joins its thread: no scrape reads the registry after */
#endif
	uv_close((uv_handle_t *)&m->publish, publish_closed);
}
