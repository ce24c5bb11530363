/* SPDX-License-Identifier: MIT */
/*
 * The control socket protocol (chime/control.h): request and reply lines
 * as JSON built and parsed with jansson, and the two ledger queries the
 * daemon answers `history` and `list` with. No logging, no globals.
 */
#include "chime/control.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chime/db.h"

static const char *const cmd_names[] = {
        [CHIME_CONTROL_STATUS] = "status",   [CHIME_CONTROL_LIST] = "list",
        [CHIME_CONTROL_HISTORY] = "history", [CHIME_CONTROL_TRIGGER] = "trigger",
        [CHIME_CONTROL_PAUSE] = "pause",     [CHIME_CONTROL_RESUME] = "resume",
        [CHIME_CONTROL_RELOAD] = "reload",
};

#define N_CMDS (sizeof(cmd_names) / sizeof(cmd_names[0]))

static void
set_err(char *errbuf, size_t errsize, const char *fmt, ...)
{
	va_list ap;

	if (errbuf == NULL || errsize == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf, errsize, fmt, ap);
	va_end(ap);
}

const char *
chime_control_cmd_name(enum chime_control_cmd cmd)
{
	if ((size_t)cmd >= N_CMDS)
		return NULL;
	return cmd_names[cmd];
}

int
chime_control_cmd_parse(const char *name, enum chime_control_cmd *ret_cmd)
{
	for (size_t i = 0; i < N_CMDS; i++)
		if (strcmp(name, cmd_names[i]) == 0) {
			*ret_cmd = (enum chime_control_cmd)i;
			return 0;
		}
	return -EINVAL;
}

int
chime_control_cmd_needs_job(enum chime_control_cmd cmd)
{
	return cmd == CHIME_CONTROL_HISTORY || cmd == CHIME_CONTROL_TRIGGER ||
	       cmd == CHIME_CONTROL_PAUSE || cmd == CHIME_CONTROL_RESUME;
}

int
chime_control_request_parse(const char *line, size_t len, struct chime_control_request *ret_req,
                            char *errbuf, size_t errsize)
{
	struct chime_control_request req = {.limit = CHIME_CONTROL_HISTORY_DEFAULT};
	json_t *root = NULL, *cmd, *job, *limit;
	json_error_t jerr;
	const char *key;
	json_t *value;
	int r = -EINVAL;

	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len == 0) {
		set_err(errbuf, errsize, "empty request");
		return -EINVAL;
	}
	root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		set_err(errbuf, errsize, "invalid JSON at column %d: %s", jerr.column, jerr.text);
		return -EINVAL;
	}
	if (!json_is_object(root)) {
		set_err(errbuf, errsize, "the request must be a JSON object");
		goto out;
	}
	json_object_foreach(root, key, value)
	{
		if (strcmp(key, "cmd") != 0 && strcmp(key, "job") != 0 &&
		    strcmp(key, "limit") != 0) {
			set_err(errbuf, errsize, "unknown member '%.64s'", key);
			goto out;
		}
	}
	cmd = json_object_get(root, "cmd");
	if (!json_is_string(cmd)) {
		set_err(errbuf, errsize, "'cmd' must be a string");
		goto out;
	}
	if (chime_control_cmd_parse(json_string_value(cmd), &req.cmd) < 0) {
		set_err(errbuf, errsize, "unknown command '%.64s'", json_string_value(cmd));
		goto out;
	}
	job = json_object_get(root, "job");
	if (chime_control_cmd_needs_job(req.cmd)) {
		if (!json_is_string(job) || json_string_length(job) == 0) {
			set_err(errbuf, errsize, "'%s' needs a job name", cmd_names[req.cmd]);
			goto out;
		}
		if (json_string_length(job) > CHIME_CONTROL_JOB_MAX ||
		    strlen(json_string_value(job)) != json_string_length(job)) {
			set_err(errbuf, errsize, "invalid job name");
			goto out;
		}
		memcpy(req.job, json_string_value(job), json_string_length(job) + 1);
	} else if (job != NULL) {
		set_err(errbuf, errsize, "'%s' takes no job", cmd_names[req.cmd]);
		goto out;
	}
	limit = json_object_get(root, "limit");
	if (limit != NULL) {
		if (req.cmd != CHIME_CONTROL_HISTORY) {
			set_err(errbuf, errsize, "'limit' is only for 'history'");
			goto out;
		}
		if (!json_is_integer(limit) || json_integer_value(limit) < 1 ||
		    json_integer_value(limit) > CHIME_CONTROL_HISTORY_MAX) {
			set_err(errbuf, errsize, "'limit' must be an integer in 1..%d",
			        CHIME_CONTROL_HISTORY_MAX);
			goto out;
		}
		req.limit = (int)json_integer_value(limit);
	}
	*ret_req = req;
	r = 0;
