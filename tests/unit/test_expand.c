/* SPDX-License-Identifier: MIT */
/*
 * The one ${VAR} expander (expand.h) and the kit's face of it (env.h):
 * the rules chime.yaml(5) documents, through a fake lookup (no process
 * environment), and once through the real environment.
 */
#include <errno.h>
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

#include "env.h"
#include "expand.h"

/* A fake environment: NAME=value pairs, NULL-terminated. */
static const char *
fake_lookup(const char *name, void *userdata)
{
	const char *const *env = userdata;

	for (size_t i = 0; env[i] != NULL; i += 2)
		if (strcmp(env[i], name) == 0)
			return env[i + 1];
	return NULL;
}

static const char *fake_env[] = {
        "CREDENTIALS_DIRECTORY", "/run/credentials/chimed.service",
        "EMPTY", "",
        "_x9", "under",
        "SELF", "${SELF}",
        "A", "a",
        NULL,
};

static void
test_expand_ok(void **state)
{
	const struct {
		const char *in, *out;
	} cases[] = {
	        {"", ""},
	        {"/etc/chime/db-password", "/etc/chime/db-password"},
	        {"${CREDENTIALS_DIRECTORY}/db-password", "/run/credentials/chimed.service/db-password"},
	        {"${A}${A}-${A}", "aa-a"},
	        {"x${EMPTY}y", "xy"},
	        {"${_x9}", "under"},
	        /* Values are not expanded again. */
	        {"${SELF}", "${SELF}"},
	        /* A '$' without '{' is kept. */
	        {"$A $$ a$ $", "$A $$ a$ $"},
	        {"$${A}", "$a"},
	        {"}{A}", "}{A}"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[256] = "", *out = NULL;
		int r = chime_expand_env(cases[i].in, fake_lookup, fake_env, &out, err,
		                         sizeof(err));

		if (r != 0 || strcmp(out, cases[i].out) != 0)
			fail_msg("chime_expand_env('%s') = %d '%s' (%s), want '%s'", cases[i].in, r,
			         r == 0 ? out : "", err, cases[i].out);
		free(out);
	}
}

static void
test_expand_bad(void **state)
{
	const struct {
		const char *in;
		int r;
		const char *err;
	} cases[] = {
	        {"${CREDENTIALS_DIRECTORY/db-password", -EINVAL,
	         "unterminated '${' in '${CREDENTIALS_DIRECTORY/db-password'"},
	        {"a${", -EINVAL, "unterminated '${' in 'a${'"},
	        {"${}", -EINVAL, "invalid variable name '' in '${}'"},
	        {"${9LIVES}", -EINVAL, "invalid variable name '9LIVES' in '${9LIVES}'"},
	        {"${A-B}", -EINVAL, "invalid variable name 'A-B' in '${A-B}'"},
	        {"${A B}", -EINVAL, "invalid variable name 'A B' in '${A B}'"},
	        {"${UNSET}/x", -ENOENT, "environment variable 'UNSET' is not set"},
	        {"${A}${UNSET}", -ENOENT, "environment variable 'UNSET' is not set"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[256] = "", untouched[] = "untouched", *out = untouched;
		int r = chime_expand_env(cases[i].in, fake_lookup, fake_env, &out, err,
		                         sizeof(err));

		if (r != cases[i].r || strcmp(err, cases[i].err) != 0)
			fail_msg("chime_expand_env('%s') = %d '%s', want %d '%s'", cases[i].in, r,
			         err, cases[i].r, cases[i].err);
		assert_ptr_equal(out, untouched);
	}
}

static void
test_expand_long_name(void **state)
{
	char in[300], name[260], err[512], *out = NULL;

	memset(name, 'N', 255);
	name[255] = '\0';
	snprintf(in, sizeof(in), "${%s}", name);
	assert_int_equal(chime_expand_env(in, fake_lookup, fake_env, &out, err, sizeof(err)),
	                 -ENOENT);
	memset(name, 'N', 256);
	name[256] = '\0';
	snprintf(in, sizeof(in), "${%s}", name);
	assert_int_equal(chime_expand_env(in, fake_lookup, fake_env, &out, err, sizeof(err)),
	                 -EINVAL);
	/* No room for the reason: still the error. */
	assert_int_equal(chime_expand_env("${UNSET}", fake_lookup, fake_env, &out, NULL, 0),
	                 -ENOENT);
	assert_null(out);
}

/* NULL lookup and the kit's wrapper: the process environment. */
static void
test_expand_environ(void **state)
{
	char err[256] = "", *out = NULL;

	assert_int_equal(setenv("CHIME_TEST_EXPAND", "/srv/secrets", 1), 0);
	assert_int_equal(unsetenv("CHIME_TEST_EXPAND_UNSET"), 0);
	assert_int_equal(chime_expand_env("${CHIME_TEST_EXPAND}/a", NULL, NULL, &out, err,
	                                  sizeof(err)),
	                 0);
	assert_string_equal(out, "/srv/secrets/a");
	free(out);
	out = NULL;
	assert_int_equal(chime_kit_expand_env("${CHIME_TEST_EXPAND}/token", &out, err, sizeof(err)),
	                 0);
	assert_string_equal(out, "/srv/secrets/token");
	free(out);
	assert_int_equal(chime_kit_expand_env("${CHIME_TEST_EXPAND_UNSET}", &out, err, sizeof(err)),
	                 -ENOENT);
	assert_string_equal(err, "environment variable 'CHIME_TEST_EXPAND_UNSET' is not set");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_expand_ok),
	        cmocka_unit_test(test_expand_bad),
	        cmocka_unit_test(test_expand_long_name),
	        cmocka_unit_test(test_expand_environ),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
