# SPDX-License-Identifier: MIT
# Install-time part of systemd/CMakeLists.txt: fill in the units and
# snippets with this install's directories (chime-install-dirs.cmake, included
# before) and install them. file(INSTALL) adds DESTDIR and records the files
# in the install manifest, as install(FILES) would.

# Each install gets its own staging folder: two installs from one build
# tree (another prefix, another DESTDIR) never write the same file.
string(MD5 stage "${CMAKE_INSTALL_PREFIX}|$ENV{DESTDIR}")
set(stage "${CHIME_SYSTEMD_BINARY_DIR}/install-${stage}")

# chimed.service: one daemon on CONFDIR/chime.yaml. chimed@NAME.service:
# CONFDIR/NAME.yaml, /run/chime-NAME (not /run/chime/NAME: stopping
# chimed.service removes /run/chime), /var/lib/chime/NAME.
set(CHIME_UNIT_DESCRIPTION "chime scheduler daemon")
set(CHIME_UNIT_NAME "chimed")
set(CHIME_UNIT_CONFIG "chime")
set(CHIME_UNIT_RUNTIME "chime")
set(CHIME_UNIT_STATE "chime")
configure_file("${CHIME_SYSTEMD_SOURCE_DIR}/chimed.service.in" "${stage}/chimed.service" @ONLY)
set(CHIME_UNIT_DESCRIPTION "chime scheduler daemon for %i.yaml")
set(CHIME_UNIT_NAME "chimed@%i")
set(CHIME_UNIT_CONFIG "%i")
set(CHIME_UNIT_RUNTIME "chime-%i")
set(CHIME_UNIT_STATE "chime/%i")
configure_file("${CHIME_SYSTEMD_SOURCE_DIR}/chimed.service.in" "${stage}/chimed@.service" @ONLY)
configure_file("${CHIME_SYSTEMD_SOURCE_DIR}/chime.tmpfiles.in" "${stage}/tmpfiles/chime.conf"
               @ONLY)

file(INSTALL DESTINATION "${CHIME_UNITDIR}" TYPE FILE
     FILES "${stage}/chimed.service" "${stage}/chimed@.service")
file(INSTALL DESTINATION "${CHIME_SYSUSERSDIR}" TYPE FILE
     RENAME chime.conf FILES "${CHIME_SYSTEMD_SOURCE_DIR}/chime.sysusers")
file(INSTALL DESTINATION "${CHIME_TMPFILESDIR}" TYPE FILE
     FILES "${stage}/tmpfiles/chime.conf")
