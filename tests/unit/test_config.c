/* SPDX-License-Identifier: MIT */
/*
 * The config loader against fixture files (run from the tests/ directory,
 * as ctest does): every YAML file in data/config/good loads; every
 * data/config/bad/NAME.err holds the exact diagnostics of loading
 * data/config/bad/NAME.yaml (which may be missing, or a directory) with
 * the plugin host's hooks, as `chimectl check` does. Plus values,
 * fingerprints, hooks, the key list and the check entry point.
 */
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "config.h"
#include "plugin_host.h"
#include "builtin.h"
#include "timespan.h"
#include "tz.h"

#define SEC  INT64_C(1000000)
#define MIN  (60 * SEC)
#define HOUR (60 * MIN)
#define DAY  (24 * HOUR)

static char *
read_text(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0;
	FILE *m;
	int c;

	if (f == NULL)
		return NULL;
	m = open_memstream(&buf, &len);
	assert_non_null(m);
	while ((c = fgetc(f)) != EOF)
		fputc(c, m);
	fclose(m);
	fclose(f);
	return buf;
}

/* Every diagnostic formatted, one per line. */
static char *
diags_text(const struct chime_diag_list *diags)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	assert_non_null(m);
	chime_diag_list_print(diags, m);
	fclose(m);
	return buf;
}

static void
env_setup(void)
{
	setenv("CREDENTIALS_DIRECTORY", "/run/credentials/chimed.service", 1);
	unsetenv("CHIME_TEST_UNSET_VARIABLE");
}

/* ---- Golden files ------------------------------------------------- */

static void
test_bad_file(void **state)
{
	const char *err_path = *state;
	struct chime_plugin_host *host = NULL;
	struct chime_config_hooks hooks;
	struct chime_diag_list diags;
	struct chime_config *cfg = NULL;
	char yaml[512], *expected, *actual;
	size_t n = strlen(err_path);
	int r;

	snprintf(yaml, sizeof(yaml), "%.*s.yaml", (int)(n - 4), err_path);
	expected = read_text(err_path);
	assert_non_null(expected);
	assert_int_equal(chime_plugin_host_new(chime_plugins_builtin, chime_plugins_builtin_count, &host), 0);
	chime_plugin_host_hooks(host, &hooks);
	chime_diag_list_init(&diags);

	r = chime_config_load(yaml, &hooks, &diags, &cfg);
	actual = diags_text(&diags);
	if (strcmp(actual, expected) != 0)
		print_error("%s: diagnostics differ\n--- expected\n%s--- actual\n%s", yaml,
		            expected, actual);
	assert_true(r < 0);
	assert_null(cfg);
	assert_true(diags.errors > 0);
	assert_string_equal(actual, expected);

	free(actual);
	free(expected);
	chime_diag_list_done(&diags);
	chime_plugin_host_free(host);
}

static void
test_good_file(void **state)
{
	const char *path = *state;
	struct chime_diag_list diags;
	struct chime_config *cfg = NULL;
	char *text;
	int r;

	chime_diag_list_init(&diags);
	r = chime_config_load(path, NULL, &diags, &cfg);
	text = diags_text(&diags);
	if (r < 0)
		print_error("%s: %s", path, text);
	assert_int_equal(r, 0);
	assert_non_null(cfg);
	assert_int_equal(diags.errors, 0);
	/* Jobs are sorted by name and every one is compiled with a zone. */
	for (size_t i = 0; i < cfg->n_jobs; i++) {
		assert_non_null(cfg->jobs[i]->expr);
		assert_non_null(cfg->jobs[i]->tz);
		if (i > 0)
			assert_true(strcmp(cfg->jobs[i - 1]->name, cfg->jobs[i]->name) < 0);
	}
	free(text);
	chime_config_unref(cfg);
	chime_diag_list_done(&diags);
}

/* ---- Values ------------------------------------------------------- */

static struct chime_config *
load_ok(const char *path, const struct chime_config_hooks *hooks)
{
	struct chime_diag_list diags;
	struct chime_config *cfg = NULL;
	int r;

	chime_diag_list_init(&diags);
	r = chime_config_load(path, hooks, &diags, &cfg);
	if (r < 0)
		chime_diag_list_print(&diags, stderr);
	assert_int_equal(r, 0);
	chime_diag_list_done(&diags);
	return cfg;
}

