/* SPDX-License-Identifier: MIT */
/*
 * The YAML node tree: positions and key paths, the typed accessors that
 * plugins use on their options, the limits on hostile input (size, depth,
 * alias expansion) and the diagnostic format.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "diag.h"
#include "node.h"

struct fixture {
	struct chime_diag_list diags;
	struct chime_node *root;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	chime_diag_list_init(&f->diags);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	chime_node_free(f->root);
	chime_diag_list_done(&f->diags);
	free(f);
	return 0;
}

static int
parse(struct fixture *f, const char *text, const struct chime_node_limits *limits)
{
	f->root = chime_node_free(f->root);
	return chime_node_parse_string("t.yaml", text, strlen(text), limits, &f->diags, &f->root);
}

/* The diagnostics as printed, one per line. */
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
assert_diags(struct fixture *f, const char *want)
{
	char *got = diags_text(&f->diags);

	assert_string_equal(got, want);
	free(got);
	chime_diag_list_done(&f->diags);
	chime_diag_list_init(&f->diags);
}

static void
test_tree(void **state)
{
	struct fixture *f = *state;
	const struct chime_node *jobs, *x, *cmd, *s;

	assert_int_equal(parse(f,
	                       "jobs:\n"
	                       "  x:\n"
	                       "    options:\n"
	                       "      table: codes\n"
	                       "      command: [a, 'b c', \"d\"]\n"
	                       "      empty:\n"
	                       "      tilde: ~\n",
	                       NULL),
	                 0);
	assert_int_equal(chime_node_kind(f->root), CHIME_NODE_MAPPING);
	assert_string_equal(f->root->path, "");
	assert_int_equal(f->root->line, 1);
	assert_int_equal(f->root->column, 1);
	jobs = chime_node_get(f->root, "jobs");
	assert_string_equal(jobs->path, "jobs");
	x = chime_node_get(jobs, "x");
	assert_int_equal(chime_node_count(x), 1);
	assert_string_equal(chime_node_key_at(x, 0), "options");
	assert_null(chime_node_key_at(x, 1));
	s = chime_node_get(chime_node_at(x, 0), "table");
	assert_string_equal(chime_node_scalar(s), "codes");
	assert_string_equal(s->path, "jobs.x.options.table");
	assert_int_equal(s->line, 4);
	assert_int_equal(s->column, 14);
	assert_int_equal(s->value_column, 14);
	assert_false(s->quoted);
	/* Key positions are kept for "unknown key" diagnostics. */
	assert_int_equal(chime_node_key_node_at(chime_node_at(x, 0), 0)->line, 4);
	assert_int_equal(chime_node_key_node_at(chime_node_at(x, 0), 0)->column, 7);

	cmd = chime_node_get(chime_node_at(x, 0), "command");
	assert_int_equal(chime_node_kind(cmd), CHIME_NODE_SEQUENCE);
	assert_int_equal(chime_node_count(cmd), 3);
	assert_null(chime_node_key_at(cmd, 0));
	assert_string_equal(chime_node_scalar(chime_node_at(cmd, 1)), "b c");
	assert_true(chime_node_at(cmd, 1)->quoted);
	assert_int_equal(chime_node_at(cmd, 1)->column, 20);
	assert_int_equal(chime_node_at(cmd, 1)->value_column, 21);
	assert_string_equal(chime_node_at(cmd, 2)->path, "jobs.x.options.command[2]");
	assert_null(chime_node_at(cmd, 3));
	assert_null(chime_node_scalar(cmd));
	assert_null(chime_node_get(cmd, "a"));

	assert_true(chime_node_is_null(chime_node_get(chime_node_at(x, 0), "empty")));
	assert_true(chime_node_is_null(chime_node_get(chime_node_at(x, 0), "tilde")));
	assert_false(chime_node_is_null(s));
	assert_int_equal(f->diags.count, 0);
}

static void
test_empty_documents(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, "", NULL), 0);
	assert_int_equal(chime_node_kind(f->root), CHIME_NODE_MAPPING);
	assert_int_equal(chime_node_count(f->root), 0);
	assert_int_equal(parse(f, "# only a comment\n", NULL), 0);
	assert_int_equal(chime_node_count(f->root), 0);
	assert_int_equal(parse(f, "---\n", NULL), 0);
	assert_int_equal(chime_node_kind(f->root), CHIME_NODE_MAPPING);
	/* A document that is a string is not a mapping; the caller says so. */
	assert_int_equal(parse(f, "hello\n", NULL), 0);
	assert_int_equal(chime_node_kind(f->root), CHIME_NODE_SCALAR);
}

