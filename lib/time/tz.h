/* SPDX-License-Identifier: MIT */
/*
 * Time zones from the machine's IANA database (TZif files, RFC 8536, with
 * the POSIX TZ footer for instants past the table). Pure: no globals, no
 * TZ environment variable, no localtime(); a loaded zone is immutable and
 * safe to use from any thread.
 *
 * Two kinds of seconds appear here:
 *   utc_sec    seconds since 1970-01-01T00:00:00Z (an instant)
 *   local_sec  "civil" seconds: the local wall time read as if it were UTC
 *              (days_from_civil(y, m, d) * 86400 + h * 3600 + m * 60 + s)
 */
#ifndef CHIME_TZ_H
#define CHIME_TZ_H

#include <stdbool.h>
#include <stdint.h>

#include "civil.h" /* chime_days_from_civil() and the rest of the calendar */

struct chime_tz;

/*
 * Load zone `name` ("Europe/Berlin", "UTC", "Etc/GMT+3") from `tzdir`
 * (NULL: /usr/share/zoneinfo). Names with "..", a leading '/', or bytes
 * outside [A-Za-z0-9_+/-] are -EINVAL; a missing zone is -ENOENT; a bad
 * file -EBADMSG. Returns 0 and a new reference in *ret_tz. Never logs.
 */
int chime_tz_load(const char *name, const char *tzdir, struct chime_tz **ret_tz);
/* The machine's zone: the name /etc/localtime links to, else "UTC". */
int chime_tz_load_system(struct chime_tz **ret_tz);
/* The shared UTC zone; never fails. A new reference. */
struct chime_tz *chime_tz_utc(void);

struct chime_tz *chime_tz_ref(struct chime_tz *tz);
struct chime_tz *chime_tz_unref(struct chime_tz *tz); /* NULL-safe; returns NULL */

const char *chime_tz_name(const struct chime_tz *tz);
/* True when the zone has a fixed offset forever (UTC, Asia/Kolkata since 1945 excluded). */
bool chime_tz_is_utc(const struct chime_tz *tz);

/* Offset east of UTC, in seconds, in force at instant `utc_sec`. */
int32_t chime_tz_offset_at(const struct chime_tz *tz, int64_t utc_sec);
/* Instant -> local civil seconds. */
static inline int64_t
chime_tz_to_local(const struct chime_tz *tz, int64_t utc_sec)
{
	return utc_sec + chime_tz_offset_at(tz, utc_sec);
}

/*
 * Resolve a local wall time. Returns how many instants have it:
 *   1  ret_utc[0] is it;
 *   2  an overlap (fall back): ret_utc[0] the first, ret_utc[1] the second;
 *   0  a gap (spring forward): *ret_jump_utc is the transition instant, the
 *      first instant after the gap, and *ret_gap_sec the gap's length
 *      (so local_sec + gap is the "shifted" wall time, at ret_jump + (local
 *      - gap start)).
 * Unused out-params may be NULL.
 */
int chime_tz_resolve(const struct chime_tz *tz, int64_t local_sec, int64_t ret_utc[2],
                     int64_t *ret_jump_utc, int32_t *ret_gap_sec);

/*
 * A cache of loaded zones, so each zone is read once and shared by every
 * job that names it. Not thread-safe: used by the config loader only.
 */
struct chime_tz_cache;
struct chime_tz_cache *chime_tz_cache_new(void);
struct chime_tz_cache *chime_tz_cache_free(struct chime_tz_cache *cache);
/* Like chime_tz_load(), through the cache; a new reference. */
int chime_tz_cache_get(struct chime_tz_cache *cache, const char *name, struct chime_tz **ret_tz);

#endif
