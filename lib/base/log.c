/* SPDX-License-Identifier: MIT */
/*
 * Logging for the daemon and stateful services (see chime/log.h). The
 * target is chosen once by chime_log_open(): the journal's native protocol
 * when stderr is connected to it, "<N>"-prefixed lines on stderr under
 * systemd otherwise, and "level: " lines on a terminal or pipe. Each event
 * is one sd_journal_sendv() or one write(2), so lines from several threads
 * never interleave.
 */
#include "log.h"

#include <sys/stat.h>
#include <sys/uio.h>

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "clock.h"
#include "log-json.h"

enum log_target {
	LOG_TARGET_PLAIN,   /* terminal or pipe: "level: message" */
	LOG_TARGET_PREFIX,  /* stderr under systemd: "<N>message" */
	LOG_TARGET_JOURNAL, /* native journal fields */
	LOG_TARGET_JSON,    /* one JSON object per line (log-json.c) */
};

static _Atomic int log_target = LOG_TARGET_PLAIN;
static _Atomic bool log_timestamps = false;
static _Atomic int log_max_priority = CHIME_LOG_INFO;

static const char *const level_names[] = {
        [0] = "emerg",   [1] = "alert",  [2] = "crit", [3] = "error",
        [4] = "warning", [5] = "notice", [6] = "info", [7] = "debug",
};