static void
test_getters(void **state)
{
	struct fixture *f = *state;
	const char *str = NULL;
	int64_t i = 0, usec = 0;
	bool b = false;

	assert_int_equal(parse(f,
	                       "name: codes\n"
	                       "qname: '42'\n"
	                       "n: -17\n"
	                       "big: 99999999999999999999\n"
	                       "yes: on\n"
	                       "no: False\n"
	                       "span: 1h 30min\n"
	                       "zero: 0\n"
	                       "ident: app.referral_codes\n"
	                       "nul: ~\n"
	                       "list: [1]\n",
	                       NULL),
	                 0);
	/* Absent and null keys give the default. */
	assert_int_equal(chime_node_get_string(f->root, "absent", "dflt", &f->diags, &str), 0);
	assert_string_equal(str, "dflt");
	assert_int_equal(chime_node_get_string(f->root, "nul", "dflt", &f->diags, &str), 0);
	assert_string_equal(str, "dflt");
	assert_int_equal(chime_node_get_string(NULL, "name", "none", &f->diags, &str), 0);
	assert_string_equal(str, "none");
	assert_int_equal(chime_node_get_string(f->root, "name", NULL, &f->diags, &str), 0);
	assert_string_equal(str, "codes");
	assert_int_equal(chime_node_get_string(f->root, "qname", NULL, &f->diags, &str), 0);
	assert_string_equal(str, "42");

	assert_int_equal(chime_node_get_int(f->root, "n", -100, 100, 5, &f->diags, &i), 0);
	assert_int_equal(i, -17);
	assert_int_equal(chime_node_get_int(f->root, "absent", 0, 100, 5, &f->diags, &i), 0);
	assert_int_equal(i, 5);
	assert_int_equal(chime_node_get_bool(f->root, "yes", false, &f->diags, &b), 0);
	assert_true(b);
	assert_int_equal(chime_node_get_bool(f->root, "no", true, &f->diags, &b), 0);
	assert_false(b);
	assert_int_equal(chime_node_get_duration(f->root, "span", 0, &f->diags, &usec), 0);
	assert_int_equal(usec, INT64_C(5400000000));
	assert_int_equal(chime_node_get_duration(f->root, "zero", 7, &f->diags, &usec), 0);
	assert_int_equal(usec, 0);
	assert_int_equal(chime_node_get_duration(f->root, "absent", 7, &f->diags, &usec), 0);
	assert_int_equal(usec, 7);
	assert_int_equal(chime_node_get_identifier(f->root, "ident", NULL, &f->diags, &str), 0);
	assert_string_equal(str, "app.referral_codes");
	assert_int_equal(f->diags.count, 0);

	/* Malformed values: a diagnostic at the value, out-params untouched. */
	i = 1234;
	assert_int_equal(chime_node_get_int(f->root, "n", 0, 100, 5, &f->diags, &i), -EINVAL);
	assert_int_equal(chime_node_get_int(f->root, "qname", 0, 100, 5, &f->diags, &i), -EINVAL);
	assert_int_equal(chime_node_get_int(f->root, "big", INT64_MIN, INT64_MAX, 5, &f->diags, &i),
	                 -EINVAL);
	assert_int_equal(chime_node_get_int(f->root, "name", 0, 100, 5, &f->diags, &i), -EINVAL);
	assert_int_equal(i, 1234);
	assert_int_equal(chime_node_get_bool(f->root, "name", false, &f->diags, &b), -EINVAL);
	assert_int_equal(chime_node_get_duration(f->root, "n", 0, &f->diags, &usec), -EINVAL);
	assert_int_equal(chime_node_get_duration(f->root, "name", 0, &f->diags, &usec), -EINVAL);
	assert_int_equal(chime_node_get_string(f->root, "list", NULL, &f->diags, &str), -EINVAL);
	assert_int_equal(chime_node_get_identifier(f->root, "span", NULL, &f->diags, &str),
	                 -EINVAL);
	assert_int_equal(usec, 7);
	assert_diags(f, "t.yaml:3:4: error: n: -17 is out of range 0..100\n"
	                "t.yaml:2:8: error: qname: expected an integer, got '42'\n"
	                "t.yaml:4:6: error: big: 99999999999999999999 is out of range "
	                "-9223372036854775808..9223372036854775807\n"
	                "t.yaml:1:7: error: name: expected an integer, got 'codes'\n"
	                "t.yaml:1:7: error: name: expected true or false, got 'codes'\n"
	                "t.yaml:3:4: error: n: negative duration '-17'\n"
	                "t.yaml:1:7: error: name: invalid duration 'codes' (expected a time span "
	                "like 30s, 5min, 2h, 1d)\n"
	                "t.yaml:11:7: error: list: expected a string, got a list\n"
	                "t.yaml:7:7: error: span: invalid SQL identifier '1h 30min' (expected "
	                "[A-Za-z_][A-Za-z0-9_$]*, at most 63 bytes, optionally schema.name)\n");
}

