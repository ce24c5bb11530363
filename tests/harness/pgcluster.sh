#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A throwaway PostgreSQL 15 cluster for the tests and the demo.
#
#   pgcluster.sh start DIR [shared]
#                             initdb DIR/data (trust auth, fsync off), start it
#                             on a free loopback port with its socket in DIR,
#                             and write DIR/env (PGHOST, PGPORT, PGUSER) for
#                             sourcing; `shared` marks the cluster every pg-
#                             test uses (the ctest fixture), which halt and
#                             resume then refuse
#   pgcluster.sh halt DIR     stop the server, keep the data (outage tests,
#                             on a cluster of their own)
#   pgcluster.sh resume DIR   start it again on the same port
#   pgcluster.sh stop DIR     stop the server and remove DIR
#
# initdb and postgres refuse to run as root: as root they run as the
# unprivileged 'postgres' user (created by Debian's postgresql package).
set -euo pipefail

cmd=${1:?usage: pgcluster.sh start|halt|resume|stop DIR}
dir=${2:?usage: pgcluster.sh start|halt|resume|stop DIR}
bindir=${PG_BINDIR:-/usr/lib/postgresql/15/bin}

as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

free_port() {
	local port
	for _ in $(seq 1 50); do
		port=$((20000 + RANDOM % 30000))
		if ! (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	echo "pgcluster.sh: no free port found" >&2
	return 1
}

server_start() {
	local port=$1
	as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
		-o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off \
		    -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
		start >/dev/null
}

# Halting the shared cluster would fail every pg- test running beside the
# one that halts it (see tests/CMakeLists.txt): outage tests start their own.
refuse_shared() {
	if [ -e "$dir/shared" ]; then
		echo "pgcluster.sh: $dir is the cluster shared by the pg- tests; $cmd it" \
			"only on a cluster of your own (pgcluster.sh start TMPDIR)" >&2
		exit 1
	fi
}

case "$cmd" in
start)
	rm -rf "$dir"
	mkdir -p "$dir"
	[ "${3:-}" = shared ] && : >"$dir/shared"
	[ "$(id -u)" = 0 ] && chown postgres: "$dir"
	as_owner "$bindir/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 \
		--locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; exit 1; }
	port=$(free_port)
	server_start "$port" || { cat "$dir/postgres.log" >&2; exit 1; }
	cat >"$dir/env" <<ENV
export PGHOST=$dir
export PGPORT=$port
export PGUSER=postgres
export PGDATABASE=postgres
export CHIME_PG_DIR=$dir
ENV
	chmod a+r "$dir/env"
	echo "PostgreSQL on port $port, socket in $dir"
	;;
halt)
	refuse_shared
	as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
	;;
resume)
	refuse_shared
	# shellcheck disable=SC1091
	. "$dir/env"
	server_start "$PGPORT"
	;;
stop)
	if [ -d "$dir/data" ]; then
		as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
	;;
*)
	echo "usage: pgcluster.sh start|halt|resume|stop DIR" >&2
	exit 2
	;;
esac