static void
test_minimal_defaults(void **state)
{
	struct chime_config *cfg = load_ok("data/config/good/minimal.yaml", NULL);
	const struct chime_job_config *job;

	assert_string_equal(cfg->path, "data/config/good/minimal.yaml");
	assert_string_equal(cfg->timezone, "UTC");
	assert_string_equal(cfg->node, "test-node");
	assert_string_equal(cfg->database.conninfo, "");
	assert_null(cfg->database.password_file);
	assert_int_equal(cfg->database.pool, 4);
	assert_int_equal(cfg->database.connect_timeout_usec, 10 * SEC);
	assert_int_equal(cfg->shutdown_timeout_usec, 30 * SEC);
	assert_string_equal(cfg->control_socket, "/run/chime/control.sock");
	assert_null(cfg->metrics_listen);
	assert_int_equal(cfg->n_jobs, 1);

	job = chime_config_find_job(cfg, "nightly");
	assert_ptr_equal(job, cfg->jobs[0]);
	assert_null(chime_config_find_job(cfg, "daily"));
	assert_string_equal(job->file, "data/config/good/minimal.yaml");
	assert_int_equal(job->line, 4);
	assert_int_equal(job->column, 3);
	assert_string_equal(job->schedule, "0 2 * * *");
	assert_string_equal(job->plugin_name, "noop");
	assert_null(job->plugin_path);
	assert_null(job->options);
	assert_null(job->plugin);
	assert_string_equal(chime_tz_name(job->tz), "UTC");
	assert_int_equal(job->expr_options.days, CHIME_DAYS_ANY);
	assert_false(job->days_set);
	assert_int_equal(job->expr_options.gap, CHIME_DST_GAP_AUTO);
	assert_int_equal(job->expr_options.overlap, CHIME_DST_OVERLAP_AUTO);
	assert_int_equal(job->timeout_usec, 15 * MIN);
	assert_int_equal(job->overlap, CHIME_OVERLAP_SKIP);
	assert_int_equal(job->misfire, CHIME_MISFIRE_RUN_ONCE);
	assert_int_equal(job->catchup_window_usec, 6 * HOUR);
	assert_int_equal(job->max_catchup, 10);
	assert_int_equal(job->retry.attempts, 1);
	assert_int_equal(job->retry.backoff_usec, 30 * SEC);
	assert_int_equal(job->retry.max_backoff_usec, 10 * MIN);
	assert_int_equal(job->jitter_usec, 0);
	assert_int_equal(job->expect_usec, 0);
	assert_int_equal(job->history_usec, 90 * DAY);
	assert_int_equal(job->lease_usec, 1 * MIN);
	assert_int_equal(job->on_lost, CHIME_LOST_AUTO);
	assert_true(job->enabled);
	chime_config_unref(cfg);
}

