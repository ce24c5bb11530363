/* SPDX-License-Identifier: MIT */
/*
 * chimectl status | list | history JOB [LIMIT] | trigger JOB | pause JOB |
 * resume JOB | reload: one request to the running chimed over its control
 * socket (chime/control.h), its reply printed as a table, or as the
 * daemon's JSON with --json. `reload` waits until the daemon has reloaded
 * (so ExecReload= makes `systemctl reload` synchronous) and exits 1 when
 * the new file was invalid, printing the diagnostics.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "chimectl.h"
#include "clock.h"
#include "config.h"
#include "control-text.h"
#include "control.h"
#include "diag.h"
#include "tz.h"

#define REPLY_MAX        (64 * 1024 * 1024)
#define READ_TIMEOUT_SEC 60

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: chimectl status|list [--json] [SOCKET OPTIONS]\n"
	        "       chimectl history JOB [LIMIT] [--items] [--json] [SOCKET OPTIONS]\n"
	        "       chimectl pause JOB [--note TEXT] [--by WHO] [SOCKET OPTIONS]\n"
	        "       chimectl trigger|resume JOB [SOCKET OPTIONS]\n"
	        "       chimectl reload [SOCKET OPTIONS]\n"
	        "\n"
	        "Ask the running chimed over its control socket. SOCKET OPTIONS:\n"
	        "  --socket PATH   the socket (else $CHIME_SOCKET, else control_socket of\n"
	        "  --config FILE   FILE or of %s, else %s)\n",
	        CHIME_DEFAULT_CONFIG, CHIME_CONTROL_DEFAULT_SOCKET);
}

/*
 * Where chimed listens: --socket, else $CHIME_SOCKET, else control_socket
 * of --config FILE, else that of the default configuration when this user
 * can read it, else the compiled-in default. A new string in *ret_path, or
 * -EINVAL after saying why (FILE invalid, or its control socket is off).
 */
static int
resolve_socket(const char *opt_socket, const char *opt_config, char **ret_path)
{
	const char *env = getenv("CHIME_SOCKET"), *path = opt_config;
	struct chime_config *config = NULL;
	struct chime_diag_list diags;
	int r;

	if (opt_socket != NULL || (env != NULL && env[0] != '\0')) {
		*ret_path = strdup(opt_socket != NULL ? opt_socket : env);
		return *ret_path != NULL ? 0 : -ENOMEM;
	}
	if (path == NULL && access(CHIME_DEFAULT_CONFIG, R_OK) == 0)
		path = CHIME_DEFAULT_CONFIG;
	if (path == NULL) {
		*ret_path = strdup(CHIME_CONTROL_DEFAULT_SOCKET);
		return *ret_path != NULL ? 0 : -ENOMEM;
	}
	chime_diag_list_init(&diags);
	r = chime_config_load(path, NULL, &diags, &config);
	if (r < 0 && opt_config == NULL) {
		/* The default file is broken: chimed runs another; try the default. */
		chime_diag_list_done(&diags);
		*ret_path = strdup(CHIME_CONTROL_DEFAULT_SOCKET);
		return *ret_path != NULL ? 0 : -ENOMEM;
	}
	if (r < 0) {
		chime_diag_list_print(&diags, stderr);
		if (diags.errors == 0)
			fprintf(stderr, "%s: error: %s\n", path, strerror(-r));
		chime_diag_list_done(&diags);
		return -EINVAL;
	}
	chime_diag_list_done(&diags);
	if (config->control_socket == NULL) {
		fprintf(stderr,
		        "chimectl: %s turns the control socket off (control_socket: \"\"): the "
		        "daemon cannot be asked\n",
		        path);
		chime_config_unref(config);
		return -EINVAL;
	}
	*ret_path = strdup(config->control_socket);
	chime_config_unref(config);
	return *ret_path != NULL ? 0 : -ENOMEM;
}

/* Why connect() failed, with what to do about it. */
static void
connect_hint(const char *path, int err)
{
	struct stat st;
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", path);
	if (err == EACCES || err == EPERM) {
		struct group *gr = NULL;

		/* The socket is 0660 in a 0750 directory: the group decides. */
		if (stat(path, &st) == 0 || stat(dirname(dir), &st) == 0)
			gr = getgrgid(st.st_gid);
		if (gr != NULL)
			fprintf(stderr,
			        "chimectl: cannot connect to '%s': %s: only root and members of "
			        "group '%s' may ask chimed (sudo, or: usermod -aG %s USER)\n",
			        path, strerror(err), gr->gr_name, gr->gr_name);
		else
			fprintf(stderr, "chimectl: cannot connect to '%s': %s\n", path,
			        strerror(err));
	} else if (err == ENOENT) {
		fprintf(stderr,
		        "chimectl: cannot connect to '%s': no such socket: is chimed running? "
		        "(--socket, $CHIME_SOCKET or --config name another)\n",
		        path);
	} else if (err == ECONNREFUSED) {
		fprintf(stderr,
		        "chimectl: cannot connect to '%s': nobody is listening: chimed is not "
		        "running (the socket is left from a daemon that was killed)\n",
		        path);
	} else {
		fprintf(stderr, "chimectl: cannot connect to '%s': %s\n", path, strerror(err));
	}
}