/* True when $JOURNAL_STREAM ("DEV:INODE") names the file on fd 2. */
static bool
stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (e == NULL || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void
chime_log_open(int max_priority)
{
	chime_log_set_level(max_priority);
	if (stderr_is_journal())
		log_target = LOG_TARGET_JOURNAL;
	else if (getenv("INVOCATION_ID") != NULL || getenv("NOTIFY_SOCKET") != NULL)
		log_target = LOG_TARGET_PREFIX;
	else
		log_target = LOG_TARGET_PLAIN;
}

int
chime_log_format_parse(const char *text, enum chime_log_format *ret_format)
{
	if (text != NULL && strcmp(text, "auto") == 0)
		*ret_format = CHIME_LOG_FORMAT_AUTO;
	else if (text != NULL && strcmp(text, "text") == 0)
		*ret_format = CHIME_LOG_FORMAT_TEXT;
	else if (text != NULL && strcmp(text, "json") == 0)
		*ret_format = CHIME_LOG_FORMAT_JSON;
	else
		return -EINVAL;
	return 0;
}

void
chime_log_set_format(enum chime_log_format format, bool timestamps)
{
	if (format == CHIME_LOG_FORMAT_JSON)
		log_target = LOG_TARGET_JSON;
	else if (format == CHIME_LOG_FORMAT_TEXT && log_target == LOG_TARGET_JOURNAL)
		log_target = LOG_TARGET_PREFIX;
	log_timestamps = timestamps;
}

void
chime_log_set_level(int max_priority)
{
	if (max_priority < CHIME_LOG_ERR)
		max_priority = CHIME_LOG_ERR;
	if (max_priority > CHIME_LOG_DEBUG)
		max_priority = CHIME_LOG_DEBUG;
	log_max_priority = max_priority;
}

int
chime_log_level_parse(const char *text, int *ret_priority)
{
	static const struct {
		const char *name;
		int priority;
	} names[] = {
	        {"err", CHIME_LOG_ERR},         {"error", CHIME_LOG_ERR},
	        {"warning", CHIME_LOG_WARNING}, {"warn", CHIME_LOG_WARNING},
	        {"notice", CHIME_LOG_NOTICE},   {"info", CHIME_LOG_INFO},
	        {"debug", CHIME_LOG_DEBUG},
	};

	if (text == NULL)
		return -EINVAL;
	if (text[0] >= '3' && text[0] <= '7' && text[1] == '\0') {
		*ret_priority = text[0] - '0';
		return 0;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(text, names[i].name) == 0) {
			*ret_priority = names[i].priority;
			return 0;
		}
	return -EINVAL;
}

/* Format the message (with the run prefix) into a malloc'd string. */
static char *format_message(const struct chime_log_run *run, const char *fmt, va_list ap)
        CHIME_PRINTF(2, 0);

static char *
format_message(const struct chime_log_run *run, const char *fmt, va_list ap)
{
	char *msg = NULL, *full = NULL;
	int r;

	if (vasprintf(&msg, fmt, ap) < 0)
		return NULL;
	if (run == NULL || run->job == NULL)
		return msg;
	if (run->plugin != NULL)
		r = asprintf(&full, "job '%s' (%s): %s", run->job, run->plugin, msg);
	else
		r = asprintf(&full, "job '%s': %s", run->job, msg);
	free(msg);
	if (r < 0)
		return NULL;
	return full;
}

/* Write the whole buffer with as few write(2) calls as the kernel allows;
 * one for any line shorter than PIPE_BUF on a pipe. */
static void
write_all(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

/* A control byte a job printed (an escape sequence, a carriage return)
 * must not reach a terminal or a syslog file raw; the journal stores it
 * as data, so only the text targets escape it. */
static bool
log_byte_escaped(unsigned char c)
{
	return (c < 0x20 && c != '\t' && c != '\n') || c == 0x7f;
}

/* Copy MSG as one line: newlines become spaces (one event is one line),
 * other control bytes \xNN. Returns the length written. */
static size_t
log_escape_line(char *dst, const char *msg, size_t mlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	for (size_t i = 0; i < mlen; i++) {
		unsigned char c = (unsigned char)msg[i];

		if (log_byte_escaped(c)) {
			dst[n++] = '\\';
			dst[n++] = 'x';
			dst[n++] = hex[c >> 4];
			dst[n++] = hex[c & 0xf];
		} else {
			dst[n++] = c == '\n' ? ' ' : (char)c;
		}
	}
	return n;
}

static void
log_stderr(int target, int priority, const char *msg)
{
	size_t mlen = strlen(msg), plen, size, n_esc = 0;
	char prefix[64], stack[1024], *line = stack, when[CHIME_CLOCK_FORMAT_MAX] = "";

	if (target == LOG_TARGET_PLAIN && log_timestamps)
		chime__log_time(chime_clock_wall_usec(), when, sizeof(when));
	if (target == LOG_TARGET_PREFIX)
		plen = (size_t)snprintf(prefix, sizeof(prefix), "<%d>", priority);
	else
		plen = (size_t)snprintf(prefix, sizeof(prefix), "%s%s%s: ", when,
		                        when[0] != '\0' ? " " : "", level_names[priority]);
	for (size_t i = 0; i < mlen; i++)
		n_esc += log_byte_escaped((unsigned char)msg[i]);
	size = plen + mlen + 3 * n_esc + 1;
	if (size > sizeof(stack)) {
		line = malloc(size);
		if (line == NULL) {
			/* Out of memory: two writes are better than none. */
			write_all(prefix, plen);
			write_all(msg, mlen);
			write_all("\n", 1);
			return;
		}
	}
	memcpy(line, prefix, plen);
	size = plen + log_escape_line(line + plen, msg, mlen);
	line[size++] = '\n';
	write_all(line, size);
	if (line != stack)
		free(line);
}

/* A malloc'd "KEY=value" journal field, or NULL on OOM. */
static char *field(const char *fmt, ...) CHIME_PRINTF(1, 2);

static char *
field(const char *fmt, ...)
{
	va_list ap;
	char *f;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&f, fmt, ap);
	va_end(ap);
	return r < 0 ? NULL : f;
}

static int
log_journal(int priority, const struct chime_log_run *run, const char *msg)
{
	char *fields[11] = {NULL};
	struct iovec iov[11];
	size_t n = 0;
	int r;

	fields[n++] = field("MESSAGE=%s", msg);
	fields[n++] = field("PRIORITY=%d", priority);
	fields[n++] = strdup("SYSLOG_IDENTIFIER=chimed");
	if (run != NULL) {
		if (run->job != NULL)
			fields[n++] = field("CHIME_JOB=%s", run->job);
		if (run->plugin != NULL)
			fields[n++] = field("CHIME_PLUGIN=%s", run->plugin);
		if (run->run_id != 0)
			fields[n++] = field("CHIME_RUN_ID=%" PRId64, run->run_id);
		if (run->scheduled_for_usec != 0) {
			char when[64];

			if (chime_clock_format_utc(run->scheduled_for_usec, when, sizeof(when)) < 0)
				snprintf(when, sizeof(when), "%" PRId64, run->scheduled_for_usec);
			fields[n++] = field("CHIME_SCHEDULED_FOR=%s", when);
		}
		if (run->status != NULL)
			fields[n++] = field("CHIME_STATUS=%s", run->status);
		if (run->message_id != NULL)
			fields[n++] = field("MESSAGE_ID=%s", run->message_id);
		if (run->summary != NULL)
			fields[n++] = field("CHIME_SUMMARY=%s", run->summary);
	}
	r = 0;
	for (size_t i = 0; i < n; i++) {
		if (fields[i] == NULL) {
			r = -ENOMEM;
			goto out;
		}
		iov[i].iov_base = fields[i];
		iov[i].iov_len = strlen(fields[i]);
	}
	r = sd_journal_sendv(iov, (int)n);
out:
	for (size_t i = 0; i < n; i++)
		free(fields[i]);
	return r;
}

void
chime_log_runv(int priority, const struct chime_log_run *run, const char *fmt, va_list ap)
{
	int target = log_target;
	char *msg;

	if (priority < 0)
		priority = 0;
	if (priority > CHIME_LOG_DEBUG)
		priority = CHIME_LOG_DEBUG;
	if (priority > log_max_priority)
		return;
	msg = format_message(run, fmt, ap);
	if (msg == NULL)
		return;
	if (target == LOG_TARGET_JSON) {
		char *line = chime__log_json_line(priority, run, msg, chime_clock_wall_usec());

		if (line != NULL) {
			write_all(line, strlen(line));
			free(line);
			free(msg);
			return;
		}
		target = LOG_TARGET_PREFIX; /* out of memory: a line is better than none */
	}
	if (target != LOG_TARGET_JOURNAL || log_journal(priority, run, msg) < 0)
		log_stderr(target == LOG_TARGET_PLAIN ? LOG_TARGET_PLAIN : LOG_TARGET_PREFIX,
		           priority, msg);
	free(msg);
}

void
chime_log_run(int priority, const struct chime_log_run *run, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	chime_log_runv(priority, run, fmt, ap);
	va_end(ap);
}

void
chime_logv(int priority, const char *fmt, va_list ap)
{
	chime_log_runv(priority, NULL, fmt, ap);
}

void
chime_log(int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	chime_log_runv(priority, NULL, fmt, ap);
	va_end(ap);
}
