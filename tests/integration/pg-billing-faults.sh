#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# billing `charge` against a misbehaving gateway; never two charges for one
# period. Each case has its own subscription expiring on its own date:
#   A  500 then 200 (two subscriptions due: the second is charged although
#      the first failed; the first is charged once by the next run)
#   B  the gateway hangs past the timeout (but charges): the next run
#      repeats the call with the same key and gets the original answer
#   C  chimectl killed (SIGKILL) while the gateway holds the call: re-run,
#      one charge, the order ends succeeded
#   D  402 declined: failed with the gateway's message, never called again
#   E  two runs of the plugin at once on one period: one call, one charge
#   F  the token file missing (${CREDENTIALS_DIRECTORY} unset, file absent)
#   G  a gateway host that does not resolve: the error names job and
#      subscription, the order stays open
set -euo pipefail
# shellcheck source=../harness/billing-fixture.sh
. "$CHIME_SOURCE_DIR/tests/harness/billing-fixture.sh"

echo tok-faults >"$tmp/token"
mkdir -p "$tmp/creds"
start_gateway "$tmp/gw" --token tok-faults
url="http://127.0.0.1:$GW_PORT/charge"

cat >"$tmp/chime.yaml" <<YAML
timezone: UTC
database: {conninfo: ""}
jobs:
  charge:
    schedule: "0 2 * * *"
    plugin: billing
    options:
      action: charge
      gateway: {url: "$url", token_file: "$tmp/token", timeout: 20s}
  charge-fast:
    schedule: "0 2 * * *"
    plugin: billing
    options:
      action: charge
      gateway: {url: "$url", token_file: "$tmp/token", timeout: 1s, connect_timeout: 1s}
  charge-cred:
    schedule: "0 2 * * *"
    plugin: billing
    options:
      action: charge
      gateway: {url: "$url", token_file: "\${CREDENTIALS_DIRECTORY}/gateway-token"}
  charge-badhost:
    schedule: "0 2 * * *"
    plugin: billing
    options:
      action: charge
      gateway: {url: "https://gateway.invalid/charge", token_file: "$tmp/token", connect_timeout: 5s}
YAML

run() { # OUT JOB AT: exit status in $rc
	rc=0
	"$CHIMECTL" run "$2" --config "$tmp/chime.yaml" --at "$3" >"$1" 2>&1 || rc=$?
}
control() { printf '%s\n' "$@" >"$GW_DIR/control"; }
# new_sub ID EXPIRY [CARD]: a tenant and subscription; older ones cancelled
new_sub() {
	sql "UPDATE subscriptions SET status = 'cancelled';
	     INSERT INTO tenants (id, schema_name, name, admin_email) VALUES ($1, 't$1', 'T$1', 'a$1@t.test');
	     INSERT INTO subscriptions (id, tenant_id, plan, amount, currency, expires_at, card_saved, card_token)
	     VALUES ($1, $1, 'pro', 19.99, 'GEL', '$2', ${3:-true}, 'card-$1')"
}
add_sub() { # like new_sub, without cancelling the others
	sql "INSERT INTO tenants (id, schema_name, name, admin_email) VALUES ($1, 't$1', 'T$1', 'a$1@t.test');
	     INSERT INTO subscriptions (id, tenant_id, plan, amount, currency, expires_at, card_saved, card_token)
	     VALUES ($1, $1, 'pro', 5.00, 'GEL', '$2', ${3:-true}, 'card-$1')"
}
order() { sql "SELECT status, attempts, coalesce(gateway_order_id, '-'), coalesce(gateway_message, '-') FROM payment_orders WHERE subscription_id = $1"; }

# A: 500 then 200; a second subscription in the same run still charged.
new_sub 1 "2026-06-10 00:00Z"
add_sub 2 "2026-06-10 00:00Z"
add_sub 9 "2026-06-10 00:00Z" false
control "500 Service unavailable" "200"
run "$tmp/a1.out" charge 2026-06-08T02:00:00Z
expect_eq "A: a 5xx fails the run" "$rc" 1
expect_grep "A: the error names job, subscription and key" "$tmp/a1.out" \
	"job 'charge' \(billing\).*subscription 1 \(tenant 'T1'\): order 1: gateway answered 500: Service unavailable; retried next run with key $KEY_PREFIX-sub-1-20260610T000000Z"