static int
connect_socket(const char *path, bool wait_forever)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = READ_TIMEOUT_SEC};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "chimectl: socket path '%s' is too long\n", path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;

		connect_hint(path, -r);
		close(fd);
		return r;
	}
	if (!wait_forever)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static int
send_all(int fd, const char *s)
{
	size_t len = strlen(s), off = 0;

	while (off < len) {
		ssize_t n = send(fd, s + off, len - off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (size_t)n;
	}
	return 0;
}

/* One reply line into a new string *ret_line. */
static int
read_line(int fd, char **ret_line, size_t *ret_len)
{
	char *buf = NULL, *nb;
	size_t len = 0, cap = 0;
	int r;

	for (;;) {
		ssize_t n;

		if (len == cap) {
			if (cap >= REPLY_MAX) {
				r = -EMSGSIZE;
				goto fail;
			}
			cap = cap ? cap * 2 : 8192;
			nb = realloc(buf, cap);
			if (nb == NULL) {
				r = -ENOMEM;
				goto fail;
			}
			buf = nb;
		}
		n = recv(fd, buf + len, cap - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = errno == EAGAIN ? -ETIMEDOUT : -errno;
			goto fail;
		}
		if (n == 0) {
			r = -ECONNRESET;
			goto fail;
		}
		len += (size_t)n;
		if (memchr(buf + len - (size_t)n, '\n', (size_t)n) != NULL)
			break;
	}
	*ret_line = buf;
	*ret_len = len;
	return 0;
fail:
	free(buf);
	return r;
}

static const char *
str(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (json_is_string(v))
		return json_string_value(v);
	return "-";
}

static void
print_diagnostics(json_t *reply)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(reply, "diagnostics"), i, v)
	{
		if (json_is_string(v))
			fprintf(stderr, "%s\n", json_string_value(v));
	}
}

/* Who pauses: the user sudo ran us for, else the one running us. */
static void
invoking_user(char *buf, size_t size)
{
	const char *sudo = getenv("SUDO_USER");
	struct passwd *pw;

	if (getuid() == 0 && sudo != NULL && sudo[0] != '\0') {
		snprintf(buf, size, "%s", sudo);
		return;
	}
	pw = getpwuid(getuid());
	if (pw != NULL)
		snprintf(buf, size, "%s", pw->pw_name);
	else
		snprintf(buf, size, "uid %u", (unsigned)getuid());
}

/* --note and --by: only for pause, within the protocol's bounds, no
 * control characters (they are shown on terminals). Says why on error. */
static int
pause_options(struct chime_control_request *rq, const char *by, const char *note)
{
	const char *const values[2] = {by, note};
	static const char *const names[2] = {"--by", "--note"};
	static const size_t max[2] = {CHIME_CONTROL_BY_MAX, CHIME_CONTROL_NOTE_MAX};

	for (int i = 0; i < 2; i++) {
		if (values[i] == NULL)
			continue;
		if (rq->cmd != CHIME_CONTROL_PAUSE) {
			fprintf(stderr, "chimectl: %s is only for pause\n", names[i]);
			return -EINVAL;
		}
		if (strlen(values[i]) > max[i]) {
			fprintf(stderr, "chimectl: %s: at most %zu bytes\n", names[i], max[i]);
			return -EINVAL;
		}
		for (const char *p = values[i]; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f) {
				fprintf(stderr, "chimectl: %s: no control characters (one line)\n",
				        names[i]);
				return -EINVAL;
			}
	}
	if (rq->cmd != CHIME_CONTROL_PAUSE)
		return 0;
	if (by != NULL)
		snprintf(rq->by, sizeof(rq->by), "%s", by);
	else
		invoking_user(rq->by, sizeof(rq->by));
	if (note != NULL)
		snprintf(rq->note, sizeof(rq->note), "%s", note);
	return 0;
}

/* "paused 'x' by alice: deploy freeze", or the pause already in force. */
static void
print_pause(json_t *reply)
{
	json_t *by = json_object_get(reply, "paused_by"),
	       *note = json_object_get(reply, "pause_note");
	char phrase[768];

	chime_audit_pause_phrase(json_string_value(by), json_string_value(note), phrase,
	                         sizeof(phrase));
	/* phrase + 6: the phrase after its "paused". */
	if (json_is_true(json_object_get(reply, "already_paused")))
		printf("'%s' was paused already, since %s%s (resume it first to change that)\n",
		       str(reply, "job"), str(reply, "paused_at"), phrase + 6);
	else
		printf("paused '%s'%s\n", str(reply, "job"), phrase + 6);
}

