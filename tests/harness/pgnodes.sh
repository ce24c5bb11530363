# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# Sourced by the pg- tests that run several chimed nodes on the shared
# cluster: testlib.sh, a database of the test's own ($db, also
# PGDATABASE), a temp dir ($tmp), the nodes' pids (pid[NAME]), a cleanup
# on exit that kills what is left (and runs $nodes_cleanup_extra first),
# fail (with the tail of every node's log), q (one statement, unaligned),
# start_node NAME (chimed on $tmp/NAME.yaml, logging to $tmp/NAME.log) and
# stop_nodes (SIGTERM, each must exit 0).
. "$CHIME_PG_ENV"
. "$CHIME_SOURCE_DIR/tests/harness/testlib.sh"

db=t_$(basename "$0" .sh | tr -- - _)_$$
tmp=$(mktemp -d)
chmod 755 "$tmp"
createdb "$db"
export PGDATABASE=$db
declare -A pid
nodes_cleanup_extra=:
cleanup() {
	$nodes_cleanup_extra
	for n in "${!pid[@]}"; do kill -KILL "${pid[$n]}" 2>/dev/null || true; done
	dropdb --if-exists "$db" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
	echo "not ok - $*" >&2
	for f in "$tmp"/*.log; do
		echo "--- $(basename "$f" .log)" >&2
		tail -20 "$f" >&2
	done
	exit 1
}
q() { psql -X -A -t -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }
start_node() {
	"$CHIMED" --config "$tmp/$1.yaml" >>"$tmp/$1.log" 2>&1 &
	pid[$1]=$!
}
stop_nodes() {
	for n in "${!pid[@]}"; do kill -TERM "${pid[$n]}"; done
	for n in "${!pid[@]}"; do wait "${pid[$n]}" || fail "$n exited with an error"; done
	pid=()
}
