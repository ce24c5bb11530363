/* SPDX-License-Identifier: MIT */
/*
 * Sending one mail by SMTP over libcurl, for built-in plugins (billing's
 * notices). smtp:// with STARTTLS (required or not) and smtps:// (TLS from
 * the first byte), AUTH with a user name and password, a CA file for
 * private servers. Internal to libchime; never logs.
 */
#ifndef CHIME_PLUGINS_SMTP_H
#define CHIME_PLUGINS_SMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chime/plugin.h"

struct chime__smtp_server {
	const char *url;       /* smtp://host[:port] or smtps://host[:port] */
	bool require_starttls; /* smtp:// only: refuse to send without STARTTLS */
	const char *username;  /* NULL: no AUTH */
	const char *password;  /* with username */
	const char *ca_file;   /* NULL: the system's trust store */
	int64_t timeout_usec;  /* whole session; 0: none */
	int64_t connect_timeout_usec;
	struct chime_run *run; /* aborts when cancelled; may be NULL */
};

/*
 * Send `message` (a complete RFC 5322 message, CRLF line ends) from the
 * envelope sender `mail_from` to the single recipient `rcpt_to` (bare
 * addresses). Returns 0 once the server accepted the message, or a
 * negative errno (-EACCES login refused, -EPROTO TLS, -ETIMEDOUT,
 * -ECONNREFUSED, -EHOSTUNREACH, -ECANCELED, -EIO) with the reason in
 * `errbuf`. Never logs.
 */
int chime__smtp_send(const struct chime__smtp_server *server, const char *mail_from,
                     const char *rcpt_to, const char *message, char *errbuf, size_t errsize);

#endif
