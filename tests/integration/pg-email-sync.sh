#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# email_sync against a real Dovecot: the first run stores every message, a
# second run stores nothing, a new delivery is picked up by the next run
# and only it; max_messages 2 with 5 new messages gives 2, 2, 1 in UID
# order; a dry run counts what would be fetched and stores nothing; mail
# that was unread stays unread (\Seen is cleared again after the fetch)
# and mail that was read stays read; the headers are parsed.
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
    options: {}
  sync2:
    schedule: "*/5 * * * *"
    plugin: email_sync
    options: {max_messages: 2}
YAML

sql "INSERT INTO email_connections (id, imap_host, imap_port, tls_mode, username, password)
     VALUES (1, '127.0.0.1', $DOVECOT_IMAP_PORT, 'none', 'alice', 'secret')"

deliver alice 1 3
# Message 2 was already read before the sync; the others are unread.
doveadm -c "$DOVECOT_CONF" flags add -u alice '\Seen' mailbox INBOX uid 2

sync sync "$tmp/dry.out" --dry-run || true
expect_grep "dry run: 3 messages would be fetched" "$tmp/dry.out" "connection 1: 3 messages would be fetched"
expect_sql "dry run: nothing stored" "SELECT count(*) FROM emails" 0
expect_sql "dry run: connection untouched" \
	"SELECT uidvalidity IS NULL, last_uid, last_sync_at IS NULL FROM email_connections" "t|0|t"

sync sync "$tmp/run1.out" && ok "first run succeeds" || { not_ok "first run succeeds"; sed 's/^/#   /' "$tmp/run1.out"; }
expect_eq "first run: fetched 3" "$(count_of fetched "$tmp/run1.out")" 3
expect_sql "first run stores all 3, in UID order" \
	"SELECT string_agg(uid || ':' || message_id, ',' ORDER BY uid) FROM emails" \
	"1:<m1@test.example>,2:<m2@test.example>,3:<m3@test.example>"
expect_sql "headers parsed" \
	"SELECT from_addr, to_addr, subject, sent_date AT TIME ZONE 'UTC', size = length(raw)
	 FROM emails WHERE uid = 2" \
	"Sender 2 <s2@test.example>|alice@test.example|message 2|2026-03-02 06:02:00|t"
expect_sql "raw message stored byte for byte" \
	"SELECT convert_from(raw, 'UTF8') LIKE '%Body of message 3.' || chr(13) || chr(10) FROM emails WHERE uid = 3" t
uidv=$(doveadm -c "$DOVECOT_CONF" -f flow mailbox status -u alice uidvalidity INBOX | sed 's/.*=//')
expect_sql "connection advanced: uidvalidity, last_uid 3, last_sync_at, no error" \
	"SELECT uidvalidity, last_uid, last_sync_at IS NOT NULL, last_error IS NULL FROM email_connections" \
	"$uidv|3|t|t"
flags=$(doveadm -c "$DOVECOT_CONF" -f flow fetch -u alice 'uid flags' mailbox INBOX | tr '\n' ';')
expect_eq "unread mail left unread, read mail left read" "$flags" \
	"uid=1 flags=;uid=2 flags=\\Seen;uid=3 flags=;"

sync sync "$tmp/run2.out" && ok "second run succeeds" || not_ok "second run succeeds"
expect_eq "second run: fetched 0" "$(count_of fetched "$tmp/run2.out")" 0
expect_sql "second run stores nothing" "SELECT count(*) FROM emails" 3

deliver alice 4 4
sync sync "$tmp/run3.out" || true
expect_eq "new delivery: fetched 1" "$(count_of fetched "$tmp/run3.out")" 1
expect_sql "new delivery picked up, and only it" \
	"SELECT string_agg(uid::text, ',' ORDER BY uid), count(DISTINCT uid) FROM emails" "1,2,3,4|4"
expect_sql "last_uid 4" "SELECT last_uid FROM email_connections" 4

# max_messages: 2 with 5 new messages (UIDs 5..9): 2, then 2, then 1.
deliver alice 5 9
sync sync2 "$tmp/dry2.out" --dry-run || true
expect_grep "dry run with max_messages 2: 2 of 5" "$tmp/dry2.out" "connection 1: 2 messages would be fetched \(5 new\)"
for want in "2|5,6|6" "2|7,8|8" "1|9|9"; do
	sync sync2 "$tmp/max.out" || true
	IFS='|' read -r n uids last <<<"$want"
	expect_eq "max_messages 2: fetched $n" "$(count_of fetched "$tmp/max.out")" "$n"
	expect_sql "max_messages 2: UIDs $uids stored, last_uid $last" \
		"SELECT string_agg(uid::text, ',' ORDER BY uid), max(last_uid)
		 FROM emails, email_connections WHERE received_at = (SELECT max(received_at) FROM emails)" \
		"$uids|$last"
done
expect_sql "all 9 stored once" "SELECT count(*), count(DISTINCT uid), min(uid), max(uid) FROM emails" "9|9|1|9"
sync sync2 "$tmp/max4.out" || true
expect_eq "max_messages 2: a fourth run fetches nothing" "$(count_of fetched "$tmp/max4.out")" 0

finish
