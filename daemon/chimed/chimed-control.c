/* SPDX-License-Identifier: MIT */
/*
 * chimed's control socket: a uv_pipe listener on `control_socket` (mode
 * 0660) speaking the line protocol of chime/control.h to chimectl. Status,
 * list, trigger and reload are answered on the loop; history, pause,
 * resume and the ledger part of list go to libuv's thread pool with a
 * small connection pool of their own, so the loop never blocks.
 *
 * At most CONTROL_MAX_CLIENTS connections; one command at a time per
 * connection (later lines wait in its buffer); a line longer than
 * CHIME_CONTROL_LINE_MAX is answered with an error and the connection
 * closed; garbage gets an error reply; a client that goes away while its
 * command is on a worker is forgotten when the work comes back; a client
 * idle for CONTROL_IDLE_MSEC or not reading its replies is dropped.
 *
 * The control plane cannot be starved, because `systemctl reload` goes
 * through it: a request must be complete (its newline read) within
 * CONTROL_REQUEST_MSEC of its first byte, and a connection arriving when
 * all slots are taken evicts the idlest client without a command in
 * progress rather than being refused. So neither slow writers nor idle
 * connections can keep chimectl out.
 *
 * A stale socket file of a crashed daemon (connect() refused) is replaced;
 * a live one means another chimed runs there, and this one refuses to
 * start. The ledger's view of the jobs (last status, last success, pause)
 * is the ledger service's (ledger-service.h), which the metrics read too;
 * `list` has it re-read first.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chimed.h"
#include "control.h"
#include "db.h"
#include "diag.h"
#include "ledger.h"
#include "log.h"
#include "node.h"
#include "queries.h"
#include "timespan.h"
#include "tz.h"

#define CONTROL_MAX_CLIENTS    16
#define CONTROL_BACKLOG        16
#define CONTROL_IDLE_MSEC      60000
#define CONTROL_REQUEST_MSEC   5000 /* from a request's first byte to its newline */
#define CONTROL_POOL_SIZE      2
#define CONTROL_TAKE_WAIT_USEC (INT64_C(5) * 1000000)
#define CONTROL_WRITE_MAX      (1024 * 1024) /* unread replies before a client is dropped */

struct control_client {
	uv_pipe_t pipe;
	uv_timer_t idle;
	struct chimed_control *ctl;
	char *buf; /* CHIME_CONTROL_LINE_MAX bytes */
	size_t len;
	bool busy;    /* a command is on a worker */
	bool reading; /* uv_read_start() is in effect */
	bool closing;
	bool discard;          /* after a too long line: read and drop until EOF */
	bool leaving;          /* its last reply is on the way, then it is closed */
	uint64_t line_started; /* loop ms of the pending partial request's first byte; 0 none */
	uint64_t last_active;  /* loop ms of the connection or its last complete request */
	uv_shutdown_t shutdown;
	int handles;   /* open handles: pipe and idle */
	unsigned refs; /* 1 while open + 1 per command on a worker */
	struct control_client *prev, *next;
};

struct chimed_control {
	struct chimed *d;
	uv_pipe_t server;
	char *path;                 /* bound by us: unlinked on close */
	struct chime_db_pool *pool; /* NULL without a database */
	atomic_bool schema_ready;
	bool closing;
	struct control_client *clients;
	size_t n_clients;
	int handles;         /* the server */
	size_t pending_work; /* uv_queue_work in flight */
};

enum control_work_kind {
	CW_HISTORY,
	CW_PAUSE,
	CW_RESUME,
};

struct control_work {
	uv_work_t req;
	struct chimed_control *ctl;
	struct control_client *client;
	enum control_work_kind kind;
	struct chime_control_request rq;
	char node[64];
	json_t *result;
	struct chime_ledger_pause pause; /* CW_PAUSE: the pause in force */
	int r;
	char err[512];
};

struct control_write {
	uv_write_t req;
	char *line;
	bool then_close;
};

static void client_process(struct control_client *c);

/* ---- Lifetime --------------------------------------------------------- */

static void
control_maybe_free(struct chimed_control *ctl)
{
	if (!ctl->closing || ctl->handles > 0 || ctl->pending_work > 0 || ctl->clients != NULL)
		return;
	ctl->pool = chime_db_pool_free(ctl->pool);
	free(ctl->path);
	free(ctl);
}

