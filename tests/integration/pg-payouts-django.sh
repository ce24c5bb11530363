#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The payouts plugin (seed 003) mapped onto a Django schema as the CPA
# network has it (offers_customuser, offers_paymentmethod with a
# binance_mail CharField and an is_approved flag, offers_invoice with
# varchar status and NOT NULL created_at): `chimectl check` passes the
# right mapping, warns (with the CREATE INDEX) while the payment methods'
# user column has no index, and fails each wrong mapping at its option,
# naming the option, the job, the table and the column (never an SQL
# alias). An invoices table without UNIQUE (user, payout date) is refused
# by check, by a dry run and by a run with users due, before anything is
# paid. The right mapping then pays.
set -euo pipefail
: "${CHIMECTL:?}" "${CHIME_SOURCE_DIR:?}" "${CHIME_PG_ENV:?}"
# shellcheck disable=SC1090
. "$CHIME_PG_ENV"

db=t_payouts_django_$$
tmp=$(mktemp -d)
createdb "$db"
trap 'dropdb --if-exists "$db" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
export PGDATABASE=$db
# shellcheck source=../harness/testlib.sh
. "$CHIME_SOURCE_DIR/tests/harness/testlib.sh"
expect_no_grep() { # NAME FILE PATTERN
	if ! grep -qE -- "$3" "$2"; then ok "$1"; else
		not_ok "$1"
		sed 's/^/#   | /' "$2"
	fi
}

sql "CREATE TABLE offers_customuser (id bigserial PRIMARY KEY, email varchar(254) NOT NULL,
	is_active boolean NOT NULL, balance numeric(12,2) NOT NULL, nickname varchar(30));
   CREATE TABLE offers_paymentmethod (id bigserial PRIMARY KEY,
	user_id bigint NOT NULL REFERENCES offers_customuser (id) DEFERRABLE INITIALLY DEFERRED,
	binance_mail varchar(254) NOT NULL, is_approved boolean NOT NULL);
   CREATE TABLE offers_invoice (id bigserial PRIMARY KEY,
	user_id bigint NOT NULL REFERENCES offers_customuser (id) DEFERRABLE INITIALLY DEFERRED,
	amount numeric(12,2) NOT NULL, status varchar(10) NOT NULL, payout_date date NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(), note varchar(200) NOT NULL);
   CREATE TABLE offers_invoice_nokey (LIKE offers_invoice INCLUDING DEFAULTS);
   -- Django's unique_together = ('user', 'payout_date'):
   ALTER TABLE offers_invoice ADD CONSTRAINT offers_invoice_user_id_payout_date_uniq
	UNIQUE (payout_date, user_id);
   ALTER TABLE offers_invoice_nokey ALTER note DROP NOT NULL;
   INSERT INTO offers_customuser (id, email, is_active, balance) VALUES
	(1, 'alice@cpa.test', true, 150.00), (2, 'bob@cpa.test', true, 40.00);
   INSERT INTO offers_paymentmethod (user_id, binance_mail, is_approved) VALUES
	(1, 'alice@binance.test', true), (2, 'bob@binance.test', true)"

# One job per mapping; $1 is the good job's invoices table.
mapping='users_table: offers_customuser
      users_email: email
      users_balance: balance
      users_currency: ""
      methods_table: offers_paymentmethod
      methods_address: binance_mail
      methods_approved: is_approved
      invoices_currency: ""
      invoices_method: ""
      invoices_address: ""
      invoices_run_id: ""'
job() { # NAME EXTRA-OPTIONS...
	printf '  %s:\n    schedule: "0 2 * * MON#1"\n    plugin: payouts\n    options:\n      %s\n' \
		"$1" "$mapping"
	shift
	for o in "$@"; do printf '      %s\n' "$o"; done
}
{
	printf 'timezone: Asia/Tbilisi\ndatabase: {conninfo: ""}\njobs:\n'
	job good "invoices_table: offers_invoice_nokey"
} >"$tmp/good.yaml"
sed -i 's/^      invoices_table: offers_invoice_nokey$/      invoices_table: offers_invoice\n      invoices_status: status/' "$tmp/good.yaml"
{
	printf 'timezone: Asia/Tbilisi\ndatabase: {conninfo: ""}\njobs:\n'
	job no-key "invoices_table: offers_invoice_nokey"
	job alias "invoices_table: offers_invoice_nokey" | sed 's/binance_mail$/binance_email/'
	job flag "invoices_table: offers_invoice_nokey" "users_active: nickname"
	job word "invoices_table: offers_invoice_nokey" "pending_status: pending_review"
	job notnull "invoices_table: offers_invoice"
} >"$tmp/bad.yaml"

