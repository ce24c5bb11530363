/* SPDX-License-Identifier: MIT */
/*
 * Time zones read from TZif files (RFC 8536, versions 1 to 3) and their
 * POSIX TZ footer. At load time the file's transitions and the footer's
 * rule, expanded up to the year 2200, are merged into one sorted table of
 * (instant, offset) pairs, so an offset lookup or a wall-time resolution is
 * a binary search; beyond the table the rule is evaluated directly. A
 * loaded zone is immutable; only its reference count changes (atomically),
 * so it may be shared between threads. Never logs, touches no globals.
 */
#include "tz.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "array.h"
#include "mem.h"

#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"
#define TZ_MAX_FILE    (1024 * 1024)
#define TZ_NAME_MAX    255
#define TZ_TABLE_YEAR  2200 /* the footer rule is expanded up to here */

/* When a footer rule switches, in one of the three POSIX date forms. */
enum tz_rule_kind {
	TZ_RULE_JULIAN1, /* Jn: 1..365, February 29 never counted */
	TZ_RULE_JULIAN0, /* n: 0..365, February 29 counted */
	TZ_RULE_MWD,     /* Mm.w.d: day d of week w (5 = last) of month m */
};

struct tz_rule_date {
	enum tz_rule_kind kind;
	int day; /* Jn / n */
	int month, week, wday;
	int32_t time; /* seconds after local midnight, may be negative or > 24 h */
};

struct tz_footer {
	bool present;
	bool has_dst;
	int32_t std_off; /* east of UTC */
	int32_t dst_off;
	struct tz_rule_date start, end;
};

struct chime_tz {
	unsigned refcount;
	bool is_static;
	bool is_utc;
	char *name;
	/*
	 * trans[i] is an instant at which the offset becomes off[i]; before
	 * trans[0] the offset is off0. Only real offset changes are kept.
	 * key[i] is the earliest wall time (civil seconds) that transition
	 * i makes missing or repeated: trans[i] + min(offset before, after).
	 */
	size_t n;
	int64_t *trans;
	int64_t *key;
	int32_t *off;
	int32_t off0;
	/* Instants at or after table_end (wall times at or after
	 * table_end_local) are computed from the footer rule. */
	int64_t table_end;
	int64_t table_end_local;
	struct tz_footer footer;
};

static char tz_utc_name[] = "UTC";

static struct chime_tz tz_utc_zone = {
        .refcount = 1,
        .is_static = true,
        .is_utc = true,
        .name = tz_utc_name,
        .table_end = INT64_MAX,
        .table_end_local = INT64_MAX,
};

static int64_t
year_of_sec(int64_t sec)
{
	int64_t y;
	unsigned m, d;

	chime_civil_from_days(chime_floor_div(sec, CHIME_SEC_PER_DAY), &y, &m, &d);
	return y;
}

/* The POSIX TZ footer. */

static const char *
footer_parse_name(const char *p)
{
	const char *start;

	if (*p == '<') {
		start = ++p;
		while (*p != '\0' && *p != '>') {
			if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			      (*p >= '0' && *p <= '9') || *p == '+' || *p == '-'))
				return NULL;
			p++;
		}
		if (*p != '>' || p - start < 3)
			return NULL;
		return p + 1;
	}
	start = p;
	while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
		p++;
	return p - start >= 3 ? p : NULL;
}

static const char *
footer_parse_num(const char *p, int max, int *ret)
{
	int v = 0;

	if (*p < '0' || *p > '9')
		return NULL;
	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (*p - '0');
		if (v > max)
			return NULL;
		p++;
	}
	*ret = v;
	return p;
}

/* [+-]hh[:mm[:ss]], hours up to max_hours. */
static const char *
footer_parse_hms(const char *p, int max_hours, int32_t *ret)
{
	int sign = 1, h, m = 0, s = 0;

	if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		p++;
	}
	p = footer_parse_num(p, max_hours, &h);
	if (p == NULL)
		return NULL;
	if (*p == ':') {
		p = footer_parse_num(p + 1, 59, &m);
		if (p == NULL)
			return NULL;
		if (*p == ':') {
			p = footer_parse_num(p + 1, 59, &s);
			if (p == NULL)
				return NULL;
		}
	}
	*ret = sign * (h * 3600 + m * 60 + s);
	return p;
}