static void
client_unref(struct control_client *c)
{
	struct chimed_control *ctl = c->ctl;

	if (--c->refs > 0)
		return;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		ctl->clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c->buf);
	free(c);
	control_maybe_free(ctl);
}

static void
client_handle_closed(uv_handle_t *handle)
{
	struct control_client *c = handle->data;

	if (--c->handles == 0)
		client_unref(c);
}

static void
client_close(struct control_client *c)
{
	if (c->closing)
		return;
	c->closing = true;
	c->ctl->n_clients--;
	uv_close((uv_handle_t *)&c->pipe, client_handle_closed);
	uv_close((uv_handle_t *)&c->idle, client_handle_closed);
}

/* ---- Writing replies ---------------------------------------------------- */

static void
write_cb(uv_write_t *req, int status)
{
	struct control_write *w = req->data;
	struct control_client *c = req->handle->data;

	if ((status < 0 || w->then_close) && !c->closing)
		client_close(c);
	free(w->line);
	free(w);
}

/* Send `line` (owned; NULL: out of memory, the client is dropped). */
static void
client_send(struct control_client *c, char *line, bool then_close)
{
	struct control_write *w;
	uv_buf_t buf;

	if (c->closing) {
		free(line);
		return;
	}
	if (line == NULL || c->pipe.write_queue_size > CONTROL_WRITE_MAX) {
		free(line);
		client_close(c);
		return;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		free(line);
		client_close(c);
		return;
	}
	w->line = line;
	w->then_close = then_close;
	c->leaving |= then_close;
	w->req.data = w;
	buf = uv_buf_init(line, (unsigned)strlen(line));
	if (uv_write(&w->req, (uv_stream_t *)&c->pipe, &buf, 1, write_cb) < 0) {
		free(line);
		free(w);
		client_close(c);
	}
}

static void
reply_json(struct control_client *c, json_t *body)
{
	client_send(c, chime_control_reply_ok(body), false);
	json_decref(body);
}

/* ---- The ledger on a worker ------------------------------------------- */

static void
work_cb(uv_work_t *req)
{
	struct control_work *w = req->data;
	struct chimed_control *ctl = w->ctl;
	struct chime_db_conn *c = NULL;

	w->r = chime_db_pool_take(ctl->pool, CONTROL_TAKE_WAIT_USEC, &c, w->err, sizeof(w->err));
	if (w->r < 0)
		return;
	if (!atomic_load(&ctl->schema_ready)) {
		w->r = chime_ledger_migrate(c->pg, w->err, sizeof(w->err));
		if (w->r < 0)
			goto out;
		atomic_store(&ctl->schema_ready, true);
	}
	switch (w->kind) {
	case CW_HISTORY:
		w->r = chime_ledger_query_history(c->pg, w->rq.job, w->rq.limit, &w->result, w->err,
		                                  sizeof(w->err));
		break;
	case CW_PAUSE:
		w->r = chime_ledger_pause(c->pg, w->rq.job, w->node, w->rq.by, w->rq.note,
		                          &w->pause, w->err, sizeof(w->err));
		break;
	case CW_RESUME:
		w->r = chime_ledger_resume(c->pg, w->rq.job, w->err, sizeof(w->err));
		break;
	}
out:
	chime_db_pool_give(c, w->r == -ENOTCONN, NULL);
}

static void queue_refresh(struct chimed_control *ctl);

static const char *job_zone(const struct chime_job_config *job);

/* A job that is neither configured nor in the ledger is a mistake (a
 * typo), not an empty history; a removed job keeps its history. The
 * job's zone goes with the runs, so chimectl writes their times in it. */
static void
reply_history(struct control_client *c, struct control_work *w)
{
	const struct chime_job_config *job = chime_config_find_job(c->ctl->d->config, w->rq.job);
	json_t *body;

	if (w->r < 0) {
		client_send(c, chime_control_reply_error("history: %s", w->err), false);
		return;
	}
	if (job == NULL && json_array_size(w->result) == 0) {
		client_send(c,
		            chime_control_reply_error(
		                    "no job '%s' in the configuration or the ledger", w->rq.job),
		            false);
		return;
	}
	body = json_pack("{s:s, s:O}", "job", w->rq.job, "runs", w->result);
	if (body != NULL && job != NULL)
		json_object_set_new(body, "timezone", json_string(job_zone(job)));
	reply_json(c, body);
}

