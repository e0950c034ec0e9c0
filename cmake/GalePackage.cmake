# The Gale CMake package, usable two ways by an out-of-tree pack (`find_package(Gale)`):
#  - from the build tree: build/lib/cmake/Gale (what `gale pack init` points new packs at);
#  - installed: <prefix>/lib/cmake/Gale after `cmake --install build`.
include(CMakePackageConfigHelpers)
file(STRINGS ${PROJECT_SOURCE_DIR}/plugin_api/abi.h _abi REGEX "kAbiVersion = [0-9]+")
string(REGEX REPLACE ".*= ([0-9]+).*" "\\1" GALE_PLUGIN_ABI_VERSION "${_abi}")

set(_build_pkg ${PROJECT_BINARY_DIR}/lib/cmake/Gale)
set(GALE_CONFIG_INCLUDE_DIR ${GALE_PLUGIN_INCLUDE_ROOT})
configure_file(${CMAKE_CURRENT_LIST_DIR}/GaleConfig.cmake.in ${_build_pkg}/GaleConfig.cmake @ONLY)
configure_file(${CMAKE_CURRENT_LIST_DIR}/GaleAddPack.cmake ${_build_pkg}/GaleAddPack.cmake COPYONLY)
configure_file(${CMAKE_CURRENT_LIST_DIR}/gale_pack.map ${_build_pkg}/gale_pack.map COPYONLY)
write_basic_package_version_file(${_build_pkg}/GaleConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)

set(_install_pkg ${PROJECT_BINARY_DIR}/install-config)
set(GALE_CONFIG_INCLUDE_DIR "\${CMAKE_CURRENT_LIST_DIR}/../../../${CMAKE_INSTALL_INCLUDEDIR}/gale")
configure_file(${CMAKE_CURRENT_LIST_DIR}/GaleConfig.cmake.in ${_install_pkg}/GaleConfig.cmake @ONLY)
install(FILES ${_install_pkg}/GaleConfig.cmake ${_build_pkg}/GaleConfigVersion.cmake
  ${CMAKE_CURRENT_LIST_DIR}/GaleAddPack.cmake ${CMAKE_CURRENT_LIST_DIR}/gale_pack.map DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Gale)

# The action user a root node runs actions and sensor hosts as (docs/security.md), created when
# installing as root (an unprivileged install cannot; `gale up` then says what to run).
install(CODE [[
  execute_process(COMMAND id -u OUTPUT_VARIABLE _gale_uid OUTPUT_STRIP_TRAILING_WHITESPACE)
  execute_process(COMMAND getent passwd gale-action RESULT_VARIABLE _gale_missing OUTPUT_QUIET)
  if(_gale_uid STREQUAL "0" AND NOT _gale_missing EQUAL 0)
    message(STATUS "Creating the action user gale-action")
    execute_process(COMMAND useradd --system --user-group --create-home
      --home-dir /var/lib/gale-action --shell /usr/sbin/nologin --comment "Gale actions"
      gale-action)
    execute_process(COMMAND chmod 0700 /var/lib/gale-action)
  endif()
]])
