# paradym_cc_proto(NAME <target> PROTOS <file.proto>... [DEPS <targets>...])
#   protoc --cpp_out over PROTOS (relative to proto/) into ${PARADYM_GEN_DIR},
#   built into the static library NAME: Bazel's cc_proto_library.
# paradym_cc_grpc(NAME <target> PROTO <file.proto> DEPS <cc_proto target>...)
#   protoc with grpc_cpp_plugin: the service stubs, Bazel's cc_grpc_library.
#
# The same layout as the Bazel build, so `#include "paradym/webhooks/v1/
# event.pb.h"` works in both.

set(PARADYM_PROTO_ROOT ${CMAKE_SOURCE_DIR}/proto)
set(PARADYM_GEN_DIR ${CMAKE_BINARY_DIR}/gen)
file(MAKE_DIRECTORY ${PARADYM_GEN_DIR})

if(TARGET protobuf::protoc)
  set(PARADYM_PROTOC $<TARGET_FILE:protobuf::protoc>)
else()
  set(PARADYM_PROTOC ${Protobuf_PROTOC_EXECUTABLE})
endif()

function(paradym_cc_proto)
  cmake_parse_arguments(ARG "" "NAME" "PROTOS;DEPS" ${ARGN})
  set(sources)
  foreach(proto ${ARG_PROTOS})
    string(REGEX REPLACE "\\.proto$" "" stem ${proto})
    set(outputs ${PARADYM_GEN_DIR}/${stem}.pb.cc ${PARADYM_GEN_DIR}/${stem}.pb.h)
    add_custom_command(
      OUTPUT ${outputs}
      COMMAND ${PARADYM_PROTOC} -I${PARADYM_PROTO_ROOT}
              --cpp_out=${PARADYM_GEN_DIR} ${PARADYM_PROTO_ROOT}/${proto}
      DEPENDS ${PARADYM_PROTO_ROOT}/${proto}
      COMMENT "protoc ${proto}"
      VERBATIM)
    list(APPEND sources ${outputs})
  endforeach()
  add_library(${ARG_NAME} STATIC ${sources})
  target_include_directories(${ARG_NAME} PUBLIC ${PARADYM_GEN_DIR})
  target_link_libraries(${ARG_NAME} PUBLIC protobuf::libprotobuf ${ARG_DEPS})
  # Generated code is not ours to lint.
  target_compile_options(${ARG_NAME} PRIVATE -w)
endfunction()

function(paradym_cc_grpc)
  cmake_parse_arguments(ARG "" "NAME;PROTO" "DEPS" ${ARGN})
  if(NOT PARADYM_GRPC_PLUGIN)
    if(TARGET gRPC::grpc_cpp_plugin)
      set(PARADYM_GRPC_PLUGIN $<TARGET_FILE:gRPC::grpc_cpp_plugin>)
    else()
      find_program(PARADYM_GRPC_PLUGIN grpc_cpp_plugin REQUIRED)
    endif()
  endif()
  string(REGEX REPLACE "\\.proto$" "" stem ${ARG_PROTO})
  set(outputs ${PARADYM_GEN_DIR}/${stem}.grpc.pb.cc
              ${PARADYM_GEN_DIR}/${stem}.grpc.pb.h)
  add_custom_command(
    OUTPUT ${outputs}
    COMMAND ${PARADYM_PROTOC} -I${PARADYM_PROTO_ROOT}
            --grpc_out=${PARADYM_GEN_DIR}
            --plugin=protoc-gen-grpc=${PARADYM_GRPC_PLUGIN}
            ${PARADYM_PROTO_ROOT}/${ARG_PROTO}
    DEPENDS ${PARADYM_PROTO_ROOT}/${ARG_PROTO}
    COMMENT "grpc_cpp_plugin ${ARG_PROTO}"
    VERBATIM)
  add_library(${ARG_NAME} STATIC ${outputs})
  target_link_libraries(${ARG_NAME} PUBLIC ${ARG_DEPS} gRPC::grpc++)
  target_compile_options(${ARG_NAME} PRIVATE -w)
endfunction()