/* The pause in force: who and why, and whether this request made it (a
 * job paused already keeps its first reason). */
static void
reply_pause(struct control_client *c, struct control_work *w)
{
	const struct chime_ledger_pause *p = &w->pause;
	json_t *body;

	if (p->created)
		chime_log_notice("job '%s': paused from the control socket%s%s%s%s", w->rq.job,
		                 p->by[0] != '\0' ? " by " : "", p->by,
		                 p->note[0] != '\0' ? ": " : "", p->note);
	body = json_pack("{s:s, s:b, s:b, s:o, s:o, s:o}", "job", w->rq.job, "paused", 1,
	                 "already_paused", !p->created, "paused_at",
	                 chime_ledger_json_time(p->paused_usec), "paused_by",
	                 p->by[0] != '\0' ? json_string(p->by) : json_null(), "pause_note",
	                 p->note[0] != '\0' ? json_string(p->note) : json_null());
	reply_json(c, body);
}

static void
after_work_cb(uv_work_t *req, int status)
{
	struct control_work *w = req->data;
	struct chimed_control *ctl = w->ctl;
	struct control_client *c = w->client;

	ctl->pending_work--;
	if (c != NULL && !c->closing) {
		switch (w->kind) {
		case CW_HISTORY:
			reply_history(c, w);
			break;
		case CW_PAUSE:
		case CW_RESUME:
			if (w->r < 0) {
				client_send(c,
				            chime_control_reply_error(
				                    "%s: %s", chime_control_cmd_name(w->rq.cmd),
				                    w->err),
				            false);
				break;
			}
			if (w->kind == CW_PAUSE) {
				reply_pause(c, w);
			} else {
				chime_log_notice("job '%s': resumed from the control socket",
				                 w->rq.job);
				reply_json(c, json_pack("{s:s, s:b}", "job", w->rq.job, "paused",
				                        false));
			}
			queue_refresh(ctl);
			break;
		}
		c->busy = false;
	}
	json_decref(w->result);
	if (c != NULL) {
		if (!c->closing)
			client_process(c);
		client_unref(c);
	}
	free(w);
	control_maybe_free(ctl);
}

/* Queue `kind` for client `c`. Returns 0 or a negative errno (nothing
 * queued). */
static int
queue_work(struct chimed_control *ctl, struct control_client *c, enum control_work_kind kind,
           const struct chime_control_request *rq)
{
	struct control_work *w = calloc(1, sizeof(*w));
	int r;

	if (w == NULL)
		return -ENOMEM;
	w->ctl = ctl;
	w->client = c;
	w->kind = kind;
	if (rq != NULL)
		w->rq = *rq;
	snprintf(w->node, sizeof(w->node), "%s",
	         ctl->d->config->node != NULL ? ctl->d->config->node : "");
	w->req.data = w;
	r = uv_queue_work(ctl->d->loop, &w->req, work_cb, after_work_cb);
	if (r < 0) {
		free(w);
		return r;
	}
	ctl->pending_work++;
	if (c != NULL) {
		c->refs++;
		c->busy = true;
	}
	return 0;
}

/* The ledger service re-reads its view of the jobs (pause, resume, reload). */
static void
queue_refresh(struct chimed_control *ctl)
{
	if (ctl->d->ledger != NULL && !ctl->closing)
		(void)chime_ledger_service_refresh_jobs(ctl->d->ledger, NULL, NULL);
}

/* ---- Commands on the loop --------------------------------------------- */

static json_t *
json_local_time(int64_t utc_usec, const struct chime_tz *tz)
{
	char buf[64];

	if (utc_usec == CHIME_NEVER || chime_time_format(utc_usec, tz, buf, sizeof(buf)) < 0)
		return json_null();
	return json_string(buf);
}

static const char *
job_zone(const struct chime_job_config *job)
{
	const char *name = job->tz != NULL ? chime_tz_name(job->tz) : NULL;

	return name != NULL ? name : "UTC";
}

