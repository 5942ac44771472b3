// GoogleTest matchers for absl::Status and absl::StatusOr<T>, in the shape
// of Abseil's absl/status/status_matchers.h (which Debian's Abseil 20220623
// does not ship), plus HasReason for the google.rpc.ErrorInfo reason that
// every error of this project carries (server/core/errors.h).
//
//   ASSERT_THAT(ReadSecretsFile(path), IsOk());
//   EXPECT_THAT(verifier.Verify(body, signature, ""),
//               StatusIs(absl::StatusCode::kUnauthenticated));
//   EXPECT_THAT(status, HasReason(kSignatureMismatch));
//   EXPECT_THAT(status, StatusIs(absl::StatusCode::kOutOfRange,
//                                HasSubstr("oldest available is 4")));
//
// A failure explains itself with the status: its code, message and reason.
// tests/testing/grpc_status.h teaches the same matchers grpc::Status.

#ifndef PARADYM_WEBHOOKS_TESTS_TESTING_STATUS_MATCHERS_H_
#define PARADYM_WEBHOOKS_TESTS_TESTING_STATUS_MATCHERS_H_

#include <optional>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "server/core/errors.h"

namespace paradym::webhooks::testing {

// How the matchers read a status-like type T: whether it is OK, its code as
// an absl::StatusCode, its message, its error reason ("" for none). This
// one reads any type shaped like absl::Status (ok(), code(), message()), as
// protobuf's util::Status is; specialize it for other shapes.
template <typename T>
struct StatusTraits {
  static bool Ok(const T& status) { return status.ok(); }
  static absl::StatusCode Code(const T& status) {
    return static_cast<absl::StatusCode>(status.code());
  }
  static std::string Message(const T& status) {
    return std::string(status.message());
  }
  static std::string Reason(const T&) { return ""; }
};

template <>
struct StatusTraits<absl::Status> {
  static bool Ok(const absl::Status& status) { return status.ok(); }
  static absl::StatusCode Code(const absl::Status& status) {
    return status.code();
  }
  static std::string Message(const absl::Status& status) {
    return std::string(status.message());
  }
  static std::string Reason(const absl::Status& status) {
    return ErrorReason(status);
  }
};

template <typename T>
struct StatusTraits<absl::StatusOr<T>> {
  using Base = StatusTraits<absl::Status>;
  static bool Ok(const absl::StatusOr<T>& v) { return v.ok(); }
  static absl::StatusCode Code(const absl::StatusOr<T>& v) {
    return Base::Code(v.status());
  }
  static std::string Message(const absl::StatusOr<T>& v) {
    return Base::Message(v.status());
  }
  static std::string Reason(const absl::StatusOr<T>& v) {
    return Base::Reason(v.status());
  }
};

namespace status_matchers_internal {

// "OK", or "UNAUTHENTICATED: the signature does not match (reason
// SIGNATURE_MISMATCH)".
template <typename T>
std::string Describe(const T& actual) {
  using Traits = StatusTraits<T>;
  if (Traits::Ok(actual)) return "OK";
  std::string text =
      absl::StrCat(absl::StatusCodeToString(Traits::Code(actual)), ": ",
                   Traits::Message(actual));
  const std::string reason = Traits::Reason(actual);
  if (!reason.empty()) absl::StrAppend(&text, " (reason ", reason, ")");
  return text;
}

// A text matcher from an exact text (a string literal, std::string or
// absl::string_view, which GoogleTest does not know) or from any matcher of
// std::string (HasSubstr, IsEmpty, ...).
template <typename TextMatcher>
::testing::Matcher<const std::string&> ToTextMatcher(TextMatcher&& matcher) {
  if constexpr (std::is_convertible_v<TextMatcher, absl::string_view>) {
    return ::testing::Eq(std::string(absl::string_view(matcher)));
  } else {
    return ::testing::SafeMatcherCast<const std::string&>(
        std::forward<TextMatcher>(matcher));
  }
}

class IsOkMatcher {
 public:
  template <typename T>
  bool MatchAndExplain(const T& actual,
                       ::testing::MatchResultListener* listener) const {
    *listener << "whose status is " << Describe(actual);
    return StatusTraits<T>::Ok(actual);
  }
  void DescribeTo(std::ostream* os) const { *os << "is OK"; }
  void DescribeNegationTo(std::ostream* os) const { *os << "is not OK"; }
};

class StatusIsMatcher {
 public:
  StatusIsMatcher(::testing::Matcher<absl::StatusCode> code,
                  std::optional<::testing::Matcher<const std::string&>> message)
      : code_(std::move(code)), message_(std::move(message)) {}

