#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# email_sync over django-tenants style schemas: tenants listed in
# public.tenants, the same tables in each schema. acme has two good
# mailboxes, globex one with a wrong password, initech is inactive. The
# run syncs acme's two, records globex's login failure on its row, leaves
# initech alone, and succeeds with failed: 1. `tenant:` narrows the run to
# one schema; a run whose every connection failed fails. Units are queued
# round-robin across tenants (acme/1, globex/1, acme/2). The password never
# appears in the output.
set -euo pipefail
# shellcheck disable=SC1091
. "$CHIME_SOURCE_DIR/tests/harness/email-fixture.sh"

"$dovecot_sh" user "$tmp/dovecot" bob bobs-password
"$dovecot_sh" user "$tmp/dovecot" carol carols-password
deliver alice 1 3
deliver bob 1 2
deliver carol 1 2

sql "CREATE TABLE public.tenants (schema_name text PRIMARY KEY, is_active boolean NOT NULL);
INSERT INTO public.tenants VALUES ('acme', true), ('globex', true), ('initech', false);
CREATE SCHEMA acme; CREATE SCHEMA globex; CREATE SCHEMA initech;"
for s in acme globex initech; do
	PGOPTIONS="-csearch_path=$s" psql -qX -v ON_ERROR_STOP=1 \
		-f "$CHIME_SOURCE_DIR/config/sql/email.sql" >/dev/null
done
p=$DOVECOT_IMAP_PORT
sql "INSERT INTO acme.email_connections (id, imap_host, imap_port, tls_mode, username, password)
     VALUES (1, '127.0.0.1', $p, 'none', 'alice', 'secret'),
            (2, '127.0.0.1', $p, 'none', 'carol', 'carols-password');
INSERT INTO globex.email_connections (id, imap_host, imap_port, tls_mode, username, password)
     VALUES (1, '127.0.0.1', $p, 'none', 'bob', 'not-bobs-password');
INSERT INTO initech.email_connections (id, imap_host, imap_port, tls_mode, username, password)
     VALUES (1, '127.0.0.1', $p, 'none', 'alice', 'secret');"

cat >"$tmp/chime.yaml" <<YAML
timezone: UTC
database: {conninfo: ""}
jobs:
  all:
    schedule: "*/5 * * * *"
    plugin: email_sync
    options:
      tenants: {table: public.tenants, schema_column: schema_name, active_column: is_active}
      concurrency: 2
  serial:
    schedule: "*/5 * * * *"
    plugin: email_sync
    options:
      tenants: {table: public.tenants}
      concurrency: 1
  globex:
    schedule: "*/5 * * * *"
    plugin: email_sync
    options: {tenants: {table: public.tenants}, tenant: globex}
  acme:
    schedule: "*/5 * * * *"
    plugin: email_sync
    options: {tenants: {table: public.tenants}, tenant: acme}
  nosuch:
    schedule: "*/5 * * * *"
    plugin: email_sync
    options: {tenants: {table: public.tenants}, tenant: initech}
YAML

# check: the tables in the first active tenant's schema; an inactive
# tenant is a warning; a wrong tenants column fails at its option.
"$CHIMECTL" check "$tmp/chime.yaml" >"$tmp/check.out" 2>&1 ||
	{ not_ok "check passes"; sed 's/^/#   /' "$tmp/check.out"; }
expect_grep "check passes the tenants mapping" "$tmp/check.out" "configuration OK"
expect_grep "check warns that tenant initech is not active" "$tmp/check.out" \
	"warning: jobs.nosuch.options.tenants.table: public.tenants has no active tenant initech"
sed 's/tenant: acme}/tenant: acme, emails_subject: title}/; s/active_column: is_active}/active_column: schema_name}/' \
	"$tmp/chime.yaml" >"$tmp/bad.yaml"
if "$CHIMECTL" check "$tmp/bad.yaml" >"$tmp/check.out" 2>&1; then not_ok "check fails the wrong mappings"; fi
expect_grep "a text active_column fails at its option" "$tmp/check.out" \
	"error: jobs.all.options.tenants.active_column: table 'public.tenants' column 'schema_name' .*expected boolean"