/* The paused jobs, as the ledger service last read them: who and why. */
static json_t *
status_paused(struct chimed *d)
{
	json_t *paused = json_array();

	for (size_t i = 0; paused != NULL && d->ledger != NULL && i < d->config->n_jobs; i++) {
		const struct chime_job_config *job = d->config->jobs[i];
		struct chime_ledger_job_state l;

		if (chime_ledger_service_job_state(d->ledger, job->name, &l) < 0 || !l.paused)
			continue;
		json_array_append_new(
		        paused,
		        json_pack("{s:s, s:s, s:o, s:o, s:o}", "job", job->name, "timezone",
		                  job_zone(job), "paused_at", chime_ledger_json_time(l.paused_usec),
		                  "paused_by",
		                  l.paused_by[0] != '\0' ? json_string(l.paused_by) : json_null(),
		                  "pause_note",
		                  l.pause_note[0] != '\0' ? json_string(l.pause_note)
		                                          : json_null()));
	}
	return paused;
}

static void
cmd_status(struct control_client *c)
{
	struct chimed *d = c->ctl->d;
	struct chime_runner_stats stats = {0};
	json_t *body, *next, *db;
	char dbtext[400];
	int up;

	next = json_array();
	for (size_t i = 0; next != NULL && i < d->config->n_jobs; i++) {
		const struct chime_job_config *job = d->config->jobs[i];
		struct chime_slot slot;
		int64_t fire;

		if (chime_schedule_job_next(d->schedule, job->name, &slot, &fire) < 0)
			continue;
		json_array_append_new(next, json_pack("{s:s, s:o, s:o}", "job", job->name, "slot",
		                                      json_local_time(slot.instant_usec, job->tz),
		                                      "fire", chime_ledger_json_time(fire)));
	}
	up = chimed_database_up(d);
	if (up < 0)
		db = json_pack("{s:s}", "state", "none");
	else {
		if (chimed_database_status(d, dbtext, sizeof(dbtext)) < 0)
			dbtext[0] = '\0';
		db = json_pack("{s:s, s:s}", "state",
		               up == 1                                    ? "up"
		               : strstr(dbtext, "database: down") != NULL ? "down"
		                                                          : "unknown",
		               "detail", dbtext);
	}
	chime_runner_stats(d->runner, &stats);
	body = json_pack(
	        "{s:s, s:s, s:s, s:I, s:I, s:o, s:s, s:b, s:o, s:I, s:I, s:o, "
	        "s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:s}",
	        "state", d->stopping ? "stopping" : "running", "version", CHIME_VERSION, "node",
	        d->config->node != NULL ? d->config->node : "", "pid", (json_int_t)getpid(),
	        "uptime_seconds",
	        (json_int_t)(((int64_t)(uv_hrtime() / 1000) - d->started_mono_usec) / 1000000),
	        "started_at", chime_ledger_json_time(d->started_wall_usec), "config",
	        d->config_path, "reload_failed", d->reload_failed, "database", db, "jobs",
	        (json_int_t)d->config->n_jobs, "runs_in_flight",
	        (json_int_t)chime_runner_running(d->runner), "next", next, "runs", "started",
	        (json_int_t)stats.started, "succeeded", (json_int_t)stats.succeeded, "failed",
	        (json_int_t)stats.failed, "timed_out", (json_int_t)stats.timed_out, "cancelled",
	        (json_int_t)stats.cancelled, "skipped", (json_int_t)stats.skipped, "missed",
	        (json_int_t)stats.missed, "status_line", d->status);
	if (body == NULL) {
		client_send(c, chime_control_reply_error("out of memory"), false);
		return;
	}
	json_object_set_new(body, "control_clients", json_integer((json_int_t)c->ctl->n_clients));
	json_object_set_new(body, "paused", status_paused(d));
	reply_json(c, body);
}