static void
test_identifiers(void **state)
{
	static const struct {
		const char *text;
		bool ok;
	} cases[] = {
	        {"users", true},
	        {"_x$1", true},
	        {"public.users", true},
	        {"Users", true},
	        {"1users", false},
	        {"a.b.c", false},
	        {".users", false},
	        {"users.", false},
	        {"user name", false},
	        {"drop;table", false},
	        {"a23456789012345678901234567890123456789012345678901234567890123", true},
	        {"a234567890123456789012345678901234567890123456789012345678901234", false},
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[128];
		const char *out = NULL;
		int r;

		snprintf(text, sizeof(text), "t: '%s'\n", cases[i].text);
		assert_int_equal(parse(f, text, NULL), 0);
		r = chime_node_get_identifier(f->root, "t", NULL, &f->diags, &out);
		if ((r == 0) != cases[i].ok)
			print_error("identifier '%s': got %d\n", cases[i].text, r);
		assert_int_equal(r == 0, cases[i].ok);
	}
}

static void
test_check_keys(void **state)
{
	static const char *const known[] = {"table", "batch_size", "key", NULL};
	struct fixture *f = *state;

	assert_int_equal(parse(f, "table: t\nbatch-size: 5\nkey: k\nzzz: 1\n", NULL), 0);
	assert_int_equal(chime_node_check_keys(f->root, known, &f->diags), -EINVAL);
	assert_diags(f, "t.yaml:2:1: error: batch-size: unknown key 'batch-size' (did you mean "
	                "'batch_size'?)\n"
	                "t.yaml:4:1: error: zzz: unknown key 'zzz'\n");
	assert_int_equal(parse(f, "table: t\n", NULL), 0);
	assert_int_equal(chime_node_check_keys(f->root, known, &f->diags), 0);
	assert_int_equal(chime_node_check_keys(NULL, known, &f->diags), 0);
	assert_int_equal(f->diags.count, 0);
}

static void
test_node_error_warning(void **state)
{
	struct fixture *f = *state;
	const struct chime_node *v;

	assert_int_equal(parse(f, "a:\n  b: x\n", NULL), 0);
	v = chime_node_get(chime_node_get(f->root, "a"), "b");
	assert_int_equal(chime_node_error(&f->diags, v, "bad %s", "thing"), -EINVAL);
	assert_int_equal(chime_node_warning(&f->diags, v, "odd %d", 7), 0);
	assert_int_equal(chime_node_error(&f->diags, f->root, "root"), -EINVAL);
	assert_int_equal(chime_node_error(&f->diags, NULL, "nowhere"), -EINVAL);
	assert_int_equal(f->diags.errors, 3);
	assert_int_equal(f->diags.warnings, 1);
	assert_diags(f, "t.yaml:2:6: error: a.b: bad thing\n"
	                "t.yaml:2:6: warning: a.b: odd 7\n"
	                "t.yaml:1:1: error: root\n"
	                "error: nowhere\n");
}

