# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# TAP helpers shared by the integration fixtures (sourced): ok/not_ok count
# failures in $fails, check runs a command, sql runs one statement with
# psql against $PGDATABASE, expect_eq/expect_sql/expect_grep compare and
# print what was wanted, finish prints the summary and fails the script
# when any check failed.
fails=0
ok() { echo "ok - $1"; }
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
finish() {
	if [ "$fails" -ne 0 ]; then
		echo "# $fails check(s) failed"
		exit 1
	fi
	echo "# all checks passed"
}
