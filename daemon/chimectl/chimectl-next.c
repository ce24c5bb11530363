/* SPDX-License-Identifier: MIT */
/*
 * chimectl next: print the next fire instants of an expression, or of a
 * configured job, as RFC 3339 in the zone (DESIGN.md section 11).
 *
 *   chimectl next EXPR [-n N] [--tz ZONE] [--from TIME] [--days any|all]
 *   chimectl next --job NAME [--config FILE] [-n N] [--from TIME]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chimectl.h"
#include "clock.h"
#include "config.h"
#include "cron.h"
#include "diag.h"
#include "timespan.h"
#include "tz.h"

#define NEXT_DEFAULT_COUNT 5
#define NEXT_MAX_COUNT     1000000
#define NEXT_EXPR_MAX      4096

struct next_args {
	char expr[NEXT_EXPR_MAX];
	bool have_expr;
	long count;
	const char *tz;
	const char *from;
	const char *days;
	const char *job;
	const char *config;
};

static void
next_usage(FILE *f)
{
	fprintf(f, "usage: chimectl next EXPR [-n N] [--tz ZONE] [--from TIME] [--days "
	           "any|all]\n"
	           "       chimectl next --job NAME [--config FILE] [-n N] [--from TIME]\n");
}

/* The value of option `name` at argv[*i]: "--name=v", "--name v", "-n v",
 * "-nv". */
static const char *
option_value(int argc, char **argv, int *i, const char *name)
{
	const char *a = argv[*i];
	size_t len = strlen(name);

	if (strncmp(a, name, len) != 0)
		return NULL;
	if (a[len] == '=' && name[1] == '-')
		return a + len + 1;
	if (a[len] == '\0') {
		if (*i + 1 >= argc)
			return NULL;
		return argv[++*i];
	}
	if (name[1] != '-')
		return a + len;
	return NULL;
}

static bool
is_option(const char *a, const char *name)
{
	size_t len = strlen(name);

	return strncmp(a, name, len) == 0 &&
	       (a[len] == '\0' || (name[1] == '-' && a[len] == '=') || name[1] != '-');
}

static int
append_expr(struct next_args *args, const char *word)
{
	size_t have = strlen(args->expr), add = strlen(word);

	if (have + add + 2 > sizeof(args->expr)) {
		fprintf(stderr, "chimectl: expression too long\n");
		return -EINVAL;
	}
	if (have > 0)
		args->expr[have++] = ' ';
	memcpy(args->expr + have, word, add + 1);
	args->have_expr = true;
	return 0;
}

static int
parse_args(int argc, char **argv, struct next_args *args)
{
	static const char *const names[] = {"-n", "--tz", "--from", "--days", "--job", "--config"};
	bool only_words = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		size_t k;

		if (only_words || a[0] != '-' || a[1] == '\0') {
			if (append_expr(args, a) < 0)
				return -EINVAL;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			only_words = true;
			continue;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			return 1;
		for (k = 0; k < sizeof(names) / sizeof(names[0]); k++)
			if (is_option(a, names[k]))
				break;
		if (k == sizeof(names) / sizeof(names[0])) {
			fprintf(stderr, "chimectl: next: unknown option '%s'\n", a);
			return -EINVAL;
		}
		v = option_value(argc, argv, &i, names[k]);
		if (v == NULL) {
			fprintf(stderr, "chimectl: next: option '%s' needs a value\n", names[k]);
			return -EINVAL;
		}
		switch (k) {
		case 0: {
			char *end = NULL;

			errno = 0;
			args->count = strtol(v, &end, 10);
			if (errno != 0 || end == v || *end != '\0' || args->count < 1 ||
			    args->count > NEXT_MAX_COUNT) {
				fprintf(stderr,
				        "chimectl: next: -n wants a count from 1 to %d, not '%s'\n",
				        NEXT_MAX_COUNT, v);
				return -EINVAL;
			}
			break;
		}
		case 1:
			args->tz = v;
			break;
		case 2:
			args->from = v;
			break;
		case 3:
			if (strcmp(v, "any") != 0 && strcmp(v, "all") != 0) {
				fprintf(stderr,
				        "chimectl: next: --days wants 'any' or 'all', not '%s'\n",
				        v);
				return -EINVAL;
			}
			args->days = v;
			break;
		case 4:
			args->job = v;
			break;
		default:
			args->config = v;
			break;
		}
	}
	if (args->job != NULL && (args->have_expr || args->tz != NULL || args->days != NULL)) {
		fprintf(stderr, "chimectl: next: --job takes no EXPR, --tz or --days (the "
		                "job's own are used)\n");
		return -EINVAL;
	}
	if (args->job == NULL && args->config != NULL) {
		fprintf(stderr, "chimectl: next: --config goes with --job\n");
		return -EINVAL;
	}
	if (args->job == NULL && !args->have_expr) {
		fprintf(stderr, "chimectl: next: an EXPR or --job NAME is required\n");
		return -EINVAL;
	}
	return 0;
}

