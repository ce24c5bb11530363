#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A sync killed with SIGKILL in the middle neither loses nor duplicates a
# message: at any instant last_uid equals the highest UID stored (messages
# and last_uid are committed together, per chunk), a re-run stores exactly
# the rest, and a third run stores nothing. 300 messages of 2 KB, chunks of
# 5, and a trigger that sleeps 10 ms per stored row make the run slow
# enough to be killed half-way.
set -euo pipefail
# shellcheck disable=SC1091
. "$CHIME_SOURCE_DIR/tests/harness/email-fixture.sh"

cat >"$tmp/chime.yaml" <<YAML
timezone: UTC
database: {conninfo: ""}
jobs:
  sync:
    schedule: "*/5 * * * *"
    plugin: email_sync
    options: {batch_size: 5}
YAML
sql "INSERT INTO email_connections (id, imap_host, imap_port, tls_mode, username, password)
     VALUES (1, '127.0.0.1', $DOVECOT_IMAP_PORT, 'none', 'alice', 'secret');
CREATE FUNCTION slow_down() RETURNS trigger LANGUAGE plpgsql AS
 \$\$ BEGIN PERFORM pg_sleep(0.01); RETURN NULL; END \$\$;
CREATE TRIGGER slow_down AFTER INSERT ON emails FOR EACH ROW EXECUTE FUNCTION slow_down();"
"$dovecot_sh" fill "$tmp/dovecot" alice 1 300 2000

slot=$((slot + 1))
"$CHIMECTL" run sync --config "$tmp/chime.yaml" --at 2026-03-02T09:00:00Z >"$tmp/killed.out" 2>&1 &
pid=$!
email_pids+=("$pid")
for _ in $(seq 1 600); do
	n=$(sql "SELECT count(*) FROM emails")
	[ "$n" -ge 60 ] && break
	sleep 0.05
done
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
for _ in $(seq 1 200); do
	n=$(sql "SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()")
	[ "$n" = 0 ] && break
	sleep 0.05
done
killed=$(sql "SELECT count(*) FROM emails")
if [ "$killed" -gt 0 ] && [ "$killed" -lt 300 ]; then
	ok "killed mid-sync: $killed of 300 stored"
else
	not_ok "killed mid-sync: $killed of 300 stored (the kill did not land mid-run)"
	sed 's/^/#   /' "$tmp/killed.out"
fi
expect_sql "after SIGKILL: last_uid is the highest UID stored, UIDs 1..n without a gap" \
	"SELECT c.last_uid = max(e.uid), count(*) = max(e.uid), count(*) = count(DISTINCT e.uid)
	 FROM email_connections c JOIN emails e ON e.connection_id = c.id GROUP BY c.last_uid" "t|t|t"
expect_sql "after SIGKILL: whole chunks only" "SELECT count(*) % 5 FROM emails" 0

sql "DROP TRIGGER slow_down ON emails"
sync sync "$tmp/rerun.out" && ok "re-run succeeds" || { not_ok "re-run succeeds"; sed 's/^/#   /' "$tmp/rerun.out"; }
expect_eq "re-run stores exactly the rest" "$(count_of fetched "$tmp/rerun.out")" "$((300 - killed))"
expect_sql "after re-run: 300 messages, each once, UID = its number" \
	"SELECT count(*), count(DISTINCT uid), count(DISTINCT message_id),
	        count(*) FILTER (WHERE message_id = '<m' || uid || '@test.example>')
	 FROM emails" "300|300|300|300"
expect_sql "after re-run: last_uid 300" "SELECT last_uid FROM email_connections" 300
sync sync "$tmp/third.out" || true
expect_eq "third run stores nothing" "$(count_of fetched "$tmp/third.out")" 0
expect_sql "third run: still 300" "SELECT count(*) FROM emails" 300

finish
