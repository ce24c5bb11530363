#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A month of payouts (seed 003) through `chimectl run`, on the reference
# schema: the first-Monday run (2026-03-02) invoices exactly the eligible
# users, first-time users included; a second run for the same payout date
# pays nobody twice; a dry run lists what the returning-users run would pay
# and changes nothing; the run at the first Monday after the 15th
# (2026-03-16) invoices returning users only. Bad rows are reported with
# their reason and never paid while the others are. A mapped legacy schema
# (other names, int4 ids, unconstrained numeric, a currency filter) pays
# the same way. Every expected figure below is worked out by hand.
set -euo pipefail

: "${CHIMECTL:?}" "${CHIME_SOURCE_DIR:?}" "${CHIME_PG_ENV:?}"
# shellcheck disable=SC1090
. "$CHIME_PG_ENV"

db=t_payouts_month_$$
tmp=$(mktemp -d "${TMPDIR:-/tmp}/chime-payouts-XXXXXX")
createdb "$db"
cleanup() {
	dropdb --if-exists "$db" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
export PGDATABASE=$db

. "$CHIME_SOURCE_DIR/tests/harness/testlib.sh"
expect_out() { # NAME FILE LINE: a line of the report, exactly
	if grep -qxF -- "$3" "$2" || grep -qxF -- "  $3" "$2"; then ok "$1"; else
		not_ok "$1: no line '$3' in:"
		sed 's/^/#   /' "$2"
	fi
}
run_job() { # OUT JOB AT [ARGS...]: runs chimectl run, returns its status
	local out=$1 job=$2 at=$3
	shift 3
	"$CHIMECTL" run "$job" --config "$tmp/chime.yaml" --at "$at" "$@" >"$out" 2>&1
}

psql -qX -v ON_ERROR_STOP=1 -f "$CHIME_SOURCE_DIR/config/sql/payouts.sql" >/dev/null

cat >"$tmp/chime.yaml" <<'YAML'
timezone: Asia/Tbilisi
database: {conninfo: ""}
jobs:
  payouts-first-monday:
    schedule: "0 2 * * MON#1"
    plugin: payouts
    options: {min_balance: "100", first_time_users: true, batch_size: 2}
  payouts-returning:
    schedule: "Mon *-*-16..22 02:00"
    plugin: payouts
    options: {first_time_users: false, batch_size: 3}
  payouts-legacy:
    schedule: "0 2 * * MON#1"
    plugin: payouts
    options:
      currency: EUR
      users_table: legacy.accounts
      users_id: pk
      users_email: mail
      users_active: enabled
      users_balance: wallet
      users_currency: cur
      methods_table: legacy.wallets
      methods_id: wid
      methods_user: owner
      methods_address: binance_email
      methods_approved: ok
      invoices_table: legacy.payouts
      invoices_user: owner
      invoices_amount: total
      invoices_currency: cur
      invoices_method: wallet_id
      invoices_address: email
      invoices_status: state
      invoices_payout_date: day
      invoices_run_id: ""
YAML

# Nothing to pay is a success with a zero report.
if run_job "$tmp/empty.out" payouts-first-monday 2026-02-02T02:00:00+04:00; then
	ok "a run with no users succeeds"
else
	not_ok "a run with no users succeeds"
	sed 's/^/#   /' "$tmp/empty.out"
fi
expect_out "zero report: paid" "$tmp/empty.out" "paid: 0"
expect_out "zero report: total" "$tmp/empty.out" "total USD: 0.00"

# The month's users. "returning" = an invoice before March 2026.
sql "
INSERT INTO users (id, email, is_active, balance, currency) VALUES
 (1, 'alice@example.com', true, 150.00, 'USD'),  -- returning, paid
 (2, 'bob@example.com', true, 100.00, 'USD'),    -- first-time, exactly 100: paid
 (3, 'carol@example.com', true, 99.99, 'USD'),   -- returning, below 100
 (4, 'dave@example.com', true, 500.00, 'USD'),   -- method not approved
 (5, 'erin@example.com', false, 300.00, 'USD'),  -- inactive
 (6, 'frank@example.com', true, 250.50, 'USD'),  -- first-time, paid
 (7, 'grace@example.com', true, 0, 'USD'),       -- returning, nothing to pay
 (8, 'heidi@example.com', true, 1000.00, 'USD'), -- no payment method at all
 (9, 'ivan@example.com', true, 120.00, 'USD'),   -- returning, approved method, empty address
 (10, 'judy@example.com', true, -5.00, 'USD'),   -- negative balance
 (11, 'mallory@example.com', true, 200.00, NULL),-- currency missing
 (12, 'oscar@example.com', true, 175.25, 'USD'); -- first-time, two methods
SELECT setval('users_id_seq', 100);
INSERT INTO payment_methods (id, user_id, address, approved) VALUES
 (1, 1, 'alice@binance.example', true),
 (2, 2, 'bob@binance.example', true),
 (3, 3, 'carol@binance.example', true),
 (4, 4, 'dave@binance.example', false),
 (5, 5, 'erin@binance.example', true),
 (6, 6, 'frank@binance.example', true),
 (7, 7, 'grace@binance.example', true),
 (9, 9, '', true),
 (10, 10, 'judy@binance.example', true),
 (11, 11, 'mallory@binance.example', true),
 (12, 12, 'old-oscar@binance.example', false),
 (13, 12, 'oscar@binance.example', true);
SELECT setval('payment_methods_id_seq', 100);
INSERT INTO invoices (user_id, amount, currency, method_id, address, status, payout_date) VALUES
 (1, 80.00, 'USD', 1, 'alice@binance.example', 'paid', '2026-02-02'),
 (3, 120.00, 'USD', 3, 'carol@binance.example', 'paid', '2026-02-02'),
 (7, 300.00, 'USD', 7, 'grace@binance.example', 'rejected', '2026-02-16'),
 (9, 110.00, 'USD', NULL, 'ivan@old.example', 'paid', '2026-02-02');
" >/dev/null
before=$(sql "SELECT sum(balance) FROM users")

# ---- First Monday of March: everyone eligible, first-time users included.
if run_job "$tmp/first.out" payouts-first-monday 2026-03-02T02:00:00+04:00; then
	ok "first-Monday run succeeds"
else
	not_ok "first-Monday run succeeds"
	sed 's/^/#   /' "$tmp/first.out"
fi
expect_sql "first Monday: exactly the eligible users, each for the balance" \
	"SELECT user_id, amount, currency, method_id, address, status, payout_date
	   FROM invoices WHERE payout_date = '2026-03-02' ORDER BY user_id" \
	"1|150.00|USD|1|alice@binance.example|pending|2026-03-02
2|100.00|USD|2|bob@binance.example|pending|2026-03-02
6|250.50|USD|6|frank@binance.example|pending|2026-03-02
12|175.25|USD|13|oscar@binance.example|pending|2026-03-02"
expect_sql "first Monday: paid balances are zero, the others untouched" \
	"SELECT id, balance FROM users ORDER BY id" \
	"1|0.00
2|0.00
3|99.99
4|500.00
5|300.00
6|0.00
7|0.00
8|1000.00
9|120.00
10|-5.00
11|200.00
12|0.00"
expect_sql "first Monday: the invoices carry the ledger's run id" \
	"SELECT count(*) FROM invoices WHERE payout_date = '2026-03-02' AND run_id IS NULL" "0"
expect_out "report: paid count" "$tmp/first.out" "paid: 4"
expect_out "report: invalid count" "$tmp/first.out" "invalid: 3"
expect_out "report: total per currency" "$tmp/first.out" "total USD: 675.75"
expect_out "report: payout date" "$tmp/first.out" "payout_date: 2026-03-02"
expect_out "report: item alice" "$tmp/first.out" "user 1 alice@example.com: 150.00 USD"
expect_out "report: item frank" "$tmp/first.out" "user 6 frank@example.com: 250.50 USD"
expect_out "report: empty address" "$tmp/first.out" \
	"user 9 ivan@example.com: not paid: approved payment method has an empty address (balance 120.00 USD)"
expect_out "report: negative balance" "$tmp/first.out" \
	"user 10 judy@example.com: not paid: negative balance (balance -5.00 USD)"
expect_out "report: currency missing" "$tmp/first.out" \
	"user 11 mallory@example.com: not paid: currency missing (balance 200.00)"
after=$(sql "SELECT sum(balance) + (SELECT sum(amount) FROM invoices WHERE payout_date = '2026-03-02') FROM users")
[ "$before" = "$after" ] && ok "conservation: $before = balances + invoiced" ||
	not_ok "conservation: before $before, after + invoiced $after"

expect_sql "the ledger records the run with its counts and totals" \
	"SELECT r.status, r.summary->'counts'->>'paid', r.summary->'values'->>'total USD',
	        (SELECT count(*) FROM invoices i WHERE i.run_id = r.id)
	   FROM chime.runs r
	  WHERE r.job = 'payouts-first-monday' AND r.scheduled_for = '2026-03-02T02:00:00+04:00'" \
	"succeeded|4|675.75|4"

# ---- The same payout date again (another slot of that day, so the ledger
# does not stop it): bob was credited since, and is still not paid twice.
sql "UPDATE users SET balance = balance + 150.00 WHERE id = 2"
if run_job "$tmp/again.out" payouts-first-monday 2026-03-02T02:00:30+04:00; then
	ok "second run for the same payout date succeeds"
else
	not_ok "second run for the same payout date succeeds"
	sed 's/^/#   /' "$tmp/again.out"
fi
expect_out "second run: nobody paid" "$tmp/again.out" "paid: 0"
expect_sql "second run: still one invoice per user for 2026-03-02" \
	"SELECT user_id, count(*) FROM invoices WHERE payout_date = '2026-03-02' GROUP BY user_id ORDER BY user_id" \
	"1|1
2|1
6|1
12|1"
expect_sql "second run: bob keeps his new balance" "SELECT balance FROM users WHERE id = 2" "150.00"

# ---- Between the two payout dates: credits, and a new first-time user.
sql "
UPDATE users SET balance = balance + 100.00 WHERE id = 1;
UPDATE users SET balance = balance + 99.00 WHERE id = 6;
UPDATE users SET balance = balance + 0.01 WHERE id = 3;
INSERT INTO users (id, email, balance) VALUES (13, 'peggy@example.com', 400.00);
INSERT INTO payment_methods (user_id, address, approved) VALUES (13, 'peggy@binance.example', true);
"
snapshot="SELECT md5(string_agg(x, ';')) FROM (
	SELECT format('%s', u) AS x FROM (SELECT * FROM users ORDER BY id) u
	UNION ALL SELECT format('%s', i) FROM (SELECT * FROM invoices ORDER BY id) i) s"
