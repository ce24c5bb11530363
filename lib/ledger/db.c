/* SPDX-License-Identifier: MIT */
/*
 * libpq connections and the connection pool: connect with the configured
 * conninfo plus our fixed settings, read `password_file` at connect time,
 * keep a health state with reconnect backoff, and hand connections to
 * worker threads one at a time. Everything here may block and runs off the
 * loop; nothing here logs.
 */
#include "db.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "chime-sql-ledger.h"
#include "clock.h"
#include "config.h"
#include "mem.h"
#include "pgutil.h"

/*
 * The health and the connect backoff, shared by the pools that talk to
 * one server (chime_db_pool_share_health()): the ledger's pool and the
 * run pool see one outage, one backoff and one reason. Lock order: a
 * pool's lock, then this one's.
 */
struct db_health_share {
	pthread_mutex_t lock;
	atomic_int refs;
	struct chime_db_health health;
	int64_t backoff_usec;       /* the wait after the next failed connect */
	int64_t next_try_mono_usec; /* no connect before this (0: at once) */
	chime_db_health_fn cb;
	void *userdata;
};

struct chime_db_pool {
	pthread_mutex_t lock;
	pthread_cond_t freed;
	char *conninfo;
	char *password_file;
	int64_t connect_timeout_usec;
	int size;
	struct chime_db_conn *conns;
	struct db_health_share *hs;
	/* Connects in progress. While the server is up any number may run
	 * (twenty runs due at once after a restart each open theirs);
	 * otherwise one at a time, the others wait for its outcome. */
	int connecting;
};

static void
db_errcpy(char *errbuf, size_t errsize, const char *msg)
{
	size_t n;

	if (errbuf == NULL || errsize == 0)
		return;
	if (msg == NULL)
		msg = "unknown error";
	n = strcspn(msg, "\n");
	if (n >= errsize)
		n = errsize - 1;
	memcpy(errbuf, msg, n);
	errbuf[n] = '\0';
}

static int
db_read_password(const char *path, char **ret_password, char *errbuf, size_t errsize)
{
	char line[1024];
	FILE *f;
	size_t n;
	int r;

	f = fopen(path, "re");
	if (f == NULL) {
		r = -errno;
		snprintf(errbuf, errsize, "cannot read password_file '%s': %s", path, strerror(-r));
		return r;
	}
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	(void)fclose(f);
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	*ret_password = strdup(line);
	explicit_bzero(line, sizeof(line));
	return *ret_password == NULL ? -ENOMEM : 0;
}

static void
db_drop_notice(void *userdata, const char *message)
{
}

static int
db_connect_params(const char *conninfo, const char *password_file, int64_t timeout_usec,
                  PGconn **ret_conn, char *errbuf, size_t errsize)
{
	const char *keys[13], *vals[13];
	char timeout[32];
	char *password = NULL;
	PGconn *conn;
	size_t i = 0;
	int r;

	if (password_file != NULL && password_file[0] != '\0') {
		r = db_read_password(password_file, &password, errbuf, errsize);
		if (r < 0)
			return r;
	}
	if (timeout_usec <= 0)
		timeout_usec = INT64_C(10) * 1000000;
	snprintf(timeout, sizeof(timeout), "%" PRId64, (timeout_usec + 999999) / 1000000);

	/* Entries before the expanded dbname may be overridden by the
	 * conninfo; the password after it overrides the conninfo's. */
	keys[i] = "application_name", vals[i++] = "chimed";
	keys[i] = "keepalives", vals[i++] = "1";
	keys[i] = "keepalives_idle", vals[i++] = "10";
	keys[i] = "keepalives_interval", vals[i++] = "5";
	keys[i] = "keepalives_count", vals[i++] = "3";
	/* Data unacknowledged for 30 s (a black-holed network, a host
	 * gone) ends the connection; a stopped backend on a live host
	 * still acknowledges, which the run's timeout plus grace handles. */
	keys[i] = "tcp_user_timeout", vals[i++] = "30000";
	keys[i] = "connect_timeout", vals[i++] = timeout;
	keys[i] = "dbname", vals[i++] = conninfo != NULL ? conninfo : "";
	if (password != NULL)
		keys[i] = "password", vals[i++] = password;
	keys[i] = NULL, vals[i] = NULL;

	conn = PQconnectdbParams(keys, vals, 1);
	if (password != NULL) {
		explicit_bzero(password, strlen(password));
		free(password);
	}
	if (conn == NULL) {
		db_errcpy(errbuf, errsize, "out of memory");
		return -ENOMEM;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		db_errcpy(errbuf, errsize, PQerrorMessage(conn));
		PQfinish(conn);
		return -ECONNREFUSED;
	}
	/* Server NOTICEs ("... does not exist, skipping") are not ours to
	 * print on stderr; errors come back with their results. */
	PQsetNoticeProcessor(conn, db_drop_notice, NULL);
	*ret_conn = conn;
	return 0;
}