static void
test_full_values(void **state)
{
	struct chime_config *cfg = load_ok("data/config/good/full.yaml", NULL);
	const struct chime_job_config *job, *inh;

	assert_string_equal(cfg->timezone, "Europe/Berlin");
	assert_string_equal(cfg->node, "web-1");
	assert_string_equal(cfg->database.conninfo, "host=/run/postgresql dbname=app user=chime");
	assert_string_equal(cfg->database.password_file,
	                    "/run/credentials/chimed.service/db-password");
	assert_int_equal(cfg->database.pool, 8);
	assert_int_equal(cfg->database.connect_timeout_usec, 5 * SEC);
	assert_int_equal(cfg->shutdown_timeout_usec, 60 * SEC);
	assert_string_equal(cfg->control_socket, "/tmp/chime-test.sock");
	assert_string_equal(cfg->metrics_listen, "127.0.0.1:9187");
	assert_int_equal(cfg->n_jobs, 2);

	job = chime_config_find_job(cfg, "payouts-returning");
	assert_non_null(job);
	assert_string_equal(chime_tz_name(job->tz), "Asia/Tbilisi");
	assert_int_equal(job->expr_options.days, CHIME_DAYS_ALL);
	assert_true(job->days_set);
	assert_int_equal(job->expr_options.gap, CHIME_DST_GAP_SKIP);
	assert_int_equal(job->expr_options.overlap, CHIME_DST_OVERLAP_BOTH);
	assert_string_equal(job->plugin_name, "payouts");
	assert_string_equal(job->plugin_path, "/usr/lib/chime/plugins/payouts.so");
	assert_non_null(job->options);
	assert_string_equal(chime_node_scalar(chime_node_get(job->options, "min_balance")),
	                    "100.00");
	assert_false(job->enabled);
	assert_int_equal(job->timeout_usec, HOUR);
	assert_int_equal(job->overlap, CHIME_OVERLAP_REPLACE);
	assert_int_equal(job->misfire, CHIME_MISFIRE_SKIP);
	assert_int_equal(job->catchup_window_usec, DAY);
	assert_int_equal(job->max_catchup, 0);
	/* A job's retry overrides only the keys it names. */
	assert_int_equal(job->retry.attempts, 5);
	assert_int_equal(job->retry.backoff_usec, 10 * SEC);
	assert_int_equal(job->retry.max_backoff_usec, MIN);
	assert_int_equal(job->jitter_usec, 0);
	assert_int_equal(job->history_usec, INT64_C(31557600) * SEC);
	assert_int_equal(job->lease_usec, 30 * SEC);
	assert_int_equal(job->on_lost, CHIME_LOST_FAIL);
	assert_int_equal(job->expect_usec, 40 * DAY);

	/* The other job takes every value from `defaults:`. */
	inh = chime_config_find_job(cfg, "inherits");
	assert_non_null(inh);
	assert_string_equal(inh->schedule, "Mon *-*-16..22 02:00");
	assert_string_equal(chime_tz_name(inh->tz), "Europe/Berlin");
	assert_int_equal(inh->timeout_usec, 5 * MIN);
	assert_int_equal(inh->overlap, CHIME_OVERLAP_QUEUE);
	assert_int_equal(inh->misfire, CHIME_MISFIRE_RUN_ALL);
	assert_int_equal(inh->catchup_window_usec, 2 * HOUR);
	assert_int_equal(inh->max_catchup, 3);
	assert_int_equal(inh->retry.attempts, 3);
	assert_int_equal(inh->jitter_usec, 5 * SEC);
	assert_int_equal(inh->history_usec, 30 * DAY);
	assert_int_equal(inh->lease_usec, 2 * MIN);
	assert_int_equal(inh->on_lost, CHIME_LOST_RERUN);
	assert_int_equal(inh->expect_usec, 26 * HOUR);
	assert_true(inh->enabled);
	chime_config_unref(cfg);
}

static void
test_dropins(void **state)
{
	struct chime_config *cfg = load_ok("data/config/good/dropins.yaml", NULL);

	assert_int_equal(cfg->n_jobs, 3);
	assert_string_equal(cfg->jobs[0]->name, "a-first");
	assert_string_equal(cfg->jobs[0]->file, "data/config/good/dropins.d/10-first.yaml");
	assert_int_equal(cfg->jobs[0]->line, 2);
	assert_string_equal(cfg->jobs[1]->name, "b-second");
	assert_string_equal(cfg->jobs[2]->name, "main-job");
	/* The main file first, then the drop-ins in sorted order. */
	assert_int_equal(cfg->n_files, 4);
	assert_string_equal(cfg->files[0], "data/config/good/dropins.yaml");
	assert_string_equal(cfg->files[1], "data/config/good/dropins.d/00-empty.yaml");
	assert_string_equal(cfg->files[2], "data/config/good/dropins.d/10-first.yaml");
	assert_string_equal(cfg->files[3], "data/config/good/dropins.d/20-second.yaml");
	chime_config_unref(cfg);
}

