/* SPDX-License-Identifier: MIT */
/*
 * chime_crontab_import(): crontab lines in, chime.yaml jobs out. Whole
 * outputs are compared where the shape matters (argv vs shell, env,
 * CRON_TZ, `%`), fragments elsewhere; diagnostics by line and message.
 */
#include <stdio.h>
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

#include "crontab_import.h"
#include "diag.h"

#define HEADER                                                                                     \
	"# chime jobs converted by chimectl import-crontab from t.crontab.\n"                      \
	"# Review them, then merge into chime.yaml or drop the file into\n"                        \
	"# /etc/chime/jobs.d/. Output that cron mailed goes to the journal.\n"

struct result {
	char *yaml;
	size_t jobs;
	struct chime_diag_list diags;
};

static void
convert(const char *text, const char *user, struct result *res)
{
	struct chime_crontab_import_options opts = {.file = "t.crontab", .user = user};
	size_t len = 0;
	FILE *out;

	res->yaml = NULL;
	out = open_memstream(&res->yaml, &len);
	assert_non_null(out);
	chime_diag_list_init(&res->diags);
	assert_int_equal(chime_crontab_import(text, &opts, &res->diags, out, &res->jobs), 0);
	assert_int_equal(fclose(out), 0);
}

static void
result_done(struct result *res)
{
	free(res->yaml);
	chime_diag_list_done(&res->diags);
}

/* The i-th diagnostic formatted as the user sees it. */
static const char *
diag_text(const struct result *res, size_t i, char *buf, size_t size)
{
	assert_true(i < res->diags.count);
	chime_diag_format(&res->diags.items[i], buf, size);
	return buf;
}

static void
test_plain_command_is_argv(void **state)
{
	struct result res;

	convert("30 4 * * * /usr/local/bin/backup-db --full /srv/backups\n", NULL, &res);
	assert_int_equal(res.jobs, 1);
	assert_int_equal(res.diags.count, 0);
	assert_string_equal(res.yaml, HEADER "jobs:\n"
	                                     "  backup-db:\n"
	                                     "    schedule: \"30 4 * * *\"\n"
	                                     "    plugin: exec\n"
	                                     "    options:\n"
	                                     "      command: [\"/usr/local/bin/backup-db\", "
	                                     "\"--full\", \"/srv/backups\"]\n");
	result_done(&res);
}

static void
test_shell_syntax_is_kept(void **state)
{
	struct result res;

	convert("# Run every day at 2:00 AM\n"
	        "0 2 * * * cd /srv/app && python manage.py expire_codes >> /var/log/x.log 2>&1\n",
	        NULL, &res);
	assert_int_equal(res.jobs, 1);
	assert_string_equal(res.yaml, HEADER
	                    "jobs:\n"
	                    "  # Run every day at 2:00 AM\n"
	                    "  # crontab: >> /var/log/x.log 2>&1\n"
	                    "  # now in the journal: journalctl -u chimed CHIME_JOB=expire-codes\n"
	                    "  expire-codes:\n"
	                    "    schedule: \"0 2 * * *\"\n"
	                    "    plugin: exec\n"
	                    "    options:\n"
	                    "      command: \"cd /srv/app && python manage.py expire_codes\"\n"
	                    "      shell: true\n");
	result_done(&res);
}

/* A trailing log redirection goes (the journal has the output, and the
 * shipped unit's /var/log is read-only); one that writes the job's data
 * or discards output stays. */
