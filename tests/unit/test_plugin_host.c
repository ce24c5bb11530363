/* SPDX-License-Identifier: MIT */
/*
 * The plugin host: the built-in table, loading the fixture plugins of
 * tests/plugins/ (right ABI, wrong ABI, short and too-short descriptors, no
 * entry point, missing file), the config hooks (resolve, configure,
 * release, diagnostics at the job), and the noop example plugin itself.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "node.h"
#include "plugin_host.h"
#include "builtin.h"
#include "run.h"

static char plugin_dir[4096];

static const char *
plugin_file(const char *name)
{
	static char path[4200];

	snprintf(path, sizeof(path), "%s/%s.so", plugin_dir, name);
	return path;
}

static void
test_builtin(void **state)
{
	const struct chime_plugin *noop = chime_plugins_find("noop");
	struct chime_plugin_host *host = NULL;

	assert_non_null(noop);
	assert_string_equal(noop->name, "noop");
	assert_int_equal(noop->abi_version, CHIME_PLUGIN_ABI_VERSION);
	assert_true(noop->idempotent);
	assert_null(chime_plugins_find("nope"));
	assert_true(chime_plugins_builtin_count >= 1);
	assert_ptr_equal(chime_plugins_builtin[0], noop);
	/* Every entry has a valid, unique name and a run function, and the
	 * host given the table finds each of them. */
	assert_int_equal(chime_plugin_host_new(chime_plugins_builtin, chime_plugins_builtin_count, &host), 0);
	assert_null(chime_plugin_host_builtin(host, "nope"));
	for (size_t i = 0; i < chime_plugins_builtin_count; i++) {
		const struct chime_plugin *p = chime_plugins_builtin[i];

		assert_non_null(p->run);
		assert_ptr_equal(chime_plugins_find(p->name), p);
		assert_ptr_equal(chime_plugin_host_builtin(host, p->name), p);
	}
	chime_plugin_host_free(host);
}

static void
test_load_good(void **state)
{
	struct chime_plugin_host *host;
	const struct chime_plugin *p = NULL, *again = NULL;
	char err[512] = "";

	assert_int_equal(chime_plugin_host_new(chime_plugins_builtin, chime_plugins_builtin_count, &host), 0);
	assert_int_equal(chime_plugin_host_load(host, plugin_file("goodabi"), err, sizeof(err), &p),
	                 0);
	assert_string_equal(p->name, "good");
	assert_true(p->idempotent);
	assert_non_null(p->configure);
	/* A second load of the same path is the same descriptor. */
	assert_int_equal(
	        chime_plugin_host_load(host, plugin_file("goodabi"), err, sizeof(err), &again), 0);
	assert_ptr_equal(p, again);
	assert_null(chime_plugin_host_free(host));
}

static void
expect_load_error(const char *name, int want_r, const char *want_reason)
{
	struct chime_plugin_host *host;
	const struct chime_plugin *p = NULL;
	char err[512] = "", want[8192];
	const char *path = plugin_file(name);

	assert_int_equal(chime_plugin_host_new(chime_plugins_builtin, chime_plugins_builtin_count, &host), 0);
	assert_int_equal(chime_plugin_host_load(host, path, err, sizeof(err), &p), want_r);
	assert_null(p);
	snprintf(want, sizeof(want), "plugin '%s': %s", path, want_reason);
	assert_string_equal(err, want);
	chime_plugin_host_free(host);
}

static void
test_load_bad(void **state)
{
	expect_load_error("badabi", -EPROTO, "ABI version 7, this chimed supports 1");
	expect_load_error("tinystruct", -EPROTO, "descriptor is 16 bytes, ABI 1 needs at least 40");
	expect_load_error("noentry", -ENOENT, "no chime_plugin_entry symbol (not a chime plugin?)");
}

static void
test_load_missing(void **state)
{
	struct chime_plugin_host *host;
	const struct chime_plugin *p = NULL;
	char err[512] = "";

	assert_int_equal(chime_plugin_host_new(chime_plugins_builtin, chime_plugins_builtin_count, &host), 0);
	assert_int_equal(chime_plugin_host_load(host, "/nonexistent/x.so", err, sizeof(err), &p),
	                 -ENOENT);
	assert_non_null(strstr(err, "plugin '/nonexistent/x.so': cannot load: "));
	assert_non_null(strstr(err, "No such file or directory"));
	chime_plugin_host_free(host);
}

static void
test_short_struct(void **state)
{
	struct chime_plugin_host *host;
	const struct chime_plugin *p = NULL;
	char err[512] = "";

	assert_int_equal(chime_plugin_host_new(chime_plugins_builtin, chime_plugins_builtin_count, &host), 0);
	assert_int_equal(
	        chime_plugin_host_load(host, plugin_file("shortstruct"), err, sizeof(err), &p), 0);
	assert_string_equal(p->name, "short");
	/* The byte after struct_size says true; the host must not read it. */
	assert_false(p->idempotent);
	assert_null(p->configure);
	/* check() lies past struct_size too: the host sees none. */
	assert_null(p->check);
	chime_plugin_host_free(host);
}

