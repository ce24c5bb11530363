#!/bin/bash
# SPDX-License-Identifier: MIT
# `make package` builds chime_VERSION_amd64.deb (in its own build tree
# under the test build, kept between runs so a rebuild is incremental), and
# the package is what an operator needs: the file list; /etc/chime/chime.yaml
# a conffile; a postinst that applies sysusers and tmpfiles and neither
# enables nor starts anything; units whose ExecStart=/ExecReload= are the
# packaged binaries; `systemd-analyze verify` silent and `security` <= 2.0
# on them; lintian without a tag. Then it is installed into a throwaway root
# (dpkg --root, maintainer scripts run outside a chroot with DPKG_ROOT) and
# the installed chimectl checks the installed configuration. Never boots
# systemd. Exit 77 (skipped) without dpkg-deb or cpack.
set -eu

: "${CHIME_BUILD_DIR:?}" "${CHIME_SOURCE_DIR:?}"
. "$CHIME_SOURCE_DIR/tests/harness/testlib.sh"
for tool in dpkg-deb dpkg cpack dpkg-buildflags; do
	command -v "$tool" >/dev/null || skip "$tool is not installed"
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pkg_build=$CHIME_BUILD_DIR/tests/deb
version=$(sed -n 's/^project(chime VERSION \([0-9.]*\).*/\1/p' "$CHIME_SOURCE_DIR/CMakeLists.txt")
deb=$pkg_build/chime_${version}_amd64.deb

# -o deps: the test never installs Debian packages (make build did).
rm -f "$deb"
if make -C "$CHIME_SOURCE_DIR" -o deps package PKG_BUILD="$pkg_build" JOBS=2 \
	>"$tmp/make.log" 2>&1 && [ -f "$deb" ]; then
	ok "make package built ${deb##*/}"
else
	tail -30 "$tmp/make.log" | sed 's/^/#   /'
	not_ok "make package did not build $deb"
	finish
fi

# The file list (files, and the one empty directory, for plugins).
libdir=$(sed -n 's|^CMAKE_INSTALL_LIBDIR:[A-Z]*=||p' "$pkg_build/CMakeCache.txt")
unitdir=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)
{
	echo /etc/chime/chime.yaml
	echo "$unitdir/chimed.service"
	echo "$unitdir/chimed@.service"
	echo /usr/bin/chimectl
	echo /usr/sbin/chimed
	echo /usr/include/chime/plugin.h
	echo "/usr/$libdir/pkgconfig/chime-plugin.pc"
	echo "/usr/$libdir/chime/plugins/"
	echo /usr/lib/sysusers.d/chime.conf
	echo /usr/lib/tmpfiles.d/chime.conf
	for f in "$CHIME_SOURCE_DIR"/config/sql/*.sql; do
		echo "/usr/share/chime/sql/${f##*/}"
	done
	for f in "$CHIME_SOURCE_DIR"/lib/ledger/sql/*.sql; do
		echo "/usr/share/chime/sql/ledger/${f##*/}"
	done
	echo /usr/share/bash-completion/completions/chimectl
	echo /usr/share/doc/chime/changelog.gz
	echo /usr/share/doc/chime/copyright
	echo /usr/share/lintian/overrides/chime
	echo /usr/share/man/man1/chimectl.1.gz
	echo /usr/share/man/man3/chime-plugin.3.gz
	echo /usr/share/man/man5/chime.yaml.5.gz
	echo /usr/share/man/man8/chimed.8.gz
} | sort >"$tmp/expected"
x=$tmp/x
dpkg-deb -x "$deb" "$x"
(cd "$x" && {
	find . -type f -printf '/%P\n'
	find . -type d -empty -printf '/%P/\n'
}) | sort >"$tmp/actual"
if diff -u "$tmp/expected" "$tmp/actual" >"$tmp/diff"; then
	ok "package file list ($(wc -l <"$tmp/expected") entries)"
else
	sed 's/^/#   /' "$tmp/diff"
	not_ok "package file list differs (- expected, + packaged)"
fi

dpkg-deb -e "$deb" "$tmp/control"
expect_eq "conffiles: /etc/chime/chime.yaml" "$(cat "$tmp/control/conffiles")" /etc/chime/chime.yaml
expect_grep "postinst applies sysusers.d/chime.conf" "$tmp/control/postinst" \
	'^[[:space:]]*systemd-sysusers .*chime\.conf$'
expect_grep "postinst applies tmpfiles.d/chime.conf" "$tmp/control/postinst" \
	'^[[:space:]]*systemd-tmpfiles .*--create chime\.conf'
if grep -Eq 'systemctl.*(enable|start)|deb-systemd-(invoke|helper)' "$tmp/control/postinst"; then
	not_ok "postinst enables or starts something"
else
	ok "postinst enables and starts nothing"
