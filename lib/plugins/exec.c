/* SPDX-License-Identifier: MIT */
/*
 * exec: run a command, so every crontab line can move to chime as is.
 *
 *   options:
 *     command: [/usr/bin/python3, manage.py, sync_emails]   argv, no shell
 *     command: "cd /srv/app && python manage.py sync"        with shell: true
 *     shell: false         a string command runs as /bin/sh -c STRING
 *     env: {K: V}          the job's variables, over the small set below
 *     inherit_env: false   true: start from the daemon's whole environment
 *                          (PG*, CREDENTIALS_DIRECTORY and all) instead
 *     workdir: /srv/app    the working directory
 *     user: app            only when chimed runs as root: the user (and its
 *     group: app           groups) the command runs as
 *     kill_timeout: 10s    on cancel (timeout, shutdown): SIGTERM to the
 *                          process group, SIGKILL after this long (or the
 *                          cancel's shorter grace: a self-fenced run)
 *     max_log_lines: 10000 lines logged per run; the rest are counted and
 *                          reported as "N lines suppressed"
 *     kill_group: true     once the command exits, SIGTERM (then SIGKILL
 *                          after kill_timeout) to what is left of its
 *                          process group, so a backgrounded grandchild does
 *                          not outlive its run; false leaves it running
 *     idempotent: false    true declares the command safe to run again for
 *                          the same slot: a lost run is then re-run
 *                          (on_lost: auto), and on_lost: rerun is accepted
 *
 * The environment is scrubbed: a job must not read the daemon's database
 * password or gateway token from PG* or CREDENTIALS_DIRECTORY. The child
 * gets PATH (the daemon's, or a standard one), HOME, LANG, LANGUAGE, LC_*
 * and TZ as the daemon has them, USER/LOGNAME/HOME of `user:`, then `env:`,
 * and CHIME_JOB, CHIME_SCHEDULED_FOR (RFC 3339, UTC),
 * CHIME_PREVIOUS_FOR (when there is one) and CHIME_RUN_ID in its
 * environment, stdin from /dev/null, its own session and process group,
 * default signal dispositions and an empty signal mask. run() is on a
 * worker thread: fork (the child calls only async-signal-safe functions;
 * paths, users and groups are resolved before the fork), then poll() the
 * two pipes, logging each line through chime_run_log() (stdout at info,
 * stderr at warning; lines longer than 4 KiB are split), and checking the
 * cancel flag every 100 ms. Memory per run is bounded: two 4 KiB line
 * buffers, whatever the child prints.
 *
 * Outcome: exit 0 succeeds; "exited with status N" or "killed by signal
 * SIGX" fails the run, with the last stderr line appended. Dry run: the
 * command is reported and not run.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builtin.h"
#include "freemany.h"
#include "monoclock.h"
#include "sqlutil.h"

#define EXEC_LINE_MAX     4096
#define EXEC_POLL_MSEC    100
#define EXEC_DRAIN_USEC   (INT64_C(500) * 1000) /* output read after the child exits */
#define EXEC_MAX_GROUPS   256
#define EXEC_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define EXEC_PRIO_WARNING 4 /* syslog priorities, as chime_run_log() takes */
#define EXEC_PRIO_INFO    6

extern char **environ;

struct exec_state {
	char **argv; /* NULL-terminated */
	size_t argc;
	char **env_keys, **env_values;
	size_t n_env;
	char *workdir, *user, *group;
	int64_t kill_timeout_usec;
	int64_t max_log_lines;
	bool inherit_env, kill_group;
	bool idempotent; /* the job declares the command safe to repeat */
};

static void
exec_release(void *state)
{
	struct exec_state *st = state;

	if (st == NULL)
		return;
	for (size_t i = 0; i < st->argc; i++)
		free(st->argv[i]);
	for (size_t i = 0; i < st->n_env; i++) {
		free(st->env_keys[i]);
		free(st->env_values[i]);
	}
	chime_free_many(st->argv, st->env_keys, st->env_values, st->workdir, st->user, st->group,
	                st);
}