snap=$(sql "$snapshot")

# ---- Dry run of the returning-users date: a list, no change.
if run_job "$tmp/dry.out" payouts-returning 2026-03-16T02:00:00+04:00 --dry-run; then
	ok "dry run succeeds"
else
	not_ok "dry run succeeds"
	sed 's/^/#   /' "$tmp/dry.out"
fi
expect_out "dry run: would pay alice" "$tmp/dry.out" "user 1 alice@example.com: 100.00 USD"
expect_out "dry run: would pay bob" "$tmp/dry.out" "user 2 bob@example.com: 150.00 USD"
expect_out "dry run: would pay carol" "$tmp/dry.out" "user 3 carol@example.com: 100.00 USD"
expect_out "dry run: total" "$tmp/dry.out" "total USD: 350.00"
expect_sql "dry run: nothing changed" "$snapshot" "$snap"

# ---- First Monday after the 15th: returning users only.
if run_job "$tmp/returning.out" payouts-returning 2026-03-16T02:00:00+04:00; then
	ok "returning-users run succeeds"
else
	not_ok "returning-users run succeeds"
	sed 's/^/#   /' "$tmp/returning.out"
fi
expect_sql "after the 15th: returning users only (peggy and frank wait)" \
	"SELECT user_id, amount, method_id FROM invoices WHERE payout_date = '2026-03-16' ORDER BY user_id" \
	"1|100.00|1
