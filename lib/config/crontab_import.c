/* SPDX-License-Identifier: MIT */
/*
 * crontab(5) -> chime.yaml `jobs:` (see chime/crontab_import.h): reads the
 * crontab a line at a time, keeps the environment and CRON_TZ that cron
 * would apply to each following line, and writes one `exec` job per
 * command line. The YAML is built in memory and written whole at the end.
 * Pure: never logs, no globals.
 */
#include "crontab_import.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"
#include "diag.h"
#include "mem.h"

#define IMPORT_NAME_MAX 48 /* room for a "-NN" suffix under the loader's 64 */

struct import_env {
	char *name, *value;
};

struct import {
	const struct chime_crontab_import_options *opts;
	struct chime_diag_list *diags;
	FILE *body; /* the jobs, as YAML */
	char *body_buf;
	size_t body_len;
	FILE *pending; /* comments waiting for the next job */
	char *pending_buf;
	size_t pending_len;
	struct import_env *env;
	size_t n_env;
	char *cron_tz; /* NULL: the config's zone */
	char *shell;   /* SHELL=, NULL for /bin/sh */
	char **names;
	size_t n_names;
	size_t jobs;
	unsigned line;
	bool after_text; /* the previous line was not blank */
	bool oom;
};

/* ---- Small helpers ------------------------------------------------- */

static char *
import_strndup(struct import *im, const char *s, size_t n)
{
	char *d = strndup(s, n);

	if (d == NULL)
		im->oom = true;
	return d;
}

/* Write `s` as a YAML double-quoted scalar. */
static void
yaml_quote(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\x%02x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

/* `text` as the rest of a comment line; control characters become spaces. */
static void
yaml_comment_text(FILE *f, const char *text)
{
	for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++)
		fputc(*p < 0x20 || *p == 0x7f ? ' ' : *p, f);
	fputc('\n', f);
}

/* A comment line at `indent`. */
static void
yaml_comment(FILE *f, int indent, const char *text)
{
	fprintf(f, "%*s#%s", indent, "", text[0] != '\0' ? " " : "");
	yaml_comment_text(f, text);
}

static void
flush_pending(struct import *im)
{
	fflush(im->pending);
	if (im->pending_len == 0)
		return;
	fwrite(im->pending_buf, 1, im->pending_len, im->body);
	rewind(im->pending);
	im->pending_len = 0;
	im->pending_buf[0] = '\0';
}

static bool
is_name_start(char c)
{
	return isalpha((unsigned char)c) || c == '_';
}

static bool
is_name_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* ---- Environment lines --------------------------------------------- */

/* Length of NAME when `s` is "NAME[ \t]*=...", else 0. */
static size_t
env_name_len(const char *s)
{
	size_t n = 0;

	if (!is_name_start(s[0]))
		return 0;
	while (is_name_char(s[n]))
		n++;
	for (size_t i = n; s[i] == ' ' || s[i] == '\t' || s[i] == '='; i++)
		if (s[i] == '=')
			return n;
	return 0;
}

static void
env_set(struct import *im, const char *name, const char *value)
{
	struct import_env *e;
	char *v;

	for (size_t i = 0; i < im->n_env; i++) {
		if (strcmp(im->env[i].name, name) != 0)
			continue;
		v = import_strndup(im, value, strlen(value));
		if (v != NULL) {
			free(im->env[i].value);
			im->env[i].value = v;
		}
		return;
	}
	e = reallocarray(im->env, im->n_env + 1, sizeof(*e));
	if (e == NULL) {
		im->oom = true;
		return;
	}
	im->env = e;
	e[im->n_env].name = import_strndup(im, name, strlen(name));
	e[im->n_env].value = import_strndup(im, value, strlen(value));
	if (e[im->n_env].name == NULL || e[im->n_env].value == NULL) {
		free(e[im->n_env].name);
		free(e[im->n_env].value);
		return;
	}
	im->n_env++;
}