static void
test_log_redirect_to_journal(void **state)
{
	static const struct {
		const char *line, *command, *note;
	} cases[] = {
	        {"/usr/bin/python3 /p/cron_jobs.py >> /var/log/cpa_cron.log 2>&1",
	         "[\"/usr/bin/python3\", \"/p/cron_jobs.py\"]", ">> /var/log/cpa_cron.log 2>&1"},
	        {"/bin/x >>/tmp/x.log 2>&1", "[\"/bin/x\"]", ">>/tmp/x.log 2>&1"},
	        {"/bin/x &>> /srv/out", "[\"/bin/x\"]", "&>> /srv/out"},
	        {"/bin/x 2>> /var/log/x", "[\"/bin/x\"]", "2>> /var/log/x"},
	        {"/bin/x > /dev/null 2>&1", "\"/bin/x > /dev/null 2>&1\"", NULL},
	        {"pg_dump app > /backup/app.sql", "\"pg_dump app > /backup/app.sql\"", NULL},
	        {"/bin/x >> \"$HOME/x.log\"", "\"/bin/x >> \\\"$HOME/x.log\\\"\"", NULL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[512], want[512];
		struct result res;

		snprintf(text, sizeof(text), "0 2 * * * %s\n", cases[i].line);
		convert(text, NULL, &res);
		snprintf(want, sizeof(want), "      command: %s\n", cases[i].command);
		if (strstr(res.yaml, want) == NULL)
			fail_msg("line '%s': want '%s' in\n%s", cases[i].line, want, res.yaml);
		if (cases[i].note != NULL) {
			snprintf(want, sizeof(want), "  # crontab: %s\n", cases[i].note);
			if (strstr(res.yaml, want) == NULL)
				fail_msg("line '%s': no note '%s' in\n%s", cases[i].line, want,
				         res.yaml);
		} else if (strstr(res.yaml, "now in the journal") != NULL) {
			fail_msg("line '%s': redirection cut in\n%s", cases[i].line, res.yaml);
		}
		result_done(&res);
	}
}

static void
test_env_tz_mailto(void **state)
{
	struct result res;
	char buf[512];

	convert("MAILTO=ops@example.com\n"
	        "0 1 * * * /bin/true\n"
	        "PATH = \"/usr/local/bin:/usr/bin\"\n"
	        "CRON_TZ=Asia/Tbilisi\n"
	        "LANG='C.UTF-8'\n"
	        "0 2 * * * /bin/true\n",
	        NULL, &res);
	assert_int_equal(res.jobs, 2);
	assert_string_equal(res.yaml, HEADER
	                    "jobs:\n"
	                    "  # MAILTO=ops@example.com ignored: chime mails nothing; a job's "
	                    "output goes to the journal (journalctl CHIME_JOB=NAME)\n"
	                    "  true:\n"
	                    "    schedule: \"0 1 * * *\"\n"
	                    "    plugin: exec\n"
	                    "    options:\n"
	                    "      command: [\"/bin/true\"]\n"
	                    "  true-2:\n"
	                    "    schedule: \"0 2 * * *\"\n"
	                    "    timezone: \"Asia/Tbilisi\"\n"
	                    "    plugin: exec\n"
	                    "    options:\n"
	                    "      command: [\"/bin/true\"]\n"
	                    "      env:\n"
	                    "        PATH: \"/usr/local/bin:/usr/bin\"\n"
	                    "        LANG: \"C.UTF-8\"\n");
	assert_int_equal(res.diags.errors, 0);
	assert_int_equal(res.diags.warnings, 1);
	assert_string_equal(diag_text(&res, 0, buf, sizeof(buf)),
	                    "t.crontab:1:1: warning: MAILTO ignored: chime does not mail output");
	result_done(&res);
}

static void
test_cron_tz_reset_and_env_override(void **state)
{
	struct result res;

	convert("CRON_TZ=Europe/Berlin\nA=1\n0 2 * * * /bin/a\nCRON_TZ=\nA=2\n0 3 * * * /bin/b\n",
	        NULL, &res);
	assert_int_equal(res.jobs, 2);
	assert_non_null(strstr(res.yaml, "  a:\n    schedule: \"0 2 * * *\"\n    timezone: "
	                                 "\"Europe/Berlin\"\n"));
	assert_non_null(strstr(res.yaml, "  b:\n    schedule: \"0 3 * * *\"\n    plugin: exec\n"));
	assert_non_null(strstr(res.yaml, "      env:\n        A: \"1\"\n  b:"));
	assert_non_null(strstr(res.yaml, "      env:\n        A: \"2\"\n"));
	result_done(&res);
}

static void
test_shell_variable_picks_the_shell(void **state)
{
	struct result res;

	convert("SHELL=/bin/bash\n*/10 * * * * echo $HOME > /tmp/h\n", NULL, &res);
	assert_non_null(strstr(res.yaml, "      command: [\"/bin/bash\", \"-c\", \"echo $HOME > "
	                                 "/tmp/h\"]\n      env:\n        SHELL: \"/bin/bash\"\n"));
	assert_null(strstr(res.yaml, "shell: true"));
	result_done(&res);
}

static void
test_percent_is_stdin(void **state)
{
	struct result res;
	char buf[512];

	convert("0 9 * * 1 /usr/bin/mail -s report root%Weekly report%see the wiki\n"
	        "5 0 * * * /usr/bin/touch /tmp/stamp-\\%Y\n",
	        NULL, &res);
	assert_int_equal(res.jobs, 2);
	assert_non_null(strstr(
	        res.yaml, "  # crontab fed the text after '%' to this command's stdin:\n"
	                  "  #   Weekly report\n"
	                  "  #   see the wiki\n"
	                  "  # chime does not feed stdin (commands read /dev/null), so the job\n"
	                  "  # is disabled: pipe the text in the command itself, then enable "
	                  "it.\n"
	                  "  mail:\n"
	                  "    schedule: \"0 9 * * 1\"\n"
	                  "    plugin: exec\n"
	                  "    enabled: false\n"
	                  "    options:\n"
	                  "      command: [\"/usr/bin/mail\", \"-s\", \"report\", \"root\"]\n"));
	/* An escaped % is a plain %, passed on as is, and the job stays enabled. */
	assert_non_null(strstr(res.yaml, "  touch:\n    schedule: \"5 0 * * *\"\n    plugin: exec\n"
	                                 "    options:\n      command: [\"/usr/bin/touch\", "
	                                 "\"/tmp/stamp-%Y\"]\n"));
	assert_int_equal(res.diags.warnings, 1);
	assert_string_equal(diag_text(&res, 0, buf, sizeof(buf)),
	                    "t.crontab:1:1: warning: job 'mail': the text after '%' was the "
	                    "command's stdin; chime does not feed stdin, so the job is written "
	                    "disabled");
	result_done(&res);
}

static void
test_macros(void **state)
{
	struct result res;

	convert("@reboot /usr/bin/warm-cache\n@annually /bin/y\n@midnight /bin/m\n@hourly /bin/h\n",
	        NULL, &res);
	assert_int_equal(res.jobs, 4);
	assert_non_null(strstr(res.yaml, "  # @reboot: once each time chimed starts, not at boot "
	                                 "only.\n  warm-cache:\n    schedule: \"@reboot\"\n"));
	assert_non_null(strstr(res.yaml, "  y:\n    schedule: \"@yearly\"\n"));
	assert_non_null(strstr(res.yaml, "  m:\n    schedule: \"@daily\"\n"));
	assert_non_null(strstr(res.yaml, "  h:\n    schedule: \"@hourly\"\n"));
	result_done(&res);
}

static void
test_names(void **state)
{
	static const struct {
		const char *line, *name;
	} cases[] = {
	        {"* * * * * cd /x && PYTHONPATH=/x ./venv/bin/python services/package_scheduler.py "
	         ">> /tmp/p.log 2>&1",
	         "package-scheduler"},
	        {"0 2 * * * cd /w && /usr/bin/env PATH=/usr/bin:$PATH D=s /usr/bin/python3 "
	         "manage.py "
	         "process_recurring_payments >> /l 2>&1",
	         "process-recurring-payments"},
	        {"0 2 * * 1 /usr/bin/python3 /p/offers/cron_jobs.py >> /var/log/cpa_cron.log 2>&1",
	         "cron-jobs"},
	        {"0 2 * * 1 /usr/bin/python3 /p/offers/cron_jobs.py", "cron-jobs-2"},
	        {"* * * * * php /srv/artisan schedule:run", "schedule-run"},
	        {"0 0 * * * nice -n 10 timeout 5m flock -n /run/l /opt/Big_Job.SH", "big-job"},
	        {"0 0 * * * python3.11 -m mymodule", "mymodule"},
	        {"0 0 * * * cd /tmp", "job"},
	};
	char text[4096] = "";
	struct result res;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		strcat(text, cases[i].line);
		strcat(text, "\n");
	}
	convert(text, NULL, &res);
	assert_int_equal(res.jobs, sizeof(cases) / sizeof(cases[0]));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char want[128];

		snprintf(want, sizeof(want), "\n  %s:\n    schedule:", cases[i].name);
		if (strstr(res.yaml, want) == NULL)
			fail_msg("line '%s': no job named '%s' in\n%s", cases[i].line,
			         cases[i].name, res.yaml);
	}
	result_done(&res);
}

