/* SPDX-License-Identifier: MIT */
/*
 * Header parsing for the email_sync plugin (see email_sync.h): the raw
 * message is always kept; these pull Message-ID, From, To, Subject and Date
 * out of it when they are readable.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "email_sync.h"
#include "utf8.h"

bool
chime__email_valid_utf8(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		int32_t cp = chime__utf8_next(s, n, &i);

		if (cp <= 0)
			return false;
	}
	return true;
}

/* The unfolded, trimmed value of the first header `name` as UTF-8 (read
 * as Latin-1 when it is not UTF-8); malloc'd. Broken header blocks are
 * read as far as they make sense. */
char *
chime__email_header(const char *raw, size_t len, const char *name)
{
	size_t nlen = strlen(name), i = 0;

	while (i < len) {
		size_t eol = i;

		while (eol < len && raw[eol] != '\n')
			eol++;
		if (eol == i || (eol == i + 1 && raw[i] == '\r'))
			return NULL; /* end of the header block */
		if (eol - i > nlen && strncasecmp(raw + i, name, nlen) == 0 &&
		    raw[i + nlen] == ':') {
			size_t cap = 256, n = 0, p = i + nlen + 1;
			char *v = malloc(cap);

			if (v == NULL)
				return NULL;
			for (;;) {
				for (; p < eol; p++) {
					char c = raw[p];

					if (c == '\r')
						continue;
					if (c == '\t')
						c = ' ';
					if (n + 2 > cap) {
						char *nv;

						if (cap >= 16384)
							break;
						nv = realloc(v, cap * 2);
						if (nv == NULL) {
							free(v);
							return NULL;
						}
						v = nv;
						cap *= 2;
					}
					v[n++] = c;
				}
				/* A continuation line starts with a space or a tab. */
				if (eol + 1 < len &&
				    (raw[eol + 1] == ' ' || raw[eol + 1] == '\t')) {
					p = eol + 1;
					eol = p;
					while (eol < len && raw[eol] != '\n')
						eol++;
					continue;
				}
				break;
			}
			while (n > 0 && v[n - 1] == ' ')
				n--;
			v[n] = '\0';
			size_t skip = strspn(v, " ");
			char *latin1;

			if (chime__email_valid_utf8((const unsigned char *)v + skip, n - skip)) {
				memmove(v, v + skip, n - skip + 1);
				return v;
			}
			/* 8-bit text that is not UTF-8: most likely Latin-1. */
			latin1 = chime__email_latin1_to_utf8((const unsigned char *)v + skip,
			                                     n - skip);
			free(v);
			return latin1;
		}
		i = eol + 1;
	}
	return NULL;
}

/* An RFC 5322 date ("Tue, 3 Mar 2026 10:15:00 +0400") as an RFC 3339 UTC
 * timestamp in buf; false when it cannot be read. */
bool
chime__email_parse_date(const char *s, char *buf, size_t size)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	static const struct {
		const char *name;
		int minutes;
	} zones[] = {{"UT", 0},     {"GMT", 0},    {"Z", 0},      {"EST", -300},
	             {"EDT", -240}, {"CST", -360}, {"CDT", -300}, {"MST", -420},
	             {"MDT", -360}, {"PST", -480}, {"PDT", -420}};
	struct tm tm = {0};
	int day, year, hh, mm, ss = 0, off = 0, n = 0;
	char mon[4], zone[8] = "";
	const char *p = strchr(s, ',');
	const char *m;
	time_t t;

	s = p != NULL ? p + 1 : s;
	if (sscanf(s, " %d %3s %d %d:%d%n", &day, mon, &year, &hh, &mm, &n) != 5)
		return false;
	s += n;
	if (*s == ':') {
		if (sscanf(s, ":%d%n", &ss, &n) != 1)
			return false;
		s += n;
	}
	if (sscanf(s, " %7s", zone) == 1) {
		if ((zone[0] == '+' || zone[0] == '-') && strlen(zone) == 5 &&
		    strspn(zone + 1, "0123456789") == 4) {
			int v = atoi(zone + 1);

			off = (v / 100) * 60 + v % 100;
			if (zone[0] == '-')
				off = -off;
		} else {
			for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++)
				if (strcasecmp(zone, zones[i].name) == 0)
					off = zones[i].minutes;
		}
	}
	m = strlen(mon) == 3 ? strstr(months, mon) : NULL;
	if (m == NULL || (m - months) % 3 != 0)
		return false;
	if (year < 50)
		year += 2000;
	else if (year < 1000)
		year += 1900;
	if (day < 1 || day > 31 || hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60 ||
	    year > 9999)
		return false;
	tm.tm_year = year - 1900;
	tm.tm_mon = (int)(m - months) / 3;
	tm.tm_mday = day;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss == 60 ? 59 : ss;
	t = timegm(&tm) - (time_t)off * 60;
	if (gmtime_r(&t, &tm) == NULL)
		return false;
	return strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) > 0;
}
