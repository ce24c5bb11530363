/* SPDX-License-Identifier: MIT */
/*
 * The control socket protocol between chimed and chimectl: one JSON
 * object per line each way over a unix stream socket.
 *
 *   request:  {"cmd":"status"}  {"cmd":"history","job":"payouts","limit":20}
 *             {"cmd":"pause","job":"payouts","by":"alice","note":"deploy freeze"}
 *   reply:    {"ok":true,...}   {"ok":false,"error":"no job 'x'"}
 *
 * Commands: status, list, history JOB [limit], trigger JOB, pause JOB,
 * resume JOB, reload. A request line is at most CHIME_CONTROL_LINE_MAX
 * bytes including its newline; the daemon answers a longer one with an
 * error and closes the connection. Every reply is one line.
 *
 * JSON is built and parsed with jansson, never by hand. Everything here
 * is pure (no logging, no globals, no I/O); the ledger queries that fill
 * the replies are in lib/ledger/queries.h.
 */
#ifndef CHIME_CONTROL_H
#define CHIME_CONTROL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define CHIME_CONTROL_DEFAULT_SOCKET  "/run/chime/control.sock"
#define CHIME_CONTROL_LINE_MAX        (64 * 1024)
#define CHIME_CONTROL_HISTORY_DEFAULT 20
#define CHIME_CONTROL_HISTORY_MAX     1000
#define CHIME_CONTROL_JOB_MAX         255 /* bytes of a job name in a request */
#define CHIME_CONTROL_BY_MAX          127 /* bytes of a pause's "by" (who) */
#define CHIME_CONTROL_NOTE_MAX        500 /* bytes of a pause's "note" (why) */

enum chime_control_cmd {
	CHIME_CONTROL_STATUS,
	CHIME_CONTROL_LIST,
	CHIME_CONTROL_HISTORY,
	CHIME_CONTROL_TRIGGER,
	CHIME_CONTROL_PAUSE,
	CHIME_CONTROL_RESUME,
	CHIME_CONTROL_RELOAD,
};

struct chime_control_request {
	enum chime_control_cmd cmd;
	char job[CHIME_CONTROL_JOB_MAX + 1];   /* "" for commands without a job */
	int limit;                             /* history: 1..CHIME_CONTROL_HISTORY_MAX */
	char by[CHIME_CONTROL_BY_MAX + 1];     /* pause: who asked; "" unknown */
	char note[CHIME_CONTROL_NOTE_MAX + 1]; /* pause: why; "" none */
};

/* "status", "list", ...; NULL for an unknown value. */
const char *chime_control_cmd_name(enum chime_control_cmd cmd);
/* 0 and *ret_cmd, or -EINVAL for an unknown name. */
int chime_control_cmd_parse(const char *name, enum chime_control_cmd *ret_cmd);
/* True for history, trigger, pause and resume. */
int chime_control_cmd_needs_job(enum chime_control_cmd cmd);

/*
 * Parse one request line of `len` bytes (a trailing newline is allowed).
 * Returns 0 and fills *ret_req, or -EINVAL with a one-line reason in
 * `errbuf` ("invalid JSON at column 3: ...", "unknown command 'x'",
 * "'history' needs a job", ...); *ret_req is untouched on failure.
 */
int chime_control_request_parse(const char *line, size_t len, struct chime_control_request *ret_req,
                                char *errbuf, size_t errsize);

/* `req` as one request line ending in "\n", a new string (free()), or NULL
 * on OOM. */
char *chime_control_request_format(const struct chime_control_request *req);

/*
 * A reply line ending in "\n" from `body` (a JSON object, borrowed; NULL
 * for an empty one) with "ok": true added unless it has "ok" already. A
 * new string (free()), or NULL on OOM.
 */
char *chime_control_reply_ok(json_t *body);
/* {"ok":false,"error":MESSAGE}\n, a new string, or NULL on OOM. */
char *chime_control_reply_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Parse a reply line. Returns 0 and a new reference to the object in
 * *ret_reply (its "ok" member is a boolean), or -EINVAL / -EPROTO with the
 * reason in `errbuf`.
 */
int chime_control_reply_parse(const char *line, size_t len, json_t **ret_reply, char *errbuf,
                              size_t errsize);

#endif
