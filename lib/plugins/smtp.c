/* SPDX-License-Identifier: MIT */
/*
 * One SMTP transaction over libcurl: connect, EHLO, STARTTLS when asked,
 * AUTH when a user name is given, MAIL FROM, RCPT TO, DATA. libcurl does
 * the dot-stuffing of the DATA section.
 */
#include "smtp.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "http.h"

struct smtp_source {
	const char *data;
	size_t len, off;
};

static size_t
smtp_read_cb(char *buffer, size_t size, size_t nitems, void *userdata)
{
	struct smtp_source *src = userdata;
	size_t n = size * nitems;

	if (n > src->len - src->off)
		n = src->len - src->off;
	memcpy(buffer, src->data + src->off, n);
	src->off += n;
	return n;
}

static int
smtp_progress_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                 curl_off_t ulnow)
{
	struct chime_run *run = userdata;

	return run != NULL && chime_run_cancelled(run) ? 1 : 0;
}

int
chime__smtp_send(const struct chime__smtp_server *server, const char *mail_from,
                 const char *rcpt_to, const char *message, char *errbuf, size_t errsize)
{
	char curl_err[CURL_ERROR_SIZE] = "";
	struct smtp_source src = {message, strlen(message), 0};
	struct curl_slist *rcpt = NULL;
	CURL *curl = NULL;
	CURLcode cc;
	int r;

	errbuf[0] = '\0';
	r = chime__curl_init();
	if (r < 0) {
		snprintf(errbuf, errsize, "libcurl initialisation failed");
		return r;
	}
	curl = curl_easy_init();
	rcpt = curl_slist_append(NULL, rcpt_to);
	if (curl == NULL || rcpt == NULL) {
		snprintf(errbuf, errsize, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	(void)curl_easy_setopt(curl, CURLOPT_URL, server->url);
	(void)curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	(void)curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
	(void)curl_easy_setopt(curl, CURLOPT_MAIL_FROM, mail_from);
	(void)curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
	(void)curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
	(void)curl_easy_setopt(curl, CURLOPT_READFUNCTION, smtp_read_cb);
	(void)curl_easy_setopt(curl, CURLOPT_READDATA, &src);
	(void)curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)src.len);
	(void)curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	(void)curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, smtp_progress_cb);
	(void)curl_easy_setopt(curl, CURLOPT_XFERINFODATA, server->run);
	if (server->require_starttls)
		(void)curl_easy_setopt(curl, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (server->username != NULL) {
		(void)curl_easy_setopt(curl, CURLOPT_USERNAME, server->username);
		(void)curl_easy_setopt(curl, CURLOPT_PASSWORD,
		                       server->password != NULL ? server->password : "");
	}
	if (server->ca_file != NULL)
		(void)curl_easy_setopt(curl, CURLOPT_CAINFO, server->ca_file);
	if (server->timeout_usec > 0)
		(void)curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
		                       (long)((server->timeout_usec + 999) / 1000));
	if (server->connect_timeout_usec > 0)
		(void)curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
		                       (long)((server->connect_timeout_usec + 999) / 1000));

	cc = curl_easy_perform(curl);
	if (cc != CURLE_OK) {
		snprintf(errbuf, errsize, "%s",
		         curl_err[0] != '\0' ? curl_err : curl_easy_strerror(cc));
		r = chime__curl_errno(cc);
		goto out;
	}
	r = 0;
out:
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(curl);
	return r;
}
