/* SPDX-License-Identifier: MIT */
/*
 * The control socket protocol (chime/control.h): request and reply lines
 * as JSON built and parsed with jansson, and the two ledger queries the
 * daemon answers `history` and `list` with. No logging, no globals.
 */
#include "control.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"

static const char *const cmd_names[] = {
        [CHIME_CONTROL_STATUS] = "status",   [CHIME_CONTROL_LIST] = "list",
        [CHIME_CONTROL_HISTORY] = "history", [CHIME_CONTROL_TRIGGER] = "trigger",
        [CHIME_CONTROL_PAUSE] = "pause",     [CHIME_CONTROL_RESUME] = "resume",
        [CHIME_CONTROL_RELOAD] = "reload",
};

#define N_CMDS (sizeof(cmd_names) / sizeof(cmd_names[0]))

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

/* A pause's optional text member `key` ("by", "note") into buf: a string
 * of at most size - 1 bytes without NUL or control bytes (it is shown on
 * terminals), only on 'pause'. */
static int
request_text(json_t *root, const char *key, enum chime_control_cmd cmd, char *buf, size_t size,
             char *errbuf, size_t errsize)
{
	json_t *v = json_object_get(root, key);
	const char *text;

	if (v == NULL)
		return 0;
	if (cmd != CHIME_CONTROL_PAUSE)
		return chime_errbuf_set(errbuf, errsize, -EINVAL, "'%s' is only for 'pause'", key);
	if (!json_is_string(v) || json_string_length(v) >= size)
		return chime_errbuf_set(errbuf, errsize, -EINVAL,
		                        "'%s' must be a string of at most %zu bytes", key,
		                        size - 1);
	text = json_string_value(v);
	for (size_t i = 0; i < json_string_length(v); i++)
		if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
			return chime_errbuf_set(errbuf, errsize, -EINVAL,
			                        "'%s' must not hold control characters", key);
	memcpy(buf, text, json_string_length(v) + 1);
	return 0;
}

/* The members of a request object, checked into *req. */
static int
request_from_json(json_t *root, struct chime_control_request *req, char *errbuf, size_t errsize)
{
	json_t *cmd, *job, *limit, *value;
	const char *key;
	int r;

	if (!json_is_object(root))
		return chime_errbuf_set(errbuf, errsize, -EINVAL,
		                        "the request must be a JSON object");
	json_object_foreach(root, key, value)
	{
		if (strcmp(key, "cmd") != 0 && strcmp(key, "job") != 0 &&
		    strcmp(key, "limit") != 0 && strcmp(key, "by") != 0 && strcmp(key, "note") != 0)
			return chime_errbuf_set(errbuf, errsize, -EINVAL, "unknown member '%.64s'",
			                        key);
	}
	cmd = json_object_get(root, "cmd");
	if (!json_is_string(cmd))
		return chime_errbuf_set(errbuf, errsize, -EINVAL, "'cmd' must be a string");
	if (chime_control_cmd_parse(json_string_value(cmd), &req->cmd) < 0)
		return chime_errbuf_set(errbuf, errsize, -EINVAL, "unknown command '%.64s'",
		                        json_string_value(cmd));
	job = json_object_get(root, "job");
	if (chime_control_cmd_needs_job(req->cmd)) {
		if (!json_is_string(job) || json_string_length(job) == 0)
			return chime_errbuf_set(errbuf, errsize, -EINVAL, "'%s' needs a job name",
			                        cmd_names[req->cmd]);
		if (json_string_length(job) > CHIME_CONTROL_JOB_MAX ||
		    strlen(json_string_value(job)) != json_string_length(job))
			return chime_errbuf_set(errbuf, errsize, -EINVAL, "invalid job name");
		memcpy(req->job, json_string_value(job), json_string_length(job) + 1);
	} else if (job != NULL)
		return chime_errbuf_set(errbuf, errsize, -EINVAL, "'%s' takes no job",
		                        cmd_names[req->cmd]);
	r = request_text(root, "by", req->cmd, req->by, sizeof(req->by), errbuf, errsize);
	if (r == 0)
		r = request_text(root, "note", req->cmd, req->note, sizeof(req->note), errbuf,
		                 errsize);
	if (r < 0)
		return r;
	limit = json_object_get(root, "limit");
	if (limit == NULL)
		return 0;
	if (req->cmd != CHIME_CONTROL_HISTORY)
		return chime_errbuf_set(errbuf, errsize, -EINVAL, "'limit' is only for 'history'");
	if (!json_is_integer(limit) || json_integer_value(limit) < 1 ||
	    json_integer_value(limit) > CHIME_CONTROL_HISTORY_MAX)
		return chime_errbuf_set(errbuf, errsize, -EINVAL,
		                        "'limit' must be an integer in 1..%d",
		                        CHIME_CONTROL_HISTORY_MAX);
	req->limit = (int)json_integer_value(limit);
	return 0;
}

