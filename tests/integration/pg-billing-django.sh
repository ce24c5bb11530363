#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The billing plugin (seed 002) mapped onto EchoDesk's Django schema as it
# is: varchar (CharField) columns, a boolean is_active flag on the
# subscription, payment orders that belong to the tenant with the app's
# own status words, the saved card on the initial payment order
# (card_saved, bog_order_id), and NOT NULL tenant, package, payment_url,
# metadata and card_saved columns chime gets values for from `values:`, and
# an expiry without time zone (USE_TZ = False: local wall time, read in the
# job's zone, Asia/Tbilisi, so the key's UTC expiry is 20:00 the day before).
#
# `chimectl check` passes the right mapping and fails each wrong one at its
# option (file:line:col), naming the job, the table and the column. Then
# the charge on day -3 creates one order with the app's columns filled,
# charges the card taken from the initial order, and a re-run charges
# nothing; the status job sends the reminders and on day +7 suspends the
# subscription by its boolean flag. A wrong mapping fails a run before
# anything changes or is sent.
set -euo pipefail
# shellcheck source=../harness/billing-fixture.sh
. "$CHIME_SOURCE_DIR/tests/harness/billing-fixture.sh"
expect_no_grep() { # NAME FILE PATTERN
	if ! grep -qE -- "$3" "$2"; then ok "$1"; else
		not_ok "$1"
		sed 's/^/#   | /' "$2"
	fi
}

# The fixture loaded the reference schema; this test uses the app's own.
sql "DROP TABLE notices, payment_orders, subscriptions, tenants"
sql "CREATE TABLE tenants_tenant (id bigserial PRIMARY KEY, schema_name varchar(63) NOT NULL UNIQUE,
	name varchar(100) NOT NULL, admin_email varchar(254) NOT NULL, is_active boolean NOT NULL,
	suspended_at timestamptz);
   CREATE TABLE tenants_package (id bigserial PRIMARY KEY, name varchar(100) NOT NULL);
   CREATE TABLE tenants_tenantsubscription (id bigserial PRIMARY KEY,
	tenant_id bigint NOT NULL UNIQUE REFERENCES tenants_tenant DEFERRABLE INITIALLY DEFERRED,
	package_id bigint NOT NULL REFERENCES tenants_package DEFERRABLE INITIALLY DEFERRED,
	is_active boolean NOT NULL, expires_at timestamp without time zone NOT NULL,
	monthly_cost numeric(10,2) NOT NULL, currency varchar(3) NOT NULL, plan_name varchar(50) NOT NULL);
   CREATE TABLE tenants_paymentorder (id bigserial PRIMARY KEY, order_id varchar(100) NOT NULL UNIQUE,
	tenant_id bigint NOT NULL REFERENCES tenants_tenant DEFERRABLE INITIALLY DEFERRED,
	package_id bigint NOT NULL REFERENCES tenants_package DEFERRABLE INITIALLY DEFERRED,
	amount numeric(10,2) NOT NULL, currency varchar(3) NOT NULL, status varchar(20) NOT NULL,
	payment_url varchar(500) NOT NULL, metadata jsonb NOT NULL, card_saved boolean NOT NULL,
	bog_order_id varchar(100), created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
	note varchar(20));
   CREATE INDEX tenants_paymentorder_tenant_id ON tenants_paymentorder (tenant_id);
   -- chime's own table for the notices, with varchar columns.
   CREATE TABLE chime_notices (id bigserial PRIMARY KEY,
	subscription_id bigint NOT NULL REFERENCES tenants_tenantsubscription,
	kind varchar(20) NOT NULL, expires_at timestamptz NOT NULL, recipient varchar(254),
	status varchar(10) NOT NULL DEFAULT 'pending', attempts integer NOT NULL DEFAULT 0,
	error varchar(500), created_at timestamptz NOT NULL DEFAULT now(), sent_at timestamptz,
	UNIQUE (subscription_id, kind, expires_at));
   INSERT INTO tenants_tenant (id, schema_name, name, admin_email, is_active) VALUES
	(1, 'acme', 'Acme', 'admin@acme.test', true), (2, 'beta', 'Beta', 'admin@beta.test', true);
   INSERT INTO tenants_package (id, name) VALUES (7, 'Pro');
   INSERT INTO tenants_tenantsubscription (id, tenant_id, package_id, is_active, expires_at,
	monthly_cost, currency, plan_name) VALUES
	(11, 1, 7, true, '2026-05-10 00:00', 29.00, 'GEL', 'pro'),
	(12, 2, 7, true, '2026-05-10 00:00', 29.00, 'GEL', 'pro');
   -- Acme's first payment saved its card: BOG's order id charges it again.
   -- Beta paid without saving it.
   INSERT INTO tenants_paymentorder (order_id, tenant_id, package_id, amount, currency, status,
	payment_url, metadata, card_saved, bog_order_id, created_at, updated_at) VALUES
	('init-acme', 1, 7, 29.00, 'GEL', 'paid', 'https://pay.test/1', '{}', true, 'bog-acme-1',
	 '2026-04-10', '2026-04-10'),
	('init-beta', 2, 7, 29.00, 'GEL', 'paid', 'https://pay.test/2', '{}', false, 'bog-beta-1',
	 '2026-04-10', '2026-04-10')"

