/* SPDX-License-Identifier: MIT */
/*
 * chimed: the scheduler daemon. This first version only answers --version;
 * the runtime lands in the following commits.
 */
#include <stdio.h>
#include <string.h>

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("chimed %s\n", CHIME_VERSION);
		return 0;
	}
	fprintf(stderr, "chimed: not implemented yet\n");
	return 1;
}