/* A job as the config loader would hand it to check_job(). */
struct fixture_job {
	struct chime_job_config job;
	struct chime_node *options;
};

static void
job_init(struct fixture_job *fj, const char *file, const char *plugin, const char *plugin_path,
         const char *yaml)
{
	struct chime_diag_list diags;

	memset(fj, 0, sizeof(*fj));
	fj->job.name = strdup("nightly");
	fj->job.file = file;
	fj->job.line = 7;
	fj->job.column = 3;
	fj->job.plugin_name = plugin != NULL ? strdup(plugin) : NULL;
	fj->job.plugin_path = plugin_path != NULL ? strdup(plugin_path) : NULL;
	if (yaml != NULL) {
		chime_diag_list_init(&diags);
		assert_int_equal(chime_node_parse_string("options.yaml", yaml, strlen(yaml), NULL,
		                                         &diags, &fj->options),
		                 0);
		chime_diag_list_done(&diags);
		fj->job.options = fj->options;
	}
}

static void
job_done(struct fixture_job *fj, const struct chime_config_hooks *hooks)
{
	hooks->release_job(&fj->job, hooks->userdata);
	assert_null(fj->job.plugin_state);
	free(fj->job.name);
	free(fj->job.plugin_name);
	free(fj->job.plugin_path);
	chime_node_free(fj->options);
}

static struct chime_run *
new_run(void)
{
	struct chime_run_params params = {.job = "nightly", .plugin = "noop", .attempt = 1};

	return chime_run_new(&params);
}

static void
test_hooks_builtin(void **state)
{
	struct chime_plugin_host *host;
	struct chime_config_hooks hooks;
	struct chime_diag_list diags;
	struct fixture_job fj;
	struct chime_run *run;

	assert_int_equal(chime_plugin_host_new(chime_plugins_builtin, chime_plugins_builtin_count, &host), 0);
	chime_plugin_host_hooks(host, &hooks);
	chime_diag_list_init(&diags);

	job_init(&fj, "/etc/chime/chime.yaml", "noop", NULL, "fail: true\n");
	assert_int_equal(hooks.check_job(&fj.job, &diags, hooks.userdata), 0);
	assert_int_equal(diags.errors, 0);
	assert_ptr_equal(fj.job.plugin, chime_plugins_find("noop"));
	assert_non_null(fj.job.plugin_state);
	run = new_run();
	assert_int_equal(fj.job.plugin->run(fj.job.plugin_state, run), -EIO);
	assert_string_equal(chime_run_error(run), "failing as configured (fail: true)");
	assert_int_equal(chime_run_report_count(run, "noop"), 0);
	chime_run_free(run);
	job_done(&fj, &hooks);

	/* No options at all: a run that succeeds and counts itself. */
	job_init(&fj, "/etc/chime/chime.yaml", "noop", NULL, NULL);
	assert_int_equal(hooks.check_job(&fj.job, &diags, hooks.userdata), 0);
	run = new_run();
	assert_int_equal(fj.job.plugin->run(fj.job.plugin_state, run), 0);
	assert_int_equal(chime_run_report_count(run, "noop"), 1);
	chime_run_free(run);
	job_done(&fj, &hooks);

	chime_diag_list_done(&diags);
	chime_plugin_host_free(host);
}

static void
test_hooks_errors(void **state)
{
	struct chime_plugin_host *host;
	struct chime_config_hooks hooks;
	struct chime_diag_list diags;
	struct fixture_job fj;
	char line[8192], want[8192];

	assert_int_equal(chime_plugin_host_new(chime_plugins_builtin, chime_plugins_builtin_count, &host), 0);
	chime_plugin_host_hooks(host, &hooks);

	chime_diag_list_init(&diags);
	job_init(&fj, "/etc/chime/chime.yaml", "nope", NULL, NULL);
	assert_int_equal(hooks.check_job(&fj.job, &diags, hooks.userdata), -EINVAL);
	assert_null(fj.job.plugin);
	assert_int_equal(diags.errors, 1);
	chime_diag_format(&diags.items[0], line, sizeof(line));
	assert_true(strncmp(line,
	                    "/etc/chime/chime.yaml:7:3: error: jobs.nightly.plugin: "
	                    "unknown plugin 'nope' (built-in: noop",
	                    strlen("/etc/chime/chime.yaml:7:3: error: jobs.nightly.plugin: "
	                           "unknown plugin 'nope' (built-in: noop")) == 0);
	job_done(&fj, &hooks);
	chime_diag_list_done(&diags);

	/* Bad options are the plugin's diagnostics, at their own place. */
	chime_diag_list_init(&diags);
	job_init(&fj, "/etc/chime/chime.yaml", "noop", NULL, "sleep: soon\nbogus: 1\n");
	assert_int_equal(hooks.check_job(&fj.job, &diags, hooks.userdata), -EINVAL);
	assert_null(fj.job.plugin);
	assert_int_equal(diags.errors, 2);
	job_done(&fj, &hooks);
	chime_diag_list_done(&diags);

	/* A wrong-ABI .so named by the job. */
	chime_diag_list_init(&diags);
	job_init(&fj, "/etc/chime/chime.yaml", NULL, plugin_file("badabi"), NULL);
	assert_int_equal(hooks.check_job(&fj.job, &diags, hooks.userdata), -EINVAL);
	assert_int_equal(diags.errors, 1);
	chime_diag_format(&diags.items[0], line, sizeof(line));
	snprintf(want, sizeof(want),
	         "/etc/chime/chime.yaml:7:3: error: jobs.nightly.plugin_path: plugin '%s': ABI "
	         "version 7, this chimed supports 1",
	         plugin_file("badabi"));
	assert_string_equal(line, want);
	job_done(&fj, &hooks);
	chime_diag_list_done(&diags);

	chime_plugin_host_free(host);
}