static const char *
footer_parse_date(const char *p, struct tz_rule_date *ret)
{
	struct tz_rule_date r = {.time = 7200};

	if (*p == 'J') {
		r.kind = TZ_RULE_JULIAN1;
		p = footer_parse_num(p + 1, 365, &r.day);
		if (p == NULL || r.day < 1)
			return NULL;
	} else if (*p == 'M') {
		r.kind = TZ_RULE_MWD;
		p = footer_parse_num(p + 1, 12, &r.month);
		if (p == NULL || r.month < 1 || *p != '.')
			return NULL;
		p = footer_parse_num(p + 1, 5, &r.week);
		if (p == NULL || r.week < 1 || *p != '.')
			return NULL;
		p = footer_parse_num(p + 1, 6, &r.wday);
		if (p == NULL)
			return NULL;
	} else {
		r.kind = TZ_RULE_JULIAN0;
		p = footer_parse_num(p, 365, &r.day);
		if (p == NULL)
			return NULL;
	}
	if (*p == '/') {
		/* RFC 8536 extends the time to -167..167 hours. */
		p = footer_parse_hms(p + 1, 167, &r.time);
		if (p == NULL)
			return NULL;
	}
	*ret = r;
	return p;
}

static int
footer_parse(const char *s, struct tz_footer *ret)
{
	struct tz_footer f = {.present = true};
	const char *p = s;
	int32_t v;

	p = footer_parse_name(p);
	if (p == NULL)
		return -EBADMSG;
	p = footer_parse_hms(p, 24, &v);
	if (p == NULL)
		return -EBADMSG;
	f.std_off = -v; /* POSIX offsets count west */
	f.dst_off = f.std_off;
	if (*p == '\0')
		goto done;
	p = footer_parse_name(p);
	if (p == NULL)
		return -EBADMSG;
	f.has_dst = true;
	f.dst_off = f.std_off + 3600;
	if (*p != ',' && *p != '\0') {
		p = footer_parse_hms(p, 24, &v);
		if (p == NULL)
			return -EBADMSG;
		f.dst_off = -v;
	}
	if (*p == '\0') {
		/* No rule: the POSIX default of the US rules. */
		f.start = (struct tz_rule_date){.kind = TZ_RULE_MWD, 0, 3, 2, 0, 7200};
		f.end = (struct tz_rule_date){.kind = TZ_RULE_MWD, 0, 11, 1, 0, 7200};
		goto done;
	}
	if (*p != ',')
		return -EBADMSG;
	p = footer_parse_date(p + 1, &f.start);
	if (p == NULL || *p != ',')
		return -EBADMSG;
	p = footer_parse_date(p + 1, &f.end);
	if (p == NULL || *p != '\0')
		return -EBADMSG;
done:
	*ret = f;
	return 0;
}

/* The civil day (days since the epoch) a rule date falls on in year y. */
static int64_t
rule_day(const struct tz_rule_date *r, int64_t y)
{
	int64_t jan1 = chime_days_from_civil(y, 1, 1);
	int64_t first, day;
	unsigned wd;

	switch (r->kind) {
	case TZ_RULE_JULIAN1:
		/* Feb 29 is never counted: day 60 is always March 1. */
		return jan1 + r->day - 1 + (chime_is_leap(y) && r->day >= 60);
	case TZ_RULE_JULIAN0:
		return jan1 + r->day;
	case TZ_RULE_MWD:
	default:
		first = chime_days_from_civil(y, (unsigned)r->month, 1);
		wd = chime_weekday_from_days(first);
		day = first + ((unsigned)r->wday + 7 - wd) % 7 + (r->week - 1) * 7;
		while (day >= first + chime_days_in_month(y, (unsigned)r->month))
			day -= 7;
		return day;
	}
}

struct tz_event {
	int64_t at;
	int32_t off;
};