int
chimectl_control_main(int argc, char **argv)
{
	static const struct option options[] = {
	        {"socket", required_argument, NULL, 's'}, {"config", required_argument, NULL, 'c'},
	        {"json", no_argument, NULL, 'j'},         {"items", no_argument, NULL, 'i'},
	        {"note", required_argument, NULL, 'n'},   {"by", required_argument, NULL, 'b'},
	        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	struct chime_control_request rq = {.limit = 0};
	struct chime_control_text text = {.out = stdout};
	const char *opt_socket = NULL, *opt_config = NULL, *opt_note = NULL, *opt_by = NULL;
	char *socket_path = NULL;
	bool json = false;
	char *request = NULL, *line = NULL, err[512];
	json_t *reply = NULL;
	size_t len = 0;
	int c, fd = -1, r = CHIMECTL_EXIT_FAILURE, n_args;

	if (chime_control_cmd_parse(argv[0], &rq.cmd) < 0) {
		usage(stderr);
		return CHIMECTL_EXIT_USAGE;
	}
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:c:jihn:b:", options, NULL)) != -1) {
		switch (c) {
		case 's':
			opt_socket = optarg;
			break;
		case 'c':
			opt_config = optarg;
			break;
		case 'i':
			text.all_items = true;
			break;
		case 'n':
			opt_note = optarg;
			break;
		case 'b':
			opt_by = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return CHIMECTL_EXIT_OK;
		default:
			usage(stderr);
			return CHIMECTL_EXIT_USAGE;
		}
	}
	n_args = argc - optind;
	if (chime_control_cmd_needs_job(rq.cmd)) {
		if (n_args < 1 || n_args > (rq.cmd == CHIME_CONTROL_HISTORY ? 2 : 1)) {
			fprintf(stderr, "chimectl: %s needs a job name\n", argv[0]);
			usage(stderr);
			return CHIMECTL_EXIT_USAGE;
		}
		if (strlen(argv[optind]) > CHIME_CONTROL_JOB_MAX) {
			fprintf(stderr, "chimectl: job name too long\n");
			return CHIMECTL_EXIT_USAGE;
		}
		snprintf(rq.job, sizeof(rq.job), "%s", argv[optind]);
		if (n_args == 2) {
			char *end;
			long limit = strtol(argv[optind + 1], &end, 10);

			if (*end != '\0' || limit < 1 || limit > CHIME_CONTROL_HISTORY_MAX) {
				fprintf(stderr, "chimectl: LIMIT must be 1..%d\n",
				        CHIME_CONTROL_HISTORY_MAX);
				return CHIMECTL_EXIT_USAGE;
			}
			rq.limit = (int)limit;
		}
	} else if (n_args > 0) {
		fprintf(stderr, "chimectl: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return CHIMECTL_EXIT_USAGE;
	}

	if (pause_options(&rq, opt_by, opt_note) < 0)
		return CHIMECTL_EXIT_USAGE;
	request = chime_control_request_format(&rq);
	if (request == NULL) {
		fprintf(stderr, "chimectl: out of memory\n");
		goto out;
	}
	if (resolve_socket(opt_socket, opt_config, &socket_path) < 0)
		goto out;
	fd = connect_socket(socket_path, rq.cmd == CHIME_CONTROL_RELOAD);
	if (fd < 0)
		goto out;
	c = send_all(fd, request);
	if (c == 0)
		c = read_line(fd, &line, &len);
	if (c < 0) {
		fprintf(stderr, "chimectl: talking to '%s': %s\n", socket_path, strerror(-c));
		goto out;
	}
	if (chime_control_reply_parse(line, len, &reply, err, sizeof(err)) < 0) {
		fprintf(stderr, "chimectl: %s\n", err);
		goto out;
	}
	if (json) {
		fwrite(line, 1, len, stdout);
		r = json_is_true(json_object_get(reply, "ok")) ? CHIMECTL_EXIT_OK
		                                               : CHIMECTL_EXIT_FAILURE;
		goto out;
	}
	if (!json_is_true(json_object_get(reply, "ok"))) {
		fprintf(stderr, "chimectl: %s\n", str(reply, "error"));
		print_diagnostics(reply);
		goto out;
	}
	text.now_usec = chime_clock_wall_usec();
	text.zones = chime_tz_cache_new(); /* NULL: times in UTC */
	switch (rq.cmd) {
	case CHIME_CONTROL_STATUS:
		chime_control_text_status(&text, reply);
		break;
	case CHIME_CONTROL_LIST:
		chime_control_text_list(&text, reply);
		if (json_is_string(json_object_get(reply, "ledger_error")))
			fprintf(stderr, "chimectl: note: ledger not read: %s\n",
			        str(reply, "ledger_error"));
		break;
	case CHIME_CONTROL_HISTORY:
		chime_control_text_history(&text, reply);
		break;
	case CHIME_CONTROL_TRIGGER:
		printf("triggered '%s'\n", rq.job);
		break;
	case CHIME_CONTROL_PAUSE:
		print_pause(reply);
		break;
	case CHIME_CONTROL_RESUME:
		printf("resumed '%s'\n", rq.job);
		break;
	case CHIME_CONTROL_RELOAD:
		print_diagnostics(reply);
		printf("reloaded: %lld jobs\n",
		       (long long)json_integer_value(json_object_get(reply, "jobs")));
		break;
	}
	r = CHIMECTL_EXIT_OK;
out:
	chime_tz_cache_free(text.zones);
	free(socket_path);
	json_decref(reply);
	free(line);
	free(request);
	if (fd >= 0)
		close(fd);
	return r;
}
