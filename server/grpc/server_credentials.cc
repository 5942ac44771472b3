#include "server/grpc/server_credentials.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "server/core/errors.h"
#include "server/core/status_macros.h"

namespace paradym::webhooks {

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files) {
  if (files.cert_file.empty() && files.key_file.empty()) {
    if (!files.ca_file.empty()) {
      return MakeError(
          absl::StatusCode::kInvalidArgument, kInvalidConfig,
          "--grpc_client_ca needs --grpc_tls_cert and --grpc_tls_key");
    }
    return grpc::InsecureServerCredentials();
  }
  if (files.cert_file.empty() || files.key_file.empty()) {
    return MakeError(absl::StatusCode::kInvalidArgument, kInvalidConfig,
                     "--grpc_tls_cert and --grpc_tls_key go together");
  }
  // Read once now, so that a bad file is an error at start.
  RETURN_IF_ERROR(LoadTlsMaterial(files).status());
  const auto refresh =
      static_cast<unsigned int>(absl::ToInt64Seconds(kCertificateRefresh));
  auto provider =
      files.ca_file.empty()
          ? std::make_shared<
                grpc::experimental::FileWatcherCertificateProvider>(
                files.key_file, files.cert_file, refresh)
          : std::make_shared<
                grpc::experimental::FileWatcherCertificateProvider>(
                files.key_file, files.cert_file, files.ca_file, refresh);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (files.ca_file.empty()) {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    options.watch_root_certs();
    options.set_cert_request_type(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

}  // namespace paradym::webhooks
