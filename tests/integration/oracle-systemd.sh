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

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "skipped: systemd-analyze is not installed"
	exit 0
fi
if [ ! -x "$py" ]; then
	echo "skipped: $py is not installed"
	exit 0
fi

fails=0
run() {
	if ! "$py" "$CHIME_SOURCE_DIR/tests/harness/oracle_systemd.py" --chimectl "$CHIMECTL" "$@"; then
		fails=$((fails + 1))
	fi
}
run --zone UTC --seed 1 --count 1000
run --zone Europe/Berlin --seed 2 --count 600
run --zone Australia/Sydney --seed 3 --count 400

if [ "$fails" -ne 0 ]; then
	echo "FAIL: chimectl next and systemd-analyze disagree (see DISAGREE lines above)"
	exit 1
fi
echo "ok: chimectl next agrees with systemd-analyze calendar"