int
chime_db_connect(const struct chime_database_config *cfg, PGconn **ret_conn, char *errbuf,
                 size_t errsize)
{
	return db_connect_params(cfg->conninfo, cfg->password_file, cfg->connect_timeout_usec,
	                         ret_conn, errbuf, errsize);
}

int
chime_db_cancel(PGcancel *cancel, char *errbuf, size_t errsize)
{
	char buf[256];

	if (cancel == NULL)
		return -EINVAL;
	if (PQcancel(cancel, buf, sizeof(buf)) == 0) {
		db_errcpy(errbuf, errsize, buf);
		return -EIO;
	}
	return 0;
}

int
chime_db_set_statement_timeout(PGconn *conn, int64_t usec, char *errbuf, size_t errsize)
{
	char sql[64];
	PGresult *res;
	int r;

	snprintf(sql, sizeof(sql), "SET statement_timeout = %" PRId64,
	         usec <= 0 ? 0 : (usec + 999) / 1000);
	res = PQexec(conn, sql);
	r = chime__sql_result_errno(conn, res, errbuf, errsize);
	PQclear(res);
	return r;
}

/* ---- The pool ------------------------------------------------------- */

static struct db_health_share *
share_new(void)
{
	struct db_health_share *hs = calloc(1, sizeof(*hs));

	if (hs == NULL)
		return NULL;
	pthread_mutex_init(&hs->lock, NULL);
	atomic_init(&hs->refs, 1);
	hs->backoff_usec = CHIME_DB_BACKOFF_MIN_USEC;
	hs->health.state = CHIME_DB_UNKNOWN;
	hs->health.since_wall_usec = chime_clock_wall_usec();
	return hs;
}

static void
share_unref(struct db_health_share *hs)
{
	if (hs == NULL || atomic_fetch_sub(&hs->refs, 1) > 1)
		return;
	pthread_mutex_destroy(&hs->lock);
	free(hs);
}

int
chime_db_pool_new(const struct chime_database_config *cfg, int size,
                  struct chime_db_pool **ret_pool)
{
	struct chime_db_pool *pool;

	if (size < 1)
		return -EINVAL;
	pool = calloc(1, sizeof(*pool));
	if (pool == NULL)
		return -ENOMEM;
	pool->conns = calloc((size_t)size, sizeof(*pool->conns));
	pool->conninfo = strdup(cfg->conninfo != NULL ? cfg->conninfo : "");
	if (cfg->password_file != NULL)
		pool->password_file = strdup(cfg->password_file);
	pool->hs = share_new();
	if (pool->conns == NULL || pool->conninfo == NULL || pool->hs == NULL ||
	    (cfg->password_file != NULL && pool->password_file == NULL)) {
		share_unref(pool->hs);
		chime_free_many(pool->conns, pool->conninfo, pool->password_file, pool);
		return -ENOMEM;
	}
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->freed, NULL);
	pool->size = size;
	pool->connect_timeout_usec = cfg->connect_timeout_usec;
	for (int i = 0; i < size; i++)
		pool->conns[i].pool = pool;
	*ret_pool = pool;
	return 0;
}

void
chime_db_pool_share_health(struct chime_db_pool *pool, struct chime_db_pool *with)
{
	atomic_fetch_add(&with->hs->refs, 1);
	share_unref(pool->hs);
	pool->hs = with->hs;
}

static void
db_conn_close(struct chime_db_conn *c)
{
	if (c->cancel != NULL)
		PQfreeCancel(c->cancel);
	if (c->pg != NULL)
		PQfinish(c->pg);
	c->cancel = NULL;
	c->pg = NULL;
}

struct chime_db_pool *
chime_db_pool_free(struct chime_db_pool *pool)
{
	if (pool == NULL)
		return NULL;
	for (int i = 0; i < pool->size; i++)
		db_conn_close(&pool->conns[i]);
	share_unref(pool->hs);
	pthread_cond_destroy(&pool->freed);
	pthread_mutex_destroy(&pool->lock);
	chime_free_many(pool->conns, pool->conninfo, pool->password_file, pool);
	return NULL;
}

