#include "server/core/tls_files.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/server_process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_certificates.h"

namespace paradym::webhooks {
namespace {

using ::paradym::webhooks::testing::IsOk;
using ::paradym::webhooks::testing::StatusIs;
using ::testing::HasSubstr;

class TlsFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_THAT(testing::MakeTestCertificates(dir_), IsOk());
  }
  std::string Path(const char* name) const { return dir_ + "/" + name; }

  const std::string dir_ = testing::MakeTempDir();
};

TEST_F(TlsFilesTest, LoadsAMatchingCertificateAndKey) {
  absl::StatusOr<TlsMaterial> material =
      LoadTlsMaterial({Path("server.pem"), Path("server.key"), Path("ca.pem")});
  ASSERT_THAT(material, IsOk());
  EXPECT_THAT(material->cert_chain_pem, HasSubstr("BEGIN CERTIFICATE"));
  EXPECT_THAT(material->private_key_pem, HasSubstr("PRIVATE KEY"));
  EXPECT_THAT(material->ca_pem, HasSubstr("BEGIN CERTIFICATE"));
}

TEST_F(TlsFilesTest, EachProblemNamesItsFile) {
  testing::WriteFileWithMode(Path("garbage"), "not pem\n", 0600);
  testing::WriteFileWithMode(Path("open.key"), "x", 0644);
  struct Case {
    TlsFiles files;
    std::string problem;
  };
  for (const Case& c : std::vector<Case>{
           {{Path("server.pem"), Path("client.key"), ""},
            Path("client.key") + " is not the key of the certificate"},
           {{Path("garbage"), Path("server.key"), ""},
            Path("garbage") + " holds no PEM certificate"},
           {{Path("server.pem"), Path("garbage"), ""},
            Path("garbage") + " holds no PEM private key"},
           {{Path("server.pem"), Path("open.key"), ""}, "chmod 600"},
           {{Path("server.pem"), Path("server.key"), Path("garbage")},
            Path("garbage") + " holds no PEM certificate"},
           {{Path("missing.pem"), Path("server.key"), ""},
            "cannot read " + Path("missing.pem")},
       }) {
    SCOPED_TRACE(c.problem);
    absl::StatusOr<TlsMaterial> material = LoadTlsMaterial(c.files);
    EXPECT_THAT(material, StatusIs(absl::StatusCode::kFailedPrecondition));
    EXPECT_THAT(material.status().message(), HasSubstr(c.problem));
  }
  EXPECT_THAT(LoadTlsMaterial({Path("server.pem"), "", ""}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace paradym::webhooks