2|150.00|2
3|100.00|3"
expect_sql "after the 15th: balances" \
	"SELECT id, balance FROM users WHERE id IN (1, 2, 3, 6, 13) ORDER BY id" \
	"1|0.00
2|0.00
3|0.00
6|99.00
13|400.00"
expect_out "after the 15th: total" "$tmp/returning.out" "total USD: 350.00"
expect_out "after the 15th: ivan (returning) still reported" "$tmp/returning.out" \
	"user 9 ivan@example.com: not paid: approved payment method has an empty address (balance 120.00 USD)"

# ---- A mapped legacy schema with a currency filter.
sql "
CREATE SCHEMA legacy;
CREATE TABLE legacy.accounts (pk integer PRIMARY KEY, mail text, enabled boolean,
	wallet numeric, cur varchar(3));
CREATE TABLE legacy.wallets (wid serial PRIMARY KEY, owner integer, binance_email text, ok boolean);
CREATE TABLE legacy.payouts (pid serial PRIMARY KEY, owner integer, total numeric(12,2),
	cur text, wallet_id integer, email text, state text DEFAULT 'pending', day date,
	UNIQUE (owner, day));
INSERT INTO legacy.accounts VALUES
 (1, 'a@legacy.example', true, 150.005, 'EUR'),
 (2, 'b@legacy.example', true, 200.10, 'EUR'),
 (3, 'c@legacy.example', true, 300, 'USD'),
 (4, 'd@legacy.example', true, 400, NULL),
 (5, 'e@legacy.example', true, 100, 'EUR');
