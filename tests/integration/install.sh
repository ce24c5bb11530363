#!/bin/bash
# SPDX-License-Identifier: MIT
# cmake --install into a staging root (DESTDIR), once at the build's own
# prefix (/usr/local by default) and once with --prefix /usr: exactly the
# expected file list (binaries, plugin header and .pc, both units,
# sysusers/tmpfiles snippets, example config, SQL, man pages); nothing
# outside the prefix unless it is /usr; the units' ExecStart=/ExecReload=
# name the installed binaries and --config the installed chime.yaml; the
# tmpfiles snippet names the installed configuration directory. Then the
# installed chime-plugin.pc builds a plugin, and a second install keeps an
# operator's edited chime.yaml.
set -eu

: "${CHIME_BUILD_DIR:?}" "${CHIME_SOURCE_DIR:?}"
. "$CHIME_SOURCE_DIR/tests/harness/testlib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cache() { sed -n "s|^$1:[A-Z]*=||p" "$CHIME_BUILD_DIR/CMakeCache.txt"; }
libdir=$(cache CMAKE_INSTALL_LIBDIR)
build_prefix=$(cache CMAKE_INSTALL_PREFIX)
[ -n "$libdir" ] && [ -n "$build_prefix" ] || {
	echo "install: CMakeCache.txt lacks the install directories"
	exit 1
}

# The rule of systemd/install-dirs.cmake.in: a directory given at configure
# time, else pkg-config's (prefix /usr) or one inside the prefix.
# dir_for PREFIX GIVEN USR_DEFAULT OTHER_DEFAULT
dir_for() {
	if [ -n "$2" ]; then echo "$2"; elif [ "$1" = /usr ] && [ -n "$3" ]; then echo "$3"; else echo "$4"; fi
}
pc() { pkg-config --variable="$1" systemd 2>/dev/null || true; }

# expected_files PREFIX: what an install at PREFIX must write, sorted.
expected_files() {
	local p=$1
	{
		echo "$confdir/chime.yaml"
		echo "$unitdir/chimed.service"
		echo "$unitdir/chimed@.service"
		echo "$sysusersdir/chime.conf"
		echo "$tmpfilesdir/chime.conf"
		echo "$p/bin/chimectl"
		echo "$p/sbin/chimed"
		echo "$p/include/chime/plugin.h"
		echo "$p/$libdir/pkgconfig/chime-plugin.pc"
		echo "$p/$libdir/chime/plugins/"
		for f in "$CHIME_SOURCE_DIR"/config/sql/*.sql; do
			echo "$p/share/chime/sql/${f##*/}"
		done
		for f in "$CHIME_SOURCE_DIR"/lib/ledger/sql/*.sql; do
			echo "$p/share/chime/sql/ledger/${f##*/}"
		done
		echo "$p/share/bash-completion/completions/chimectl"
		echo "$p/share/man/man1/chimectl.1"
		echo "$p/share/man/man3/chime-plugin.3"
		echo "$p/share/man/man5/chime.yaml.5"
		echo "$p/share/man/man8/chimed.8"
	} | sed 's|//*|/|g' | sort
}

# unit_value UNIT KEY: the first word of KEY= (the command), or the value
# after --config / --socket with WHAT set.
unit_cmd() { sed -n "s|^$2=\([^ ]*\).*|\1|p" "$1" | head -1; }
unit_arg() { sed -n "s|^$2=.* $3 \([^ ]*\).*|\1|p" "$1" | head -1; }

