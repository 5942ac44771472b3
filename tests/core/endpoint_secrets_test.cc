#include "server/core/endpoint_secrets.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
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
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

MATCHER_P2(IsEndpoint, name, secrets, "") {
  return arg.name == name && arg.secrets == secrets;
}

using Secrets = std::vector<std::string>;

// A fresh directory, removed with everything in it when the test ends.
class TempDir {
 public:
  TempDir() : path_(testing::MakeTempDir()) {}
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void WriteFile(const std::string& path, absl::string_view contents) {
  testing::WriteFileWithMode(path, contents, 0600);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

mode_t PermissionBits(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    ADD_FAILURE() << "cannot stat " << path;
    return 0;
  }
  return st.st_mode & 07777;
}

bool IsLowercaseHex(absl::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

TEST(EndpointSecrets, ParsesOneEndpoint) {
  absl::StatusOr<std::vector<EndpointSecrets>> endpoints =
      ParseSecretsFile("default=s3cret\n");
  ASSERT_THAT(endpoints, IsOk());
  EXPECT_THAT(*endpoints,
              ElementsAre(IsEndpoint("default", Secrets{"s3cret"})));
}

TEST(EndpointSecrets, ParsesHeaderExample) {
  absl::StatusOr<std::vector<EndpointSecrets>> endpoints =
      ParseSecretsFile("default=s3cret\n# rotation\nshop=old\nshop=new\n");
  ASSERT_THAT(endpoints, IsOk());
  EXPECT_THAT(*endpoints,
              ElementsAre(IsEndpoint("default", Secrets{"s3cret"}),
                          IsEndpoint("shop", Secrets{"old", "new"})));
}

TEST(EndpointSecrets, SkipsCommentsBlankLinesAndTrimsWhitespace) {
  absl::StatusOr<std::vector<EndpointSecrets>> endpoints = ParseSecretsFile(
      "# secrets for the webhook service\n"
      "\n"
      "   \t\n"
      "  # an indented comment=with an equals sign\n"
      "  default \t=\t  s3cret  \n"
      "\tshop=shop-secret\r\n"
      "bank = bank secret with spaces inside \n"
      "crm=no-trailing-newline");
  ASSERT_THAT(endpoints, IsOk());
  EXPECT_THAT(
      *endpoints,
      ElementsAre(IsEndpoint("default", Secrets{"s3cret"}),
                  IsEndpoint("shop", Secrets{"shop-secret"}),
                  IsEndpoint("bank", Secrets{"bank secret with spaces inside"}),
                  IsEndpoint("crm", Secrets{"no-trailing-newline"})));
}

TEST(EndpointSecrets, SameNameOnTwoLinesIsARotation) {
  absl::StatusOr<std::vector<EndpointSecrets>> endpoints = ParseSecretsFile(
      "shop=old-secret\n"
      "default=d\n"
      "shop=new-secret\n");
  ASSERT_THAT(endpoints, IsOk());
  EXPECT_THAT(
      *endpoints,
      ElementsAre(IsEndpoint("shop", Secrets{"old-secret", "new-secret"}),
                  IsEndpoint("default", Secrets{"d"})));
}

TEST(EndpointSecrets, DeduplicatesIdenticalSecret) {
  absl::StatusOr<std::vector<EndpointSecrets>> endpoints =
      ParseSecretsFile("shop=same\nshop=same\nshop= same \n");
  ASSERT_THAT(endpoints, IsOk());
  EXPECT_THAT(*endpoints, ElementsAre(IsEndpoint("shop", Secrets{"same"})));
}

TEST(EndpointSecrets, SameSecretOnTwoEndpointsIsKeptForBoth) {
  absl::StatusOr<std::vector<EndpointSecrets>> endpoints =
      ParseSecretsFile("a=shared\nb=shared\n");
  ASSERT_THAT(endpoints, IsOk());
  EXPECT_THAT(*endpoints, ElementsAre(IsEndpoint("a", Secrets{"shared"}),
                                      IsEndpoint("b", Secrets{"shared"})));
}

TEST(EndpointSecrets, SecretMayContainEquals) {
  absl::StatusOr<std::vector<EndpointSecrets>> endpoints =
      ParseSecretsFile("default=c2VjcmV0==\nshop=a=b=c\n");
  ASSERT_THAT(endpoints, IsOk());
  EXPECT_THAT(*endpoints,
              ElementsAre(IsEndpoint("default", Secrets{"c2VjcmV0=="}),
                          IsEndpoint("shop", Secrets{"a=b=c"})));
}

TEST(EndpointSecrets, AcceptsSecretOfMaximumLength) {
  const std::string secret(kMaxSecretBytes, 'k');
  absl::StatusOr<std::vector<EndpointSecrets>> endpoints =
      ParseSecretsFile(absl::StrCat("default=", secret, "\n"));
  ASSERT_THAT(endpoints, IsOk());
  EXPECT_THAT(*endpoints, ElementsAre(IsEndpoint("default", Secrets{secret})));
}

TEST(EndpointSecrets, RejectsBadLinesNamingTheLineButNotTheSecret) {
  struct Case {
    std::string name;
    std::string contents;
    int line;
    std::string secret;  // must not appear in the message
  };
  const std::vector<Case> cases = {
      {"missing equals", "default=ok-1\nTOPSECRET-noequals\n", 2,
       "TOPSECRET-noequals"},
      {"missing equals after comments", "# c\n\n# d\nTOPSECRET\n", 4,
       "TOPSECRET"},
      {"name with space", "bad name=TOPSECRET-1\n", 1, "TOPSECRET-1"},
      {"name with slash", "ok=x\nshop/1=TOPSECRET-2\n", 2, "TOPSECRET-2"},
      {"name with non-ASCII", "sh\xc3\xb6p=TOPSECRET-3\n", 1, "TOPSECRET-3"},
      {"empty name", "=TOPSECRET-4\n", 1, "TOPSECRET-4"},
      {"name too long", absl::StrCat(std::string(65, 'n'), "=TOPSECRET-5\n"), 1,
       "TOPSECRET-5"},
      {"empty secret", "# c\n\nshop=\n", 3, ""},
      {"blank secret", "a=b\nshop=  \t \n", 2, ""},
      {"secret too long",
       absl::StrCat("a=b\nc=d\nshop=", std::string(kMaxSecretBytes + 1, 'S'),
                    "\n"),
       3, std::string(kMaxSecretBytes + 1, 'S')},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<std::vector<EndpointSecrets>> endpoints =
        ParseSecretsFile(c.contents);
    ASSERT_THAT(endpoints, StatusIs(absl::StatusCode::kInvalidArgument));
    const std::string message(endpoints.status().message());
    EXPECT_THAT(message, HasSubstr(absl::StrCat("line ", c.line, ":")));
    if (!c.secret.empty()) {
      EXPECT_THAT(message, Not(HasSubstr(c.secret)));
      EXPECT_THAT(endpoints.status().ToString(), Not(HasSubstr(c.secret)));
    }
  }
}

TEST(EndpointSecrets, RejectsFileWithoutEndpoints) {
  for (absl::string_view contents :
       {"", "\n", "   \n\t\n", "# only a comment\n", "# a\n\n# b=c\n"}) {
    SCOPED_TRACE(absl::StrCat("contents: \"", absl::CEscape(contents), "\""));
    absl::StatusOr<std::vector<EndpointSecrets>> endpoints =
        ParseSecretsFile(contents);
    ASSERT_THAT(endpoints, StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

TEST(EndpointSecrets, IsValidEndpointName) {
  struct Case {
    std::string name;
    bool valid;
  };
  const std::vector<Case> cases = {
      {"default", true},
      {"a", true},
      {"Shop-1.eu_West", true},
      {"0", true},
      {std::string(64, 'x'), true},
      {"", false},
      {std::string(65, 'x'), false},
      {"a b", false},
      {"a/b", false},
      {"a=b", false},
      {"a:b", false},
      {"a%2F", false},
      {"caf\xc3\xa9", false},
      {std::string("a\0b", 3), false},
      {"a\n", false},
      // Dot-only names would be rewritten as URL path segments.
      {".", false},
      {"..", false},
      {"...", false},
      {"a..b", true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat("name: \"", absl::CEscape(c.name), "\""));
    EXPECT_EQ(IsValidEndpointName(c.name), c.valid);
  }
}

TEST(EndpointSecrets, AddSecretCreatesAndDeduplicates) {
  std::vector<EndpointSecrets> endpoints;
  AddSecret(endpoints, "shop", "one");
  AddSecret(endpoints, "bank", "b");
  AddSecret(endpoints, "shop", "two");
  AddSecret(endpoints, "shop", "one");
  EXPECT_THAT(endpoints, ElementsAre(IsEndpoint("shop", Secrets{"one", "two"}),
                                     IsEndpoint("bank", Secrets{"b"})));
}

TEST(EndpointSecrets, ReadSecretsFileParsesTheFile) {
  TempDir dir;
  const std::string path = dir.path() + "/secrets";
  WriteFile(path, "# test\ndefault=s3cret\nshop=old\nshop=new\n");
  absl::StatusOr<std::vector<EndpointSecrets>> endpoints =
      ReadSecretsFile(path);
  ASSERT_THAT(endpoints, IsOk());
  EXPECT_THAT(*endpoints,
              ElementsAre(IsEndpoint("default", Secrets{"s3cret"}),
                          IsEndpoint("shop", Secrets{"old", "new"})));
}

TEST(EndpointSecrets, ReadSecretsFileNamesPathAndLineButNotSecret) {
  TempDir dir;
  const std::string path = dir.path() + "/secrets";
  WriteFile(path, "default=ok\nTOPSECRET-line-two\n");
  absl::StatusOr<std::vector<EndpointSecrets>> endpoints =
      ReadSecretsFile(path);
  ASSERT_THAT(endpoints, StatusIs(absl::StatusCode::kInvalidArgument));
  const std::string message(endpoints.status().message());
  EXPECT_THAT(message, HasSubstr(path));
  EXPECT_THAT(message, HasSubstr("line 2:"));
  EXPECT_THAT(message, Not(HasSubstr("TOPSECRET")));
}

// A secrets file others may read has leaked: it is refused, and the
// message says how to fix it.
TEST(EndpointSecrets, ReadSecretsFileRefusesAFileGroupOrOthersMayRead) {
  TempDir dir;
  for (int mode : {0640, 0604, 0620, 0644}) {
    SCOPED_TRACE(mode);
    const std::string path = absl::StrCat(dir.path(), "/secrets", mode);
    testing::WriteFileWithMode(path, "default=TOPSECRET\n", mode);
    absl::StatusOr<std::vector<EndpointSecrets>> endpoints =
        ReadSecretsFile(path);
    EXPECT_THAT(endpoints, StatusIs(absl::StatusCode::kFailedPrecondition));
    EXPECT_THAT(endpoints.status().message(),
                HasSubstr(absl::StrCat("chmod 600 ", path)));
    EXPECT_THAT(endpoints.status().message(), Not(HasSubstr("TOPSECRET")));
  }
  const std::string path = dir.path() + "/owner-only";
  testing::WriteFileWithMode(path, "default=s3cret\n", 0400);
  EXPECT_THAT(ReadSecretsFile(path), IsOk());
}

// A secrets file that cannot be used is a configuration error, whatever the
// reason: INVALID_CONFIG.
TEST(EndpointSecrets, ReadSecretsFileErrorsCarryTheInvalidConfigReason) {
  TempDir dir;
  const std::string bad_line = dir.path() + "/bad-line";
  WriteFile(bad_line, "no equals sign\n");
  const std::string too_open = dir.path() + "/too-open";
  testing::WriteFileWithMode(too_open, "default=s3cret\n", 0644);
  const struct {
    std::string path;
    absl::StatusCode code;
  } cases[] = {
      {bad_line, absl::StatusCode::kInvalidArgument},
      {too_open, absl::StatusCode::kFailedPrecondition},
      {dir.path() + "/missing", absl::StatusCode::kFailedPrecondition},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.path);
    const absl::Status status = ReadSecretsFile(c.path).status();
    EXPECT_THAT(status, StatusIs(c.code));
    EXPECT_THAT(status, HasReason(kInvalidConfig));
  }
}

TEST(EndpointSecrets, ReadSecretsFileMissingFileIsFailedPrecondition) {
  TempDir dir;
  const std::string path = dir.path() + "/does-not-exist";
  absl::StatusOr<std::vector<EndpointSecrets>> endpoints =
      ReadSecretsFile(path);
  ASSERT_THAT(endpoints, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(endpoints.status().message()), HasSubstr(path));
}

TEST(EndpointSecrets, LoadOrCreateSecretFileCreatesPrivateFile) {
  TempDir dir;
  const std::string secret_dir = dir.path() + "/state/webhooks";
  const std::string path = secret_dir + "/secret";

  absl::StatusOr<std::string> secret = LoadOrCreateSecretFile(path);
  ASSERT_THAT(secret, IsOk());
  EXPECT_EQ(secret->size(), 64u);
  EXPECT_TRUE(IsLowercaseHex(*secret)) << *secret;
  EXPECT_EQ(ReadFile(path), *secret + "\n");
  EXPECT_EQ(PermissionBits(path), 0600);
  EXPECT_EQ(PermissionBits(secret_dir), 0700);
  EXPECT_EQ(PermissionBits(dir.path() + "/state"), 0700);

  absl::StatusOr<std::string> again = LoadOrCreateSecretFile(path);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(*again, *secret);
  EXPECT_EQ(ReadFile(path), *secret + "\n");
}

TEST(EndpointSecrets, LoadOrCreateSecretFileGeneratesDistinctSecrets) {
  TempDir dir;
  absl::StatusOr<std::string> first =
      LoadOrCreateSecretFile(dir.path() + "/one");
  absl::StatusOr<std::string> second =
      LoadOrCreateSecretFile(dir.path() + "/two");
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(second, IsOk());
  EXPECT_NE(*first, *second);
}

TEST(EndpointSecrets, LoadOrCreateSecretFileReadsExistingSecret) {
  TempDir dir;
  const std::string path = dir.path() + "/secret";
  WriteFile(path, "  my-own-secret \t\nignored second line\n");
  absl::StatusOr<std::string> secret = LoadOrCreateSecretFile(path);
  ASSERT_THAT(secret, IsOk());
  EXPECT_EQ(*secret, "my-own-secret");
  EXPECT_EQ(ReadFile(path), "  my-own-secret \t\nignored second line\n");
}

TEST(EndpointSecrets, LoadOrCreateSecretFileRejectsEmptyExistingFile) {
  TempDir dir;
  const std::string path = dir.path() + "/secret";
  WriteFile(path, "  \n");
  absl::StatusOr<std::string> secret = LoadOrCreateSecretFile(path);
  ASSERT_THAT(secret, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(ReadFile(path), "  \n");
}

TEST(EndpointSecrets, LoadOrCreateSecretFileRejectsOverlongExistingSecret) {
  TempDir dir;
  const std::string path = dir.path() + "/secret";
  const std::string secret(kMaxSecretBytes + 1, 'S');
  WriteFile(path, secret + "\n");
  absl::StatusOr<std::string> loaded = LoadOrCreateSecretFile(path);
  ASSERT_THAT(loaded, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(loaded.status().message()), Not(HasSubstr(secret)));
}

}  // namespace
}  // namespace paradym::webhooks
