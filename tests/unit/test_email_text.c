/* SPDX-License-Identifier: MIT */
/*
 * The text conversions of email_sync without a server: IMAP mailbox names
 * in modified UTF-7 (RFC 3501 section 5.1.3, the RFC's own examples and a
 * Cyrillic folder), and header values as people read them (RFC 2047
 * encoded-words B and Q in UTF-8, ISO-8859-1, Windows-1252 and KOI8-R,
 * words split mid-character, words iconv cannot read left alone, raw
 * Latin-1 headers read as Latin-1).
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

#include "email_sync/email_sync.h"
#include "imap.h"

static void
test_mutf7(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	        {"INBOX", "INBOX"},
	        {"Sent Items", "Sent Items"},
	        {"R&D", "R&-D"},
	        {"&", "&-"},
	        /* RFC 3501 5.1.3: "~peter/mail/台北/日本語". */
	        {"~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
	         "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
	        /* "Входящие" (Inbox in Russian), as Dovecot lists it. */
	        {"\xd0\x92\xd1\x85\xd0\xbe\xd0\xb4\xd1\x8f\xd1\x89\xd0\xb8\xd0\xb5",
	         "&BBIERQQ+BDQETwRJBDgENQ-"},
	        {"Caf\xc3\xa9", "Caf&AOk-"},
	        /* Outside the BMP: a surrogate pair. "😀" is U+1F600. */
	        {"\xf0\x9f\x98\x80", "&2D3eAA-"},
	        {"a\x01" "b", "a&AAE-b"},
	        {"", ""},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = NULL;

		assert_int_equal(chime__imap_mutf7_encode(cases[i].in, &out), 0);
		if (strcmp(out, cases[i].want) != 0)
			fail_msg("mutf7('%s') = '%s', want '%s'", cases[i].in, out, cases[i].want);
		free(out);
	}
}

static void
test_mutf7_refused(void **state)
{
	static const char *const bad[] = {
	        "Caf\xe9",        /* Latin-1, not UTF-8 */
	        "\xc0\xaf",       /* overlong "/" */
	        "\xed\xa0\x80",   /* a surrogate */
	        "\xd0",           /* cut short */
	        "\xf4\x90\x80\x80", /* above U+10FFFF */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char untouched[] = "untouched", *out = untouched;

		assert_int_equal(chime__imap_mutf7_encode(bad[i], &out), -EILSEQ);
		assert_ptr_equal(out, untouched);
	}
}

static void
test_rfc2047(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	        {"plain subject", "plain subject"},
	        {"=?UTF-8?B?0J/RgNC40LLQtdGC?=", "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82"},
	        {"=?utf-8?q?Caf=C3=A9_au_lait?=", "Caf\xc3\xa9 au lait"},
	        {"=?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>",
	         "Andr\xc3\xa9 Pirard <PIRARD@vm1.ulg.ac.be>"},
	        {"=?iso-8859-1?b?Q2Fm6Q==?=", "Caf\xc3\xa9"},
	        {"=?latin1?Q?na=EFve?=", "na\xc3\xafve"},
	        /* Windows-1252: 0x80 is the euro sign, 0x93/0x94 curly quotes. */
	        {"=?windows-1252?Q?=8010_=93off=94?=", "\xe2\x82\xac" "10 \xe2\x80\x9coff\xe2\x80\x9d"},
	        /* KOI8-R "Привет". */
	        {"=?KOI8-R?B?8NLJ18XU?=", "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82"},
	        /* RFC 2047 section 8: blanks between words go, others stay. */
	        {"=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=", "ab"},
	        {"=?ISO-8859-1?Q?a?=  \t =?ISO-8859-1?Q?b?=", "ab"},
	        {"=?ISO-8859-1?Q?a?= b", "a b"},
	        {"a =?ISO-8859-1?Q?b?=", "a b"},
	        {"=?ISO-8859-1?Q?a_b?=", "a b"},
	        /* "Привет" split inside the second character across two words. */
	        {"=?UTF-8?B?0J/R?= =?UTF-8?B?gNC40LLQtdGC?=",
	         "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82"},
	        /* Two charsets side by side. */
	        {"=?KOI8-R?B?8NLJ18XU?= =?ISO-8859-1?Q?Andr=E9?=",
	         "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82" "Andr\xc3\xa9"},
	        /* RFC 2231 language suffix. */
	        {"=?US-ASCII*EN?Q?Keith_Moore?=", "Keith Moore"},
	        /* Not decodable: left as written. */
	        {"=?x-unknown-charset?Q?abc?=", "=?x-unknown-charset?Q?abc?="},
	        {"=?UTF-8?B?!!!?=", "=?UTF-8?B?!!!?="},
	        {"=?UTF-8?Q?bad=ZZ?=", "=?UTF-8?Q?bad=ZZ?="},
	        {"=?UTF-8?B?/w==?=", "=?UTF-8?B?/w==?="}, /* 0xff is not UTF-8 */
	        {"=?UTF-8?X?abc?=", "=?UTF-8?X?abc?="},
	        {"=?UTF-8?Q?unterminated", "=?UTF-8?Q?unterminated"},
	        {"1 + 1 =? 2 ?= 3", "1 + 1 =? 2 ?= 3"},
	        /* A NUL byte in a word cannot go into a text column. */
	        {"=?UTF-8?Q?a=00b?=", "ab"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = chime__email_decode_words(cases[i].in);

		assert_non_null(out);
		if (strcmp(out, cases[i].want) != 0)
			fail_msg("decode('%s') = '%s', want '%s'", cases[i].in, out, cases[i].want);
		assert_true(chime__email_valid_utf8((const unsigned char *)out, strlen(out)));
		free(out);
	}
}

static void
test_headers(void **state)
{
	static const char raw[] = "Message-ID: <=?utf-8?q?x?=@a.example>\r\n"
	                          "From: =?ISO-8859-1?Q?Andr=E9?= <a@a.example>\r\n"
	                          "Subject: Caf\xe9 cr\xe8me,\r\n"
	                          " =?KOI8-R?B?8NLJ18XU?=\r\n"
	                          "To: plain@a.example\r\n"
	                          "\r\n"
	                          "Subject: not a header, the body\r\n";
	char *v;

	(void)state;
	/* Raw 8-bit Latin-1 is read as Latin-1; the encoded-word decoded. */
	v = chime__email_header_text(raw, sizeof(raw) - 1, "subject");
	assert_non_null(v);
	assert_string_equal(v, "Caf\xc3\xa9 cr\xc3\xa8me, \xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5"
	                       "\xd1\x82");
	free(v);
	v = chime__email_header_text(raw, sizeof(raw) - 1, "From");
	assert_string_equal(v, "Andr\xc3\xa9 <a@a.example>");
	free(v);
	/* Message-ID is an identifier: never decoded. */
	v = chime__email_header(raw, sizeof(raw) - 1, "Message-ID");
	assert_string_equal(v, "<=?utf-8?q?x?=@a.example>");
	free(v);
	v = chime__email_header_text(raw, sizeof(raw) - 1, "To");
	assert_string_equal(v, "plain@a.example");
	free(v);
	assert_null(chime__email_header_text(raw, sizeof(raw) - 1, "Cc"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_mutf7),
	        cmocka_unit_test(test_mutf7_refused),
	        cmocka_unit_test(test_rfc2047),
	        cmocka_unit_test(test_headers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