void
chime_db_pool_set_health_cb(struct chime_db_pool *pool, chime_db_health_fn cb, void *userdata)
{
	pthread_mutex_lock(&pool->hs->lock);
	pool->hs->cb = cb;
	pool->hs->userdata = userdata;
	pthread_mutex_unlock(&pool->hs->lock);
}

/*
 * What happened to the health: `connected` (a connect succeeded), a failed
 * connect (`attempt`), or a broken connection handed back. Only a failed
 * connect grows the backoff: the connections a restart breaks come back
 * one by one, and each broken one must not push the next attempt further
 * out. After a break the next take() connects at once. Returns true when
 * the callback must run with the snapshot in *snap: on a change of state,
 * and on a new reason while down, so what the daemon shows is the latest
 * error, not the first.
 */
static bool
db_set_state(struct db_health_share *hs, enum chime_db_state state, bool attempt,
             const char *reason, struct chime_db_health *snap)
{
	bool changed, notify;
	char old[sizeof(hs->health.reason)];

	pthread_mutex_lock(&hs->lock);
	changed = hs->health.state != state;
	memcpy(old, hs->health.reason, sizeof(old));
	if (state == CHIME_DB_DOWN) {
		db_errcpy(hs->health.reason, sizeof(hs->health.reason), reason);
		if (attempt) {
			hs->next_try_mono_usec = chime_clock_mono_usec() + hs->backoff_usec;
			hs->health.next_try_wall_usec = chime_clock_wall_usec() + hs->backoff_usec;
			hs->backoff_usec *= 2;
			if (hs->backoff_usec > CHIME_DB_BACKOFF_MAX_USEC)
				hs->backoff_usec = CHIME_DB_BACKOFF_MAX_USEC;
		} else if (changed) {
			hs->next_try_mono_usec = 0;
			hs->health.next_try_wall_usec = chime_clock_wall_usec();
		}
	} else {
		hs->health.reason[0] = '\0';
		hs->backoff_usec = CHIME_DB_BACKOFF_MIN_USEC;
		hs->next_try_mono_usec = 0;
		hs->health.next_try_wall_usec = 0;
	}
	if (changed) {
		hs->health.state = state;
		hs->health.since_wall_usec = chime_clock_wall_usec();
	}
	notify = hs->cb != NULL &&
	         (changed || (state == CHIME_DB_DOWN && strcmp(old, hs->health.reason) != 0));
	*snap = hs->health;
	pthread_mutex_unlock(&hs->lock);
	return notify;
}

static void
db_notify(struct chime_db_pool *pool, bool notify, const struct chime_db_health *snap)
{
	chime_db_health_fn cb;
	void *userdata;

	if (!notify)
		return;
	pthread_mutex_lock(&pool->hs->lock);
	cb = pool->hs->cb;
	userdata = pool->hs->userdata;
	pthread_mutex_unlock(&pool->hs->lock);
	if (cb != NULL)
		cb(snap, userdata);
}

static bool
db_up(struct chime_db_pool *pool)
{
	bool up;

	pthread_mutex_lock(&pool->hs->lock);
	up = pool->hs->health.state == CHIME_DB_UP;
	pthread_mutex_unlock(&pool->hs->lock);
	return up;
}

/* Down and within the backoff of the last failed connect: the reason in
 * errbuf. */
static bool
db_backing_off(struct chime_db_pool *pool, char *errbuf, size_t errsize)
{
	struct db_health_share *hs = pool->hs;
	bool wait;

	pthread_mutex_lock(&hs->lock);
	wait = hs->health.state == CHIME_DB_DOWN &&
	       chime_clock_mono_usec() < hs->next_try_mono_usec;
	if (wait)
		db_errcpy(errbuf, errsize, hs->health.reason);
	pthread_mutex_unlock(&hs->lock);
	return wait;
}

/* An idle connection has nothing to say: input on it is the server's
 * goodbye (shutdown, terminate) or EOF, so it is dead. */
static bool
db_conn_alive(PGconn *pg)
{
	struct pollfd p = {.fd = PQsocket(pg), .events = POLLIN};

	if (PQstatus(pg) != CONNECTION_OK || p.fd < 0)
		return false;
	return poll(&p, 1, 0) == 0;
}