static void
test_structure_errors(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, "a: 1\nb: 2\na: 3\n", NULL), -EINVAL);
	assert_null(f->root);
	assert_diags(f, "t.yaml:3:1: error: a: duplicate key 'a' (first defined at line 1, "
	                "column 1)\n");
	/* Big mappings are checked through a hash index: same result. */
	{
		char text[512];
		size_t len = 0;

		for (int i = 0; i < 30; i++)
			len += (size_t)snprintf(text + len, sizeof(text) - len, "k%d: %d\n", i, i);
		snprintf(text + len, sizeof(text) - len, "k3: x\nk29: y\nk3: z\n");
		assert_int_equal(parse(f, text, NULL), -EINVAL);
		assert_diags(
		        f,
		        "t.yaml:31:1: error: k3: duplicate key 'k3' (first defined at line 4, "
		        "column 1)\n"
		        "t.yaml:32:1: error: k29: duplicate key 'k29' (first defined at line 30, "
		        "column 1)\n"
		        "t.yaml:33:1: error: k3: duplicate key 'k3' (first defined at line 4, "
		        "column 1)\n");
	}
	assert_int_equal(parse(f, "? [a, b]\n: 1\n", NULL), -EINVAL);
	assert_diags(f, "t.yaml:1:3: error: mapping keys must be scalars\n");
	assert_int_equal(parse(f, "a: *nope\n", NULL), -EINVAL);
	assert_diags(f, "t.yaml:1:4: error: unknown alias 'nope'\n");
	assert_int_equal(parse(f, "a: &x [1, *x]\n", NULL), -EINVAL);
	assert_diags(f, "t.yaml:1:11: error: alias 'x' refers to a node that contains it\n");
	assert_int_equal(parse(f, "a: \"x\\0y\"\n", NULL), -EINVAL);
	assert_diags(f, "t.yaml:1:4: error: NUL character in a scalar\n");
	assert_int_equal(parse(f, "a: 1\n---\nb: 2\n", NULL), -EINVAL);
	assert_diags(f, "t.yaml:2:1: error: only one YAML document is allowed\n");
	assert_int_equal(
	        chime_node_parse_string("t.yaml", "a: \xc3\n", 5, NULL, &f->diags, &f->root),
	        -EINVAL);
	assert_diags(
	        f, "t.yaml:1:5: error: invalid UTF-8: invalid trailing UTF-8 octet (byte 0x0a)\n");
}

static void
test_aliases(void **state)
{
	struct fixture *f = *state;
	const struct chime_node *b;

	assert_int_equal(parse(f, "a: &x {p: 1, q: [2, 3]}\nb: *x\n", NULL), 0);
	b = chime_node_get(f->root, "b");
	assert_int_equal(chime_node_kind(b), CHIME_NODE_MAPPING);
	assert_string_equal(b->path, "b");
	assert_int_equal(b->line, 2);
	assert_int_equal(b->column, 4);
	assert_string_equal(chime_node_get(b, "q")->path, "b.q");
	assert_string_equal(chime_node_at(chime_node_get(b, "q"), 1)->path, "b.q[1]");
	assert_string_equal(chime_node_scalar(chime_node_at(chime_node_get(b, "q"), 1)), "3");
	/* root + 2 keys + a's map, 2 keys, 1, the list and 2 items = 9; b's copy 7 more. */
	assert_int_equal(f->root->n_nodes, 1 + 2 + 7 + 7);
}

/* The keys of mapping `n` joined with ",", "k=v" for scalar values. */
static void
assert_pairs(const struct chime_node *n, const char *want)
{
	char got[512] = "";
	size_t len = 0;

	assert_int_equal(chime_node_kind(n), CHIME_NODE_MAPPING);
	for (size_t i = 0; i < n->count; i++)
		len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%s%s%s", i > 0 ? "," : "",
		                        n->keys[i], n->items[i]->scalar != NULL ? "=" : "",
		                        n->items[i]->scalar != NULL ? n->items[i]->scalar : "");
	assert_string_equal(got, want);
}

