#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A payout run killed with SIGKILL in the middle loses no money and pays
# nobody twice: every user either has his invoice and a balance reduced by
# exactly that amount, or neither. A re-run for the same payout date pays
# exactly the users the killed run had not reached; a third run pays
# nobody. Checked per user against the balances before, to the cent.
#
# The run is made slow enough to be killed mid-way: 3000 users, batches of
# 10, and a statement trigger on invoices that sleeps 20 ms per batch.
set -euo pipefail

: "${CHIMECTL:?}" "${CHIME_SOURCE_DIR:?}" "${CHIME_PG_ENV:?}"
# shellcheck disable=SC1090
. "$CHIME_PG_ENV"

db=t_payouts_kill_$$
tmp=$(mktemp -d "${TMPDIR:-/tmp}/chime-payouts-XXXXXX")
createdb "$db"
pid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	dropdb --force --if-exists "$db" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
export PGDATABASE=$db

. "$CHIME_SOURCE_DIR/tests/harness/testlib.sh"

psql -qX -v ON_ERROR_STOP=1 -f "$CHIME_SOURCE_DIR/config/sql/payouts.sql" >/dev/null

cat >"$tmp/chime.yaml" <<'YAML'
timezone: Asia/Tbilisi
database: {conninfo: ""}
jobs:
  payouts-first-monday:
    schedule: "0 2 * * MON#1"
    plugin: payouts
    options: {batch_size: 10}
YAML

# 3000 users; every 10th is below the minimum, every 7th has no approved
# method: 3000 - 300 - 429 + 43 = 2314 are eligible.
sql "
INSERT INTO users (id, email, balance)
 SELECT g, 'u' || g || '@example.com',
        CASE WHEN g % 10 = 0 THEN 42.17 ELSE 100 + (g * 37 % 90000) / 100.0 END
 FROM generate_series(1, 3000) AS g;
INSERT INTO payment_methods (user_id, address, approved)
 SELECT g, 'u' || g || '@binance.example', g % 7 <> 0 FROM generate_series(1, 3000) AS g;
CREATE TABLE before AS SELECT id, balance FROM users;
CREATE FUNCTION slow_down() RETURNS trigger LANGUAGE plpgsql AS
 \$\$ BEGIN PERFORM pg_sleep(0.02); RETURN NULL; END \$\$;
CREATE TRIGGER slow_down AFTER INSERT ON invoices FOR EACH STATEMENT EXECUTE FUNCTION slow_down();
"
eligible=$(sql "SELECT count(*) FROM users u WHERE balance >= 100
	AND EXISTS (SELECT 1 FROM payment_methods m WHERE m.user_id = u.id AND m.approved)")
[ "$eligible" = 2314 ] && ok "2314 eligible users" || not_ok "eligible users: $eligible, want 2314"

# Conservation per user, to the cent: before = after + invoiced.
conservation="SELECT count(*) FROM before b JOIN users u USING (id)
	LEFT JOIN (SELECT user_id, sum(amount) AS paid FROM invoices GROUP BY user_id) i
	ON i.user_id = b.id WHERE b.balance <> u.balance + coalesce(i.paid, 0)"
# Paid users are at zero, the others untouched.
atomic="SELECT count(*) FROM before b JOIN users u USING (id)
	LEFT JOIN invoices i ON i.user_id = b.id
	WHERE (i.id IS NULL AND u.balance <> b.balance)
	   OR (i.id IS NOT NULL AND (u.balance <> 0 OR i.amount <> b.balance))"

"$CHIMECTL" run payouts-first-monday --config "$tmp/chime.yaml" \
	--at 2026-03-02T02:00:00+04:00 >"$tmp/killed.out" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
	n=$(sql "SELECT count(*) FROM invoices")
	[ "$n" -ge 300 ] && break
	sleep 0.05
done
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
pid=
# The server side of the killed connection ends when it notices; only
# then is it settled whether its last batch committed.
for _ in $(seq 1 200); do
	n=$(sql "SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()")
	[ "$n" = 0 ] && break
	sleep 0.05
done
paid_killed=$(sql "SELECT count(*) FROM invoices")
if [ "$paid_killed" -gt 0 ] && [ "$paid_killed" -lt "$eligible" ]; then
	ok "killed mid-run: $paid_killed of $eligible users paid"
else
	not_ok "killed mid-run: $paid_killed of $eligible paid (the kill did not land mid-run)"
	sed 's/^/#   /' "$tmp/killed.out"
fi
expect_sql "after SIGKILL: conservation per user" "$conservation" 0
expect_sql "after SIGKILL: an invoice exactly when the balance went to zero" "$atomic" 0

# Re-run for the same payout date (a later instant of the same day: the
# ledger's claim on the killed slot does not stand in the way, the
# plugin's own once-per-date guarantee is what is tested).
if "$CHIMECTL" run payouts-first-monday --config "$tmp/chime.yaml" \
	--at 2026-03-02T02:00:01+04:00 >"$tmp/rerun.out" 2>&1; then
	ok "re-run succeeds"
else
	not_ok "re-run succeeds"
	sed 's/^/#   /' "$tmp/rerun.out"
fi
want_rest=$((eligible - paid_killed))
grep -qx "paid: $want_rest" "$tmp/rerun.out" && ok "re-run pays the $want_rest users left" ||
	{ not_ok "re-run pays the $want_rest users left"; grep -E '^(paid|skipped|failed)' "$tmp/rerun.out" | sed 's/^/#   /'; }
expect_sql "after re-run: every eligible user has one invoice" \
	"SELECT count(*), count(DISTINCT user_id) FROM invoices WHERE payout_date = '2026-03-02'" \
	"$eligible|$eligible"
expect_sql "after re-run: conservation per user" "$conservation" 0
expect_sql "after re-run: an invoice exactly when the balance went to zero" "$atomic" 0
expect_sql "after re-run: the sums agree to the cent" \
	"SELECT (SELECT sum(balance) FROM before) = (SELECT sum(balance) FROM users) + (SELECT sum(amount) FROM invoices)" t

# And the killed slot itself, run again, pays nobody.
sql "DROP TRIGGER slow_down ON invoices"
"$CHIMECTL" run payouts-first-monday --config "$tmp/chime.yaml" \
	--at 2026-03-02T02:00:00+04:00 >"$tmp/third.out" 2>&1 || true
expect_sql "third run: still one invoice per user" \
	"SELECT count(*) FROM invoices" "$eligible"
expect_sql "third run: conservation per user" "$conservation" 0

if [ "$fails" -gt 0 ]; then
	echo "pg-payouts-kill: $fails failed"
	exit 1
fi