/* The footer's two switches of year y, in generation order. */
static void
rule_events(const struct tz_footer *f, int64_t y, struct tz_event ret[2])
{
	/* The start is given in standard time, the end in daylight time. */
	ret[0].at = rule_day(&f->start, y) * CHIME_SEC_PER_DAY + f->start.time - f->std_off;
	ret[0].off = f->dst_off;
	ret[1].at = rule_day(&f->end, y) * CHIME_SEC_PER_DAY + f->end.time - f->dst_off;
	ret[1].off = f->std_off;
}

/*
 * Sort events by instant (stably: at equal instants the later-generated
 * one wins) and drop those that change nothing, given the offset in force
 * before the first. Returns the new count.
 */
static size_t
events_normalize(struct tz_event *ev, size_t n, int32_t off_before)
{
	size_t i, j, out = 0;

	for (i = 1; i < n; i++) {
		struct tz_event e = ev[i];

		for (j = i; j > 0 && ev[j - 1].at > e.at; j--)
			ev[j] = ev[j - 1];
		ev[j] = e;
	}
	for (i = 0; i < n; i++) {
		if (out > 0 && ev[out - 1].at == ev[i].at)
			out--;
		if ((out > 0 ? ev[out - 1].off : off_before) == ev[i].off)
			continue;
		ev[out++] = ev[i];
	}
	return out;
}

/* The rule's switches for years y-1..y+1, normalized; *ret_off0 the offset before. */
static size_t
rule_window(const struct tz_footer *f, int64_t y, struct tz_event ev[6], int32_t *ret_off0)
{
	struct tz_event before[2];
	int32_t off0;

	/* The offset in force before year y-1's switches is that after y-2's last one. */
	rule_events(f, y - 2, before);
	off0 = before[0].at > before[1].at ? before[0].off : before[1].off;
	for (int k = 0; k < 3; k++)
		rule_events(f, y - 1 + k, &ev[2 * k]);
	*ret_off0 = off0;
	return events_normalize(ev, 6, off0);
}

/* Lookups over a transition table. */

/* The number of transitions at or before t (upper bound). */
static size_t
search_le(const int64_t *a, size_t n, int64_t t)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (a[mid] <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int32_t
chime_tz_offset_at(const struct chime_tz *tz, int64_t utc_sec)
{
	struct tz_event ev[6];
	int32_t off0;
	size_t n, i;

	if (tz->is_utc)
		return 0;
	if (utc_sec < tz->table_end) {
		i = search_le(tz->trans, tz->n, utc_sec);
		return i == 0 ? tz->off0 : tz->off[i - 1];
	}
	n = rule_window(&tz->footer, year_of_sec(utc_sec + tz->footer.std_off), ev, &off0);
	for (i = n; i > 0; i--)
		if (ev[i - 1].at <= utc_sec)
			return ev[i - 1].off;
	return off0;
}

static int
resolve_in(const int64_t *trans, const int64_t *key, const int32_t *off, size_t n, int32_t off0,
           int64_t local, int64_t ret_utc[2], int64_t *ret_jump, int32_t *ret_gap)
{
	size_t i = search_le(key, n, local);
	int32_t before, after;

	if (i == 0) {
		ret_utc[0] = local - off0;
		return 1;
	}
	i--;
	before = i == 0 ? off0 : off[i - 1];
	after = off[i];
	if (local >= trans[i] + (before > after ? before : after)) {
		ret_utc[0] = local - after;
		return 1;
	}
	if (after > before) {
		if (ret_jump != NULL)
			*ret_jump = trans[i];
		if (ret_gap != NULL)
			*ret_gap = after - before;
		return 0;
	}
	ret_utc[0] = local - before;
	ret_utc[1] = local - after;
	return 2;
}

int
chime_tz_resolve(const struct chime_tz *tz, int64_t local_sec, int64_t ret_utc[2],
                 int64_t *ret_jump_utc, int32_t *ret_gap_sec)
{
	struct tz_event ev[6];
	int64_t trans[6], key[6], out[2];
	int32_t off[6], off0;
	size_t n;
	int r;

	if (tz->is_utc) {
		ret_utc[0] = local_sec;
		return 1;
	}
	if (local_sec < tz->table_end_local)
		return resolve_in(tz->trans, tz->key, tz->off, tz->n, tz->off0, local_sec, ret_utc,
		                  ret_jump_utc, ret_gap_sec);
	n = rule_window(&tz->footer, year_of_sec(local_sec), ev, &off0);
	for (size_t i = 0; i < n; i++) {
		int32_t prev = i == 0 ? off0 : ev[i - 1].off;

		trans[i] = ev[i].at;
		off[i] = ev[i].off;
		key[i] = ev[i].at + (prev < ev[i].off ? prev : ev[i].off);
	}
	r = resolve_in(trans, key, off, n, off0, local_sec, out, ret_jump_utc, ret_gap_sec);
	for (int k = 0; k < r; k++)
		ret_utc[k] = out[k];
	return r;
}

/* Loading. */

static bool
name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > TZ_NAME_MAX || name[0] == '/' || strstr(name, "..") != NULL)
		return false;
	for (const char *p = name; *p != '\0'; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '+' || *p == '-' || *p == '/'))
			return false;
	return true;
}