static void
test_aliases(void **state)
{
	struct chime_config *cfg = load_ok("data/config/good/aliases.yaml", NULL);
	const struct chime_job_config *one = chime_config_find_job(cfg, "one");
	const struct chime_job_config *two = chime_config_find_job(cfg, "two");
	const struct chime_node *t;

	t = chime_node_get(two->options, "table");
	assert_string_equal(chime_node_scalar(t), "referral_codes");
	/* The copy has its own key path; its text is where the anchor is. */
	assert_string_equal(t->path, "jobs.two.options.table");
	assert_int_equal(t->line, 8);
	assert_string_equal(two->options->path, "jobs.two.options");
	assert_int_equal(two->options->line, 13);
	assert_string_equal(chime_node_get(one->options, "table")->path, "jobs.one.options.table");
	chime_config_unref(cfg);
}

static void
test_example_config(void **state)
{
	struct chime_config *cfg = load_ok("../config/chime.yaml", NULL);
	const struct chime_job_config *job;

	assert_true(cfg->n_jobs >= 10);
	job = chime_config_find_job(cfg, "payouts-returning-cron");
	assert_non_null(job);
	assert_int_equal(job->expr_options.days, CHIME_DAYS_ALL);
	job = chime_config_find_job(cfg, "expire-referral-codes");
	assert_non_null(job);
	assert_string_equal(job->schedule, "0 2 * * *");
	assert_string_equal(job->plugin_name, "expiration");
	assert_int_equal(job->retry.attempts, 3);
	assert_non_null(chime_config_find_job(cfg, "activate-packages"));
	assert_non_null(chime_config_find_job(cfg, "billing-charge"));
	assert_non_null(chime_config_find_job(cfg, "billing-status"));
	assert_non_null(chime_config_find_job(cfg, "email-sync"));
	assert_non_null(chime_config_find_job(cfg, "payouts-monthly"));
	/* payouts-returning merges payouts-monthly's options and overrides one. */
	job = chime_config_find_job(cfg, "payouts-returning");
	assert_non_null(job);
	assert_string_equal(chime_node_scalar(chime_node_get(job->options, "currency")), "USD");
	assert_string_equal(chime_node_get(job->options, "currency")->path,
	                    "jobs.payouts-returning.options.currency");
	assert_string_equal(chime_node_scalar(chime_node_get(job->options, "first_time_users")),
	                    "false");
	assert_null(chime_node_get(job->options, "<<"));
	chime_config_unref(cfg);
}

/* Merge keys: a job takes another's settings and overrides some. */
static void
test_merge_keys(void **state)
{
	struct chime_config *cfg = load_ok("data/config/good/merge-key.yaml", NULL);
	const struct chime_job_config *weekly = chime_config_find_job(cfg, "weekly");
	const struct chime_job_config *monthly = chime_config_find_job(cfg, "monthly");

	assert_string_equal(weekly->schedule, "0 3 * * 0");
	assert_string_equal(weekly->plugin_name, "sql");
	assert_int_equal(weekly->timeout_usec, 5 * 60 * INT64_C(1000000));
	/* In a list the first mapping wins: 1h over the nightly job's 5min. */
	assert_int_equal(monthly->timeout_usec, 3600 * INT64_C(1000000));
	assert_string_equal(chime_node_scalar(chime_node_get(monthly->options, "statement")),
	                    "SELECT 2");
	assert_string_equal(chime_node_scalar(chime_node_get(weekly->options, "statement")),
	                    "SELECT 1");
	chime_config_unref(cfg);
}

/* ---- From strings ------------------------------------------------- */

static int
parse(const char *text, struct chime_diag_list *diags, struct chime_config **ret)
{
	return chime_config_parse_string("/nonexistent/t.yaml", text, strlen(text), NULL, diags,
	                                 ret);
}

static uint64_t
fingerprint_of(const char *text, const char *job)
{
	struct chime_diag_list diags;
	struct chime_config *cfg = NULL;
	uint64_t fp;

	chime_diag_list_init(&diags);
	assert_int_equal(parse(text, &diags, &cfg), 0);
	assert_non_null(chime_config_find_job(cfg, job));
	fp = chime_config_find_job(cfg, job)->fingerprint;
	chime_config_unref(cfg);
	chime_diag_list_done(&diags);
	return fp;
}

