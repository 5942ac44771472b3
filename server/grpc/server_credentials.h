// The gRPC server's transport credentials from the --grpc_tls_* files.
//
// No certificate: plaintext (AccessControl then decides who may call). A
// certificate and key: TLS. A client CA as well: mutual TLS, where the
// handshake refuses every client without a certificate that CA signed.
// gRPC rereads the files every few seconds, so a renewed certificate is used
// without a restart and without dropping a connection; files that fail to
// load leave the previous ones in use.
//
//   absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
//       MakeServerCredentials({.cert_file = "server.pem",
//                              .key_file = "server.key"});

#ifndef PARADYM_WEBHOOKS_SERVER_GRPC_SERVER_CREDENTIALS_H_
#define PARADYM_WEBHOOKS_SERVER_GRPC_SERVER_CREDENTIALS_H_

#include <grpcpp/security/server_credentials.h>

#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/core/tls_files.h"

namespace paradym::webhooks {

// How often gRPC rereads the certificate files.
inline constexpr absl::Duration kCertificateRefresh = absl::Seconds(2);

// Checks the files (LoadTlsMaterial) and returns credentials that use them.
// INVALID_ARGUMENT when a key comes without a certificate or the reverse, or
// a client CA without both.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files);

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_GRPC_SERVER_CREDENTIALS_H_
