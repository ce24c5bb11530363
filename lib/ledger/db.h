/* SPDX-License-Identifier: MIT */
/*
 * PostgreSQL connections: connecting from the configuration (conninfo or
 * URI, libpq's environment/service/pgpass files when empty, `password_file`
 * read at connect time), a small pool whose connections are each used by
 * one worker thread at a time, reconnection with a short backoff per
 * failed connect (100 ms doubling to 500 ms), and a health state the
 * daemon shows ("database: down (since TIME: reason)"), shared by the
 * pools that use one server.
 *
 * Every call here may block on the network: call them from worker threads
 * (or from chimectl), never from the loop. The pool is thread-safe.
 * Functions here never log; state changes are reported through the
 * optional health callback and the caller decides what to say.
 */
#ifndef CHIME_DB_H
#define CHIME_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

struct chime_database_config;

/*
 * The wait after a failed connect, doubled per failed attempt up to the
 * cap. The cap is short on purpose: a refused or "starting up" connect
 * costs the server next to nothing (no backend is forked), and a node
 * that tries twice a second is back within a second of the server
 * accepting connections again (docs/operations.md, "Database restart").
 * A server that does not answer at all costs one connect_timeout per
 * attempt, on one thread per pool.
 */
#define CHIME_DB_BACKOFF_MIN_USEC (INT64_C(100) * 1000)
#define CHIME_DB_BACKOFF_MAX_USEC (INT64_C(500) * 1000)

/*
 * Open one connection as configured: application_name=chimed, TCP
 * keepalives on (idle 10 s, every 5 s, 3 probes), tcp_user_timeout 30 s,
 * connect_timeout from the config (default 10 s), the password from
 * `password_file` (its first line) when set. The conninfo may override
 * application_name, the keepalive settings and tcp_user_timeout; the
 * password file overrides a password in the conninfo. Blocks. Returns 0
 * and the connection in *ret_conn, or a negative errno with the reason (never the
 * password) in `errbuf` (-ENOENT/-EACCES: password file unreadable,
 * -ECONNREFUSED: libpq could not connect, -ENOMEM). Never logs.
 */
int chime_db_connect(const struct chime_database_config *cfg, PGconn **ret_conn, char *errbuf,
                     size_t errsize);

/* Cancel the statement running on the connection `cancel` belongs to.
 * Blocks briefly (opens a socket to the server): call it off the loop.
 * Safe while another thread waits in PQexec on that connection. Returns 0
 * or -EIO with libpq's reason in errbuf. */
int chime_db_cancel(PGcancel *cancel, char *errbuf, size_t errsize);

/* `SET statement_timeout` to `usec` (0 = none), rounded up to whole
 * milliseconds. Returns 0 or a negative errno (see chime__sql_result_errno). */
int chime_db_set_statement_timeout(PGconn *conn, int64_t usec, char *errbuf, size_t errsize);

/* ---- The pool ------------------------------------------------------- */

struct chime_db_pool;

/* One pooled connection. `pg` and `cancel` are valid while the
 * connection is taken; `cancel` may be handed to another thread for
 * chime_db_cancel() during that time. */
struct chime_db_conn {
	PGconn *pg;
	PGcancel *cancel;
	struct chime_db_pool *pool; /* internal */
	bool busy;                  /* internal */
};

enum chime_db_state {
	CHIME_DB_UNKNOWN, /* no connection attempted yet */
	CHIME_DB_UP,
	CHIME_DB_DOWN,
};

struct chime_db_health {
	enum chime_db_state state;
	int64_t since_wall_usec;    /* when the state began */
	int64_t next_try_wall_usec; /* DOWN: when the next connection attempt may run */
	char reason[256];           /* DOWN: why the last attempt or query failed */
};

/* Called (on whichever thread noticed) when the state changes between UP
 * and DOWN; `health` is a snapshot. Must be quick and thread-safe
 * (uv_async_send is the intended use). */