static void
reply_list(struct control_client *c, const char *ledger_error)
{
	struct chimed *d = c->ctl->d;
	json_t *jobs = json_array(), *body;

	for (size_t i = 0; jobs != NULL && i < d->config->n_jobs; i++) {
		const struct chime_job_config *job = d->config->jobs[i];
		struct chime_ledger_job_state l;
		bool known = d->ledger != NULL &&
		             chime_ledger_service_job_state(d->ledger, job->name, &l) == 0;
		struct chime_slot slot;
		int64_t fire;
		json_t *o;

		if (chime_schedule_job_next(d->schedule, job->name, &slot, &fire) < 0)
			slot.instant_usec = CHIME_NEVER;
		o = json_pack("{s:s, s:s, s:s, s:s, s:b, s:o}", "name", job->name, "plugin",
		              job->plugin_name != NULL ? job->plugin_name : "", "schedule",
		              job->schedule != NULL ? job->schedule : "", "timezone", job_zone(job),
		              "enabled", job->enabled, "next",
		              json_local_time(slot.instant_usec, job->tz));
		if (o == NULL)
			continue;
		if (!known) {
			json_object_set_new(o, "paused", json_null());
			json_object_set_new(o, "last_status", json_null());
			json_object_set_new(o, "last_finished_at", json_null());
			json_object_set_new(o, "last_success_at", json_null());
		} else {
			/* The JSON boundary: the status as text. */
			json_object_set_new(o, "paused", json_boolean(l.paused));
			json_object_set_new(o, "paused_at", chime_ledger_json_time(l.paused_usec));
			json_object_set_new(o, "paused_by",
			                    l.paused_by[0] != '\0' ? json_string(l.paused_by)
			                                           : json_null());
			json_object_set_new(o, "pause_note",
			                    l.pause_note[0] != '\0' ? json_string(l.pause_note)
			                                            : json_null());
			json_object_set_new(
			        o, "last_status",
			        l.has_last ? json_string(chime_run_status_name(l.last_status))
			                   : json_null());
			json_object_set_new(o, "last_finished_at",
			                    chime_ledger_json_time(l.last_finished_usec));
			json_object_set_new(o, "last_success_at",
			                    chime_ledger_json_time(l.last_success_usec));
		}
		json_array_append_new(jobs, o);
	}
	body = json_pack("{s:o}", "jobs", jobs);
	if (body != NULL && ledger_error != NULL)
		json_object_set_new(body, "ledger_error", json_string(ledger_error));
	if (body != NULL && c->ctl->pool == NULL)
		json_object_set_new(body, "ledger_error", json_string("no database configured"));
	reply_json(c, body);
}

static const struct chime_job_config *
find_job(struct control_client *c, const char *name)
{
	const struct chime_job_config *job = chime_config_find_job(c->ctl->d->config, name);

	if (job == NULL)
		client_send(c, chime_control_reply_error("no job '%s' in the configuration", name),
		            false);
	return job;
}

static void
cmd_trigger(struct control_client *c, const struct chime_control_request *rq)
{
	struct chimed *d = c->ctl->d;
	const struct chime_job_config *job = find_job(c, rq->job);
	int r;

	if (job == NULL)
		return;
	if (!job->enabled) {
		client_send(c, chime_control_reply_error("job '%s' is disabled", job->name), false);
		return;
	}
	r = chime_runner_trigger(d->runner, d->config, job);
	if (r == -EBUSY) {
		client_send(c,
		            chime_control_reply_error("job '%s' has a run in progress on this node",
		                                      job->name),
		            false);
		return;
	}
	if (r == -ESHUTDOWN) {
		client_send(c, chime_control_reply_error("the daemon is stopping"), false);
		return;
	}
	if (r < 0) {
		client_send(c, chime_control_reply_error("cannot trigger: %s", strerror(-r)),
		            false);
		return;
	}
	chime_log_notice("job '%s': triggered from the control socket", job->name);
	reply_json(c, json_pack("{s:s, s:b}", "job", job->name, "triggered", 1));
}

static void
copy_diags(json_t *out, const struct chime_diag_list *diags)
{
	char line[2048];

	for (size_t i = 0; i < diags->count; i++) {
		chime_diag_format(&diags->items[i], line, sizeof(line));
		json_array_append_new(out, json_string(line));
	}
}

