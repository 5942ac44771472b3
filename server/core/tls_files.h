// TLS certificate files, checked before a server uses them.
//
// A server that starts with a certificate it cannot use fails every
// handshake later, far from the cause; these checks fail at startup (or at a
// reload, which then keeps the old files) with a message that names the file
// and the problem: unreadable, not PEM, a key that does not match the
// certificate, or a private key that group or others may read.
//
//   absl::StatusOr<TlsMaterial> tls = LoadTlsMaterial(
//       {.cert_file = "server.pem", .key_file = "server.key"});

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_TLS_FILES_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_TLS_FILES_H_

#include <string>

#include "absl/status/statusor.h"

namespace paradym::webhooks {

struct TlsFiles {
  std::string cert_file;  // PEM: the certificate, then its intermediates
  std::string key_file;   // PEM: its private key (mode 0600 or stricter)
  std::string ca_file;    // PEM: CAs that sign client certificates; optional
};

// The files' contents, checked.
struct TlsMaterial {
  std::string cert_chain_pem;
  std::string private_key_pem;
  std::string ca_pem;  // empty when no ca_file
};

// Reads and checks `files`. FAILED_PRECONDITION naming the file otherwise.
absl::StatusOr<TlsMaterial> LoadTlsMaterial(const TlsFiles& files);

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_TLS_FILES_H_
