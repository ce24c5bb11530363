/* SPDX-License-Identifier: MIT */
/*
 * A small HTTP(S) client over libcurl for built-in plugins: one POST, one
 * answer, bounded by a connect timeout and a total timeout, aborted when
 * the run is cancelled. Redirects are never followed. Internal to
 * libchime (the chime__ prefix); never logs.
 */
#ifndef CHIME_PLUGINS_HTTP_H
#define CHIME_PLUGINS_HTTP_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#include "chime/plugin.h"

struct chime__http_request {
	const char *url;      /* http:// or https:// */
	const char *ca_file;  /* PEM bundle to trust instead of the system's; NULL: system */
	int64_t timeout_usec; /* whole transfer; 0: none */
	int64_t connect_timeout_usec;
	const char *const *headers; /* NULL-terminated "Name: value" lines; may be NULL */
	const char *body;           /* request body, sent as is */
	size_t body_len;
	struct chime_run *run; /* aborts when chime_run_cancelled(); may be NULL */
};

struct chime__http_response {
	long status; /* the HTTP status code */
	char *body;  /* malloc'd, NUL-terminated, at most 64 KiB kept */
	size_t body_len;
};

/*
 * Make libcurl usable from worker threads. Call once before any transfer,
 * from any thread (idempotent, guarded by pthread_once). Returns 0 or -EIO.
 */
int chime__curl_init(void);

/*
 * A new easy handle for one transfer, libcurl initialised first: 0 and the
 * handle in *ret_curl (curl_easy_cleanup() it), or -EIO ("libcurl
 * initialisation failed") / -ENOMEM ("out of memory") with the reason in
 * errbuf. Never logs.
 */
int chime__curl_new(CURL **ret_curl, char *errbuf, size_t errsize);

/*
 * POST `req->body` to `req->url`. Returns 0 when the server answered (any
 * status; *ret_response filled, free its body with
 * chime__http_response_done()), or a negative errno when no answer came:
 * -ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH (name not resolved / no route),
 * -EPROTO (TLS handshake or certificate refused), -ECANCELED, -ENOMEM,
 * -EIO (anything else). On failure a human-readable reason is written to
 * `errbuf` (always NUL-terminated) and *ret_response is not touched.
 * Never logs.
 */
int chime__http_post(const struct chime__http_request *req,
                     struct chime__http_response *ret_response, char *errbuf, size_t errsize);
void chime__http_response_done(struct chime__http_response *response);

/*
 * Whether `url` may carry a secret (a bearer token, a card token): an
 * https:// URL, or http:// only to this machine (127.0.0.1, ::1,
 * localhost). The URL is parsed by libcurl, as the transfer will parse it,
 * so "http://127.0.0.1:443@pay.example/v1" (user info "127.0.0.1:443",
 * host pay.example) is refused, as is any URL with user info (credentials
 * belong in credential files). 0, or -EINVAL with the reason in errbuf.
 */
int chime__url_check_secure(const char *url, char *errbuf, size_t errsize);

/* Map a libcurl result to a negative errno (see chime__http_post()). */
int chime__curl_errno(int curl_code);

/*
 * Set what every one-shot transfer of ours shares: `protocols` only, no
 * signals, libcurl's message into `curl_err` (CURL_ERROR_SIZE bytes, kept
 * by the caller until the transfer ends), aborted once `run` (may be NULL)
 * is cancelled, `ca_file` trusted instead of the system's when not NULL,
 * and each timeout when positive. Never logs.
 */
void chime__curl_setup(CURL *curl, const char *protocols, char *curl_err, struct chime_run *run,
                       const char *ca_file, int64_t timeout_usec, int64_t connect_timeout_usec);

/*
 * Run the transfer set up on `curl`. Returns 0, or a negative errno as
 * chime__curl_errno() with libcurl's message (`curl_err` when it has one)
 * in errbuf. Never logs.
 */
int chime__curl_perform(CURL *curl, const char *curl_err, char *errbuf, size_t errsize);

#endif
