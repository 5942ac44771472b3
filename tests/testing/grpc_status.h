// Reads the google.rpc error details out of a grpc::Status, as any client
// would, so tests assert on reasons and field paths rather than on text; and
// teaches the matchers of tests/testing/status_matchers.h grpc::Status.
//
//   EXPECT_THAT(status, StatusIs(grpc::StatusCode::UNAUTHENTICATED));
//   EXPECT_THAT(status, HasReason("SIGNATURE_MISMATCH"));
//   EXPECT_THAT(GrpcBadFields(status), ElementsAre("payload.workflowId"));

#ifndef PARADYM_WEBHOOKS_TESTS_TESTING_GRPC_STATUS_H_
#define PARADYM_WEBHOOKS_TESTS_TESTING_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "tests/testing/status_matchers.h"

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

template <>
struct StatusTraits<grpc::Status> {
  // gRPC's codes are the canonical codes, numbered as absl::StatusCode.
  static_assert(static_cast<int>(grpc::StatusCode::UNAUTHENTICATED) ==
                static_cast<int>(absl::StatusCode::kUnauthenticated));

  static bool Ok(const grpc::Status& status) { return status.ok(); }
  static absl::StatusCode Code(const grpc::Status& status) {
    return static_cast<absl::StatusCode>(status.error_code());
  }
  static std::string Message(const grpc::Status& status) {
    return status.error_message();
  }
  static std::string Reason(const grpc::Status& status) {
    return GrpcErrorReason(status);
  }
};

// StatusIs with gRPC's spelling of the code, for a grpc::Status.
inline auto StatusIs(grpc::StatusCode code) {
  return StatusIs(static_cast<absl::StatusCode>(code));
}
template <typename MessageMatcher>
auto StatusIs(grpc::StatusCode code, MessageMatcher&& message) {
  return StatusIs(static_cast<absl::StatusCode>(code),
                  std::forward<MessageMatcher>(message));
}

}  // namespace paradym::webhooks::testing

#endif  // PARADYM_WEBHOOKS_TESTS_TESTING_GRPC_STATUS_H_
