/* SPDX-License-Identifier: MIT */
/*
 * A small HTTP(S) POST over libcurl, shared by built-in plugins (billing's
 * gateway calls). One easy handle per call, no redirects, both timeouts,
 * and a progress callback that aborts the transfer once the run is
 * cancelled, so a hanging server never holds a worker past shutdown. The
 * same setup and error mapping serve smtp.c's transfers.
 */
#include "http.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTTP_MAX_BODY (64 * 1024)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_init_result;

static void
curl_init_once(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

int
chime__curl_init(void)
{
	(void)pthread_once(&curl_once, curl_init_once);
	return curl_init_result;
}

int
chime__curl_new(CURL **ret_curl, char *errbuf, size_t errsize)
{
	CURL *curl;
	int r;

	r = chime__curl_init();
	if (r < 0) {
		snprintf(errbuf, errsize, "libcurl initialisation failed");
		return r;
	}
	curl = curl_easy_init();
	if (curl == NULL) {
		snprintf(errbuf, errsize, "out of memory");
		return -ENOMEM;
	}
	*ret_curl = curl;
	return 0;
}

int
chime__curl_errno(int curl_code)
{
	switch (curl_code) {
	case CURLE_OK:
		return 0;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_USE_SSL_FAILED:
		return -EPROTO;
	case CURLE_LOGIN_DENIED:
		return -EACCES;
	case CURLE_ABORTED_BY_CALLBACK:
		return -ECANCELED;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

struct http_sink {
	char *data;
	size_t len;
};

static size_t
http_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct http_sink *sink = userdata;
	size_t n = size * nmemb, keep;
	char *p;

	keep = sink->len >= HTTP_MAX_BODY ? 0 : n;
	if (keep > HTTP_MAX_BODY - sink->len)
		keep = HTTP_MAX_BODY - sink->len;
	if (keep == 0)
		return n; /* drop the excess, keep reading */
	p = realloc(sink->data, sink->len + keep + 1);
	if (p == NULL)
		return 0; /* CURLE_WRITE_ERROR */
	memcpy(p + sink->len, ptr, keep);
	sink->len += keep;
	p[sink->len] = '\0';
	sink->data = p;
	return n;
}

static int
curl_cancel_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
               curl_off_t ulnow)
{
	struct chime_run *run = userdata;

	return run != NULL && chime_run_cancelled(run) ? 1 : 0;
}

void
chime__curl_setup(CURL *curl, const char *protocols, char *curl_err, struct chime_run *run,
                  const char *ca_file, int64_t timeout_usec, int64_t connect_timeout_usec)
{
	(void)curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, protocols);
	(void)curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
	(void)curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	(void)curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, curl_cancel_cb);
	(void)curl_easy_setopt(curl, CURLOPT_XFERINFODATA, run);
	if (ca_file != NULL)
		(void)curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file);
	if (timeout_usec > 0)
		(void)curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
		                       (long)((timeout_usec + 999) / 1000));
	if (connect_timeout_usec > 0)
		(void)curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
		                       (long)((connect_timeout_usec + 999) / 1000));
}

int
chime__curl_perform(CURL *curl, const char *curl_err, char *errbuf, size_t errsize)
{
	CURLcode cc = curl_easy_perform(curl);

	if (cc == CURLE_OK)
		return 0;
	snprintf(errbuf, errsize, "%s", curl_err[0] != '\0' ? curl_err : curl_easy_strerror(cc));
	return chime__curl_errno(cc);
}

int
chime__http_post(const struct chime__http_request *req, struct chime__http_response *ret_response,
                 char *errbuf, size_t errsize)
{
	char curl_err[CURL_ERROR_SIZE] = "";
	struct curl_slist *headers = NULL, *h;
	struct http_sink sink = {NULL, 0};
	CURL *curl = NULL;
	long status = 0;
	int r;

	errbuf[0] = '\0';
	r = chime__curl_new(&curl, errbuf, errsize);
	if (r < 0)
		return r;
	for (const char *const *p = req->headers; p != NULL && *p != NULL; p++) {
		h = curl_slist_append(headers, *p);
		if (h == NULL) {
			snprintf(errbuf, errsize, "out of memory");
			r = -ENOMEM;
			goto out;
		}
		headers = h;
	}
	/* No "Expect: 100-continue" round trip for small bodies. */
	h = curl_slist_append(headers, "Expect:");
	if (h == NULL) {
		snprintf(errbuf, errsize, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	headers = h;

	chime__curl_setup(curl, "http,https", curl_err, req->run, req->ca_file, req->timeout_usec,
	                  req->connect_timeout_usec);
	(void)curl_easy_setopt(curl, CURLOPT_URL, req->url);
	(void)curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	(void)curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	(void)curl_easy_setopt(curl, CURLOPT_POST, 1L);
	(void)curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body);
	(void)curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	(void)curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, http_write_cb);
	(void)curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
	(void)curl_easy_setopt(curl, CURLOPT_USERAGENT, "chime/" CHIME_VERSION);

	r = chime__curl_perform(curl, curl_err, errbuf, errsize);
	if (r < 0)
		goto out;
	(void)curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (sink.data == NULL) {
		sink.data = strdup("");
		if (sink.data == NULL) {
			snprintf(errbuf, errsize, "out of memory");
			r = -ENOMEM;
			goto out;
		}
	}
	ret_response->status = status;
	ret_response->body = sink.data;
	ret_response->body_len = sink.len;
	sink.data = NULL;
	r = 0;
out:
	free(sink.data);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	return r;
}

void
chime__http_response_done(struct chime__http_response *response)
{
	if (response == NULL)
		return;
	free(response->body);
	response->body = NULL;
	response->body_len = 0;
}

int
chime__url_check_secure(const char *url, char *errbuf, size_t errsize)
{
	static const char *const loopback[] = {"127.0.0.1", "[::1]", "localhost"};
	char *scheme = NULL, *host = NULL, *user = NULL;
	CURLU *u = curl_url();
	int r = -EINVAL;

	if (u == NULL) {
		snprintf(errbuf, errsize, "out of memory");
		return -ENOMEM;
	}
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		snprintf(errbuf, errsize, "'%s' is not a URL (scheme://host[:port]/path)", url);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
		snprintf(errbuf, errsize,
		         "'%s' has user info before '@' (the host is '%s'): credentials belong in "
		         "a credential file, not in the URL",
		         url, host);
		goto out;
	}
	if (strcmp(scheme, "https") == 0) {
		r = 0;
		goto out;
	}
	if (strcmp(scheme, "http") == 0)
		for (size_t i = 0; i < sizeof(loopback) / sizeof(loopback[0]); i++)
			if (strcasecmp(host, loopback[i]) == 0) {
				r = 0;
				goto out;
			}
	snprintf(errbuf, errsize,
	         "'%s': must be an https:// URL (http:// only to this machine: 127.0.0.1, ::1 or "
	         "localhost; the host here is '%s')",
	         url, host);
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_url_cleanup(u);
	return r;
}
