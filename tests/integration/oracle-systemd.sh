#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Oracle: `chimectl next` against `systemd-analyze calendar --iterations=N
# --base-time=@T` on random systemd calendar events (seeded, so
# reproducible), in UTC and in two DST zones away from the transitions.
# Zero disagreements allowed. Two systemd defects are recognised and
# reported, not counted: it skips January 1 for day repetitions such as
# *-*-1/11 (systemd issue #40260), and it gives up on some sparse specs
# ("Infinite loop in calendar calculation"), where chime's answer is checked
# by walking the days instead. See tests/harness/oracle_systemd.py.
set -euo pipefail

: "${CHIMECTL:?CHIMECTL must name the chimectl binary}"
: "${CHIME_SOURCE_DIR:?CHIME_SOURCE_DIR must name the source tree}"
py=/usr/bin/python3
. "$CHIME_SOURCE_DIR/tests/harness/testlib.sh"

command -v systemd-analyze >/dev/null 2>&1 || skip "systemd-analyze is not installed"
[ -x "$py" ] || skip "$py is not installed"

# CHIME_ORACLE_SCALE (percent, default 100) shrinks the expression counts:
# `make test-asan` runs the oracles at 10 %, since every chimectl call
# under ASan costs several times more.
scale=${CHIME_ORACLE_SCALE:-100}
fails=0
run() {
	if ! "$py" "$CHIME_SOURCE_DIR/tests/harness/oracle_systemd.py" --chimectl "$CHIMECTL" "$@"; then
		fails=$((fails + 1))
	fi
}
run --zone UTC --seed 1 --count $((1000 * scale / 100))
run --zone Europe/Berlin --seed 2 --count $((600 * scale / 100))
run --zone Australia/Sydney --seed 3 --count $((400 * scale / 100))

if [ "$fails" -ne 0 ]; then
	echo "FAIL: chimectl next and systemd-analyze disagree (see DISAGREE lines above)"
	exit 1
fi
echo "ok: chimectl next agrees with systemd-analyze calendar"
