#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Install the Debian 12 packages chime needs to build, test and run its demo,
# when any is missing. Uses sudo when not root. Safe to run again.
set -euo pipefail

# libclang-rt-14-dev is clang's ASan/UBSan runtime, for `make test-asan`.
packages=(
	build-essential cmake pkg-config clang libclang-rt-14-dev
	libuv1-dev libyaml-dev libpq-dev libsystemd-dev libcurl4-openssl-dev
	libjansson-dev libmicrohttpd-dev libcmocka-dev
	postgresql-15 postgresql-client-15
	python3-croniter python3-aiosmtpd dovecot-imapd
	mandoc systemd tzdata openssl curl
	lintian
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "chime: installing ${missing[*]}" >&2
sudo=()
[ "$(id -u)" = 0 ] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
# Never let package scripts start services (Debian's postgresql and dovecot
# packages would start system-wide instances): the tests run their own.
if [ "$(id -u)" = 0 ] && [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=900 update -q
"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends "${missing[@]}"