/* Connect `c` (lock not held; the caller marked the pool `connecting`). */
static int
db_pool_connect(struct chime_db_pool *pool, struct chime_db_conn *c, char *errbuf, size_t errsize)
{
	struct chime_db_health snap;
	char reason[256];
	PGconn *pg = NULL;
	bool notify;
	int r;

	r = db_connect_params(pool->conninfo, pool->password_file, pool->connect_timeout_usec, &pg,
	                      reason, sizeof(reason));
	pthread_mutex_lock(&pool->lock);
	pool->connecting--;
	if (r < 0) {
		notify = db_set_state(pool->hs, CHIME_DB_DOWN, true, reason, &snap);
		db_errcpy(errbuf, errsize, reason);
	} else {
		c->pg = pg;
		c->cancel = PQgetCancel(pg);
		notify = db_set_state(pool->hs, CHIME_DB_UP, false, NULL, &snap);
	}
	pthread_cond_broadcast(&pool->freed);
	pthread_mutex_unlock(&pool->lock);
	db_notify(pool, notify, &snap);
	return r;
}

int
chime_db_pool_take(struct chime_db_pool *pool, int64_t wait_usec, struct chime_db_conn **ret_conn,
                   char *errbuf, size_t errsize)
{
	int64_t deadline = chime_clock_wall_usec() + (wait_usec > 0 ? wait_usec : 0);
	struct chime_db_conn *c;
	struct timespec ts;
	int r;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		struct chime_db_conn *empty = NULL;

		c = NULL;
		for (int i = 0; i < pool->size; i++) {
			if (pool->conns[i].busy)
				continue;
			if (pool->conns[i].pg != NULL) {
				c = &pool->conns[i];
				break;
			}
			if (empty == NULL)
				empty = &pool->conns[i];
		}
		if (c != NULL) {
			c->busy = true;
			pthread_mutex_unlock(&pool->lock);
			if (db_conn_alive(c->pg)) {
				*ret_conn = c;
				return 0;
			}
			/* Died while idle (a server restart): reconnect it
			 * at once, whatever the backoff says. */
			db_conn_close(c);
			pthread_mutex_lock(&pool->lock);
			pool->connecting++;
			pthread_mutex_unlock(&pool->lock);
			r = db_pool_connect(pool, c, errbuf, errsize);
			if (r < 0) {
				pthread_mutex_lock(&pool->lock);
				c->busy = false;
				pthread_mutex_unlock(&pool->lock);
				return -ENOTCONN;
			}
			*ret_conn = c;
			return 0;
		}
		if (empty != NULL && (pool->connecting == 0 || db_up(pool))) {
			if (db_backing_off(pool, errbuf, errsize)) {
				pthread_mutex_unlock(&pool->lock);
				return -ENOTCONN;
			}
			empty->busy = true;
			pool->connecting++;
			pthread_mutex_unlock(&pool->lock);
			r = db_pool_connect(pool, empty, errbuf, errsize);
			if (r < 0) {
				pthread_mutex_lock(&pool->lock);
				empty->busy = false;
				pthread_mutex_unlock(&pool->lock);
				return -ENOTCONN;
			}
			*ret_conn = empty;
			return 0;
		}
		if (wait_usec <= 0 || chime_clock_wall_usec() >= deadline) {
			db_errcpy(errbuf, errsize, "every database connection is in use");
			pthread_mutex_unlock(&pool->lock);
			return -ETIME;
		}
		ts.tv_sec = deadline / 1000000;
		ts.tv_nsec = (deadline % 1000000) * 1000;
		(void)pthread_cond_timedwait(&pool->freed, &pool->lock, &ts);
	}
}

