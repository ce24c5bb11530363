/* SPDX-License-Identifier: MIT */
/*
 * The IMAP client of the email_sync plugin (see imap.h), over libcurl.
 *
 * One curl easy handle per session, so every request reuses the same
 * logged-in connection. Custom requests (EXAMINE, UID SEARCH, UID FETCH of
 * flags, UID STORE) go to the server URL without a mailbox, so libcurl
 * sends them as they are and hands every untagged line to the write
 * callback; the message bodies are fetched by URL, because libcurl drops
 * the literal of a custom FETCH (BODY.PEEK[] is therefore not usable in
 * curl 7.88): that fetch sets \Seen, which the caller clears again with
 * chime__imap_unsee().
 */
#include "imap.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "clock.h"
#include "freemany.h"
#include "http.h"
#include "utf8.h"

struct chime__imap {
	CURL *curl;
	char *base_url;    /* imap://host:port/ */
	char *mailbox_url; /* imap://host:port/MAILBOX (escaped) */
	char *mailbox_q;   /* the mailbox (modified UTF-7) as an IMAP quoted string */
	char *mailbox;     /* the mailbox as configured (UTF-8), for messages */
	bool encoded;      /* mailbox_q differs from it (not plain ASCII) */
	struct chime_run *run;
	int64_t deadline_usec; /* CLOCK_MONOTONIC; 0: none */
	char curl_err[CURL_ERROR_SIZE];
};

struct imap_sink {
	char *data;
	size_t len, size;
	uint64_t max;
	bool too_big;
	bool oom;
};

static size_t
imap_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct imap_sink *k = userdata;
	size_t n = size * nmemb;

	if (k->len + n > k->max) {
		k->too_big = true;
		return 0;
	}
	if (k->len + n + 1 > k->size) {
		size_t want = k->size > 0 ? k->size : 4096;
		char *p;

		while (want < k->len + n + 1)
			want *= 2;
		p = realloc(k->data, want);
		if (p == NULL) {
			k->oom = true;
			return 0;
		}
		k->data = p;
		k->size = want;
	}
	memcpy(k->data + k->len, ptr, n);
	k->len += n;
	k->data[k->len] = '\0';
	return n;
}

static int
imap_progress_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                 curl_off_t ulnow)
{
	struct chime__imap *s = userdata;

	return s->run != NULL && chime_run_cancelled(s->run) ? 1 : 0;
}