static void
test_merge_keys(void **state)
{
	struct fixture *f = *state;
	const struct chime_node *n, *o;

	/* One alias: the merged pairs stand where << was; explicit keys win,
	 * wherever they are written. */
	assert_int_equal(parse(f,
	                       "base: &b {x: 1, y: 2, opts: {t: a}}\n"
	                       "job:\n  w: 0\n  <<: *b\n  y: 3\n",
	                       NULL),
	                 0);
	n = chime_node_get(f->root, "job");
	assert_pairs(n, "w=0,x=1,opts,y=3");
	/* Paths are the new place's; positions the anchor's text, and where the
	 * merge happened. */
	o = chime_node_get(chime_node_get(n, "opts"), "t");
	assert_string_equal(o->path, "job.opts.t");
	assert_int_equal(o->line, 1);
	assert_int_equal(o->merge_line, 4);
	assert_int_equal(o->merge_column, 3);
	assert_string_equal(chime_node_key_node_at(n, 1)->path, "job.x");
	assert_int_equal(chime_node_get(n, "w")->merge_line, 0);
	assert_int_equal(chime_node_get(n, "y")->merge_line, 0);
	/* The anchor itself is untouched. */
	assert_pairs(chime_node_get(f->root, "base"), "x=1,y=2,opts");
	assert_string_equal(chime_node_get(chime_node_get(f->root, "base"), "x")->path, "base.x");

	/* A list: the earlier mapping wins; inline mappings work; nested. */
	assert_int_equal(parse(f,
	                       "a: &a {k: a, only_a: 1}\n"
	                       "b: &b {k: b, only_b: 2}\n"
	                       "c: {<<: [*a, *b, {k: inline, z: 9}], n: {<<: *a, k: mine}}\n",
	                       NULL),
	                 0);
	n = chime_node_get(f->root, "c");
	assert_pairs(n, "k=a,only_a=1,only_b=2,z=9,n");
	assert_pairs(chime_node_get(n, "n"), "only_a=1,k=mine");
	assert_string_equal(chime_node_get(chime_node_get(n, "n"), "only_a")->path, "c.n.only_a");
	/* Node counts follow the resolved tree. */
	assert_int_equal(n->n_nodes, 1 + 2 * 5 + 2 * 2);
	/* An aliased mapping that merged is copied resolved. */
	assert_int_equal(parse(f, "a: &a {x: 1}\nb: &b {<<: *a, y: 2}\nc: *b\n", NULL), 0);
	assert_pairs(chime_node_get(f->root, "c"), "x=1,y=2");
	/* A quoted "<<" is an ordinary key. */
	assert_int_equal(parse(f, "a: &a {x: 1}\nb: {\"<<\": *a}\n", NULL), 0);
	assert_pairs(chime_node_get(f->root, "b"), "<<");
	/* An empty list merges nothing. */
	assert_int_equal(parse(f, "b: {<<: [], y: 2}\n", NULL), 0);
	assert_pairs(chime_node_get(f->root, "b"), "y=2");
}

static void
test_merge_key_errors(void **state)
{
	struct fixture *f = *state;
	struct chime_node_limits small = {.max_nodes = 18};

	assert_int_equal(parse(f, "a: {<<: 5}\n", NULL), -EINVAL);
	assert_diags(f, "t.yaml:1:9: error: a.<<: a merge key (<<) takes a mapping, an alias of "
	                "one or a list of them, got a scalar\n");
	assert_int_equal(parse(f, "x: &x {k: 1}\na: {<<: [*x, [1], 2]}\n", NULL), -EINVAL);
	assert_diags(f, "t.yaml:2:14: error: a.<<[1]: a merge key (<<) takes a mapping, an alias "
	                "of one or a list of them, got a list\n"
	                "t.yaml:2:19: error: a.<<[2]: a merge key (<<) takes a mapping, an alias "
	                "of one or a list of them, got a scalar\n");
	/* Two merge keys in one mapping are a duplicate key, as in YAML. */
	assert_int_equal(parse(f, "x: &x {k: 1}\na: {<<: *x, <<: *x}\n", NULL), -EINVAL);
	assert_diags(f, "t.yaml:2:13: error: a.<<: duplicate key '<<' (first defined at line 2, "
	                "column 5)\n");
	/* Merging counts against the node limit like any alias. */
	assert_int_equal(parse(f, "x: &x {a: 1, b: 2}\ny: {<<: [*x, *x]}\n", &small), -EINVAL);
	assert_diags(f, "t.yaml:2:14: error: document too large: more than 18 nodes after alias "
	                "expansion\n");
	/* An anchor on a merge value would be emptied by the merge: refused.
	 * An anchor inside an overridden pair stays usable. */
	assert_int_equal(parse(f, "a: {<<: &y {t: 1}}\nb: {<<: *y}\n", NULL), -EINVAL);
	assert_diags(f, "t.yaml:1:9: error: a.<<: an anchor on the value of a merge key (<<) is "
	                "not supported: anchor the mapping where it is first written and merge "
	                "it with an alias\n");
	assert_int_equal(parse(f, "a: {<<: [&y {t: 1}]}\n", NULL), -EINVAL);
	assert_diags(f, "t.yaml:1:10: error: a.<<[0]: an anchor on the value of a merge key (<<) "
	                "is not supported: anchor the mapping where it is first written and merge "
	                "it with an alias\n");
	assert_int_equal(parse(f, "a: {<<: {t: &z [1, 2], u: &w 3}, t: 0}\nb: *z\nc: *w\n", NULL),
	                 0);
	assert_int_equal(chime_node_get(f->root, "b")->count, 2);
	assert_string_equal(chime_node_scalar(chime_node_get(f->root, "c")), "3");
	assert_pairs(chime_node_get(f->root, "a"), "u=3,t=0");
	/* A diagnostic on a merged node says where it was merged. */
	assert_int_equal(parse(f, "x: &x {a: 1}\ny:\n  <<: *x\n", NULL), 0);
	chime_node_error(&f->diags, chime_node_get(chime_node_get(f->root, "y"), "a"), "bad");
	assert_diags(f, "t.yaml:1:11: error: y.a: bad (merged at line 3, column 3)\n");
}

