/* SPDX-License-Identifier: MIT */
/*
 * The `email_sync` plugin (seed 002's sync_emails): for every active tenant
 * schema (or the connected search_path when no tenants table is named),
 * for every active row of email_connections, fetch the new messages of its
 * IMAP mailbox over libcurl (imap.c) and store them in `emails`.
 *
 * Each connection is its own unit of work, run by a bounded pool of
 * threads (`concurrency`), each with its own libpq connection opened with
 * the run's conninfo; units are queued round-robin across tenants so a
 * tenant with many mailboxes does not starve the others. Per unit:
 * EXAMINE for UIDVALIDITY (a change voids the stored UIDs: resync from UID
 * 1, noted in last_error and the report), `UID SEARCH UID last+1:*`
 * filtered to UIDs above last_uid, the oldest `max_messages`, then in
 * chunks of `batch_size`: flags and sizes, each message by URL (over
 * `max_size`: not fetched, a row with raw NULL and a note), \Seen cleared
 * again on the messages that were unread, and one transaction that
 * inserts the chunk (ON CONFLICT DO NOTHING on (connection, uidvalidity,
 * uid)) and advances last_uid and last_sync_at. A crash loses nothing and
 * duplicates nothing: a chunk is either committed with its last_uid or
 * fetched again by the next run.
 *
 * A message whose Message-ID is already stored for the connection (under
 * any UIDVALIDITY: a resync, or one message copied twice into the
 * mailbox) is not stored again and is counted `already_stored`; a message
 * without a Message-ID is matched on its UID only, so a resync stores it
 * again under the new UIDVALIDITY. Each message is inserted under a
 * savepoint: one the application's table refuses (a subject too long for
 * its varchar, a Message-ID its own UNIQUE has seen) is reported with its
 * UID and the reason, counted `not_stored`, noted in last_error and
 * skipped, and the rest of the chunk and the mailbox go on. Mailbox names
 * are UTF-8 in the table and sent in modified UTF-7; From, To and Subject
 * are decoded (RFC 2047, raw 8-bit read as Latin-1) while raw stays byte
 * for byte; text columns that are NOT NULL get '' instead of NULL.
 *
 * Errors of one connection (DNS, refused, TLS, login, mailbox) go to its
 * last_error/last_error_at; the others continue. The run fails only when
 * every connection failed (or the tenants or connections cannot be read
 * at all); otherwise it succeeds and reports `failed` connections.
 * Passwords (the column, or the file named by password_ref) are never
 * logged or reported.
 *
 * This file holds the options, one connection's IMAP sync and the worker
 * pool; email_sync_db.c the tables, email_sync_parse.c the headers.
 */
#include "email_sync.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "chime/plugin.h"

#include "builtin.h"
#include "email_sync_internal.h"
#include "freemany.h"
#include "imap.h"
#include "mapping.h"
#include "sqlutil.h"

static const struct chime_kit_name_option es_names[N_NAMES] = {
        [N_CONNS] = {"connections_table", "email_connections", false},
        [N_CONNS_ID] = {"connections_id", "id", false},
        [N_CONNS_HOST] = {"connections_host", "imap_host", false},
        [N_CONNS_PORT] = {"connections_port", "imap_port", false},
        [N_CONNS_TLS] = {"connections_tls", "tls_mode", false},
        [N_CONNS_USER] = {"connections_username", "username", false},
        [N_CONNS_PASSWORD] = {"connections_password", "password", false},
        [N_CONNS_PASSWORD_REF] = {"connections_password_ref", "password_ref", true},
        [N_CONNS_MAILBOX] = {"connections_mailbox", "mailbox", true},
        [N_CONNS_ACTIVE] = {"connections_active", "is_active", false},
        [N_CONNS_UIDVALIDITY] = {"connections_uidvalidity", "uidvalidity", false},
        [N_CONNS_LAST_UID] = {"connections_last_uid", "last_uid", false},
        [N_CONNS_LAST_SYNC] = {"connections_last_sync_at", "last_sync_at", false},
        [N_CONNS_LAST_ERROR] = {"connections_last_error", "last_error", false},
        [N_CONNS_LAST_ERROR_AT] = {"connections_last_error_at", "last_error_at", false},
        [N_EMAILS] = {"emails_table", "emails", false},
        [N_EMAILS_CONN] = {"emails_connection", "connection_id", false},
        [N_EMAILS_UIDVALIDITY] = {"emails_uidvalidity", "uidvalidity", false},
        [N_EMAILS_UID] = {"emails_uid", "uid", false},
        [N_EMAILS_MESSAGE_ID] = {"emails_message_id", "message_id", false},
        [N_EMAILS_FROM] = {"emails_from", "from_addr", false},
        [N_EMAILS_TO] = {"emails_to", "to_addr", false},
        [N_EMAILS_SUBJECT] = {"emails_subject", "subject", false},
        [N_EMAILS_DATE] = {"emails_date", "sent_date", false},
        [N_EMAILS_RAW] = {"emails_raw", "raw", false},
        [N_EMAILS_SIZE] = {"emails_size", "size", false},
};

