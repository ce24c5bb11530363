#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# chimectl audit and why over a prepared ledger, without chimed: an hourly
# job in Europe/Berlin across the spring-forward night (the 02:00 its DST
# policy skips, a success late by 42 ms, a lost attempt re-run on another
# node, a slot skipped while paused with a note, a two-slot outage, an
# overlap skip, a failure, a manual run apart) and the fall-back night
# (both 02:00s, a timeout, a cancel), and a fixed-hour job whose repeated
# 02:30 the policy runs once. The tables are compared with golden files
# (tests/data/audit/*.txt; CHIME_GOLDEN_UPDATE=1 rewrites them), --json is
# parsed back, `why` explains a few slots, and bad input is refused.
. "$CHIME_SOURCE_DIR/tests/harness/daemon-lib.sh"
. "$CHIME_PG_ENV"
: "${CHIMECTL:?}"

db=t_audit_$$
createdb "$db"
trap 'rc=$?; dropdb --if-exists --force "$db" >/dev/null 2>&1; set +e; (exit $rc); cleanup' EXIT
GOLDEN=$CHIME_SOURCE_DIR/tests/data/audit

q() { psql -X -A -t -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }
json() { /usr/bin/python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }
audit() { "$CHIMECTL" audit "$@" --config "$CONFIG"; }
why() { "$CHIMECTL" why "$@" --config "$CONFIG"; }
golden() { # NAME: stdin equals tests/data/audit/NAME.txt
	cat >"$TMP/$1.txt"
	if [ -n "${CHIME_GOLDEN_UPDATE:-}" ]; then cp "$TMP/$1.txt" "$GOLDEN/$1.txt"; fi
	diff -u "$GOLDEN/$1.txt" "$TMP/$1.txt" || fail "$1: the audit differs from $GOLDEN/$1.txt"
	ok "$1: as the golden file"
}

write_config <<EOF
timezone: Europe/Berlin
node: audit-node
database:
  conninfo: "dbname=$db"
defaults:
  history: 3650d
jobs:
  hourly:
    schedule: "0 * * * *"
    plugin: noop
    misfire: run-once
  nightly:
    schedule: "30 2 * * *"
    plugin: noop
EOF

# An empty ledger (the schema is created on the way): every slot missing.
audit hourly --from '2026-03-29 00:00' --to '2026-03-29 01:00' >"$TMP/empty.txt"
grep -q 'missing .*no row: the ledger has no row of this job at all' "$TMP/empty.txt" ||
	fail "empty ledger: $(cat "$TMP/empty.txt")"
ok "empty ledger: missing, no row of this job at all"

# run JOB LOCAL OCC SCHEDULED ATTEMPT NODE STATUS CLAIM-OFFSET START-OFFSET END-OFFSET [ERROR] [MANUAL]
# Offsets are intervals after scheduled_for ('' = NULL).
run() {
	local start=NULL end=NULL error=NULL
	[ -n "$9" ] && start="'$4'::timestamptz + interval '$9'"
	[ -n "${10}" ] && end="'$4'::timestamptz + interval '${10}'"
	[ -n "${11:-}" ] && error="\$e\$${11}\$e\$"
	q "INSERT INTO chime.runs (job, slot_local, slot_occurrence, scheduled_for, attempt, node,
	    status, manual, claimed_at, started_at, heartbeat_at, finished_at, error)
	   VALUES ('$1', '$2', $3, '$4', $5, '$6', '$7', ${12:-false},
	    '$4'::timestamptz + interval '$8', $start, now(), $end, $error)" >/dev/null
}
# The spring-forward night: 02:00 CET becomes 03:00 CEST at 01:00Z.
run hourly '2026-03-28 23:00' 0 2026-03-28T22:00:00Z 1 n1 succeeded '0.02 s' '0.042 s' '2 s'
run hourly '2026-03-29 00:00' 0 2026-03-28T23:00:00Z 1 n1 lost '0.01 s' '0.01 s' '5 min' \
	"lost: node 'n1' stopped heartbeating, re-run by node 'n2'"
run hourly '2026-03-29 00:00' 0 2026-03-28T23:00:00Z 2 n2 succeeded '5 min' '301 s' '303 s'
run hourly '2026-03-29 01:00' 0 2026-03-29T00:00:00Z 1 n2 skipped '0.1 s' '' '0.1 s' paused
q "INSERT INTO chime.pause_log (job, paused_at, resumed_at, paused_by, note, node) VALUES
   ('hourly', '2026-03-28T23:30:00Z', '2026-03-29T00:30:00Z', 'alice', 'deploy freeze, INC-7', 'n1')" >/dev/null
# 03:00 and 04:00: no node was up. 05:00 runs for 70 minutes...
run hourly '2026-03-29 05:00' 0 2026-03-29T03:00:00Z 1 n1 succeeded '0.003 s' '0.005 s' '70 min'
# ...so 06:00 is skipped for the overlap.
run hourly '2026-03-29 06:00' 0 2026-03-29T04:00:00Z 1 n2 skipped '0.02 s' '' '0.02 s' \
	'overlap: the previous run is still running'