typedef void (*chime_db_health_fn)(const struct chime_db_health *health, void *userdata);

/*
 * A pool of up to `size` connections (>= 1) made from `cfg`, which is
 * copied. Connections are opened lazily by chime_db_pool_take(). Returns 0
 * and the pool in *ret_pool, or -ENOMEM / -EINVAL. Never logs.
 */
int chime_db_pool_new(const struct chime_database_config *cfg, int size,
                      struct chime_db_pool **ret_pool);
/* Close every connection; the caller gave back every connection. NULL-safe. */
struct chime_db_pool *chime_db_pool_free(struct chime_db_pool *pool);

/* From now on `pool` shares the health and the backoff of `with` (its
 * own are dropped): one outage, one reason, one reconnect schedule for
 * the pools of one server. Call before either is used; `with` may be
 * freed first. */
void chime_db_pool_share_health(struct chime_db_pool *pool, struct chime_db_pool *with);

void chime_db_pool_set_health_cb(struct chime_db_pool *pool, chime_db_health_fn cb, void *userdata);

/*
 * Take a connected connection for this thread's exclusive use. When all
 * are in use it waits up to `wait_usec` for one to be given back (-ETIME
 * after that). When none is connected it connects, unless the database is
 * down and the backoff has not elapsed (-ENOTCONN at once, reason in
 * errbuf). A failed connect moves the pool to DOWN and doubles the backoff;
 * a success moves it to UP and resets the backoff. Blocks. Returns 0 and
 * *ret_conn.
 */
int chime_db_pool_take(struct chime_db_pool *pool, int64_t wait_usec,
                       struct chime_db_conn **ret_conn, char *errbuf, size_t errsize);
/*
 * Give a connection back. A connection left inside a transaction is
 * rolled back; one whose socket broke (or `broken` = true) is closed, the
 * pool marked DOWN with `reason` (NULL: libpq's message) and reconnected by
 * the next take() at once (a broken connection does not grow the backoff).
 * NULL-safe. Returns NULL.
 */
struct chime_db_conn *chime_db_pool_give(struct chime_db_conn *conn, bool broken,
                                         const char *reason);
/* Close a taken connection that chime itself cut (a hung run's socket
 * shut down) without touching the health: the server is not at fault.
 * NULL-safe. Returns NULL. */
struct chime_db_conn *chime_db_pool_discard(struct chime_db_conn *conn);
/* While DOWN and backing off: wait until the next connect may run (at
 * most `max_usec`; a connection given back wakes it early). Returns at
 * once otherwise. Blocks. */
void chime_db_pool_wait(struct chime_db_pool *pool, int64_t max_usec);
/*
 * Reset what statements may have left in the session before a connection
 * goes back to a pool for another user: an open transaction is rolled
 * back, then cursors, SET SESSION AUTHORIZATION/SET ROLE and every other
 * session setting (RESET ALL: the connect options stay), LISTEN, session
 * advisory locks, temporary tables and sequence state. Prepared
 * statements stay (the ledger's). Blocks, never logs. Returns 0, -ENOTCONN
 * or another negative errno with the message in errbuf.
 */
int chime_db_session_reset(PGconn *conn, char *errbuf, size_t errsize);

/* Try to connect one connection now if the backoff allows (a probe the
 * daemon runs periodically on a worker while DOWN). Returns 0 when the
 * pool is UP afterwards, else a negative errno. Blocks. */
int chime_db_pool_probe(struct chime_db_pool *pool);

/* A snapshot of the health. Thread-safe. */
void chime_db_pool_health(struct chime_db_pool *pool, struct chime_db_health *ret_health);
/* "up (since 2026-11-21T10:00:00Z)", "down (since ...: reason)" or
 * "unknown"; returns snprintf's count. */
int chime_db_health_format(const struct chime_db_health *health, char *buf, size_t size);

#endif
