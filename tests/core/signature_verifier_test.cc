#include "server/core/signature_verifier.h"

#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/errors.h"
#include "tests/testing/status_matchers.h"

namespace paradym::webhooks {
namespace {

using ::paradym::webhooks::testing::HasReason;
using ::paradym::webhooks::testing::IsOk;
using ::paradym::webhooks::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::string_view kSecret = "supersecret";
constexpr absl::string_view kBody = "Hello, world!";
// Computed outside this code base with
//   printf %s 'Hello, world!' | openssl dgst -sha256 -hmac supersecret
constexpr absl::string_view kBodySignature =
    "90b6bb4be394220aae3e7628a15029f0b8eef8d1cf86856f65583fcc317a2743";
// printf %s 'Hello, world!' | openssl dgst -sha256 -hmac othersecret
constexpr absl::string_view kOtherSecretSignature =
    "b7039c09caaa0136da881730fe8ec82c32021a5d57162239a5323613ce563221";

SignatureVerifier DefaultVerifier() {
  return SignatureVerifier({{"default", {std::string(kSecret)}}});
}

// Whether Verify can be called on a V.
template <typename V, typename = void>
struct CanVerify : std::false_type {};
template <typename V>
struct CanVerify<V, std::void_t<decltype(std::declval<V>().Verify("", "", ""))>>
    : std::true_type {};

// Verify returns a name inside the verifier: on a temporary verifier it
// would dangle by the next statement (as it once did in this test, found by
// AddressSanitizer), so only a verifier that outlives the call can be asked.
static_assert(CanVerify<const SignatureVerifier&>::value);
static_assert(!CanVerify<SignatureVerifier>::value,
              "Verify on a temporary SignatureVerifier must not compile");

// Asserts that nothing a caller or a log could see of `status` contains a
// secret or signature text.
void ExpectNoSecretsIn(const absl::Status& status,
                       const std::vector<std::string>& secrets) {
  for (const std::string& secret : secrets) {
    if (secret.empty()) continue;
    EXPECT_THAT(std::string(status.message()), Not(HasSubstr(secret)));
    EXPECT_THAT(status.ToString(), Not(HasSubstr(secret)));
  }
}

TEST(SignatureVerifier, SignBodyMatchesOpensslPublicVector) {
  EXPECT_EQ(SignBody(kSecret, kBody), kBodySignature);
  EXPECT_EQ(SignBody("othersecret", kBody), kOtherSecretSignature);
}

TEST(SignatureVerifier, ComputeDigestMatchesDecodedPublicVector) {
  absl::StatusOr<Digest> decoded = DecodeSignature(kBodySignature);
  ASSERT_THAT(decoded, IsOk());
  EXPECT_EQ(ComputeDigest(kSecret, kBody), *decoded);
  EXPECT_EQ((*decoded)[0], 0x90);
  EXPECT_EQ((*decoded)[31], 0x43);
}

TEST(SignatureVerifier, AcceptsPublicVector) {
  const SignatureVerifier verifier = DefaultVerifier();
  absl::StatusOr<absl::string_view> endpoint =
      verifier.Verify(kBody, kBodySignature, "");
  ASSERT_THAT(endpoint, IsOk());
  EXPECT_EQ(*endpoint, "default");
}

TEST(SignatureVerifier, AcceptsUppercaseHex) {
  const SignatureVerifier verifier = DefaultVerifier();
  const std::string upper = absl::AsciiStrToUpper(kBodySignature);
  ASSERT_NE(upper, kBodySignature);
  absl::StatusOr<absl::string_view> endpoint =
      verifier.Verify(kBody, upper, "");
  ASSERT_THAT(endpoint, IsOk());
  EXPECT_EQ(*endpoint, "default");
}

TEST(SignatureVerifier, AcceptsMixedCaseHex) {
  std::string mixed(kBodySignature);
  for (std::size_t i = 0; i < mixed.size(); i += 2) {
    mixed[i] = absl::ascii_toupper(static_cast<unsigned char>(mixed[i]));
  }
  const SignatureVerifier verifier = DefaultVerifier();
  absl::StatusOr<absl::string_view> endpoint =
      verifier.Verify(kBody, mixed, "default");
  ASSERT_THAT(endpoint, IsOk());
  EXPECT_EQ(*endpoint, "default");
}

TEST(SignatureVerifier, AcceptsSurroundingWhitespace) {
  const SignatureVerifier verifier = DefaultVerifier();
  for (const std::string& header :
       {absl::StrCat(" ", kBodySignature), absl::StrCat(kBodySignature, "\r\n"),
        absl::StrCat("\t ", kBodySignature, " \t\n")}) {
    SCOPED_TRACE(absl::StrCat("header: \"", header, "\""));
    absl::StatusOr<absl::string_view> endpoint =
        verifier.Verify(kBody, header, "");
    ASSERT_THAT(endpoint, IsOk());
    EXPECT_EQ(*endpoint, "default");
  }
}

TEST(SignatureVerifier, RejectsBadSignatures) {
  const std::string good(kBodySignature);
  struct Case {
    std::string name;
    std::string body;
    std::string signature;
    absl::string_view reason;
  };
  const std::vector<Case> cases = {
      {"empty", std::string(kBody), "", kSignatureMissing},
      {"only whitespace", std::string(kBody), " \t\r\n", kSignatureMissing},
      {"one digit short", std::string(kBody), good.substr(0, 63),
       kSignatureMalformed},
      {"one digit long", std::string(kBody), good + "0", kSignatureMalformed},
      {"twice the length", std::string(kBody), good + good,
       kSignatureMalformed},
      {"non-hex digit", std::string(kBody), good.substr(0, 63) + "g",
       kSignatureMalformed},
      {"0x prefix", std::string(kBody), "0x" + good.substr(0, 62),
       kSignatureMalformed},
      {"inner space", std::string(kBody),
       good.substr(0, 32) + " " + good.substr(33), kSignatureMalformed},
      {"sha256= prefix", std::string(kBody), "sha256=" + good,
       kSignatureMalformed},
      // printf %s 'Hello, world!' |
      //     openssl dgst -sha256 -hmac supersecret -binary | base64
      {"base64 instead of hex", std::string(kBody),
       "kLa7S+OUIgquPnYooVAp8Lju+NHPhoVvZVg/zDF6J0M=", kSignatureMalformed},
      {"tampered body", "Hello, world?", good, kSignatureMismatch},
      {"body with trailing newline", absl::StrCat(kBody, "\n"), good,
       kSignatureMismatch},
      {"empty body", "", good, kSignatureMismatch},
      {"wrong secret", std::string(kBody), std::string(kOtherSecretSignature),
       kSignatureMismatch},
      {"all zeros", std::string(kBody), std::string(64, '0'),
       kSignatureMismatch},
  };
  const SignatureVerifier verifier = DefaultVerifier();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    for (absl::string_view endpoint : {"", "default"}) {
      SCOPED_TRACE(absl::StrCat("endpoint: \"", endpoint, "\""));
      absl::StatusOr<absl::string_view> result =
          verifier.Verify(c.body, c.signature, endpoint);
      ASSERT_THAT(result, StatusIs(absl::StatusCode::kUnauthenticated));
      EXPECT_THAT(result, HasReason(c.reason));
      ExpectNoSecretsIn(result.status(),
                        {std::string(kSecret), c.signature,
                         std::string(absl::StripAsciiWhitespace(c.signature)),
                         SignBody(kSecret, c.body)});
    }
  }
}

TEST(SignatureVerifier, DecodeSignatureReportsMissingAndMalformed) {
  absl::StatusOr<Digest> missing = DecodeSignature("");
  ASSERT_THAT(missing, StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(missing, HasReason(kSignatureMissing));

  const std::string malformed_text =
      absl::StrCat(kBodySignature.substr(0, 62), "zz");
  absl::StatusOr<Digest> malformed = DecodeSignature(malformed_text);
  ASSERT_THAT(malformed, StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(malformed, HasReason(kSignatureMalformed));
  ExpectNoSecretsIn(malformed.status(), {malformed_text});
}

TEST(SignatureVerifier, ErrorsCarryTheErrorDomain) {
  const SignatureVerifier verifier = DefaultVerifier();
  absl::StatusOr<absl::string_view> result =
      verifier.Verify("tampered", kBodySignature, "");
  ASSERT_THAT(result, StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(result, HasReason(kSignatureMismatch));
  EXPECT_TRUE(result.status().GetPayload(kErrorInfoTypeUrl).has_value());
}

TEST(SignatureVerifier, EndpointSpecificVerificationUsesOnlyThatEndpoint) {
  const SignatureVerifier verifier(
      {{"shop", {"shop-secret"}}, {"bank", {"bank-secret"}}});
  const std::string bank_signature = SignBody("bank-secret", kBody);

  absl::StatusOr<absl::string_view> bank =
      verifier.Verify(kBody, bank_signature, "bank");
  ASSERT_THAT(bank, IsOk());
  EXPECT_EQ(*bank, "bank");

  absl::StatusOr<absl::string_view> shop =
      verifier.Verify(kBody, bank_signature, "shop");
  ASSERT_THAT(shop, StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(shop, HasReason(kSignatureMismatch));
  ExpectNoSecretsIn(shop.status(),
                    {"shop-secret", "bank-secret", bank_signature});
}

TEST(SignatureVerifier, EmptyEndpointTriesAllEndpoints) {
  const SignatureVerifier verifier({{"shop", {"shop-secret"}},
                                    {"bank", {"bank-old", "bank-new"}},
                                    {"crm", {"crm-secret"}}});
  struct Case {
    std::string secret;
    absl::string_view endpoint;
  };
  for (const Case& c : std::vector<Case>{{"shop-secret", "shop"},
                                         {"bank-old", "bank"},
                                         {"bank-new", "bank"},
                                         {"crm-secret", "crm"}}) {
    SCOPED_TRACE(c.secret);
    absl::StatusOr<absl::string_view> endpoint =
        verifier.Verify(kBody, SignBody(c.secret, kBody), "");
    ASSERT_THAT(endpoint, IsOk());
    EXPECT_EQ(*endpoint, c.endpoint);
  }

  absl::StatusOr<absl::string_view> none =
      verifier.Verify(kBody, SignBody("unknown-secret", kBody), "");
  ASSERT_THAT(none, StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(none, HasReason(kSignatureMismatch));
  ExpectNoSecretsIn(none.status(),
                    {"shop-secret", "bank-old", "bank-new", "crm-secret",
                     SignBody("unknown-secret", kBody)});
}

TEST(SignatureVerifier, BothSecretsVerifyDuringRotation) {
  const SignatureVerifier verifier({{"default", {"old-secret", "new-secret"}}});
  for (absl::string_view secret : {"old-secret", "new-secret"}) {
    SCOPED_TRACE(secret);
    for (absl::string_view endpoint : {"", "default"}) {
      SCOPED_TRACE(absl::StrCat("endpoint: \"", endpoint, "\""));
      absl::StatusOr<absl::string_view> result =
          verifier.Verify(kBody, SignBody(secret, kBody), endpoint);
      ASSERT_THAT(result, IsOk());
      EXPECT_EQ(*result, "default");
    }
  }
  absl::StatusOr<absl::string_view> retired =
      verifier.Verify(kBody, SignBody("retired-secret", kBody), "default");
  ASSERT_THAT(retired, StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(retired, HasReason(kSignatureMismatch));
}

TEST(SignatureVerifier, UnknownEndpointIsNotFound) {
  const SignatureVerifier verifier = DefaultVerifier();
  absl::StatusOr<absl::string_view> result =
      verifier.Verify(kBody, kBodySignature, "nope");
  ASSERT_THAT(result, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(result, HasReason(kUnknownEndpoint));
  EXPECT_EQ(ErrorMetadata(result.status(), "endpoint"), "nope");
  ExpectNoSecretsIn(result.status(),
                    {std::string(kSecret), std::string(kBodySignature)});
}

TEST(SignatureVerifier, EndpointNamesAreCaseSensitive) {
  const SignatureVerifier verifier = DefaultVerifier();
  absl::StatusOr<absl::string_view> result =
      verifier.Verify(kBody, kBodySignature, "Default");
  ASSERT_THAT(result, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(result, HasReason(kUnknownEndpoint));
}

TEST(SignatureVerifier, InvalidEndpointNameIsNotFoundAndNotEchoed) {
  const SignatureVerifier verifier = DefaultVerifier();
  const std::string bad_name = "../../etc/passwd\n\"x";
  absl::StatusOr<absl::string_view> result =
      verifier.Verify(kBody, kBodySignature, bad_name);
  ASSERT_THAT(result, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(result, HasReason(kUnknownEndpoint));
  EXPECT_EQ(ErrorMetadata(result.status(), "endpoint"), "");
  EXPECT_THAT(std::string(result.status().message()), Not(HasSubstr("passwd")));
}

TEST(SignatureVerifier, CheckEndpoint) {
  const SignatureVerifier verifier(
      {{"shop", {"shop-secret"}}, {"bank", {"bank-secret"}}});
  EXPECT_THAT(verifier.CheckEndpoint(""), IsOk());
  EXPECT_THAT(verifier.CheckEndpoint("shop"), IsOk());
  EXPECT_THAT(verifier.CheckEndpoint("bank"), IsOk());
  const absl::Status unknown = verifier.CheckEndpoint("crm");
  EXPECT_THAT(unknown, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(unknown, HasReason(kUnknownEndpoint));
  EXPECT_EQ(ErrorMetadata(unknown, "endpoint"), "crm");
}

// The prepared key must agree with the one-shot HMAC() for every key length
// that matters to RFC 2104: shorter than, equal to and longer than a block.
TEST(HmacKey, AgreesWithOneShotHmacForEveryKeyLength) {
  const std::string message = "{\"eventType\":\"workflowExecution.started\"}";
  for (std::size_t length : {1, 11, 63, 64, 65, 131, 4096}) {
    SCOPED_TRACE(length);
    std::string secret;
    for (std::size_t i = 0; i < length; ++i) {
      secret.push_back(static_cast<char>('a' + i % 26));
    }
    EXPECT_EQ(HmacKey(secret).Sign(message), ComputeDigest(secret, message));
    EXPECT_EQ(HmacKey(secret).Sign(""), ComputeDigest(secret, ""));
  }
}

// RFC 4231 test case 2 (key "Jefe") and the public Paradym vector.
TEST(HmacKey, MatchesPublishedVectors) {
  const Digest jefe = HmacKey("Jefe").Sign("what do ya want for nothing?");
  EXPECT_EQ(absl::BytesToHexString(absl::string_view(
                reinterpret_cast<const char*>(jefe.data()), jefe.size())),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  const Digest paradym = HmacKey("supersecret").Sign("Hello, world!");
  EXPECT_EQ(absl::BytesToHexString(absl::string_view(
                reinterpret_cast<const char*>(paradym.data()), paradym.size())),
            "90b6bb4be394220aae3e7628a15029f0b8eef8d1cf86856f65583fcc317a2743");
}

}  // namespace
}  // namespace paradym::webhooks
