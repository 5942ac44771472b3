#include "tests/testing/grpc_status.h"

#include <grpcpp/support/status.h>

#include <string>

#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"

namespace paradym::webhooks {
namespace {

using ::paradym::webhooks::testing::GrpcBadFields;
using ::paradym::webhooks::testing::GrpcErrorMetadata;
using ::paradym::webhooks::testing::GrpcErrorReason;
using ::paradym::webhooks::testing::HasReason;
using ::paradym::webhooks::testing::IsOk;
using ::paradym::webhooks::testing::StatusIs;
using ::testing::DescribeMatcher;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// A status as a server sends it: code, message and google.rpc details.
grpc::Status MissingField() {
  google::rpc::ErrorInfo info;
  info.set_reason("MISSING_FIELD");
  info.set_domain("webhooks.paradym.v1");
  (*info.mutable_metadata())["field"] = "payload.workflowId";
  google::rpc::BadRequest bad_request;
  bad_request.add_field_violations()->set_field("payload.workflowId");
  google::rpc::Status details;
  details.set_code(grpc::StatusCode::INVALID_ARGUMENT);
  details.set_message("payload.workflowId is missing");
  details.add_details()->PackFrom(info);
  details.add_details()->PackFrom(bad_request);
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      "payload.workflowId is missing",
                      details.SerializeAsString());
}

TEST(GrpcStatus, ReadsTheDetailsAsAClientWould) {
  EXPECT_EQ(GrpcErrorReason(MissingField()), "MISSING_FIELD");
  EXPECT_EQ(GrpcErrorMetadata(MissingField(), "field"), "payload.workflowId");
  EXPECT_EQ(GrpcErrorMetadata(MissingField(), "other"), "");
  EXPECT_THAT(GrpcBadFields(MissingField()), ElementsAre("payload.workflowId"));
  EXPECT_EQ(GrpcErrorReason(grpc::Status::OK), "");
  EXPECT_THAT(GrpcBadFields(grpc::Status::OK), IsEmpty());
}

TEST(GrpcStatus, MatchersReadCodeMessageAndReason) {
  EXPECT_THAT(grpc::Status::OK, IsOk());
  EXPECT_THAT(MissingField(), Not(IsOk()));
  EXPECT_THAT(MissingField(), StatusIs(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_THAT(MissingField(), Not(StatusIs(grpc::StatusCode::OUT_OF_RANGE)));
  EXPECT_THAT(MissingField(), StatusIs(grpc::StatusCode::INVALID_ARGUMENT,
                                       HasSubstr("is missing")));
  EXPECT_THAT(MissingField(), Not(StatusIs(grpc::StatusCode::INVALID_ARGUMENT,
                                           HasSubstr("is too long"))));
  EXPECT_THAT(MissingField(), HasReason("MISSING_FIELD"));
  EXPECT_THAT(MissingField(), Not(HasReason("INVALID_FIELD")));
  EXPECT_THAT(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"),
              HasReason(IsEmpty()));
}

TEST(GrpcStatus, MatchersExplainAFailureWithTheStatus) {
  ::testing::StringMatchResultListener listener;
  EXPECT_FALSE(
      ::testing::ExplainMatchResult(IsOk(), MissingField(), &listener));
  EXPECT_EQ(listener.str(),
            "whose status is INVALID_ARGUMENT: payload.workflowId is missing "
            "(reason MISSING_FIELD)");
  EXPECT_EQ(DescribeMatcher<grpc::Status>(
                StatusIs(grpc::StatusCode::PERMISSION_DENIED)),
            "has a status code that is equal to PERMISSION_DENIED");
}

}  // namespace
}  // namespace paradym::webhooks
