#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Oracle: `chimectl next` against Debian's python3-croniter on a few
# thousand random crontab expressions (seeded, so reproducible), in UTC and
# in two DST zones (north and south) away from the transitions, with
# croniter's day_or matching chime's days mode. Zero disagreements allowed.
# The generator and the rules for what is compared are in
# tests/harness/oracle_croniter.py.
set -euo pipefail

: "${CHIMECTL:?CHIMECTL must name the chimectl binary}"
: "${CHIME_SOURCE_DIR:?CHIME_SOURCE_DIR must name the source tree}"
py=/usr/bin/python3
. "$CHIME_SOURCE_DIR/tests/harness/testlib.sh"

[ -x "$py" ] || skip "$py is not installed"
"$py" -c 'import croniter' 2>/dev/null ||
	skip "python3-croniter is not installed (apt-get install python3-croniter)"

# CHIME_ORACLE_SCALE (percent, default 100) shrinks the expression counts:
# `make test-asan` runs the oracles at 10 %, since every chimectl call
# under ASan costs several times more.
scale=${CHIME_ORACLE_SCALE:-100}
fails=0
run() {
	if ! "$py" "$CHIME_SOURCE_DIR/tests/harness/oracle_croniter.py" --chimectl "$CHIMECTL" "$@"; then
		fails=$((fails + 1))
	fi
}
run --zone UTC --seed 1 --count $((1500 * scale / 100))
run --zone Europe/Berlin --seed 2 --count $((1000 * scale / 100))
run --zone Australia/Sydney --seed 3 --count $((500 * scale / 100))

if [ "$fails" -ne 0 ]; then
	echo "FAIL: chimectl next and croniter disagree (see DISAGREE lines above)"
	exit 1
fi
echo "ok: chimectl next agrees with croniter"
