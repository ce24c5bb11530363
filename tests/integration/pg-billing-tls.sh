#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# billing over TLS and against unfriendly mail servers:
#   - the gateway stub over HTTPS with a throwaway CA: trusted with
#     ca_file, refused with another CA (the order stays open and the next
#     run with the right CA charges it once);
#   - the SMTP sink with STARTTLS required: mail sent when the CA is
#     trusted, refused with another CA; starttls required against a server
#     without STARTTLS is refused too;
#   - an SMTP server that refuses the login: the notice fails, the error
#     names job, subscription and notice; a later run sends it;
#   - a template naming an unknown field: `chimectl check` exits 1 with
#     file:line:col.
set -euo pipefail
# shellcheck source=../harness/billing-fixture.sh
. "$CHIME_SOURCE_DIR/tests/harness/billing-fixture.sh"

make_ca "$tmp" good
make_ca "$tmp" other
echo tok-tls >"$tmp/token"
echo s3cret >"$tmp/smtp-password"
start_gateway "$tmp/gw" --token tok-tls --cert "$tmp/good-server.pem" --key "$tmp/good-server.key"
gw_port=$GW_PORT
start_sink "$tmp/smtp-tls" --starttls "$tmp/good-server.pem" "$tmp/good-server.key"
tls_port=$SMTP_PORT
start_sink "$tmp/smtp-plain"
plain_port=$SMTP_PORT
start_sink "$tmp/smtp-noauth" --reject-auth
noauth_port=$SMTP_PORT

status_job() { # NAME PORT EXTRA
	cat <<YAML
  $1:
    schedule: "0 3 * * *"
    plugin: billing
    options:
      action: status
      smtp: {url: "smtp://localhost:$2", from: "Billing <billing@echodesk.test>", timeout: 10s$3}
YAML
}
{
	cat <<YAML
timezone: UTC
database: {conninfo: ""}
jobs:
  charge-tls:
    schedule: "0 2 * * *"
    plugin: billing
    options:
      action: charge
      gateway: {url: "https://127.0.0.1:$gw_port/charge", token_file: "$tmp/token", ca_file: "$tmp/good-ca.pem"}
  charge-wrong-ca:
    schedule: "0 2 * * *"
    plugin: billing
    options:
      action: charge
      gateway: {url: "https://127.0.0.1:$gw_port/charge", token_file: "$tmp/token", ca_file: "$tmp/other-ca.pem"}
YAML
	status_job status-tls "$tls_port" ", ca_file: \"$tmp/good-ca.pem\""
	status_job status-wrong-ca "$tls_port" ", ca_file: \"$tmp/other-ca.pem\""
	status_job status-no-starttls "$plain_port" ""
	status_job status-login "$noauth_port" ", starttls: false, username: chime, password_file: \"$tmp/smtp-password\""
	status_job status-plain "$plain_port" ", starttls: false"
} >"$tmp/chime.yaml"

run() { # OUT JOB AT
	rc=0
	"$CHIMECTL" run "$2" --config "$tmp/chime.yaml" --at "$3" >"$1" 2>&1 || rc=$?
}
mails_in() { find "$1/mail" -name '*.eml' 2>/dev/null | wc -l | tr -d ' '; }

sql "INSERT INTO tenants (id, schema_name, name, admin_email) VALUES (1, 'acme', 'Acme', 'admin@acme.test');
     INSERT INTO subscriptions (id, tenant_id, plan, amount, currency, expires_at, card_saved, card_token)
     VALUES (1, 1, 'pro', 29.00, 'GEL', '2026-05-10 00:00Z', true, 'card-1')"

# The gateway over HTTPS.
run "$tmp/c1.out" charge-wrong-ca 2026-05-07T02:00:00Z
expect_eq "HTTPS with the wrong CA fails the run" "$rc" 1
expect_grep "... naming the subscription and the certificate problem" "$tmp/c1.out" \
	"subscription 1 \(tenant 'Acme'\): order 1: no answer from the gateway: .*(SSL|certificate)"
expect_eq "... and nothing reached the gateway" "$(received_key sub-1-20260510T000000Z)" 0
expect_sql "... the order stays pending" "SELECT status FROM payment_orders" pending
run "$tmp/c2.out" charge-tls 2026-05-08T02:00:00Z
expect_eq "HTTPS with the throwaway CA works" "$rc" 0
expect_sql "... the order succeeded" "SELECT status, attempts FROM payment_orders" "succeeded|2"
expect_eq "... one charge" "$(charges_key sub-1-20260510T000000Z)" 1
expect_grep "... with the bearer token from the file" "$GW_DIR/requests.jsonl" '"authorization": "Bearer tok-tls"'

# SMTP with STARTTLS (reminder_7 is due on 05-03 and, late, until 05-06).
run "$tmp/s1.out" status-wrong-ca 2026-05-03T03:00:00Z
expect_eq "STARTTLS with the wrong CA fails the run" "$rc" 1
expect_grep "... naming the subscription and notice" "$tmp/s1.out" \
	"subscription 1 \(tenant 'Acme'\): reminder_7 to 'admin@acme.test' not sent: .*(SSL|certificate)"
expect_sql "... the notice is recorded failed" "SELECT kind, status FROM notices" "reminder_7|failed"
run "$tmp/s2.out" status-no-starttls 2026-05-04T03:00:00Z
expect_eq "STARTTLS required against a server without it fails" "$rc" 1
expect_eq "... and sent nothing" "$(mails_in "$tmp/smtp-plain")" 0
run "$tmp/s3.out" status-tls 2026-05-05T03:00:00Z
expect_eq "STARTTLS with the throwaway CA works" "$rc" 0
expect_eq "... the late reminder arrives once" "$(mails_in "$tmp/smtp-tls")" 1
expect_sql "... and is recorded sent after three attempts" "SELECT kind, status, attempts FROM notices" "reminder_7|sent|3"

# A server refusing the login: reminder_3 (due 05-07) fails, then a run
# against a server that takes the mail sends it.
run "$tmp/l1.out" status-login 2026-05-07T03:00:00Z
expect_eq "a refused login fails the run" "$rc" 1
expect_grep "... naming job, subscription and notice" "$tmp/l1.out" \
	"job 'status-login' \(billing\).*subscription 1 \(tenant 'Acme'\): reminder_3 to 'admin@acme.test' not sent: .*([Ll]ogin|denied)"
expect_sql "... the notice is failed, not lost" "SELECT status FROM notices WHERE kind = 'reminder_3'" failed
run "$tmp/l2.out" status-plain 2026-05-08T03:00:00Z
expect_eq "the next run sends it" "$rc/$(mails_in "$tmp/smtp-plain")" "0/1"
expect_sql "... once" "SELECT status, attempts FROM notices WHERE kind = 'reminder_3'" "sent|2"

# A template with an unknown field is a check-time error with its place.
cat >"$tmp/bad.yaml" <<YAML
timezone: UTC
database: {conninfo: ""}
jobs:
  status:
    schedule: "0 3 * * *"
    plugin: billing
    options:
      action: status
      smtp: {url: "smtp://localhost:25", from: "b@echodesk.test"}
      templates:
        grace:
          subject: "Day {grace_dya} of {grace_days}"
YAML
rc=0
"$CHIMECTL" check "$tmp/bad.yaml" >"$tmp/check.out" 2>&1 || rc=$?
expect_eq "chimectl check rejects an unknown template field" "$rc" 1
expect_grep "... with file:line:col and the field" "$tmp/check.out" \
	"^$tmp/bad.yaml:12:[0-9]+: error: .*templates.grace.subject.*unknown field '\{grace_dya\}'"
finish
