#include "tests/testing/status_matchers.h"

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/errors.h"

namespace paradym::webhooks {
namespace {

using ::paradym::webhooks::testing::HasReason;
using ::paradym::webhooks::testing::IsOk;
using ::paradym::webhooks::testing::StatusIs;
using ::testing::DescribeMatcher;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

absl::Status Mismatch() {
  return MakeError(absl::StatusCode::kUnauthenticated, kSignatureMismatch,
                   "the signature does not match the body");
}

// What a matcher says about `value` when the assertion fails.
template <typename Matcher, typename T>
std::string Explain(const Matcher& matcher, const T& value) {
  ::testing::StringMatchResultListener listener;
  ::testing::ExplainMatchResult(matcher, value, &listener);
  return listener.str();
}

TEST(IsOk, MatchesOkStatusesAndStatusOrsWithAValue) {
  EXPECT_THAT(absl::OkStatus(), IsOk());
  EXPECT_THAT(absl::StatusOr<int>(7), IsOk());
  EXPECT_THAT(Mismatch(), Not(IsOk()));
  EXPECT_THAT(absl::StatusOr<int>(Mismatch()), Not(IsOk()));
  EXPECT_THAT(absl::StatusOr<int>(absl::NotFoundError("gone")), Not(IsOk()));
}

TEST(IsOk, ExplainsAFailureWithCodeMessageAndReason) {
  EXPECT_EQ(Explain(IsOk(), Mismatch()),
            "whose status is UNAUTHENTICATED: the signature does not match "
            "the body (reason SIGNATURE_MISMATCH)");
  EXPECT_EQ(Explain(IsOk(), absl::StatusOr<int>(absl::NotFoundError("gone"))),
            "whose status is NOT_FOUND: gone");
  EXPECT_EQ(Explain(Not(IsOk()), absl::OkStatus()), "whose status is OK");
  EXPECT_EQ(DescribeMatcher<absl::Status>(IsOk()), "is OK");
  EXPECT_EQ(DescribeMatcher<absl::Status>(IsOk(), /*negation=*/true),
            "is not OK");
}

TEST(StatusIs, MatchesTheCode) {
  EXPECT_THAT(Mismatch(), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(Mismatch(), Not(StatusIs(absl::StatusCode::kInvalidArgument)));
  EXPECT_THAT(absl::OkStatus(), StatusIs(absl::StatusCode::kOk));
  EXPECT_THAT(absl::OkStatus(), Not(StatusIs(absl::StatusCode::kUnknown)));
  EXPECT_THAT(absl::StatusOr<int>(Mismatch()),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(absl::StatusOr<int>(7), StatusIs(absl::StatusCode::kOk));
  EXPECT_THAT(absl::StatusOr<int>(7),
              Not(StatusIs(absl::StatusCode::kUnauthenticated)));
  EXPECT_THAT(Mismatch(), StatusIs(Not(absl::StatusCode::kOk)));
}

TEST(StatusIs, MatchesTheMessageToo) {
  EXPECT_THAT(Mismatch(), StatusIs(absl::StatusCode::kUnauthenticated,
                                   HasSubstr("does not match")));
  EXPECT_THAT(Mismatch(), StatusIs(absl::StatusCode::kUnauthenticated,
                                   "the signature does not match the body"));
  EXPECT_THAT(Mismatch(), Not(StatusIs(absl::StatusCode::kUnauthenticated,
                                       HasSubstr("is missing"))));
  EXPECT_THAT(Mismatch(), Not(StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("does not match"))));
}

TEST(StatusIs, DescribesItselfAndExplainsAFailure) {
  EXPECT_EQ(DescribeMatcher<absl::Status>(
                StatusIs(absl::StatusCode::kInvalidArgument)),
            "has a status code that is equal to INVALID_ARGUMENT");
  EXPECT_EQ(DescribeMatcher<absl::Status>(
                StatusIs(absl::StatusCode::kInvalidArgument, "bad"),
                /*negation=*/true),
            "has a status code that isn't equal to INVALID_ARGUMENT or a "
            "message that isn't equal to \"bad\"");
  EXPECT_THAT(Explain(StatusIs(absl::StatusCode::kInvalidArgument), Mismatch()),
              HasSubstr("whose status is UNAUTHENTICATED: the signature"));
}

TEST(HasReason, MatchesTheErrorInfoReason) {
  EXPECT_THAT(Mismatch(), HasReason("SIGNATURE_MISMATCH"));
  EXPECT_THAT(Mismatch(), HasReason(kSignatureMismatch));
  EXPECT_THAT(Mismatch(), HasReason(std::string("SIGNATURE_MISMATCH")));
  EXPECT_THAT(Mismatch(), HasReason(StartsWith("SIGNATURE_")));
  EXPECT_THAT(Mismatch(), Not(HasReason(kSignatureMissing)));
  EXPECT_THAT(absl::StatusOr<int>(Mismatch()), HasReason(kSignatureMismatch));
  EXPECT_THAT(absl::StatusOr<int>(7), Not(HasReason(kSignatureMismatch)));
}

TEST(HasReason, AStatusWithoutAReasonHasTheReasonEmpty) {
  EXPECT_THAT(absl::InternalError("no reason"), HasReason(IsEmpty()));
  EXPECT_THAT(absl::InternalError("no reason"), Not(HasReason(kStoreFailed)));
  EXPECT_THAT(absl::OkStatus(), HasReason(""));
}

TEST(HasReason, DescribesItselfAndExplainsAFailure) {
  EXPECT_EQ(DescribeMatcher<absl::Status>(HasReason(kSignatureMissing)),
            "has an error reason that is equal to \"SIGNATURE_MISSING\"");
  EXPECT_EQ(Explain(HasReason(kSignatureMissing), Mismatch()),
            "whose status is UNAUTHENTICATED: the signature does not match "
            "the body (reason SIGNATURE_MISMATCH)");
}

}  // namespace
}  // namespace paradym::webhooks
