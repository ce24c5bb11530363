#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Payouts racing other work, checked per user to the cent (balance before
# + credits = balance after + invoiced):
#   1. two `chimectl run` of the same slot at once: the ledger lets one run;
#   2. two runs of different slots of the same payout date at once: both
#      run the plugin, each user is paid once;
#   3. transactions crediting balances while a payout runs (short ones,
#      and one holding a range of users locked for a second): no credit
#      lost, nobody paid twice, a locked user waited for, not skipped;
#   4. a user locked longer than lock_timeout: the others are paid, he is
#      reported and the run fails; running the slot again pays him.
set -euo pipefail

: "${CHIMECTL:?}" "${CHIME_SOURCE_DIR:?}" "${CHIME_PG_ENV:?}"
# shellcheck disable=SC1090
. "$CHIME_PG_ENV"

db=t_payouts_conc_$$
tmp=$(mktemp -d "${TMPDIR:-/tmp}/chime-payouts-XXXXXX")
createdb "$db"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	dropdb --force --if-exists "$db" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
export PGDATABASE=$db

. "$CHIME_SOURCE_DIR/tests/harness/testlib.sh"
run_job() { # OUT AT [ARGS...]
	local out=$1 at=$2
	shift 2
	"$CHIMECTL" run payouts --config "$tmp/chime.yaml" --at "$at" "$@" >"$out" 2>&1
}

psql -qX -v ON_ERROR_STOP=1 -f "$CHIME_SOURCE_DIR/config/sql/payouts.sql" >/dev/null

cat >"$tmp/chime.yaml" <<'YAML'
timezone: Asia/Tbilisi
database: {conninfo: ""}
jobs:
  payouts:
    schedule: "0 2 * * MON#1"
    plugin: payouts
    options: {batch_size: 20, lock_timeout: 3s}
YAML

# 2000 users, all eligible; credits are recorded next to the balance.
sql "
INSERT INTO users (id, email, balance)
 SELECT g, 'u' || g || '@example.com', 100 + (g * 53 % 50000) / 100.0
 FROM generate_series(1, 2000) AS g;
INSERT INTO payment_methods (user_id, address, approved)
 SELECT g, 'u' || g || '@binance.example', true FROM generate_series(1, 2000) AS g;
CREATE TABLE before AS SELECT id, balance FROM users;
CREATE TABLE credits (user_id bigint, amount numeric(14,2));
CREATE FUNCTION slow_down() RETURNS trigger LANGUAGE plpgsql AS
 \$\$ BEGIN PERFORM pg_sleep(0.01); RETURN NULL; END \$\$;
CREATE TRIGGER slow_down AFTER INSERT ON invoices FOR EACH STATEMENT EXECUTE FUNCTION slow_down();
"
conservation="SELECT count(*) FROM before b JOIN users u USING (id)
	LEFT JOIN (SELECT user_id, sum(amount) AS a FROM credits GROUP BY user_id) c
	  ON c.user_id = b.id
	LEFT JOIN (SELECT user_id, sum(amount) AS a FROM invoices GROUP BY user_id) i
	  ON i.user_id = b.id
	WHERE b.balance + coalesce(c.a, 0) <> u.balance + coalesce(i.a, 0)"
once="SELECT count(*) FROM (SELECT user_id FROM invoices GROUP BY user_id, payout_date
	HAVING count(*) > 1) d"

# ---- 1. The same slot twice at once.
run_job "$tmp/a.out" 2026-03-02T02:00:00+04:00 &
pa=$!
run_job "$tmp/b.out" 2026-03-02T02:00:00+04:00 &
pb=$!
pids=("$pa" "$pb")
ra=0 rb=0
wait "$pa" || ra=$?
wait "$pb" || rb=$?
pids=()
if [ $((ra + rb)) = 1 ]; then
	ok "same slot twice: one run, one refused"
else
	not_ok "same slot twice: exit codes $ra and $rb, want one 0 and one 1"
	sed 's/^/#   /' "$tmp/a.out" "$tmp/b.out"
fi
expect_sql "same slot twice: every user paid once" \
	"SELECT count(*), count(DISTINCT user_id) FROM invoices WHERE payout_date = '2026-03-02'" \
	"2000|2000"
expect_sql "same slot twice: conservation per user" "$conservation" 0

# ---- 2. Two slots of the same payout date at once: both run the plugin.
sql "UPDATE users SET balance = balance + 150.00;
	INSERT INTO credits SELECT id, 150.00 FROM users;"
run_job "$tmp/c.out" 2026-04-06T02:00:00+04:00 &
pa=$!
run_job "$tmp/d.out" 2026-04-06T02:00:07+04:00 &
pb=$!
pids=("$pa" "$pb")
ra=0 rb=0
wait "$pa" || ra=$?
wait "$pb" || rb=$?
pids=()
[ "$ra" = 0 ] && [ "$rb" = 0 ] && ok "same date, two slots: both runs succeed" || {
	not_ok "same date, two slots: exit codes $ra and $rb"
	sed 's/^/#   /' "$tmp/c.out" "$tmp/d.out"
}
pc=$(sed -n 's/^paid: //p' "$tmp/c.out")
pd=$(sed -n 's/^paid: //p' "$tmp/d.out")
[ $((pc + pd)) = 2000 ] && ok "same date, two slots: $pc + $pd = 2000 paid" ||
	not_ok "same date, two slots: $pc + $pd paid, want 2000 in all"
# Everybody was at zero after the first payout, then got 150.00.
expect_sql "same date, two slots: every user paid once, 150.00 each" \
	"SELECT count(*), count(DISTINCT user_id), sum(amount), min(amount), max(amount)
	   FROM invoices WHERE payout_date = '2026-04-06'" \
	"2000|2000|300000.00|150.00|150.00"
