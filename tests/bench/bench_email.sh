#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench_email: messages per second synced from a local Dovecot into
# PostgreSQL by the email_sync plugin (`chimectl run`), 1,000 messages of
# 10 KB, against curl(1) fetching the same messages one by one from a
# shell loop (one process and one IMAP login per message), and curl with
# every URL in one invocation (one connection, no database): the wire
# alone. Three rounds each; medians printed.
#
#   tests/bench/bench_email.sh [BUILD_DIR]     (default: build)
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$src/build}
chimectl=${CHIMECTL:-$build/daemon/chimectl}
n=${BENCH_MESSAGES:-1000}
size=${BENCH_SIZE:-10000}
rounds=${BENCH_ROUNDS:-3}
tmp=$(mktemp -d)
chmod 755 "$tmp"
cleanup() {
	"$src/tests/harness/dovecot.sh" stop "$tmp/dovecot" >/dev/null 2>&1 || true
	"$src/tests/harness/pgcluster.sh" stop "$tmp/pg" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

"$src/tests/harness/pgcluster.sh" start "$tmp/pg" >/dev/null
# shellcheck disable=SC1091
. "$tmp/pg/env"
"$src/tests/harness/dovecot.sh" start "$tmp/dovecot" >/dev/null
# shellcheck disable=SC1091
. "$tmp/dovecot/env"
"$src/tests/harness/dovecot.sh" user "$tmp/dovecot" alice secret
"$src/tests/harness/dovecot.sh" fill "$tmp/dovecot" alice 1 "$n" "$size"
psql -qX -v ON_ERROR_STOP=1 -f "$src/config/sql/email.sql" >/dev/null
cat >"$tmp/chime.yaml" <<YAML
timezone: UTC
database: {conninfo: ""}
jobs:
  sync:
    schedule: "*/5 * * * *"
    plugin: email_sync
    options: {max_messages: $n}
YAML
sql() { psql -qAtX -v ON_ERROR_STOP=1 -c "$1"; }
now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
url="imap://127.0.0.1:$DOVECOT_IMAP_PORT/INBOX"

plugin=() shell=() batch=()
for r in $(seq 1 "$rounds"); do
	sql "TRUNCATE emails, email_connections RESTART IDENTITY;
	     INSERT INTO email_connections (imap_host, imap_port, tls_mode, username, password)
	     VALUES ('127.0.0.1', $DOVECOT_IMAP_PORT, 'none', 'alice', 'secret')"
	t0=$(now)
	"$chimectl" run sync --config "$tmp/chime.yaml" --at "2026-03-02T10:00:0${r}Z" >"$tmp/run.out"
	t1=$(now)
	got=$(sql "SELECT count(*) FROM emails WHERE raw IS NOT NULL")
	[ "$got" = "$n" ] || { echo "bench_email: plugin stored $got of $n" >&2; cat "$tmp/run.out" >&2; exit 1; }
	plugin+=("$(echo "$n / ($t1 - $t0)" | bc -l)")

	rm -rf "$tmp/out" && mkdir "$tmp/out"
	t0=$(now)
	for uid in $(seq 1 "$n"); do
		curl -s --user alice:secret "$url;UID=$uid" -o "$tmp/out/$uid.eml"
	done
	t1=$(now)
	[ -s "$tmp/out/$n.eml" ] || { echo "bench_email: curl loop failed" >&2; exit 1; }
	shell+=("$(echo "$n / ($t1 - $t0)" | bc -l)")

	rm -rf "$tmp/out" && mkdir "$tmp/out"
	for uid in $(seq 1 "$n"); do printf 'url = "%s;UID=%s"\noutput = "%s/out/%s.eml"\n' \
		"$url" "$uid" "$tmp" "$uid"; done >"$tmp/curl.cfg"
	t0=$(now)
	curl -s --user alice:secret -K "$tmp/curl.cfg"
	t1=$(now)
	[ -s "$tmp/out/$n.eml" ] || { echo "bench_email: curl -K failed" >&2; exit 1; }
	batch+=("$(echo "$n / ($t1 - $t0)" | bc -l)")
done
bytes=$(sql "SELECT sum(size) FROM emails")
printf 'bench_email: %d messages, %d bytes in all, %d rounds (medians)\n' "$n" "$bytes" "$rounds"
printf '  email_sync plugin (IMAP -> PostgreSQL)   %8.1f msg/s\n' "$(printf '%s\n' "${plugin[@]}" | median)"
printf '  curl per message, shell loop (no DB)     %8.1f msg/s\n' "$(printf '%s\n' "${shell[@]}" | median)"
printf '  curl, all URLs in one process (no DB)    %8.1f msg/s\n' "$(printf '%s\n' "${batch[@]}" | median)"