/* Append the modified base64 of UTF-16BE code units u[0..n) to out. */
static char *
imap_mutf7_b64(char *out, const uint16_t *u, size_t n)
{
	static const char b64[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
	uint32_t bits = 0;
	int nbits = 0;

	for (size_t i = 0; i < n; i++) {
		bits = (bits << 16) | u[i];
		nbits += 16;
		while (nbits >= 6) {
			nbits -= 6;
			*out++ = b64[(bits >> nbits) & 0x3f];
		}
	}
	if (nbits > 0)
		*out++ = b64[(bits << (6 - nbits)) & 0x3f]; /* zero bits pad the last one */
	return out;
}

int
chime__imap_mutf7_encode(const char *utf8, char **ret)
{
	const unsigned char *s = (const unsigned char *)utf8;
	size_t len = strlen(utf8), i = 0;
	/* Worst case: a lone control byte between ASCII ones, "&AAE-": five
	 * characters for one byte. */
	char *out = malloc(len * 5 + 1), *o = out;
	uint16_t *run = malloc((len + 1) * sizeof(*run));

	if (out == NULL || run == NULL) {
		chime_free_many(out, run);
		return -ENOMEM;
	}
	while (i < len) {
		size_t n = 0;

		if (s[i] >= 0x20 && s[i] <= 0x7e) {
			*o++ = (char)s[i];
			if (s[i++] == '&')
				*o++ = '-';
			continue;
		}
		/* A run of characters outside printable ASCII: one base64 block. */
		while (i < len && !(s[i] >= 0x20 && s[i] <= 0x7e)) {
			int32_t cp = chime__utf8_next(s, len, &i);

			if (cp < 0) {
				chime_free_many(out, run);
				return -EILSEQ;
			}
			if (cp >= 0x10000) {
				cp -= 0x10000;
				run[n++] = (uint16_t)(0xd800 | (cp >> 10));
				run[n++] = (uint16_t)(0xdc00 | (cp & 0x3ff));
			} else {
				run[n++] = (uint16_t)cp;
			}
		}
		*o++ = '&';
		o = imap_mutf7_b64(o, run, n);
		*o++ = '-';
	}
	*o = '\0';
	free(run);
	*ret = out;
	return 0;
}

int
chime__imap_open(const struct chime__imap_server *server, struct chime__imap **ret, char *errbuf,
                 size_t errsize)
{
	struct chime__imap *s = NULL;
	char *mb = NULL, *utf7 = NULL, *p;
	bool v6 = strchr(server->host, ':') != NULL;
	size_t n;
	int r;

	errbuf[0] = '\0';
	if (server->host[0] == '\0' || strpbrk(server->host, "/?#@ []\r\n") != NULL ||
	    strpbrk(server->mailbox, "\r\n") != NULL || server->mailbox[0] == '\0') {
		snprintf(errbuf, errsize, "invalid host or mailbox name");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		goto oom;
	s->run = server->run;
	if (server->timeout_usec > 0)
		s->deadline_usec = chime_clock_mono_usec() + server->timeout_usec;
	r = chime__curl_new(&s->curl, errbuf, errsize);
	if (r < 0) {
		chime__imap_close(s);
		return r;
	}
	r = chime__imap_mutf7_encode(server->mailbox, &utf7);
	if (r == -EILSEQ) {
		snprintf(errbuf, errsize, "the mailbox name is not valid UTF-8");
		chime__imap_close(s);
		return -EINVAL;
	}
	if (r < 0)
		goto oom;
	s->mailbox = strdup(server->mailbox);
	mb = curl_easy_escape(s->curl, utf7, 0);
	if (mb == NULL || s->mailbox == NULL)
		goto oom;
	n = strlen(server->host) + 64;
	s->base_url = malloc(n);
	s->mailbox_url = malloc(n + strlen(mb));
	s->mailbox_q = malloc(2 * strlen(utf7) + 3);
	if (s->base_url == NULL || s->mailbox_url == NULL || s->mailbox_q == NULL)
		goto oom;
	snprintf(s->base_url, n, "%s://%s%s%s:%d/",
	         server->tls == CHIME_IMAP_TLS_IMAPS ? "imaps" : "imap", v6 ? "[" : "",
	         server->host, v6 ? "]" : "", server->port);
	snprintf(s->mailbox_url, n + strlen(mb), "%s%s", s->base_url, mb);
	p = s->mailbox_q;
	*p++ = '"';
	for (const char *c = utf7; *c != '\0'; c++) {
		if (*c == '"' || *c == '\\')
			*p++ = '\\';
		*p++ = *c;
	}
	*p++ = '"';
	*p = '\0';
	s->encoded = strcmp(utf7, server->mailbox) != 0;
	free(utf7);
	utf7 = NULL;
	curl_free(mb);

	(void)curl_easy_setopt(s->curl, CURLOPT_PROTOCOLS_STR, "imap,imaps");
	(void)curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(s->curl, CURLOPT_ERRORBUFFER, s->curl_err);
	(void)curl_easy_setopt(s->curl, CURLOPT_USERNAME, server->username);
	(void)curl_easy_setopt(s->curl, CURLOPT_PASSWORD,
	                       server->password != NULL ? server->password : "");
	(void)curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, imap_write_cb);
	(void)curl_easy_setopt(s->curl, CURLOPT_NOPROGRESS, 0L);
	(void)curl_easy_setopt(s->curl, CURLOPT_XFERINFOFUNCTION, imap_progress_cb);
	(void)curl_easy_setopt(s->curl, CURLOPT_XFERINFODATA, s);
	if (server->tls == CHIME_IMAP_TLS_STARTTLS)
		(void)curl_easy_setopt(s->curl, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (server->ca_file != NULL)
		(void)curl_easy_setopt(s->curl, CURLOPT_CAINFO, server->ca_file);
	*ret = s;
	return 0;
oom:
	curl_free(mb);
	free(utf7);
	chime__imap_close(s);
	snprintf(errbuf, errsize, "out of memory");
	return -ENOMEM;
}

struct chime__imap *
chime__imap_close(struct chime__imap *s)
{
	if (s == NULL)
		return NULL;
	if (s->curl != NULL) {
		/* Drop the password from memory held by libcurl as soon as we can. */
		curl_easy_cleanup(s->curl);
	}
	chime_free_many(s->base_url, s->mailbox_url, s->mailbox_q, s->mailbox, s);
	return NULL;
}

/* Perform one request on `url` (custom command `custom`, or NULL for a
 * fetch by URL), collecting the output in `sink`. */
static int
imap_perform(struct chime__imap *s, const char *url, const char *custom, struct imap_sink *sink,
             char *errbuf, size_t errsize)
{
	CURLcode cc;
	int64_t left = 0;

	if (s->deadline_usec > 0) {
		left = s->deadline_usec - chime_clock_mono_usec();
		if (left <= 0) {
			snprintf(errbuf, errsize, "timed out (the connection's timeout ran out)");
			return -ETIMEDOUT;
		}
	}
	s->curl_err[0] = '\0';
	(void)curl_easy_setopt(s->curl, CURLOPT_URL, url);
	(void)curl_easy_setopt(s->curl, CURLOPT_CUSTOMREQUEST, custom);
	(void)curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, sink);
	(void)curl_easy_setopt(s->curl, CURLOPT_TIMEOUT_MS, (long)((left + 999) / 1000));
	(void)curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT_MS,
	                       (long)(left > 0 && left < 10000000 ? (left + 999) / 1000 : 10000));
	cc = curl_easy_perform(s->curl);
	if (cc == CURLE_OK)
		return 0;
	if (sink->oom) {
		snprintf(errbuf, errsize, "out of memory");
		return -ENOMEM;
	}
	if (sink->too_big) {
		snprintf(errbuf, errsize, "message larger than %" PRIu64 " bytes", sink->max);
		return -EFBIG;
	}
	snprintf(errbuf, errsize, "%s",
	         s->curl_err[0] != '\0' ? s->curl_err : curl_easy_strerror(cc));
	if (cc == CURLE_REMOTE_FILE_NOT_FOUND)
		return -ENOENT;
	if (cc == CURLE_LOGIN_DENIED) {
		snprintf(errbuf, errsize, "login failed: %s",
		         s->curl_err[0] != '\0' ? s->curl_err : curl_easy_strerror(cc));
		return -EACCES;
	}
	if (cc == CURLE_QUOTE_ERROR) /* a NO or BAD to a custom command */
		return -ENOENT;
	return chime__curl_errno(cc);
}

