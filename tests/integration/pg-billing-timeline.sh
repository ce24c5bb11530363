#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The seed 002 timeline, day -7 to day +8 around an expiry at day 0 00:00
# (Asia/Tbilisi), one `chimectl run --at` per day for each job: charge at
# 02:00, status at 03:00. Subscriptions:
#   1 Acme   saved card      expires day 0
#   2 Beta   no saved card   expires day 0   (charge skips it, reported)
#   3 Gamma  saved card      expires day 0, created on day -5 (the day -7
#                            reminder was missed: sent late, on day -5)
#   4 Delta  saved card      expired 20 days before day 0 (suspended by the
#                            first run: a suspension is never skipped)
# Checked: exactly the notices listed in the seed, each once, on its day;
# suspension on day 7; one charge per period, on day -3; dry runs change
# nothing and contact nobody.
set -euo pipefail
# shellcheck source=../harness/billing-fixture.sh
. "$CHIME_SOURCE_DIR/tests/harness/billing-fixture.sh"

echo tok-timeline >"$tmp/token"
start_gateway "$tmp/gw" --token tok-timeline
start_sink "$tmp/smtp"

cat >"$tmp/chime.yaml" <<YAML
timezone: Asia/Tbilisi
database: {conninfo: ""}
jobs:
  charge:
    schedule: "0 2 * * *"
    plugin: billing
    options:
      action: charge
      days_before: 3
      gateway: {url: "http://127.0.0.1:$GW_PORT/charge", token_file: "$tmp/token", timeout: 10s}
  status:
    schedule: "0 3 * * *"
    plugin: billing
    options:
      action: status
      grace_days: 7
      smtp: {url: "smtp://127.0.0.1:$SMTP_PORT", starttls: false, from: "EchoDesk <noreply@echodesk.ge>"}
YAML

sql "INSERT INTO tenants (schema_name, name, admin_email) VALUES
	('acme', 'Acme', 'admin@acme.test'), ('beta', 'Beta', 'admin@beta.test'),
	('gamma', 'Gamma', 'admin@gamma.test'), ('delta', 'Delta', 'admin@delta.test');
INSERT INTO subscriptions (id, tenant_id, plan, amount, currency, expires_at, card_saved, card_token) VALUES
	(1, 1, 'pro', 29.00, 'GEL', '2026-05-10 00:00+04', true, 'card-acme'),
	(2, 2, 'basic', 9.50, 'GEL', '2026-05-10 00:00+04', false, NULL),
	(4, 4, 'pro', 29.00, 'GEL', '2026-04-20 00:00+04', true, 'card-delta');"

day_date() { date -u -d "2026-05-10 + $1 days" +%Y-%m-%d; }

# Dry runs first: they list and change nothing.
"$CHIMECTL" run status --config "$tmp/chime.yaml" --at "$(day_date -7)T03:00:00" --dry-run \
	>"$tmp/dry-status.out" 2>&1 || not_ok "dry-run status exits 0"
expect_grep "dry-run status lists the 7-day reminder" "$tmp/dry-status.out" \
	"would send reminder_7 to admin@acme.test for subscription 1"
expect_grep "dry-run status lists the overdue suspension" "$tmp/dry-status.out" \
	"would suspend tenant 'Delta' \(subscription 4"
expect_sql "dry-run status wrote no notice and suspended nobody" \
	"SELECT count(*) FROM notices UNION ALL SELECT count(*) FROM tenants WHERE NOT is_active" "0
0"
expect_eq "dry-run status sent no mail" "$(mails)" 0