expect_sql "same date, two slots: conservation per user" "$conservation" 0
expect_sql "nobody has two invoices for one date" "$once" 0

# ---- 3. Credits committed while the payout runs. Everybody is at 200.00;
# users 1200..1230 get 7.77 in a transaction that holds their rows for 2 s
# from before the payout starts, so the payout waits for it and pays it;
# 1500 credits of 1.25 commit one by one during the run. What the payout
# leaves behind can then only be 1.25s credited after a user's lock.
sql "UPDATE users SET balance = balance + 200.00;
	INSERT INTO credits SELECT id, 200.00 FROM users;"
psql -qAtX -v ON_ERROR_STOP=1 >"$tmp/hold.out" 2>&1 -c "
BEGIN;
UPDATE users SET balance = balance + 7.77 WHERE id BETWEEN 1200 AND 1230;
INSERT INTO credits SELECT g, 7.77 FROM generate_series(1200, 1230) AS g;
SELECT pg_sleep(2);
COMMIT;" &
phold=$!
pids=("$phold")
for _ in $(seq 1 100); do
	held=$(sql "SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE '%pg_sleep(2)%' AND state = 'active'
		  AND pid <> pg_backend_pid()")
	[ "$held" = 1 ] && break
	sleep 0.05
done
psql -qAtX -v ON_ERROR_STOP=1 >"$tmp/credits.out" 2>&1 -c "
DO \$\$
DECLARE u bigint;
BEGIN
	FOR i IN 1..1500 LOOP
		u := 1 + (i * 7919) % 2000;
		UPDATE users SET balance = balance + 1.25 WHERE id = u;
		INSERT INTO credits VALUES (u, 1.25);
		COMMIT;
		PERFORM pg_sleep(0.001);
	END LOOP;
END \$\$" &
pcredit=$!
pids=("$phold" "$pcredit")
rc=0
run_job "$tmp/e.out" 2026-05-04T02:00:00+04:00 || rc=$?
wait "$pcredit" || not_ok "the crediting transactions failed: $(cat "$tmp/credits.out")"
wait "$phold" || not_ok "the long crediting transaction failed: $(cat "$tmp/hold.out")"
pids=()
[ "$rc" = 0 ] && ok "payout during credits succeeds" || {
	not_ok "payout during credits: exit $rc"
	sed 's/^/#   /' "$tmp/e.out"
}
expect_sql "during credits: every user paid once" \
	"SELECT count(*), count(DISTINCT user_id) FROM invoices WHERE payout_date = '2026-05-04'" \
	"2000|2000"
expect_sql "during credits: no credit lost, none paid twice (per user)" "$conservation" 0
expect_sql "during credits: the locked users were waited for and paid their 7.77" \
	"SELECT count(*) FROM invoices WHERE payout_date = '2026-05-04'
	   AND user_id BETWEEN 1200 AND 1230 AND amount % 1.25 = 7.77 % 1.25 + 200 % 1.25" \
	"31"
expect_sql "during credits: only credits after a user's lock are left for next time" \
	"SELECT count(*) FROM users WHERE balance % 1.25 <> 0" 0
expect_sql "nobody has two invoices for one date" "$once" 0

# ---- 4. A user locked longer than lock_timeout.
sql "UPDATE users SET balance = balance + 120.00;
	INSERT INTO credits SELECT id, 120.00 FROM users;
	DROP TRIGGER slow_down ON invoices;"
psql -qAtX -v ON_ERROR_STOP=1 >"$tmp/lock.out" 2>&1 -c "
BEGIN;
SELECT id FROM users WHERE id = 777 FOR UPDATE;
SELECT pg_sleep(60);
COMMIT;" &
plock=$!
pids=("$plock")
for _ in $(seq 1 100); do
	held=$(sql "SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE '%pg_sleep(60)%' AND state = 'active'
		  AND pid <> pg_backend_pid()")
	[ "$held" = 1 ] && break
	sleep 0.05
done
rc=0
run_job "$tmp/f.out" 2026-06-01T02:00:00+04:00 || rc=$?
[ "$rc" = 1 ] && ok "a user locked past lock_timeout fails the run" || {
	not_ok "a user locked past lock_timeout: exit $rc, want 1"
	sed 's/^/#   /' "$tmp/f.out"
}
grep -q "^  user 777: not paid: .*lock" "$tmp/f.out" && ok "the locked user is reported" || {
	not_ok "the locked user is reported"
	sed 's/^/#   /' "$tmp/f.out"
}
expect_sql "the others are paid" \
	"SELECT count(*), bool_and(user_id <> 777) FROM invoices WHERE payout_date = '2026-06-01'" \
	"1999|t"
# The lock is held until the run is over however slow the machine, then
# let go.
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	WHERE datname = current_database() AND query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()" >/dev/null
wait "$plock" || true
pids=()
# The failed slot gets a new attempt (as the daemon's retry would).
rc=0
run_job "$tmp/g.out" 2026-06-01T02:00:00+04:00 || rc=$?
[ "$rc" = 0 ] && grep -qx "paid: 1" "$tmp/g.out" && ok "the retry pays him, and only him" || {
	not_ok "the retry pays the locked user"
	sed 's/^/#   /' "$tmp/g.out"
}
expect_sql "after the retry: every user paid once" \
	"SELECT count(*), count(DISTINCT user_id) FROM invoices WHERE payout_date = '2026-06-01'" \
	"2000|2000"
expect_sql "after the retry: conservation per user" "$conservation" 0
expect_sql "nobody has two invoices for one date" "$once" 0

if [ "$fails" -gt 0 ]; then
	echo "pg-payouts-concurrent: $fails failed"
	exit 1
fi