  template <typename T>
  bool MatchAndExplain(const T& actual,
                       ::testing::MatchResultListener* listener) const {
    using Traits = StatusTraits<T>;
    *listener << "whose status is " << Describe(actual);
    return code_.Matches(Traits::Code(actual)) &&
           (!message_.has_value() ||
            message_->Matches(Traits::Message(actual)));
  }
  void DescribeTo(std::ostream* os) const {
    *os << "has a status code that ";
    code_.DescribeTo(os);
    if (message_.has_value()) {
      *os << " and a message that ";
      message_->DescribeTo(os);
    }
  }
  void DescribeNegationTo(std::ostream* os) const {
    *os << "has a status code that ";
    code_.DescribeNegationTo(os);
    if (message_.has_value()) {
      *os << " or a message that ";
      message_->DescribeNegationTo(os);
    }
  }

 private:
  ::testing::Matcher<absl::StatusCode> code_;
  std::optional<::testing::Matcher<const std::string&>> message_;
};

class HasReasonMatcher {
 public:
  explicit HasReasonMatcher(::testing::Matcher<const std::string&> reason)
      : reason_(std::move(reason)) {}

  template <typename T>
  bool MatchAndExplain(const T& actual,
                       ::testing::MatchResultListener* listener) const {
    *listener << "whose status is " << Describe(actual);
    return reason_.Matches(StatusTraits<T>::Reason(actual));
  }
  void DescribeTo(std::ostream* os) const {
    *os << "has an error reason that ";
    reason_.DescribeTo(os);
  }
  void DescribeNegationTo(std::ostream* os) const {
    *os << "has an error reason that ";
    reason_.DescribeNegationTo(os);
  }

 private:
  ::testing::Matcher<const std::string&> reason_;
};

}  // namespace status_matchers_internal

// Matches an OK status, or a StatusOr that holds a value.
inline ::testing::PolymorphicMatcher<status_matchers_internal::IsOkMatcher>
IsOk() {
  return ::testing::MakePolymorphicMatcher(
      status_matchers_internal::IsOkMatcher());
}

// Matches a status whose code matches `code` (a code or a matcher of one)
// and, when given, whose message matches `message` (a text or a matcher of
// std::string).
template <typename MessageMatcher>
::testing::PolymorphicMatcher<status_matchers_internal::StatusIsMatcher>
StatusIs(::testing::Matcher<absl::StatusCode> code, MessageMatcher&& message) {
  return ::testing::MakePolymorphicMatcher(
      status_matchers_internal::StatusIsMatcher(
          std::move(code), status_matchers_internal::ToTextMatcher(
                               std::forward<MessageMatcher>(message))));
}
inline ::testing::PolymorphicMatcher<status_matchers_internal::StatusIsMatcher>
StatusIs(::testing::Matcher<absl::StatusCode> code) {
  return ::testing::MakePolymorphicMatcher(
      status_matchers_internal::StatusIsMatcher(std::move(code), std::nullopt));
}

// Matches a status whose google.rpc.ErrorInfo reason matches `reason` (a
// text such as kSignatureMismatch or "SIGNATURE_MISMATCH", or a matcher of
// std::string). A status without a reason has the reason "".
template <typename ReasonMatcher>
::testing::PolymorphicMatcher<status_matchers_internal::HasReasonMatcher>
HasReason(ReasonMatcher&& reason) {
  return ::testing::MakePolymorphicMatcher(
      status_matchers_internal::HasReasonMatcher(
          status_matchers_internal::ToTextMatcher(
              std::forward<ReasonMatcher>(reason))));
}

}  // namespace paradym::webhooks::testing

#endif  // PARADYM_WEBHOOKS_TESTS_TESTING_STATUS_MATCHERS_H_