timeline=""
last_notice=0
for day in $(seq -7 8); do
	d=$(day_date "$day")
	if [ "$day" = -5 ]; then
		sql "INSERT INTO subscriptions (id, tenant_id, plan, amount, currency, expires_at, card_saved, card_token)
		     VALUES (3, 3, 'team', 120.00, 'USD', '2026-05-10 00:00+04', true, 'card-gamma')"
	fi
	if [ "$day" = -3 ]; then
		"$CHIMECTL" run charge --config "$tmp/chime.yaml" --at "${d}T02:00:00" --dry-run \
			>"$tmp/dry-charge.out" 2>&1 || not_ok "dry-run charge exits 0"
		expect_grep "dry-run charge lists subscription 1" "$tmp/dry-charge.out" \
			"would charge subscription 1 \(tenant 'Acme', pro\): 29.00 GEL, key $KEY_PREFIX-sub-1-20260509T200000Z"
		expect_grep "dry-run charge lists subscription 3" "$tmp/dry-charge.out" \
			"would charge subscription 3 \(tenant 'Gamma', team\): 120.00 USD"
		expect_grep "dry-run charge reports the missing card" "$tmp/dry-charge.out" \
			"subscription 2 \(tenant 'Beta'\): no saved card, skipped"
		expect_sql "dry-run charge wrote no order" "SELECT count(*) FROM payment_orders" 0
		expect_eq "dry-run charge called no gateway" "$(answered)" 0
	fi
	if ! "$CHIMECTL" run charge --config "$tmp/chime.yaml" --at "${d}T02:00:00" \
		>"$tmp/charge$day.out" 2>&1; then
		not_ok "charge on day $day exits 0"
		sed 's/^/#   | /' "$tmp/charge$day.out"
	fi
	if ! "$CHIMECTL" run status --config "$tmp/chime.yaml" --at "${d}T03:00:00" \
		>"$tmp/status$day.out" 2>&1; then
		not_ok "status on day $day exits 0"
		sed 's/^/#   | /' "$tmp/status$day.out"
	fi
	new=$(sql "SELECT coalesce(string_agg(subscription_id || ':' || kind, ',' ORDER BY subscription_id), '')
		   FROM notices WHERE id > $last_notice")
	last_notice=$(sql "SELECT coalesce(max(id), 0) FROM notices")
	[ -n "$new" ] && timeline="$timeline$day=$new "
	orders=$(sql "SELECT count(*) FROM payment_orders")
	[ "$orders" != 0 ] && [ -z "${first_order_day:-}" ] && first_order_day=$day
done

want="-7=1:reminder_7,2:reminder_7,4:suspended -5=3:reminder_7 -3=1:reminder_3,2:reminder_3,3:reminder_3 "
for n in 1 2 3 4 5 6; do want="${want}$n=1:grace_$n,2:grace_$n,3:grace_$n "; done
want="${want}7=1:suspended,2:suspended,3:suspended "
expect_eq "each notice on its day, once (day=subscription:kind)" "$timeline" "$want"
expect_sql "every notice row is sent" "SELECT status, count(*) FROM notices GROUP BY 1" "sent|28"
expect_eq "the sink received 28 mails" "$(mails)" 28
expect_eq "no notice mailed twice" \
	"$(cat "$SMTP_DIR"/mail/*.eml | grep -E '^X-Chime-(Subscription|Notice)' | paste - - | sort | uniq -d | wc -l | tr -d ' ')" 0
late=$(grep -l 'X-Chime-Subscription: 3' "$SMTP_DIR"/mail/*.eml | xargs grep -l 'X-Chime-Notice: reminder_7')
expect_grep "the late 7-day reminder says 5 days" "$late" "^Subject: Your team subscription expires in 5 days"
r3=$(grep -l 'X-Chime-Subscription: 1' "$SMTP_DIR"/mail/*.eml | xargs grep -l 'X-Chime-Notice: reminder_3')
expect_grep "the urgent reminder's subject is RFC 2047 UTF-8" "$r3" '^Subject: =\?UTF-8\?B\?'
g6=$(grep -l 'X-Chime-Subscription: 1' "$SMTP_DIR"/mail/*.eml | xargs grep -l 'X-Chime-Notice: grace_6')
expect_grep "grace day 6 says 1 day until suspension" "$g6" "^Subject: Payment required - 1 days until suspension"
expect_grep "mail goes to the tenant's admin" "$g6" "^X-Envelope-To: admin@acme.test"

expect_sql "tenants suspended, data kept" \
	"SELECT id, is_active, suspended_at IS NOT NULL FROM tenants ORDER BY id" "1|f|t
2|f|t
3|f|t
4|f|t"
expect_sql "subscriptions suspended" "SELECT id, status FROM subscriptions ORDER BY id" "1|suspended
2|suspended
3|suspended
4|suspended"

expect_eq "the first order appears on day -3" "${first_order_day:-none}" -3
expect_sql "one succeeded order per charged subscription and period" \
	"SELECT subscription_id, status, amount, currency, idempotency_key, attempts FROM payment_orders ORDER BY id" \
	"1|succeeded|29.00|GEL|$KEY_PREFIX-sub-1-20260509T200000Z|1
3|succeeded|120.00|USD|$KEY_PREFIX-sub-3-20260509T200000Z|1"
expect_eq "the gateway charged twice in all (1 and 3, once each)" "$(charges)" 2
expect_eq "the gateway was called twice in all" "$(answered)" 2
expect_grep "the charge carries the amount as a decimal string" "$GW_DIR/charges.jsonl" \
	'"amount": "120.00", "card_token": "card-gamma", "currency": "USD"'
expect_grep "charge on day -3 reports the missing card" "$tmp/charge-3.out" \
	"subscription 2 \(tenant 'Beta'\): no saved card, skipped"
expect_grep "charge on day -3 totals per currency" "$tmp/charge-3.out" "charged_GEL: 29.00"
expect_grep "charge on day -2 finds the period paid" "$tmp/charge-2.out" \
	"order 1 for this period already succeeded"
finish