# check_install NAME PREFIX: install at PREFIX into $tmp/NAME and check it.
check_install() {
	local name=$1 p=$2 root=$tmp/$1 u
	confdir=$(dir_for "$p" "$(cache CHIME_CONFDIR)" /etc/chime "$p/etc/chime")
	unitdir=$(dir_for "$p" "$(cache CHIME_SYSTEMD_UNITDIR)" "$(pc systemdsystemunitdir)" \
		"$p/lib/systemd/system")
	sysusersdir=$(dir_for "$p" "$(cache CHIME_SYSUSERSDIR)" "$(pc sysusersdir)" "$p/lib/sysusers.d")
	tmpfilesdir=$(dir_for "$p" "$(cache CHIME_TMPFILESDIR)" "$(pc tmpfilesdir)" "$p/lib/tmpfiles.d")

	DESTDIR=$root cmake --install "$CHIME_BUILD_DIR" --prefix "$p" >"$tmp/$name.log"
	expected_files "$p" >"$tmp/$name.expected"
	(cd "$root" && {
		find . -type f -printf '/%P\n'
		find . -type d -empty -printf '/%P/\n'
	}) | sort >"$tmp/$name.actual"
	if diff -u "$tmp/$name.expected" "$tmp/$name.actual"; then
		ok "$name: installed file list ($(wc -l <"$tmp/$name.expected") entries)"
	else
		not_ok "$name: installed file list differs (- expected, + installed)"
	fi
	if [ "$p" != /usr ]; then
		if grep -v "^$p/" "$tmp/$name.actual" >"$tmp/$name.outside"; then
			not_ok "$name: files outside the prefix $p: $(tr '\n' ' ' <"$tmp/$name.outside")"
		else
			ok "$name: nothing outside the prefix $p"
		fi
	fi

	for u in "$unitdir/chimed.service" "$unitdir/chimed@.service"; do
		[ -f "$root$u" ] || continue
		expect_eq "$name: ${u##*/} ExecStart= is the installed chimed" \
			"$(unit_cmd "$root$u" ExecStart)" "$p/sbin/chimed"
		expect_eq "$name: ${u##*/} ExecStartPre= is the installed chimed" \
			"$(unit_cmd "$root$u" ExecStartPre)" "$p/sbin/chimed"
		expect_eq "$name: ${u##*/} ExecReload= is the installed chimectl" \
			"$(unit_cmd "$root$u" ExecReload)" "$p/bin/chimectl"
		check "$name: ${u##*/} names executables that exist" \
			test -x "$root$(unit_cmd "$root$u" ExecStart)" -a \
			-x "$root$(unit_cmd "$root$u" ExecReload)"
		if grep -q '^LoadCredential=[^:]*:/' "$root$u"; then
			not_ok "$name: ${u##*/} has an absolute LoadCredential= (fails the start when missing)"
		else
			ok "$name: ${u##*/} has no absolute LoadCredential="
		fi
	done
	expect_eq "$name: chimed.service --config is the installed chime.yaml" \
		"$(unit_arg "$root$unitdir/chimed.service" ExecStart --config)" "$confdir/chime.yaml"
	expect_eq "$name: chimed@.service --config is CONFDIR/%i.yaml" \
		"$(unit_arg "$root$unitdir/chimed@.service" ExecStart --config)" "$confdir/%i.yaml"
	expect_eq "$name: tmpfiles creates the configuration directory" \
		"$(awk '$1 == "d" { print $2; exit }' "$root$tmpfilesdir/chime.conf")" "$confdir"
	if "$root$p/bin/chimectl" check --no-db "$root$confdir/chime.yaml" >"$tmp/check.out" 2>&1; then
		ok "$name: the installed chimectl accepts the installed example chime.yaml"
	else
		sed 's/^/#   /' "$tmp/check.out"
		not_ok "$name: chimectl check rejects the installed example chime.yaml"
	fi
}

check_install default "$build_prefix"
check_install usr /usr
root=$tmp/usr

# The installed .pc file: relocatable, and enough to build a plugin.
export PKG_CONFIG_PATH=$root/usr/$libdir/pkgconfig
cflags=$(pkg-config --cflags chime-plugin)
case "$cflags" in
*"$root/usr/$libdir/pkgconfig/../../"*include* | *"$root/usr/include"*)
	ok "chime-plugin.pc points into the staged tree: $cflags" ;;
*)
	not_ok "chime-plugin.pc cflags '$cflags' do not point at $root/usr/include" ;;
esac
abi=$(pkg-config --variable=abi_version chime-plugin)
want=$(sed -n 's/^#define CHIME_PLUGIN_ABI_VERSION \([0-9]*\).*/\1/p' "$CHIME_SOURCE_DIR/lib/include/chime/plugin.h")
expect_eq "abi_version in chime-plugin.pc" "$abi" "$want"
# shellcheck disable=SC2086
if cc -std=c17 -Wall -Werror -fPIC -shared $cflags -o "$tmp/goodabi.so" \
	"$CHIME_SOURCE_DIR/tests/plugins/goodabi.c" 2>"$tmp/cc.err"; then
	ok "a plugin builds against the installed header"
else
	sed 's/^/#   /' "$tmp/cc.err"
	not_ok "a plugin does not build with pkg-config --cflags chime-plugin"
fi

# A second install keeps an edited chime.yaml, and refreshes the rest.
printf '# edited by the operator\ntimezone: UTC\njobs: {}\n' >"$root$confdir/chime.yaml"
echo "# stale" >"$root/usr/include/chime/plugin.h"
DESTDIR=$root cmake --install "$CHIME_BUILD_DIR" --prefix /usr >"$tmp/install2.log"
expect_eq "a second install keeps the edited chime.yaml" \
	"$(head -1 "$root$confdir/chime.yaml")" "# edited by the operator"
expect_grep "the second install says it kept chime.yaml" "$tmp/install2.log" "Keeping: .*chime.yaml"
check "the second install refreshes plugin.h" \
	cmp -s "$root/usr/include/chime/plugin.h" "$CHIME_SOURCE_DIR/lib/include/chime/plugin.h"
finish
