#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Bad input for email_sync, each recorded on its own connection while the
# others go on: a host that does not resolve, a refused port, a login
# failure, a TLS failure (IMAPS and STARTTLS against a CA that did not sign
# the server's certificate); IMAPS and STARTTLS with the throwaway CA and a
# password read from a password_ref file work; a message with broken MIME
# and 8-bit (not UTF-8) headers is stored raw, its headers read as Latin-1
# and its unreadable date NULL; a 50 MB message over max_size is not fetched (a row with raw NULL,
# its size, and a note in last_error) and the messages after it are.
set -euo pipefail
# shellcheck disable=SC1091
. "$CHIME_SOURCE_DIR/tests/harness/email-fixture.sh"

"$dovecot_sh" user "$tmp/dovecot" carol carols-password
"$dovecot_sh" user "$tmp/dovecot" erin erins-password
deliver carol 1 2
printf 'carols-password\n' >"$tmp/carol.pw"

# erin: a normal message, broken MIME with Latin-1 headers, a UTF-8
# subject, 50 MB, and a normal one after it.
message 1 | "$dovecot_sh" save "$tmp/dovecot" erin
{
	printf 'Message-ID: <m2@test.example>\r\nFrom: Ren\xe9 <rene@test.example>\r\n'
	printf 'Subject: Gr\xfc\xdfe aus K\xf6ln\r\nTo: erin@test.example\r\nDate: yesterday-ish\r\n'
	printf 'this line has no colon\r\nMIME-Version: 1.0\r\n'
	printf 'Content-Type: multipart/mixed\r\n\r\n--nothing\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!notbase64\xff\xfe\r\n'
} | "$dovecot_sh" save "$tmp/dovecot" erin
message 3 'Grüße aus Köln' | "$dovecot_sh" save "$tmp/dovecot" erin
{
	message 4 'the big one'
	head -c 52428800 /dev/zero | tr '\0' x | fold -w 100
} | "$dovecot_sh" save "$tmp/dovecot" erin
message 5 | "$dovecot_sh" save "$tmp/dovecot" erin
deliver alice 1 1

closed=$( (python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])') )
sql "INSERT INTO email_connections (id, label, imap_host, imap_port, tls_mode, username, password, password_ref) VALUES
 (1, 'dns',      'no-such-host.invalid', 143, 'none', 'alice', 'secret', NULL),
 (2, 'refused',  '127.0.0.1', $closed, 'none', 'alice', 'secret', NULL),
 (3, 'login',    '127.0.0.1', $DOVECOT_IMAP_PORT, 'none', 'alice', 'wrong-secret', NULL),
 (4, 'imaps',    'localhost', $DOVECOT_IMAPS_PORT, 'imaps', 'carol', NULL, '$tmp/carol.pw'),
 (5, 'starttls', 'localhost', $DOVECOT_IMAP_PORT, 'starttls', 'carol', 'carols-password', NULL),
 (6, 'mime',     '127.0.0.1', $DOVECOT_IMAP_PORT, 'none', 'erin', 'erins-password', NULL),
 (7, 'good',     '127.0.0.1', $DOVECOT_IMAP_PORT, 'none', 'alice', 'secret', NULL)"

cat >"$tmp/chime.yaml" <<YAML
timezone: UTC
database: {conninfo: ""}
jobs:
  sync:
    schedule: "*/5 * * * *"
    plugin: email_sync
    options: {ca_file: "$DOVECOT_CA", max_size: 1048576, timeout: 30s}
  wrongca:
    schedule: "*/5 * * * *"
    plugin: email_sync
    options: {ca_file: "$DOVECOT_OTHER_CA", timeout: 30s}
YAML

sync sync "$tmp/run1.out" && ok "run with broken connections succeeds" ||
	{ not_ok "run with broken connections succeeds"; sed 's/^/#   /' "$tmp/run1.out"; }
expect_eq "report: 7 connections, 4 synced, 3 failed" \
	"$(count_of connections "$tmp/run1.out") $(count_of synced "$tmp/run1.out") $(count_of failed "$tmp/run1.out")" "7 4 3"
expect_sql "each error on its own connection" \
	"SELECT label, CASE
	   WHEN last_error LIKE 'Could not resolve host: no-such-host.invalid%' THEN 'dns'
	   WHEN last_error LIKE 'Failed to connect to 127.0.0.1 port $closed%' THEN 'refused'
	   WHEN last_error LIKE 'login failed%' THEN 'login'
	   WHEN last_error LIKE 'message UID 4 (%bytes) is over max_size 1048576: skipped, not fetched' THEN 'oversized'
	   ELSE coalesce(last_error, 'ok') END, last_error_at IS NOT NULL, last_sync_at IS NOT NULL
	 FROM email_connections ORDER BY id" \
	"dns|dns|t|f
refused|refused|t|f
login|login|t|f
imaps|ok|f|t
starttls|ok|f|t
mime|oversized|t|t
good|ok|f|t"
expect_sql "IMAPS (password_ref) and STARTTLS with the throwaway CA: 2 messages each" \
	"SELECT connection_id, count(*) FROM emails WHERE connection_id IN (4, 5) GROUP BY 1 ORDER BY 1" "4|2
5|2"
expect_sql "the good connection synced" "SELECT count(*) FROM emails WHERE connection_id = 7" 1
expect_sql "broken MIME, raw Latin-1 headers: stored raw, headers read as Latin-1, bad date NULL" \
	"SELECT message_id, from_addr, subject, to_addr, sent_date IS NULL,
	        position('\\xff'::bytea in raw) > 0
	 FROM emails WHERE connection_id = 6 AND uid = 2" \
	"<m2@test.example>|René <rene@test.example>|Grüße aus Köln|erin@test.example|t|t"
expect_sql "UTF-8 subject kept" "SELECT subject FROM emails WHERE connection_id = 6 AND uid = 3" "Grüße aus Köln"
expect_sql "50 MB message: not fetched, its size recorded" \
	"SELECT raw IS NULL, size > 52428800 FROM emails WHERE connection_id = 6 AND uid = 4" "t|t"
expect_sql "messages around it stored, last_uid past it" \
	"SELECT string_agg(uid::text, ',' ORDER BY uid), max(c.last_uid)
	 FROM emails e JOIN email_connections c ON c.id = e.connection_id WHERE c.id = 6" "1,2,3,4,5|5"
expect_grep "report: 1 skipped" "$tmp/run1.out" "^skipped: 1$"
if grep -q -e 'carols-password' -e 'wrong-secret' -e 'erins-password' "$tmp/run1.out"; then
	not_ok "no password in the output"
else
	ok "no password in the output"
fi

sql "UPDATE email_connections SET last_error = NULL, last_error_at = NULL"
deliver carol 3 3
sync wrongca "$tmp/run2.out" || true
expect_sql "a CA that did not sign the certificate: TLS refused on IMAPS and STARTTLS" \
	"SELECT id, last_error LIKE '%certificate%' FROM email_connections WHERE id IN (4, 5) ORDER BY id" \
	"4|t
5|t"
expect_sql "nothing fetched over the refused TLS" \
	"SELECT count(*) FROM emails WHERE connection_id IN (4, 5)" 4
sync sync "$tmp/run3.out" || true
expect_sql "with the right CA again: carol's new message on both" \
	"SELECT count(*), max(last_uid) FROM emails e JOIN email_connections c ON c.id = e.connection_id
	 WHERE c.id IN (4, 5)" "6|3"

finish