static void
test_fingerprint(void **state)
{
	const char *base = "timezone: UTC\n"
	                   "jobs:\n"
	                   "  a:\n"
	                   "    schedule: '0 2 * * *'\n"
	                   "    plugin: noop\n"
	                   "    options: {sleep: 1s}\n";
	/* Same definition, other place in the file, other formatting. */
	const char *moved = "timezone: UTC\n"
	                    "jobs:\n"
	                    "  b: {schedule: '@hourly', plugin: noop}\n"
	                    "  a:\n"
	                    "    options:\n"
	                    "      sleep: 1s\n"
	                    "    plugin: noop\n"
	                    "    schedule: \"0 2 * * *\"\n";
	const char *option = "timezone: UTC\njobs:\n  a: {schedule: '0 2 * * *', plugin: noop, "
	                     "options: {sleep: 2s}}\n";
	const char *zone = "timezone: Europe/Berlin\njobs:\n  a: {schedule: '0 2 * * *', plugin: "
	                   "noop, options: {sleep: 1s}}\n";
	const char *policy = "timezone: UTC\ndefaults: {timeout: 1min}\njobs:\n  a: {schedule: '0 "
	                     "2 * * *', plugin: noop, options: {sleep: 1s}}\n";
	uint64_t fp = fingerprint_of(base, "a");

	assert_int_equal(fingerprint_of(base, "a"), fp);
	assert_int_equal(fingerprint_of(moved, "a"), fp);
	assert_int_not_equal(fingerprint_of(moved, "b"), fp);
	assert_int_not_equal(fingerprint_of(option, "a"), fp);
	assert_int_not_equal(fingerprint_of(zone, "a"), fp);
	assert_int_not_equal(fingerprint_of(policy, "a"), fp);
}

static void
test_days_warning(void **state)
{
	const char *text = "timezone: UTC\n"
	                   "jobs:\n"
	                   "  either: {schedule: '0 2 16-22 * MON', plugin: noop}\n"
	                   "  both: {schedule: '0 2 16-22 * MON', plugin: noop, days: all}\n";
	struct chime_diag_list diags;
	struct chime_config *cfg = NULL;
	char *out;

	chime_diag_list_init(&diags);
	assert_int_equal(parse(text, &diags, &cfg), 0);
	out = diags_text(&diags);
	assert_string_equal(out, "/nonexistent/t.yaml:3:22: warning: jobs.either.schedule: both "
	                         "day-of-month and day-of-week are restricted, so the job runs on "
	                         "days matching either (Vixie cron); say 'days: any' to keep that "
	                         "or 'days: all' to require both\n");
	assert_int_equal(diags.warnings, 1);
	assert_int_equal(diags.errors, 0);
	free(out);
	chime_config_unref(cfg);
	chime_diag_list_done(&diags);
}

/* Six fields are seconds first: "0 2 * * * *" (a Quartz or AWS habit for
 * daily at 02:00) fires hourly at :02 and gets a warning saying so; a real
 * six-field daily, or a five-field line, does not. */
static void
test_seconds_habit_warning(void **state)
{
	const char *text = "timezone: UTC\n"
	                   "jobs:\n"
	                   "  habit: {schedule: '0 2 * * * *', plugin: noop}\n"
	                   "  daily6: {schedule: '0 0 2 * * *', plugin: noop}\n"
	                   "  daily5: {schedule: '0 2 * * *', plugin: noop}\n"
	                   "  half: {schedule: '30 2 * * * *', plugin: noop}\n";
	struct chime_diag_list diags;
	struct chime_config *cfg = NULL;
	char *out;

	(void)state;
	chime_diag_list_init(&diags);
	assert_int_equal(parse(text, &diags, &cfg), 0);
	out = diags_text(&diags);
	assert_string_equal(out, "/nonexistent/t.yaml:3:21: warning: jobs.habit.schedule: "
	                         "'0 2 * * * *' has six fields, so the first is seconds: it fires "
	                         "every hour at minute 2 (00:02:00, 01:02:00, 02:02:00, ...); for "
	                         "daily at 02:00 write '0 2 * * *' (five fields, minute first)\n");
	assert_int_equal(diags.warnings, 1);
	free(out);
	chime_config_unref(cfg);
	chime_diag_list_done(&diags);
}

