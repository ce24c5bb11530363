/* SPDX-License-Identifier: MIT */
/* One log event as one JSON line: see log-json.h. */
#include "log-json.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

static const char *const level_names[] = {"emerg",   "alert",  "crit", "error",
                                          "warning", "notice", "info", "debug"};

/* The length of the valid UTF-8 sequence at S (at most N bytes), or 0. */
static size_t
utf8_valid(const unsigned char *s, size_t n)
{
	size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 0;
	uint32_t cp;

	if (s[0] < 0xc2 || s[0] > 0xf4 || len > n)
		return 0;
	cp = s[0] & (0x7f >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and beyond U+10FFFF are not text. */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static void
put_string(FILE *f, const char *text)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t n = strlen(text);

	fputc('"', f);
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t len;

		if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc(c, f);
			i++;
		} else if (c == '\n') {
			fputs("\\n", f);
			i++;
		} else if (c == '\t') {
			fputs("\\t", f);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
			i++;
		} else if (c < 0x80) {
			fputc(c, f);
			i++;
		} else if ((len = utf8_valid(s + i, n - i)) > 0) {
			fwrite(s + i, 1, len, f);
			i += len;
		} else {
			fputs("\\ufffd", f);
			i++;
		}
	}
	fputc('"', f);
}

static void
put_member(FILE *f, const char *key, const char *value)
{
	if (value == NULL)
		return;
	fprintf(f, ",\"%s\":", key);
	put_string(f, value);
}

void
chime__log_time(int64_t wall_usec, char *buf, size_t size)
{
	int64_t ms = wall_usec / 1000 - (wall_usec % 1000 < 0);
	int64_t sec = ms / 1000 - (ms % 1000 < 0);
	char whole[CHIME_CLOCK_FORMAT_MAX];
	int n = chime_clock_format_utc(sec * 1000000, whole, sizeof(whole));

	if (n < 2) {
		snprintf(buf, size, "%" PRId64, wall_usec);
		return;
	}
	/* "...:SSZ" -> "...:SS.mmmZ" */
	snprintf(buf, size, "%.*s.%03dZ", n - 1, whole, (int)(ms - sec * 1000));
}

char *
chime__log_json_line(int priority, const struct chime_log_run *run, const char *msg,
                     int64_t wall_usec)
{
	char when[CHIME_CLOCK_FORMAT_MAX], *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		return NULL;
	/* Milliseconds: finer is noise in a log, coarser loses ordering. */
	chime__log_time(wall_usec, when, sizeof(when));
	fputs("{\"time\":", f);
	put_string(f, when);
	put_member(f, "level", level_names[priority < 0 ? 0 : priority > 7 ? 7 : priority]);
	put_member(f, "message", msg);
	if (run != NULL) {
		put_member(f, "job", run->job);
		put_member(f, "plugin", run->plugin);
		if (run->run_id != 0)
			fprintf(f, ",\"run_id\":%" PRId64, run->run_id);
		if (run->scheduled_for_usec != 0 &&
		    chime_clock_format_utc(run->scheduled_for_usec, when, sizeof(when)) >= 0)
			put_member(f, "scheduled_for", when);
		put_member(f, "status", run->status);
		put_member(f, "message_id", run->message_id);
		/* The report is JSON already (written by jansson): as is. */
		if (run->summary != NULL && run->summary[0] == '{')
			fprintf(f, ",\"summary\":%s", run->summary);
	}
	fputs("}\n", f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
