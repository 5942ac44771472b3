// Reads the google.rpc error details out of a grpc::Status, as any client
// would, so tests assert on reasons and field paths rather than on text.
//
//   EXPECT_EQ(GrpcErrorReason(status), "SIGNATURE_MISMATCH");

#ifndef PARADYM_WEBHOOKS_TESTS_TESTING_GRPC_STATUS_H_
#define PARADYM_WEBHOOKS_TESTS_TESTING_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include <map>
#include <string>
#include <vector>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace paradym::webhooks::testing {

inline google::rpc::ErrorInfo GrpcErrorInfo(const grpc::Status& status) {
  google::rpc::Status details;
  google::rpc::ErrorInfo info;
  if (details.ParseFromString(status.error_details())) {
    for (const auto& any : details.details()) {
      if (any.Is<google::rpc::ErrorInfo>()) any.UnpackTo(&info);
    }
  }
  return info;
}

inline std::string GrpcErrorReason(const grpc::Status& status) {
  return GrpcErrorInfo(status).reason();
}

inline std::string GrpcErrorMetadata(const grpc::Status& status,
                                     const std::string& key) {
  const auto info = GrpcErrorInfo(status);
  auto it = info.metadata().find(key);
  return it == info.metadata().end() ? "" : it->second;
}

// The field paths of the BadRequest detail, in order.
inline std::vector<std::string> GrpcBadFields(const grpc::Status& status) {
  google::rpc::Status details;
  std::vector<std::string> fields;
  if (!details.ParseFromString(status.error_details())) return fields;
  for (const auto& any : details.details()) {
    google::rpc::BadRequest bad_request;
    if (any.Is<google::rpc::BadRequest>() && any.UnpackTo(&bad_request)) {
      for (const auto& violation : bad_request.field_violations()) {
        fields.push_back(violation.field());
      }
    }
  }
  return fields;
}

}  // namespace paradym::webhooks::testing

#endif  // PARADYM_WEBHOOKS_TESTS_TESTING_GRPC_STATUS_H_