static void
test_control_socket_off(void **state)
{
	struct chime_diag_list diags;
	struct chime_config *cfg = NULL;

	chime_diag_list_init(&diags);
	assert_int_equal(parse("timezone: UTC\ncontrol_socket: \"\"\n", &diags, &cfg), 0);
	assert_null(cfg->control_socket);
	assert_int_equal(cfg->n_jobs, 0);
	cfg = chime_config_unref(cfg);
	assert_null(cfg);
	chime_diag_list_done(&diags);
}

static void
test_default_node_is_hostname(void **state)
{
	struct chime_diag_list diags;
	struct chime_config *cfg = NULL;
	char host[256] = "";

	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	chime_diag_list_init(&diags);
	assert_int_equal(parse("timezone: UTC\n", &diags, &cfg), 0);
	assert_string_equal(cfg->node, host);
	chime_config_unref(cfg);
	chime_diag_list_done(&diags);
}

/* ---- Hooks -------------------------------------------------------- */

struct hook_log {
	int checked, released;
	char names[8][64];
};

static int
fake_check_job(struct chime_job_config *job, struct chime_diag_list *diags, void *userdata)
{
	struct hook_log *log = userdata;

	snprintf(log->names[log->checked++ % 8], 64, "%s", job->name);
	if (strcmp(job->plugin_name, "missing") == 0)
		return chime_diag_add(diags, CHIME_DIAG_ERROR, job->file, job->line, job->column,
		                      NULL, "unknown plugin 'missing'");
	job->plugin_state = log;
	return 0;
}

static void
fake_release_job(struct chime_job_config *job, void *userdata)
{
	struct hook_log *log = userdata;

	assert_true(job->plugin_state == log || job->plugin_state == NULL);
	log->released++;
	job->plugin_state = NULL;
}

static void
test_hooks(void **state)
{
	struct hook_log log = {0};
	struct chime_config_hooks hooks = {fake_check_job, fake_release_job, &log};
	const char *good = "timezone: UTC\njobs:\n  x: {schedule: '@daily', plugin: noop}\n"
	                   "  y: {schedule: '@daily', plugin: noop}\n";
	const char *bad = "timezone: UTC\njobs:\n  x: {schedule: '@daily', plugin: noop}\n"
	                  "  y: {schedule: '@daily', plugin: missing}\n"
	                  "  z: {schedule: 'never', plugin: noop}\n";
	struct chime_diag_list diags;
	struct chime_config *cfg = NULL, *ref;

	chime_diag_list_init(&diags);
	assert_int_equal(
	        chime_config_parse_string("t.yaml", good, strlen(good), &hooks, &diags, &cfg), 0);
	assert_int_equal(log.checked, 2);
	ref = chime_config_ref(cfg);
	assert_ptr_equal(ref, cfg);
	chime_config_unref(cfg);
	assert_int_equal(log.released, 0); /* a reference is still held */
	chime_config_unref(ref);
	assert_int_equal(log.released, 2);

	/* A job with errors is never given to the hooks; on failure every
	 * job the hooks saw is released. */
	log = (struct hook_log){0};
	cfg = NULL;
	assert_int_equal(
	        chime_config_parse_string("t.yaml", bad, strlen(bad), &hooks, &diags, &cfg),
	        -EINVAL);
	assert_null(cfg);
	assert_int_equal(log.checked, 2);
	assert_string_equal(log.names[0], "x");
	assert_string_equal(log.names[1], "y");
	assert_int_equal(log.released, 2);
	assert_int_equal(diags.errors, 2);
	chime_diag_list_done(&diags);
}

/* The plugin host's message lists the built-ins, which grow: check the
 * place and the start only. */