static void
cmd_reload(struct control_client *c)
{
	struct chimed *d = c->ctl->d;
	struct chime_diag_list diags;
	json_t *list, *body;

	if (d->stopping) {
		client_send(c, chime_control_reply_error("the daemon is stopping"), false);
		return;
	}
	chime_log_info("reload requested on the control socket");
	chime_diag_list_init(&diags);
	d->reload_diags = &diags;
	chimed_reload(d);
	d->reload_diags = NULL;
	list = json_array();
	if (list != NULL)
		copy_diags(list, &diags);
	if (d->reload_failed)
		body = json_pack("{s:b, s:s, s:o}", "ok", 0, "error",
		                 "reload failed: the configuration is invalid; the running one is "
		                 "kept",
		                 "diagnostics", list);
	else
		body = json_pack("{s:b, s:I, s:o}", "reloaded", 1, "jobs",
		                 (json_int_t)d->config->n_jobs, "diagnostics", list);
	chime_diag_list_done(&diags);
	reply_json(c, body);
	queue_refresh(c->ctl);
}

/* `list`: the ledger service re-reads its view of the jobs, then the
 * reply is made from it (with the reason when the read failed). */
static void
list_refreshed_cb(int r, const char *error, void *userdata)
{
	struct control_client *c = userdata;
	struct chimed_control *ctl = c->ctl;

	ctl->pending_work--;
	if (!c->closing) {
		reply_list(c, r < 0 ? error : NULL);
		c->busy = false;
		client_process(c);
	}
	client_unref(c);
	control_maybe_free(ctl);
}

static int
list_refresh(struct control_client *c)
{
	int r = chime_ledger_service_refresh_jobs(c->ctl->d->ledger, list_refreshed_cb, c);

	if (r < 0)
		return r;
	c->ctl->pending_work++;
	c->refs++;
	c->busy = true;
	return 0;
}

static void
client_handle_line(struct control_client *c, const char *line, size_t len)
{
	struct chimed_control *ctl = c->ctl;
	struct chime_control_request rq;
	char err[256];
	int r;

	if (chime_control_request_parse(line, len, &rq, err, sizeof(err)) < 0) {
		client_send(c, chime_control_reply_error("%s", err), false);
		return;
	}
	switch (rq.cmd) {
	case CHIME_CONTROL_STATUS:
		cmd_status(c);
		return;
	case CHIME_CONTROL_LIST:
		if (ctl->d->ledger == NULL || list_refresh(c) < 0)
			reply_list(c, NULL);
		return;
	case CHIME_CONTROL_TRIGGER:
		cmd_trigger(c, &rq);
		return;
	case CHIME_CONTROL_RELOAD:
		cmd_reload(c);
		return;
	case CHIME_CONTROL_HISTORY:
	case CHIME_CONTROL_PAUSE:
	case CHIME_CONTROL_RESUME:
		break;
	}
	if (rq.cmd != CHIME_CONTROL_HISTORY && find_job(c, rq.job) == NULL)
		return;
	if (ctl->pool == NULL) {
		client_send(c,
		            chime_control_reply_error("%s needs the ledger: no 'database:' section",
		                                      chime_control_cmd_name(rq.cmd)),
		            false);
		return;
	}
	r = queue_work(ctl, c,
	               rq.cmd == CHIME_CONTROL_HISTORY ? CW_HISTORY
	               : rq.cmd == CHIME_CONTROL_PAUSE ? CW_PAUSE
	                                               : CW_RESUME,
	               &rq);
	if (r < 0)
		client_send(c, chime_control_reply_error("cannot queue: %s", strerror(-r)), false);
}

/* ---- Reading requests --------------------------------------------------- */

static void
alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct control_client *c = handle->data;

	if (c->discard)
		c->len = 0;
	buf->base = c->buf + c->len;
	buf->len = CHIME_CONTROL_LINE_MAX - c->len;
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void idle_cb(uv_timer_t *timer);

/* The client's one timer: the deadline of a partial request, counted from
 * its first byte (later bytes do not extend it), else the idle limit. */
static void
client_arm(struct control_client *c)
{
	uint64_t now = uv_now(c->ctl->d->loop);

	if (c->len > 0 && !c->busy) {
		if (c->line_started == 0) {
			c->line_started = now;
			uv_timer_start(&c->idle, idle_cb, CONTROL_REQUEST_MSEC, 0);
		}
	} else {
		c->line_started = 0;
		uv_timer_start(&c->idle, idle_cb,
		               c->busy ? CONTROL_REQUEST_MSEC : CONTROL_IDLE_MSEC, 0);
	}
}