static const char *const es_settings[] = {
        "tenants",     "tenant",  "max_messages", "max_size",
        "concurrency", "timeout", "ca_file",      "batch_size", "mailbox",
};

#define N_SETTINGS (sizeof(es_settings) / sizeof(es_settings[0]))

/* ---- configure ------------------------------------------------------------ */

static void
es_release(void *state)
{
	free(state);
}

/* The folder of a connection whose row names none. A name must be one
 * modified UTF-7 can carry: YAML text is UTF-8 by the time it gets here
 * (a file that is not is refused at its line and column), so what is
 * left to refuse is the empty name and line breaks. */
static int
es_configure_mailbox(const struct chime_node *options, struct chime_diag_list *diags,
                     const char **ret)
{
	const char *name;
	char *utf7 = NULL;
	int r;

	if (chime_node_get_string(options, "mailbox", "INBOX", diags, &name) < 0)
		return -EINVAL;
	if (name[0] == '\0' || strpbrk(name, "\r\n") != NULL)
		return chime_node_error(diags, chime_node_get(options, "mailbox"),
		                        "a folder name must be one line and not empty");
	r = chime__imap_mutf7_encode(name, &utf7);
	free(utf7);
	if (r == -EILSEQ)
		return chime_node_error(diags, chime_node_get(options, "mailbox"),
		                        "folder name '%s' is not valid UTF-8", name);
	if (r < 0)
		return r;
	*ret = name;
	return 0;
}

static int
es_configure(const struct chime_node *options, struct chime_diag_list *diags, void **ret_state)
{
	static const char *const tenant_keys[] = {"table", "schema_column", "active_column", NULL};
	const struct chime_node *t;
	struct es_config *cfg;
	int r = 0;

	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL)
		return -ENOMEM;
	r = chime_kit_mapping_check_keys(options, es_settings, N_SETTINGS, es_names, N_NAMES,
	                                 diags);

	t = options != NULL ? chime_node_get(options, "tenants") : NULL;
	if (t != NULL) {
		if (chime_node_kind(t) != CHIME_NODE_MAPPING)
			r = chime_node_error(
			        diags, t,
			        "must be a mapping {table, schema_column, active_column}");
		else if (chime_node_check_keys(t, tenant_keys, diags) < 0 ||
		         chime_node_get_identifier(t, "table", "public.tenants", diags,
		                                   &cfg->tenants_table) < 0 ||
		         chime_node_get_identifier(t, "schema_column", "schema_name", diags,
		                                   &cfg->tenants_schema) < 0 ||
		         chime_node_get_identifier(t, "active_column", "is_active", diags,
		                                   &cfg->tenants_active) < 0)
			r = -EINVAL;
	}
	if (chime_node_get_identifier(options, "tenant", NULL, diags, &cfg->tenant) < 0)
		r = -EINVAL;
	if (chime_node_get_int(options, "max_messages", 1, 1000000, 500, diags,
	                       &cfg->max_messages) < 0)
		r = -EINVAL;
	if (chime_node_get_int(options, "max_size", 1024, INT64_C(2147483647), INT64_C(26214400),
	                       diags, &cfg->max_size) < 0)
		r = -EINVAL;
	if (chime_node_get_int(options, "concurrency", 1, 64, 4, diags, &cfg->concurrency) < 0)
		r = -EINVAL;
	if (chime_node_get_int(options, "batch_size", 1, 10000, 50, diags, &cfg->batch_size) < 0)
		r = -EINVAL;
	if (chime_node_get_duration(options, "timeout", 2 * 60 * INT64_C(1000000), diags,
	                            &cfg->timeout_usec) < 0)
		r = -EINVAL;
	else if (cfg->timeout_usec < 1000000)
		r = chime_node_error(diags, chime_node_get(options, "timeout"),
		                     "must be at least 1s (the time one connection may take)");
	if (chime_node_get_string(options, "ca_file", NULL, diags, &cfg->ca_file) < 0)
		r = -EINVAL;
	if (es_configure_mailbox(options, diags, &cfg->mailbox) < 0)
		r = -EINVAL;
	if (chime_kit_mapping_read(options, es_names, N_NAMES, diags, cfg->names) < 0)
		r = -EINVAL;
	if (r < 0) {
		free(cfg);
		return r;
	}
	*ret_state = cfg;
	return 0;
}

