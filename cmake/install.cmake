# SPDX-License-Identifier: MIT
# What `cmake --install` puts where, besides the binaries (daemon/) and the
# plugin header (lib/). Paths under the prefix follow GNUInstallDirs; the
# configuration directory and the systemd snippets go to the absolute places
# the daemon and systemd read (use DESTDIR to stage them).

set(CHIME_CONFDIR "/etc/chime" CACHE PATH "Where chimed reads chime.yaml (its compiled-in default)")

pkg_get_variable(CHIME_SYSTEMD_UNITDIR_PC systemd systemdsystemunitdir)
pkg_get_variable(CHIME_SYSUSERSDIR_PC systemd sysusersdir)
pkg_get_variable(CHIME_TMPFILESDIR_PC systemd tmpfilesdir)
if(NOT CHIME_SYSTEMD_UNITDIR_PC)
  set(CHIME_SYSTEMD_UNITDIR_PC "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
endif()
if(NOT CHIME_SYSUSERSDIR_PC)
  set(CHIME_SYSUSERSDIR_PC "${CMAKE_INSTALL_PREFIX}/lib/sysusers.d")
endif()
if(NOT CHIME_TMPFILESDIR_PC)
  set(CHIME_TMPFILESDIR_PC "${CMAKE_INSTALL_PREFIX}/lib/tmpfiles.d")
endif()
set(CHIME_SYSTEMD_UNITDIR "${CHIME_SYSTEMD_UNITDIR_PC}" CACHE PATH "systemd system unit directory")
set(CHIME_SYSUSERSDIR "${CHIME_SYSUSERSDIR_PC}" CACHE PATH "sysusers.d directory")
set(CHIME_TMPFILESDIR "${CHIME_TMPFILESDIR_PC}" CACHE PATH "tmpfiles.d directory")

# chime-plugin.pc: relocatable (prefix relative to the .pc file).
file(STRINGS ${PROJECT_SOURCE_DIR}/lib/include/chime/plugin.h CHIME_ABI_LINE
     REGEX "^#define CHIME_PLUGIN_ABI_VERSION")
string(REGEX MATCH "[0-9]+" CHIME_PLUGIN_ABI_VERSION "${CHIME_ABI_LINE}")
file(RELATIVE_PATH CHIME_PC_PREFIX_REL "${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig"
     "${CMAKE_INSTALL_PREFIX}")
string(REGEX REPLACE "/$" "" CHIME_PC_PREFIX_REL "${CHIME_PC_PREFIX_REL}")
configure_file(${PROJECT_SOURCE_DIR}/lib/chime-plugin.pc.in
               ${PROJECT_BINARY_DIR}/chime-plugin.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/chime-plugin.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# Third-party plugins (plugin_path:) go here; the built-in ones are linked in.
install(DIRECTORY DESTINATION ${CMAKE_INSTALL_LIBDIR}/chime/plugins)

install(FILES ${PROJECT_SOURCE_DIR}/systemd/chimed.service DESTINATION ${CHIME_SYSTEMD_UNITDIR})
install(FILES ${PROJECT_SOURCE_DIR}/systemd/chime.sysusers
        DESTINATION ${CHIME_SYSUSERSDIR} RENAME chime.conf)
install(FILES ${PROJECT_SOURCE_DIR}/systemd/chime.tmpfiles
        DESTINATION ${CHIME_TMPFILESDIR} RENAME chime.conf)

file(GLOB CHIME_SQL_FILES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/config/sql/*.sql)
install(FILES ${CHIME_SQL_FILES} DESTINATION ${CMAKE_INSTALL_DATADIR}/chime/sql)

foreach(section 1 3 5 8)
  file(GLOB CHIME_MAN_${section} CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.${section})
  if(CHIME_MAN_${section})
    install(FILES ${CHIME_MAN_${section}} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  endif()
endforeach()

# The example configuration, never over an existing one: an operator's
# edited chime.yaml survives every reinstall and upgrade.
install(CODE "
  set(dir \"\$ENV{DESTDIR}${CHIME_CONFDIR}\")
  file(MAKE_DIRECTORY \"\${dir}\")
  if(EXISTS \"\${dir}/chime.yaml\")
    message(STATUS \"Keeping: \${dir}/chime.yaml (exists)\")
  else()
    message(STATUS \"Installing: \${dir}/chime.yaml\")
    file(COPY_FILE \"${PROJECT_SOURCE_DIR}/config/chime.yaml\" \"\${dir}/chime.yaml\")
  endif()
")
