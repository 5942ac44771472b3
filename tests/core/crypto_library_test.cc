// Which crypto library this build verifies signatures with, checked both when
// compiling (the headers) and when running (the library actually loaded):
// the CMake option PARADYM_CRYPTO and the Bazel config choose it.

#include <openssl/crypto.h>

#include <string>

#include "gtest/gtest.h"
#include "server/core/signature_verifier.h"
#include "tests/testing/status_matchers.h"

#if defined(PARADYM_CRYPTO_BORINGSSL)
// BoringSSL's headers define OPENSSL_IS_BORINGSSL; OpenSSL's never do. If
// this fires, <openssl/...> resolved to the system OpenSSL's headers.
#if !defined(OPENSSL_IS_BORINGSSL)
#error "built for BoringSSL, but <openssl/crypto.h> is not BoringSSL's"
#endif
#elif defined(PARADYM_CRYPTO_OPENSSL)
#if defined(OPENSSL_IS_BORINGSSL) || OPENSSL_VERSION_NUMBER < 0x30000000L
#error "built for OpenSSL 3, but <openssl/crypto.h> is something else"
#endif
#else
#error \
    "the build must define PARADYM_CRYPTO_BORINGSSL or PARADYM_CRYPTO_OPENSSL"
#endif

namespace paradym::webhooks {
namespace {

using ::paradym::webhooks::testing::IsOk;

TEST(CryptoLibrary, TheLoadedLibraryIsTheChosenOne) {
  const std::string version = OpenSSL_version(OPENSSL_VERSION);
#if defined(PARADYM_CRYPTO_BORINGSSL)
  EXPECT_EQ(version, "BoringSSL");
#else
  EXPECT_EQ(version.rfind("OpenSSL 3.", 0), 0u) << version;
#endif
}

TEST(CryptoLibrary, VerifiesThePublicVector) {
  SignatureVerifier verifier(
      std::vector<EndpointSecrets>{{"default", {"supersecret"}}});
  absl::StatusOr<absl::string_view> endpoint = verifier.Verify(
      "Hello, world!",
      "90b6bb4be394220aae3e7628a15029f0b8eef8d1cf86856f65583fcc317a2743", "");
  ASSERT_THAT(endpoint, IsOk());
  EXPECT_EQ(*endpoint, "default");
}

}  // namespace
}  // namespace paradym::webhooks
