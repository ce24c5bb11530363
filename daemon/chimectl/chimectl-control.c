/* SPDX-License-Identifier: MIT */
/*
 * chimectl status | list | history JOB [LIMIT] | trigger JOB | pause JOB |
 * resume JOB | reload: one request to the running chimed over its control
 * socket (chime/control.h), its reply printed as a table, or as the
 * daemon's JSON with --json. `reload` waits until the daemon has reloaded
 * (so ExecReload= makes `systemctl reload` synchronous) and exits 1 when
 * the new file was invalid, printing the diagnostics.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control.h"

#include "chimectl.h"

#define REPLY_MAX        (64 * 1024 * 1024)
#define READ_TIMEOUT_SEC 60

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: chimectl status|list [--json] [--socket PATH]\n"
	        "       chimectl history JOB [LIMIT] [--json] [--socket PATH]\n"
	        "       chimectl trigger|pause|resume JOB [--socket PATH]\n"
	        "       chimectl reload [--socket PATH]\n"
	        "\n"
	        "Ask the running chimed over its control socket (default %s).\n",
	        CHIME_CONTROL_DEFAULT_SOCKET);
}

static int
connect_socket(const char *path, bool wait_forever)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = READ_TIMEOUT_SEC};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "chimectl: socket path '%s' is too long\n", path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;

		fprintf(stderr, "chimectl: cannot connect to '%s': %s (is chimed running?)\n", path,
		        strerror(-r));
		close(fd);
		return r;
	}
	if (!wait_forever)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static int
send_all(int fd, const char *s)
{
	size_t len = strlen(s), off = 0;

	while (off < len) {
		ssize_t n = send(fd, s + off, len - off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (size_t)n;
	}
	return 0;
}

/* One reply line into a new string *ret_line. */
static int
read_line(int fd, char **ret_line, size_t *ret_len)
{
	char *buf = NULL, *nb;
	size_t len = 0, cap = 0;
	int r;

	for (;;) {
		ssize_t n;

		if (len == cap) {
			if (cap >= REPLY_MAX) {
				r = -EMSGSIZE;
				goto fail;
			}
			cap = cap ? cap * 2 : 8192;
			nb = realloc(buf, cap);
			if (nb == NULL) {
				r = -ENOMEM;
				goto fail;
			}
			buf = nb;
		}
		n = recv(fd, buf + len, cap - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = errno == EAGAIN ? -ETIMEDOUT : -errno;
			goto fail;
		}
		if (n == 0) {
			r = -ECONNRESET;
			goto fail;
		}
		len += (size_t)n;
		if (memchr(buf + len - (size_t)n, '\n', (size_t)n) != NULL)
			break;
	}
	*ret_line = buf;
	*ret_len = len;
	return 0;
fail:
	free(buf);
	return r;
}

static const char *
str(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (json_is_string(v))
		return json_string_value(v);
	return "-";
}