run hourly '2026-03-29 07:00' 0 2026-03-29T05:00:00Z 1 n2 failed '0.004 s' '0.008 s' '1 s' 'exit status 3'
run hourly '2026-03-29 05:17' 0 2026-03-29T03:17:00Z 1 n1 succeeded '0 s' '0 s' '1 s' '' true
# The fall-back night: 03:00 CEST becomes 02:00 CET at 01:00Z; an hourly
# job runs both 02:00s (occurrence 0 and 1).
run hourly '2026-10-25 00:00' 0 2026-10-24T22:00:00Z 1 n1 succeeded '0.01 s' '0.011 s' '1 s'
run hourly '2026-10-25 01:00' 0 2026-10-24T23:00:00Z 1 n1 succeeded '0.01 s' '0.012 s' '1 s'
run hourly '2026-10-25 02:00' 0 2026-10-25T00:00:00Z 1 n1 succeeded '0.01 s' '0.013 s' '1 s'
run hourly '2026-10-25 02:00' 1 2026-10-25T01:00:00Z 1 n2 succeeded '0.01 s' '0.014 s' '1 s'
run hourly '2026-10-25 03:00' 0 2026-10-25T02:00:00Z 1 n2 timed_out '0.01 s' '0.015 s' '60 s' \
	'timed out after 60000 ms'
run hourly '2026-10-25 04:00' 0 2026-10-25T03:00:00Z 1 n1 cancelled '0.01 s' '0.016 s' '2 s' \
	'cancelled: shutdown'
# The fixed-hour job: 02:30 runs at the jump in spring, once in autumn.
run nightly '2026-03-29 02:30' 0 2026-03-29T01:00:00Z 1 n1 succeeded '0.01 s' '0.02 s' '1 s'
run nightly '2026-10-25 02:30' 0 2026-10-25T00:30:00Z 1 n1 succeeded '0.01 s' '0.03 s' '1 s'

audit hourly --from '2026-03-28 23:00' --to '2026-03-29 07:00' | golden hourly-spring
audit hourly --from 2026-10-24T22:00:00Z --to 2026-10-25T03:00:00Z | golden hourly-fall
{
	audit nightly --from '2026-03-28 12:00' --to '2026-03-29 12:00'
	audit nightly --from '2026-10-24 12:00' --to '2026-10-25 12:00'
} | golden nightly

# --json: the same verdicts, parsed back.
audit hourly --from '2026-03-28 23:00' --to '2026-03-29 07:00' --json >"$TMP/spring.json"
expect_eq "json verdicts" "$(json '[(s["local"][11:16], s["verdict"], s["skip"]) for s in j["slots"]]' <"$TMP/spring.json")" \
	"[('23:00', 'succeeded', None), ('00:00', 'recovered', None), ('01:00', 'skipped', 'paused'), ('02:00', 'skipped', 'dst-gap'), ('03:00', 'missing', None), ('04:00', 'missing', None), ('05:00', 'succeeded', None), ('06:00', 'skipped', 'overlap'), ('07:00', 'failed', None)]"
expect_eq "json details" "$(json '(j["timezone"], j["slots"][0]["late_ms"], j["slots"][0]["run"]["node"], j["slots"][3]["slot"], j["slots"][7]["overlap_run"] is not None, [r["manual"] for r in j["other_runs"]], j["counts"]["missing"])' <"$TMP/spring.json")" \
	"('Europe/Berlin', 42, 'n1', None, True, [True], 2)"

# why: one slot in sentences.
why hourly --at '2026-03-29 03:30' >"$TMP/why.txt"
grep -q "put a slot at 2026-03-29 03:00:00 +02:00. No node recorded anything for it in the ledger. Verdict: missing: no row: no node claimed it .* 2 slots in a row missing" "$TMP/why.txt" ||
	fail "why (outage): $(cat "$TMP/why.txt")"
grep -qF "The slot before it with a row, 2026-03-29 01:00:00 +01:00, was skipped by node n2. The next slot with a row, 2026-03-29 05:00:00 +02:00, was claimed by node n1. (The nearest slot at or before 2026-03-29 03:30:00 +02:00.)" "$TMP/why.txt" ||
	fail "why: the rows around the outage or the nearest slot not said: $(cat "$TMP/why.txt")"
ok "why: a slot of the outage, the nearest before the time asked"
why hourly --at '2026-03-29T01:00:00+01:00' | grep -q "Node n2 recorded it skipped at .* Verdict: skipped: paused by alice: deploy freeze, INC-7" ||
	fail "why (paused): $(why hourly --at '2026-03-29T01:00:00+01:00')"
