/* SPDX-License-Identifier: MIT */
/*
 * The control socket's replies as text for people: the tables `chimectl
 * status`, `list` and `history` print. Every time is written in its job's
 * zone with the offset ("2026-12-04 16:20:00 +01:00"), every wait as a
 * span ("2min 59s", "3h 5min ago"), like `systemctl list-timers`.
 *
 * Pure: the reply, the current instant and the zones are handed in, and
 * the text goes to the stream given, so the tables are golden-tested.
 */
#ifndef CHIME_CONTROL_TEXT_H
#define CHIME_CONTROL_TEXT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct chime_tz_cache;

struct chime_control_text {
	FILE *out;
	int64_t now_usec;             /* the instant LEFT and PASSED count from */
	struct chime_tz_cache *zones; /* the jobs' zones; NULL: times in UTC */
	bool all_items;               /* history: every report item, not the first few */
};

#define CHIME_CONTROL_TEXT_ITEMS 5 /* report items history shows by default */

void chime_control_text_status(const struct chime_control_text *t, json_t *reply);
void chime_control_text_list(const struct chime_control_text *t, json_t *reply);
void chime_control_text_history(const struct chime_control_text *t, json_t *reply);

#endif
