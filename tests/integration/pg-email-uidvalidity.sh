#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A UIDVALIDITY change (the mailbox deleted and created again) voids the
# stored UIDs: the next run notices it, resyncs from UID 1 under the new
# UIDVALIDITY, notes it in last_error and the report, and duplicates
# nothing: a message still in the mailbox is matched on its Message-ID
# (counted already_stored). A further run stores nothing and clears the
# note. A mailbox that does not exist is an error
# on the connection.
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
YAML
doveadm -c "$DOVECOT_CONF" mailbox create -u alice Support
sql "INSERT INTO email_connections (id, imap_host, imap_port, tls_mode, username, password, mailbox)
     VALUES (1, '127.0.0.1', $DOVECOT_IMAP_PORT, 'none', 'alice', 'secret', 'Support')"
deliver alice 1 3 Support
uidv() { doveadm -c "$DOVECOT_CONF" -f flow mailbox status -u alice uidvalidity Support | sed 's/.*=//'; }
v1=$(uidv)

sync sync "$tmp/run1.out" || true
expect_sql "first run: 3 stored under the first UIDVALIDITY" \
	"SELECT count(*), min(uidvalidity), max(uidvalidity), max(uid) FROM emails" "3|$v1|$v1|3"

doveadm -c "$DOVECOT_CONF" mailbox delete -u alice Support
sleep 1 # Dovecot's UIDVALIDITY is the creation second: a new second, a new value
doveadm -c "$DOVECOT_CONF" mailbox create -u alice Support
deliver alice 10 11 Support
deliver alice 1 1 Support # still in the mailbox: UID 3 now, stored before as UID 1
v2=$(uidv)
[ "$v1" != "$v2" ] && ok "the recreated mailbox has a new UIDVALIDITY ($v1 -> $v2)" ||
	not_ok "the recreated mailbox has a new UIDVALIDITY ($v1 -> $v2)"

sync sync "$tmp/run2.out" && ok "resync run succeeds" || { not_ok "resync run succeeds"; sed 's/^/#   /' "$tmp/run2.out"; }
expect_eq "report: one UIDVALIDITY reset" "$(count_of uidvalidity_resets "$tmp/run2.out")" 1
expect_grep "report names the change" "$tmp/run2.out" "UIDVALIDITY changed from $v1 to $v2"
expect_eq "resync fetched the 2 new messages" "$(count_of fetched "$tmp/run2.out")" 2
expect_eq "resync matched message 1 on its Message-ID" "$(count_of already_stored "$tmp/run2.out")" 1
expect_sql "new UIDs stored under the new UIDVALIDITY, the old rows kept, no duplicate key" \
	"SELECT uidvalidity = $v2, string_agg(uid || '=' || message_id, ',' ORDER BY uid)
	 FROM emails GROUP BY 1 ORDER BY 1" \
	"f|1=<m1@test.example>,2=<m2@test.example>,3=<m3@test.example>
t|1=<m10@test.example>,2=<m11@test.example>"
expect_sql "connection: new uidvalidity, last_uid 3, the change noted" \
	"SELECT uidvalidity, last_uid, last_error LIKE 'UIDVALIDITY changed from $v1 to $v2%' FROM email_connections" \
	"$v2|3|t"
sync sync "$tmp/run3.out" || true
expect_eq "next run: nothing" "$(count_of fetched "$tmp/run3.out")" 0
expect_sql "next run: 5 rows, note cleared" \
	"SELECT (SELECT count(*) FROM emails), last_error IS NULL FROM email_connections" "5|t"

doveadm -c "$DOVECOT_CONF" mailbox delete -u alice Support
sync sync "$tmp/run4.out" && not_ok "missing mailbox: the run fails" || ok "missing mailbox: the run fails"
expect_sql "missing mailbox: recorded on the connection" \
	"SELECT last_error LIKE '%cannot open the mailbox \"Support\"%', last_uid FROM email_connections" "t|3"

finish
