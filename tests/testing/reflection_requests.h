// grpc.reflection.v1 questions, one builder per kind, for the reflection
// tests (v1alpha is wire-identical, so the same bytes ask it too).
//
//   ServerReflectionRequest request = FileContainingSymbol("a.b.Service");

#ifndef PARADYM_WEBHOOKS_TESTS_TESTING_REFLECTION_REQUESTS_H_
#define PARADYM_WEBHOOKS_TESTS_TESTING_REFLECTION_REQUESTS_H_

#include <string>

#include "grpc/reflection/v1/reflection.pb.h"

namespace paradym::webhooks::testing {

using ::grpc::reflection::v1::ServerReflectionRequest;

// `content` is not checked by servers; grpcurl sends "*".
inline ServerReflectionRequest ListServices(const std::string& content = "*") {
  ServerReflectionRequest request;
  request.set_list_services(content);
  return request;
}

inline ServerReflectionRequest FileByFilename(const std::string& name) {
  ServerReflectionRequest request;
  request.set_file_by_filename(name);
  return request;
}

inline ServerReflectionRequest FileContainingSymbol(const std::string& symbol) {
  ServerReflectionRequest request;
  request.set_file_containing_symbol(symbol);
  return request;
}

inline ServerReflectionRequest FileContainingExtension(const std::string& type,
                                                       int number) {
  ServerReflectionRequest request;
  request.mutable_file_containing_extension()->set_containing_type(type);
  request.mutable_file_containing_extension()->set_extension_number(number);
  return request;
}

inline ServerReflectionRequest AllExtensionNumbersOfType(
    const std::string& type) {
  ServerReflectionRequest request;
  request.set_all_extension_numbers_of_type(type);
  return request;
}

}  // namespace paradym::webhooks::testing

#endif  // PARADYM_WEBHOOKS_TESTS_TESTING_REFLECTION_REQUESTS_H_
