# Bazel's `visibility` for the CMake build: who may link a library.
#
#   paradym_visibility(core server tests bench fuzz)
#
# lets only targets defined in server/, tests/, bench/ and fuzz/ (or below
# them) name `core` among their own link libraries; as in Bazel, what a
# permitted library brings along is not checked again. The root
# CMakeLists.txt calls paradym_check_visibility() once every target exists,
# and a forbidden dependency stops the configure step.

# paradym_visibility(<library> <directory>...): directories relative to the
# source root.
function(paradym_visibility library)
  set_property(TARGET ${library} PROPERTY PARADYM_VISIBLE_TO ${ARGN})
endfunction()

# Sets `out` to the directories that may link `library` when a target in
# `target_dir` (relative) may not, else to the empty string.
function(_paradym_forbidden library target_dir out)
  set(${out} "" PARENT_SCOPE)
  get_target_property(allowed ${library} PARADYM_VISIBLE_TO)
  if(NOT allowed)
    return()
  endif()
  foreach(dir IN LISTS allowed)
    if(target_dir STREQUAL dir OR target_dir MATCHES "^${dir}/")
      return()
    endif()
  endforeach()
  list(JOIN allowed ", " allowed_text)
  set(${out} "${allowed_text}" PARENT_SCOPE)
endfunction()

# paradym_check_visibility(<directory>): checks the targets of `directory`
# and of every directory below it.
function(paradym_check_visibility directory)
  file(RELATIVE_PATH relative ${CMAKE_SOURCE_DIR} ${directory})
  get_property(targets DIRECTORY ${directory} PROPERTY BUILDSYSTEM_TARGETS)
  foreach(target IN LISTS targets)
    get_target_property(type ${target} TYPE)
    if(type STREQUAL "INTERFACE_LIBRARY")
      get_target_property(libraries ${target} INTERFACE_LINK_LIBRARIES)
    else()
      get_target_property(libraries ${target} LINK_LIBRARIES)
    endif()
    foreach(library IN LISTS libraries)
      if(NOT TARGET ${library})
        continue()
      endif()
      _paradym_forbidden(${library} "${relative}" allowed)
      if(allowed)
        message(SEND_ERROR "${target} (in ${relative}/) may not link "
                "${library}: only targets in ${allowed} may (its "
                "paradym_visibility)")
      endif()
    endforeach()
  endforeach()
  get_property(subdirectories DIRECTORY ${directory} PROPERTY SUBDIRECTORIES)
  foreach(subdirectory IN LISTS subdirectories)
    paradym_check_visibility(${subdirectory})
  endforeach()
endfunction()