static void
client_process(struct control_client *c)
{
	char *nl;

	while (!c->busy && !c->closing) {
		size_t n;

		nl = memchr(c->buf, '\n', c->len);
		if (nl == NULL)
			break;
		n = (size_t)(nl - c->buf) + 1;
		c->line_started = 0;
		c->last_active = uv_now(c->ctl->d->loop);
		client_handle_line(c, c->buf, n - 1);
		memmove(c->buf, c->buf + n, c->len - n);
		c->len -= n;
	}
	if (c->closing)
		return;
	if (c->len == CHIME_CONTROL_LINE_MAX && memchr(c->buf, '\n', c->len) == NULL) {
		/* Answer, then end our side; the rest of the line is read
		 * and dropped (closing with unread data would reset the
		 * connection before the client reads the reply). */
		client_send(c,
		            chime_control_reply_error("request line longer than %d bytes",
		                                      CHIME_CONTROL_LINE_MAX),
		            false);
		c->discard = true;
		c->len = 0;
		if (!c->closing && uv_shutdown(&c->shutdown, (uv_stream_t *)&c->pipe, NULL) < 0)
			client_close(c);
		else if (!c->closing)
			uv_timer_start(&c->idle, idle_cb, 5000, 0);
		return;
	}
	/* Stop reading while the buffer is full behind a busy command. */
	if (c->len == CHIME_CONTROL_LINE_MAX && c->reading) {
		uv_read_stop((uv_stream_t *)&c->pipe);
		c->reading = false;
	} else if (c->len < CHIME_CONTROL_LINE_MAX && !c->reading) {
		if (uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, read_cb) == 0)
			c->reading = true;
	}
	client_arm(c);
}

static void
read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct control_client *c = stream->data;

	if (nread < 0) {
		/* EOF or error: a command on a worker is forgotten on return. */
		client_close(c);
		return;
	}
	if (nread == 0 || c->discard)
		return;
	c->len += (size_t)nread;
	client_process(c);
}

static void
idle_cb(uv_timer_t *timer)
{
	struct control_client *c = timer->data;

	if (c->busy) {
		/* A command on a worker: look again when it may be done. */
		uv_timer_start(&c->idle, idle_cb, CONTROL_REQUEST_MSEC, 0);
	} else if (c->len > 0 && !c->discard) {
		client_send(c,
		            chime_control_reply_error("incomplete request: no newline within %d ms",
		                                      CONTROL_REQUEST_MSEC),
		            true);
	} else {
		client_close(c);
	}
}

/* A full table: the idlest client without a command in progress makes
 * room (it was connected, or slow, the longest); NULL when all are busy. */
static struct control_client *
evict_candidate(struct chimed_control *ctl, const struct control_client *newcomer)
{
	struct control_client *best = NULL;

	for (struct control_client *c = ctl->clients; c != NULL; c = c->next) {
		if (c == newcomer || c->closing || c->leaving || c->busy)
			continue;
		/* The list is newest first: on a tie (one loop iteration) the
		 * oldest connection goes. */
		if (best == NULL || c->last_active <= best->last_active)
			best = c;
	}
	return best;
}

static void
connection_cb(uv_stream_t *server, int status)
{
	struct chimed_control *ctl = server->data;
	struct control_client *c;

	if (status < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (c != NULL)
		c->buf = malloc(CHIME_CONTROL_LINE_MAX);
	if (c == NULL || c->buf == NULL || uv_pipe_init(ctl->d->loop, &c->pipe, 0) < 0) {
		/* Accept into a throwaway handle is not possible: leave it in
		 * the backlog; the next accept will take it. */
		if (c != NULL)
			free(c->buf);
		free(c);
		return;
	}
	c->ctl = ctl;
	c->refs = 1;
	c->handles = 2;
	c->pipe.data = c;
	uv_timer_init(ctl->d->loop, &c->idle);
	c->idle.data = c;
	c->next = ctl->clients;
	if (ctl->clients != NULL)
		ctl->clients->prev = c;
	ctl->clients = c;
	ctl->n_clients++;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0) {
		client_close(c);
		return;
	}
	c->last_active = uv_now(ctl->d->loop);
	if (ctl->n_clients > CONTROL_MAX_CLIENTS) {
		struct control_client *victim = evict_candidate(ctl, c);

		if (victim == NULL) {
			client_send(c,
			            chime_control_reply_error(
			                    "too many control connections (at most %d), all busy",
			                    CONTROL_MAX_CLIENTS),
			            true);
			return;
		}
		client_send(victim,
		            chime_control_reply_error("closed to make room for a new connection "
		                                      "(at most %d; this one was the idlest)",
		                                      CONTROL_MAX_CLIENTS),
		            true);
	}
	client_process(c);
}