struct chime_db_conn *
chime_db_pool_give(struct chime_db_conn *conn, bool broken, const char *reason)
{
	struct chime_db_pool *pool;
	struct chime_db_health snap;
	char why[256];
	bool notify = false;

	if (conn == NULL)
		return NULL;
	pool = conn->pool;
	if (!broken && conn->pg != NULL && PQstatus(conn->pg) == CONNECTION_OK &&
	    PQtransactionStatus(conn->pg) != PQTRANS_IDLE) {
		PGresult *res = PQexec(conn->pg, "ROLLBACK");

		PQclear(res);
		if (PQtransactionStatus(conn->pg) != PQTRANS_IDLE)
			broken = true;
	}
	if (conn->pg == NULL || PQstatus(conn->pg) != CONNECTION_OK)
		broken = true;
	if (broken) {
		db_errcpy(why, sizeof(why),
		          reason != NULL     ? reason
		          : conn->pg != NULL ? PQerrorMessage(conn->pg)
		                             : "connection lost");
		if (why[0] == '\0')
			db_errcpy(why, sizeof(why), "connection lost");
		db_conn_close(conn);
	}
	pthread_mutex_lock(&pool->lock);
	if (broken)
		notify = db_set_state(pool->hs, CHIME_DB_DOWN, false, why, &snap);
	conn->busy = false;
	pthread_cond_broadcast(&pool->freed);
	pthread_mutex_unlock(&pool->lock);
	db_notify(pool, notify, &snap);
	return NULL;
}

struct chime_db_conn *
chime_db_pool_discard(struct chime_db_conn *conn)
{
	struct chime_db_pool *pool;

	if (conn == NULL)
		return NULL;
	pool = conn->pool;
	db_conn_close(conn);
	pthread_mutex_lock(&pool->lock);
	conn->busy = false;
	pthread_cond_broadcast(&pool->freed);
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

void
chime_db_pool_wait(struct chime_db_pool *pool, int64_t max_usec)
{
	int64_t now_mono = chime_clock_mono_usec(), until;
	struct timespec ts;

	pthread_mutex_lock(&pool->hs->lock);
	until = pool->hs->next_try_mono_usec;
	pthread_mutex_unlock(&pool->hs->lock);
	if (until <= now_mono)
		return;
	if (until - now_mono > max_usec)
		until = now_mono + max_usec;
	/* A connection given back (or a connect done) wakes us early. */
	until = chime_clock_wall_usec() + (until - now_mono);
	ts.tv_sec = until / 1000000;
	ts.tv_nsec = (until % 1000000) * 1000;
	pthread_mutex_lock(&pool->lock);
	(void)pthread_cond_timedwait(&pool->freed, &pool->lock, &ts);
	pthread_mutex_unlock(&pool->lock);
}

int
chime_db_session_reset(PGconn *conn, char *errbuf, size_t errsize)
{
	PGresult *res;
	int r;

	if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
		res = PQexec(conn, "ROLLBACK");
		r = chime__sql_result_errno(conn, res, errbuf, errsize);
		PQclear(res);
		if (r < 0)
			return r;
	}
	/* DISCARD ALL less DEALLOCATE ALL and DISCARD PLANS (sql/session.sql). */
	res = PQexec(conn, chime_sql_session_reset);
	r = chime__sql_result_errno(conn, res, errbuf, errsize);
	PQclear(res);
	return r;
}

int
chime_db_pool_probe(struct chime_db_pool *pool)
{
	struct chime_db_conn *c = NULL;
	char err[256];
	int r;

	r = chime_db_pool_take(pool, 0, &c, err, sizeof(err));
	if (r == -ETIME)
		return 0; /* every connection is taken, so they are up */
	if (r < 0)
		return r;
	/* A connection that was idle may have died meanwhile. */
	if (PQstatus(c->pg) == CONNECTION_OK) {
		PGresult *res = PQexec(c->pg, "SELECT 1");

		r = chime__sql_result_errno(c->pg, res, err, sizeof(err));
		PQclear(res);
	}
	chime_db_pool_give(c, r == -ENOTCONN, r < 0 ? err : NULL);
	return r == -ENOTCONN ? r : 0;
}

void
chime_db_pool_health(struct chime_db_pool *pool, struct chime_db_health *ret_health)
{
	pthread_mutex_lock(&pool->hs->lock);
	*ret_health = pool->hs->health;
	pthread_mutex_unlock(&pool->hs->lock);
}

int
chime_db_health_format(const struct chime_db_health *health, char *buf, size_t size)
{
	char since[40];

	if (chime_clock_format_utc(health->since_wall_usec / 1000000 * 1000000, since,
	                           sizeof(since)) < 0)
		snprintf(since, sizeof(since), "?");
	switch (health->state) {
	case CHIME_DB_UP:
		return snprintf(buf, size, "up (since %s)", since);
	case CHIME_DB_DOWN:
		return snprintf(buf, size, "down (since %s: %s)", since, health->reason);
	case CHIME_DB_UNKNOWN:
	default:
		return snprintf(buf, size, "unknown");
	}
}
