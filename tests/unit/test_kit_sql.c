/* SPDX-License-Identifier: MIT */
/*
 * The plugin kit's SQL text (sqltext.h) without a database: the one
 * identifier quoter (plain and schema-qualified names, embedded quotes)
 * and the named-placeholder template (each {name} quoted once, $n and
 * other braces left alone, unknown and unmapped placeholders refused with
 * a message naming them). PQescapeIdentifier needs a connection object,
 * not a server: one that failed to connect does.
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

#include <libpq-fe.h>

#include "sqltext.h"

static int
setup(void **state)
{
	PGconn *conn = PQconnectStart("host=/nonexistent-chime-test-dir dbname=x");

	if (conn == NULL)
		return -1;
	*state = conn;
	return 0;
}

static int
teardown(void **state)
{
	PQfinish(*state);
	return 0;
}

static void
test_quote_ident(void **state)
{
	static const struct {
		const char *name, *want;
	} cases[] = {
	        {"codes", "\"codes\""},
	        {"Codes", "\"Codes\""},
	        {"app.codes", "\"app\".\"codes\""},
	        {"we\"ird", "\"we\"\"ird\""},
	        {"a.b.c", "\"a\".\"b.c\""},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *q = chime_kit_quote_ident(*state, cases[i].name);

		assert_non_null(q);
		assert_string_equal(q, cases[i].want);
		free(q);
	}
}

static const struct chime_kit_ident ids[] = {
        {"table", "app.codes"},
        {"key", "id"},
        {"s.status", "Status"},
        {"label", NULL},
};

static void
test_template(void **state)
{
	static const struct {
		const char *tmpl, *want;
	} cases[] = {
	        {"SELECT r.{key} FROM {table} AS r WHERE r.{s.status} = $1",
	         "SELECT r.\"id\" FROM \"app\".\"codes\" AS r WHERE r.\"Status\" = $1"},
	        {"{key}{key}", "\"id\"\"id\""},
	        {"SELECT '{}'::jsonb, '{1,2}'::int[], '{ key}', {", "SELECT '{}'::jsonb, "
	                                                            "'{1,2}'::int[], '{ key}', {"},
	        {"", ""},
	};
	char err[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct chime_kit_sqlbuf b = {0};

		err[0] = '\0';
		assert_int_equal(
		        chime_kit_sql_template(&b, *state, cases[i].tmpl, ids, 4, err, sizeof(err)),
		        0);
		assert_string_equal(b.data != NULL ? b.data : "", cases[i].want);
		assert_string_equal(err, "");
		chime_kit_sqlbuf_done(&b);
	}
}

static void
test_template_errors(void **state)
{
	static const struct {
		const char *tmpl;
		int r;
		const char *msg;
	} cases[] = {
	        {"SELECT {nope} FROM {table}", -ENOENT, "unknown placeholder '{nope}'"},
	        {"SELECT r.{label} FROM {table}", -EINVAL, "placeholder '{label}' is not mapped"},
	};
	char err[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct chime_kit_sqlbuf b = {0};

		assert_int_equal(
		        chime_kit_sql_template(&b, *state, cases[i].tmpl, ids, 4, err, sizeof(err)),
		        cases[i].r);
		assert_string_equal(err, cases[i].msg);
		assert_true(b.failed);
		/* A failed buffer stays failed: later appends change nothing. */
		chime_kit_sqlbuf_printf(&b, "more");
		assert_int_equal(
		        chime_kit_sql_template(&b, *state, "{key}", ids, 4, err, sizeof(err)),
		        -ENOMEM);
		assert_string_equal(err, cases[i].msg);
		chime_kit_sqlbuf_done(&b);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_quote_ident),
	        cmocka_unit_test(test_template),
	        cmocka_unit_test(test_template_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
