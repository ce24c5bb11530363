#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# `make demo`: start a throwaway PostgreSQL cluster in a temp dir, load the
# reference schema, and run chimed in the foreground on config/demo.yaml.
# Ctrl-C (or SIGTERM) stops chimed, then the cluster, and removes the dir.
#
#   tests/harness/demo.sh BUILD_DIR
set -euo pipefail

build=${1:?usage: demo.sh BUILD_DIR}
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$build" && pwd)
chimed=$build/daemon/chimed
[ -x "$chimed" ] || { echo "demo: $chimed not built (run make build)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/chime-demo.XXXXXX)
chmod 755 "$tmp" # the cluster may run as 'postgres' when we are root
chimed_pid=

cleanup() {
	trap - INT TERM EXIT
	if [ -n "$chimed_pid" ] && kill -0 "$chimed_pid" 2>/dev/null; then
		kill -TERM "$chimed_pid" 2>/dev/null || true
		wait "$chimed_pid" 2>/dev/null || true
	fi
	echo "demo: stopping PostgreSQL and removing $tmp" >&2
	"$src/tests/harness/pgcluster.sh" stop "$tmp/pg" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

# chimed runs in a session of its own, so the terminal's Ctrl-C reaches
# only this script, which passes each signal on once: the first makes
# chimed drain its runs, a second makes it exit at once.
forward() {
	[ -n "$chimed_pid" ] || exit 130 # still setting up: just clean up
	kill -"$1" "$chimed_pid" 2>/dev/null || true
}
trap 'forward INT' INT
trap 'forward TERM' TERM

echo "demo: starting PostgreSQL in $tmp/pg" >&2
"$src/tests/harness/pgcluster.sh" start "$tmp/pg" >&2
# shellcheck disable=SC1091
. "$tmp/pg/env"

if [ -f "$src/config/sql/reference.sql" ]; then
	echo "demo: loading config/sql/reference.sql" >&2
	(cd "$src/config/sql" && psql -q -v ON_ERROR_STOP=1 -f reference.sql) >/dev/null
fi
if [ -f "$src/config/sql/demo-data.sql" ]; then
	echo "demo: loading config/sql/demo-data.sql" >&2
	(cd "$src/config/sql" && psql -q -v ON_ERROR_STOP=1 -f demo-data.sql) >/dev/null
fi

# --- billing (seed 002): a payment gateway stub and an SMTP sink --------
# config/demo.yaml's billing jobs call http://127.0.0.1:18080 and mail
# smtp://127.0.0.1:18025; the plugin finds the token through
# ${CHIME_DEMO_DIR}. Both servers exit by themselves once this script is gone.
export CHIME_DEMO_DIR=$tmp
mkdir -p "$tmp/gateway" "$tmp/smtp"
echo demo-token >"$tmp/gateway-token"
/usr/bin/python3 "$src/tests/harness/gateway_stub.py" --dir "$tmp/gateway" --port 18080 \
	--token demo-token --parent $$ 2>>"$tmp/gateway/stderr" &
/usr/bin/python3 "$src/tests/harness/smtp_sink.py" --dir "$tmp/smtp" --port 18025 \
	--parent $$ 2>>"$tmp/smtp/stderr" &
echo "demo: gateway stub on 127.0.0.1:18080 (charges in $tmp/gateway/charges.jsonl)," \
	"SMTP sink on 127.0.0.1:18025 (mail in $tmp/smtp/mail)" >&2
# --- end billing ----------------------------------------------------------

"$chimed" --check --config "$src/config/demo.yaml" >&2
echo "demo: running chimed on config/demo.yaml; Ctrl-C stops it" >&2
setsid "$chimed" --config "$src/config/demo.yaml" &
chimed_pid=$!
while kill -0 "$chimed_pid" 2>/dev/null; do
	# wait returns early whenever a trapped signal arrives: wait again.
	wait "$chimed_pid" || true
done
chimed_pid=
exit 0