/* Print `count` slots of `expr` in `tz` strictly after `from_usec`. */
static int
print_slots(const struct chime_expr *expr, const struct chime_tz *tz, int64_t from_usec, long count)
{
	int64_t after = from_usec;

	for (long i = 0; i < count; i++) {
		struct chime_slot slot;
		char buf[64];
		int r;

		r = chime_expr_next(expr, tz, after, &slot);
		if (r == -ENOENT) {
			if (chime_expr_kind(expr) == CHIME_EXPR_REBOOT)
				fprintf(stderr,
				        "chimectl: @reboot fires only when the daemon starts\n");
			else
				fprintf(stderr, "chimectl: no further fire instants\n");
			return CHIMECTL_EXIT_OK;
		}
		if (r < 0) {
			fprintf(stderr, "chimectl: cannot compute the next instant: %s\n",
			        strerror(-r));
			return CHIMECTL_EXIT_FAILURE;
		}
		r = chime_time_format(slot.instant_usec, tz, buf, sizeof(buf));
		if (r < 0) {
			fprintf(stderr, "chimectl: cannot format instant %lld: %s\n",
			        (long long)slot.instant_usec, strerror(-r));
			return CHIMECTL_EXIT_FAILURE;
		}
		puts(buf);
		after = slot.instant_usec;
	}
	return CHIMECTL_EXIT_OK;
}

static int
load_zone(const char *name, struct chime_tz **ret_tz)
{
	int r;

	if (name == NULL)
		return chime_tz_load_system(ret_tz);
	r = chime_tz_load(name, NULL, ret_tz);
	if (r < 0)
		fprintf(stderr, "chimectl: time zone '%s': %s\n", name,
		        r == -ENOENT   ? "no such zone"
		        : r == -EINVAL ? "invalid name"
		                       : strerror(-r));
	return r;
}

static int
resolve_from(const char *from, const struct chime_tz *tz, int64_t *ret_usec)
{
	if (from == NULL) {
		*ret_usec = chime_clock_wall_usec();
		return 0;
	}
	if (chime_time_parse(from, tz, ret_usec) < 0) {
		fprintf(stderr, "chimectl: --from '%s' is not an RFC 3339 time\n", from);
		return -EINVAL;
	}
	return 0;
}

static int
next_expr(const struct next_args *args)
{
	struct chime_expr_options opts = {
	        .days = args->days != NULL && strcmp(args->days, "all") == 0 ? CHIME_DAYS_ALL
	                                                                     : CHIME_DAYS_ANY,
	        .gap = CHIME_DST_GAP_AUTO,
	        .overlap = CHIME_DST_OVERLAP_AUTO,
	};
	struct chime_expr_error err = {0};
	struct chime_expr *expr = NULL;
	struct chime_tz *tz = NULL;
	int64_t from;
	int r, ret = CHIMECTL_EXIT_FAILURE;

	r = chime_expr_parse(args->expr, &opts, &expr, &err);
	if (r < 0) {
		if (err.column > 0)
			fprintf(stderr, "chimectl: %s (column %u)\n", err.message, err.column);
		else
			fprintf(stderr, "chimectl: %s\n",
			        err.message[0] != '\0' ? err.message : "invalid expression");
		goto out;
	}
	/* A zone named inside a calendar event wins over --tz. */
	if (load_zone(chime_expr_zone(expr) != NULL ? chime_expr_zone(expr) : args->tz, &tz) < 0)
		goto out;
	if (resolve_from(args->from, tz, &from) < 0)
		goto out;
	ret = print_slots(expr, tz, from, args->count);
out:
	chime_tz_unref(tz);
	chime_expr_free(expr);
	return ret;
}

static int
next_job(const struct next_args *args)
{
	const char *path = args->config != NULL ? args->config : CHIME_DEFAULT_CONFIG;
	struct chime_config *config = NULL;
	const struct chime_job_config *job;
	struct chime_diag_list diags;
	struct chime_tz *tz = NULL;
	int64_t from;
	int r, ret = CHIMECTL_EXIT_FAILURE;

	chime_diag_list_init(&diags);
	r = chime_config_load(path, NULL, &diags, &config);
	if (r < 0) {
		chime_diag_list_print(&diags, stderr);
		if (diags.count == 0)
			fprintf(stderr, "chimectl: %s: %s\n", path, strerror(-r));
		goto out;
	}
	job = chime_config_find_job(config, args->job);
	if (job == NULL) {
		fprintf(stderr, "chimectl: no job '%s' in %s\n", args->job, path);
		goto out;
	}
	if (job->expr == NULL) {
		fprintf(stderr, "chimectl: job '%s' has no schedule\n", args->job);
		goto out;
	}
	if (chime_expr_zone(job->expr) != NULL) {
		if (load_zone(chime_expr_zone(job->expr), &tz) < 0)
			goto out;
	} else {
		tz = chime_tz_ref(job->tz != NULL      ? job->tz
		                  : config->tz != NULL ? config->tz
		                                       : chime_tz_utc());
	}
	if (resolve_from(args->from, tz, &from) < 0)
		goto out;
	ret = print_slots(job->expr, tz, from, args->count);
out:
	chime_tz_unref(tz);
	chime_config_unref(config);
	chime_diag_list_done(&diags);
	return ret;
}

int
chimectl_next_main(int argc, char **argv)
{
	struct next_args args = {.count = NEXT_DEFAULT_COUNT};
	int r;

	r = parse_args(argc, argv, &args);
	if (r > 0) {
		next_usage(stdout);
		return CHIMECTL_EXIT_OK;
	}
	if (r < 0) {
		next_usage(stderr);
		return CHIMECTL_EXIT_USAGE;
	}
	return args.job != NULL ? next_job(&args) : next_expr(&args);
}
