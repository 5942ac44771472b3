#include "server/core/status_macros.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/errors.h"
#include "tests/testing/status_matchers.h"

namespace paradym::webhooks {
namespace {

using ::paradym::webhooks::testing::HasReason;
using ::paradym::webhooks::testing::IsOk;
using ::paradym::webhooks::testing::StatusIs;

absl::Status Fail() {
  return MakeError(absl::StatusCode::kUnavailable, kStoreFailed, "failed");
}

// Returns `status` through RETURN_IF_ERROR, counting the evaluations of the
// expression and whether the code after it ran.
absl::Status ReturnIfError(absl::Status status, int& evaluations,
                           bool& continued) {
  RETURN_IF_ERROR((++evaluations, status));
  continued = true;
  return absl::OkStatus();
}

TEST(StatusMacros, ReturnIfErrorReturnsTheErrorAsItIs) {
  int evaluations = 0;
  bool continued = false;
  const absl::Status status = ReturnIfError(Fail(), evaluations, continued);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(status, HasReason(kStoreFailed));
  EXPECT_EQ(status.message(), "failed");
  EXPECT_EQ(evaluations, 1);
  EXPECT_FALSE(continued);
}

TEST(StatusMacros, ReturnIfErrorGoesOnWhenOk) {
  int evaluations = 0;
  bool continued = false;
  EXPECT_THAT(ReturnIfError(absl::OkStatus(), evaluations, continued), IsOk());
  EXPECT_EQ(evaluations, 1);
  EXPECT_TRUE(continued);
}

absl::StatusOr<int> ReturnIfErrorInStatusOr(absl::Status status) {
  RETURN_IF_ERROR(status);
  return 7;
}

TEST(StatusMacros, ReturnIfErrorWorksInAFunctionReturningStatusOr) {
  const absl::StatusOr<int> failed = ReturnIfErrorInStatusOr(Fail());
  EXPECT_THAT(failed, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(failed, HasReason(kStoreFailed));
  const absl::StatusOr<int> ok = ReturnIfErrorInStatusOr(absl::OkStatus());
  ASSERT_THAT(ok, IsOk());
  EXPECT_EQ(*ok, 7);
}

absl::StatusOr<std::unique_ptr<std::string>> MakeText(bool fail) {
  if (fail) return Fail();
  return std::make_unique<std::string>("text");
}

// Two uses in one scope, one declaring a move-only value and one assigning
// an existing variable.
absl::StatusOr<std::string> Join(bool fail_first, bool fail_second) {
  ASSIGN_OR_RETURN(std::unique_ptr<std::string> first, MakeText(fail_first));
  std::unique_ptr<std::string> second;
  ASSIGN_OR_RETURN(second, MakeText(fail_second));
  return *first + "+" + *second;
}

TEST(StatusMacros, AssignOrReturnAssignsTheValue) {
  const absl::StatusOr<std::string> joined = Join(false, false);
  ASSERT_THAT(joined, IsOk());
  EXPECT_EQ(*joined, "text+text");
}

TEST(StatusMacros, AssignOrReturnReturnsTheError) {
  for (const auto& [fail_first, fail_second] :
       {std::pair{true, false}, std::pair{false, true}}) {
    SCOPED_TRACE(fail_first ? "first fails" : "second fails");
    const absl::StatusOr<std::string> joined = Join(fail_first, fail_second);
    EXPECT_THAT(joined, StatusIs(absl::StatusCode::kUnavailable));
    EXPECT_THAT(joined, HasReason(kStoreFailed));
  }
}

absl::Status AssignOrReturnInStatus(bool fail, std::string& out) {
  ASSIGN_OR_RETURN(auto text, MakeText(fail));
  out = *text;
  return absl::OkStatus();
}

TEST(StatusMacros, AssignOrReturnWorksInAFunctionReturningStatus) {
  std::string out;
  const absl::Status failed = AssignOrReturnInStatus(true, out);
  EXPECT_THAT(failed, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(failed, HasReason(kStoreFailed));
  EXPECT_EQ(out, "");
  EXPECT_THAT(AssignOrReturnInStatus(false, out), IsOk());
  EXPECT_EQ(out, "text");
}

}  // namespace
}  // namespace paradym::webhooks