static int
read_file(const char *path, unsigned char **ret_buf, size_t *ret_len)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	struct stat st;
	ssize_t k;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errno == ENOTDIR || errno == ENAMETOOLONG ? -ENOENT : -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -ENOENT;
		goto out;
	}
	if (st.st_size > TZ_MAX_FILE) {
		r = -EBADMSG;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		r = -ENOMEM;
		goto out;
	}
	while (len < (size_t)st.st_size) {
		k = read(fd, buf + len, (size_t)st.st_size - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			goto out;
		}
		if (k == 0)
			break;
		len += (size_t)k;
	}
	*ret_buf = buf;
	*ret_len = len;
	buf = NULL;
	r = 0;
out:
	free(buf);
	close(fd);
	return r;
}

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t
be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_header {
	char version;
	uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static int
tzif_header(const unsigned char *p, size_t avail, struct tzif_header *h)
{
	if (avail < 44 || memcmp(p, "TZif", 4) != 0)
		return -EBADMSG;
	h->version = (char)p[4];
	h->isutcnt = be32(p + 20);
	h->isstdcnt = be32(p + 24);
	h->leapcnt = be32(p + 28);
	h->timecnt = be32(p + 32);
	h->typecnt = be32(p + 36);
	h->charcnt = be32(p + 40);
	if (h->typecnt == 0 || h->typecnt > 256 || h->timecnt > 100000 || h->leapcnt > 100000 ||
	    h->charcnt > 100000 || (h->isutcnt != 0 && h->isutcnt != h->typecnt) ||
	    (h->isstdcnt != 0 && h->isstdcnt != h->typecnt))
		return -EBADMSG;
	return 0;
}

static size_t
tzif_data_len(const struct tzif_header *h, size_t tsize)
{
	return (size_t)h->timecnt * (tsize + 1) + (size_t)h->typecnt * 6 + h->charcnt +
	       (size_t)h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

struct tz_builder {
	struct tz_event *ev;
	size_t n, cap;
};

static int
builder_add(struct tz_builder *b, int64_t at, int32_t off)
{
	if (chime_grow(&b->ev, &b->cap, b->n + 1, sizeof(*b->ev)) < 0)
		return -ENOMEM;
	b->ev[b->n].at = at;
	b->ev[b->n].off = off;
	b->n++;
	return 0;
}

/* Parse a TZif image into `tz` (its table, off0, footer and limits). */
static int
tzif_parse(const unsigned char *buf, size_t len, struct chime_tz *tz)
{
	struct tz_builder b = {0};
	struct tzif_header h;
	const unsigned char *p = buf, *times, *idx, *types;
	size_t tsize = 4, dlen;
	int64_t prev = INT64_MIN;
	int r;

	r = tzif_header(p, len, &h);
	if (r < 0)
		return r;
	dlen = tzif_data_len(&h, 4);
	if (44 + dlen > len)
		return -EBADMSG;
	if (h.version >= '2') {
		p += 44 + dlen;
		r = tzif_header(p, len - (size_t)(p - buf), &h);
		if (r < 0)
			return r;
		tsize = 8;
		dlen = tzif_data_len(&h, 8);
		if ((size_t)(p - buf) + 44 + dlen > len)
			return -EBADMSG;
	}
	times = p + 44;
	idx = times + (size_t)h.timecnt * tsize;
	types = idx + h.timecnt;

	for (uint32_t i = 0; i < h.timecnt; i++) {
		int64_t at = tsize == 8 ? be64(times + 8 * i) : (int32_t)be32(times + 4 * i);
		uint8_t t = idx[i];

		if (t >= h.typecnt || at <= prev) {
			r = -EBADMSG;
			goto out;
		}
		prev = at;
		r = builder_add(&b, at, (int32_t)be32(types + 6 * t));
		if (r < 0)
			goto out;
	}
	/* RFC 8536: before the first transition, time type 0 applies. */
	tz->off0 = (int32_t)be32(types);

	if (tsize == 8) {
		const unsigned char *f = p + 44 + dlen, *end = buf + len, *nl;
		char footer[256];

		if (f >= end || *f != '\n') {
			r = -EBADMSG;
			goto out;
		}
		f++;
		nl = memchr(f, '\n', (size_t)(end - f));
		if (nl == NULL || (size_t)(nl - f) >= sizeof(footer)) {
			r = -EBADMSG;
			goto out;
		}
		memcpy(footer, f, (size_t)(nl - f));
		footer[nl - f] = '\0';
		if (footer[0] != '\0') {
			r = footer_parse(footer, &tz->footer);
			if (r < 0)
				goto out;
		}
	}

	tz->table_end = INT64_MAX;
	tz->table_end_local = INT64_MAX;
	if (tz->footer.present && tz->footer.has_dst) {
		/* Expand the rule after the last transition, up to TZ_TABLE_YEAR. */
		int64_t from = b.n > 0 ? b.ev[b.n - 1].at : INT64_MIN;
		int64_t y0 = b.n > 0 ? year_of_sec(from) - 1 : 1800;

		tz->table_end = chime_days_from_civil(TZ_TABLE_YEAR + 1, 1, 1) * CHIME_SEC_PER_DAY -
		                8 * CHIME_SEC_PER_DAY;
		tz->table_end_local = tz->table_end - 2 * CHIME_SEC_PER_DAY;
		for (int64_t y = y0; y <= TZ_TABLE_YEAR + 1; y++) {
			struct tz_event ev[2];

			rule_events(&tz->footer, y, ev);
			for (int k = 0; k < 2; k++) {
				if (ev[k].at <= from || ev[k].at >= tz->table_end)
					continue;
				r = builder_add(&b, ev[k].at, ev[k].off);
				if (r < 0)
					goto out;
			}
		}
	} else if (tz->footer.present && b.n == 0) {
		tz->off0 = tz->footer.std_off;
	}

	/* Keep only real offset changes. */
	b.n = events_normalize(b.ev, b.n, tz->off0);
	tz->trans = malloc((b.n + 1) * sizeof(*tz->trans));
	tz->key = malloc((b.n + 1) * sizeof(*tz->key));
	tz->off = malloc((b.n + 1) * sizeof(*tz->off));
	if (tz->trans == NULL || tz->key == NULL || tz->off == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < b.n; i++) {
		int32_t before = i == 0 ? tz->off0 : b.ev[i - 1].off;
		int64_t key = b.ev[i].at + (before < b.ev[i].off ? before : b.ev[i].off);

		tz->trans[i] = b.ev[i].at;
		tz->off[i] = b.ev[i].off;
		/* Keep the keys sorted even for transitions closer than their shift. */
		tz->key[i] = i > 0 && key < tz->key[i - 1] ? tz->key[i - 1] : key;
	}
	tz->n = b.n;
	tz->is_utc = tz->n == 0 && tz->off0 == 0 && !(tz->footer.present && tz->footer.has_dst);
	r = 0;
out:
	free(b.ev);
	return r;
}

static void
tz_destroy(struct chime_tz *tz)
{
	chime_free_many(tz->name, tz->trans, tz->key, tz->off, tz);
}

int
chime_tz_load(const char *name, const char *tzdir, struct chime_tz **ret_tz)
{
	struct chime_tz *tz = NULL;
	unsigned char *buf = NULL;
	char path[PATH_MAX];
	size_t len = 0;
	int r;

	if (name == NULL || !name_valid(name))
		return -EINVAL;
	if (tzdir == NULL)
		tzdir = TZ_DEFAULT_DIR;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", tzdir, name) >= sizeof(path))
		return -EINVAL;
	r = read_file(path, &buf, &len);
	if (r < 0)
		return r;
	tz = calloc(1, sizeof(*tz));
	if (tz == NULL) {
		r = -ENOMEM;
		goto out;
	}
	tz->refcount = 1;
	tz->name = strdup(name);
	if (tz->name == NULL) {
		r = -ENOMEM;
		goto out;
	}
	r = tzif_parse(buf, len, tz);
	if (r < 0)
		goto out;
	*ret_tz = tz;
	tz = NULL;
	r = 0;
out:
	if (tz != NULL)
		tz_destroy(tz);
	free(buf);
	return r;
}

int
chime_tz_load_system(struct chime_tz **ret_tz)
{
	char target[PATH_MAX];
	const char *name;
	ssize_t k;

	k = readlink("/etc/localtime", target, sizeof(target) - 1);
	if (k > 0) {
		target[k] = '\0';
		name = strstr(target, "zoneinfo/");
		if (name != NULL && chime_tz_load(name + strlen("zoneinfo/"), NULL, ret_tz) == 0)
			return 0;
	}
	*ret_tz = chime_tz_utc();
	return 0;
}

struct chime_tz *
chime_tz_utc(void)
{
	return &tz_utc_zone;
}

struct chime_tz *
chime_tz_ref(struct chime_tz *tz)
{
	if (tz != NULL && !tz->is_static)
		__atomic_add_fetch(&tz->refcount, 1, __ATOMIC_RELAXED);
	return tz;
}

struct chime_tz *
chime_tz_unref(struct chime_tz *tz)
{
	if (tz == NULL || tz->is_static)
		return NULL;
	if (__atomic_sub_fetch(&tz->refcount, 1, __ATOMIC_ACQ_REL) == 0)
		tz_destroy(tz);
	return NULL;
}

const char *
chime_tz_name(const struct chime_tz *tz)
{
	return tz->name;
}

bool
chime_tz_is_utc(const struct chime_tz *tz)
{
	return tz->is_utc;
}

/* The zone cache. */

struct chime_tz_cache {
	struct chime_tz **zones;
	size_t n, cap;
};

struct chime_tz_cache *
chime_tz_cache_new(void)
{
	return calloc(1, sizeof(struct chime_tz_cache));
}

struct chime_tz_cache *
chime_tz_cache_free(struct chime_tz_cache *cache)
{
	if (cache == NULL)
		return NULL;
	for (size_t i = 0; i < cache->n; i++)
		chime_tz_unref(cache->zones[i]);
	free(cache->zones);
	free(cache);
	return NULL;
}

int
chime_tz_cache_get(struct chime_tz_cache *cache, const char *name, struct chime_tz **ret_tz)
{
	struct chime_tz *tz = NULL;
	int r;

	for (size_t i = 0; i < cache->n; i++)
		if (strcmp(cache->zones[i]->name, name) == 0) {
			*ret_tz = chime_tz_ref(cache->zones[i]);
			return 0;
		}
	if (chime_grow(&cache->zones, &cache->cap, cache->n + 1, sizeof(*cache->zones)) < 0)
		return -ENOMEM;
	r = chime_tz_load(name, NULL, &tz);
	if (r < 0)
		return r;
	cache->zones[cache->n++] = tz;
	*ret_tz = chime_tz_ref(tz);
	return 0;
}