static void
print_status(json_t *reply)
{
	json_t *db = json_object_get(reply, "database");
	json_t *runs = json_object_get(reply, "runs");
	json_t *next = json_object_get(reply, "next");
	json_t *v;
	size_t i;

	printf("state:     %s (pid %lld, up %lld s, version %s)%s\n", str(reply, "state"),
	       (long long)json_integer_value(json_object_get(reply, "pid")),
	       (long long)json_integer_value(json_object_get(reply, "uptime_seconds")),
	       str(reply, "version"),
	       json_is_true(json_object_get(reply, "reload_failed")) ? ", last reload failed" : "");
	printf("node:      %s\n", str(reply, "node"));
	printf("config:    %s\n", str(reply, "config"));
	printf("database:  %s\n",
	       strcmp(str(db, "state"), "none") == 0 ? "none (no ledger)" : str(db, "detail"));
	printf("jobs:      %lld, %lld run%s in flight\n",
	       (long long)json_integer_value(json_object_get(reply, "jobs")),
	       (long long)json_integer_value(json_object_get(reply, "runs_in_flight")),
	       json_integer_value(json_object_get(reply, "runs_in_flight")) == 1 ? "" : "s");
	printf("runs:      %lld started, %lld succeeded, %lld failed, %lld timed out, "
	       "%lld cancelled, %lld skipped\n",
	       (long long)json_integer_value(json_object_get(runs, "started")),
	       (long long)json_integer_value(json_object_get(runs, "succeeded")),
	       (long long)json_integer_value(json_object_get(runs, "failed")),
	       (long long)json_integer_value(json_object_get(runs, "timed_out")),
	       (long long)json_integer_value(json_object_get(runs, "cancelled")),
	       (long long)json_integer_value(json_object_get(runs, "skipped")));
	if (json_array_size(next) == 0)
		return;
	printf("\n%-32s %s\n", "NEXT", "JOB");
	json_array_foreach(next, i, v)
	{
		printf("%-32s %s\n", str(v, "slot"), str(v, "job"));
	}
}

static void
print_list(json_t *reply)
{
	json_t *jobs = json_object_get(reply, "jobs"), *v;
	size_t i;

	printf("%-20s %-10s %-20s %-16s %-26s %-6s %s\n", "NAME", "PLUGIN", "SCHEDULE", "ZONE",
	       "NEXT", "PAUSED", "LAST");
	json_array_foreach(jobs, i, v)
	{
		json_t *paused = json_object_get(v, "paused");

		printf("%-20s %-10s %-20s %-16s %-26s %-6s %s\n", str(v, "name"), str(v, "plugin"),
		       str(v, "schedule"), str(v, "timezone"), str(v, "next"),
		       json_is_boolean(paused) ? (json_is_true(paused) ? "yes" : "no") : "?",
		       str(v, "last_status"));
	}
	if (json_is_string(json_object_get(reply, "ledger_error")))
		fprintf(stderr, "chimectl: note: ledger not read: %s\n",
		        str(reply, "ledger_error"));
}

static void
print_history(json_t *reply)
{
	json_t *runs = json_object_get(reply, "runs"), *v;
	size_t i;

	printf("%-8s %-28s %-10s %-3s %-12s %-6s %-10s %s\n", "ID", "SCHEDULED", "STATUS", "TRY",
	       "NODE", "MANUAL", "DURATION", "ERROR");
	json_array_foreach(runs, i, v)
	{
		json_t *d = json_object_get(v, "duration_seconds");
		char dur[32] = "-";

		if (json_is_number(d))
			snprintf(dur, sizeof(dur), "%.3fs", json_number_value(d));
		printf("%-8lld %-28s %-10s %-3lld %-12s %-6s %-10s %s\n",
		       (long long)json_integer_value(json_object_get(v, "id")),
		       str(v, "scheduled_for"), str(v, "status"),
		       (long long)json_integer_value(json_object_get(v, "attempt")), str(v, "node"),
		       json_is_true(json_object_get(v, "manual")) ? "yes" : "no", dur,
		       json_is_string(json_object_get(v, "error")) ? str(v, "error") : "");
	}
}

static void
print_diagnostics(json_t *reply)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(reply, "diagnostics"), i, v)
	{
		if (json_is_string(v))
			fprintf(stderr, "%s\n", json_string_value(v));
	}
}