static void
test_unknown_plugin(void **state)
{
	const char *text = "timezone: UTC\njobs:\n  nightly:\n    schedule: '0 2 * * *'\n"
	                   "    plugin: frobnicator\n";
	const char *want = "t.yaml:3:3: error: jobs.nightly.plugin: unknown plugin 'frobnicator'";
	struct chime_plugin_host *host = NULL;
	struct chime_config_hooks hooks;
	struct chime_diag_list diags;
	struct chime_config *cfg = NULL;
	char *out;

	assert_int_equal(chime_plugin_host_new(chime_plugins_builtin, chime_plugins_builtin_count, &host), 0);
	chime_plugin_host_hooks(host, &hooks);
	chime_diag_list_init(&diags);
	assert_int_equal(
	        chime_config_parse_string("t.yaml", text, strlen(text), &hooks, &diags, &cfg),
	        -EINVAL);
	assert_null(cfg);
	assert_int_equal(diags.errors, 1);
	out = diags_text(&diags);
	assert_memory_equal(out, want, strlen(want));
	assert_non_null(strstr(out, "noop"));
	free(out);
	chime_diag_list_done(&diags);
	chime_plugin_host_free(host);
}

/* ---- Keys, restart changes, check -------------------------------- */

static bool
keys_have(char **keys, const char *path)
{
	for (size_t i = 0; keys[i] != NULL; i++)
		if (strcmp(keys[i], path) == 0)
			return true;
	return false;
}

static void
test_keys(void **state)
{
	static const char *const expected[] = {
	        "timezone",
	        "node",
	        "database.conninfo",
	        "database.password_file",
	        "database.pool",
	        "database.connect_timeout",
	        "shutdown_timeout",
	        "control_socket",
	        "metrics.listen",
	        "defaults.timeout",
	        "defaults.overlap",
	        "defaults.misfire",
	        "defaults.catchup_window",
	        "defaults.max_catchup",
	        "defaults.retry.attempts",
	        "defaults.retry.backoff",
	        "defaults.retry.max_backoff",
	        "defaults.jitter",
	        "defaults.history",
	        "defaults.lease",
	        "defaults.on_lost",
	        "defaults.expect",
	        "include",
	        "jobs.NAME.schedule",
	        "jobs.NAME.timezone",
	        "jobs.NAME.days",
	        "jobs.NAME.dst.gap",
	        "jobs.NAME.dst.overlap",
	        "jobs.NAME.plugin",
	        "jobs.NAME.plugin_path",
	        "jobs.NAME.options",
	        "jobs.NAME.enabled",
	        "jobs.NAME.timeout",
	        "jobs.NAME.retry.max_backoff",
	        "jobs.NAME.on_lost",
	        "jobs.NAME.expect",
	        NULL,
	};
	char **keys = chime_config_keys();
	size_t n = 0;

	assert_non_null(keys);
	for (size_t i = 0; expected[i] != NULL; i++) {
		if (!keys_have(keys, expected[i]))
			print_error("missing key %s\n", expected[i]);
		assert_true(keys_have(keys, expected[i]));
	}
	while (keys[n] != NULL)
		n++;
	/* 9 global + 13 defaults + include + 9 job-only + 13 job policy keys. */
	assert_int_equal(n, 45);
	assert_false(keys_have(keys, "jobs"));
	assert_null(chime_config_keys_free(keys));

	assert_true(chime_config_key_needs_restart("node"));
	assert_true(chime_config_key_needs_restart("database.pool"));
	assert_true(chime_config_key_needs_restart("metrics.listen"));
	assert_true(chime_config_key_needs_restart("control_socket"));
	assert_false(chime_config_key_needs_restart("timezone"));
	assert_false(chime_config_key_needs_restart("shutdown_timeout"));
	assert_false(chime_config_key_needs_restart("defaults.timeout"));
	assert_false(chime_config_key_needs_restart("jobs.NAME.schedule"));
	assert_false(chime_config_key_needs_restart("no.such.key"));
}