static void
import_env_line(struct import *im, const char *line, size_t name_len)
{
	char name[256], *value;
	const char *v = strchr(line, '=') + 1;
	size_t n;

	if (name_len >= sizeof(name)) {
		chime_diag_add(im->diags, CHIME_DIAG_ERROR, im->opts->file, im->line, 1, NULL,
		               "variable name too long");
		return;
	}
	memcpy(name, line, name_len);
	name[name_len] = '\0';
	v += strspn(v, " \t");
	n = strlen(v);
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
		v++;
		n -= 2;
	}
	value = import_strndup(im, v, n);
	if (value == NULL)
		return;

	if (strcmp(name, "CRON_TZ") == 0) {
		free(im->cron_tz);
		im->cron_tz = value[0] != '\0' ? value : (free(value), NULL);
		return;
	}
	if (strcmp(name, "MAILTO") == 0 || strcmp(name, "MAILFROM") == 0) {
		char note[512];

		snprintf(note, sizeof(note),
		         "%s=%s ignored: chime mails nothing; a job's output goes to the "
		         "journal (journalctl CHIME_JOB=NAME)",
		         name, value);
		yaml_comment(im->pending, 2, note);
		chime_diag_add(im->diags, CHIME_DIAG_WARNING, im->opts->file, im->line, 1, NULL,
		               "%s ignored: chime does not mail output", name);
		free(value);
		return;
	}
	if (strcmp(name, "SHELL") == 0) {
		free(im->shell);
		im->shell = strcmp(value, "/bin/sh") != 0 ? import_strndup(im, value, strlen(value))
		                                          : NULL;
	}
	env_set(im, name, value);
	free(value);
}

/* ---- Commands ------------------------------------------------------ */

/*
 * Undo crontab's `%` rules in place: `\%` is a literal `%`; the first
 * unescaped `%` ends the command and the rest (with later `%` as newlines)
 * was its stdin, returned in *ret_stdin (NULL when there is none).
 */