int
chimectl_control_main(int argc, char **argv)
{
	static const struct option options[] = {
	        {"socket", required_argument, NULL, 's'},
	        {"json", no_argument, NULL, 'j'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	struct chime_control_request rq = {.limit = 0};
	const char *socket_path = CHIME_CONTROL_DEFAULT_SOCKET;
	bool json = false;
	char *request = NULL, *line = NULL, err[512];
	json_t *reply = NULL;
	size_t len = 0;
	int c, fd = -1, r = CHIMECTL_EXIT_FAILURE, n_args;

	if (chime_control_cmd_parse(argv[0], &rq.cmd) < 0) {
		usage(stderr);
		return CHIMECTL_EXIT_USAGE;
	}
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:jh", options, NULL)) != -1) {
		switch (c) {
		case 's':
			socket_path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return CHIMECTL_EXIT_OK;
		default:
			usage(stderr);
			return CHIMECTL_EXIT_USAGE;
		}
	}
	n_args = argc - optind;
	if (chime_control_cmd_needs_job(rq.cmd)) {
		if (n_args < 1 || n_args > (rq.cmd == CHIME_CONTROL_HISTORY ? 2 : 1)) {
			fprintf(stderr, "chimectl: %s needs a job name\n", argv[0]);
			usage(stderr);
			return CHIMECTL_EXIT_USAGE;
		}
		if (strlen(argv[optind]) > CHIME_CONTROL_JOB_MAX) {
			fprintf(stderr, "chimectl: job name too long\n");
			return CHIMECTL_EXIT_USAGE;
		}
		snprintf(rq.job, sizeof(rq.job), "%s", argv[optind]);
		if (n_args == 2) {
			char *end;
			long limit = strtol(argv[optind + 1], &end, 10);

			if (*end != '\0' || limit < 1 || limit > CHIME_CONTROL_HISTORY_MAX) {
				fprintf(stderr, "chimectl: LIMIT must be 1..%d\n",
				        CHIME_CONTROL_HISTORY_MAX);
				return CHIMECTL_EXIT_USAGE;
			}
			rq.limit = (int)limit;
		}
	} else if (n_args > 0) {
		fprintf(stderr, "chimectl: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return CHIMECTL_EXIT_USAGE;
	}

	request = chime_control_request_format(&rq);
	if (request == NULL) {
		fprintf(stderr, "chimectl: out of memory\n");
		goto out;
	}
	fd = connect_socket(socket_path, rq.cmd == CHIME_CONTROL_RELOAD);
	if (fd < 0)
		goto out;
	c = send_all(fd, request);
	if (c == 0)
		c = read_line(fd, &line, &len);
	if (c < 0) {
		fprintf(stderr, "chimectl: talking to '%s': %s\n", socket_path, strerror(-c));
		goto out;
	}
	if (chime_control_reply_parse(line, len, &reply, err, sizeof(err)) < 0) {
		fprintf(stderr, "chimectl: %s\n", err);
		goto out;
	}
	if (json) {
		fwrite(line, 1, len, stdout);
		r = json_is_true(json_object_get(reply, "ok")) ? CHIMECTL_EXIT_OK
		                                               : CHIMECTL_EXIT_FAILURE;
		goto out;
	}
	if (!json_is_true(json_object_get(reply, "ok"))) {
		fprintf(stderr, "chimectl: %s\n", str(reply, "error"));
		print_diagnostics(reply);
		goto out;
	}
	switch (rq.cmd) {
	case CHIME_CONTROL_STATUS:
		print_status(reply);
		break;
	case CHIME_CONTROL_LIST:
		print_list(reply);
		break;
	case CHIME_CONTROL_HISTORY:
		print_history(reply);
		break;
	case CHIME_CONTROL_TRIGGER:
		printf("triggered '%s'\n", rq.job);
		break;
	case CHIME_CONTROL_PAUSE:
		printf("paused '%s'\n", rq.job);
		break;
	case CHIME_CONTROL_RESUME:
		printf("resumed '%s'\n", rq.job);
		break;
	case CHIME_CONTROL_RELOAD:
		print_diagnostics(reply);
		printf("reloaded: %lld jobs\n",
		       (long long)json_integer_value(json_object_get(reply, "jobs")));
		break;
	}
	r = CHIMECTL_EXIT_OK;
out:
	json_decref(reply);
	free(line);
	free(request);
	if (fd >= 0)
		close(fd);
	return r;
}
