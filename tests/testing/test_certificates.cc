#include "tests/testing/test_certificates.h"

#include "absl/strings/str_cat.h"
#include "tests/testing/server_process.h"

namespace paradym::webhooks::testing {

absl::Status MakeTestCertificates(const std::string& dir) {
  const std::string script = absl::StrCat(R"(set -e
umask 077
cd ")",
                                          dir, R"("
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
key ca.key; key server.key; key client.key; key stranger.key
openssl req -x509 -new -key ca.key -out ca.pem -days 2 -subj /CN=test-ca
openssl req -new -key server.key -out server.csr -subj /CN=127.0.0.1
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > san.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
  -out server.pem -days 2 -extfile san.ext 2>/dev/null
openssl req -new -key client.key -out client.csr -subj /CN=test-client
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
  -out client.pem -days 2 2>/dev/null
openssl req -x509 -new -key stranger.key -out stranger.pem -days 2 \
  -subj /CN=stranger
chmod 644 ca.pem server.pem client.pem stranger.pem
)");
  absl::StatusOr<CommandResult> made = RunCommand("/bin/sh", {"-c", script});
  if (!made.ok()) return made.status();
  if (made->exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("making test certificates failed: ", made->err));
  }
  return absl::OkStatus();
}

}  // namespace paradym::webhooks::testing