balances() { sql "SELECT string_agg(id || ':' || balance, ',' ORDER BY id) FROM offers_customuser"; }
invoices() { sql "SELECT (SELECT count(*) FROM offers_invoice) + (SELECT count(*) FROM offers_invoice_nokey)"; }

# The good mapping, but offers_invoice needs a value for `note`: give it a
# default as the application's migration would.
sql "ALTER TABLE offers_invoice ALTER note SET DEFAULT ''"
"$CHIMECTL" check "$tmp/good.yaml" >"$tmp/out" 2>&1 || { cat "$tmp/out"; not_ok "check passes the right mapping"; }
expect_grep "check passes the right mapping" "$tmp/out" "configuration OK"
expect_grep "check warns about the unindexed user column, with the CREATE INDEX" "$tmp/out" \
	"warning: jobs.good.options: table 'offers_paymentmethod' has no index on column 'user_id' \(option methods_user\).*CREATE INDEX ON \"offers_paymentmethod\" \(\"user_id\"\)"
sql "CREATE INDEX ON offers_paymentmethod (user_id)"
"$CHIMECTL" check "$tmp/good.yaml" >"$tmp/out" 2>&1 || not_ok "check passes with the index"
expect_no_grep "no index warning once the index exists" "$tmp/out" "no index on"
sql "ALTER TABLE offers_invoice ALTER note DROP DEFAULT"

if "$CHIMECTL" check "$tmp/bad.yaml" >"$tmp/out" 2>&1; then not_ok "check fails the wrong mappings"; fi
expect_grep "no unique key: refused at the option, with the CREATE UNIQUE INDEX" "$tmp/out" \
	"error: jobs.no-key.options: table 'offers_invoice_nokey' has no unique index on \(\"user_id\", \"payout_date\"\) \(option invoices_payout_date\).*CREATE UNIQUE INDEX"
expect_grep "a wrong column names the option, not an SQL alias" "$tmp/out" \
	"bad.yaml:[0-9]+:[0-9]+: error: jobs.alias.options.methods_address: table 'offers_paymentmethod' has no column 'binance_email' \(option methods_address\)"
expect_no_grep "no SQL alias in any message" "$tmp/out" "m\.binance"
expect_grep "a text column as the active flag is refused" "$tmp/out" \
	"error: jobs.flag.options.users_active: table 'offers_customuser' column 'nickname' \(option users_active\) has type character varying\(30\), expected boolean"
expect_grep "a status word the varchar cannot hold is refused" "$tmp/out" \
	"error: jobs.word.options.pending_status: table 'offers_invoice_nokey' column 'status' \(option pending_status\) has type character varying\(10\), which cannot hold the value 'pending_review'"
expect_grep "a NOT NULL column chime does not fill is named" "$tmp/out" \
	"error: jobs.notnull.options.invoices_table: table 'offers_invoice' column 'note' is NOT NULL without a default"

# Without the unique key a run is refused before anything is paid, dry or not.
before=$(balances)
for dry in --dry-run ""; do
	# shellcheck disable=SC2086
	if "$CHIMECTL" run no-key --config "$tmp/bad.yaml" --at 2026-03-02T02:00:00 $dry >"$tmp/run.out" 2>&1; then
		not_ok "run ${dry:-(real)} without the unique key fails"
	fi
	expect_grep "run ${dry:-(real)} without the unique key names job, table and option" "$tmp/run.out" \
		"job 'no-key': table 'offers_invoice_nokey' has no unique index on \(\"user_id\", \"payout_date\"\) \(option invoices_payout_date\)"
	expect_no_grep "run ${dry:-(real)} does not claim a re-run pays them" "$tmp/run.out" "running the slot again pays"
done
expect_eq "nobody paid, no balance changed" "$(invoices):$(balances)" "0:$before"

# The right mapping pays alice (bob is below the minimum); the unique key
# is (payout_date, user_id) in the other order, as good.
sql "ALTER TABLE offers_invoice ALTER note SET DEFAULT ''"
"$CHIMECTL" run good --config "$tmp/good.yaml" --at 2026-03-02T02:00:00 >"$tmp/run.out" 2>&1 ||
	{ sed 's/^/#   /' "$tmp/run.out"; not_ok "the right mapping runs"; }
expect_sql "one pending invoice for alice" \
	"SELECT user_id, amount, status, payout_date FROM offers_invoice" "1|150.00|pending|2026-03-02"
expect_eq "alice's balance taken, bob's kept" "$(balances)" "1:0.00,2:40.00"
finish
