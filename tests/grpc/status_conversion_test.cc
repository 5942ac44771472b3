#include "server/grpc/status_conversion.h"

#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "server/core/errors.h"
#include "tests/testing/grpc_status.h"
#include "tests/testing/status_matchers.h"

namespace paradym::webhooks {
namespace {

using ::paradym::webhooks::testing::GrpcBadFields;
using ::paradym::webhooks::testing::GrpcErrorInfo;
using ::paradym::webhooks::testing::IsOk;
using ::paradym::webhooks::testing::StatusIs;
using ::testing::ElementsAre;

TEST(StatusConversion, OkIsOk) {
  EXPECT_THAT(ToGrpcStatus(absl::OkStatus()), IsOk());
}

TEST(StatusConversion, CodeMessageAndDetailsCarryOver) {
  const absl::Status status = MakeError(
      absl::StatusCode::kInvalidArgument, kMissingField,
      "payload.workflowExecutionId: required string is missing",
      {{"hint", "x"}},
      {{"payload.workflowExecutionId", "required string is missing"}});
  const grpc::Status converted = ToGrpcStatus(status);
  EXPECT_THAT(converted, StatusIs(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_EQ(converted.error_message(),
            "payload.workflowExecutionId: required string is missing");

  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(converted.error_details()));
  EXPECT_EQ(details.code(), 3);
  EXPECT_EQ(details.message(), converted.error_message());
  ASSERT_EQ(details.details_size(), 2);

  const google::rpc::ErrorInfo info = GrpcErrorInfo(converted);
  EXPECT_EQ(info.reason(), "MISSING_FIELD");
  EXPECT_EQ(info.domain(), "webhooks.paradym.v1");
  EXPECT_EQ(info.metadata().at("hint"), "x");
  EXPECT_THAT(GrpcBadFields(converted),
              ElementsAre("payload.workflowExecutionId"));
}

TEST(StatusConversion, EveryCodeKeepsItsNumber) {
  for (int code = 1; code <= 16; ++code) {
    SCOPED_TRACE(code);
    const grpc::Status converted =
        ToGrpcStatus(absl::Status(static_cast<absl::StatusCode>(code), "m"));
    EXPECT_EQ(static_cast<int>(converted.error_code()), code);
  }
}

}  // namespace
}  // namespace paradym::webhooks
