// Throwaway certificates for TLS tests, made with the openssl command.
//
// In `dir`: ca.pem (a test CA; ca.key), server.pem/server.key (signed by it,
// for IP 127.0.0.1 and DNS localhost), client.pem/client.key (signed by it),
// and stranger.pem/stranger.key (a client certificate that signed itself).
// Keys are mode 0600. Valid for two days.
//
//   ASSERT_THAT(MakeTestCertificates(dir), IsOk());

#ifndef PARADYM_WEBHOOKS_TESTS_TESTING_TEST_CERTIFICATES_H_
#define PARADYM_WEBHOOKS_TESTS_TESTING_TEST_CERTIFICATES_H_

#include <string>

#include "absl/status/status.h"

namespace paradym::webhooks::testing {

absl::Status MakeTestCertificates(const std::string& dir);

}  // namespace paradym::webhooks::testing

#endif  // PARADYM_WEBHOOKS_TESTS_TESTING_TEST_CERTIFICATES_H_