/* A line without its "\n" or "\r\n". */
static size_t
line_length(const char *line, size_t len)
{
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	return len;
}

int
chime_control_request_parse(const char *line, size_t len, struct chime_control_request *ret_req,
                            char *errbuf, size_t errsize)
{
	struct chime_control_request req = {.limit = CHIME_CONTROL_HISTORY_DEFAULT};
	json_error_t jerr;
	json_t *root;
	int r;

	len = line_length(line, len);
	if (len == 0)
		return chime_errbuf_set(errbuf, errsize, -EINVAL, "empty request");
	root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return chime_errbuf_set(errbuf, errsize, -EINVAL, "invalid JSON at column %d: %s",
		                        jerr.column, jerr.text);
	r = request_from_json(root, &req, errbuf, errsize);
	json_decref(root);
	if (r < 0)
		return r;
	*ret_req = req;
	return 0;
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

/* dump_line() of `obj` unless building it `failed`; drops `obj` (NULL-safe). */
static char *
dump_line_unref(json_t *obj, bool failed)
{
	char *line = NULL;

	if (obj != NULL && !failed)
		line = dump_line(obj);
	json_decref(obj);
	return line;
}

char *
chime_control_request_format(const struct chime_control_request *req)
{
	json_t *obj = json_pack("{s:s}", "cmd", chime_control_cmd_name(req->cmd));
	bool failed = obj == NULL;

	if (!failed && chime_control_cmd_needs_job(req->cmd))
		failed = json_object_set_new(obj, "job", json_string(req->job)) < 0;
	if (!failed && req->cmd == CHIME_CONTROL_PAUSE && req->by[0] != '\0')
		failed = json_object_set_new(obj, "by", json_string(req->by)) < 0;
	if (!failed && req->cmd == CHIME_CONTROL_PAUSE && req->note[0] != '\0')
		failed = json_object_set_new(obj, "note", json_string(req->note)) < 0;
	if (!failed && req->cmd == CHIME_CONTROL_HISTORY && req->limit > 0)
		failed = json_object_set_new(obj, "limit", json_integer(req->limit)) < 0;
	return dump_line_unref(obj, failed);
}

char *
chime_control_reply_ok(json_t *body)
{
	json_t *obj = json_pack("{s:b}", "ok", 1);

	return dump_line_unref(obj,
	                       obj == NULL || (body != NULL && json_object_update(obj, body) < 0));
}

char *
chime_control_reply_error(const char *fmt, ...)
{
	char message[1024];
	json_t *obj;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	obj = json_pack("{s:b, s:s}", "ok", 0, "error", message);
	if (obj == NULL) /* not UTF-8: say so rather than nothing */
		obj = json_pack("{s:b, s:s}", "ok", 0, "error", "invalid request");
	return dump_line_unref(obj, false);
}

int
chime_control_reply_parse(const char *line, size_t len, json_t **ret_reply, char *errbuf,
                          size_t errsize)
{
	json_error_t jerr;
	json_t *root;

	root = json_loadb(line, line_length(line, len), 0, &jerr);
	if (root == NULL)
		return chime_errbuf_set(errbuf, errsize, -EINVAL,
		                        "invalid JSON from the daemon: %s", jerr.text);
	if (!json_is_object(root) || !json_is_boolean(json_object_get(root, "ok"))) {
		json_decref(root);
		return chime_errbuf_set(errbuf, errsize, -EPROTO,
		                        "the daemon's reply has no 'ok' member");
	}
	*ret_reply = root;
	return 0;
}
