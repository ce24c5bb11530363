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
#   pgcluster.sh crash DIR    stop the server as a crash would (-m immediate:
#                             backends killed, recovery at the next start)
#   pgcluster.sh resume DIR   start it again on the same port
#   pgcluster.sh stop DIR     stop the server and remove DIR
#   pgcluster.sh standby PRIMARY DIR
#                             a streaming standby of the cluster in PRIMARY
#                             (pg_basebackup -R, asynchronous), started on
#                             a free port; DIR/env as for start
#   pgcluster.sh promote DIR  promote the standby in DIR to a primary
#
# initdb and postgres refuse to run as root: as root they run as the
# unprivileged 'postgres' user (created by Debian's postgresql package).
#
# DIR/owner (written first by start) holds the pid of the process that
# started the cluster: start and stop touch only a DIR that has it (never
# a directory or a server someone else made), both refuse a running
# server while that process still lives and is not their caller (a second
# ctest run in the same build tree), start clears away a server its dead
# owner left running, and resume refuses a server that is already up.
set -euo pipefail

cmd=${1:?usage: pgcluster.sh start|halt|crash|resume|stop|standby|promote DIR}
dir=${2:?usage: pgcluster.sh start|halt|crash|resume|stop|standby|promote DIR}
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

# postmaster_pid: the pid of the live server in DIR/data, if there is one.
postmaster_pid() {
	local pid
	pid=$(head -1 "$dir/data/postmaster.pid" 2>/dev/null) || return 1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	echo "$pid"
}

# ours: DIR was made by this script (a tree of an older version has env).
ours() { [ -e "$dir/owner" ] || [ -e "$dir/env" ]; }

# other_owner: the pid of a live process other than our caller that
# started the cluster in DIR, if there is one.
other_owner() {
	local owner
	owner=$(cat "$dir/owner" 2>/dev/null) || return 1
	[ -n "$owner" ] && [ "$owner" != "$PPID" ] && kill -0 "$owner" 2>/dev/null || return 1
	echo "$owner"
}

# Clear DIR for a new cluster, or exit 1 saying why it cannot be.
start_guard() {
	local pid owner
	[ -e "$dir" ] || return 0
	if ! ours && [ -n "$(ls -A "$dir")" ]; then
		echo "pgcluster.sh: $dir exists and was not made by pgcluster.sh; not removing it" >&2
		exit 1
	fi
	pid=$(postmaster_pid) || return 0
	if owner=$(other_owner); then
		echo "pgcluster.sh: the cluster in $dir (postmaster $pid) belongs to the" \
			"running process $owner (another test run?); not starting a second one" >&2
		exit 1
	fi
	echo "pgcluster.sh: stopping postmaster $pid left in $dir by an interrupted run" >&2
	as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null
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

# write_env PORT: DIR/env, for sourcing.
write_env() {
	cat >"$dir/env" <<ENV
export PGHOST=$dir
export PGPORT=$1
export PGUSER=postgres
export PGDATABASE=postgres
export CHIME_PG_DIR=$dir
ENV
	chmod a+r "$dir/env"
}

case "$cmd" in
start)
	start_guard
	rm -rf "$dir"
	mkdir -p "$dir"
	echo "$PPID" >"$dir/owner"
	[ "${3:-}" = shared ] && : >"$dir/shared"
	[ "$(id -u)" = 0 ] && chown postgres: "$dir"
	as_owner "$bindir/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 \
		--locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; exit 1; }
	port=$(free_port)
	server_start "$port" || { cat "$dir/postgres.log" >&2; exit 1; }
	write_env "$port"
	echo "PostgreSQL on port $port, socket in $dir"
	;;
standby)
	# The standby's DIR is the third argument; the primary's is DIR.
	primary=$dir
	dir=${3:?usage: pgcluster.sh standby PRIMARY DIR}
	primary_port=$(sed -n 's/^export PGPORT=//p' "$primary/env")
	start_guard
	rm -rf "$dir"
	mkdir -p "$dir"
	echo "$PPID" >"$dir/owner"
	[ "$(id -u)" = 0 ] && chown postgres: "$dir"
	as_owner "$bindir/pg_basebackup" -h "$primary" -p "$primary_port" -U postgres \
		-D "$dir/data" -R -X stream -c fast --no-sync >"$dir/basebackup.log" 2>&1 ||
		{ cat "$dir/basebackup.log" >&2; exit 1; }
	port=$(free_port)
	server_start "$port" || { cat "$dir/postgres.log" >&2; exit 1; }
	write_env "$port"
	echo "standby of $primary on port $port, socket in $dir"
	;;
promote)
	refuse_shared
	as_owner "$bindir/pg_ctl" -D "$dir/data" -w promote >/dev/null
	;;
halt)
	refuse_shared
	as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
	;;
crash)
	refuse_shared
	as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null
	;;
resume)
	refuse_shared
	if pid=$(postmaster_pid); then
		echo "pgcluster.sh: the server in $dir is already running (postmaster $pid)" >&2
		exit 1
	fi
	# shellcheck disable=SC1091
	. "$dir/env"
	server_start "$PGPORT"
	;;
stop)
	[ -e "$dir" ] || exit 0
	if ! ours; then
		echo "pgcluster.sh: $dir was not made by pgcluster.sh; not removing it" >&2
		exit 1
	fi
	if owner=$(other_owner) && postmaster_pid >/dev/null; then
		echo "pgcluster.sh: the cluster in $dir belongs to the running process" \
			"$owner (another test run?); not stopping it" >&2
		exit 1
	fi
	if [ -d "$dir/data" ]; then
		as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
	;;
*)
	echo "usage: pgcluster.sh start|halt|crash|resume|stop|standby|promote DIR" >&2
	exit 2
	;;
esac