static char *
opt_strdup(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static bool
env_name_valid(const char *k)
{
	if (k == NULL || k[0] == '\0' || (k[0] >= '0' && k[0] <= '9'))
		return false;
	for (const char *p = k; *p != '\0'; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

static int
exec_configure(const struct chime_node *options, struct chime_diag_list *diags, void **ret_state)
{
	static const char *const known[] = {
	        "command",      "shell",         "env",         "workdir",    "user",       "group",
	        "kill_timeout", "max_log_lines", "inherit_env", "kill_group", "idempotent", NULL};
	const char *workdir = NULL, *user = NULL, *group = NULL;
	const struct chime_node *cmd, *env;
	struct exec_state *st = NULL;
	bool shell = false;
	int r = 0;

	cmd = options != NULL ? chime_node_get(options, "command") : NULL;
	if (cmd == NULL)
		return chime_node_error(diags, options,
		                        "the exec plugin needs options.command (an argv list)");
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -ENOMEM;
	if (chime_node_check_keys(options, known, diags) < 0)
		r = -EINVAL;
	if (chime_node_get_bool(options, "shell", false, diags, &shell) < 0 ||
	    chime_node_get_bool(options, "inherit_env", false, diags, &st->inherit_env) < 0 ||
	    chime_node_get_bool(options, "kill_group", true, diags, &st->kill_group) < 0 ||
	    chime_node_get_bool(options, "idempotent", false, diags, &st->idempotent) < 0 ||
	    chime_node_get_string(options, "workdir", NULL, diags, &workdir) < 0 ||
	    chime_node_get_string(options, "user", NULL, diags, &user) < 0 ||
	    chime_node_get_string(options, "group", NULL, diags, &group) < 0 ||
	    chime_node_get_duration(options, "kill_timeout", INT64_C(10) * 1000000, diags,
	                            &st->kill_timeout_usec) < 0 ||
	    chime_node_get_int(options, "max_log_lines", 0, INT64_C(100000000), 10000, diags,
	                       &st->max_log_lines) < 0)
		r = -EINVAL;
	if (group != NULL && user == NULL)
		r = chime_node_error(diags, chime_node_get(options, "group"),
		                     "group needs user as well");

	if (chime_node_kind(cmd) == CHIME_NODE_SCALAR) {
		if (!shell) {
			r = chime_node_error(diags, cmd,
			                     "a command string needs shell: true (or give an argv "
			                     "list: [program, arg, ...])");
		} else {
			st->argv = calloc(4, sizeof(char *));
			if (st->argv == NULL)
				goto oom;
			st->argv[0] = strdup("/bin/sh");
			st->argv[1] = strdup("-c");
			st->argv[2] = strdup(chime_node_scalar(cmd));
			st->argc = 3;
			if (st->argv[0] == NULL || st->argv[1] == NULL || st->argv[2] == NULL)
				goto oom;
		}
	} else if (chime_node_kind(cmd) == CHIME_NODE_SEQUENCE && chime_node_count(cmd) > 0) {
		size_t n = chime_node_count(cmd);

		if (shell)
			r = chime_node_error(diags, cmd,
			                     "shell: true needs a command string, not a list");
		st->argv = calloc(n + 1, sizeof(char *));
		if (st->argv == NULL)
			goto oom;
		for (size_t i = 0; i < n; i++) {
			const struct chime_node *item = chime_node_at(cmd, i);

			if (chime_node_kind(item) != CHIME_NODE_SCALAR) {
				r = chime_node_error(diags, item, "command items must be strings");
				continue;
			}
			st->argv[st->argc] = strdup(chime_node_scalar(item));
			if (st->argv[st->argc++] == NULL)
				goto oom;
		}
		if (st->argc > 0 && st->argv[0][0] == '\0')
			r = chime_node_error(diags, cmd, "the program name is empty");
	} else {
		r = chime_node_error(diags, cmd, "command must be a non-empty list of strings");
	}

	env = chime_node_get(options, "env");
	if (env != NULL && chime_node_kind(env) != CHIME_NODE_MAPPING) {
		r = chime_node_error(diags, env, "env must be a mapping of NAME: value");
	} else if (env != NULL) {
		size_t n = chime_node_count(env);

		st->env_keys = calloc(n + 1, sizeof(char *));
		st->env_values = calloc(n + 1, sizeof(char *));
		if (st->env_keys == NULL || st->env_values == NULL)
			goto oom;
		for (size_t i = 0; i < n; i++) {
			const struct chime_node *v = chime_node_at(env, i);
			const char *k = chime_node_key_at(env, i);

			if (!env_name_valid(k)) {
				r = chime_node_error(diags, v, "'%s' is not a valid variable name",
				                     k != NULL ? k : "");
				continue;
			}
			if (chime_node_kind(v) != CHIME_NODE_SCALAR) {
				r = chime_node_error(diags, v, "env values must be strings");
				continue;
			}
			st->env_keys[st->n_env] = strdup(k);
			st->env_values[st->n_env] = strdup(chime_node_scalar(v));
			if (st->env_keys[st->n_env] == NULL || st->env_values[st->n_env++] == NULL)
				goto oom;
		}
	}
	if (r < 0) {
		exec_release(st);
		return r;
	}
	st->workdir = opt_strdup(workdir);
	st->user = opt_strdup(user);
	st->group = opt_strdup(group);
	if ((workdir != NULL && st->workdir == NULL) || (user != NULL && st->user == NULL) ||
	    (group != NULL && st->group == NULL))
		goto oom;
	*ret_state = st;
	return 0;
oom:
	exec_release(st);
	return -ENOMEM;
}

/* ---- Running -------------------------------------------------------- */

/* Everything the child needs, prepared before fork(). */
struct exec_prep {
	char **envp;
	size_t n_envp;
	char *path; /* resolved program */
	bool set_ids;
	uid_t uid;
	gid_t gid;
	gid_t groups[EXEC_MAX_GROUPS];
	int n_groups;
};

static void
prep_done(struct exec_prep *pr)
{
	for (size_t i = 0; i < pr->n_envp; i++)
		free(pr->envp[i]);
	free(pr->envp);
	free(pr->path);
}

static int
env_push(struct exec_prep *pr, size_t cap, const char *k, const char *v)
{
	size_t kl = strlen(k);
	char *e;

	/* A later value for the same name replaces the earlier one. */
	for (size_t i = 0; i < pr->n_envp; i++)
		if (strncmp(pr->envp[i], k, kl) == 0 && pr->envp[i][kl] == '=') {
			free(pr->envp[i]);
			pr->envp[i] = pr->envp[--pr->n_envp];
			break;
		}
	if (pr->n_envp + 1 >= cap || asprintf(&e, "%s=%s", k, v) < 0)
		return -ENOMEM;
	pr->envp[pr->n_envp++] = e;
	pr->envp[pr->n_envp] = NULL;
	return 0;
}

static const char *
env_lookup(const struct exec_prep *pr, const char *k)
{
	size_t kl = strlen(k);

	for (size_t i = 0; i < pr->n_envp; i++)
		if (strncmp(pr->envp[i], k, kl) == 0 && pr->envp[i][kl] == '=')
			return pr->envp[i] + kl + 1;
	return NULL;
}

/* Whether the daemon's variable K reaches the job. systemd's messages to
 * chimed never do; without inherit_env only the locale, the zone, PATH and
 * HOME do, so no secret of the daemon's (PGPASSWORD, PGPASSFILE,
 * CREDENTIALS_DIRECTORY) leaks into a job that did not ask for it. */
static bool
env_passed(const char *k, bool inherit_env)
{
	static const char *const systemd_only[] = {"NOTIFY_SOCKET", "LISTEN_FDS",
	                                           "LISTEN_PID",    "LISTEN_FDNAMES",
	                                           "WATCHDOG_USEC", "WATCHDOG_PID"};
	static const char *const kept[] = {"PATH", "HOME", "LANG", "LANGUAGE", "TZ"};

	for (size_t i = 0; i < sizeof(systemd_only) / sizeof(systemd_only[0]); i++)
		if (strcmp(k, systemd_only[i]) == 0)
			return false;
	if (inherit_env)
		return true;
	if (strncmp(k, "LC_", 3) == 0)
		return true;
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		if (strcmp(k, kept[i]) == 0)
			return true;
	return false;
}

static int
exec_prepare(const struct exec_state *st, struct chime_run *run, struct exec_prep *pr)
{
	char buf[64], *pwbuf = NULL;
	size_t n_environ = 0, cap;
	const char *path;
	int r = 0;

	while (environ != NULL && environ[n_environ] != NULL)
		n_environ++;
	cap = n_environ + st->n_env + 16;
	pr->envp = calloc(cap, sizeof(char *));
	if (pr->envp == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n_environ; i++) {
		const char *eq = strchr(environ[i], '=');
		char k[256];

		if (eq == NULL || (size_t)(eq - environ[i]) >= sizeof(k))
			continue;
		memcpy(k, environ[i], (size_t)(eq - environ[i]));
		k[eq - environ[i]] = '\0';
		if (!env_passed(k, st->inherit_env))
			continue;
		if (env_push(pr, cap, k, eq + 1) < 0)
			return -ENOMEM;
	}
	if (env_lookup(pr, "PATH") == NULL && env_push(pr, cap, "PATH", EXEC_DEFAULT_PATH) < 0)
		return -ENOMEM;

	if (st->user != NULL) {
		struct passwd pw, *pwp = NULL;
		long sz = sysconf(_SC_GETPW_R_SIZE_MAX);

		if (geteuid() != 0) {
			chime_run_fail(run, "user '%s': chimed is not running as root", st->user);
			return -EPERM;
		}
		pwbuf = malloc(sz > 0 ? (size_t)sz * 4 : 16384);
		if (pwbuf == NULL)
			return -ENOMEM;
		if (getpwnam_r(st->user, &pw, pwbuf, sz > 0 ? (size_t)sz * 4 : 16384, &pwp) != 0 ||
		    pwp == NULL) {
			chime_run_fail(run, "user '%s' does not exist", st->user);
			r = -ENOENT;
			goto out;
		}
		pr->set_ids = true;
		pr->uid = pw.pw_uid;
		pr->gid = pw.pw_gid;
		if (st->group != NULL) {
			struct group gr, *grp = NULL;
			char grbuf[16384];

			if (getgrnam_r(st->group, &gr, grbuf, sizeof(grbuf), &grp) != 0 ||
			    grp == NULL) {
				chime_run_fail(run, "group '%s' does not exist", st->group);
				r = -ENOENT;
				goto out;
			}
			pr->gid = gr.gr_gid;
		}
		pr->n_groups = EXEC_MAX_GROUPS;
		if (getgrouplist(pw.pw_name, pr->gid, pr->groups, &pr->n_groups) < 0)
			pr->n_groups = EXEC_MAX_GROUPS;
		if (env_push(pr, cap, "HOME", pw.pw_dir) < 0 ||
		    env_push(pr, cap, "USER", pw.pw_name) < 0 ||
		    env_push(pr, cap, "LOGNAME", pw.pw_name) < 0) {
			r = -ENOMEM;
			goto out;
		}
	}

	if (env_push(pr, cap, "CHIME_JOB", chime_run_job(run)) < 0)
		goto oom;
	if (chime__sql_format_timestamptz(chime_run_nominal_usec(run), buf, sizeof(buf)) >= 0 &&
	    env_push(pr, cap, "CHIME_SCHEDULED_FOR", buf) < 0)
		goto oom;
	if (chime_run_previous_usec(run) != INT64_MIN &&
	    chime__sql_format_timestamptz(chime_run_previous_usec(run), buf, sizeof(buf)) >= 0 &&
	    env_push(pr, cap, "CHIME_PREVIOUS_FOR", buf) < 0)
		goto oom;
	snprintf(buf, sizeof(buf), "%" PRId64, chime_run_id(run));
	if (env_push(pr, cap, "CHIME_RUN_ID", buf) < 0)
		goto oom;
	for (size_t i = 0; i < st->n_env; i++)
		if (env_push(pr, cap, st->env_keys[i], st->env_values[i]) < 0)
			goto oom;

	/* Resolve the program in the job's PATH now, so the child only execs. */
	if (strchr(st->argv[0], '/') != NULL) {
		pr->path = strdup(st->argv[0]);
		if (pr->path == NULL)
			goto oom;
	} else {
		path = env_lookup(pr, "PATH");
		for (const char *p = path; pr->path == NULL;) {
			size_t len = strcspn(p, ":");
			char *cand;

			if (asprintf(&cand, "%.*s/%s", (int)len, len > 0 ? p : ".", st->argv[0]) <
			    0)
				goto oom;
			if (access(cand, X_OK) == 0)
				pr->path = cand;
			else
				free(cand);
			if (p[len] == '\0')
				break;
			p += len + 1;
		}
		if (pr->path == NULL) {
			chime_run_fail(run, "command '%s' not found in PATH '%s'", st->argv[0],
			               path);
			r = -ENOENT;
			goto out;
		}
	}
	r = 0;
	goto out;
oom:
	r = -ENOMEM;
out:
	free(pwbuf);
	return r;
}

/* In the child: only async-signal-safe calls. Never returns. */
static void
exec_child(const struct exec_state *st, const struct exec_prep *pr, int out_fd, int err_fd,
           int status_fd)
{
	struct sigaction sa;
	sigset_t mask;
	int devnull, e;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &sa, NULL);
	sigemptyset(&mask);
	(void)sigprocmask(SIG_SETMASK, &mask, NULL);
	(void)setsid();

	devnull = open("/dev/null", O_RDONLY);
	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
		goto fail;
	if (pr->set_ids && (setgroups((size_t)pr->n_groups, pr->groups) < 0 ||
	                    setgid(pr->gid) < 0 || setuid(pr->uid) < 0))
		goto fail;
	if (st->workdir != NULL && chdir(st->workdir) < 0)
		goto fail;
	execve(pr->path, st->argv, pr->envp);
fail:
	e = errno;
	(void)!write(status_fd, &e, sizeof(e));
	_exit(127);
}

struct exec_stream {
	int fd;
	int priority;
	char buf[EXEC_LINE_MAX + 1];
	size_t len;
};

/* The last lines of output, kept for the run's report (value
 * "output_tail", so `chimectl history` shows what a command said without
 * the journal). Bounded: EXEC_TAIL_LINES lines of at most EXEC_TAIL_WIDTH
 * bytes each. */
#define EXEC_TAIL_LINES 10
#define EXEC_TAIL_WIDTH 200

struct exec_output {
	struct chime_run *run;
	int64_t max_lines;
	int64_t logged, suppressed;
	char last_err[256];
	char tail[EXEC_TAIL_LINES][EXEC_TAIL_WIDTH + 1];
	size_t n_tail; /* lines seen; the ring holds the last EXEC_TAIL_LINES */
};

static void
tail_add(struct exec_output *o, const char *line, size_t len)
{
	char *slot = o->tail[o->n_tail++ % EXEC_TAIL_LINES];

	if (len > EXEC_TAIL_WIDTH)
		len = EXEC_TAIL_WIDTH;
	memcpy(slot, line, len);
	slot[len] = '\0';
}

/* The ring, oldest first, as one value with a line per output line. */
static void
tail_report(struct exec_output *o)
{
	size_t n = o->n_tail < EXEC_TAIL_LINES ? o->n_tail : EXEC_TAIL_LINES;
	char text[EXEC_TAIL_LINES * (EXEC_TAIL_WIDTH + 1) + 1];
	size_t len = 0;

	if (n == 0)
		return;
	for (size_t i = o->n_tail - n; i < o->n_tail; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%s%s", len > 0 ? "\n" : "",
		                        o->tail[i % EXEC_TAIL_LINES]);
	chime_run_value(o->run, "output_tail", text);
}

static void
output_line(struct exec_output *o, struct exec_stream *s, const char *line, size_t len)
{
	if (s->priority == EXEC_PRIO_WARNING) {
		size_t n = len < sizeof(o->last_err) - 1 ? len : sizeof(o->last_err) - 1;

		memcpy(o->last_err, line, n);
		o->last_err[n] = '\0';
	}
	tail_add(o, line, len);
	if (o->logged >= o->max_lines) {
		o->suppressed++;
		return;
	}
	o->logged++;
	chime_run_log(o->run, s->priority, "%.*s", (int)len, line);
}

/* Read what is there; returns false at EOF or error. */
static bool
stream_read(struct exec_output *o, struct exec_stream *s)
{
	ssize_t n = read(s->fd, s->buf + s->len, EXEC_LINE_MAX - s->len);
	char *nl;
	size_t start = 0;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0) {
		if (s->len > 0)
			output_line(o, s, s->buf, s->len);
		s->len = 0;
		return false;
	}
	s->len += (size_t)n;
	while ((nl = memchr(s->buf + start, '\n', s->len - start)) != NULL) {
		output_line(o, s, s->buf + start, (size_t)(nl - (s->buf + start)));
		start = (size_t)(nl - s->buf) + 1;
	}
	memmove(s->buf, s->buf + start, s->len - start);
	s->len -= start;
	if (s->len == EXEC_LINE_MAX) { /* a long line: split it */
		output_line(o, s, s->buf, s->len);
		s->len = 0;
	}
	return true;
}

static void
describe_signal(int sig, char *buf, size_t size)
{
	const char *abbrev = sigabbrev_np(sig);

	if (abbrev != NULL)
		snprintf(buf, size, "SIG%s", abbrev);
	else
		snprintf(buf, size, "%d", sig);
}

/* What is left of the command's process group after the command exited:
 * a daemon it started with `&` or nohup. */
struct exec_group {
	int64_t term_at, kill_at, gone_at; /* 0: not yet */
};

/* How long after SIGTERM the group gets SIGKILL: kill_timeout, or less
 * when the run was cancelled with a shorter grace (a self-fenced run must
 * be gone before another node may recover its claim). */
static int64_t
kill_after_usec(const struct exec_state *st, const struct chime_run *run)
{
	int64_t grace = chime_run_cancelled(run) ? chime_run_cancel_grace_usec(run) : INT64_MAX;

	return grace < st->kill_timeout_usec ? grace : st->kill_timeout_usec;
}

/* Stop the rest of the group: SIGTERM, SIGKILL after kill_timeout, and
 * give up waiting (zombies waiting for their reaper still count as
 * members) one drain period after SIGKILL. Returns true while the caller
 * should keep waiting. The group id stays reserved while any member lives,
 * so kill(-pid) cannot reach another process's group. */
static bool
group_stop(struct chime_run *run, pid_t pid, int64_t kill_timeout_usec, int64_t now,
           struct exec_group *g)
{
	if (g->gone_at != 0)
		return false;
	if (kill(-pid, 0) < 0) {
		g->gone_at = now;
		return false;
	}
	if (g->term_at == 0) {
		chime_run_log(run, EXEC_PRIO_INFO,
		              "command exited; stopping what it left running in its process group "
		              "(kill_group: false keeps it)");
		(void)kill(-pid, SIGTERM);
		g->term_at = now;
	} else if (g->kill_at == 0 && now - g->term_at >= kill_timeout_usec) {
		chime_run_log(run, EXEC_PRIO_WARNING,
		              "its process group did not exit %" PRId64
		              " ms after SIGTERM, sending SIGKILL",
		              kill_timeout_usec / 1000);
		(void)kill(-pid, SIGKILL);
		g->kill_at = now;
	} else if (g->kill_at != 0 && now - g->kill_at > EXEC_DRAIN_USEC) {
		g->gone_at = now;
		return false;
	}
	return true;
}

static int
exec_run(void *state, struct chime_run *run)
{
	const struct exec_state *st = state;
	struct exec_prep pr = {0};
	struct exec_stream out = {.fd = -1, .priority = EXEC_PRIO_INFO};
	struct exec_stream err = {.fd = -1, .priority = EXEC_PRIO_WARNING};
	struct exec_output o = {.run = run, .max_lines = st->max_log_lines};
	int pout[2] = {-1, -1}, perr[2] = {-1, -1}, pstat[2] = {-1, -1};
	struct exec_group group = {0};
	int64_t term_at = 0, exited_at = 0;
	bool out_open = true, err_open = true, reaped = false;
	int status = 0, child_errno = 0, r;
	char sig[32];
	pid_t pid;

	if (chime_run_dry_run(run)) {
		char line[1024];
		size_t len = 0;

		line[0] = '\0';
		for (size_t i = 0; i < st->argc && len < sizeof(line); i++)
			len += (size_t)snprintf(line + len, sizeof(line) - len, "%s'%s'",
			                        i > 0 ? " " : "", st->argv[i]);
		chime_run_item(run, "would run: %s%s%s", line, st->workdir ? " in " : "",
		               st->workdir ? st->workdir : "");
		return 0;
	}
	r = exec_prepare(st, run, &pr);
	if (r < 0) {
		if (r == -ENOMEM)
			chime_run_fail(run, "out of memory preparing the command");
		goto out;
	}
	if (pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0 ||
	    pipe2(pstat, O_CLOEXEC) < 0) {
		r = -errno;
		chime_run_fail(run, "cannot create pipes: %s", strerror(-r));
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		chime_run_fail(run, "cannot fork: %s", strerror(-r));
		goto out;
	}
	if (pid == 0)
		exec_child(st, &pr, pout[1], perr[1], pstat[1]);
	close(pout[1]);
	close(perr[1]);
	close(pstat[1]);
	pout[1] = perr[1] = pstat[1] = -1;
	if (read(pstat[0], &child_errno, sizeof(child_errno)) != (ssize_t)sizeof(child_errno))
		child_errno = 0;
	out.fd = pout[0];
	err.fd = perr[0];

	while (out_open || err_open || !reaped || (st->kill_group && group.gone_at == 0)) {
		struct pollfd fds[2] = {{.fd = out_open ? out.fd : -1, .events = POLLIN},
		                        {.fd = err_open ? err.fd : -1, .events = POLLIN}};
		int64_t now;

		if (poll(fds, 2, EXEC_POLL_MSEC) < 0 && errno != EINTR)
			break;
		if (out_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
			out_open = stream_read(&o, &out);
		if (err_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)))
			err_open = stream_read(&o, &err);
		now = chime_kit_mono_usec();
		if (!reaped && waitpid(pid, &status, WNOHANG) == pid) {
			reaped = true;
			exited_at = now;
		}
		if (reaped && st->kill_group &&
		    group_stop(run, pid, kill_after_usec(st, run), now, &group))
			continue;
		/* A background grandchild may hold the pipes: stop reading soon
		 * after the command (and what was left of its group) ended. */
		if (reaped &&
		    now - (group.gone_at > exited_at ? group.gone_at : exited_at) > EXEC_DRAIN_USEC)
			break;
		if (!reaped && chime_run_cancelled(run)) {
			if (term_at == 0) {
				term_at = now;
				(void)kill(-pid, SIGTERM);
			} else if (term_at > 0 && now - term_at >= kill_after_usec(st, run)) {
				chime_run_log(run, EXEC_PRIO_WARNING,
				              "command did not exit %" PRId64
				              " ms after SIGTERM, sending SIGKILL",
				              kill_after_usec(st, run) / 1000);
				(void)kill(-pid, SIGKILL);
				term_at = -1;
			}
		}
	}
	if (!reaped)
		(void)waitpid(pid, &status, 0);
	if (o.suppressed > 0)
		chime_run_log(run, EXEC_PRIO_WARNING,
		              "%" PRId64 " output lines suppressed (max_log_lines %" PRId64 ")",
		              o.suppressed, o.max_lines);
	chime_run_count(run, "output_lines", o.logged + o.suppressed);
	tail_report(&o);

	if (child_errno != 0) {
		chime_run_fail(run, "cannot execute '%s': %s", st->argv[0], strerror(child_errno));
		r = -child_errno;
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && term_at == 0) {
		chime_run_value(run, "exit_status", "0");
		r = 0;
	} else if (WIFEXITED(status)) {
		snprintf(sig, sizeof(sig), "%d", WEXITSTATUS(status));
		chime_run_value(run, "exit_status", sig);
		chime_run_fail(run, "%sexited with status %d%s%s",
		               term_at != 0 ? "cancelled: " : "", WEXITSTATUS(status),
		               o.last_err[0] ? ": " : "", o.last_err);
		r = term_at != 0 ? -ECANCELED : -EIO;
	} else {
		describe_signal(WTERMSIG(status), sig, sizeof(sig));
		chime_run_value(run, "signal", sig);
		chime_run_fail(run, "%skilled by signal %s%s%s", term_at != 0 ? "cancelled: " : "",
		               sig, o.last_err[0] ? ": " : "", o.last_err);
		r = term_at != 0 ? -ECANCELED : -EIO;
	}
out:
	for (int i = 0; i < 2; i++) {
		if (pout[i] >= 0)
			close(pout[i]);
		if (perr[i] >= 0)
			close(perr[i]);
		if (pstat[i] >= 0)
			close(pstat[i]);
	}
	prep_done(&pr);
	return r;
}

/* An arbitrary command may not be safe to repeat after a lost run: only
 * when the job declares it (options.idempotent). */
static bool
exec_rerun_safe(const void *state)
{
	const struct exec_state *st = state;

	return st != NULL && st->idempotent;
}

const struct chime_plugin chime_plugin_exec = {
        CHIME_PLUGIN_INIT("exec", exec_configure, exec_run, exec_release),
        .idempotent = false,
        .rerun_safe = exec_rerun_safe,
};