static void
split_percent(struct import *im, char *cmd, char **ret_stdin)
{
	char *w = cmd, *in = NULL;

	*ret_stdin = NULL;
	for (char *r = cmd; *r != '\0'; r++) {
		if (r[0] == '\\' && r[1] == '%') {
			*w++ = '%';
			r++;
		} else if (r[0] == '%' && in == NULL) {
			*w++ = '\0';
			in = w;
		} else if (r[0] == '%') {
			*w++ = '\n';
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
	if (in != NULL)
		*ret_stdin = import_strndup(im, in, strlen(in));
}

static const char *const shell_builtins[] = {
        "cd",   "export", "source", ".",     "exec", "eval", "set",  "unset", "ulimit", "umask",
        "if",   "for",    "while",  "until", "case", "{",    "!",    "[[",    "alias",  "trap",
        "wait", "read",   "shift",  "local", "test", "[",    "time", NULL,
};

/* True when `cmd` needs /bin/sh: any shell metacharacter, an assignment
 * before the program, or a builtin or keyword as the first word. */
static bool
needs_shell(const char *cmd)
{
	size_t first = strcspn(cmd, " \t");

	if (cmd[strcspn(cmd, "|&;<>()$`\\\"'*?[]{}~#\n")] != '\0')
		return true;
	if (memchr(cmd, '=', first) != NULL)
		return true;
	for (const char *const *b = shell_builtins; *b != NULL; b++)
		if (strlen(*b) == first && strncmp(cmd, *b, first) == 0)
			return true;
	return false;
}

/* ---- Job names ----------------------------------------------------- */

static const char *const interpreters[] = {"python", "php", "node",   "ruby", "perl",  "bash", "sh",
                                           "dash",   "zsh", "nodejs", "pypy", "pypy3", NULL};
static const char *const wrappers[] = {"env",     "nice",    "ionice",  "nohup", "sudo",   "time",
                                       "chronic", "run-one", "timeout", "flock", "setsid", NULL};
static const char *const subcommand_scripts[] = {"manage", "artisan", "console", "django-admin",
                                                 NULL};

static bool
in_list(const char *const *list, const char *s, size_t n)
{
	for (const char *const *p = list; *p != NULL; p++)
		if (strlen(*p) == n && strncmp(*p, s, n) == 0)
			return true;
	return false;
}

/* `word` without directories and one extension ("/x/cron_jobs.py" ->
 * "cron_jobs"), as pointer and length. */
static const char *
word_stem(const char *word, size_t *ret_len)
{
	const char *base = strrchr(word, '/'), *dot;

	base = base != NULL ? base + 1 : word;
	dot = strrchr(base, '.');
	*ret_len = dot != NULL && dot != base ? (size_t)(dot - base) : strlen(base);
	return base;
}

/* An interpreter name, allowing a version suffix ("python3.11"). */
static bool
is_interpreter(const char *base)
{
	size_t n = strcspn(base, "0123456789.");

	return n > 0 && base[n + strspn(base + n, "0123456789.")] == '\0' &&
	       in_list(interpreters, base, n);
}

static bool
is_redirect(const char *w)
{
	return w[strspn(w, "0123456789&")] == '<' || w[strspn(w, "0123456789&")] == '>';
}

/* Does redirection word `w` take the next word as its target? */
static bool
redirect_takes_next(const char *w)
{
	size_t n = strlen(w);

	return n > 0 && (w[n - 1] == '<' || w[n - 1] == '>' || strcmp(w + n - 1, "&") == 0);
}

/*
 * The program and, for interpreters, the script and its subcommand of the
 * first command in `cmd` that is not a builtin, as a name stem:
 * "cd /srv && python manage.py sync_emails >> log 2>&1" -> "sync_emails".
 */
static void
name_stem(const char *cmd, char *out, size_t size)
{
	char *copy = strdup(cmd), *save = NULL, *w;
	char *words[64];
	size_t n = 0;

	out[0] = '\0';
	if (copy == NULL)
		return;
	for (char *p = copy; *p != '\0'; p++)
		if (*p == '"' || *p == '\'' || *p == '(' || *p == ')')
			*p = ' ';
	for (w = strtok_r(copy, " \t", &save); w != NULL && n < 64;
	     w = strtok_r(NULL, " \t", &save))
		words[n++] = w;

	for (size_t i = 0; i < n;) {
		size_t end = i, k;
		const char *prog = NULL, *arg = NULL, *sub = NULL, *stem;
		size_t len;
		bool skip_next = false;

		while (end < n && strcmp(words[end], "&&") != 0 && strcmp(words[end], "||") != 0 &&
		       strcmp(words[end], ";") != 0 && strcmp(words[end], "|") != 0 &&
		       strcmp(words[end], "&") != 0)
			end++;
		for (k = i; k < end; k++) {
			w = words[k];
			if (is_redirect(w)) {
				if (redirect_takes_next(w))
					k++;
				continue;
			}
			if (prog == NULL && env_name_len(w) > 0)
				continue; /* VAR=value before the program */
			if (prog == NULL && w[0] == '-') {
				/* A wrapper's option; sudo's -u/-g take a value. */
				if (strcmp(w, "-u") == 0 || strcmp(w, "-g") == 0)
					skip_next = true;
				continue;
			}
			if (prog == NULL && skip_next) {
				skip_next = false; /* the option's value, flock's lock file */
				continue;
			}
			if (prog == NULL) {
				stem = word_stem(w, &len);
				if (in_list(wrappers, stem, len)) {
					skip_next = len == 5 && strncmp(stem, "flock", 5) == 0;
					continue;
				}
				if (k > i && isdigit((unsigned char)w[0]) &&
				    strspn(w, "0123456789.smhd") == strlen(w))
					continue; /* nice's level, timeout's duration */
				prog = w;
				if (in_list(shell_builtins, w, strlen(w)))
					break;
			} else if (arg == NULL && w[0] != '-') {
				arg = w;
			} else if (sub == NULL && w[0] != '-') {
				sub = w;
				break;
			}
		}
		i = end + 1;
		if (prog == NULL || in_list(shell_builtins, prog, strlen(prog)))
			continue;
		stem = word_stem(prog, &len);
		if (is_interpreter(strrchr(prog, '/') != NULL ? strrchr(prog, '/') + 1 : prog) &&
		    arg != NULL) {
			stem = word_stem(arg, &len);
			if (sub != NULL && in_list(subcommand_scripts, stem, len))
				stem = word_stem(sub, &len);
		}
		snprintf(out, size, "%.*s", (int)len, stem);
		break;
	}
	free(copy);
}

/* A valid, unique job name from `stem`: [a-z0-9][a-z0-9-]*. */
static char *
job_name(struct import *im, const char *stem)
{
	char base[IMPORT_NAME_MAX + 1], name[IMPORT_NAME_MAX + 16], **names;
	size_t n = 0;

	for (const char *p = stem; *p != '\0' && n < IMPORT_NAME_MAX; p++) {
		char c = (char)tolower((unsigned char)*p);

		if (!isalnum((unsigned char)c) || (unsigned char)c >= 0x80)
			c = '-';
		if (c == '-' && (n == 0 || base[n - 1] == '-'))
			continue;
		base[n++] = c;
	}
	while (n > 0 && base[n - 1] == '-')
		n--;
	base[n] = '\0';
	if (n == 0)
		strcpy(base, "job");

	strcpy(name, base);
	for (unsigned suffix = 2;; suffix++) {
		bool taken = false;

		for (size_t i = 0; i < im->n_names && !taken; i++)
			taken = strcmp(im->names[i], name) == 0;
		if (!taken)
			break;
		snprintf(name, sizeof(name), "%s-%u", base, suffix);
	}
	names = reallocarray(im->names, im->n_names + 1, sizeof(*names));
	if (names == NULL) {
		im->oom = true;
		return NULL;
	}
	im->names = names;
	names[im->n_names] = import_strndup(im, name, strlen(name));
	if (names[im->n_names] == NULL)
		return NULL;
	return names[im->n_names++];
}

/* ---- Job lines ----------------------------------------------------- */

static const struct {
	const char *macro, *chime;
} macros[] = {
        {"@reboot", "@reboot"},   {"@yearly", "@yearly"}, {"@annually", "@yearly"},
        {"@monthly", "@monthly"}, {"@weekly", "@weekly"}, {"@daily", "@daily"},
        {"@midnight", "@daily"},  {"@hourly", "@hourly"},
};

/* Split off the schedule of job line `line`: five fields or a macro.
 * Returns the command start, or NULL after a diagnostic. */
static const char *
parse_schedule(struct import *im, const char *line, char *sched, size_t size)
{
	const char *p = line;

	if (line[0] == '@') {
		size_t n = strcspn(line, " \t");

		for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++)
			if (strlen(macros[i].macro) == n &&
			    strncmp(line, macros[i].macro, n) == 0) {
				snprintf(sched, size, "%s", macros[i].chime);
				return line + n;
			}
		chime_diag_add(im->diags, CHIME_DIAG_ERROR, im->opts->file, im->line, 1, NULL,
		               "unknown crontab macro '%.*s'", (int)n, line);
		return NULL;
	}
	for (int field = 0; field < 5; field++) {
		p += strspn(p, " \t");
		if (*p == '\0') {
			chime_diag_add(im->diags, CHIME_DIAG_ERROR, im->opts->file, im->line,
			               (unsigned)(p - line) + 1, NULL,
			               "expected five time fields and a command, found %d field%s",
			               field, field == 1 ? "" : "s");
			return NULL;
		}
		p += strcspn(p, " \t");
	}
	if ((size_t)(p - line) >= size) {
		chime_diag_add(im->diags, CHIME_DIAG_ERROR, im->opts->file, im->line, 1, NULL,
		               "time fields too long");
		return NULL;
	}
	memcpy(sched, line, (size_t)(p - line));
	sched[p - line] = '\0';
	return p;
}

static void
write_argv(FILE *f, const char *cmd)
{
	char *copy = strdup(cmd), *save = NULL;
	bool first = true;

	fputs("[", f);
	if (copy != NULL)
		for (char *w = strtok_r(copy, " \t", &save); w != NULL;
		     w = strtok_r(NULL, " \t", &save)) {
			fputs(first ? "" : ", ", f);
			yaml_quote(f, w);
			first = false;
		}
	fputs("]", f);
	free(copy);
}

/* A redirection target chime can drop: a plain path, not /dev/null. */
static bool
log_target_plain(const char *w)
{
	return w[0] != '\0' && strcmp(w, "/dev/null") != 0 &&
	       strpbrk(w, "\"'`$;|&()<>*?{}[]\\") == NULL;
}

/* The word of CMD that ends before *END (blanks skipped); moves *END to
 * its start. False when there is none or it is longer than SIZE - 1. */
static bool
word_before(const char *cmd, size_t *end, char *w, size_t size)
{
	size_t e = *end, b;

	while (e > 0 && (cmd[e - 1] == ' ' || cmd[e - 1] == '\t'))
		e--;
	b = e;
	while (b > 0 && cmd[b - 1] != ' ' && cmd[b - 1] != '\t')
		b--;
	if (b == e || e - b >= size)
		return false;
	memcpy(w, cmd + b, e - b);
	w[e - b] = '\0';
	*end = b;
	return true;
}

/* Whether output redirected to PATH with operator OP ("[12&]>" or
 * "[12&]>>") is a log: a file under /var/log or named *.log, or both
 * streams appended to one file. Anything else (pg_dump > dump.sql) is the
 * job's own data and stays. */
static bool
is_log_redirect(const char *op, const char *path, bool stderr_too)
{
	size_t n = strlen(path);
	bool append = strstr(op, ">>") != NULL;

	return strncmp(path, "/var/log/", 9) == 0 || (n > 4 && strcmp(path + n - 4, ".log") == 0) ||
	       (append && (stderr_too || op[0] == '&'));
}

/*
 * Cut a trailing log-file redirection (">> /var/log/x.log 2>&1", "&>> f",
 * "2>> app.log") off CMD: cron needed it, chime does not (the output goes
 * to the journal), and under the shipped unit /var/log is read-only. The
 * text cut goes to REDIRECT. Returns false, changing nothing, unless the
 * tail holds only log redirections and "2>&1", at least one of them a log
 * ("> /dev/null 2>&1" discards output on purpose and stays).
 */
static bool
cut_log_redirect(char *cmd, char *redirect, size_t size)
{
	size_t cut = strlen(cmd), at;
	bool file = false, stderr_too = false;
	char w[256], op[8];

	for (int words = 0; words < 4; words++) {
		const char *target;
		size_t oplen;

		at = cut;
		if (!word_before(cmd, &at, w, sizeof(w)))
			break;
		if (strcmp(w, "2>&1") == 0) {
			stderr_too = true;
			cut = at;
			continue;
		}
		oplen = strspn(w, "12&") <= 1 ? strspn(w, "12&") : 0;
		oplen += strspn(w + oplen, ">") == 1 || strspn(w + oplen, ">") == 2
		                 ? strspn(w + oplen, ">")
		                 : 0;
		if (oplen > 0 && w[oplen - 1] == '>' && w[oplen] != '\0') {
			target = w + oplen; /* ">>file": attached */
			snprintf(op, sizeof(op), "%.*s", (int)oplen, w);
		} else {
			char prev[8];

			if (!log_target_plain(w) || !word_before(cmd, &at, prev, sizeof(prev)) ||
			    prev[strspn(prev, "12&") <= 1 ? strspn(prev, "12&") : 0] != '>' ||
			    strlen(prev) - strspn(prev, "12&") > 2 || prev[strlen(prev) - 1] != '>')
				break;
			snprintf(op, sizeof(op), "%s", prev);
			target = w;
		}
		if (!log_target_plain(target) || !is_log_redirect(op, target, stderr_too))
			return false;
		file = true;
		cut = at;
	}
	while (cut > 0 && (cmd[cut - 1] == ' ' || cmd[cut - 1] == '\t'))
		cut--;
	if (!file || cut == 0)
		return false;
	snprintf(redirect, size, "%s", cmd + cut + strspn(cmd + cut, " \t"));
	cmd[cut] = '\0';
	return true;
}

static void
write_job(struct import *im, const char *name, const char *sched, bool days_any, const char *cmd,
          const char *stdin_text, const char *redirect)
{
	FILE *f = im->body;

	flush_pending(im);
	if (redirect != NULL) {
		char note[512];

		snprintf(note, sizeof(note), "crontab: %s", redirect);
		yaml_comment(f, 2, note);
		snprintf(note, sizeof(note),
		         "now in the journal: journalctl -u chimed CHIME_JOB=%s", name);
		yaml_comment(f, 2, note);
	}
	if (stdin_text != NULL) {
		char *copy = strdup(stdin_text), *save = NULL;

		yaml_comment(f, 2, "crontab fed the text after '%' to this command's stdin:");
		if (copy != NULL)
			for (char *l = strtok_r(copy, "\n", &save); l != NULL;
			     l = strtok_r(NULL, "\n", &save)) {
				fputs("  #   ", f);
				yaml_comment_text(f, l);
			}
		free(copy);
		yaml_comment(f, 2,
		             "chime does not feed stdin (commands read /dev/null), so the job");
		yaml_comment(f, 2,
		             "is disabled: pipe the text in the command itself, then enable it.");
	}
	if (strcmp(sched, "@reboot") == 0)
		yaml_comment(f, 2, "@reboot: once each time chimed starts, not at boot only.");
	fprintf(f, "  %s:\n    schedule: ", name);
	yaml_quote(f, sched);
	fputc('\n', f);
	if (days_any)
		fputs("    days: any                # crontab: either day field matches\n", f);
	if (im->cron_tz != NULL) {
		fputs("    timezone: ", f);
		yaml_quote(f, im->cron_tz);
		fputc('\n', f);
	}
	fputs("    plugin: exec\n", f);
	if (stdin_text != NULL)
		fputs("    enabled: false\n", f);
	fputs("    options:\n      command: ", f);
	if (!needs_shell(cmd)) {
		write_argv(f, cmd);
		fputc('\n', f);
	} else if (im->shell != NULL) {
		fputs("[", f);
		yaml_quote(f, im->shell);
		fputs(", \"-c\", ", f);
		yaml_quote(f, cmd);
		fputs("]\n", f);
	} else {
		yaml_quote(f, cmd);
		fputs("\n      shell: true\n", f);
	}
	if (im->n_env > 0) {
		fputs("      env:\n", f);
		for (size_t i = 0; i < im->n_env; i++) {
			fprintf(f, "        %s: ", im->env[i].name);
			yaml_quote(f, im->env[i].value);
			fputc('\n', f);
		}
	}
	if (im->opts->user != NULL) {
		fputs("      user: ", f);
		yaml_quote(f, im->opts->user);
		fputc('\n', f);
	}
	im->jobs++;
}

static void
import_job_line(struct import *im, const char *line)
{
	struct chime_expr_error err = {0};
	struct chime_expr *expr = NULL;
	char sched[512], stem[128], redirect[300], *cmd = NULL, *stdin_text = NULL;
	const char *rest, *name;
	bool days_any, has_redirect;
	size_t n;

	rest = parse_schedule(im, line, sched, sizeof(sched));
	if (rest == NULL)
		return;
	if (chime_expr_parse(sched, NULL, &expr, &err) < 0) {
		chime_diag_add(im->diags, CHIME_DIAG_ERROR, im->opts->file, im->line,
		               err.column != 0 ? err.column : 1, NULL, "%s%s%s",
		               err.field[0] != '\0' ? err.field : "",
		               err.field[0] != '\0' ? ": " : "", err.message);
		return;
	}
	days_any = chime_expr_days_ambiguous(expr);
	chime_expr_free(expr);

	rest += strspn(rest, " \t");
	n = strlen(rest);
	while (n > 0 && (rest[n - 1] == ' ' || rest[n - 1] == '\t'))
		n--;
	cmd = import_strndup(im, rest, n);
	if (cmd == NULL)
		return;
	split_percent(im, cmd, &stdin_text);
	n = strlen(cmd);
	while (n > 0 && (cmd[n - 1] == ' ' || cmd[n - 1] == '\t'))
		cmd[--n] = '\0';
	if (cmd[0] == '\0') {
		chime_diag_add(im->diags, CHIME_DIAG_ERROR, im->opts->file, im->line,
		               (unsigned)(rest - line) + 1, NULL, "no command after the schedule");
		goto out;
	}
	name_stem(cmd, stem, sizeof(stem));
	name = job_name(im, stem);
	if (name == NULL)
		goto out;
	has_redirect = cut_log_redirect(cmd, redirect, sizeof(redirect));
	if (stdin_text != NULL)
		chime_diag_add(im->diags, CHIME_DIAG_WARNING, im->opts->file, im->line, 1, NULL,
		               "job '%s': the text after '%%' was the command's stdin; chime does "
		               "not feed stdin, so the job is written disabled",
		               name);
	write_job(im, name, sched, days_any, cmd, stdin_text, has_redirect ? redirect : NULL);
out:
	free(stdin_text);
	free(cmd);
}

/* ---- The whole file ------------------------------------------------ */

static void
import_line(struct import *im, char *line)
{
	size_t n = strlen(line), name_len;

	while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
		line[--n] = '\0';
	line += strspn(line, " \t");
	if (line[0] == '\0') {
		/* Keep one blank line between groups, as the crontab had. */
		if (im->after_text)
			fputc('\n', im->pending);
		im->after_text = false;
		return;
	}
	im->after_text = true;
	if (line[0] == '#') {
		line++;
		yaml_comment(im->pending, 2, line + strspn(line, " \t"));
		return;
	}
	name_len = env_name_len(line);
	if (name_len > 0)
		import_env_line(im, line, name_len);
	else
		import_job_line(im, line);
}

static void
import_done(struct import *im)
{
	if (im->body != NULL)
		fclose(im->body);
	if (im->pending != NULL)
		fclose(im->pending);
	free(im->body_buf);
	free(im->pending_buf);
	for (size_t i = 0; i < im->n_env; i++) {
		free(im->env[i].name);
		free(im->env[i].value);
	}
	free(im->env);
	for (size_t i = 0; i < im->n_names; i++)
		free(im->names[i]);
	chime_free_many(im->names, im->cron_tz, im->shell);
}

int
chime_crontab_import(const char *text, const struct chime_crontab_import_options *options,
                     struct chime_diag_list *diags, FILE *out, size_t *ret_jobs)
{
	struct import im = {.opts = options, .diags = diags};
	char *copy = NULL, *save = NULL;
	int r = -ENOMEM;

	im.body = open_memstream(&im.body_buf, &im.body_len);
	im.pending = open_memstream(&im.pending_buf, &im.pending_len);
	copy = strdup(text);
	if (im.body == NULL || im.pending == NULL || copy == NULL)
		goto out;

	/* strtok_r would merge empty lines and lose their numbers. */
	for (char *line = copy; line != NULL && !im.oom; line = save) {
		save = strchr(line, '\n');
		if (save != NULL)
			*save++ = '\0';
		if (save == NULL && line[0] == '\0')
			break; /* after the final newline */
		im.line++;
		import_line(&im, line);
	}
	flush_pending(&im);
	if (im.oom || fflush(im.body) != 0)
		goto out;

	fprintf(out, "# chime jobs converted by chimectl import-crontab%s%s.\n",
	        options->file != NULL ? " from " : "", options->file != NULL ? options->file : "");
	fputs("# Review them, then merge into chime.yaml or drop the file into\n"
	      "# /etc/chime/jobs.d/. Output that cron mailed goes to the journal.\n",
	      out);
	fputs(im.jobs > 0 ? "jobs:\n" : "jobs: {}\n", out);
	fwrite(im.body_buf, 1, im.body_len, out);
	*ret_jobs = im.jobs;
	r = 0;
out:
	free(copy);
	import_done(&im);
	return r;
}
