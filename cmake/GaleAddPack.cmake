# gale_add_pack(NAME [SOURCES src...] [PACK_DIR dir] [OUTPUT_DIR dir] [TARGET target])
#
# Assembles a complete pack directory <OUTPUT_DIR>/<NAME>/: the metadata (pack.yaml, config.yaml,
# sensors/, actions/, rules/, and any scripts under actions/) copied from PACK_DIR, plus
# lib<NAME>.so built from SOURCES when the pack has native code. Point `gale` at OUTPUT_DIR
# (`--packs`, or `packs.paths` in gale.yaml) to load it.
#
# TARGET names the library target (default gale_pack_<NAME>), for building one pack twice.
# Defaults: PACK_DIR is the calling folder; OUTPUT_DIR is GALE_PACKS_OUTPUT_DIR when set (the Gale
# tree sets build/packs), else <build dir>/packs.
set(_GALE_PACK_CMAKE_DIR ${CMAKE_CURRENT_LIST_DIR})

function(gale_add_pack name)
  cmake_parse_arguments(P "" "PACK_DIR;OUTPUT_DIR;TARGET" "SOURCES" ${ARGN})
  if(NOT name MATCHES "^[a-z0-9_]+$")
    message(FATAL_ERROR "gale_add_pack: pack name '${name}' must match [a-z0-9_]+")
  endif()
  if(NOT P_PACK_DIR)
    set(P_PACK_DIR ${CMAKE_CURRENT_SOURCE_DIR})
  endif()
  if(NOT P_OUTPUT_DIR)
    if(GALE_PACKS_OUTPUT_DIR)
      set(P_OUTPUT_DIR ${GALE_PACKS_OUTPUT_DIR})
    else()
      set(P_OUTPUT_DIR ${CMAKE_BINARY_DIR}/packs)
    endif()
  endif()
  set(out ${P_OUTPUT_DIR}/${name})
  if(NOT P_TARGET)
    set(P_TARGET gale_pack_${name})
  endif()

  # Metadata: re-copied whenever a file changes (the glob is re-checked on every build).
  file(GLOB_RECURSE meta RELATIVE ${P_PACK_DIR} CONFIGURE_DEPENDS
    ${P_PACK_DIR}/pack.yaml ${P_PACK_DIR}/config.yaml ${P_PACK_DIR}/icon.png
    ${P_PACK_DIR}/sensors/* ${P_PACK_DIR}/actions/* ${P_PACK_DIR}/rules/*)
  set(copied)
  foreach(f IN LISTS meta)
    add_custom_command(OUTPUT ${out}/${f}
      COMMAND ${CMAKE_COMMAND} -E copy_if_different ${P_PACK_DIR}/${f} ${out}/${f}
      DEPENDS ${P_PACK_DIR}/${f} VERBATIM)
    list(APPEND copied ${out}/${f})
  endforeach()
  add_custom_target(${P_TARGET}_metadata ALL DEPENDS ${copied})

  if(P_SOURCES)
    add_library(${P_TARGET} MODULE ${P_SOURCES})
    set_target_properties(${P_TARGET} PROPERTIES
      OUTPUT_NAME ${name} PREFIX lib
      LIBRARY_OUTPUT_DIRECTORY ${out}
      CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
    target_link_libraries(${P_TARGET} PRIVATE Gale::plugin_api)
    if(TARGET gale_flags)
      target_link_libraries(${P_TARGET} PRIVATE gale_flags)
    endif()
    target_link_options(${P_TARGET} PRIVATE
      -Wl,--version-script=${_GALE_PACK_CMAKE_DIR}/gale_pack.map)
    set_property(TARGET ${P_TARGET} APPEND PROPERTY LINK_DEPENDS
      ${_GALE_PACK_CMAKE_DIR}/gale_pack.map)
    if(NOT GALE_SANITIZE AND NOT GALE_TSAN)
      # Every symbol resolved at link time: a pack cannot depend on the host's internals.
      target_link_options(${P_TARGET} PRIVATE -Wl,-z,defs)
    endif()
    add_dependencies(${P_TARGET} ${P_TARGET}_metadata)
  endif()
endfunction()