static int
imap_custom(struct chime__imap *s, const char *command, struct imap_sink *sink, char *errbuf,
            size_t errsize)
{
	sink->max = UINT64_MAX;
	return imap_perform(s, s->base_url, command, sink, errbuf, errsize);
}

int
chime__imap_examine(struct chime__imap *s, uint64_t *ret_uidvalidity, char *errbuf, size_t errsize)
{
	struct imap_sink k = {0};
	char *cmd = NULL;
	const char *p;
	int r;

	cmd = malloc(strlen(s->mailbox_q) + 16);
	if (cmd == NULL) {
		snprintf(errbuf, errsize, "out of memory");
		return -ENOMEM;
	}
	sprintf(cmd, "EXAMINE %s", s->mailbox_q);
	r = imap_custom(s, cmd, &k, errbuf, errsize);
	if (r < 0)
		goto out;
	p = k.data != NULL ? strstr(k.data, "[UIDVALIDITY ") : NULL;
	if (p == NULL) {
		snprintf(errbuf, errsize, "the server sent no UIDVALIDITY for the mailbox");
		r = -EIO;
		goto out;
	}
	*ret_uidvalidity = strtoull(p + strlen("[UIDVALIDITY "), NULL, 10);
	r = 0;
out:
	if (r == -ENOENT)
		snprintf(errbuf, errsize, "cannot open the mailbox \"%s\"%s%s%s (EXAMINE refused)",
		         s->mailbox, s->encoded ? " (sent as " : "", s->encoded ? s->mailbox_q : "",
		         s->encoded ? ")" : "");
	free(k.data);
	free(cmd);
	return r;
}

static int
imap_cmp_uid(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int
chime__imap_search(struct chime__imap *s, uint64_t first, uint64_t **ret_uids, size_t *ret_n,
                   char *errbuf, size_t errsize)
{
	struct imap_sink k = {0};
	uint64_t *uids = NULL;
	size_t n = 0, cap = 0;
	char cmd[64];
	int r;

	snprintf(cmd, sizeof(cmd), "UID SEARCH UID %" PRIu64 ":*", first);
	r = imap_custom(s, cmd, &k, errbuf, errsize);
	if (r < 0)
		goto out;
	for (char *line = k.data; line != NULL && *line != '\0';) {
		char *end = strchr(line, '\n');

		if (end != NULL)
			*end = '\0';
		if (strncmp(line, "* SEARCH", 8) == 0) {
			for (char *p = line + 8; *p != '\0';) {
				char *e;
				uint64_t uid;

				while (*p == ' ')
					p++;
				if (*p < '0' || *p > '9')
					break;
				uid = strtoull(p, &e, 10);
				p = e;
				if (uid < first)
					continue; /* the n:* quirk */
				if (chime_grow(&uids, &cap, n + 1, sizeof(*uids)) < 0) {
					snprintf(errbuf, errsize, "out of memory");
					r = -ENOMEM;
					goto out;
				}
				uids[n++] = uid;
			}
		}
		line = end != NULL ? end + 1 : NULL;
	}
	if (n > 1)
		qsort(uids, n, sizeof(*uids), imap_cmp_uid);
	*ret_uids = uids;
	*ret_n = n;
	uids = NULL;
	r = 0;
out:
	free(uids);
	free(k.data);
	return r;
}

/* "1,5,7" for the UID set; malloc'd. */
static char *
imap_uid_set(const char *prefix, const uint64_t *uids, size_t n, const char *suffix)
{
	size_t size = strlen(prefix) + strlen(suffix) + n * 21 + 1, len;
	char *buf = malloc(size);

	if (buf == NULL)
		return NULL;
	len = (size_t)snprintf(buf, size, "%s", prefix);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%" PRIu64, i > 0 ? "," : "",
		                        uids[i]);
	snprintf(buf + len, size - len, "%s", suffix);
	return buf;
}

