# What `cmake --install build --prefix P` puts where, and the Debian packages CPack makes from it
# (`cpack --config build/CPackConfig.cmake`, see packaging/README.md). Every install() names a
# component; each component is one .deb:
#
#   agent   → spanring-agent    P/bin/spanring-agent, P/bin/spanringctl, the systemd unit,
#                               sysusers and tmpfiles entries, /etc/spanring/agent.yaml (conffile),
#                               docs and the deploy/ examples
#   dev     → libspanring-dev   headers, the static client library (and spanring::shm beneath it),
#                               P/lib/cmake/spanring/ (find_package(spanring CONFIG) →
#                               spanring::client) and P/lib/pkgconfig/spanring.pc
#   runtime → libspanring2      libspanring.so.2, the shared C API library (soname major = the
#                               shared-memory ABI major); spanring::client_shared in the package
#   python  → python3-spanring  the `spanring` Python package (python/), over libspanring2
include(CMakePackageConfigHelpers)

# /etc/spanring when installing into /usr (the packages), <prefix>/etc/spanring otherwise, so a
# trial install into a private prefix never writes to the machine's /etc.
if(IS_ABSOLUTE "${CMAKE_INSTALL_SYSCONFDIR}")
  set(SPANRING_CONFIG_INSTALL_DIR "${CMAKE_INSTALL_SYSCONFDIR}/spanring")
elseif(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(SPANRING_CONFIG_INSTALL_DIR "/etc/spanring")
else()
  set(SPANRING_CONFIG_INSTALL_DIR "${CMAKE_INSTALL_SYSCONFDIR}/spanring")
endif()
set(SPANRING_CONFIG_FULL_PATH "${CMAKE_INSTALL_FULL_SYSCONFDIR}/spanring/agent.yaml")
# systemd looks in <prefix>/lib/{systemd/system,sysusers.d,tmpfiles.d} for /usr and /usr/local
# (never in the multiarch libdir).
set(SPANRING_SYSTEMD_UNIT_DIR "lib/systemd/system")

# ---- dev: the client library for engines -------------------------------------------------------
set_target_properties(spanring_client PROPERTIES EXPORT_NAME client)
set_target_properties(spanring_shm PROPERTIES EXPORT_NAME shm)
target_compile_features(spanring_client PUBLIC cxx_std_20)
install(TARGETS spanring_client spanring_shm EXPORT spanringTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/client/include/ ${PROJECT_SOURCE_DIR}/shm/include/
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)
# ---- runtime: the shared C API library (libspanring.so.<major>) --------------------------------
set_target_properties(spanring_shared PROPERTIES EXPORT_NAME client_shared)  # spanring::client_shared
install(TARGETS spanring_shared EXPORT spanringTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT dev)
set(spanring_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/spanring)
install(EXPORT spanringTargets NAMESPACE spanring:: DESTINATION ${spanring_cmake_dir} COMPONENT dev)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/spanring-config.cmake.in
                              ${PROJECT_BINARY_DIR}/packaging/spanring-config.cmake
                              INSTALL_DESTINATION ${spanring_cmake_dir})
# 0.x: a minor version may change the ABI of the shared-memory segment, so only the same minor
# version satisfies find_package(spanring 0.1).
write_basic_package_version_file(${PROJECT_BINARY_DIR}/packaging/spanring-config-version.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/packaging/spanring-config.cmake
              ${PROJECT_BINARY_DIR}/packaging/spanring-config-version.cmake
        DESTINATION ${spanring_cmake_dir} COMPONENT dev)
