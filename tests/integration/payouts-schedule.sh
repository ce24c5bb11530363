#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The two payout schedules of seed 003, spelled in both grammars, give the
# next 24 dates from 2026-01-01 equal to a hand-checked list. 2026-01-01 is
# a Thursday, so the Mondays of January 2026 are the 5th, 12th, 19th and
# 26th. Months where the 1st is a Monday (so the 15th is one too, and the
# first Monday after the 15th is the 22nd): June 2026, February, March and
# November 2027. No database needed.
set -euo pipefail

: "${CHIMECTL:?CHIMECTL must name the chimectl binary}" "${CHIME_SOURCE_DIR:?}"
zone=Asia/Tbilisi # +04:00 all year, no DST
from=2026-01-01T00:00:00
fails=0

first_monday="2026-01-05 2026-02-02 2026-03-02 2026-04-06 2026-05-04 2026-06-01
2026-07-06 2026-08-03 2026-09-07 2026-10-05 2026-11-02 2026-12-07
2027-01-04 2027-02-01 2027-03-01 2027-04-05 2027-05-03 2027-06-07
2027-07-05 2027-08-02 2027-09-06 2027-10-04 2027-11-01 2027-12-06"

after_15th="2026-01-19 2026-02-16 2026-03-16 2026-04-20 2026-05-18 2026-06-22
2026-07-20 2026-08-17 2026-09-21 2026-10-19 2026-11-16 2026-12-21
2027-01-18 2027-02-22 2027-03-22 2027-04-19 2027-05-17 2027-06-21
2027-07-19 2027-08-16 2027-09-20 2027-10-18 2027-11-22 2027-12-20"

expand() {
	local d
	for d in $1; do
		echo "${d}T02:00:00+04:00"
	done
}

check() {
	local name=$1 want=$2
	shift 2
	local got
	if ! got=$("$CHIMECTL" next "$@" -n 24 --from "$from" --tz "$zone" 2>&1); then
		echo "not ok - $name: chimectl next $* failed: $got"
		fails=$((fails + 1))
		return
	fi
	if [ "$got" != "$(expand "$want")" ]; then
		echo "not ok - $name: chimectl next $*"
		diff <(expand "$want") <(echo "$got") | sed 's/^/#   /'
		fails=$((fails + 1))
		return
	fi
	echo "ok - $name"
}

check "first Monday (crontab #)" "$first_monday" '0 2 * * MON#1'
check "first Monday (calendar)" "$first_monday" 'Mon *-*-1..7 02:00'
check "first Monday after the 15th (calendar)" "$after_15th" 'Mon *-*-16..22 02:00'
check "first Monday after the 15th (crontab, days: all)" "$after_15th" '0 2 16-22 * MON' --days all

# The seed jobs of config/chime.yaml (zone Asia/Tbilisi there): their
# next twelve dates.
check_job() {
	local job=$1 want=$2 got
	if ! got=$("$CHIMECTL" next --job "$job" --config "$CHIME_SOURCE_DIR/config/chime.yaml" \
		-n 12 --from "$from" 2>&1); then
		echo "not ok - config job $job: chimectl next --job failed: $got"
		fails=$((fails + 1))
		return
	fi
	if [ "$got" != "$(expand "$want" | head -n 12)" ]; then
		echo "not ok - config job $job"
		diff <(expand "$want" | head -n 12) <(echo "$got") | sed 's/^/#   /'
		fails=$((fails + 1))
		return
	fi
	echo "ok - config job $job: the next twelve dates"
}
check_job payouts-monthly "$first_monday"
check_job payouts-returning "$after_15th"

# Without --days all a crontab line restricting both day fields matches
# either (Vixie): every Monday, and every day from the 16th to the 22nd.
got=$("$CHIMECTL" next '0 2 16-22 * MON' -n 3 --from "$from" --tz "$zone")
want=$'2026-01-05T02:00:00+04:00\n2026-01-12T02:00:00+04:00\n2026-01-16T02:00:00+04:00'
if [ "$got" = "$want" ]; then
	echo "ok - '0 2 16-22 * MON' without days: all is Vixie's either-day match"
else
	echo "not ok - '0 2 16-22 * MON' (days any): got $got"
	fails=$((fails + 1))
fi

if [ "$fails" -gt 0 ]; then
	echo "payouts-schedule: $fails failed"
	exit 1
fi
