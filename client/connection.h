// How the gRPC commands (subscribe, list) reach paradym-webhooksd: the
// connection flags, a WebhookService stub on a channel made from them, and
// errors described for a person.
//
//   absl::StatusOr<Connection> connection = Connection::FromFlags(line);
//   grpc::ClientContext context;
//   connection->Prepare(context);  // the bearer token, if any
//   grpc::Status status = connection->stub().ListEvents(&context, ...);
//   if (!status.ok()) std::puts(DescribeStatus(status).c_str());
//
// Thread-compatible: one thread uses a Connection.

#ifndef PARADYM_WEBHOOKS_CLIENT_CONNECTION_H_
#define PARADYM_WEBHOOKS_CLIENT_CONNECTION_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/command_line.h"
#include "paradym/webhooks/v1/webhook_service.grpc.pb.h"

namespace paradym::webhooks::cli {

// The connection flags' help lines.
inline constexpr char kConnectionFlagsHelp[] =
    "  --address=HOST:PORT           the gRPC service (default "
    "127.0.0.1:50051)\n"
    "  --tls                         connect with TLS (system roots)\n"
    "  --ca-file=PATH                connect with TLS, trusting this CA "
    "(PEM)\n"
    "  --cert-file=PATH              a client certificate (PEM) for mutual "
    "TLS,\n"
    "  --key-file=PATH               with its private key; implies --tls\n"
    "  --token-file=PATH             send its first line as `authorization: "
    "Bearer ...`\n";

class Connection {
 public:
  // --address, --tls, --ca-file, --cert-file, --key-file, --token-file.
  static const std::vector<std::string>& Flags();

  // INVALID_ARGUMENT for an unreadable CA, certificate, key or token file,
  // or a certificate without its key.
  static absl::StatusOr<Connection> FromFlags(const CommandLine& line);

  // A new channel: it connects at once, where the old one may still be
  // waiting out gRPC's own reconnect backoff after the server went away.
  void Reset();

  ::paradym::webhooks::v1::WebhookService::Stub& stub() { return *stub_; }

  // Adds the token, if any, to a call.
  void Prepare(grpc::ClientContext& context) const;

 private:
  Connection() = default;

  std::string address_;
  std::string token_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  std::unique_ptr<::paradym::webhooks::v1::WebhookService::Stub> stub_;
};

// "CODE (REASON): message" from a gRPC status and its ErrorInfo detail.
std::string DescribeStatus(const grpc::Status& status);

}  // namespace paradym::webhooks::cli

#endif  // PARADYM_WEBHOOKS_CLIENT_CONNECTION_H_