ok "why: paused by whom and why"
why hourly --at '2026-03-29 02:00' | grep -q "matches 2026-03-29 02:00:00 in Europe/Berlin, a wall time that does not exist.* Verdict: skipped: dst gap" ||
	fail "why (gap): $(why hourly --at '2026-03-29 02:00')"
ok "why: a wall time in the DST gap"
why hourly --at '2026-03-29 00:00' | grep -q "Node n2 claimed it at .*attempt 2; 2 attempts in all.* Verdict: recovered: succeeded on node n2, late by 5min 1s after 2 attempts (attempt 1 was lost on node n1)" ||
	fail "why (recovered): $(why hourly --at '2026-03-29 00:00')"
ok "why: a lost attempt re-run"
expect_eq "why --json" "$(why hourly --at '2026-03-29 06:00' --json | json '(j["verdict"], j["skip"], "overlap: run" in j["explanation"])')" \
	"('skipped', 'overlap', True)"

# Bad input: clear errors, exit 2 for usage, 1 for an unknown job.
expect_rc() { # NAME WANT-RC PATTERN CMD...
	local name=$1 want=$2 pattern=$3 rc=0
	shift 3
	"$@" >/dev/null 2>"$TMP/err.txt" || rc=$?
	[ "$rc" = "$want" ] || fail "$name: exit $rc, want $want: $(cat "$TMP/err.txt")"
	grep -qF -- "$pattern" "$TMP/err.txt" || fail "$name: message: $(cat "$TMP/err.txt")"
	ok "$name"
}
expect_rc "bad time: exit 2" 2 "--from 'yesterday': not a time (RFC 3339" audit hourly --from yesterday
expect_rc "from after to: exit 2" 2 "is after --to" audit hourly --from '2026-03-30 00:00' --to '2026-03-29 00:00'
expect_rc "unknown job: exit 1" 1 "no job 'nosuch'" audit nosuch
expect_rc "too many slots: exit 2" 2 "more than 100000 slots: narrow it, or add --force" \
	audit hourly --from 2000-01-01T00:00:00Z --to 2026-01-01T00:00:00Z
expect_rc "no job name: exit 2" 2 "needs one job name" "$CHIMECTL" audit --config "$CONFIG"
expect_rc "--at on audit: exit 2" 2 "usage" audit hourly --at 2026-03-29T00:00:00Z
audit hourly --from 2014-01-01T00:00:00Z --to 2026-01-01T00:00:00Z --force --json |
	json '(len(j["slots"]) > 100000, j["counts"]["missing"] > 0)' >"$TMP/force.txt"
expect_eq "--force lifts the limit" "$(cat "$TMP/force.txt")" "(True, True)"

# Upgrading a schema-1 ledger an administrator made: the pause in force
# goes to chime.pause_log, and a role granted on chime.paused may write it.
db1=t_audit_v1_$$
createdb "$db1"
trap 'rc=$?; dropdb --if-exists --force "$db" >/dev/null 2>&1; dropdb --if-exists --force "$db1" >/dev/null 2>&1; psql -X -q -d postgres -c "DROP ROLE IF EXISTS chime_audit_$$" >/dev/null 2>&1; set +e; (exit $rc); cleanup' EXIT
sql_dir=$CHIME_SOURCE_DIR/lib/ledger/sql
psql -X -q -v ON_ERROR_STOP=1 -d "$db1" >/dev/null <<SQL
BEGIN;
\i $sql_dir/migrate-lock.sql
\i $sql_dir/migrate-001.sql
INSERT INTO chime.schema_version (version) VALUES (1);
INSERT INTO chime.paused (job, paused_at, node) VALUES ('hourly', '2026-03-01T00:00:00Z', 'old-node');
CREATE ROLE chime_audit_$$ LOGIN;
GRANT USAGE ON SCHEMA chime TO chime_audit_$$;
GRANT SELECT, INSERT, UPDATE, DELETE ON chime.paused TO chime_audit_$$;
COMMIT;
SQL
sed "s/dbname=$db/dbname=$db1/" "$CONFIG" >"$TMP/v1.yaml"
"$CHIMECTL" audit hourly --config "$TMP/v1.yaml" --from '2026-03-01 00:00' --to '2026-03-01 02:00' >/dev/null ||
	fail "audit of a schema-1 ledger"
expect_eq "upgrade: version 2, the pause in force kept in pause_log" \
	"$(psql -X -A -t -d "$db1" -c "SELECT (SELECT max(version) FROM chime.schema_version), node FROM chime.pause_log WHERE job = 'hourly' AND resumed_at IS NULL")" \
	"2|old-node"
expect_eq "upgrade: the roles of chime.paused may write chime.pause_log" \
	"$(psql -X -A -t -d "$db1" -c "SELECT has_table_privilege('chime_audit_$$', 'chime.pause_log', 'INSERT') AND has_table_privilege('chime_audit_$$', 'chime.pause_log', 'UPDATE')")" t
finish