/* ---- One connection ------------------------------------------------------- */

static int
es_read_password(const char *path, char **ret, char *err, size_t errsize)
{
	char buf[1024];
	FILE *f = fopen(path, "re");
	size_t n;

	if (f == NULL) {
		snprintf(err, errsize, "cannot read password_ref %s: %s", path, strerror(errno));
		return -errno;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	*ret = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	if (*ret == NULL) {
		snprintf(err, errsize, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

static void
es_msgs_free(struct es_msg *msgs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(msgs[i].raw);
}

/* Sync one connection; the whole unit of work. Returns 0 or a negative
 * errno with the reason in err (already recorded on the row by the caller). */
static int
es_sync_one(struct es_sync *s, PGconn *db, struct es_unit *u, char *err, size_t errsize)
{
	const struct es_config *cfg = s->cfg;
	struct chime__imap_server srv = {
	        .host = u->host != NULL ? u->host : "",
	        .port = u->port,
	        .username = u->user != NULL ? u->user : "",
	        .mailbox = u->mailbox != NULL && u->mailbox[0] != '\0' ? u->mailbox : cfg->mailbox,
	        .ca_file = cfg->ca_file,
	        .timeout_usec = cfg->timeout_usec,
	        .run = s->run,
	};
	struct chime__imap *imap = NULL;
	struct chime__imap_info *info = NULL;
	struct es_msg *msgs = NULL;
	uint64_t *uids = NULL, *unseen = NULL, uidvalidity, first;
	size_t n_uids = 0, take, done = 0;
	char *secret = NULL;
	char note[512] = "";
	int64_t stored = 0;
	bool wrote = false;
	int r;

	if (u->tls == NULL || strcmp(u->tls, "imaps") == 0)
		srv.tls = CHIME_IMAP_TLS_IMAPS;
	else if (strcmp(u->tls, "starttls") == 0)
		srv.tls = CHIME_IMAP_TLS_STARTTLS;
	else if (strcmp(u->tls, "none") == 0)
		srv.tls = CHIME_IMAP_TLS_NONE;
	else {
		snprintf(err, errsize, "tls_mode '%s' is not none, starttls or imaps", u->tls);
		return -EINVAL;
	}
	if (srv.port <= 0)
		srv.port = srv.tls == CHIME_IMAP_TLS_IMAPS ? 993 : 143;
	if (u->password == NULL && u->password_ref != NULL) {
		r = es_read_password(u->password_ref, &secret, err, errsize);
		if (r < 0)
			return r;
	}
	srv.password = secret != NULL ? secret : u->password;

	r = chime__imap_open(&srv, &imap, err, errsize);
	if (r < 0)
		goto out;
	r = chime__imap_examine(imap, &uidvalidity, err, errsize);
	if (r < 0)
		goto out;
	first = u->last_uid + 1;
	if (u->has_uidvalidity && u->uidvalidity != uidvalidity) {
		snprintf(note, sizeof(note),
		         "UIDVALIDITY changed from %" PRIu64 " to %" PRIu64
		         ": the stored UIDs are void, resynced from UID 1",
		         u->uidvalidity, uidvalidity);
		chime_run_item(s->run, "connection %s%s%s: %s", u->schema ? u->schema : "",
		               u->schema ? "/" : "", u->id, note);
		chime_run_count(s->run, "uidvalidity_resets", 1);
		first = 1;
	}
	r = chime__imap_search(imap, first, &uids, &n_uids, err, errsize);
	if (r < 0)
		goto out;
	take = n_uids < (size_t)cfg->max_messages ? n_uids : (size_t)cfg->max_messages;
	if (s->dry_run) {
		chime_run_item(s->run, "connection %s%s%s: %zu messages would be fetched (%zu new)",
		               u->schema ? u->schema : "", u->schema ? "/" : "", u->id, take,
		               n_uids);
		chime_run_count(s->run, "would_fetch", (int64_t)take);
		r = 0;
		goto out;
	}
	info = calloc((size_t)cfg->batch_size, sizeof(*info));
	msgs = calloc((size_t)cfg->batch_size, sizeof(*msgs));
	unseen = calloc((size_t)cfg->batch_size, sizeof(*unseen));
	if (info == NULL || msgs == NULL || unseen == NULL) {
		snprintf(err, errsize, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	while (done < take) {
		size_t chunk = take - done < (size_t)cfg->batch_size ? take - done
		                                                     : (size_t)cfg->batch_size;
		size_t n_info = 0, n_msgs = 0, n_unseen = 0;
		uint64_t last = uids[done + chunk - 1];
		int64_t inserted = 0;
		int fr = 0;
		char ferr[256] = "";

		if (chime_run_cancelled(s->run)) {
			snprintf(err, errsize, "cancelled");
			r = -ECANCELED;
			goto out;
		}
		r = chime__imap_info(imap, uids + done, chunk, info, &n_info, err, errsize);
		if (r < 0)
			goto out;
		for (size_t i = 0; i < n_info; i++) {
			struct es_msg *m = &msgs[n_msgs];

			m->uid = info[i].uid;
			m->size = info[i].size;
			m->raw = NULL;
			if (info[i].size <= (uint64_t)cfg->max_size) {
				fr = chime__imap_fetch(imap, uidvalidity, info[i].uid,
				                       (uint64_t)cfg->max_size, &m->raw, &m->len,
				                       ferr, sizeof(ferr));
				if (fr < 0 && fr != -EFBIG) {
					/* Keep what came before; the rest waits for the next run.
					 */
					last = info[i].uid - 1;
					break;
				}
				if (fr == 0) {
					m->size = m->len;
					if (!info[i].seen)
						unseen[n_unseen++] = m->uid;
				}
			}
			if (m->raw == NULL) {
				snprintf(note, sizeof(note),
				         "message UID %" PRIu64 " (%" PRIu64
				         " bytes) is over max_size %" PRId64
				         ": skipped, not fetched",
				         m->uid, m->size, cfg->max_size);
				chime_run_count(s->run, "skipped", 1);
				chime_run_item(s->run, "connection %s%s%s: %s",
				               u->schema ? u->schema : "", u->schema ? "/" : "",
				               u->id, note);
			}
			n_msgs++;
			fr = 0;
		}
		if (n_unseen > 0) {
			char uerr[256];

			if (chime__imap_unsee(imap, unseen, n_unseen, uerr, sizeof(uerr)) < 0)
				chime_run_log(
				        s->run, 4,
				        "connection %s: cannot clear \\Seen on %zu messages: %s",
				        u->id, n_unseen, uerr);
		}
		if (n_msgs > 0 || last >= first) {
			r = chime__email_db_store(s, db, u, uidvalidity, msgs, n_msgs, last, note,
			                          sizeof(note), &inserted, err, errsize);
			es_msgs_free(msgs, n_msgs);
			if (r < 0)
				goto out;
			wrote = true;
			stored += inserted;
			chime_run_count(s->run, "fetched", inserted);
		}
		if (fr < 0) {
			snprintf(err, errsize, "fetching a message failed: %s", ferr);
			r = fr;
			goto out;
		}
		done += chunk;
	}
	if (!wrote) {
		int64_t inserted;

		r = chime__email_db_store(s, db, u, uidvalidity, NULL, 0, first - 1, note,
		                          sizeof(note), &inserted, err, errsize);
		if (r < 0)
			goto out;
	}
	if (stored > 0 || take < n_uids)
		chime_run_item(s->run, "connection %s%s%s: %" PRId64 " messages stored%s",
		               u->schema ? u->schema : "", u->schema ? "/" : "", u->id, stored,
		               take < n_uids ? " (more left for the next run)" : "");
	r = 0;
out:
	if (msgs != NULL)
		es_msgs_free(msgs, 0);
	chime_free_many(msgs, info, unseen, uids);
	chime__imap_close(imap);
	if (secret != NULL) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
	return r;
}

/* ---- The pool ------------------------------------------------------------- */

void
chime__email_note_failure(struct es_sync *s, const char *what, const char *err)
{
	pthread_mutex_lock(&s->lock);
	s->failed++;
	if (s->first_error[0] == '\0')
		snprintf(s->first_error, sizeof(s->first_error), "%.100s: %.200s", what, err);
	pthread_mutex_unlock(&s->lock);
}

static void *
es_worker(void *userdata)
{
	struct es_sync *s = userdata;
	PGconn *db = NULL;
	char err[512];

	for (;;) {
		struct es_unit *u;
		char label[200];
		int r;

		pthread_mutex_lock(&s->lock);
		u = s->next < s->n_units && !chime_run_cancelled(s->run) ? &s->units[s->next++]
		                                                         : NULL;
		pthread_mutex_unlock(&s->lock);
		if (u == NULL)
			break;
		snprintf(label, sizeof(label), "connection %s%s%s", u->schema ? u->schema : "",
		         u->schema ? "/" : "", u->id);
		if (db == NULL && !s->dry_run) {
			db = chime__email_db_connect(s, err, sizeof(err));
			if (db == NULL) {
				chime_run_item(s->run, "%s: no database connection: %s", label,
				               err);
				chime__email_note_failure(s, label, err);
				continue;
			}
		}
		r = es_sync_one(s, db, u, err, sizeof(err));
		if (r < 0) {
			chime_run_log(s->run, 4, "%s (%s@%s:%d): %s", label, u->user ? u->user : "",
			              u->host ? u->host : "", u->port, err);
			chime_run_item(s->run, "%s: failed: %s", label, err);
			chime__email_note_failure(s, label, err);
			if (db != NULL && PQstatus(db) != CONNECTION_OK) {
				PQfinish(db);
				db = NULL;
			}
			if (r != -ECANCELED)
				chime__email_db_record_error(s, db, u, err);
			continue;
		}
		pthread_mutex_lock(&s->lock);
		s->ok++;
		pthread_mutex_unlock(&s->lock);
	}
	PQfinish(db);
	return NULL;
}

/* Interleave the units round-robin by schema (they were loaded grouped
 * by schema), keeping each schema's own order: t1c1, t2c1, t1c2, t2c2, ... */
static int
es_interleave(struct es_sync *s)
{
	struct es_unit *out;
	size_t *start, n_groups = 0, k = 0;

	if (s->n_units < 2)
		return 0;
	out = calloc(s->n_units, sizeof(*out));
	start = calloc(s->n_units + 1, sizeof(*start));
	if (out == NULL || start == NULL) {
		free(out);
		free(start);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->n_units; i++) {
		const char *a = s->units[i].schema, *b = i > 0 ? s->units[i - 1].schema : NULL;

		if (i == 0 || (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0))
			start[n_groups++] = i;
	}
	start[n_groups] = s->n_units;
	for (size_t round = 0; k < s->n_units; round++)
		for (size_t g = 0; g < n_groups; g++)
			if (start[g] + round < start[g + 1])
				out[k++] = s->units[start[g] + round];
	free(s->units);
	free(start);
	s->units = out;
	return 0;
}

static int
es_run(void *state, struct chime_run *run)
{
	struct es_sync s = {
	        .cfg = state,
	        .run = run,
	        .dry_run = chime_run_dry_run(run),
	};
	PGconn *conn = chime_run_db(run);
	pthread_t threads[64];
	size_t n_threads = 0, n_schemas = 0;
	char **schemas = NULL;
	int r;

	pthread_mutex_init(&s.lock, NULL);
	if (conn == NULL) {
		chime_run_fail(run, "no database connection");
		r = -ENOTCONN;
		goto out;
	}
	for (size_t i = 0; i < N_NAMES; i++)
		s.ids[i] = (struct chime_kit_ident){es_names[i].key, s.cfg->names[i]};
	r = chime__email_db_prepare(&s, conn);
	if (r < 0) {
		chime_run_fail(run, "out of memory");
		goto out;
	}
	r = chime__email_db_load_tenants(&s, conn, &schemas, &n_schemas);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < n_schemas; i++) {
		if (chime_run_cancelled(run))
			break;
		if (chime__email_db_load_units(&s, conn, schemas[i], &s.units, &s.n_units) ==
		    -ENOMEM) {
			chime_run_fail(run, "out of memory");
			r = -ENOMEM;
			goto out;
		}
	}
	if (es_interleave(&s) < 0) {
		chime_run_fail(run, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	/* A schema that cannot work is refused before anything is fetched. */
	r = chime__email_db_check(&s, conn, es_names);
	if (r < 0)
		goto out;
	for (int64_t i = 0; i < s.cfg->concurrency && i < (int64_t)s.n_units; i++) {
		if (pthread_create(&threads[n_threads], NULL, es_worker, &s) != 0)
			break;
		n_threads++;
	}
	if (n_threads == 0 && s.n_units > 0)
		es_worker(&s);
	for (size_t i = 0; i < n_threads; i++)
		pthread_join(threads[i], NULL);

	chime_run_count(run, "connections", (int64_t)s.n_units);
	chime_run_count(run, "synced", s.ok);
	chime_run_count(run, "failed", s.failed);
	if (!s.dry_run) {
		chime_run_count(run, "fetched", 0);
		chime_run_count(run, "skipped", 0);
		chime_run_count(run, "not_stored", 0);
		chime_run_count(run, "already_stored", 0);
	}
	chime_run_count(run, "tenants", s.cfg->tenants_table != NULL ? (int64_t)n_schemas : 0);
	chime_run_log(run, s.failed > 0 ? 4 : 6,
	              "%zu connections in %zu schemas%s: %" PRId64 " synced, %" PRId64 " failed",
	              s.n_units, n_schemas, s.dry_run ? " (dry run)" : "", s.ok, s.failed);
	if (chime_run_cancelled(run)) {
		chime_run_fail(run,
		               "cancelled after %" PRId64 " connections; every stored message "
		               "was committed with its last_uid, the next run goes on",
		               s.ok);
		r = -ECANCELED;
	} else if (s.failed > 0 && s.ok == 0) {
		chime_run_fail(run, "every connection failed (%" PRId64 "; first: %s)", s.failed,
		               s.first_error);
		r = -EIO;
	} else {
		r = 0;
	}
out:
	for (size_t i = 0; i < s.n_units; i++)
		chime__email_unit_done(&s.units[i]);
	free(s.units);
	for (size_t i = 0; i < n_schemas; i++)
		free(schemas[i]);
	free(schemas);
	for (size_t i = 0; s.kw != NULL && s.kw[i] != NULL; i++) {
		free(s.kw[i]);
		free(s.val[i]);
	}
	free(s.kw);
	free(s.val);
	pthread_mutex_destroy(&s.lock);
	return r;
}

/* `chimectl check`: the run's schema checks, every problem at its option. */
static int
es_check(void *state, PGconn *conn, const char *job, const char *zone,
         const struct chime_node *options, struct chime_diag_list *diags)
{
	(void)job;
	(void)zone;
	return chime__email_check(state, es_names, conn, options, diags);
}

const struct chime_plugin chime_plugin_email_sync = {
        CHIME_PLUGIN_INIT("email_sync", es_configure, es_run, es_release),
        .idempotent = true,
        .check = es_check,
        .needs_database = true,
        /* Each chunk is a fenced unit (chime__email_db_store). */
        .fences = true,
};
