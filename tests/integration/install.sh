#!/bin/bash
# SPDX-License-Identifier: MIT
# cmake --install into a staging root yields exactly the expected file list
# (binaries, plugin header and .pc, unit, sysusers/tmpfiles snippets, example
# config, SQL, man pages); the installed chime-plugin.pc builds a plugin; and
# a second install keeps an operator's edited chime.yaml.
set -eu

: "${CHIME_BUILD_DIR:?}" "${CHIME_SOURCE_DIR:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
fail=0

# Absolute install dirs (configuration, systemd) come from the build's
# cache; the prefix-relative ones follow --prefix.
cache() { sed -n "s|^$1:[A-Z]*=||p" "$CHIME_BUILD_DIR/CMakeCache.txt"; }
libdir=$(cache CMAKE_INSTALL_LIBDIR)
confdir=$(cache CHIME_CONFDIR)
unitdir=$(cache CHIME_SYSTEMD_UNITDIR)
sysusersdir=$(cache CHIME_SYSUSERSDIR)
tmpfilesdir=$(cache CHIME_TMPFILESDIR)
[ -n "$libdir" ] && [ -n "$confdir" ] && [ -n "$unitdir" ] || {
	echo "install: CMakeCache.txt lacks the install directories"
	exit 1
}

DESTDIR=$root cmake --install "$CHIME_BUILD_DIR" --prefix /usr >"$tmp/install1.log"

{
	echo "$confdir/chime.yaml"
	echo "$unitdir/chimed.service"
	echo "$sysusersdir/chime.conf"
	echo "$tmpfilesdir/chime.conf"
	echo /usr/bin/chimectl
	echo /usr/sbin/chimed
	echo /usr/include/chime/plugin.h
	echo "/usr/$libdir/pkgconfig/chime-plugin.pc"
	echo "/usr/$libdir/chime/plugins/"
	for f in "$CHIME_SOURCE_DIR"/config/sql/*.sql; do
		echo "/usr/share/chime/sql/${f##*/}"
	done
	for f in "$CHIME_SOURCE_DIR"/lib/ledger/sql/*.sql; do
		echo "/usr/share/chime/sql/ledger/${f##*/}"
	done
	echo /usr/share/man/man1/chimectl.1
	echo /usr/share/man/man3/chime-plugin.3
	echo /usr/share/man/man5/chime.yaml.5
	echo /usr/share/man/man8/chimed.8
} | sed 's|//*|/|g' | sort >"$tmp/expected"

# Every file, plus empty directories (with a trailing slash).
(cd "$root" && {
	find . -type f -printf '/%P\n'
	find . -type d -empty -printf '/%P/\n'
}) | sort >"$tmp/actual"

if ! diff -u "$tmp/expected" "$tmp/actual"; then
	echo "not ok - installed file list differs (- expected, + installed)"
	fail=1
else
	echo "ok - installed file list ($(wc -l <"$tmp/expected") entries)"
fi

for f in /usr/sbin/chimed /usr/bin/chimectl; do
	if [ -x "$root$f" ]; then
		echo "ok - $f is executable"
	else
		echo "not ok - $f is not executable"
		fail=1
	fi
done
if "$root/usr/bin/chimectl" check "$root$confdir/chime.yaml" >"$tmp/check.out" 2>&1; then
	echo "ok - the installed chimectl accepts the installed example chime.yaml"
else
	cat "$tmp/check.out"
	echo "not ok - chimectl check rejects the installed example chime.yaml"
	fail=1
fi

# The installed .pc file: relocatable, and enough to build a plugin.
export PKG_CONFIG_PATH=$root/usr/$libdir/pkgconfig
cflags=$(pkg-config --cflags chime-plugin)
case "$cflags" in
*"$root/usr/$libdir/pkgconfig/../../"*include* | *"$root/usr/include"*)
	echo "ok - chime-plugin.pc points into the staged tree: $cflags" ;;
*)
	echo "not ok - chime-plugin.pc cflags '$cflags' do not point at $root/usr/include"
	fail=1 ;;
esac
abi=$(pkg-config --variable=abi_version chime-plugin)
want=$(sed -n 's/^#define CHIME_PLUGIN_ABI_VERSION \([0-9]*\).*/\1/p' "$CHIME_SOURCE_DIR/lib/include/chime/plugin.h")
if [ "$abi" = "$want" ]; then
	echo "ok - abi_version=$abi"
else
	echo "not ok - abi_version '$abi', header says '$want'"
	fail=1
fi
# shellcheck disable=SC2086
if cc -std=c17 -Wall -Werror -fPIC -shared $cflags -o "$tmp/goodabi.so" \
	"$CHIME_SOURCE_DIR/tests/plugins/goodabi.c" 2>"$tmp/cc.err"; then
	echo "ok - a plugin builds against the installed header"
else
	cat "$tmp/cc.err"
	echo "not ok - a plugin does not build with pkg-config --cflags chime-plugin"
	fail=1
fi

# A second install keeps an edited chime.yaml, and refreshes the rest.
printf '# edited by the operator\ntimezone: UTC\njobs: {}\n' >"$root$confdir/chime.yaml"
echo "# stale" >"$root/usr/include/chime/plugin.h"
DESTDIR=$root cmake --install "$CHIME_BUILD_DIR" --prefix /usr >"$tmp/install2.log"
if [ "$(head -1 "$root$confdir/chime.yaml")" = "# edited by the operator" ]; then
	echo "ok - a second install keeps the edited chime.yaml"
else
	echo "not ok - a second install overwrote the edited chime.yaml"
	fail=1
fi
if grep -q "Keeping: .*chime.yaml" "$tmp/install2.log"; then
	echo "ok - the second install says it kept chime.yaml"
else
	echo "not ok - no 'Keeping:' line for chime.yaml"
	fail=1
fi
if cmp -s "$root/usr/include/chime/plugin.h" "$CHIME_SOURCE_DIR/lib/include/chime/plugin.h"; then
	echo "ok - the second install refreshes plugin.h"
else
	echo "not ok - plugin.h not reinstalled"
	fail=1
fi
exit $fail
