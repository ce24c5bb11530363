/* SPDX-License-Identifier: MIT */
/*
 * A small IMAP client over libcurl for the email_sync plugin: one session
 * (one curl handle, so one reused connection) per mailbox. EXAMINE for
 * UIDVALIDITY, UID SEARCH for new UIDs, UID FETCH of flags and sizes,
 * the message itself by URL (imap://host/MAILBOX;UIDVALIDITY=V;UID=N, which
 * makes libcurl refuse the fetch when UIDVALIDITY changed in between) and
 * UID STORE -FLAGS to leave unread mail unread. Internal to libchime;
 * never logs; passwords never appear in error texts.
 */
#ifndef CHIME_PLUGINS_IMAP_H
#define CHIME_PLUGINS_IMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chime/plugin.h"

enum chime__imap_tls {
	CHIME_IMAP_TLS_NONE,     /* imap://, clear text */
	CHIME_IMAP_TLS_STARTTLS, /* imap:// with STARTTLS required */
	CHIME_IMAP_TLS_IMAPS,    /* imaps://, TLS from the first byte */
};

struct chime__imap_server {
	const char *host;
	int port;
	enum chime__imap_tls tls;
	const char *username;
	const char *password;
	const char *mailbox;   /* UTF-8 name as users see it ("INBOX", "Входящие"); sent in
	                        * modified UTF-7 */
	const char *ca_file;   /* NULL: the system's trust store */
	int64_t timeout_usec;  /* the whole session; 0: none */
	struct chime_run *run; /* aborts when cancelled; may be NULL */
};

struct chime__imap_info {
	uint64_t uid;
	uint64_t size; /* RFC822.SIZE */
	bool seen;
};

struct chime__imap;

/*
 * `utf8` as an IMAP mailbox name in modified UTF-7 (RFC 3501 section
 * 5.1.3): printable US-ASCII stands for itself ("&" as "&-"), every run of
 * other characters is "&", the modified base64 of its UTF-16BE, "-".
 * Returns 0 and a malloc'd string in *ret, -EILSEQ when `utf8` is not
 * valid UTF-8, or -ENOMEM. Pure.
 */
int chime__imap_mutf7_encode(const char *utf8, char **ret);

/* A new session (no I/O yet); copies what it needs from `server`.
 * Returns 0 or -ENOMEM / -EINVAL (a bad host, a mailbox name with CR or
 * LF or not valid UTF-8) with the reason in errbuf. */
int chime__imap_open(const struct chime__imap_server *server, struct chime__imap **ret,
                     char *errbuf, size_t errsize);
struct chime__imap *chime__imap_close(struct chime__imap *s); /* NULL-safe, returns NULL */

/*
 * Each call below returns 0, or a negative errno with a reason in errbuf:
 * -EHOSTUNREACH (name not resolved), -ECONNREFUSED, -EPROTO (TLS),
 * -EACCES (login refused), -ETIMEDOUT, -ECANCELED, -ENOENT (no such
 * mailbox, no such message, or UIDVALIDITY changed), -ENOMEM, -EIO.
 */

/* EXAMINE the mailbox (read-only) and return its UIDVALIDITY. */
int chime__imap_examine(struct chime__imap *s, uint64_t *ret_uidvalidity, char *errbuf,
                        size_t errsize);

/* `UID SEARCH UID first:*`, keeping only UIDs >= first (the n:* quirk
 * returns the highest UID even when it is below n), sorted ascending.
 * *ret_uids is malloc'd (NULL when none). */
int chime__imap_search(struct chime__imap *s, uint64_t first, uint64_t **ret_uids, size_t *ret_n,
                       char *errbuf, size_t errsize);

/* Flags and sizes of `uids` (UID FETCH ... (UID FLAGS RFC822.SIZE)), in
 * `ret` (room for n), ascending by UID; *ret_n: how many the server knew
 * (an expunged UID is missing). */
int chime__imap_info(struct chime__imap *s, const uint64_t *uids, size_t n,
                     struct chime__imap_info *ret, size_t *ret_n, char *errbuf, size_t errsize);

/* The whole message `uid` (BODY[]: sets \Seen), checked against
 * `uidvalidity`; at most `max_bytes` are accepted (-EFBIG beyond). */
int chime__imap_fetch(struct chime__imap *s, uint64_t uidvalidity, uint64_t uid, uint64_t max_bytes,
                      char **ret_data, size_t *ret_len, char *errbuf, size_t errsize);

/* `UID STORE uids -FLAGS.SILENT (\Seen)`: make them unread again. */
int chime__imap_unsee(struct chime__imap *s, const uint64_t *uids, size_t n, char *errbuf,
                      size_t errsize);

#endif