fi
expect_grep "Depends: from dpkg-shlibdeps (libpq5)" "$tmp/control/control" '^Depends: .*libpq5'

# The units name the packaged binaries and configuration.
for u in chimed.service chimed@.service; do
	expect_eq "$u: ExecStart= is /usr/sbin/chimed" \
		"$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$x$unitdir/$u")" /usr/sbin/chimed
	expect_eq "$u: ExecReload= is /usr/bin/chimectl" \
		"$(sed -n 's/^ExecReload=\([^ ]*\).*/\1/p' "$x$unitdir/$u")" /usr/bin/chimectl
done
expect_grep "chimed.service reads /etc/chime/chime.yaml" "$x$unitdir/chimed.service" \
	'^ExecStart=/usr/sbin/chimed --config /etc/chime/chime.yaml$'
expect_grep "the packaged chimectl reads /etc/chime/chime.yaml by default" \
	<("$x/usr/bin/chimectl" check --help) 'default /etc/chime/chime\.yaml'

# verify and security, on copies pointing into the extracted tree (verify
# checks that the commands exist).
if command -v systemd-analyze >/dev/null; then
	sed "s|=/usr/|=$x/usr/|" "$x$unitdir/chimed.service" >"$tmp/chimed.service"
	sed "s|=/usr/|=$x/usr/|" "$x$unitdir/chimed@.service" >"$tmp/chimed@app.service"
	for u in chimed.service chimed@app.service; do
		out=$(cd "$tmp" && systemd-analyze verify --man=no "$u" 2>&1) && rc=0 || rc=$?
		if [ "$rc" = 0 ] && [ -z "$out" ]; then
			ok "$u: systemd-analyze verify prints nothing"
		else
			echo "$out" | sed 's/^/#   /'
			not_ok "$u: systemd-analyze verify (exit $rc)"
		fi
		level=$(systemd-analyze security --offline=true "$tmp/$u" 2>&1 |
			sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
		check "$u: exposure level '$level' is 2.0 or better" \
			awk -v l="${level:-99}" 'BEGIN { exit !(l <= 2.0) }'
	done
else
	ok "# SKIP systemd-analyze is not installed"
fi

if command -v lintian >/dev/null; then
	lintian -I --pedantic "$deb" >"$tmp/lintian" 2>&1 || true
	if grep -E '^[EWIPX]: ' "$tmp/lintian" >"$tmp/tags"; then
		sed 's/^/#   /' "$tmp/tags"
		not_ok "lintian reports $(wc -l <"$tmp/tags") tag(s) (justify them in systemd/debian/lintian-overrides)"
	else
		ok "lintian -I --pedantic: no tag"
	fi
else
	ok "# SKIP lintian is not installed (make deps installs it)"
fi

# Install into a throwaway root: dpkg runs postinst without chroot, with
# DPKG_ROOT set; the host's shared libraries stand in for the Depends.
root=$tmp/root
if [ "$(id -u)" = 0 ]; then
	mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/etc"
	: >"$root/var/lib/dpkg/status"
	if dpkg --root="$root" --force-script-chrootless --force-depends --log=/dev/null \
		-i "$deb" >"$tmp/dpkg.log" 2>&1; then
		ok "dpkg --root installs the package"
	else
		sed 's/^/#   /' "$tmp/dpkg.log"
		not_ok "dpkg --root -i failed"
	fi
	expect_eq "dpkg knows the conffile" \
		"$(dpkg-query --root="$root" -W -f='${Conffiles}' chime | awk '{ print $1 }')" \
		/etc/chime/chime.yaml
	expect_grep "postinst created the chime user (sysusers)" "$root/etc/passwd" \
		'^chime:x:[0-9]+:[0-9]+:.*:/var/lib/chime:'
	check "postinst created /etc/chime/jobs.d (tmpfiles)" test -d "$root/etc/chime/jobs.d"
	check "nothing enabled" test ! -e "$root/etc/systemd/system/multi-user.target.wants/chimed.service"
else
	dpkg-deb -x "$deb" "$root"
	ok "# SKIP dpkg --root needs root: extracted with dpkg-deb -x"
fi

# The installed chimectl on the installed configuration. Its database
# (host=/run/postgresql) is normally absent here: a note, exit 0; where a
# server does listen there the database checks are left out.
nodb=
[ -S /run/postgresql/.s.PGSQL.5432 ] && nodb=--no-db
if "$root/usr/bin/chimectl" check $nodb "$root/etc/chime/chime.yaml" >"$tmp/check" 2>&1; then
	ok "the installed chimectl check accepts the installed chime.yaml"
else
	sed 's/^/#   /' "$tmp/check"
	not_ok "the installed chimectl check rejects the installed chime.yaml"
fi
expect_grep "it says configuration OK" "$tmp/check" '^configuration OK$'
finish