static void
test_restart_changes(void **state)
{
	const char *a = "timezone: UTC\nnode: a\ndatabase: {pool: 2}\nshutdown_timeout: 5s\n";
	const char *b = "timezone: Europe/Berlin\nnode: b\ndatabase: {pool: 3}\n"
	                "shutdown_timeout: 9s\nmetrics: {listen: '127.0.0.1:1'}\n";
	struct chime_diag_list diags;
	struct chime_config *ca = NULL, *cb = NULL;
	char *out;

	chime_diag_list_init(&diags);
	assert_int_equal(parse(a, &diags, &ca), 0);
	assert_int_equal(parse(b, &diags, &cb), 0);
	assert_int_equal(chime_config_restart_changes(ca, ca, &diags), 0);
	assert_int_equal(diags.count, 0);
	assert_int_equal(chime_config_restart_changes(ca, cb, &diags), 3);
	out = diags_text(&diags);
	assert_string_equal(out, "/nonexistent/t.yaml: warning: node: changed, but takes effect "
	                         "only after a restart\n"
	                         "/nonexistent/t.yaml: warning: database.pool: changed, but takes "
	                         "effect only after a restart\n"
	                         "/nonexistent/t.yaml: warning: metrics.listen: changed, but takes "
	                         "effect only after a restart\n");
	free(out);
	chime_config_unref(ca);
	chime_config_unref(cb);
	chime_diag_list_done(&diags);
}

static void
check_output(const char *path, int want_r, const char *want_out, const char *want_err)
{
	char *out = NULL, *err = NULL;
	size_t out_len = 0, err_len = 0;
	FILE *fo = open_memstream(&out, &out_len);
	FILE *fe = open_memstream(&err, &err_len);
	int r;

	r = chime_config_check_file(path, NULL, fo, fe);
	fclose(fo);
	fclose(fe);
	assert_int_equal(r, want_r);
	assert_string_equal(out, want_out);
	assert_string_equal(err, want_err);
	free(out);
	free(err);
}

static void
test_check_file(void **state)
{
	check_output("data/config/good/minimal.yaml", 0, "configuration OK\n", "");
	check_output("data/config/bad/missing.yaml", -ENOENT, "",
	             "data/config/bad/missing.yaml: error: cannot open file: No such file or "
	             "directory\n");
	check_output("data/config/bad/negative-duration.yaml", -EINVAL, "",
	             "data/config/bad/negative-duration.yaml:2:19: error: shutdown_timeout: "
	             "negative duration '-5s'\n"
	             "data/config/bad/negative-duration.yaml:7:14: error: jobs.nightly.timeout: "
	             "negative duration '-1min'\n");
}

/* ---- Runner: one test per fixture file ---------------------------- */

static size_t
add_files(struct CMUnitTest *tests, size_t n, const char *pattern, CMUnitTestFunction fn, glob_t *g)
{
	assert_int_equal(glob(pattern, 0, NULL, g), 0);
	for (size_t i = 0; i < g->gl_pathc; i++)
		tests[n++] = (struct CMUnitTest){
		        .name = g->gl_pathv[i], .test_func = fn, .initial_state = g->gl_pathv[i]};
	return n;
}

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
	        cmocka_unit_test(test_minimal_defaults),
	        cmocka_unit_test(test_full_values),
	        cmocka_unit_test(test_dropins),
	        cmocka_unit_test(test_aliases),
	        cmocka_unit_test(test_merge_keys),
	        cmocka_unit_test(test_example_config),
	        cmocka_unit_test(test_fingerprint),
	        cmocka_unit_test(test_days_warning),
	        cmocka_unit_test(test_seconds_habit_warning),
	        cmocka_unit_test(test_control_socket_off),
	        cmocka_unit_test(test_default_node_is_hostname),
	        cmocka_unit_test(test_hooks),
	        cmocka_unit_test(test_unknown_plugin),
	        cmocka_unit_test(test_keys),
	        cmocka_unit_test(test_restart_changes),
	        cmocka_unit_test(test_check_file),
	};
	struct CMUnitTest tests[256];
	glob_t bad, good;
	size_t n = 0;
	int failed;

	env_setup();
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		tests[n++] = fixed[i];
	n = add_files(tests, n, "data/config/good/*.yaml", test_good_file, &good);
	n = add_files(tests, n, "data/config/bad/*.err", test_bad_file, &bad);
	/* Each fixture directory holds enough files to mean something. */
	if (good.gl_pathc < 5 || bad.gl_pathc < 25) {
		fprintf(stderr, "too few fixtures: %zu good, %zu bad (run from tests/)\n",
		        good.gl_pathc, bad.gl_pathc);
		return 1;
	}
	failed = _cmocka_run_group_tests("config", tests, n, NULL, NULL);
	globfree(&good);
	globfree(&bad);
	return failed;
}
