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

int
chime__smtp_send(const struct chime__smtp_server *server, const char *mail_from,
                 const char *rcpt_to, const char *message, char *errbuf, size_t errsize)
{
	char curl_err[CURL_ERROR_SIZE] = "";
	struct smtp_source src = {message, strlen(message), 0};
	struct curl_slist *rcpt = NULL;
	CURL *curl = NULL;
	int r;

	errbuf[0] = '\0';
	r = chime__curl_new(&curl, errbuf, errsize);
	if (r < 0)
		return r;
	rcpt = curl_slist_append(NULL, rcpt_to);
	if (rcpt == NULL) {
		snprintf(errbuf, errsize, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	chime__curl_setup(curl, "smtp,smtps", curl_err, server->run, server->ca_file,
	                  server->timeout_usec, server->connect_timeout_usec);
	(void)curl_easy_setopt(curl, CURLOPT_URL, server->url);
	(void)curl_easy_setopt(curl, CURLOPT_MAIL_FROM, mail_from);
	(void)curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
	(void)curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
	(void)curl_easy_setopt(curl, CURLOPT_READFUNCTION, smtp_read_cb);
	(void)curl_easy_setopt(curl, CURLOPT_READDATA, &src);
	(void)curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)src.len);
	if (server->require_starttls)
		(void)curl_easy_setopt(curl, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (server->username != NULL) {
		(void)curl_easy_setopt(curl, CURLOPT_USERNAME, server->username);
		(void)curl_easy_setopt(curl, CURLOPT_PASSWORD,
		                       server->password != NULL ? server->password : "");
	}

	r = chime__curl_perform(curl, curl_err, errbuf, errsize);
out:
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(curl);
	return r;
}