static void
test_anchor_redefined(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, "a: &x 1\nb: &x 2\nc: *x\nd: &y [&y 3, *y]\ne: *y\n", NULL), 0);
	assert_string_equal(chime_node_scalar(chime_node_get(f->root, "c")), "2");
	/* Inside d, *y is the inner 3; after d closes, y is still the inner one. */
	assert_string_equal(chime_node_scalar(chime_node_at(chime_node_get(f->root, "d"), 1)), "3");
	assert_string_equal(chime_node_scalar(chime_node_get(f->root, "e")), "3");
}

static void
test_limits(void **state)
{
	struct chime_node_limits small = {.max_depth = 3, .max_nodes = 10, .max_file_size = 64};
	struct chime_node_limits shallow = {.max_depth = 3};
	struct fixture *f = *state;
	char text[200];

	assert_int_equal(parse(f, "a: {b: {c: 1}}\n", &small), 0);
	assert_int_equal(parse(f, "a: {b: {c: [1]}}\n", &small), -EINVAL);
	assert_diags(f, "t.yaml:1:12: error: nesting deeper than 3 levels\n");
	/* An alias may not bring a deep subtree deeper than the limit. */
	assert_int_equal(parse(f, "a: &x {b: {c: 1}}\nd: [*x]\n", &shallow), -EINVAL);
	assert_diags(f, "t.yaml:2:5: error: nesting deeper than 3 levels\n");
	assert_int_equal(parse(f, "a: [1, 2, 3, 4, 5, 6, 7, 8]\n", &small), -EINVAL);
	assert_diags(f, "t.yaml:1:26: error: document too large: more than 10 nodes after alias "
	                "expansion\n");
	memset(text, '#', sizeof(text));
	text[sizeof(text) - 1] = '\0';
	assert_int_equal(parse(f, text, &small), -EFBIG);
	assert_diags(f, "t.yaml: error: file too large: 199 bytes, the limit is 64\n");
}

/* 10 levels of 10 aliases each would be 10^10 nodes: refused after the
 * first copy that would pass the limit, fast and in bounded memory. */
