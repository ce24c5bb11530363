/* SPDX-License-Identifier: MIT */
/*
 * chimectl import-crontab FILE [--user USER]: print a chime.yaml `jobs:`
 * block of exec jobs for the crontab FILE ("-" reads stdin). Lines that do
 * not parse and notes about changed behaviour go to stderr with their line
 * numbers; the exit status is 1 when no job could be converted. The
 * conversion itself is chime_crontab_import() in libchime.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crontab_import.h"
#include "diag.h"

#include "chimectl.h"

#define IMPORT_MAX_BYTES (16u << 20) /* a crontab is a few KiB; refuse anything absurd */

static void
import_usage(FILE *f)
{
	fprintf(f, "usage: chimectl import-crontab FILE [--user USER]\n\n"
	           "Print a chime.yaml jobs: block with one exec job per command line of the\n"
	           "crontab FILE (\"-\" reads stdin). --user sets the user every job runs as.\n");
}

/* Read all of `f` into a NUL-terminated buffer. Returns 0 or -errno. */
static int
read_all(FILE *f, char **ret)
{
	char *buf = NULL, *p;
	size_t len = 0, cap = 0, n;

	do {
		if (cap - len < 4096) {
			cap = cap != 0 ? cap * 2 : 8192;
			if (cap > IMPORT_MAX_BYTES + 8192) {
				free(buf);
				return -EFBIG;
			}
			p = realloc(buf, cap);
			if (p == NULL) {
				free(buf);
				return -ENOMEM;
			}
			buf = p;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	if (ferror(f)) {
		free(buf);
		return -EIO;
	}
	buf[len] = '\0';
	if (strlen(buf) != len) {
		free(buf);
		return -EINVAL; /* a NUL byte: not a crontab */
	}
	*ret = buf;
	return 0;
}

int
chimectl_import_main(int argc, char **argv)
{
	struct chime_crontab_import_options opts = {0};
	struct chime_diag_list diags;
	const char *path = NULL;
	char *text = NULL;
	size_t jobs = 0;
	FILE *f;
	int r;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			import_usage(stdout);
			return CHIMECTL_EXIT_OK;
		}
		if (strcmp(argv[i], "--user") == 0 || strcmp(argv[i], "-u") == 0) {
			if (i + 1 >= argc || argv[i + 1][0] == '\0') {
				fprintf(stderr, "chimectl import-crontab: %s needs a user name\n",
				        argv[i]);
				return CHIMECTL_EXIT_USAGE;
			}
			opts.user = argv[++i];
			continue;
		}
		if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "chimectl import-crontab: unknown option '%s'\n", argv[i]);
			import_usage(stderr);
			return CHIMECTL_EXIT_USAGE;
		}
		if (path != NULL) {
			fprintf(stderr, "chimectl import-crontab: only one FILE may be given\n");
			return CHIMECTL_EXIT_USAGE;
		}
		path = argv[i];
	}
	if (path == NULL) {
		import_usage(stderr);
		return CHIMECTL_EXIT_USAGE;
	}

	f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
	if (f == NULL) {
		fprintf(stderr, "chimectl import-crontab: cannot open '%s': %s\n", path,
		        strerror(errno));
		return CHIMECTL_EXIT_FAILURE;
	}
	r = read_all(f, &text);
	if (f != stdin)
		fclose(f);
	if (r < 0) {
		fprintf(stderr, "chimectl import-crontab: cannot read '%s': %s\n", path,
		        r == -EINVAL ? "it contains a NUL byte" : strerror(-r));
		return CHIMECTL_EXIT_FAILURE;
	}

	opts.file = strcmp(path, "-") == 0 ? "<stdin>" : path;
	chime_diag_list_init(&diags);
	r = chime_crontab_import(text, &opts, &diags, stdout, &jobs);
	chime_diag_list_print(&diags, stderr);
	chime_diag_list_done(&diags);
	free(text);
	if (r < 0) {
		fprintf(stderr, "chimectl import-crontab: %s\n", strerror(-r));
		return CHIMECTL_EXIT_FAILURE;
	}
	if (jobs == 0) {
		fprintf(stderr, "chimectl import-crontab: '%s': no job could be converted\n",
		        opts.file);
		return CHIMECTL_EXIT_FAILURE;
	}
	return fflush(stdout) == 0 ? CHIMECTL_EXIT_OK : CHIMECTL_EXIT_FAILURE;
}
