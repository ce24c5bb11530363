/* SPDX-License-Identifier: MIT */
/*
 * The run context: parameters copied, cancel flag, failure reason, and the
 * report (counts add up, values replace, items capped with a dropped count,
 * JSON shape, thread safety).
 */
#include <pthread.h>
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

#include "run.h"

static struct chime_run *
new_run(void)
{
	char job[] = "expire-codes";
	struct chime_run_params p = {
	        .job = job,
	        .plugin = "noop",
	        .timezone = "Asia/Tbilisi",
	        .node = "web-1",
	        .nominal_usec = INT64_C(1700000000000000),
	        .previous_usec = INT64_MIN,
	        .run_id = 42,
	        .attempt = 2,
	        .dry_run = true,
	};
	struct chime_run *run = chime_run_new(&p);

	/* The name must have been copied, not borrowed. */
	memset(job, 'x', sizeof(job) - 1);
	return run;
}

static void
test_params(void **state)
{
	struct chime_run *run = new_run();
	struct chime_run_params empty = {0};
	struct chime_run *r2;

	assert_non_null(run);
	assert_string_equal(chime_run_job(run), "expire-codes");
	assert_string_equal(chime_run_timezone(run), "Asia/Tbilisi");
	assert_string_equal(chime_run_node(run), "web-1");
	assert_int_equal(chime_run_nominal_usec(run), INT64_C(1700000000000000));
	assert_true(chime_run_previous_usec(run) == INT64_MIN);
	assert_int_equal(chime_run_id(run), 42);
	assert_int_equal(chime_run_attempt(run), 2);
	assert_true(chime_run_dry_run(run));
	assert_null(chime_run_db(run));
	assert_null(chime_run_error(run));
	chime_run_free(run);

	/* Defaults: UTC, empty node, attempt 1. */
	r2 = chime_run_new(&empty);
	assert_non_null(r2);
	assert_string_equal(chime_run_timezone(r2), "UTC");
	assert_string_equal(chime_run_node(r2), "");
	assert_int_equal(chime_run_attempt(r2), 1);
	assert_null(chime_run_free(r2));
	assert_null(chime_run_free(NULL));
}

static void
test_cancel_and_fail(void **state)
{
	struct chime_run *run = new_run();

	assert_false(chime_run_cancelled(run));
	chime_run_cancel(run);
	assert_true(chime_run_cancelled(run));
	chime_run_fail(run, "table '%s' missing", "codes");
	assert_string_equal(chime_run_error(run), "table 'codes' missing");
	chime_run_fail(run, "second reason %d", 2);
	assert_string_equal(chime_run_error(run), "second reason 2");
	chime_run_free(run);
}

/* A self-fenced run is cancelled with a short grace: the shortest one
 * asked for wins, and a later plain cancel does not lift it. */
static void
test_cancel_grace(void **state)
{
	struct chime_run *run = new_run();

	assert_true(chime_run_cancel_grace_usec(run) == INT64_MAX);
	chime_run_cancel_within(run, 500000);
	assert_true(chime_run_cancelled(run));
	assert_int_equal(chime_run_cancel_grace_usec(run), 500000);
	chime_run_cancel_within(run, 900000);
	chime_run_cancel(run);
	assert_int_equal(chime_run_cancel_grace_usec(run), 500000);
	chime_run_cancel_within(run, 250000);
	assert_int_equal(chime_run_cancel_grace_usec(run), 250000);
	chime_run_free(run);
}

static void
test_report_json(void **state)
{
	struct chime_run *run = new_run();
	char *json;

	json = chime_run_report_json(run);
	assert_string_equal(json, "{\"counts\":{},\"values\":{},\"items\":[],\"items_dropped\":0}");
	free(json);

	chime_run_count(run, "expired", 3);
	chime_run_count(run, "batches", 1);
	chime_run_count(run, "expired", 4);
	chime_run_value(run, "total", "12.50");
	chime_run_value(run, "total", "13.75");
	chime_run_item(run, "%s (Agent: %s)", "JOHNS-20", "John \"J\" Smith");
	chime_run_item(run, "bad \xff byte");
	assert_int_equal(chime_run_report_count(run, "expired"), 7);
	assert_int_equal(chime_run_report_count(run, "batches"), 1);
	assert_int_equal(chime_run_report_count(run, "absent"), 0);
	json = chime_run_report_json(run);
	assert_string_equal(json, "{\"counts\":{\"expired\":7,\"batches\":1},"
	                          "\"values\":{\"total\":\"13.75\"},"
	                          "\"items\":[\"JOHNS-20 (Agent: John \\\"J\\\" Smith)\","
	                          "\"bad ? byte\"],\"items_dropped\":0}");
	free(json);
	chime_run_free(run);
}

static void
test_items_capped(void **state)
{
	struct chime_run *run = new_run();
	char *json, *tail;

	for (int i = 0; i < 1005; i++)
		chime_run_item(run, "item %d", i);
	json = chime_run_report_json(run);
	assert_non_null(strstr(json, "\"item 999\""));
	assert_null(strstr(json, "\"item 1000\""));
	tail = strstr(json, "\"items_dropped\":");
	assert_non_null(tail);
	assert_string_equal(tail, "\"items_dropped\":5}");
	free(json);
	chime_run_free(run);
}

static void
test_report_print(void **state)
{
	struct chime_run *run = new_run();
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	chime_run_count(run, "expired", 2);
	chime_run_value(run, "total", "1.00");
	chime_run_item(run, "A-1");
	chime_run_report_print(run, f);
	fclose(f);
	assert_string_equal(buf, "expired: 2\ntotal: 1.00\n  A-1\n");
	free(buf);
	chime_run_free(run);
}

static void *
counter_thread(void *userdata)
{
	struct chime_run *run = userdata;

	for (int i = 0; i < 10000; i++) {
		chime_run_count(run, "n", 1);
		if (i % 100 == 0)
			chime_run_item(run, "x");
	}
	return NULL;
}

static void
test_threads(void **state)
{
	struct chime_run *run = new_run();
	pthread_t t[4];
	char *json;

	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, counter_thread, run), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(chime_run_report_count(run, "n"), 40000);
	json = chime_run_report_json(run);
	assert_non_null(strstr(json, "\"items_dropped\":0}"));
	free(json);
	chime_run_free(run);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_params),       cmocka_unit_test(test_cancel_and_fail),
	        cmocka_unit_test(test_cancel_grace), cmocka_unit_test(test_report_json),
	        cmocka_unit_test(test_items_capped), cmocka_unit_test(test_report_print),
	        cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