echo tok-django >"$tmp/token"
start_gateway "$tmp/gw" --token tok-django
start_sink "$tmp/smtp"

# The right mapping, as YAML lines under `options:`.
tenants='tenants: tenants_tenant'
subscriptions='subscriptions:
        table: tenants_tenantsubscription
        status: {column: is_active, active: true, suspended: false}
        amount: monthly_cost
        plan: plan_name'
orders='payment_orders:
        table: tenants_paymentorder
        subscription_id: tenant_id
        links_to: tenant_id
        idempotency_key: order_id
        gateway_order_id: bog_order_id
        status: {column: status, succeeded: paid, unknown: pending}
        period: ""
        gateway_message: ""
        attempts: ""
        values:
          package_id: {column: package_id}
          payment_url: ""
          metadata: "{}"
          card_saved: false'
notices='notices: chime_notices'
gateway="gateway: {url: \"http://127.0.0.1:$GW_PORT/charge\", token_file: \"$tmp/token\", timeout: 10s}"
smtp="smtp: {url: \"smtp://127.0.0.1:$SMTP_PORT\", starttls: false, from: \"EchoDesk <noreply@echodesk.ge>\"}"
job() { # NAME ACTION OPTION-BLOCKS...
	printf '  %s:\n    schedule: "0 2 * * *"\n    plugin: billing\n    options:\n      action: %s\n' "$1" "$2"
	shift 2
	for o in "$@"; do printf '      %s\n' "$o"; done
}
header() { printf 'timezone: Asia/Tbilisi\ndatabase: {conninfo: ""}\njobs:\n'; }
{
	header
	job charge charge "$tenants" "$subscriptions" "$orders" "card: order" "$gateway"
	job status status "$tenants" "$subscriptions" "$notices" "$smtp"
} >"$tmp/good.yaml"

"$CHIMECTL" check "$tmp/good.yaml" >"$tmp/check.out" 2>&1 ||
	{ sed 's/^/#   /' "$tmp/check.out"; not_ok "check passes the right mapping (exit 0)"; }
expect_grep "check passes the right mapping" "$tmp/check.out" "configuration OK"
expect_no_grep "no error or warning on the right mapping" "$tmp/check.out" "error|warning"

# Wrong mappings, one job each.
bad_orders_novalues=$(printf '%s\n' "$orders" | sed '/values:/,$d')
{
	header
	job flag-words charge "$tenants" "subscriptions: {table: tenants_tenantsubscription, status: is_active, amount: monthly_cost, plan: plan_name}" \
		"$orders" "card: order" "$gateway"
	job long-word charge "$tenants" "$subscriptions" \
		"$(printf '%s\n' "$orders" | sed 's/succeeded: paid,/succeeded: paid_by_recurring_charge,/')" "card: order" "$gateway"
	job no-values charge "$tenants" "$subscriptions" "$bad_orders_novalues" "card: order" "$gateway"
	job not-unique charge "$tenants" "$subscriptions" \
		"$(printf '%s\n' "$orders" | sed 's/idempotency_key: order_id/idempotency_key: note/')" "card: order" "$gateway"
	job no-column charge "$tenants" "$subscriptions" \
		"$(printf '%s\n' "$orders" | sed 's/gateway_order_id: bog_order_id/gateway_order_id: bog_id/')" "card: order" "$gateway"
	job card-columns charge "$tenants" "$subscriptions" "$orders" "$gateway"
	job bad-value charge "$tenants" "$subscriptions" \
		"$(printf '%s\n' "$orders" | sed 's/card_saved: false/card_saved: maybe/')" "card: order" "$gateway"
	job word-status status "$tenants" "subscriptions: {table: tenants_tenantsubscription, status: {column: is_active, active: enabled, suspended: false}, amount: monthly_cost, plan: plan_name}" \
		"$notices" "$smtp"
} >"$tmp/bad.yaml"
if "$CHIMECTL" check "$tmp/bad.yaml" >"$tmp/check.out" 2>&1; then not_ok "check fails the wrong mappings"; fi
at='bad.yaml:[0-9]+:[0-9]+: error: jobs'
expect_grep "a boolean flag with the default words" "$tmp/check.out" \
	"$at.flag-words.options.subscriptions.status: table 'tenants_tenantsubscription' column 'is_active' \(option subscriptions.status.active\) has type boolean, which cannot hold the value 'active'"
