#!/bin/bash
# SPDX-License-Identifier: MIT
# The man pages: `mandoc -Tlint -W warning` clean, and in step with the
# code: every chimectl command (from its own --help), every chimed option,
# and every function plugin.h exports is documented. (The config keys are
# checked by unit/test_manpage_keys.)
set -eu

: "${CHIME_SOURCE_DIR:?}" "${CHIMED:?}" "${CHIMECTL:?}"
. "$CHIME_SOURCE_DIR/tests/harness/testlib.sh"
docs=$CHIME_SOURCE_DIR/docs
fail=0
ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; fail=1; }

command -v mandoc >/dev/null || skip "mandoc is not installed"

for page in chimed.8 chimectl.1 chime.yaml.5 chime-plugin.3; do
	if [ ! -f "$docs/$page" ]; then
		notok "$page is missing"
		continue
	fi
	out=$(mandoc -Tlint -W warning "$docs/$page" 2>&1) || true
	if [ -z "$out" ]; then
		ok "mandoc -Tlint -W warning $page"
	else
		echo "$out"
		notok "mandoc -Tlint $page"
	fi
	mandoc -Tascii "$docs/$page" >/dev/null 2>&1 && ok "$page renders" || notok "$page renders"
done

# chimectl: each command its --help lists has a ".Cm name" in chimectl.1.
cmds=$("$CHIMECTL" --help | sed -n 's/^  \([a-z][a-z-]*\).*/\1/p')
[ -n "$cmds" ] || notok "chimectl --help lists no commands"
for c in $(printf "%s\n" $cmds status list history trigger pause resume reload | sort -u); do
	if grep -Eq "^\.(It )?Cm ([a-z-]+ \| )*$c( |$)" "$docs/chimectl.1" ||
		grep -Eq "^\.Cm .*\b$c\b" "$docs/chimectl.1"; then
		ok "chimectl.1 documents '$c'"
	else
		notok "chimectl.1 does not document the command '$c'"
	fi
done

# chimed: every long option of chimed --help appears as ".Fl -name" or
# ".It Fl x , -name".
for opt in $("$CHIMED" --help | grep -o -- '--[a-z-]*' | sort -u); do
	o=${opt#-} # mdoc's Fl adds the first dash
	if grep -Eq -- "Fl [a-zA-Z] , $o( |$)|Fl $o( |$)" "$docs/chimed.8"; then
		ok "chimed.8 documents $opt"
	else
		notok "chimed.8 does not document $opt"
	fi
done

# chime-plugin.3: every function plugin.h exports.
fns=$(sed -n 's/^CHIME_EXPORT [^(]*[ *]\([a-z_]*\)(.*/\1/p' \
	"$CHIME_SOURCE_DIR/lib/include/chime/plugin.h")
[ "$(echo "$fns" | wc -w)" -gt 20 ] || notok "could not read the exported functions of plugin.h"
missing=
for f in $fns; do
	grep -q "^\.Fn $f " "$docs/chime-plugin.3" || missing="$missing $f"
done
[ -z "$missing" ] && ok "chime-plugin.3 has a synopsis for every exported function" ||
	notok "chime-plugin.3 lacks:$missing"
abi=$(sed -n 's/^#define CHIME_PLUGIN_ABI_VERSION \([0-9]*\).*/\1/p' \
	"$CHIME_SOURCE_DIR/lib/include/chime/plugin.h")
grep -q "^\.Fd #define CHIME_PLUGIN_ABI_VERSION $abi\$" "$docs/chime-plugin.3" &&
	ok "chime-plugin.3 names ABI version $abi" || notok "chime-plugin.3 names another ABI version"
exit $fail