static int
imap_cmp_info(const void *a, const void *b)
{
	const struct chime__imap_info *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

int
chime__imap_info(struct chime__imap *s, const uint64_t *uids, size_t n,
                 struct chime__imap_info *ret, size_t *ret_n, char *errbuf, size_t errsize)
{
	struct imap_sink k = {0};
	char *cmd = imap_uid_set("UID FETCH ", uids, n, " (UID FLAGS RFC822.SIZE)");
	size_t got = 0;
	int r;

	if (cmd == NULL) {
		snprintf(errbuf, errsize, "out of memory");
		return -ENOMEM;
	}
	r = imap_custom(s, cmd, &k, errbuf, errsize);
	if (r < 0)
		goto out;
	for (char *line = k.data; line != NULL && *line != '\0';) {
		char *end = strchr(line, '\n'), *p, *f;
		struct chime__imap_info in = {0};
		bool have_uid = false, have_size = false;

		if (end != NULL)
			*end = '\0';
		if (strncmp(line, "* ", 2) == 0 && strstr(line, " FETCH (") != NULL) {
			p = strstr(line, "UID ");
			if (p != NULL && (p == line || p[-1] == '(' || p[-1] == ' ')) {
				in.uid = strtoull(p + 4, NULL, 10);
				have_uid = true;
			}
			p = strstr(line, "RFC822.SIZE ");
			if (p != NULL) {
				in.size = strtoull(p + 12, NULL, 10);
				have_size = true;
			}
			f = strstr(line, "FLAGS (");
			if (f != NULL) {
				char *fe = strchr(f, ')');
				char *seen = strstr(f, "\\Seen");

				in.seen = seen != NULL && (fe == NULL || seen < fe);
			}
			if (have_uid && have_size && got < n)
				ret[got++] = in;
		}
		line = end != NULL ? end + 1 : NULL;
	}
	qsort(ret, got, sizeof(*ret), imap_cmp_info);
	*ret_n = got;
	r = 0;
out:
	free(k.data);
	free(cmd);
	return r;
}

int
chime__imap_fetch(struct chime__imap *s, uint64_t uidvalidity, uint64_t uid, uint64_t max_bytes,
                  char **ret_data, size_t *ret_len, char *errbuf, size_t errsize)
{
	struct imap_sink k = {.max = max_bytes};
	size_t n = strlen(s->mailbox_url) + 64;
	char *url = malloc(n);
	int r;

	if (url == NULL) {
		snprintf(errbuf, errsize, "out of memory");
		return -ENOMEM;
	}
	snprintf(url, n, "%s;UIDVALIDITY=%" PRIu64 "/;UID=%" PRIu64, s->mailbox_url, uidvalidity,
	         uid);
	r = imap_perform(s, url, NULL, &k, errbuf, errsize);
	free(url);
	if (r < 0) {
		free(k.data);
		return r;
	}
	if (k.data == NULL) {
		k.data = strdup("");
		if (k.data == NULL) {
			snprintf(errbuf, errsize, "out of memory");
			return -ENOMEM;
		}
	}
	*ret_data = k.data;
	*ret_len = k.len;
	return 0;
}

int
chime__imap_unsee(struct chime__imap *s, const uint64_t *uids, size_t n, char *errbuf,
                  size_t errsize)
{
	struct imap_sink k = {0};
	char *cmd;
	int r;

	if (n == 0)
		return 0;
	cmd = imap_uid_set("UID STORE ", uids, n, " -FLAGS.SILENT (\\Seen)");
	if (cmd == NULL) {
		snprintf(errbuf, errsize, "out of memory");
		return -ENOMEM;
	}
	k.max = UINT64_MAX;
	/* On the mailbox URL: the mailbox libcurl selected for the fetch. */
	r = imap_perform(s, s->mailbox_url, cmd, &k, errbuf, errsize);
	free(k.data);
	free(cmd);
	return r;
}
