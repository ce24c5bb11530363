#!/bin/bash
# SPDX-License-Identifier: MIT
# chimectl import-crontab on the crontab lines of every seed document
# (tests/data/crontab/seeds.crontab): the jobs block, wrapped into a config,
# is accepted by `chimectl check`, with the names and command shapes a user
# would expect; bad lines are reported with their line numbers.
set -eu

: "${CHIMECTL:?}" "${CHIME_SOURCE_DIR:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; fail=1; }

seeds=$CHIME_SOURCE_DIR/tests/data/crontab/seeds.crontab
if "$CHIMECTL" import-crontab "$seeds" --user app >"$tmp/jobs.yaml" 2>"$tmp/err"; then
	ok "import-crontab exits 0 on the seed crontab"
else
	cat "$tmp/err"
	notok "import-crontab failed on the seed crontab"
fi
[ ! -s "$tmp/err" ] && ok "no diagnostics for the seed lines" || { cat "$tmp/err"; notok "diagnostics on stderr"; }

{
	echo "timezone: Asia/Tbilisi"
	echo "database: { conninfo: \"dbname=app\" }"
	cat "$tmp/jobs.yaml"
} >"$tmp/chime.yaml"
if out=$("$CHIMECTL" check --no-db "$tmp/chime.yaml" 2>&1) && [ "$out" = "configuration OK" ]; then
	ok "chimectl check accepts the converted seed jobs"
else
	echo "$out"
	notok "chimectl check rejects the converted config"
	cat -n "$tmp/chime.yaml"
fi

# One job per crontab line, named after the command, unique.
names=$(sed -n 's/^  \([a-z0-9][a-z0-9-]*\):$/\1/p' "$tmp/jobs.yaml" | tr '\n' ' ')
want="expire-referral-codes sync-emails process-recurring-payments check-subscription-status \
process-recurring-payments-2 check-subscription-status-2 process-recurring-payments-3 \
cron-jobs cron-jobs-2 cron-jobs-3 package-scheduler "
[ "$names" = "$want" ] && ok "job names: $names" || notok "job names '$names', want '$want'"

# Shell syntax (cd &&) keeps the command as one shell string; the trailing
# ">> log 2>&1" goes, with a note, so the three cron_jobs.py lines become argv.
n_shell=$(grep -c '^      shell: true$' "$tmp/jobs.yaml" || true)
[ "$n_shell" = 8 ] && ok "8 shell commands" || notok "$n_shell shell commands, want 8"
n_note=$(grep -c '^  # now in the journal: journalctl -u chimed CHIME_JOB=' "$tmp/jobs.yaml" || true)
[ "$n_note" = 11 ] && ok "11 log redirections replaced by the journal, with a note" ||
	notok "$n_note journal notes, want 11"
! grep -q '^      command: .*>>' "$tmp/jobs.yaml" && ok "no '>> log' left in a command" ||
	notok "a '>> log' redirection is left"
grep -q '^      command: "\*/5\|^    schedule: "\*/5 \* \* \* \*"$' "$tmp/jobs.yaml" &&
	ok "schedule */5 kept" || notok "schedule */5 missing"
grep -q '^      user: "app"$' "$tmp/jobs.yaml" && ok "--user sets options.user" || notok "no user"
grep -q '^  # 002 EchoDesk Email Sync (runs every 5 minutes)$' "$tmp/jobs.yaml" &&
	ok "crontab comments kept" || notok "comments lost"

# A crontab with environment, CRON_TZ, MAILTO, % and macros converts and checks.
cat >"$tmp/mixed.crontab" <<'CRON'
MAILTO=ops@example.com
SHELL=/bin/bash
PATH=/usr/local/bin:/usr/bin:/bin
CRON_TZ=Europe/Berlin
@reboot /usr/bin/true
30 2 * * 1-5 /usr/bin/logger -t nightly done
0 9 * * 1 /usr/bin/mail -s report root%see the wiki
0 2 16-22 * MON /usr/bin/true
CRON
"$CHIMECTL" import-crontab "$tmp/mixed.crontab" >"$tmp/mixed.yaml" 2>"$tmp/mixed.err" ||
	notok "import-crontab failed on the mixed crontab"
if out=$("$CHIMECTL" check "$tmp/mixed.yaml" 2>&1) && [ "$out" = "configuration OK" ]; then
	ok "chimectl check accepts env, CRON_TZ, @reboot, % and both-days lines"
else
	echo "$out"
	cat -n "$tmp/mixed.yaml"
	notok "chimectl check rejects the mixed conversion"
fi
grep -q "mixed.crontab:1:1: warning: MAILTO ignored" "$tmp/mixed.err" &&
	ok "MAILTO noted on stderr" || notok "no MAILTO note"
grep -q "mixed.crontab:7:1: warning: job 'mail': the text after '%'" "$tmp/mixed.err" &&
	ok "% stdin noted on stderr" || notok "no % note"
grep -q '^    enabled: false$' "$tmp/mixed.yaml" && ok "the % job is disabled" ||
	notok "the % job is not disabled"
[ "$(grep -c '^    timezone: "Europe/Berlin"$' "$tmp/mixed.yaml")" = 4 ] &&
	ok "CRON_TZ on every following job" || notok "CRON_TZ not applied to 4 jobs"

# Nothing usable: every bad line reported with its number, exit 1.
printf '# junk\n61 * * * * /bin/x\nnot a crontab line\n' >"$tmp/bad.crontab"
set +e
"$CHIMECTL" import-crontab "$tmp/bad.crontab" >"$tmp/bad.yaml" 2>"$tmp/bad.err"
rc=$?
set -e
[ "$rc" = 1 ] && ok "exit 1 when no line converts" || notok "exit $rc on a bad crontab, want 1"
grep -q "bad.crontab:2:.*error: .*'61'" "$tmp/bad.err" && ok "line 2 reported" ||
	{ cat "$tmp/bad.err"; notok "line 2 not reported"; }
grep -q "bad.crontab:3:.*error: expected five time fields" "$tmp/bad.err" &&
	ok "line 3 reported" || notok "line 3 not reported"
grep -q "no job could be converted" "$tmp/bad.err" && ok "says nothing converted" ||
	notok "no summary line"

# stdin, and usage errors.
printf '*/5 * * * * /bin/true\n' | "$CHIMECTL" import-crontab - >"$tmp/stdin.yaml" &&
	grep -q '^      command: \["/bin/true"\]$' "$tmp/stdin.yaml" && ok "reads stdin with -" ||
	notok "stdin"
set +e
"$CHIMECTL" import-crontab >/dev/null 2>&1
rc=$?
set -e
[ "$rc" = 2 ] && ok "no FILE is a usage error (2)" || notok "no FILE exit $rc, want 2"
exit $fail