expect_sql "A: order 1 pending with the error" "SELECT status, attempts, gateway_message FROM payment_orders WHERE subscription_id = 1" \
	"pending|1|Service unavailable"
expect_sql "A: subscription 2 charged in the same run" "SELECT status FROM payment_orders WHERE subscription_id = 2" succeeded
expect_grep "A: the card-less subscription is skipped and reported" "$tmp/a1.out" \
	"subscription 9 \(tenant 'T9'\): no saved card, skipped"
run "$tmp/a2.out" charge 2026-06-09T02:00:00Z
expect_eq "A: the next run succeeds" "$rc" 0
expect_sql "A: order 1 succeeded on the second attempt" "SELECT status, attempts FROM payment_orders WHERE subscription_id = 1" \
	"succeeded|2"
expect_eq "A: two calls with key sub-1, one charge" \
	"$(received_key sub-1-20260610T000000Z)/$(charges_key sub-1-20260610T000000Z)" "2/1"
expect_eq "A: subscription 2 not called again" "$(received_key sub-2-20260610T000000Z)" 1

# B: the gateway hangs past our timeout, then charges; the retry gets the
# original answer with the same key.
new_sub 3 "2026-07-10 00:00Z"
control "hang 3" "200"
run "$tmp/b1.out" charge-fast 2026-07-08T02:00:00Z
expect_eq "B: a timeout fails the run" "$rc" 1
expect_grep "B: the error says no answer" "$tmp/b1.out" \
	"subscription 3 \(tenant 'T3'\): order [0-9]+: no answer from the gateway: .*[Tt]imed? ?out.*retried next run with key $KEY_PREFIX-sub-3-20260710T000000Z"