out:
	json_decref(root);
	return r;
}

/* `obj` as one compact line ending in "\n"; NULL on OOM. */
static char *
dump_line(const json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	char *line;
	size_t n;

	if (text == NULL)
		return NULL;
	n = strlen(text);
	line = realloc(text, n + 2);
	if (line == NULL) {
		free(text);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	return line;
}

char *
chime_control_request_format(const struct chime_control_request *req)
{
	json_t *obj = json_object();
	char *line = NULL;

	if (obj == NULL)
		return NULL;
	if (json_object_set_new(obj, "cmd", json_string(chime_control_cmd_name(req->cmd))) < 0)
		goto out;
	if (chime_control_cmd_needs_job(req->cmd) &&
	    json_object_set_new(obj, "job", json_string(req->job)) < 0)
		goto out;
	if (req->cmd == CHIME_CONTROL_HISTORY && req->limit > 0 &&
	    json_object_set_new(obj, "limit", json_integer(req->limit)) < 0)
		goto out;
	line = dump_line(obj);
out:
	json_decref(obj);
	return line;
}

char *
chime_control_reply_ok(json_t *body)
{
	json_t *obj = json_object();
	char *line = NULL;

	if (obj == NULL)
		return NULL;
	if (json_object_set_new(obj, "ok", json_true()) < 0)
		goto out;
	if (body != NULL && json_object_update(obj, body) < 0)
		goto out;
	line = dump_line(obj);
out:
	json_decref(obj);
	return line;
}

char *
chime_control_reply_error(const char *fmt, ...)
{
	char message[1024];
	json_t *obj;
	char *line;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	obj = json_pack("{s:b, s:s}", "ok", 0, "error", message);
	if (obj == NULL) /* not UTF-8: say so rather than nothing */
		obj = json_pack("{s:b, s:s}", "ok", 0, "error", "invalid request");
	if (obj == NULL)
		return NULL;
	line = dump_line(obj);
	json_decref(obj);
	return line;
}

int
chime_control_reply_parse(const char *line, size_t len, json_t **ret_reply, char *errbuf,
                          size_t errsize)
{
	json_error_t jerr;
	json_t *root;

	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	root = json_loadb(line, len, 0, &jerr);
	if (root == NULL) {
		set_err(errbuf, errsize, "invalid JSON from the daemon: %s", jerr.text);
		return -EINVAL;
	}
	if (!json_is_object(root) || !json_is_boolean(json_object_get(root, "ok"))) {
		set_err(errbuf, errsize, "the daemon's reply has no 'ok' member");
		json_decref(root);
		return -EPROTO;
	}
	*ret_reply = root;
	return 0;
}

json_t *
chime_control_json_time(int64_t utc_usec)
{
	char buf[64];

	if (utc_usec == INT64_MIN || chime_db_format_timestamptz(utc_usec, buf, sizeof(buf)) < 0)
		return json_null();
	return json_string(buf);
}

/* ---- Ledger queries ------------------------------------------------- */

static json_t *
col_time(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return json_null();
	return chime_control_json_time(strtoll(PQgetvalue(res, row, col), NULL, 10));
}

static json_t *
col_text(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return json_null();
	return json_string(PQgetvalue(res, row, col));
}

static json_t *
col_epoch(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return json_null();
	return json_real(strtod(PQgetvalue(res, row, col), NULL));
}

#define USEC(x) "(extract(epoch FROM " x ") * 1000000)::bigint"

/* clang-format off */
static const char history_sql[] =
	"SELECT id, " USEC("scheduled_for") ", attempt, node, status, manual,"
	" " USEC("claimed_at") ", " USEC("started_at") ", " USEC("finished_at") ","
	" extract(epoch FROM finished_at - started_at), error"
	" FROM chime.runs WHERE job = $1"
	" ORDER BY scheduled_for DESC, id DESC LIMIT $2::int";
/* clang-format on */

int
chime_control_query_history(PGconn *conn, const char *job, int limit, json_t **ret_runs,
                            char *errbuf, size_t errsize)
{
	char limit_text[16];
	const char *params[2] = {job, limit_text};
	PGresult *res;
	json_t *runs = NULL;
	int r;

	snprintf(limit_text, sizeof(limit_text), "%d", limit);
	res = PQexecParams(conn, history_sql, 2, NULL, params, NULL, NULL, 0);
	r = chime_db_result_errno(conn, res, errbuf, errsize);
	if (r < 0)
		goto out;
	runs = json_array();
	if (runs == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		json_t *o = json_object();

		if (o == NULL || json_array_append_new(runs, o) < 0) {
			r = -ENOMEM;
			goto out;
		}
		json_object_set_new(o, "id",
		                    json_integer(strtoll(PQgetvalue(res, i, 0), NULL, 10)));
		json_object_set_new(o, "scheduled_for", col_time(res, i, 1));
		json_object_set_new(o, "attempt", json_integer(atoi(PQgetvalue(res, i, 2))));
		json_object_set_new(o, "node", col_text(res, i, 3));
		json_object_set_new(o, "status", col_text(res, i, 4));
		json_object_set_new(o, "manual", json_boolean(PQgetvalue(res, i, 5)[0] == 't'));
		json_object_set_new(o, "claimed_at", col_time(res, i, 6));
		json_object_set_new(o, "started_at", col_time(res, i, 7));
		json_object_set_new(o, "finished_at", col_time(res, i, 8));
		json_object_set_new(o, "duration_seconds", col_epoch(res, i, 9));
		json_object_set_new(o, "error", col_text(res, i, 10));
	}
	*ret_runs = runs;
	runs = NULL;
	r = 0;
out:
	json_decref(runs);
	PQclear(res);
	return r;
}

int
chime_control_query_jobs(PGconn *conn, json_t **ret_jobs, char *errbuf, size_t errsize)
{
	PGresult *res;
	json_t *jobs = NULL;
	int r;

	/* The latest row of each job (by slot, then id), its latest success,
	 * and the pauses; the indexes on (job, scheduled_for) serve it. */
	res = PQexec(conn, "WITH last AS ("
	                   "  SELECT DISTINCT ON (job) job, status, finished_at FROM chime.runs"
	                   "  ORDER BY job, scheduled_for DESC, id DESC),"
	                   " ok AS ("
	                   "  SELECT job, max(finished_at) AS at FROM chime.runs"
	                   "  WHERE status = 'succeeded' GROUP BY job)"
	                   " SELECT j.job, last.status, extract(epoch FROM last.finished_at),"
	                   "  extract(epoch FROM ok.at), p.job IS NOT NULL"
	                   " FROM (SELECT job FROM last UNION SELECT job FROM chime.paused) j"
	                   " LEFT JOIN last USING (job) LEFT JOIN ok USING (job)"
	                   " LEFT JOIN chime.paused p USING (job)");
	r = chime_db_result_errno(conn, res, errbuf, errsize);
	if (r < 0)
		goto out;
	jobs = json_object();
	if (jobs == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		json_t *o = json_object();

		if (o == NULL || json_object_set_new(jobs, PQgetvalue(res, i, 0), o) < 0) {
			r = -ENOMEM;
			goto out;
		}
		json_object_set_new(o, "last_status", col_text(res, i, 1));
		json_object_set_new(o, "last_finished_at", col_epoch(res, i, 2));
		json_object_set_new(o, "last_success_at", col_epoch(res, i, 3));
		json_object_set_new(o, "paused", json_boolean(PQgetvalue(res, i, 4)[0] == 't'));
	}
	*ret_jobs = jobs;
	jobs = NULL;
	r = 0;
out:
	json_decref(jobs);
	PQclear(res);
	return r;
}