static void
test_hooks_plugin_path(void **state)
{
	struct chime_plugin_host *host;
	struct chime_config_hooks hooks;
	struct chime_diag_list diags;
	struct fixture_job fj;
	struct chime_run *run;
	char file[4200];

	assert_int_equal(chime_plugin_host_new(chime_plugins_builtin, chime_plugins_builtin_count, &host), 0);
	chime_plugin_host_hooks(host, &hooks);
	chime_diag_list_init(&diags);

	/* A relative plugin_path is found next to the file defining the job,
	 * and the job takes the plugin's name. */
	snprintf(file, sizeof(file), "%s/chime.yaml", plugin_dir);
	job_init(&fj, file, NULL, "goodabi.so", "add: 5\n");
	assert_int_equal(hooks.check_job(&fj.job, &diags, hooks.userdata), 0);
	assert_string_equal(fj.job.plugin_name, "good");
	run = new_run();
	assert_int_equal(fj.job.plugin->run(fj.job.plugin_state, run), 0);
	assert_int_equal(chime_run_report_count(run, "good"), 5);
	chime_run_free(run);
	job_done(&fj, &hooks);

	/* The plugin's own configure() rejects a bad option. */
	job_init(&fj, file, "good", "goodabi.so", "add: many\n");
	assert_int_equal(hooks.check_job(&fj.job, &diags, hooks.userdata), -EINVAL);
	assert_int_equal(diags.errors, 1);
	assert_string_equal(diags.items[0].message, "want an integer");
	assert_int_equal(diags.items[0].line, 1);
	assert_int_equal(diags.items[0].column, 6);
	job_done(&fj, &hooks);

	chime_diag_list_done(&diags);
	chime_plugin_host_free(host);
}

struct cancel_arg {
	const struct chime_plugin *plugin;
	void *state;
	struct chime_run *run;
	int r;
};

static void *
run_thread(void *userdata)
{
	struct cancel_arg *a = userdata;

	a->r = a->plugin->run(a->state, a->run);
	return NULL;
}

static int64_t
mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
test_noop_cancel(void **state)
{
	struct chime_plugin_host *host;
	struct chime_config_hooks hooks;
	struct chime_diag_list diags;
	struct fixture_job fj;
	struct cancel_arg a;
	struct timespec ts = {.tv_nsec = 50 * 1000 * 1000};
	pthread_t t;
	int64_t start;

	assert_int_equal(chime_plugin_host_new(chime_plugins_builtin, chime_plugins_builtin_count, &host), 0);
	chime_plugin_host_hooks(host, &hooks);
	chime_diag_list_init(&diags);
	job_init(&fj, "chime.yaml", "noop", NULL, "sleep: 60s\n");
	assert_int_equal(hooks.check_job(&fj.job, &diags, hooks.userdata), 0);

	a = (struct cancel_arg){
	        .plugin = fj.job.plugin, .state = fj.job.plugin_state, .run = new_run()};
	start = mono_usec();
	assert_int_equal(pthread_create(&t, NULL, run_thread, &a), 0);
	nanosleep(&ts, NULL);
	chime_run_cancel(a.run);
	pthread_join(t, NULL);
	assert_int_equal(a.r, -ECANCELED);
	assert_string_equal(chime_run_error(a.run), "cancelled while sleeping");
	/* 50 ms until the cancel, one 10 ms step to notice it. */
	assert_true(mono_usec() - start < 1000000);
	chime_run_free(a.run);
	job_done(&fj, &hooks);
	chime_diag_list_done(&diags);
	chime_plugin_host_free(host);
}

int
main(void)
{
	const char *build = getenv("CHIME_BUILD_DIR");
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_builtin),      cmocka_unit_test(test_load_good),
	        cmocka_unit_test(test_load_bad),     cmocka_unit_test(test_load_missing),
	        cmocka_unit_test(test_short_struct), cmocka_unit_test(test_hooks_builtin),
	        cmocka_unit_test(test_hooks_errors), cmocka_unit_test(test_hooks_plugin_path),
	        cmocka_unit_test(test_noop_cancel),
	};

	snprintf(plugin_dir, sizeof(plugin_dir), "%s/tests/plugins", build != NULL ? build : "..");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
