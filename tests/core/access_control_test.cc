#include "server/core/access_control.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/core/errors.h"
#include "tests/testing/server_process.h"
#include "tests/testing/status_matchers.h"

namespace paradym::webhooks {
namespace {

using ::paradym::webhooks::testing::HasReason;
using ::paradym::webhooks::testing::IsOk;
using ::paradym::webhooks::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kReader[] = "reader-token-0123456789";
constexpr char kAdmin[] = "admin-token-0123456789";

TokenTable Tokens() {
  absl::StatusOr<TokenTable> tokens =
      TokenTable::Parse(absl::StrCat("# who may call\n\nreader\tread ", kReader,
                                     "\n  admin * ", kAdmin, "  \n"));
  EXPECT_THAT(tokens, IsOk());
  return *std::move(tokens);
}

std::string Bearer(const char* token) { return absl::StrCat("Bearer ", token); }

TEST(TokenTable, ParsesNamesAndScopes) {
  const TokenTable tokens = Tokens();
  ASSERT_EQ(tokens.tokens().size(), 2u);
  EXPECT_EQ(tokens.tokens()[0].name, "reader");
  EXPECT_EQ(tokens.tokens()[0].scopes, static_cast<int>(Scope::kRead));
  EXPECT_EQ(tokens.tokens()[1].name, "admin");
  EXPECT_EQ(tokens.tokens()[1].scopes, 7);
}

TEST(TokenTable, ErrorsNameTheLineButNeverTheToken) {
  struct Case {
    std::string text;
    std::string problem;
  };
  const std::string secret = "SECRET-token-0123456789";
  for (const Case& c : std::vector<Case>{
           {"a read", "line 1: expected NAME SCOPES TOKEN"},
           {"a read " + secret + " extra", "line 1: expected NAME SCOPES"},
           {"\n\nbad/name read " + secret, "line 3: a NAME is"},
           {"a write " + secret, "line 1: scopes are"},
           {"a read, " + secret, "line 1: scopes are"},
           {"a read SECRET-short", "line 1: a TOKEN has 16 to 4096"},
           {"a read SECRET-token-\x01"
            "0123456789",
            "line 1: a TOKEN is printable"},
           {"a read " + secret + "\na verify SECRET-other-0123456789",
            "line 2: the name `a` is used twice"},
           {"a read " + secret + "\nb verify " + secret,
            "line 2: the token of `a` is used twice"},
       }) {
    SCOPED_TRACE(c.text);
    absl::StatusOr<TokenTable> tokens = TokenTable::Parse(c.text);
    EXPECT_THAT(tokens, StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(tokens.status().message(), HasSubstr(c.problem));
    EXPECT_THAT(tokens.status().message(), Not(HasSubstr("SECRET")));
  }
}

TEST(AccessControl, ProtectedModeServesLoopbackOnly) {
  const AccessControl access({}, std::nullopt);
  EXPECT_TRUE(access.protected_mode());
  for (Scope scope : {Scope::kRead, Scope::kIngest, Scope::kVerify}) {
    SCOPED_TRACE(ScopeName(scope));
    absl::StatusOr<std::string> local = access.Authorize({"", true}, scope);
    ASSERT_THAT(local, IsOk());
    EXPECT_EQ(*local, "loopback");
    // A token proves nothing when none are configured.
    absl::StatusOr<std::string> remote =
        access.Authorize({Bearer(kReader), false}, scope);
    EXPECT_THAT(remote, StatusIs(absl::StatusCode::kUnauthenticated));
    EXPECT_THAT(remote, HasReason("LOOPBACK_ONLY"));
    EXPECT_THAT(remote.status().message(), HasSubstr("--grpc_tokens_file"));
  }
}

TEST(AccessControl, ClientCertificatesAloneAdmitVerifiedClients) {
  const AccessControl access({/*client_certificates_required=*/true},
                             std::nullopt);
  EXPECT_FALSE(access.protected_mode());
  absl::StatusOr<std::string> verified =
      access.Authorize({"", false, true}, Scope::kRead);
  ASSERT_THAT(verified, IsOk());
  EXPECT_EQ(*verified, "client-certificate");
  EXPECT_THAT(access.Authorize({"", true, false}, Scope::kRead),
              HasReason("LOOPBACK_ONLY"));
}

TEST(AccessControl, TokensApplyToEveryoneLoopbackToo) {
  const AccessControl access({}, Tokens());
  EXPECT_FALSE(access.protected_mode());
  EXPECT_THAT(access.Authorize({"", true}, Scope::kRead),
              HasReason("TOKEN_MISSING"));
  EXPECT_EQ(*access.Authorize({Bearer(kReader), false}, Scope::kRead),
            "reader");
  EXPECT_EQ(*access.Authorize({absl::StrCat("BEARER  ", kAdmin), false},
                              Scope::kIngest),
            "admin");
  absl::StatusOr<std::string> denied =
      access.Authorize({Bearer(kReader), true}, Scope::kIngest);
  EXPECT_THAT(denied, StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(denied, HasReason("SCOPE_MISSING"));
  EXPECT_EQ(ErrorMetadata(denied.status(), "token_name"), "reader");
  EXPECT_EQ(ErrorMetadata(denied.status(), "scope"), "ingest");
  for (const std::string authorization :
       {std::string("Bearer"), std::string("Bearer "), Bearer("nope"),
        absl::StrCat(kReader), absl::StrCat("Token ", kReader),
        absl::StrCat("Bearer ", kReader, kReader)}) {
    SCOPED_TRACE(authorization);
    absl::StatusOr<std::string> refused =
        access.Authorize({authorization, true}, Scope::kRead);
    EXPECT_THAT(refused, StatusIs(absl::StatusCode::kUnauthenticated));
    EXPECT_THAT(refused, HasReason("TOKEN_INVALID"));
    EXPECT_THAT(refused.status().message(), Not(HasSubstr(kReader)));
  }
}

TEST(AccessControl, SetTokensReplacesThem) {
  AccessControl access({}, Tokens());
  access.SetTokens(*TokenTable::Parse("next read next-token-0123456789\n"));
  EXPECT_THAT(access.Authorize({Bearer(kReader), false}, Scope::kRead),
              HasReason("TOKEN_INVALID"));
  EXPECT_EQ(
      *access.Authorize({"Bearer next-token-0123456789", false}, Scope::kRead),
      "next");
}

TEST(ReadTokensFile, RefusesAFileOthersMayReadAndNamesThePath) {
  const std::string dir = testing::MakeTempDir();
  const std::string path = dir + "/tokens";
  testing::WriteFileWithMode(path, absl::StrCat("reader read ", kReader, "\n"),
                             0644);
  absl::StatusOr<TokenTable> tokens = ReadTokensFile(path);
  EXPECT_THAT(tokens, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(tokens.status().message(), HasSubstr("mode 0644"));
  EXPECT_THAT(tokens.status().message(), Not(HasSubstr(kReader)));

  testing::WriteFileWithMode(path, "reader read short\n", 0600);
  tokens = ReadTokensFile(path);
  EXPECT_THAT(tokens, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(tokens.status().message(),
              HasSubstr(path + ": tokens file line 1"));

  testing::WriteFileWithMode(path, absl::StrCat("reader read ", kReader, "\n"),
                             0600);
  tokens = ReadTokensFile(path);
  ASSERT_THAT(tokens, IsOk());
  EXPECT_EQ(tokens->tokens().size(), 1u);
  EXPECT_THAT(ReadTokensFile(dir + "/missing"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(ReadTokensFile(dir),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace paradym::webhooks