expect_sql "B: the order stays pending" "SELECT status FROM payment_orders WHERE subscription_id = 3" pending
wait_for 10 '[ "$(charges_key sub-3-20260710T000000Z)" = 1 ]' || not_ok "B: the stub finished the hung call"
run "$tmp/b2.out" charge-fast 2026-07-09T02:00:00Z
expect_eq "B: the retry succeeds" "$rc" 0
expect_sql "B: order succeeded with the original gateway order" \
	"SELECT status, gateway_order_id = '$(grep sub-3 "$GW_DIR/charges.jsonl" | sed 's/.*"order_id": "\([^"]*\)".*/\1/')' FROM payment_orders WHERE subscription_id = 3" \
	"succeeded|t"
expect_eq "B: two calls with the same key, one charge" \
	"$(received_key sub-3-20260710T000000Z)/$(charges_key sub-3-20260710T000000Z)" "2/1"

# C: SIGKILL between the order insert and the gateway's answer.
new_sub 4 "2026-08-10 00:00Z"
control "hang 3" "200"
"$CHIMECTL" run charge --config "$tmp/chime.yaml" --at 2026-08-08T02:00:00Z >"$tmp/c1.out" 2>&1 &
victim=$!
billing_pids+=("$victim")
wait_for 10 '[ "$(received_key sub-4-20260810T000000Z)" = 1 ]' || not_ok "C: the call reached the stub"
{
	kill -9 "$victim"
	wait "$victim"
} 2>/dev/null || true
expect_sql "C: after the kill the order is pending" "SELECT status FROM payment_orders WHERE subscription_id = 4" pending
wait_for 10 '[ "$(answered_key sub-4-20260810T000000Z)" = 1 ]' || not_ok "C: the stub finished the call"
run "$tmp/c2.out" charge 2026-08-09T02:00:00Z
expect_eq "C: the re-run succeeds" "$rc" 0
expect_sql "C: the order ends succeeded" "SELECT status FROM payment_orders WHERE subscription_id = 4" succeeded
expect_eq "C: one charge for the key" "$(charges_key sub-4-20260810T000000Z)" 1

# D: declined.
new_sub 5 "2026-09-10 00:00Z"
control "402 Card declined"
run "$tmp/d1.out" charge 2026-09-08T02:00:00Z
expect_eq "D: a decline is not a run failure" "$rc" 0
expect_grep "D: the decline is reported" "$tmp/d1.out" \
	"subscription 5 \(tenant 'T5', pro\): declined by the gateway \(402\): Card declined"
expect_sql "D: the order failed with the gateway's message" \
	"SELECT status, gateway_message FROM payment_orders WHERE subscription_id = 5" "failed|Card declined"
control "200"
run "$tmp/d2.out" charge 2026-09-09T02:00:00Z
expect_eq "D: never called again for the period" "$(received_key sub-5-20260910T000000Z)" 1
expect_grep "D: the next run says so" "$tmp/d2.out" "order [0-9]+ for this period already failed"

# E: two runs of the plugin on one period at once (two different slots, so
# the ledger lets both run): one call, one charge.
new_sub 6 "2026-10-10 00:00Z"
control "hang 2" "200"
"$CHIMECTL" run charge --config "$tmp/chime.yaml" --at 2026-10-08T02:00:00Z >"$tmp/e1.out" 2>&1 &
e1=$!
"$CHIMECTL" run charge --config "$tmp/chime.yaml" --at 2026-10-08T02:00:01Z >"$tmp/e2.out" 2>&1 &
e2=$!
e1rc=0 e2rc=0
wait "$e1" || e1rc=$?
wait "$e2" || e2rc=$?
expect_eq "E: both runs exit 0" "$e1rc/$e2rc" "0/0"
expect_eq "E: one call and one charge for the key" \
	"$(received_key sub-6-20261010T000000Z)/$(charges_key sub-6-20261010T000000Z)" "1/1"
expect_sql "E: one order, succeeded" "SELECT count(*), min(status) FROM payment_orders WHERE subscription_id = 6" "1|succeeded"
# The same slot twice at once: the ledger runs it once.
new_sub 7 "2026-10-20 00:00Z"
control "hang 1" "200"
"$CHIMECTL" run charge --config "$tmp/chime.yaml" --at 2026-10-18T02:00:00Z >"$tmp/e3.out" 2>&1 &
e1=$!
"$CHIMECTL" run charge --config "$tmp/chime.yaml" --at 2026-10-18T02:00:00Z >"$tmp/e4.out" 2>&1 &
e2=$!
wait "$e1" || true
wait "$e2" || true
expect_eq "E: same slot twice: one charge" "$(charges_key sub-7-20261020T000000Z)" 1

# F: the token file.
new_sub 8 "2026-11-10 00:00Z"
control "200"
run "$tmp/f1.out" charge-cred 2026-11-08T02:00:00Z
expect_eq "F: CREDENTIALS_DIRECTORY unset fails the run" "$rc" 1
expect_grep "F: ... naming the job" "$tmp/f1.out" "job 'charge-cred' \\(billing\\): failed"
expect_grep "F: ... and the variable" "$tmp/f1.out" \
	"error: gateway token_file: environment variable 'CREDENTIALS_DIRECTORY' is not set"
export CREDENTIALS_DIRECTORY=$tmp/creds
run "$tmp/f2.out" charge-cred 2026-11-08T03:00:00Z
expect_eq "F: a missing token file fails the run" "$rc" 1
expect_grep "F: ... naming the file" "$tmp/f2.out" \
	"gateway token_file: cannot read '$tmp/creds/gateway-token': No such file or directory"
expect_sql "F: nothing was ordered without credentials" \
	"SELECT count(*) FROM payment_orders WHERE subscription_id = 8" 0
echo tok-faults >"$tmp/creds/gateway-token"
run "$tmp/f3.out" charge-cred 2026-11-08T04:00:00Z
expect_eq "F: with the credential in place the charge goes through" "$rc/$(charges_key sub-8-20261110T000000Z)" "0/1"
unset CREDENTIALS_DIRECTORY

# G: a host that does not resolve.
new_sub 10 "2026-12-10 00:00Z"
add_sub 11 "2026-12-10 00:00Z" false
run "$tmp/g1.out" charge-badhost 2026-12-08T02:00:00Z
expect_eq "G: fails the run" "$rc" 1
expect_grep "G: the error names job, subscription and host" "$tmp/g1.out" \
	"job 'charge-badhost' \(billing\).*subscription 10 \(tenant 'T10'\): order [0-9]+: no answer from the gateway: .*gateway.invalid"
expect_grep "G: the card-less one is still reported" "$tmp/g1.out" "subscription 11 \(tenant 'T11'\): no saved card, skipped"
expect_sql "G: the order stays open for the next run" "SELECT status FROM payment_orders WHERE subscription_id = 10" pending

expect_eq "never two charges for one key" "$(sed 's/.*"key": "\([^"]*\)".*/\1/' "$GW_DIR/charges.jsonl" | sort | uniq -d | wc -l | tr -d ' ')" 0
finish
