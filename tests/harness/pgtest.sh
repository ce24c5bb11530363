# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# Setup shared by the pg-review-* tests, which run one chimed against a
# database of their own (sourced after `. "$CHIME_PG_ENV"`):
#
#   . "$CHIME_SOURCE_DIR/tests/harness/pgtest.sh" NAME
#
# creates database t_NAME_PID as $db and a temp dir $tmp, and on exit kills
# $chimed_pid (set it when you start chimed), drops the database (first
# letting connections in again, for tests that lock it out) and removes
# $tmp. fail MESSAGE prints "not ok" with chimed's last log lines and exits;
# q SQL runs one statement in $db and prints the bare result. testlib.sh's
# helpers (wait_eq TIMEOUT WANT q SQL...) come with it.
. "$CHIME_SOURCE_DIR/tests/harness/testlib.sh"
db=t_${1:?usage: . pgtest.sh NAME}_$$
tmp=$(mktemp -d)
createdb "$db"
chimed_pid=
cleanup() {
	[ -n "$chimed_pid" ] && kill -KILL "$chimed_pid" 2>/dev/null || true
	psql -X -q -d postgres -c "ALTER DATABASE $db ALLOW_CONNECTIONS true" >/dev/null 2>&1 || true
	dropdb --if-exists "$db" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "not ok - $*" >&2; tail -30 "$tmp/chimed.log" >&2; exit 1; }
q() { psql -X -A -t -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }
