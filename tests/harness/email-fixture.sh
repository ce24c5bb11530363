# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# Shared setup for tests/integration/pg-email-*.sh (sourced): a fresh
# database with config/sql/email.sql, a throwaway Dovecot (dovecot.sh) with
# the user alice/secret, both removed on exit, TAP helpers, a message
# generator, delivery, and `sync`, which runs a job of $tmp/chime.yaml with
# `chimectl run` at a new instant each time (a slot runs once).
# Expects CHIMECTL, CHIME_SOURCE_DIR, CHIME_PG_ENV.
: "${CHIMECTL:?}" "${CHIME_SOURCE_DIR:?}" "${CHIME_PG_ENV:?}"
# shellcheck disable=SC1090
. "$CHIME_PG_ENV"

dovecot_sh=$CHIME_SOURCE_DIR/tests/harness/dovecot.sh
db=t_email_$$
tmp=$(mktemp -d)
chmod 755 "$tmp"
createdb "$db"
export PGDATABASE=$db
email_pids=()
email_cleanup() {
	for p in "${email_pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	"$dovecot_sh" stop "$tmp/dovecot" >/dev/null 2>&1 || true
	dropdb --force --if-exists "$db" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap email_cleanup EXIT

# shellcheck source=testlib.sh
. "$CHIME_SOURCE_DIR/tests/harness/testlib.sh"

psql -qX -v ON_ERROR_STOP=1 -f "$CHIME_SOURCE_DIR/config/sql/email.sql" >/dev/null
"$dovecot_sh" start "$tmp/dovecot" >/dev/null
# shellcheck disable=SC1091
. "$tmp/dovecot/env"
"$dovecot_sh" user "$tmp/dovecot" alice secret

# message N [SUBJECT]: a small RFC 5322 message with CRLF line ends.
message() {
	printf 'Message-ID: <m%s@test.example>\r\nFrom: Sender %s <s%s@test.example>\r\n' "$1" "$1" "$1"
	printf 'To: alice@test.example\r\nSubject: %s\r\n' "${2:-message $1}"
	printf 'Date: Mon, 2 Mar 2026 10:%02d:00 +0400\r\n\r\nBody of message %s.\r\n' \
		"$(($1 % 60))" "$1"
}
# deliver USER FIRST LAST [MAILBOX]: messages FIRST..LAST.
deliver() {
	local i
	for i in $(seq "$2" "$3"); do
		message "$i" | "$dovecot_sh" save "$tmp/dovecot" "$1" "${4:-INBOX}"
	done
}

slot=0
# sync JOB OUT [chimectl options...]: one run at a fresh instant.
sync() {
	local job=$1 out=$2
	shift 2
	slot=$((slot + 1))
	"$CHIMECTL" run "$job" --config "$tmp/chime.yaml" \
		--at "2026-03-02T10:$(printf %02d $((slot / 60))):$(printf %02d $((slot % 60)))Z" \
		"$@" >"$out" 2>&1
}
count_of() { # NAME FILE: the report count NAME
	sed -n "s/^$1: //p" "$2" | head -1
}
