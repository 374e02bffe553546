# What `cmake --install` (and so the Debian package) puts where:
#   bin/tamis, sbin/tamisd                      (src/, milter/)
#   share/tamis/rules/*.yaml, share/tamis/models/default.json
#   share/man/man{1,5,8}/
#   <sysconfdir>/tamis/tamis.yaml               config/tamis.yaml with installed paths
set(TAMIS_SHARE ${CMAKE_INSTALL_FULL_DATADIR}/tamis)
install(DIRECTORY rules/ DESTINATION ${CMAKE_INSTALL_DATADIR}/tamis/rules FILES_MATCHING PATTERN "*.yaml")
install(FILES models/default.json DESTINATION ${CMAKE_INSTALL_DATADIR}/tamis/models)
install(FILES rules/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME RULES.md)
install(FILES man/tamis.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES man/tamis.yaml.5 DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
install(FILES man/tamisd.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)

# The installed tamis.yaml is the repository's, with four values changed; a
# line that no longer matches stops the build rather than ship dev paths.
file(READ ${PROJECT_SOURCE_DIR}/config/tamis.yaml _cfg)
foreach(_pair
    "  path: ../models/default.json|  path: ${TAMIS_SHARE}/models/default.json"
    "  paths: [../rules]|  paths: [${TAMIS_SHARE}/rules]"
    "  socket: inet:11332@127.0.0.1   # or unix:/var/spool/postfix/tamis/tamis.sock|  socket: unix:/var/spool/postfix/tamis/tamis.sock   # or inet:11332@127.0.0.1 (main.cf: inet:127.0.0.1:11332)"
    "  user: \"\"                       # when|  user: _tamis                   # when")
  string(REPLACE "|" ";" _p "${_pair}")
  list(GET _p 0 _from)
  list(GET _p 1 _to)
  string(FIND "${_cfg}" "${_from}" _at)
  if(_at EQUAL -1)
    message(FATAL_ERROR "config/tamis.yaml no longer contains '${_from}'; update cmake/install.cmake")
  endif()
  string(REPLACE "${_from}" "${_to}" _cfg "${_cfg}")
endforeach()
file(WRITE ${PROJECT_BINARY_DIR}/tamis.yaml.installed "${_cfg}")
install(FILES ${PROJECT_BINARY_DIR}/tamis.yaml.installed DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/tamis RENAME tamis.yaml)
