#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The run fence against a real PostgreSQL: runs the cmocka
# program test_ledger_fence (which exits 77, skipped, without a database) on
# a database of its own.
set -euo pipefail
. "$CHIME_PG_ENV"
. "$CHIME_SOURCE_DIR/tests/harness/testlib.sh"
prog=$CHIME_BUILD_DIR/tests/test_ledger_fence
[ -x "$prog" ] || skip "$prog was not built (cmocka missing at configure time)"

db=t_ledger_fence_$$
createdb "$db"
trap 'dropdb --if-exists "$db" >/dev/null 2>&1' EXIT
CHIME_LEDGER_TEST_CONNINFO="dbname=$db" "$prog"
