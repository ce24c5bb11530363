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

#include "macro.h"


static const char *const cmd_names[] = {
        [CHIME_CONTROL_STATUS] = "status",   [CHIME_CONTROL_LIST] = "list",
        [CHIME_CONTROL_HISTORY] = "history", [CHIME_CONTROL_TRIGGER] = "trigger",
        [CHIME_CONTROL_PAUSE] = "pause",     [CHIME_CONTROL_RESUME] = "resume",
        [CHIME_CONTROL_RELOAD] = "reload",
};

#define N_CMDS (sizeof(cmd_names) / sizeof(cmd_names[0]))

static void set_err(char *errbuf, size_t errsize, const char *fmt, ...) CHIME_PRINTF(3, 4);

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
