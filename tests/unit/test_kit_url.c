/* SPDX-License-Identifier: MIT */
/*
 * chime__url_check_secure(): which gateway URLs may carry a bearer token.
 * https:// anywhere; http:// only to this machine, by the host libcurl will
 * connect to, so user info cannot smuggle another host past the check.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "http.h"

static void
test_accepted(void **state)
{
	static const char *const ok[] = {
	        "https://payments.example/v1/charges", "https://payments.example:8443/x",
	        "http://127.0.0.1:8080/charge",        "http://localhost/charge",
	        "http://LOCALHOST:9/x",                "http://[::1]:8080/charge",
	        "https://127.0.0.1/charge",
	};
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (chime__url_check_secure(ok[i], err, sizeof(err)) != 0)
			fail_msg("'%s' refused: %s", ok[i], err);
}

static void
test_refused(void **state)
{
	static const struct {
		const char *url, *why;
	} bad[] = {
	        /* The prefix check this replaces let these through. */
	        {"http://127.0.0.1:443@payments.example.invalid/v1/charges",
	         "the host is 'payments.example.invalid'"},
	        {"http://localhost@evil.example/x", "the host is 'evil.example'"},
	        {"http://localhost.evil.example/x", "the host here is 'localhost.evil.example'"},
	        {"http://127.0.0.1.nip.io/x", "the host here is '127.0.0.1.nip.io'"},
	        {"https://user:secret@payments.example/x", "has user info"},
	        {"http://payments.example/x", "must be an https:// URL"},
	        {"ftp://127.0.0.1/x", "must be an https:// URL"},
	        {"payments.example/x", "is not a URL"},
	        {"", "is not a URL"},
	};
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (chime__url_check_secure(bad[i].url, err, sizeof(err)) != -EINVAL)
			fail_msg("'%s' accepted", bad[i].url);
		if (strstr(err, bad[i].why) == NULL)
			fail_msg("'%s': '%s' does not say '%s'", bad[i].url, err, bad[i].why);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_accepted),
	        cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