static void
test_billion_laughs(void **state)
{
	struct fixture *f = *state;
	char text[2048], *p = text;
	struct timespec t0, t1;
	double ms;

	p += sprintf(p, "l0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
	for (int i = 1; i < 10; i++) {
		p += sprintf(p, "l%d: &a%d [", i, i);
		for (int j = 0; j < 10; j++)
			p += sprintf(p, "%s*a%d", j > 0 ? ", " : "", i - 1);
		p += sprintf(p, "]\n");
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(parse(f, text, NULL), -EINVAL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	assert_true(ms < 2000);
	assert_diags(f, "t.yaml:6:10: error: document too large: more than 200000 nodes after "
	                "alias expansion\n");
}

static void
test_load_file_errors(void **state)
{
	struct fixture *f = *state;
	char dir[] = "/tmp/chime-node-XXXXXX", path[64], big[80];
	struct chime_node_limits small = {.max_file_size = 8};
	FILE *fp;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(chime_node_load_file(dir, NULL, &f->diags, &f->root), -EISDIR);
	snprintf(path, sizeof(path), "%s/none.yaml", dir);
	assert_int_equal(chime_node_load_file(path, NULL, &f->diags, &f->root), -ENOENT);
	snprintf(big, sizeof(big), "%s/big.yaml", dir);
	fp = fopen(big, "we");
	assert_non_null(fp);
	fputs("a: 123456789\n", fp);
	fclose(fp);
	assert_int_equal(chime_node_load_file(big, &small, &f->diags, &f->root), -EFBIG);
	assert_int_equal(chime_node_load_file(big, NULL, &f->diags, &f->root), 0);
	assert_string_equal(f->root->file, big);
	assert_int_equal(f->diags.errors, 3);
	assert_string_equal(f->diags.items[0].message, "is a directory, not a file");
	assert_string_equal(f->diags.items[1].message,
	                    "cannot open file: No such file or directory");
	assert_string_equal(f->diags.items[2].message, "file too large: 13 bytes, the limit is 8");
	assert_int_equal(f->diags.items[2].line, 0);
	unlink(big);
	rmdir(dir);
}

static void
test_diag_format(void **state)
{
	char file[] = "f.yaml", path[] = "jobs.x.schedule", msg[] = "minute '61' out of range 0-59";
	struct chime_diag d = {.severity = CHIME_DIAG_ERROR,
	                       .file = file,
	                       .line = 14,
	                       .column = 12,
	                       .path = path,
	                       .message = msg};
	struct chime_diag_list list;
	char buf[128];
	char *out;

	assert_int_equal(chime_diag_format(&d, buf, sizeof(buf)), 67);
	assert_string_equal(buf,
	                    "f.yaml:14:12: error: jobs.x.schedule: minute '61' out of range 0-59");
	d.column = 0;
	d.severity = CHIME_DIAG_WARNING;
	chime_diag_format(&d, buf, sizeof(buf));
	assert_string_equal(buf,
	                    "f.yaml:14: warning: jobs.x.schedule: minute '61' out of range 0-59");
	d.line = 0;
	d.path = NULL;
	chime_diag_format(&d, buf, sizeof(buf));
	assert_string_equal(buf, "f.yaml: warning: minute '61' out of range 0-59");
	d.file = NULL;
	chime_diag_format(&d, buf, sizeof(buf));
	assert_string_equal(buf, "warning: minute '61' out of range 0-59");

	/* Past the limit, diagnostics are counted but not stored. */
	chime_diag_list_init(&list);
	list.limit = 2;
	assert_int_equal(chime_diag_add(&list, CHIME_DIAG_ERROR, "a", 1, 1, "", "one"), -EINVAL);
	assert_int_equal(chime_diag_add(&list, CHIME_DIAG_WARNING, NULL, 0, 0, NULL, "two"), 0);
	assert_int_equal(chime_diag_add(&list, CHIME_DIAG_ERROR, "a", 3, 1, "p", "three"), -EINVAL);
	assert_int_equal(list.count, 2);
	assert_int_equal(list.errors, 2);
	assert_int_equal(list.warnings, 1);
	assert_null(list.items[0].path); /* an empty path is no path */
	{
		size_t len = 0;
		FILE *m;

		out = NULL;
		m = open_memstream(&out, &len);
		chime_diag_list_print(&list, m);
		fclose(m);
	}
	assert_string_equal(out, "a:1:1: error: one\nwarning: two\n... and 1 more diagnostic not "
	                         "shown\n");
	free(out);
	chime_diag_list_done(&list);
	chime_diag_list_done(&list); /* done twice is harmless */
}

int
main(void)
{
	static const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_tree, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_empty_documents, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_getters, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_identifiers, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_check_keys, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_node_error_warning, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_structure_errors, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_aliases, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_anchor_redefined, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_merge_keys, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_merge_key_errors, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_billion_laughs, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_load_file_errors, setup, teardown),
	        cmocka_unit_test(test_diag_format),
	};

	return cmocka_run_group_tests_name("node", tests, NULL, NULL);
}
