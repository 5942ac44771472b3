# paradym_cc_proto(NAME <target> PROTOS <file.proto>... [DEPS <targets>...] [GRPC])
#
# Runs protoc (and grpc_cpp_plugin with GRPC) over PROTOS, given relative to
# proto/, into ${PARADYM_GEN_DIR}, and builds the generated C++ into the
# static library NAME. The same layout as Bazel's cc_proto_library, so
# `#include "paradym/webhooks/v1/event.pb.h"` works in both builds.

set(PARADYM_PROTO_ROOT ${CMAKE_SOURCE_DIR}/proto)
set(PARADYM_GEN_DIR ${CMAKE_BINARY_DIR}/gen)
file(MAKE_DIRECTORY ${PARADYM_GEN_DIR})

if(TARGET protobuf::protoc)
  set(PARADYM_PROTOC $<TARGET_FILE:protobuf::protoc>)
else()
  set(PARADYM_PROTOC ${Protobuf_PROTOC_EXECUTABLE})
endif()
if(TARGET gRPC::grpc_cpp_plugin)
  set(PARADYM_GRPC_PLUGIN $<TARGET_FILE:gRPC::grpc_cpp_plugin>)
else()
  find_program(PARADYM_GRPC_PLUGIN grpc_cpp_plugin REQUIRED)
endif()

function(paradym_cc_proto)
  cmake_parse_arguments(ARG "GRPC" "NAME" "PROTOS;DEPS" ${ARGN})
  set(sources)
  set(proto_files)
  foreach(proto ${ARG_PROTOS})
    string(REGEX REPLACE "\\.proto$" "" stem ${proto})
    set(outputs ${PARADYM_GEN_DIR}/${stem}.pb.cc ${PARADYM_GEN_DIR}/${stem}.pb.h)
    set(plugin_args)
    if(ARG_GRPC)
      list(APPEND outputs ${PARADYM_GEN_DIR}/${stem}.grpc.pb.cc
                          ${PARADYM_GEN_DIR}/${stem}.grpc.pb.h)
      set(plugin_args --grpc_out=${PARADYM_GEN_DIR}
                      --plugin=protoc-gen-grpc=${PARADYM_GRPC_PLUGIN})
    endif()
    add_custom_command(
      OUTPUT ${outputs}
      COMMAND ${PARADYM_PROTOC} -I${PARADYM_PROTO_ROOT}
              --cpp_out=${PARADYM_GEN_DIR} ${plugin_args}
              ${PARADYM_PROTO_ROOT}/${proto}
      DEPENDS ${PARADYM_PROTO_ROOT}/${proto}
      COMMENT "protoc ${proto}"
      VERBATIM)
    list(APPEND sources ${outputs})
    list(APPEND proto_files ${PARADYM_PROTO_ROOT}/${proto})
  endforeach()
  add_library(${ARG_NAME} STATIC ${sources})
  target_include_directories(${ARG_NAME} PUBLIC ${PARADYM_GEN_DIR})
  target_link_libraries(${ARG_NAME} PUBLIC protobuf::libprotobuf ${ARG_DEPS})
  if(ARG_GRPC)
    target_link_libraries(${ARG_NAME} PUBLIC gRPC::grpc++)
  endif()
  # Generated code is not ours to lint.
  target_compile_options(${ARG_NAME} PRIVATE -w)
endfunction()