INSERT INTO legacy.wallets (owner, binance_email, ok)
 SELECT pk, 'w' || pk || '@binance.example', true FROM legacy.accounts;
"
if run_job "$tmp/legacy.out" payouts-legacy 2026-04-06T02:00:00+04:00; then
	ok "mapped schema run succeeds"
else
	not_ok "mapped schema run succeeds"
	sed 's/^/#   /' "$tmp/legacy.out"
fi
expect_sql "mapped schema: EUR users with clean balances paid" \
	"SELECT owner, total, cur, wallet_id, email, state, day FROM legacy.payouts ORDER BY owner" \
	"2|200.10|EUR|2|w2@binance.example|pending|2026-04-06
5|100.00|EUR|5|w5@binance.example|pending|2026-04-06"
expect_sql "mapped schema: balances" "SELECT pk, wallet FROM legacy.accounts ORDER BY pk" \
	"1|150.005
2|0.00
3|300
4|400
5|0.00"
expect_out "mapped schema: more than two decimals" "$tmp/legacy.out" \
	"user 1 a@legacy.example: not paid: more than two decimals (balance 150.005 EUR)"
expect_out "mapped schema: currency missing" "$tmp/legacy.out" \
	"user 4 d@legacy.example: not paid: currency missing (balance 400)"
expect_out "mapped schema: total" "$tmp/legacy.out" "total EUR: 300.10"

# A mapping naming a column that does not exist fails the run, clearly.
sed 's/users_balance: wallet/users_balance: purse/' "$tmp/chime.yaml" >"$tmp/bad.yaml"
if "$CHIMECTL" run payouts-legacy --config "$tmp/bad.yaml" --at 2026-05-04T02:00:00+04:00 \
	>"$tmp/bad.out" 2>&1; then
	not_ok "a wrong column mapping fails the run"
else
	grep -q 'purse' "$tmp/bad.out" && ok "a wrong column mapping fails the run, naming it" ||
		{ not_ok "a wrong column mapping names the column"; sed 's/^/#   /' "$tmp/bad.out"; }
fi

# Bad options are configuration errors with their place, all of them.
cat >"$tmp/options.yaml" <<'YAML'
database: {conninfo: ""}
jobs:
  p:
    schedule: "0 2 * * MON#1"
    plugin: payouts
    options:
      min_balance: "100.001"
      currency: "U S"
      lock_timeout: 0s
      batch_size: 0
      users_table: "1bad"
      min_balanse: 100
YAML
if "$CHIMECTL" check "$tmp/options.yaml" >"$tmp/options.out" 2>&1; then
	not_ok "bad options fail chimectl check"
else
	ok "bad options fail chimectl check"
fi
for want in \
	"options.yaml:7:20: error: jobs.p.options.min_balance: '100.001' is not an amount greater than zero with at most two decimals (e.g. 100 or 99.50)" \
	"options.yaml:8:17: error: jobs.p.options.currency: 'U S' is not a currency code (letters, digits, _)" \
	"options.yaml:9:21: error: jobs.p.options.lock_timeout: must be at least 1ms: a payout waits for a locked user, it never skips one" \
	"options.yaml:12:7: error: jobs.p.options.min_balanse: unknown key 'min_balanse'"; do
	grep -qF -- "$want" "$tmp/options.out" && ok "diagnostic: ${want#*error: }" ||
		{ not_ok "diagnostic: $want"; sed 's/^/#   /' "$tmp/options.out"; }
done
for key in batch_size users_table; do
	grep -q "error: jobs.p.options.$key: " "$tmp/options.out" && ok "diagnostic for $key" ||
		not_ok "diagnostic for $key"
done

if [ "$fails" -gt 0 ]; then
	echo "pg-payouts-month: $fails failed"
	exit 1
fi