expect_grep "a missing column in the tenant's schema fails at its option" "$tmp/check.out" \
	"error: jobs.acme.options.emails_subject: table 'emails' has no column 'title'"

sync serial "$tmp/dry.out" --dry-run || true
expect_eq "fairness: units interleaved across tenants" \
	"$(grep -E '^ +connection' "$tmp/dry.out" | grep -o 'connection [a-z]*/[0-9]*' | tr '\n' ' ')" \
	"connection acme/1 connection globex/1 connection acme/2 "

sync all "$tmp/all.out" && ok "run with one broken tenant succeeds" ||
	{ not_ok "run with one broken tenant succeeds"; sed 's/^/#   /' "$tmp/all.out"; }
expect_eq "report: 3 connections" "$(count_of connections "$tmp/all.out")" 3
expect_eq "report: 2 synced" "$(count_of synced "$tmp/all.out")" 2
expect_eq "report: 1 failed" "$(count_of failed "$tmp/all.out")" 1
expect_eq "report: 5 fetched" "$(count_of fetched "$tmp/all.out")" 5
expect_sql "acme: alice's 3 and carol's 2 in acme's own table" \
	"SELECT connection_id, count(*) FROM acme.emails GROUP BY 1 ORDER BY 1" "1|3
2|2"
expect_sql "acme: both rows advanced, no error" \
	"SELECT id, last_uid, last_sync_at IS NOT NULL, last_error IS NULL FROM acme.email_connections ORDER BY id" \
	"1|3|t|t
2|2|t|t"
expect_sql "globex: nothing stored" "SELECT count(*) FROM globex.emails" 0
expect_sql "globex: the login failure on its row, last_sync_at untouched" \
	"SELECT last_error LIKE 'login failed%', last_error_at IS NOT NULL, last_sync_at IS NULL, last_uid
	 FROM globex.email_connections" "t|t|t|0"
expect_sql "initech (inactive tenant): untouched" \
	"SELECT count(*), bool_and(last_sync_at IS NULL) FROM initech.email_connections" "1|t"
expect_sql "initech: nothing stored" "SELECT count(*) FROM initech.emails" 0
expect_sql "public tables untouched" "SELECT count(*) FROM public.emails" 0
if grep -q -e 'not-bobs-password' -e 'carols-password' -e secret "$tmp/all.out" "$tmp/dry.out"; then
	not_ok "no password in the output"
else
	ok "no password in the output"
fi

# bob's password fixed: the next run of globex alone syncs it and clears the error.
sync globex "$tmp/globex1.out" && not_ok "globex alone, still broken: the run fails" ||
	ok "globex alone, still broken: the run fails"
expect_grep "globex alone: the failure named" "$tmp/globex1.out" "every connection failed"
expect_eq "tenant: globex narrows to its 1 connection" "$(count_of connections "$tmp/globex1.out")" 1
sql "UPDATE globex.email_connections SET password = 'bobs-password'"
sync globex "$tmp/globex2.out" && ok "globex fixed: succeeds" || not_ok "globex fixed: succeeds"
expect_sql "globex: bob's 2 stored, the error cleared" \
	"SELECT (SELECT count(*) FROM globex.emails), last_uid, last_error IS NULL FROM globex.email_connections" "2|2|t"
expect_sql "globex alone: acme untouched" "SELECT count(*) FROM acme.emails" 5

deliver alice 4 4
sync acme "$tmp/acme.out" || true
expect_eq "tenant: acme narrows to its 2 connections" "$(count_of connections "$tmp/acme.out")" 2
expect_eq "tenant: acme fetches alice's new one" "$(count_of fetched "$tmp/acme.out")" 1
expect_sql "initech still untouched" "SELECT count(*) FROM initech.emails" 0

sync nosuch "$tmp/nosuch.out" && not_ok "tenant: an inactive tenant fails the run" ||
	ok "tenant: an inactive tenant fails the run"
expect_grep "inactive tenant named" "$tmp/nosuch.out" "tenant 'initech' is not an active tenant"

finish