static void
test_days_and_user(void **state)
{
	struct result res;

	convert("0 2 16-22 * MON /bin/pay\n", "app", &res);
	assert_string_equal(res.yaml, HEADER "jobs:\n"
	                                     "  pay:\n"
	                                     "    schedule: \"0 2 16-22 * MON\"\n"
	                                     "    days: any                # crontab: either day "
	                                     "field matches\n"
	                                     "    plugin: exec\n"
	                                     "    options:\n"
	                                     "      command: [\"/bin/pay\"]\n"
	                                     "      user: \"app\"\n");
	result_done(&res);
}

static void
test_bad_lines(void **state)
{
	struct result res;
	char buf[512];

	convert("# nothing usable here\n"
	        "61 * * * * /bin/x\n"
	        "\n"
	        "* * * /bin/x\n"
	        "@fortnightly /bin/x\n"
	        "0 0 * * *   \n",
	        NULL, &res);
	assert_int_equal(res.jobs, 0);
	assert_int_equal(res.diags.errors, 4);
	assert_ptr_equal(strstr(diag_text(&res, 0, buf, sizeof(buf)), "t.crontab:2:"), buf);
	assert_non_null(strstr(buf, ": error: "));
	assert_non_null(strstr(buf, "'61'"));
	assert_string_equal(diag_text(&res, 1, buf, sizeof(buf)),
	                    "t.crontab:4:13: error: expected five time fields and a command, found "
	                    "4 fields");
	assert_string_equal(diag_text(&res, 2, buf, sizeof(buf)),
	                    "t.crontab:5:1: error: unknown crontab macro '@fortnightly'");
	assert_string_equal(diag_text(&res, 3, buf, sizeof(buf)),
	                    "t.crontab:6:10: error: no command after the schedule");
	assert_string_equal(res.yaml, HEADER "jobs: {}\n  # nothing usable here\n\n");
	result_done(&res);
}

static void
test_quoting(void **state)
{
	struct result res;

	convert("0 0 * * * /bin/echo \"a\\\\b\" 'c'\n", NULL, &res);
	assert_non_null(
	        strstr(res.yaml,
	               "      command: \"/bin/echo \\\"a\\\\\\\\b\\\" 'c'\"\n      shell: true\n"));
	result_done(&res);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_plain_command_is_argv),
	        cmocka_unit_test(test_shell_syntax_is_kept),
	        cmocka_unit_test(test_log_redirect_to_journal),
	        cmocka_unit_test(test_env_tz_mailto),
	        cmocka_unit_test(test_cron_tz_reset_and_env_override),
	        cmocka_unit_test(test_shell_variable_picks_the_shell),
	        cmocka_unit_test(test_percent_is_stdin),
	        cmocka_unit_test(test_macros),
	        cmocka_unit_test(test_names),
	        cmocka_unit_test(test_days_and_user),
	        cmocka_unit_test(test_bad_lines),
	        cmocka_unit_test(test_quoting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