# The .pc file finds its prefix from its own place (${pcfiledir}), so the tree can be moved and
# `cmake --install --prefix P` gives a correct file.
file(RELATIVE_PATH SPANRING_PC_TO_PREFIX "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
configure_file(${CMAKE_CURRENT_LIST_DIR}/spanring.pc.in ${PROJECT_BINARY_DIR}/packaging/spanring.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/packaging/spanring.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)

# ---- agent: the daemon, its control tool and its system integration ----------------------------
if(SPANRING_BUILD_AGENT)
  install(TARGETS spanring-agent spanringctl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT agent)
  # The unit names the installed paths (the source names the packaged ones: /usr/bin, /etc).
  file(READ ${PROJECT_SOURCE_DIR}/systemd/spanring-agent.service spanring_unit)
  string(REPLACE "/usr/bin/spanring-agent" "${CMAKE_INSTALL_FULL_BINDIR}/spanring-agent" spanring_unit "${spanring_unit}")
  string(REPLACE "/etc/spanring/agent.yaml" "${SPANRING_CONFIG_FULL_PATH}" spanring_unit "${spanring_unit}")
  string(REPLACE "/usr/share/doc/spanring/" "${CMAKE_INSTALL_FULL_DOCDIR}/" spanring_unit "${spanring_unit}")
  file(GENERATE OUTPUT ${PROJECT_BINARY_DIR}/packaging/spanring-agent.service CONTENT "${spanring_unit}")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/systemd/spanring-agent.service)
  install(FILES ${PROJECT_BINARY_DIR}/packaging/spanring-agent.service
          DESTINATION ${SPANRING_SYSTEMD_UNIT_DIR} COMPONENT agent)
  install(FILES ${PROJECT_SOURCE_DIR}/systemd/spanring.sysusers.conf
          DESTINATION lib/sysusers.d RENAME spanring.conf COMPONENT agent)
  install(FILES ${PROJECT_SOURCE_DIR}/systemd/spanring.tmpfiles.conf
          DESTINATION lib/tmpfiles.d RENAME spanring.conf COMPONENT agent)
  # The default configuration: the commented example, which sets every key to its default.
  install(FILES ${PROJECT_SOURCE_DIR}/agent/config/agent.example.yaml
          DESTINATION ${SPANRING_CONFIG_INSTALL_DIR} RENAME agent.yaml COMPONENT agent)
  install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/agent/config/agent.example.yaml
          DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT agent)
  # The unit's Documentation= names these two (tests/ops/install_test.sh checks they are installed).
  install(FILES ${PROJECT_SOURCE_DIR}/systemd/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR}
          RENAME README.systemd.md COMPONENT agent)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/deploy DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT agent)
endif()

# ---- Debian packages --------------------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME spanring)
set(CPACK_PACKAGE_VENDOR "spanring")
set(CPACK_PACKAGE_CONTACT "spanring maintainers <spanring@localhost>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Shared-memory span tracing for LLM inference engines")
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# Absolute destinations (/etc/spanring) go under the staging root, not the machine's /etc.
set(CPACK_SET_DESTDIR ON)
# Executables without debug info in the packages (static libraries are never stripped).
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEBIAN_AGENT_PACKAGE_NAME spanring-agent)
set(CPACK_DEBIAN_AGENT_PACKAGE_SECTION net)
set(CPACK_DEBIAN_AGENT_DESCRIPTION "spanring agent: drains engines' shared-memory span rings and exports OTLP\n spanring-agent (systemd service, user spanring) and spanringctl (status, tail, dump).")
set(CPACK_DEBIAN_AGENT_PACKAGE_SHLIBDEPS ON)  # libprotobuf, libyaml-cpp, libsimdjson, zlib
set(CPACK_DEBIAN_DEV_PACKAGE_NAME libspanring-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_DESCRIPTION "spanring client library (static) and headers\n Link spanring::client (CMake) or `pkg-config spanring` into an engine.")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME libspanring2)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION "spanring client shared library (C API)")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libspanring2 (= ${PROJECT_VERSION})")
set(CPACK_DEBIAN_PYTHON_PACKAGE_NAME python3-spanring)
set(CPACK_DEBIAN_PYTHON_PACKAGE_SECTION python)
set(CPACK_DEBIAN_PYTHON_DESCRIPTION "spanring Python package (CPython extension over libspanring2)")
set(CPACK_DEBIAN_PYTHON_PACKAGE_DEPENDS "libspanring2 (= ${PROJECT_VERSION}), python3")
# Maintainer scripts: user, tmpfiles, daemon-reload; the config is a conffile (dpkg keeps the
# administrator's edits on upgrade).
configure_file(${CMAKE_CURRENT_LIST_DIR}/debian/conffiles.in ${PROJECT_BINARY_DIR}/packaging/debian/conffiles @ONLY)
foreach(script postinst prerm postrm)
  configure_file(${CMAKE_CURRENT_LIST_DIR}/debian/${script} ${PROJECT_BINARY_DIR}/packaging/debian/${script}
                 COPYONLY FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                 WORLD_READ WORLD_EXECUTE)
endforeach()
set(CPACK_DEBIAN_AGENT_PACKAGE_CONTROL_EXTRA
    ${PROJECT_BINARY_DIR}/packaging/debian/conffiles ${PROJECT_BINARY_DIR}/packaging/debian/postinst
    ${PROJECT_BINARY_DIR}/packaging/debian/prerm ${PROJECT_BINARY_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_AGENT_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
