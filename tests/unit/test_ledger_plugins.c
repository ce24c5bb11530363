/* SPDX-License-Identifier: MIT */
/*
 * The sql and exec plugins without a database: sql's configure() finds the
 * parameters a statement uses (ignoring quotes, dollar quotes and
 * comments) and refuses $3 and a second statement; exec's configure()
 * checks its options, and its run() executes commands, reports exit
 * statuses and signals, honours cancellation and dry runs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "diag.h"
#include "log.h"
#include "node.h"
#include "plugin_host.h"
#include "builtin.h"
#include "run.h"

/* configure() of plugin `name` on the YAML mapping `yaml`; returns its
 * result and the first diagnostic's message in `msg`. */
static int
configure(const char *name, const char *yaml, void **ret_state, char *msg, size_t size)
{
	const struct chime_plugin *p = chime_plugins_find(name);
	struct chime_diag_list diags;
	struct chime_node *root = NULL;
	void *state = NULL;
	int r;

	assert_non_null(p);
	chime_diag_list_init(&diags);
	assert_int_equal(chime_node_parse_string("t.yaml", yaml, strlen(yaml), NULL, &diags, &root),
	                 0);
	r = p->configure(root, &diags, &state);
	msg[0] = '\0';
	if (diags.count > 0)
		snprintf(msg, size, "%s", diags.items[0].message);
	if (r == 0 && ret_state != NULL)
		*ret_state = state;
	else if (r == 0)
		p->release(state);
	chime_diag_list_done(&diags);
	chime_node_free(root);
	return r;
}

static void
test_sql_configure(void **state)
{
	static const struct {
		const char *yaml;
		const char *error; /* substring, or NULL when valid */
	} cases[] = {
	        {"statement: \"INSERT INTO t VALUES ($1, $2)\"", NULL},
	        {"statement: \"SELECT 1\"", NULL},
	        {"statement: \"CALL p($1)\"", NULL},
	        {"statement: \"SELECT '$3', \\\"$3\\\", $1 -- $3\\n\"", NULL},
	        {"statement: \"SELECT $x$ ; $3 $x$, $$ $4 $$, $2 /* $5 /* ; */ */\"", NULL},
	        {"statement: \"SELECT E'it\\\\'s $3', $1\"", NULL},
	        {"statement: \"SELECT 1; -- trailing comment\"", NULL},
	        {"statement: \"SELECT $3\"", "statement uses $3"},
	        {"statement: \"SELECT 1; SELECT 2\"", "only one statement"},
	        {"statement: \"SELECT 'open\"", "unterminated quoted string"},
	        {"statement: \"SELECT $q$ x\"", "unterminated dollar-quoted"},
	        {"statement: \"  \"", "statement is empty"},
	        {"other: 1", "needs options.statement"},
	        {"statement: \"SELECT 1\"\nextra: 2", "extra"},
	};
	char msg[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = configure("sql", cases[i].yaml, NULL, msg, sizeof(msg));

		print_message("sql: %s -> %d %s\n", cases[i].yaml, r, msg);
		if (cases[i].error == NULL) {
			assert_int_equal(r, 0);
		} else {
			assert_int_equal(r, -EINVAL);
			assert_non_null(strstr(msg, cases[i].error));
		}
	}
}

static void
test_exec_configure(void **state)
{
	static const struct {
		const char *yaml;
		const char *error;
	} cases[] = {
	        {"command: [/bin/true]", NULL},
	        {"command: \"cd /tmp && ls\"\nshell: true", NULL},
	        {"command: [env]\nenv: {A_1: x}\nworkdir: /tmp\nkill_timeout: 2s", NULL},
	        {"command: \"cd /tmp && ls\"", "needs shell: true"},
	        {"command: [ls]\nshell: true", "needs a command string"},
	        {"command: []", "non-empty list"},
	        {"command: [ls]\nenv: {1BAD: x}", "not a valid variable name"},
	        {"command: [ls]\ngroup: adm", "group needs user"},
	        {"command: [ls]\nkill_timeout: soon", "invalid duration 'soon'"},
	        {"shell: true", "needs options.command"},
	};
	char msg[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = configure("exec", cases[i].yaml, NULL, msg, sizeof(msg));

		print_message("exec: %s -> %d %s\n", cases[i].yaml, r, msg);
		if (cases[i].error == NULL) {
			assert_int_equal(r, 0);
		} else {
			assert_int_equal(r, -EINVAL);
			assert_non_null(strstr(msg, cases[i].error));
		}
	}
}

struct exec_result {
	int r;
	char error[512];
	char *report;
};

static void
exec_run(const char *yaml, bool dry, bool cancel, struct exec_result *out)
{
	const struct chime_plugin *p = chime_plugins_find("exec");
	struct chime_run_params params = {
	        .job = "t",
	        .plugin = "exec",
	        .nominal_usec = INT64_C(1767225600) * 1000000,
	        .previous_usec = INT64_MIN,
	        .run_id = 42,
	        .attempt = 1,
	        .dry_run = dry,
	};
	struct chime_run *run = chime_run_new(&params);
	void *state = NULL;
	char msg[512];

	assert_non_null(run);
	assert_int_equal(configure("exec", yaml, &state, msg, sizeof(msg)), 0);
	if (cancel)
		chime_run_cancel(run);
	out->r = p->run(state, run);
	snprintf(out->error, sizeof(out->error), "%s",
	         chime_run_error(run) != NULL ? chime_run_error(run) : "");
	out->report = chime_run_report_json(run);
	p->release(state);
	chime_run_free(run);
}

static void
test_exec_run(void **state)
{
	struct exec_result res;

	(void)state;
	chime_log_open(CHIME_LOG_ERR);
	exec_run("command: [/bin/sh, -c, 'test \"$CHIME_JOB $CHIME_RUN_ID $CHIME_SCHEDULED_FOR\" = "
	         "\"t 42 2026-01-01T00:00:00Z\" && test -z \"$CHIME_PREVIOUS_FOR\"']",
	         false, false, &res);
	assert_int_equal(res.r, 0);
	assert_non_null(strstr(res.report, "\"exit_status\":\"0\""));
	free(res.report);

	exec_run("command: [/bin/sh, -c, 'echo oops >&2; exit 3']", false, false, &res);
	assert_int_equal(res.r, -EIO);
	assert_string_equal(res.error, "exited with status 3: oops");
	free(res.report);

	exec_run("command: [/bin/sh, -c, 'kill -SEGV $$']", false, false, &res);
	assert_int_equal(res.r, -EIO);
	assert_string_equal(res.error, "killed by signal SIGSEGV");
	free(res.report);

	exec_run("command: \"test $FOO = bar && test $(pwd) = /tmp\"\nshell: true\n"
	         "env: {FOO: bar}\nworkdir: /tmp",
	         false, false, &res);
	assert_int_equal(res.r, 0);
	free(res.report);

	/* Cancelled before it starts: SIGTERM at once, recorded cancelled. */
	exec_run("command: [sleep, '30']\nkill_timeout: 1s", false, true, &res);
	assert_int_equal(res.r, -ECANCELED);
	assert_string_equal(res.error, "cancelled: killed by signal SIGTERM");
	free(res.report);

	/* Dry run: reports the command, runs nothing. */
	exec_run("command: [/bin/false]", true, false, &res);
	assert_int_equal(res.r, 0);
	assert_non_null(strstr(res.report, "would run: '/bin/false'"));
	free(res.report);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_sql_configure),
	        cmocka_unit_test(test_exec_configure),
	        cmocka_unit_test(test_exec_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
