# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# TAP helpers shared by the integration tests (sourced): ok/not_ok count
# failures in $fails, check runs a command, sql runs one statement with
# psql against $PGDATABASE, expect_eq/expect_sql/expect_grep compare and
# print what was wanted, finish prints the summary and fails the script
# when any check failed. skip ends a test that cannot run here (exit 77,
# which ctest reports as skipped). wait_until/wait_eq/wait_sql/wait_log
# poll a condition every 0.1 s instead of sleeping a fixed time: each
# returns 0 as soon as it holds, or prints what it saw and returns 1 after
# TIMEOUT seconds (fractions allowed), so `wait_... || fail ...` or plain
# `set -e` ends the test.
fails=0
ok() { echo "ok - $*"; }
not_ok() {
	echo "not ok - $1"
	fails=$((fails + 1))
}
check() { # NAME COMMAND...
	local name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}
sql() { psql -qAtX -v ON_ERROR_STOP=1 -c "$1"; }
expect_eq() { # NAME GOT WANT
	if [ "$2" = "$3" ]; then ok "$1"; else
		not_ok "$1"
		echo "#   want: $(echo "$3" | tr '\n' '|')"
		echo "#   got:  $(echo "$2" | tr '\n' '|')"
	fi
}
expect_sql() { # NAME QUERY WANT
	local before=$fails
	expect_eq "$1" "$(sql "$2")" "$3"
	if [ "$fails" -ne "$before" ]; then echo "#   query: $2"; fi
}
expect_grep() { # NAME FILE PATTERN
	if grep -qE -- "$3" "$2"; then ok "$1"; else
		not_ok "$1"
		echo "#   no line matching '$3' in:"
		sed 's/^/#   | /' "$2"
	fi
}
skip() { # REASON: this test cannot run here
	echo "1..0 # SKIP $*"
	exit 77
}
# wait_deadline TIMEOUT: the instant TIMEOUT s from now, in ms since the epoch.
wait_deadline() { echo $(($(date +%s%3N) + ${1%.*} * 1000 + $(wait_frac_ms "$1"))); }
wait_frac_ms() { # "2.5" -> 500, "3" -> 0
	case $1 in
	*.*) local f=${1#*.}000; echo $((10#${f:0:3})) ;;
	*) echo 0 ;;
	esac
}
wait_until() { # TIMEOUT CMD...: until CMD succeeds
	local end
	end=$(wait_deadline "$1")
	shift
	until "$@"; do
		if [ "$(date +%s%3N)" -ge "$end" ]; then
			echo "# timed out waiting for: $*" >&2
			return 1
		fi
		sleep 0.1
	done
}
wait_eq() { # TIMEOUT WANT CMD...: until CMD prints WANT
	local end want=$2 got
	end=$(wait_deadline "$1")
	shift 2
	while got=$("$@" 2>&1); [ "$got" != "$want" ]; do
		if [ "$(date +%s%3N)" -ge "$end" ]; then
			echo "# timed out waiting for: $*" >&2
			echo "#   want: $want" >&2
			echo "#   got:  $got" >&2
			return 1
		fi
		sleep 0.1
	done
}
wait_sql() { wait_eq "$1" "$3" sql "$2"; } # TIMEOUT QUERY WANT
wait_log() { # TIMEOUT FILE PATTERN: until a line of FILE matches (grep -E)
	wait_until "$1" grep -qE -- "$3" "$2"
}
finish() {
	if [ "$fails" -ne 0 ]; then
		echo "# $fails check(s) failed"
		exit 1
	fi
	echo "# all checks passed"
}
