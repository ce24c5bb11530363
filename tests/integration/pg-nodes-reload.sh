#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# SIGHUP while runs are in flight loses none of them: a per-second job
# whose run takes 0.7 s keeps every slot through five reloads (one of
# them adding a job, one of them a broken file), every run of it is
# recorded succeeded, and the added job starts running.
set -euo pipefail
. "$CHIME_PG_ENV"
. "$CHIME_SOURCE_DIR/tests/harness/testlib.sh"

db=t_nodes_reload_$$
tmp=$(mktemp -d)
createdb "$db"
chimed_pid=
cleanup() {
	[ -n "$chimed_pid" ] && kill -KILL "$chimed_pid" 2>/dev/null || true
	dropdb --if-exists "$db" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "not ok - $*" >&2; tail -20 "$tmp/chimed.log" >&2; exit 1; }
q() { psql -X -A -t -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }

q "CREATE TABLE ticks (job text, slot timestamptz, PRIMARY KEY (job, slot))" >/dev/null
write_config() {
	cat >"$tmp/chime.yaml" <<EOF
timezone: UTC
node: reload-node
database:
  conninfo: "dbname=$db"
jobs:
  steady:
    schedule: "* * * * * *"
    plugin: sql
    options:
      statement: "INSERT INTO ticks SELECT 'steady', \$1 FROM pg_sleep(0.7)"
EOF
	if [ "$1" = with-new ]; then
		cat >>"$tmp/chime.yaml" <<EOF
  added:
    schedule: "* * * * * *"
    plugin: sql
    options:
      statement: "INSERT INTO ticks VALUES ('added', \$1)"
EOF
	fi
	if [ "$1" = broken ]; then
		echo "  broken: { schedule: '61 * * * *', plugin: sql }" >>"$tmp/chime.yaml"
	fi
}
write_config plain
"$CHIMED" --config "$tmp/chime.yaml" >"$tmp/chimed.log" 2>&1 &
chimed_pid=$!
wait_eq 10 t q "SELECT count(*) >= 2 FROM ticks WHERE job = 'steady'" || fail "the steady job never ran"
for step in plain with-new broken with-new with-new; do
	write_config "$step"
	kill -HUP "$chimed_pid"
	sleep 1.3 # spaces the reloads over several runs: not a wait for a result
done
reloads_done() {
	[ "$(grep -c "reloaded:" "$tmp/chimed.log")" -ge 4 ] && grep -q "reload failed" "$tmp/chimed.log"
}
wait_until 10 reloads_done || true # checked below
wait_eq 10 t q "SELECT count(*) >= 2 FROM ticks WHERE job = 'added'" || true # checked below
kill -TERM "$chimed_pid"
wait "$chimed_pid" || fail "chimed exited with an error"
chimed_pid=

[ "$(grep -c "reloaded:" "$tmp/chimed.log")" -ge 4 ] || fail "reloads not logged"
grep -q "reload failed" "$tmp/chimed.log" || fail "the broken file was not refused"
missing=$(q "SELECT count(*) FROM generate_series((SELECT min(slot) FROM ticks WHERE job = 'steady'),
	(SELECT max(slot) FROM ticks WHERE job = 'steady'), interval '1 second') s
	WHERE NOT EXISTS (SELECT 1 FROM ticks WHERE job = 'steady' AND slot = s)")
[ "$missing" = 0 ] || fail "$missing slots of the steady job lost across reloads"
n=$(q "SELECT count(*) FROM ticks WHERE job = 'steady'")
[ "$n" -ge 8 ] || fail "only $n steady runs"
echo "ok - $n slots through 5 reloads, none lost"
bad=$(q "SELECT count(*) FROM chime.runs WHERE job = 'steady' AND status <> 'succeeded'")
[ "$bad" = 0 ] || fail "$bad steady runs not succeeded: $(q "SELECT string_agg(status || ': ' || coalesce(error, ''), '; ') FROM chime.runs WHERE status <> 'succeeded'")"
[ "$(q "SELECT count(*) FROM chime.runs WHERE job = 'steady' AND status = 'succeeded'")" = "$n" ] ||
	fail "ledger and table disagree"
echo "ok - every run in flight during a reload finished and was recorded succeeded"
[ "$(q "SELECT count(*) FROM ticks WHERE job = 'added'")" -ge 2 ] || fail "the added job did not run"
echo "ok - the job added by a reload runs"