/* ---- Start and stop ------------------------------------------------------ */

/*
 * Is someone answering on `path`? 1 yes, 0 no (a stale socket file was
 * removed, or nothing is there), negative errno when the path is not
 * usable (logged).
 */
static int
probe_existing(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		chime_log_error("control socket '%s' exists and is not a socket, not touching it",
		                path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (r == 0 || errno == EAGAIN || errno == EINPROGRESS) {
		close(fd);
		return 1;
	}
	r = -errno;
	close(fd);
	if (r == -ECONNREFUSED) {
		chime_log_notice("removing the stale control socket '%s' (no daemon answers on it)",
		                 path);
		if (unlink(path) < 0 && errno != ENOENT)
			return -errno;
		return 0;
	}
	return r;
}

static void
control_handle_closed(uv_handle_t *handle)
{
	struct chimed_control *ctl = handle->data;

	ctl->handles--;
	control_maybe_free(ctl);
}

int
chimed_control_start(struct chimed *d)
{
	const char *path = d->config->control_socket;
	struct chimed_control *ctl;
	mode_t old_mask;
	int r;

	if (path == NULL) {
		chime_log_info("control socket off (control_socket: \"\")");
		return 0;
	}
	if (strlen(path) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
		chime_log_error("control socket path '%s' is too long, running without it", path);
		return 0;
	}
	r = probe_existing(path);
	if (r == 1) {
		chime_log_error("another chimed is running on %s", path);
		return -EADDRINUSE;
	}
	if (r < 0) {
		chime_log_error("control socket '%s': %s, running without it", path, strerror(-r));
		return 0;
	}
	ctl = calloc(1, sizeof(*ctl));
	if (ctl == NULL)
		return -ENOMEM;
	ctl->d = d;
	uv_pipe_init(d->loop, &ctl->server, 0);
	ctl->server.data = ctl;
	ctl->handles = 1;
	d->control = ctl;

	/* 0660 from the start: no window where the socket is wider open. */
	old_mask = umask(0117);
	r = uv_pipe_bind(&ctl->server, path);
	umask(old_mask);
	if (r == 0) {
		ctl->path = strdup(path);
		(void)chmod(path, 0660);
		r = uv_listen((uv_stream_t *)&ctl->server, CONTROL_BACKLOG, connection_cb);
	}
	if (r < 0) {
		chime_log_error("control socket '%s': %s, running without it", path,
		                uv_strerror(r));
		chimed_control_close(d);
		return r == UV_EADDRINUSE ? -EADDRINUSE : 0;
	}
	if (d->config->n_trees > 0 && chime_node_get(d->config->trees[0], "database") != NULL &&
	    chime_db_pool_new(&d->config->database, CONTROL_POOL_SIZE, &ctl->pool) < 0)
		chime_log_warning("control socket: no connection pool, the ledger commands fail");
	chime_log_info("control socket listening on %s", path);
	return 0;
}

void
chimed_control_close(struct chimed *d)
{
	struct chimed_control *ctl = d->control;
	struct control_client *c, *next;

	if (ctl == NULL)
		return;
	d->control = NULL;
	ctl->closing = true;
	for (c = ctl->clients; c != NULL; c = next) {
		next = c->next;
		client_close(c);
	}
	if (ctl->path != NULL)
		(void)unlink(ctl->path);
	uv_close((uv_handle_t *)&ctl->server, control_handle_closed);
}