expect_grep "a status word longer than the varchar" "$tmp/check.out" \
	"$at.long-word.options.payment_orders.status.succeeded: table 'tenants_paymentorder' column 'status' \(option payment_orders.status.succeeded\) has type character varying\(20\), which cannot hold the value 'paid_by_recurring_charge'"
for c in package_id payment_url metadata card_saved; do
	expect_grep "the app's NOT NULL $c without a value" "$tmp/check.out" \
		"$at.no-values.options.payment_orders: table 'tenants_paymentorder' column '$c' is NOT NULL without a default and chime does not fill it \(option payment_orders.values\)"
done
expect_grep "an idempotency key that is not unique" "$tmp/check.out" \
	"$at.not-unique.options.payment_orders.idempotency_key: table 'tenants_paymentorder' column 'note' \(option payment_orders.idempotency_key\) is not unique"
expect_grep "a missing column names option, table and column" "$tmp/check.out" \
	"$at.no-column.options.payment_orders.gateway_order_id: table 'tenants_paymentorder' has no column 'bog_id' \(option payment_orders.gateway_order_id\)"
expect_grep "the card on the subscription, which has no such column" "$tmp/check.out" \
	"$at.card-columns.options.subscriptions: table 'tenants_tenantsubscription' has no column 'card_saved' \(option subscriptions.card_saved\)"
expect_grep "a constant the column cannot hold" "$tmp/check.out" \
	"$at.bad-value.options.payment_orders.values.card_saved: table 'tenants_paymentorder' column 'card_saved' \(option payment_orders.values.card_saved\) has type boolean, which cannot hold the value 'maybe'"
expect_grep "the status job checks its mapping too" "$tmp/check.out" \
	"$at.word-status.options.subscriptions.status.active: table 'tenants_tenantsubscription' column 'is_active' \(option subscriptions.status.active\) has type boolean, which cannot hold the value 'enabled'"
expect_no_grep "nothing wrong with a job not in the list" "$tmp/check.out" "jobs\.(charge|status)\."

# A wrong mapping fails the run before anything is written or sent.
"$CHIMECTL" run no-values --config "$tmp/bad.yaml" --at 2026-05-07T02:00:00 >"$tmp/run.out" 2>&1 &&
	not_ok "a run with a wrong mapping fails"
expect_grep "the run names job, table and column" "$tmp/run.out" \
	"job 'no-values': table 'tenants_paymentorder' column 'package_id' is NOT NULL without a default"
expect_eq "nothing sent, no order written" "$(answered)/$(sql "SELECT count(*) FROM tenants_paymentorder")" "0/2"

day() { date -u -d "2026-05-10 + $1 days" +%Y-%m-%d; }
run_job() { # JOB DAY
	"$CHIMECTL" run "$1" --config "$tmp/good.yaml" --at "$(day "$2")T0${3:-2}:00:00" >"$tmp/$1$2.out" 2>&1 ||
		{ sed 's/^/#   | /' "$tmp/$1$2.out"; not_ok "$1 on day $2"; }
}
run_job charge -4
expect_eq "day -4: not yet due" "$(answered)" 0
run_job charge -3
expect_sql "day -3: one order for Acme, the app's columns filled, paid" \
	"SELECT order_id, tenant_id, package_id, amount, currency, status, payment_url, metadata::text,
	        card_saved, bog_order_id FROM tenants_paymentorder WHERE id > 2" \
	"$KEY_PREFIX-sub-11-20260509T200000Z|1|7|29.00|GEL|paid||{}|f|gw-1"
expect_grep "the card is the initial order's BOG id" "$GW_DIR/charges.jsonl" '"card_token": "bog-acme-1"'
expect_grep "Beta has no saved card" "$tmp/charge-3.out" "subscription 12 \(tenant 'Beta'\): no saved card, skipped"
run_job charge -2
expect_eq "day -2: no second charge" "$(charges)" 1
expect_grep "day -2: the period is paid" "$tmp/charge-2.out" "already paid"

for d in -7 -3 1 7; do run_job status "$d" 3; done
expect_sql "reminders, a grace warning and the suspension, each sent (varchar status)" \
	"SELECT string_agg(subscription_id || ':' || kind || ':' || status, ',' ORDER BY id) FROM chime_notices WHERE subscription_id = 11" \
	"11:reminder_7:sent,11:reminder_3:sent,11:grace_1:sent,11:suspended:sent"
expect_sql "suspended by the boolean flag" \
	"SELECT s.is_active, t.is_active, t.suspended_at IS NOT NULL FROM tenants_tenantsubscription s
	   JOIN tenants_tenant t ON t.id = s.tenant_id WHERE s.id = 11" "f|f|t"
finish
